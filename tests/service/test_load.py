"""Load generation: workloads, the runner in both modes, the CLI report and the Locust path."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from tests.service.conftest import address_with_no_server
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app
from vmsim.load import LoadConfig, run_load, write_csv
from vmsim.workloads import WORKLOADS, Workload, page_batches, thrash_region_pages

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pattern", WORKLOADS)
def test_every_workload_stays_inside_its_region_and_is_reproducible(pattern: str) -> None:
    workload = Workload(pattern=pattern, region_pages=100, batch=50, trace=[3, 1, 4, 1, 5, 9, 2, 6])
    first = [next(page_batches(workload, 7)) for _ in range(1)]
    batches = page_batches(workload, 7)
    again = [next(batches) for _ in range(20)]
    assert np.array_equal(first[0][0], again[0][0])
    for indexes, _write in again:
        assert len(indexes) == 50 and indexes.min() >= 0 and indexes.max() < 100


def test_patterns_have_their_shape() -> None:
    seq = next(page_batches(Workload(pattern="seq", region_pages=1000, batch=10), 0))[0]
    assert seq.tolist() == list(range(10))
    stride = next(
        page_batches(Workload(pattern="stride", region_pages=1000, batch=4, stride_pages=7), 0)
    )[0]
    assert stride.tolist() == [0, 7, 14, 21]
    zipf = np.concatenate(
        [
            b
            for b, _ in (
                next(page_batches(Workload(pattern="zipf", region_pages=1000, batch=5000), s))
                for s in range(2)
            )
        ]
    )
    counts = np.bincount(zipf, minlength=1000)
    assert counts.max() > 20 * np.median(counts)  # a hot set, not uniform


def test_bad_workloads_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        Workload(pattern="chaos")
    with pytest.raises(ValueError, match="needs a trace"):
        Workload(pattern="trace")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["asyncio", "processes"])
def test_a_thrashing_load_reports_faults_swapping_and_latencies(
    start_server: object, mode: str, tmp_path: Path
) -> None:
    server = start_server(ram_bytes=8 << 20)  # type: ignore[operator]
    config = LoadConfig(
        server.address,
        # Writes: reads of never-written pages map the zero page and use no memory.
        Workload(pattern="thrash", region_pages=1200, batch=128, write_ratio=1.0),
        clients=3,
        duration=None,
        operations=30,  # ~4 passes over each region, however slowly the workers start
        mode=mode,
        workers=2,
    )
    report = run_load(config)
    assert report.operations > 0 and report.errors == {}
    assert report.major_faults > 0 and report.swap_out > 0
    assert 0 < report.latency_ms["p50"] <= report.latency_ms["p99"] <= report.latency_ms["max"]
    assert report.timeline and sum(s.operations for s in report.timeline) <= report.operations
    write_csv(report, tmp_path / "load.csv")
    assert (tmp_path / "load.csv").read_text().startswith("second,operations,minor_faults")


@pytest.mark.slow
def test_load_command_prints_json(server_address: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "load",
            "--addr",
            server_address,
            "--clients",
            "2",
            "--workload",
            "zipf",
            "--operations",
            "20",
            "--duration",
            "0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["operations"] == 40 and report["touches"] == 40 * 256


def _locust(address: str, tmp_path: Path, *options: str, wait: bool = True) -> Any:
    """A headless Locust run against *address*: its result, or (wait=False) the running process."""
    locust = shutil.which("locust") or str(Path(sys.executable).parent / "locust")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}:{ROOT / 'common'}")
    command = [locust, "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--host"]
    command += [address, "--only-summary", "--json", *options]
    if not wait:  # output to files: pipes nobody reads while it runs could fill and block it
        return subprocess.Popen(
            command,
            stdout=(tmp_path / "locust.out").open("w"),
            stderr=(tmp_path / "locust.err").open("w"),
            text=True,
            env=env,
            cwd=tmp_path,
        )
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=90
    )


T = TypeVar("T")


def _locust_until(
    address: str,
    tmp_path: Path,
    *options: str,
    until: Callable[[subprocess.CompletedProcess[str]], T | None],
) -> T:
    """The first answer *until* gives for a headless Locust run: on a busy machine Locust's
    start-up and the users' set-up can take the whole of a short run, so the run time grows
    (3, 10, 30 s) until what the test waits for has happened."""
    for seconds in (3, 10, 30):
        found = until(_locust(address, tmp_path, *options, "-t", f"{seconds}s"))
        if found is not None:
            return found
    raise AssertionError(f"not in 30 s of Locust with {options}")


def _stats_once_it_touched(result: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
    """Locust's per-request stats, once a user reached its TouchMany task."""
    assert result.returncode == 0, result.stderr[-2000:]
    stats = {entry["name"]: entry for entry in json.loads(result.stdout)}
    return stats if stats.get("TouchMany", {}).get("num_requests", 0) > 0 else None


@pytest.mark.subprocess
def test_locust_runs_headless_against_a_server(server_address: str, tmp_path: Path) -> None:
    stats = _locust_until(
        server_address, tmp_path, "-u", "4", "-r", "4", until=_stats_once_it_touched
    )
    assert all(entry["num_failures"] == 0 for entry in stats.values())


