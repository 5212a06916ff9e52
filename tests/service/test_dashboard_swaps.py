"""The dashboard's zone panel shows the swap areas (/proc/swaps) as swapon/swapoff change them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.service.conftest import ADMIN_TOKEN
from tests.service.dashboard_support import DashboardThread, get
from tests.service.test_dashboard import _open, browser  # noqa: F401 (the browser fixture)

import vmsim

MiB = 1 << 20


@pytest.fixture
def dashboard(server: Any) -> Iterator[tuple[str, str]]:
    """The default test server (16 MiB, 64 MiB of swap) and its dashboard's URL."""
    thread = DashboardThread(server.address)
    yield server.address, thread.url
    thread.stop()


def swaps_shown(url: str, wanted: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The "swaps" of the first snapshot for which *wanted(swaps)* holds."""
    deadline = time.monotonic() + timeout
    swaps: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        status, _headers, body = get(f"{url}api/snapshot")
        if status == 200:
            swaps = json.loads(body).get("swaps", [])
            if wanted(swaps):
                return swaps
        time.sleep(0.1)
    raise AssertionError(f"no snapshot as wanted in {timeout} s; last swaps: {swaps}")


@pytest.mark.fast
def test_the_snapshot_lists_every_swap_area_as_they_come_and_go(
    dashboard: tuple[str, str],
) -> None:
    address, url = dashboard
    boot = swaps_shown(url, lambda swaps: len(swaps) == 1)[0]
    assert boot["priority"] == -2 and boot["size_kb"] == 64 * 1024 - 4
    with (
        vmsim.Admin(address, ADMIN_TOKEN) as admin,
        vmsim.connect(address) as process,
    ):
        admin.swapon("fast", 32 * MiB, 10)
        base = process.mmap(24 * MiB)
        process.touch_many(range(base, base + 24 * MiB, 4096), write=True)
        swaps = swaps_shown(
            url, lambda swaps: any(a["filename"] == "/swap/fast" and a["used_kb"] for a in swaps)
        )
        fast = next(area for area in swaps if area["filename"] == "/swap/fast")
        assert (fast["type"], fast["size_kb"], fast["priority"]) == ("file", 32 * 1024 - 4, 10)
        admin.swapoff("fast")
    assert swaps_shown(url, lambda swaps: len(swaps) == 1)[0]["filename"] == boot["filename"]


@pytest.mark.browser
def test_the_zone_panel_shows_the_swap_areas_with_used_size_and_priority(
    browser: Any,  # noqa: F811
    dashboard: tuple[str, str],
) -> None:
    address, url = dashboard
    page = browser.new_page(viewport={"width": 1300, "height": 1600})
    try:
        _open(page, url)
        with vmsim.Admin(address, ADMIN_TOKEN) as admin:
            admin.swapon("fast", 8 * MiB, 10)
            row = page.locator("#zones-section #swaps tr[data-name='/swap/fast']")
            row.wait_for(timeout=10_000)
            assert row.locator(".size").inner_text() == str(8 * 1024 - 4)
            assert row.locator(".used").inner_text() == "0"
            assert row.locator(".priority").inner_text() == "10"
            admin.swapoff("/swap/fast")
        row.wait_for(state="detached", timeout=10_000)
        assert page.locator("#swaps tbody tr").count() == 1
    finally:
        page.close()
