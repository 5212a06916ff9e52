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


# procps vmstat's header, less the st column (no hypervisor steals from the simulated CPU).
VMSTAT_COLUMNS = [
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


@pytest.mark.subprocess
def test_vmstat_columns_are_those_of_procps(server_address: str) -> None:
    lines = _invoke("vmstat", "--addr", server_address).splitlines()
    assert lines[1].split() == VMSTAT_COLUMNS
    if shutil.which("vmstat"):  # the host's own header, less the st column we do not have
        host = subprocess.run(["vmstat"], capture_output=True, text=True, check=True).stdout
        assert host.splitlines()[1].split()[:16] == lines[1].split()
    assert len(lines) == 3 and len(lines[2].split()) == 16


@pytest.mark.slow
def test_vmstat_lines_are_rates_per_interval(server_address: str, swapping: vmsim.Process) -> None:
    lines = _invoke("vmstat", "0.1", "3", "--addr", server_address).splitlines()[2:]
    assert len(lines) == 3
    first, later = (
        dict(zip(VMSTAT_COLUMNS, map(int, line.split()), strict=True)) for line in lines[:2]
    )
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


def test_free_takes_the_unit_flags_of_procps(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        info = inspector.meminfo()  # nothing runs on the server: the numbers stay put

    def mem_and_swap(*flags: str) -> tuple[list[str], list[str]]:
        _, mem, swap = _invoke("free", *flags, "--addr", server_address).splitlines()
        return mem.split()[1:], swap.split()[1:]

    kib = mem_and_swap()
    assert mem_and_swap("-k") == kib
    assert mem_and_swap("-b")[0][0] == str(info["MemTotal"] * 1024)
    assert mem_and_swap("-m")[0][0] == str(info["MemTotal"] // 1024)  # truncated, as free
    assert mem_and_swap("-g")[1][0] == str(info["SwapTotal"] // 1024**2) == "0"  # 64 MiB
    human_mem, human_swap = mem_and_swap("--human")
    assert human_mem[0] == f"{info['MemTotal'] // 1024}Mi"
    assert human_swap == ["64Mi", "0B", "64Mi"]  # an unused swap is 0B, as free -h prints
    assert human_size(0) == "0B" and human_size(512) == "512Ki"


def test_pmap_without_x_prints_address_kbytes_mode_and_mapping(
    server_address: str, swapping: vmsim.Process
) -> None:
    lines = _invoke("pmap", str(swapping.pid), "--addr", server_address).splitlines()
    assert lines[0].split() == [f"{swapping.pid}:", "hog"]
    anon = next(line for line in lines if "[ anon ]" in line)
    address, kbytes, mode, *mapping = anon.split()
    assert int(address, 16) == swapping.maps().items[0].start
    assert (kbytes, mode, mapping) == (f"{24 * 1024}K", "rw---", ["[", "anon", "]"])
    sizes = [int(line.split()[1].removesuffix("K")) for line in lines[1:-1]]
    assert lines[-1].split() == ["total", f"{sum(sizes)}K"]
    assert "RSS" not in "".join(lines) and "Dirty" not in "".join(lines)


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


def test_top_in_a_pipe_logs_every_frame_like_top_b(server_address: str) -> None:
    """CliRunner's stdout is no terminal: each of the -n frames follows the previous one."""
    with vmsim.connect(server_address, name="watched"):
        piped = _invoke("top", "-n", "3", "-d", "0.01", "--addr", server_address)
        batch = _invoke("top", "-b", "-n", "2", "-d", "0.01", "--addr", server_address)
    assert piped.count("vmsim top - ") == 3 and piped.count("watched") == 3
    assert batch.count("vmsim top - ") == 2


def test_top_header_fits_80_columns_in_a_wide_terminal(server_address: str) -> None:
    with vmsim.connect(server_address, name="watched"):
        result = runner.invoke(
            app, ["top", "-n", "1", "--addr", server_address], env={"COLUMNS": "150"}
        )
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("vmsim top - "))
    header = lines[start : start + 3]
    assert [line.split(":")[0] for line in header[1:]] == ["KiB Mem ", "KiB Swap"]
    assert all(len(line.rstrip()) <= 80 for line in header), header
    assert header[1].rstrip().endswith("avail") and header[2].rstrip().endswith("used")


def test_top_on_a_terminal_quits_on_q(server_address: str) -> None:
    """A pty for stdin and stdout, as a person at a terminal: q ends top long before -d 60."""
    import os
    import pty
    import select
    import sys
    import time

    from tests.service.test_cli import cli_env

    controller, terminal = pty.openpty()
    top = subprocess.Popen(
        [sys.executable, "-m", "vmsim", "top", "-d", "60", "--addr", server_address],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=cli_env(COLUMNS="100", LINES="40", TERM="xterm"),
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"vmsim top - " not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([controller], [], [], 1)[0]:
                seen += os.read(controller, 65536)
        os.write(controller, b"q")
        assert top.wait(timeout=30) == 0
    finally:
        if top.poll() is None:
            top.kill()
            top.wait()
        os.close(controller)


def test_ps_shows_zombies_only_with_all(server_address: str) -> None:
    with vmsim.connect(server_address, name="alive"):
        victim = vmsim.connect(server_address, name="victim")
        with pytest.raises(vmsim.SegmentationFault):
            victim.touch(0x1000)
        live = _invoke("ps", "--addr", server_address)
        everything = _invoke("ps", "--all", "--addr", server_address)
    assert "alive" in live and "victim" not in live
    assert "victim" in everything and "SIGSEGV" in everything
