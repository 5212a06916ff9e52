"""Terminal views: vmstat, free, pmap, top and ps against a real server, in procps formats."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app
from vmsim.results import ProcessStatus
from vmsim.views import human_size, top_rows

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def swapping(server_address: str) -> Iterator[vmsim.Process]:
    """A process that wrote more than the 16 MiB of RAM, so part of it is in swap."""
    with vmsim.connect(server_address, name="hog") as proc:
        start = proc.mmap(24 * vmsim.MiB)
        proc.touch_many(range(start, start + 20 * vmsim.MiB, vmsim.PAGE_SIZE), write=True)
        yield proc


@pytest.mark.subprocess
def test_vmstat_columns_are_those_of_procps(server_address: str) -> None:
    lines = _invoke("vmstat", "--addr", server_address).splitlines()
    assert lines[1].split() == (
        [
            "r",
            "b",
            "swpd",
            "free",
            "buff",
            "cache",
            "si",
            "so",
            "bi",
            "bo",
            "in",
            "cs",
            "us",
            "sy",
            "id",
            "wa",
        ]
    )
    if shutil.which("vmstat"):  # the host's own header, less the st column we do not have
        host = subprocess.run(["vmstat"], capture_output=True, text=True, check=True).stdout
        assert host.splitlines()[1].split()[:16] == lines[1].split()
    assert len(lines) == 3 and len(lines[2].split()) == 16


@pytest.mark.slow
def test_vmstat_lines_are_rates_per_interval(server_address: str, swapping: vmsim.Process) -> None:
    lines = _invoke("vmstat", "0.1", "3", "--addr", server_address).splitlines()[2:]
    assert len(lines) == 3
    columns = [
        "r",
        "b",
        "swpd",
        "free",
        "buff",
        "cache",
        "si",
        "so",
        "bi",
        "bo",
        "in",
        "cs",
        "us",
        "sy",
        "id",
        "wa",
    ]
    first, later = (dict(zip(columns, map(int, line.split()), strict=True)) for line in lines[:2])
    assert first["so"] > 0 and first["swpd"] > 0 and first["in"] > 0  # since boot
    assert later["so"] == 0 and later["in"] == 0  # nothing happened in the interval
    assert later["swpd"] == first["swpd"]


def test_free_shows_meminfo_in_kib_or_human_sizes(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        info = inspector.meminfo()
    text = _invoke("free", "--addr", server_address)
    header, mem, swap = text.splitlines()
    assert header.split() == ["total", "used", "free", "shared", "buff/cache", "available"]
    assert int(mem.split()[1]) == info["MemTotal"] and int(swap.split()[1]) == info["SwapTotal"]
    assert len(header) == len(mem)  # columns line up
    human = _invoke("free", "-h", "--addr", server_address)
    assert "Mi" in human.splitlines()[1]
    assert human_size(16 * 1024) == "16Mi" and human_size(1536 * 1024) == "1.5Gi"


@pytest.mark.slow
def test_pmap_lists_each_mapping_and_totals(server_address: str, swapping: vmsim.Process) -> None:
    text = _invoke("pmap", "-x", str(swapping.pid), "--addr", server_address)
    lines = text.splitlines()
    assert lines[0].split() == [f"{swapping.pid}:", "hog"]
    assert lines[1].split() == ["Address", "Kbytes", "RSS", "Dirty", "Mode", "Mapping"]
    anon = next(line for line in lines if "[ anon ]" in line)
    assert anon.split()[1] == str(24 * 1024) and anon.split()[4] == "rw---"
    total = lines[-1].split()
    assert total[:2] == ["total", "kB"] and int(total[3]) > 0


def _status(pid: int, rss: int, swap: int, faults: int, state: str = "R") -> ProcessStatus:
    return ProcessStatus(pid, f"p{pid}", state, 0, rss, swap, 0, 0, 0, faults, 0, 0, 0)


def test_top_sorts_live_processes_by_the_chosen_column() -> None:
    processes = [_status(1, 10, 300, 5), _status(2, 30, 100, 50), _status(3, 99, 999, 999, "Z")]
    assert [p.pid for p in top_rows(processes, "rss")] == [2, 1]
    assert [p.pid for p in top_rows(processes, "swap")] == [1, 2]
    assert [p.pid for p in top_rows(processes, "faults")] == [2, 1]
    with pytest.raises(ValueError, match="one of rss"):
        top_rows(processes, "size")


@pytest.mark.slow
def test_top_prints_a_table_and_exits_after_its_iterations(
    server_address: str, swapping: vmsim.Process
) -> None:
    text = _invoke("top", "-n", "1", "--sort", "swap", "--addr", server_address)
    assert "hog" in text and "SWAP" in text and "sorted by swap" in text
    result = runner.invoke(app, ["top", "--sort", "size", "--addr", server_address])
    assert result.exit_code == 2 and "rss, swap, faults" in result.output


def test_ps_shows_zombies_only_with_all(server_address: str) -> None:
    with vmsim.connect(server_address, name="alive"):
        victim = vmsim.connect(server_address, name="victim")
        with pytest.raises(vmsim.SegmentationFault):
            victim.touch(0x1000)
        live = _invoke("ps", "--addr", server_address)
        everything = _invoke("ps", "--all", "--addr", server_address)
    assert "alive" in live and "victim" not in live
    assert "victim" in everything and "SIGSEGV" in everything
