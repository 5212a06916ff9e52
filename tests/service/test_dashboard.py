"""The web dashboard in a real browser: Playwright driving Debian's chromium.

CI installs chromium with apt (.ci/run); Playwright's own browser download is never used.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import ADMIN_TOKEN

import vmsim
from vmsim.dashboard import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
USER_CELLS = "() => { const s = window.vmsimDashboard; if (!s.cells) return -1; \
const user = s.cells.use_names.indexOf('user'); \
return s.cells.useBytes.filter(u => u === user).length; }"


class DashboardThread:
    """uvicorn serving the dashboard on a free loopback port, in a thread."""

    def __init__(self, address: str, admin_token: str = "") -> None:
        import uvicorn

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/"
        config = uvicorn.Config(
            create_app(address, interval=0.2, admin_token=admin_token), log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("the browser tests need Debian's chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def machine(start_server: Any) -> Iterator[tuple[str, str]]:
    """A 16 MiB machine without swap (so a hog is OOM-killed) and its dashboard's URL."""
    server = start_server(swap_bytes=0, overcommit_memory=1)
    dashboard = DashboardThread(server.address)
    yield server.address, dashboard.url
    dashboard.stop()


@pytest.fixture
def page(browser: Any, machine: tuple[str, str]) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1300, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors: {errors}"


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#status.live", timeout=15_000)