@pytest.mark.subprocess
def test_the_readme_locust_command_fits_its_users_in_memory(
    server_address: str, tmp_path: Path
) -> None:
    # README: -u 100 -r 20 -t 20s --vmsim-workload zipf (shorter here, same users). Before the
    # users were sized to fit, each mapped 4 MiB whatever the server: 100 of them exceeded
    # RAM + swap, and a run long enough to touch it all ended in OOM kills (exit 1).
    with vmsim.Inspector(server_address) as inspector:
        meminfo = inspector.meminfo()
        room = (meminfo["MemTotal"] + meminfo["SwapTotal"]) * 1024
        running = _locust(
            server_address,
            tmp_path,
            *("-u", "100", "-r", "50", "-t", "5s", "--vmsim-workload", "zipf"),
            wait=False,
        )
        peak_users = peak_mapped = 0
        while running.poll() is None:
            live = [p for p in inspector.processes() if p.state != "Z"]
            peak_users = max(peak_users, len(live))
            peak_mapped = max(peak_mapped, sum(p.vm_size for p in live))
            time.sleep(0.1)
    running.wait(timeout=90)
    stdout, stderr = ((tmp_path / f"locust.{kind}").read_text() for kind in ("out", "err"))
    assert running.returncode == 0, stderr[-2000:]
    assert peak_users > 10 and 0 < peak_mapped <= room  # every user mapped, all within memory
    stats = {entry["name"]: entry for entry in json.loads(stdout)}
    assert stats["Spawn"]["num_requests"] > 0  # (all 100 unless this machine is very busy)
    assert all(entry["num_failures"] == 0 for entry in stats.values())


@pytest.mark.subprocess
def test_locust_replays_a_trace_file(server_address: str, tmp_path: Path) -> None:
    (tmp_path / "trace.txt").write_text("# textbook\n7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1\n")
    stats = _locust_until(
        server_address,
        tmp_path,
        *("-u", "2", "-r", "2", "--vmsim-workload", "trace"),
        *("--vmsim-trace", "trace.txt"),
        until=_stats_once_it_touched,
    )
    assert all(entry["num_failures"] == 0 for entry in stats.values())
    missing = _locust(server_address, tmp_path, "-u", "1", "-t", "1s", "--vmsim-workload", "trace")
    assert missing.returncode == 1
    assert "--vmsim-workload trace needs --vmsim-trace FILE" in missing.stderr


@pytest.mark.subprocess
def test_locust_groups_failures_by_code_not_by_pid(start_server: Any, tmp_path: Path) -> None:
    # 4 users that each write 32 MiB on a 16 MiB machine without swap: OOM kills, restarts
    server = start_server(swap_bytes=0, overcommit_memory=1)

    def two_users_killed(_: subprocess.CompletedProcess[str]) -> list[dict[str, str]] | None:
        with (tmp_path / "run_failures.csv").open() as handle:
            killed = [row for row in csv.DictReader(handle) if "killed" in row["Error"]]
        return killed if sum(int(row["Occurrences"]) for row in killed) >= 2 else None

    killed = _locust_until(
        server.address,
        tmp_path,
        *("-u", "4", "-r", "4", "--csv", "run"),
        *("--vmsim-workload", "seq", "--vmsim-pages", "8192", "--vmsim-write-ratio", "1"),
        until=two_users_killed,
    )
    assert len(killed) <= 3  # one row per kind of kill, whatever the pids and addresses
    assert not any(char.isdigit() for row in killed for char in row["Error"].split(":", 1)[1])


def test_thrash_regions_loop_over_more_than_ram_but_fit_in_ram_and_swap() -> None:
    ram_kb, swap_kb = 64 * 1024, 128 * 1024
    per_client = thrash_region_pages(ram_kb, swap_kb, clients=200)
    assert per_client * 200 > ram_kb // 4  # larger than RAM: every pass evicts the next one
    assert per_client * 200 < (ram_kb + swap_kb) // 4  # but no OOM
    with pytest.raises(ValueError, match="thrash needs swap"):
        thrash_region_pages(ram_kb, 0, clients=4)
    batches = page_batches(Workload(pattern="thrash", region_pages=10, batch=4, write_ratio=0), 0)
    first = [next(batches) for _ in range(5)]
    assert all(write for _, write in first)  # it dirties its working set
    assert np.concatenate([b for b, _ in first]).tolist()[:12] == [*range(10), 0, 1]


@pytest.mark.slow
def test_the_readme_thrash_command_major_faults_without_an_oom_storm(server_address: str) -> None:
    # The README's numbers (many clients, --pages 4096) scaled to the 16 MiB test machine.
    result = CliRunner().invoke(
        app,
        [
            *("load", "--addr", server_address, "--clients", "8", "--workload", "thrash"),
            *("--pages", "4096", "--operations", "8", "--duration", "0", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["major_faults"] > 0 and report["swap_out"] > 0
    assert report["oom_kills"] == 0 and report["errors"] == {}


def test_load_against_a_down_server_is_one_clear_line() -> None:
    address = address_with_no_server()
    result = CliRunner().invoke(app, ["load", "--addr", address, "--duration", "1"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"vmsim: no server at {address}: start one with `vmsim server`")
    assert "Traceback" not in result.output
