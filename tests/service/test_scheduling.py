"""The server under a hog: calls run in quanta, others keep being served, deadlines, cancellation,
leases and shutdown are honoured at quantum boundaries."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tests.hostile.conftest import ServerProcess
from tests.service.conftest import wait_until

import vmsim
from vmsim.errors import error_from_status

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def thrash_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """32 MiB of RAM, a 1 s lease."""
    server = ServerProcess(
        tmp_path, "--ram", "32M", "--swap", "128M", "--lease", "1", "--grace", "1"
    )
    yield server
    server.stop()


def thrashing_addresses(base: int, region_pages: int, count: int) -> np.ndarray[Any, Any]:
    pages = np.arange(count, dtype=np.uint64) % region_pages
    return (base + pages * vmsim.PAGE_SIZE).astype(np.uint32)


def fault_count(inspector: vmsim.Inspector, pid: int) -> int:
    status = inspector.status(pid)
    return status.minor_faults + status.major_faults


def test_a_thrashing_hog_neither_freezes_other_clients_nor_outlives_its_deadline(
    thrash_server: ServerProcess,
) -> None:
    address = thrash_server.address
    light = [vmsim.connect(address, name=f"light{i}") for i in range(3)]  # heartbeating
    for proc in light:
        proc.touch(proc.mmap(vmsim.PAGE_SIZE), write=True)
    probe = vmsim.connect(address, name="probe")
    page = probe.mmap(vmsim.PAGE_SIZE)
    probe.touch(page, write=True)
    # The latency bounds are service properties, but this host is shared: a run the OS
    # starved may miss them, so a second hog gets a second chance. Everything else is
    # asserted on every run.
    attempts: list[tuple[float, float]] = []
    for _ in range(2):
        p99, worst = run_hog_beside(address, light, probe, page)
        attempts.append((p99, worst))
        if p99 < 50 and worst < 250:
            break
    assert any(p99 < 50 and worst < 250 for p99, worst in attempts), (
        f"probe (p99 ms, max ms) per run: {attempts}"
    )
    for proc in (*light, probe):
        proc.close()


def run_hog_beside(
    address: str, light: list[vmsim.Process], probe: vmsim.Process, page: int
) -> tuple[float, float]:
    """A 400,000-address thrashing TouchMany with a 3 s deadline while *probe* touches *page*;
    returns the probe's (p99, max) latency in ms."""
    # No heartbeats: only its call in flight keeps the hog's 1 s lease alive for 3 s.
    hog = vmsim.connect(address, name="hog", keepalive=False)
    base = hog.mmap(48 * vmsim.MiB)
    addrs = thrashing_addresses(base, 48 * vmsim.MiB // vmsim.PAGE_SIZE, 400_000)
    outcome: dict[str, Any] = {}

    def run_hog() -> None:
        began = time.monotonic()
        try:
            hog.touch_many(addrs, write=True, timeout=3.0)
        except vmsim.VmsimError as error:
            outcome["error"] = error
        outcome["ended"] = time.monotonic()
        outcome["elapsed"] = outcome["ended"] - began

    def check_health() -> None:  # the standard health check is served too, mid-hog
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1.0
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING

    hog_thread = threading.Thread(target=run_hog)
    hog_thread.start()
    latencies_ms = probe_latencies_ms(probe, page, hog_thread, after_ten=check_health)
    hog_thread.join()
    with vmsim.Inspector(address) as inspector:
        after_deadline = fault_count(inspector, hog.pid)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - outcome["ended"])))
        stopped_at = fault_count(inspector, hog.pid)
        time.sleep(0.5)
        later = fault_count(inspector, hog.pid)
        statuses = [inspector.status(proc.pid) for proc in (*light, probe, hog)]
        states = [status.state for status in statuses]
        schedstat = inspector.cpu_times().text
    assert isinstance(outcome["error"], vmsim.DeadlineExceeded), outcome
    assert 2.9 < outcome["elapsed"] < 4.0
    assert stopped_at == later, "quanta still ran 100 ms after the deadline"
    assert 0 < after_deadline < 400_000  # it was stopped part way; what it touched stays touched
    # No heartbeating client lost its process, nor did the hog.
    assert states == ["R"] * 5, [status.kill_reason for status in statuses]
    assert "run_queue 0 " in schedstat and "cpu0 " in schedstat and f"pid {hog.pid} " in schedstat
    assert hog.touch(base, write=True) in ("hit", "minor", "major")  # still serves the hog too
    hog.close()
    assert len(latencies_ms) > 20
    return float(np.percentile(latencies_ms, 99)), float(latencies_ms.max())


