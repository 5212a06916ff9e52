"""The dashboard's HTTP side without a browser: the port it prints, bad path parameters,
the stream cap and its bounded readers, the scoreboard key, the chart history, event rates.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import ADMIN_TOKEN, address_with_no_server
from tests.service.dashboard_support import (
    DashboardThread,
    get,
    stdout_lines,
    wait_for_line,
    wait_for_snapshot,
)
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app
from vmsim.dashboard.app import DashboardState, EventRates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dashboard_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`vmsim dashboard --port 0` against an address where no server listens (yet)."""
    address = address_with_no_server()
    command = [sys.executable, "-m", "vmsim", "dashboard", "--addr", address, "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield process, address
    process.terminate()
    process.wait(10)


@pytest.mark.slow
def test_the_dashboard_command_prints_its_real_port_and_waits_for_the_server(
    dashboard_process: tuple[subprocess.Popen[str], str], start_server: Any
) -> None:
    process, address = dashboard_process
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = stdout_lines(process.stdout), stdout_lines(process.stderr)
    line = wait_for_line(stdout, "on http://")
    url = line.split(" on ")[1].split()[0]
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    assert port != 0 and url == f"http://127.0.0.1:{port}/"
    # no server yet: said on stderr and in the snapshot the page turns into a banner
    assert "start one with `vmsim server`" in wait_for_line(stderr, f"no vmsim server at {address}")
    down = wait_for_snapshot(url, "error")
    assert "UNAVAILABLE" in down["error"] and down["address"] == address
    status, _headers, page = get(url)
    assert status == 200 and b'id="banner"' in page

    start_server(address=address)  # the server comes: the dashboard follows without a restart
    wait_for_line(stderr, f"connected to the vmsim server at {address}")
    assert wait_for_snapshot(url, "meminfo")["frames"]["nr_frames"] == 4096
    # and its event feed too
    deadline = time.monotonic() + 20
    spawned = 0
    while spawned == 0 and time.monotonic() < deadline:
        with vmsim.connect(address, name="late"):
            pass
        time.sleep(1.0)  # one event a second, until one is counted
        rates = wait_for_snapshot(url, "event_rates")["event_rates"]
        spawned = sum(rates["kinds"]["process_spawn"]["per_second"])
    assert spawned > 0


@pytest.fixture
def dashboard(server: Any) -> Iterator[DashboardThread]:
    thread = DashboardThread(server.address, max_streams=8)
    yield thread
    thread.stop()


@pytest.mark.parametrize(
    "bad_pid",
    ["99999999999999999999", "4294967296", "abc", "-1", "0", "1.5", "0x10", "%20", "%EF%BC%91"],
)
def test_a_malformed_pid_in_a_path_or_query_is_a_400_with_a_json_error(
    dashboard: DashboardThread, bad_pid: str
) -> None:
    for url in (
        f"{dashboard.url}api/maps/{bad_pid}",
        f"{dashboard.url}api/translate?pid={bad_pid}&addr=0x1000",
    ):
        status, headers, body = get(url)
        assert status == 400, (url, status, body)
        assert headers["content-type"] == "application/json"
        assert "pid must be a decimal number from 1 to 4294967295" in json.loads(body)["error"]


@pytest.mark.parametrize("bad_address", ["0x100000000", "zz", "", "-1"])
def test_a_malformed_address_to_walk_is_a_400_with_a_json_error(
    dashboard: DashboardThread, bad_address: str
) -> None:
    status, headers, body = get(f"{dashboard.url}api/translate?pid=1&addr={bad_address}")
    assert status == 400 and headers["content-type"] == "application/json"
    assert "address" in json.loads(body)["error"]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--max-streams", "0"], "--max-streams"),
    ],
)
def test_the_dashboard_command_refuses_bad_flags_with_a_usage_error(
    flags: list[str], says: str
) -> None:
    result = CliRunner().invoke(app, ["dashboard", "--addr", "127.0.0.1:1", *flags])
    assert result.exit_code == 2 and says in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_dashboard_command_says_when_its_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(app, ["dashboard", "--addr", "127.0.0.1:1", "--port", port])
    assert result.exit_code == 2 and "cannot listen there" in result.output, result.output
    assert isinstance(result.exception, SystemExit)


def test_a_well_formed_pid_gets_its_maps_or_a_404(dashboard: DashboardThread) -> None:
    with vmsim.connect(dashboard.state.address, name="mapper") as proc:
        proc.mmap(vmsim.MiB)
        status, _headers, body = get(f"{dashboard.url}api/maps/{proc.pid}")
        assert status == 200 and json.loads(body)["vmas"]
    status, _headers, body = get(f"{dashboard.url}api/maps/4000000000")
    assert status == 404 and json.loads(body)["error"]


