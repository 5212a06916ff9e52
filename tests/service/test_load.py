"""Load generation: workloads, the runner in both modes, the CLI report and the Locust path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vmsim.cli import app
from vmsim.load import LoadConfig, run_load, write_csv
from vmsim.workloads import WORKLOADS, Workload, page_batches

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
        duration=2.0,
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


def test_locust_runs_headless_against_a_server(server_address: str, tmp_path: Path) -> None:
    locust = shutil.which("locust") or str(Path(sys.executable).parent / "locust")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}")
    result = subprocess.run(
        [
            locust,
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3s",
            "--host",
            server_address,
            "--only-summary",
            "--json",
            "--vmsim-workload",
            "seq",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=90,
    )
    stats = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert stats["TouchMany"]["num_requests"] > 0
    assert all(entry["num_failures"] == 0 for entry in stats.values())