def probe_latencies_ms(
    probe: vmsim.Process,
    page: int,
    busy: threading.Thread,
    after_ten: Callable[[], None] | None = None,
) -> np.ndarray[Any, Any]:
    """Touch *page* every 5 ms while *busy* runs (calling *after_ten* after the tenth touch);
    each touch's latency in ms."""
    latencies = []
    while busy.is_alive():
        began = time.perf_counter()
        probe.touch(page)
        latencies.append(time.perf_counter() - began)
        time.sleep(0.005)
        if len(latencies) == 10 and after_ten is not None:
            after_ten()
    return np.array(latencies) * 1000


def test_a_huge_populate_munmap_and_exit_never_hold_another_clients_touch(
    thrash_server: ServerProcess,
) -> None:
    """MAP_POPULATE, munmap and exit of 24 MiB (6,144 pages each) run in quanta: a probe's
    touches keep the TouchMany latency bounds. The hog repeats populate + munmap for at least
    a second of host work, so the probe samples every phase however fast the server gets."""
    address = thrash_server.address
    probe = vmsim.connect(address, name="probe")
    page = probe.mmap(vmsim.PAGE_SIZE)
    probe.touch(page, write=True)
    hog = vmsim.connect(address, name="hog")
    size = 24 * vmsim.MiB
    populate = vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS | vmsim.MAP_POPULATE
    timings: dict[str, float] = {}

    def timed(name: str, call: Any, *args: Any) -> Any:
        began = time.monotonic()
        result = call(*args)
        timings[name] = time.monotonic() - began
        return result

    def run_hog() -> None:
        began = time.monotonic()
        base = timed("populate", hog.mmap, size, vmsim.PROT_READ | vmsim.PROT_WRITE, populate)
        timed("munmap", hog.munmap, base, size)
        while time.monotonic() - began < 1.0:
            hog.munmap(hog.mmap(size, vmsim.PROT_READ | vmsim.PROT_WRITE, populate), size)
        timed("populate again", hog.mmap, size, vmsim.PROT_READ | vmsim.PROT_WRITE, populate)
        timed("exit", hog.exit)

    hog_thread = threading.Thread(target=run_hog)
    hog_thread.start()
    latencies = probe_latencies_ms(probe, page, hog_thread)
    hog_thread.join()
    assert list(timings) == ["populate", "munmap", "populate again", "exit"], timings
    with vmsim.Inspector(address) as inspector:
        assert inspector.status(hog.pid).state == "Z"  # exited, its memory freed
        assert inspector.status(probe.pid).state == "R"
    p99, worst = float(np.percentile(latencies, 99)), float(latencies.max())
    assert len(latencies) > 20 and p99 < 50 and worst < 250, (p99, worst, timings)
    probe.close()