def _distinct_colours(png: Path) -> int:
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))
    flat = (pixels[..., :3] * 255).astype("uint8").reshape(-1, 3)
    return len({tuple(p) for p in flat[:: max(1, len(flat) // 20000)]})


def test_the_page_shows_every_view(page: Any, machine: tuple[str, str], tmp_path: Path) -> None:
    address, url = machine
    with vmsim.connect(address, name="writer") as proc:
        start = proc.mmap(2 * vmsim.MiB)
        proc.touch_many(range(start, start + 2 * vmsim.MiB, vmsim.PAGE_SIZE), write=True)
        _open(page, url)
        row = page.locator(f"#processes tbody tr[data-pid='{proc.pid}']")
        row.wait_for(timeout=10_000)
        assert "writer" in row.inner_text()
        assert page.locator("#zones tbody tr").count() >= 1
        assert page.locator("#locks tbody tr").count() >= 1
        assert page.locator(".uplot").count() == 4
        assert int(page.locator("#memory-map").get_attribute("data-cells")) == 4096
        assert "free DMA" in page.locator("#map-legend").inner_text()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.locator("#memory-map").screenshot(path=str(tmp_path / "map.png"))
        # free, kernel, page tables and the writer's pages: at least four colours drawn
        assert _distinct_colours(tmp_path / "map.png") >= 4

        # the process's VMAs, then the page walk of its first page
        row.click()
        page.wait_for_function(
            "() => document.getElementById('vmas').textContent.includes('rw-p')", timeout=10_000
        )
        page.fill("#walk-addr", hex(start))
        page.click("#walk-form button")
        page.wait_for_selector("#walk-steps li:has-text('PTE')", timeout=10_000)
        assert "physical" in page.locator("#walk-text").inner_text()

        # hovering a cell names its pfn, use and owner
        page.hover("#memory-map", position={"x": 5, "y": 5})
        tooltip = page.locator("#map-tooltip")
        assert "pfn 0" in tooltip.inner_text() and "use" in tooltip.inner_text()


def test_the_map_changes_while_a_client_allocates(page: Any, machine: tuple[str, str]) -> None:
    address, url = machine
    _open(page, url)
    before = page.evaluate(USER_CELLS)
    signature = page.locator("#memory-map").get_attribute("data-signature")
    with vmsim.connect(address, name="grower") as proc:
        start = proc.mmap(8 * vmsim.MiB)
        for step in range(4):  # grows in steps while the page watches
            chunk = start + step * vmsim.MiB
            proc.touch_many(range(chunk, chunk + vmsim.MiB, vmsim.PAGE_SIZE), write=True)
            time.sleep(0.25)
        page.wait_for_function(f"() => ({USER_CELLS})() >= {before + 1024}", timeout=10_000)
    assert page.locator("#memory-map").get_attribute("data-signature") != signature
    page.wait_for_function("() => window.vmsimDashboard.history.t.length >= 3", timeout=10_000)
    assert max(page.evaluate("window.vmsimDashboard.history.minor")) > 0


def test_an_oom_kill_is_highlighted_in_the_event_feed(page: Any, machine: tuple[str, str]) -> None:
    address, url = machine
    _open(page, url)
    proc = vmsim.connect(address, name="hog")
    start = proc.mmap(32 * vmsim.MiB)
    with pytest.raises(vmsim.OomKilled):
        proc.touch_many(range(start, start + 32 * vmsim.MiB, vmsim.PAGE_SIZE), write=True)
    proc.close()
    oom = page.locator("#events li.oom_kill")
    oom.first.wait_for(timeout=10_000)
    colour = oom.first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour != "rgba(0, 0, 0, 0)"  # highlighted
    # filtering the kind out hides it
    page.uncheck("#event-filters input[value='oom_kill']")
    assert page.locator("#events li.oom_kill").count() == 0


@pytest.mark.subprocess
def test_the_dashboard_command_serves_the_page_and_snapshots(server_address: str) -> None:
    import json
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "vmsim", "dashboard", "--addr", server_address]
    dashboard = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        snapshot: dict[str, Any] = {}
        while time.monotonic() < deadline and "meminfo" not in snapshot:
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot") as reply:
                    snapshot = json.loads(reply.read())
            except OSError:
                continue
        assert snapshot["frames"]["nr_frames"] == 4096  # the 16 MiB test machine
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as reply:
            assert b"Physical memory" in reply.read()
    finally:
        dashboard.terminate()
        dashboard.wait(10)


LAB_FILE = """
title = "Paging lab"

[[exercise]]
kind = "replace"
count = 1
weight = 2.0

[[exercise]]
kind = "kmap"
attempts = 2
"""


def _scoreboard_cell(page: Any, student: str, column: int) -> str:
    return str(
        page.locator(f"#scoreboard tr[data-student='{student}'] td").nth(column).inner_text()
    )


def test_the_lab_scoreboard_changes_when_a_student_submits(
    browser: Any, start_server: Any, tmp_path: Path
) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(LAB_FILE)
    server = start_server(lab_path=str(lab_file))
    dashboard = DashboardThread(server.address, admin_token=ADMIN_TOKEN)
    page = browser.new_page(viewport={"width": 1300, "height": 1800})
    try:
        _open(page, dashboard.url)
        with vmsim.Lab(server.address, "ada") as ada, vmsim.Lab(server.address, "grace") as grace:
            page.wait_for_selector("#scoreboard tr[data-student='grace']", timeout=10_000)
            assert "Paging lab" in page.locator("#lab-title").inner_text()
            assert "2 student(s), 0 submission(s)" in page.locator("#lab-status").inner_text()
            assert _scoreboard_cell(page, "ada", 1) == "0.00 / 3.00"  # nothing answered of 2 + 1

            # the instructor's key: ada's questions with their answers, from the lab's store
            assert server.running is not None and server.running.lab is not None
            (question,) = server.running.lab.questions_of("ada", "replace")
            assert [q.text for q in ada.questions("replace")] == [question.text]
            ada.submit("replace", {item.id: item.answer for item in question.items})
            page.wait_for_selector("#scoreboard th:has-text('replace')", timeout=10_000)
            page.wait_for_function(
                "() => document.querySelector(\"#scoreboard tr[data-student='ada'] td:last-child\")"
                ".textContent === '1'",
                timeout=10_000,
            )
            # ada answered replace (all right: its weight, 2), grace answered nothing yet
            assert _scoreboard_cell(page, "ada", 1) == "2.00"
            assert _scoreboard_cell(page, "grace", 1) == "-"
            assert "changed" in str(
                page.locator("#scoreboard tr[data-student='ada']").get_attribute("class")
            )

            grace.submit("kmap", {"1a": "no idea"})
            page.wait_for_selector("#scoreboard th:has-text('kmap')", timeout=10_000)
            page.wait_for_function(
                "() => document.getElementById('lab-status').textContent.includes('2 submission(s)')",
                timeout=10_000,
            )
            header = page.locator("#scoreboard thead").inner_text().split()
            assert header[:3] == ["student", "kmap", "replace"]
            assert _scoreboard_cell(page, "grace", 1) == "0.00"  # kmap, answered wrong
            assert _scoreboard_cell(page, "grace", 2) == "-"  # replace, not answered
            page.locator("#lab-section").screenshot(path=str(tmp_path / "scoreboard.png"))
            # the table is drawn: student names, scores and the header
            assert _distinct_colours(tmp_path / "scoreboard.png") >= 3
    finally:
        page.close()
        dashboard.stop()


def test_the_scoreboard_says_why_it_is_empty(
    browser: Any, start_server: Any, tmp_path: Path
) -> None:
    server = start_server()  # no --lab
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(LAB_FILE)
    lab_server = start_server(lab_path=str(lab_file))
    without_token = DashboardThread(lab_server.address)
    with_token = DashboardThread(server.address, admin_token=ADMIN_TOKEN)
    wrong_token = DashboardThread(lab_server.address, admin_token="not-the-token")
    page = browser.new_page()
    try:
        for dashboard, state, says in (
            (without_token, "no_token", "no admin token given"),
            (with_token, "no_lab", "runs no graded lab: start it with --lab FILE"),
            (wrong_token, "error", "PERMISSION_DENIED"),
        ):
            _open(page, dashboard.url)
            status = page.locator(f"#lab-status[data-state='{state}']")
            status.wait_for(timeout=10_000)
            assert says in status.inner_text()
            assert page.locator("#scoreboard").is_hidden()
            assert page.locator("#memory-map").get_attribute("data-cells")  # the rest is live
    finally:
        page.close()
        for dashboard in (without_token, with_token, wrong_token):
            dashboard.stop()