def _dma(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(zone for zone in snapshot["zones"] if zone["name"] == "DMA")


def test_the_snapshot_carries_the_vm_sysctls_beside_the_zones_they_move(
    dashboard: DashboardThread,
) -> None:
    address = dashboard.state.address
    with vmsim.Inspector(address) as inspector:
        assert wait_for_snapshot(dashboard.url, "sysctl")["sysctl"] == inspector.sysctl()
        default_kb = int(inspector.sysctl("vm.min_free_kbytes")["vm.min_free_kbytes"])
    before = wait_for_snapshot(dashboard.url, "sysctl")
    assert before["sysctl"]["vm.lowmem_reserve_ratio"].split() == ["256", "32", "0"]
    with vmsim.Admin(address, ADMIN_TOKEN) as admin:
        admin.set_sysctl("vm.min_free_kbytes", 2 * default_kb)
    # the first snapshot with the new value has the watermarks it set, none lags behind
    deadline = time.monotonic() + 20
    after = before
    while after["sysctl"]["vm.min_free_kbytes"] != str(2 * default_kb):
        assert time.monotonic() < deadline, after["sysctl"]
        time.sleep(0.05)
        after = json.loads(get(f"{dashboard.url}api/snapshot")[2])
    with vmsim.Inspector(address) as inspector:
        zoneinfo_dma = next(zone for zone in inspector.zoneinfo().items if zone.name == "DMA")
    assert _dma(after)["min"] == zoneinfo_dma.min > _dma(before)["min"]
    assert _dma(after)["high"] == zoneinfo_dma.high > _dma(before)["high"]


def _open_stream(port: int) -> tuple[socket.socket, str]:
    """A raw connection to /api/stream and the status line and headers it got (the body
    that came with them is left out)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(
        b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return connection, head.split(b"\r\n\r\n")[0].decode()


def test_streams_beyond_the_cap_get_503_with_retry_after(dashboard: DashboardThread) -> None:
    wait_for_snapshot(dashboard.url, "meminfo")
    opened = [_open_stream(dashboard.port) for _ in range(12)]
    try:
        statuses = [head.split()[1] for _connection, head in opened]
        assert statuses.count("200") == 8 and statuses.count("503") == 4
        refused = next(head for _connection, head in opened if " 503 " in head)
        assert "retry-after: 5" in refused.lower()
        assert len(dashboard.state.readers) == 8
    finally:
        for connection, _head in opened:
            connection.close()
    # the closed streams give their places back
    deadline = time.monotonic() + 10
    while dashboard.state.readers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not dashboard.state.readers
    connection, head = _open_stream(dashboard.port)
    connection.close()
    assert " 200 " in head


def test_one_serialisation_per_snapshot_and_a_reader_that_stops_reading_is_dropped() -> None:
    async def scenario() -> None:
        state = DashboardState("127.0.0.1:1", max_streams=4, reader_queue=3)
        reading = state.subscribe(sees_scoreboard=False)
        stalled = state.subscribe(sees_scoreboard=False)
        assert reading is not None and stalled is not None
        received: list[str] = []
        for n in range(50):
            state.publish({"time": float(n), "n": n})
            assert stalled.queue.qsize() <= 3  # bounded whatever the reader does
            while not reading.queue.empty():
                message = reading.queue.get_nowait()
                assert message is not None
                received.append(message)
        assert state.nr_serialised == 50  # once per snapshot, not once per reader
        assert [json.loads(m).get("n") for m in received] == [None, *range(50)]
        assert received[-1] is state.snapshot_json(False)  # the one shared string
        assert stalled.dropped and stalled not in state.readers and reading in state.readers
        assert stalled.queue.get_nowait() is None  # its stream ends when it next reads

    asyncio.run(scenario())


LAB_FILE = """
title = "Key lab"

[[exercise]]
kind = "replace"
count = 1
"""


def test_the_scoreboard_is_served_only_to_a_browser_that_presented_the_key(
    start_server: Any, tmp_path: Path
) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(LAB_FILE)
    lab_server = start_server(lab_path=str(lab_file))
    with_token = DashboardThread(lab_server.address, admin_token=ADMIN_TOKEN)
    without_token = DashboardThread(lab_server.address)
    try:
        key = with_token.app.state.viewer_key
        assert len(key) >= 20
        public = wait_for_snapshot(with_token.url, "meminfo")
        assert "lab" not in public  # a student's browser sees no scoreboard
        assert wait_for_snapshot(with_token.url, "lab", key=key)["lab"]["title"] == "Key lab"
        assert "lab" not in wait_for_snapshot(with_token.url, "meminfo", key="guessed")

        status, _headers, body = get(f"{with_token.url}?key=guessed")
        assert status == 403 and b"not the dashboard's scoreboard key" in body
        # the key once in the URL, then in an HttpOnly cookie; the address bar loses it
        connection = socket.create_connection(("127.0.0.1", with_token.port), timeout=10)
        connection.sendall(f"GET /?key={key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = connection.recv(4096).decode()
        connection.close()
        assert head.startswith("HTTP/1.1 303") and "location: /\r\n" in head.lower()
        cookie = next(h for h in head.split("\r\n") if h.lower().startswith("set-cookie:"))
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        jar = cookie.split(":", 1)[1].split(";")[0].strip()
        status, _headers, body = get(f"{with_token.url}api/snapshot", {"Cookie": jar})
        assert json.loads(body)["lab"]["state"] == "live"

        # a dashboard without the admin token has no key and no scoreboard for anyone
        assert without_token.app.state.viewer_key == ""
        status, _headers, body = get(f"{without_token.url}?key=anything")
        assert status == 403 and b"serves no lab scoreboard" in body
        assert "lab" not in wait_for_snapshot(without_token.url, "meminfo", key="")
    finally:
        with_token.stop()
        without_token.stop()


def test_a_server_without_a_lab_gives_the_key_holder_a_no_lab_state(server: Any) -> None:
    dashboard = DashboardThread(server.address, admin_token=ADMIN_TOKEN)
    try:
        key = dashboard.app.state.viewer_key
        assert wait_for_snapshot(dashboard.url, "lab", key=key)["lab"]["state"] == "no_lab"
    finally:
        dashboard.stop()


def test_the_chart_history_is_kept_and_sent_first_on_a_stream(
    dashboard: DashboardThread,
) -> None:
    with vmsim.connect(dashboard.state.address, name="early") as proc:
        start = proc.mmap(2 * vmsim.MiB)
        proc.touch_many(range(start, start + 2 * vmsim.MiB, vmsim.PAGE_SIZE), write=True)
    deadline = time.monotonic() + 20
    history: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(history) < 3:
        history = json.loads(get(f"{dashboard.url}api/history")[2])
        time.sleep(0.1)
    assert len(history) >= 3
    assert set(history[0]) == {"time", "meminfo", "vmstat"}
    assert history[-1]["vmstat"]["pgfault"] >= 512  # the early writer's faults are in it
    connection = socket.create_connection(("127.0.0.1", dashboard.port), timeout=10)
    try:
        connection.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while received.count(b"event: ") < 2:
            received += connection.recv(65536)
    finally:
        connection.close()
    kinds = [part.split(b"\r\n")[0] for part in received.split(b"event: ")[1:]]
    assert kinds[:2] == [b"history", b"snapshot"]


def test_event_rates_count_each_kind_per_second_over_the_window() -> None:
    rates = EventRates(("swap_in", "oom_kill"), window=5)
    for _ in range(1234):
        rates.add("swap_in", 100.2)
    rates.add("swap_in", 101.5)
    rates.add("oom_kill", 103.0)
    summary = rates.summary(now=104.9)  # seconds 99..103 are complete
    assert summary["kinds"]["swap_in"] == {
        "per_second": [0, 1234, 1, 0, 0],
        "last": 0,
        "peak": 1234,
    }
    assert summary["kinds"]["oom_kill"]["per_second"] == [0, 0, 0, 0, 1]
    assert summary["kinds"]["oom_kill"]["last"] == 1
    rates.add("swap_in", 200.0)  # old seconds leave the window and the memory
    assert rates.summary(now=201.0)["kinds"]["swap_in"]["per_second"] == [0, 0, 0, 0, 1]


def _axis(panel: dict[str, Any], target: dict[str, Any]) -> tuple[Any, Any]:
    """The unit and axis label a Grafana panel gives one of its queries."""
    config = panel.get("fieldConfig", {})
    own: dict[str, Any] = {}
    for override in config.get("overrides", []):
        if override["matcher"] == {"id": "byFrameRefID", "options": target["refId"]}:
            own |= {p["id"]: p["value"] for p in override["properties"]}
    defaults = config.get("defaults", {})
    return (
        own.get("unit", defaults.get("unit")),
        own.get("custom.axisLabel", defaults.get("custom", {}).get("axisLabel")),
    )


def test_the_grafana_lock_panel_keeps_contentions_off_the_seconds_axis() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/vmsim.json").read_text())
    checked = 0
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if "contentions" in target["expr"]:
                checked += 1
                assert _axis(panel, target) == ("ops", "contentions/s"), panel["title"]
                assert "contentions/s" in panel["title"]
            elif "seconds_total" in target["expr"]:
                assert _axis(panel, target)[1] != "contentions/s", panel["title"]
    assert checked >= 1


@pytest.mark.slow
def test_a_client_that_never_reads_its_stream_is_dropped_with_its_queue_bounded(
    server: Any,
) -> None:
    dashboard = DashboardThread(server.address, interval=0.05)
    try:
        wait_for_snapshot(dashboard.url, "meminfo")
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast
        stalled.connect(("127.0.0.1", dashboard.port))
        stalled.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        deadline = time.monotonic() + 30
        while not dashboard.state.readers and time.monotonic() < deadline:
            time.sleep(0.01)
        (reader,) = dashboard.state.readers
        largest = 0
        while not reader.dropped and time.monotonic() < deadline:
            largest = max(largest, reader.queue.qsize())
            time.sleep(0.01)
        assert reader.dropped and reader not in dashboard.state.readers
        assert largest <= dashboard.state.reader_queue
        assert reader.queue.qsize() == 1  # only the end-of-stream mark left
        # a reader that keeps up still gets the stream
        connection, head = _open_stream(dashboard.port)
        connection.close()
        assert " 200 " in head
        stalled.close()
    finally:
        dashboard.stop()