def test_a_cancelled_call_stops_at_a_quantum_boundary(start_server: Any) -> None:
    server = start_server(ram_bytes=16 << 20, swap_bytes=64 << 20)

    machine = server.running.machine

    async def poll(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, f"not {what} in 30 s"
            await asyncio.sleep(0.01)

    async def scenario() -> tuple[int, int, int]:
        async with vmsim.aio.connect(server.address, name="hog") as hog:
            base = await hog.mmap(24 * vmsim.MiB)
            addrs = thrashing_addresses(base, 24 * vmsim.MiB // vmsim.PAGE_SIZE, 300_000)
            with vmsim.Inspector(server.address) as inspector:
                call = asyncio.ensure_future(hog.touch_many(addrs, write=True))
                await poll(lambda: fault_count(inspector, hog.pid) > 0, "started")
                call.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await call
                # The server sees the cancellation before its next quantum; once no task is
                # left on the run queue, nothing can touch another page for the hog.
                await poll(lambda: server.call(lambda: machine.sched.nr_cancelled) >= 1, "seen")
                await poll(lambda: server.call(lambda: machine.sched.nr_running) == 0, "idle")
                stopped = fault_count(inspector, hog.pid)
                # A later call of the hog's own runs (and faults once or hits); the stopped
                # one adds nothing.
                faulted = await hog.touch(base) != "hit"
                later = fault_count(inspector, hog.pid) - faulted
            return stopped, later, hog.pid

    stopped, later, pid = asyncio.run(scenario())
    assert 0 < stopped == later < 300_000
    assert server.call(lambda: server.running.machine.sched.nr_cancelled) >= 1
    assert server.call(lambda: server.running.machine.sched.nr_running) == 0
    server.call(server.running.machine.check_invariants)
    assert pid  # the process exited normally when its client closed


def test_cancelled_and_late_calls_are_distinct_client_errors() -> None:
    from google.rpc import status_pb2

    assert isinstance(error_from_status(status_pb2.Status(code=1, message="x")), vmsim.Cancelled)
    late = error_from_status(status_pb2.Status(code=4, message="x"))
    assert isinstance(late, vmsim.DeadlineExceeded) and not isinstance(late, vmsim.Unavailable)


def test_the_lease_reaper_survives_its_own_errors(start_server: Any) -> None:
    server = start_server(lease_seconds=0.3)
    sessions = server.running.sessions
    real_expired = sessions.expired
    failures = []

    def flaky_expired() -> list[int]:
        if not failures:
            failures.append(1)
            raise RuntimeError("a defect in the reaper's first round")
        return real_expired()

    server.call(lambda: setattr(sessions, "expired", flaky_expired))
    silent = vmsim.connect(server.address, keepalive=False)
    deadline = time.monotonic() + 5
    with vmsim.Inspector(server.address) as inspector:
        while inspector.status(silent.pid).state == "R" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert inspector.status(silent.pid).state != "R"
    assert failures == [1]
    with pytest.raises(vmsim.ProcessKilled, match="lease expired"):
        silent.touch(0)


@pytest.mark.subprocess
@pytest.mark.timing
def test_sigterm_during_a_long_call_stops_within_the_grace_period(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "--ram", "32M", "--swap", "128M", "--grace", "1")
    try:
        hog = vmsim.connect(server.address, keepalive=False)
        base = hog.mmap(48 * vmsim.MiB)
        addrs = thrashing_addresses(base, 48 * vmsim.MiB // vmsim.PAGE_SIZE, 400_000)
        errors: list[BaseException] = []

        def run_hog() -> None:
            try:
                hog.touch_many(addrs, write=True, timeout=60)
            except vmsim.VmsimError as error:
                errors.append(error)

        thread = threading.Thread(target=run_hog)
        thread.start()
        with vmsim.Inspector(server.address) as inspector:  # the long call is under way
            assert wait_until(lambda: fault_count(inspector, hog.pid) > 0, 30)
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(15) == 0
        assert time.monotonic() - began < 3.0  # grace 1 s, then stopped at a quantum boundary
        thread.join(10)
        assert errors and isinstance(errors[0], vmsim.Unavailable | vmsim.Cancelled)
        assert not Path(server.started["swap_file"]).exists()
    finally:
        server.stop()


@pytest.mark.subprocess
def test_the_lock_experiment_command_prints_lock_stat_numbers() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}")
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "experiment", "locks", "--seed", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["spin_wins_short"] and document["sleep_wins_io"]
    kinds = [(run["workload"], run["kind"]) for run in document["runs"]]
    assert kinds == [("short", "spin"), ("short", "sleep"), ("io", "spin"), ("io", "sleep")]
    assert all("lock" in run["lock_stat"] for run in document["runs"])


@pytest.mark.timing
def test_a_long_trace_replay_runs_off_the_event_loop(server: Any) -> None:
    trace = np.random.default_rng(0).integers(0, 200, 300_000).tolist()
    probe = vmsim.connect(server.address, name="probe")
    page = probe.mmap(vmsim.PAGE_SIZE)
    probe.touch(page, write=True)
    replayed: list[Any] = []

    def run_replay() -> None:
        with vmsim.Inspector(server.address, timeout=60) as inspector:
            began = time.monotonic()
            # linux (the two lists) has no C loop: its Python policy keeps the worker busy.
            replayed.append(inspector.replay(trace, frames=64, policy="linux"))
            replayed.append(time.monotonic() - began)

    thread = threading.Thread(target=run_replay)
    thread.start()
    latencies_ms = probe_latencies_ms(probe, page, thread)
    thread.join()
    result, replay_seconds = replayed
    assert result.hits + result.misses == len(trace)
    # The replay kept a worker thread busy for a while; the probe was answered throughout. On
    # the event loop, one touch would have waited for the whole replay: compared with the
    # replay's own time, not with a fixed number of milliseconds.
    assert len(latencies_ms) >= 5 and latencies_ms.max() < 1000 * replay_seconds / 2
    probe.close()
