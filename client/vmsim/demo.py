"""`vmsim demo`: a server on an embedded default plus a narrated client session."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.panel import Panel

from .client import Inspector, Process, connect
from .constants import (
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    GiB,
    MiB,
)
from .errors import SegmentationFault

__all__ = ["run_demo", "start_server_process"]

_ADDRESS = re.compile(r'"address": "([^"]+)"')


@contextlib.contextmanager
def start_server_process(*args: str) -> Iterator[str]:
    """Run `python -m vmsim_server` on a free loopback port; yield its address; stop it after."""
    command = [
        sys.executable,
        "-m",
        "vmsim_server",
        "--address",
        "127.0.0.1:0",
        "--log-format",
        "json",
        *args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stderr is not None
        deadline = time.monotonic() + 30
        address = None
        while address is None and time.monotonic() < deadline:
            line = server.stderr.readline()
            if not line:
                raise RuntimeError(f"the server exited with {server.wait()} before it started")
            match = _ADDRESS.search(line)
            address = match.group(1) if match else None
        if address is None:
            raise RuntimeError("the server did not report its address within 30 s")
        yield address
    finally:
        server.terminate()
        server.wait(30)


def _session(address: str, out: Console) -> None:
    inspector = Inspector(address)
    out.print(Panel(f"connected to vmsim at {address}", style="bold"))

    out.rule("1. lazy allocation")
    with connect(address, name="lazy") as proc:
        addr = proc.mmap(
            1 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        )
        out.print(f"mmap(1 GiB) = 0x{addr:08x}; RSS {proc.status().vm_rss // 1024} kB")
        for i in range(3):
            out.print(
                f"touch 0x{addr + i * 100 * PAGE_SIZE:08x} -> {proc.touch(addr + i * 100 * PAGE_SIZE, write=True)}"
            )
        status = proc.status()
        out.print(f"RSS {status.vm_rss // 1024} kB after {status.minor_faults} minor faults")
        proc.write(addr, b"hello, vmsim")
        out.print(f"write/read back: {proc.read(addr, 12)!r}")
        out.print("the page walk of that address:")
        out.print(proc.translate(addr).text, highlight=False)

    out.rule("2. swapping under pressure: two processes, more than RAM")
    ram_kb = inspector.meminfo()["MemTotal"]
    size = (ram_kb * 1024 * 3 // 4) // PAGE_SIZE * PAGE_SIZE
    procs = [Process(address, name=f"hog{i}") for i in range(2)]
    patterns = []
    for n, proc in enumerate(procs):
        base = proc.mmap(size)
        proc.touch_many(range(base, base + size, PAGE_SIZE), write=True)
        for page in range(0, size, 64 * PAGE_SIZE):
            proc.write(base + page, bytes([n + 1]) * 64)
        patterns.append(base)
    stats = inspector.vmstat()
    out.print(
        f"{size // MiB} MiB written by each of 2 processes into {ram_kb // 1024} MiB of RAM: "
        f"pswpout={stats['pswpout']}"
    )
    intact = all(
        proc.read(base + page, 64) == bytes([n + 1]) * 64
        for n, (proc, base) in enumerate(zip(procs, patterns, strict=True))
        for page in range(0, size, 64 * PAGE_SIZE)
    )
    stats = inspector.vmstat()
    out.print(
        f"read back: {'identical' if intact else 'CORRUPTED'}; pswpin={stats['pswpin']} "
        f"pgmajfault={stats['pgmajfault']}"
    )
    for proc in procs:
        proc.close()
    if not intact:
        raise RuntimeError("data read back from swap differs")

    out.rule("3. a segmentation fault")
    with connect(address, name="crash") as proc:
        try:
            proc.touch(0x1000, write=True)
        except SegmentationFault as fault:
            out.print(
                f"touch 0x1000 -> {fault.signal} at 0x{fault.address or 0:08x}: {fault.reason}"
            )
        try:
            proc.mmap(PAGE_SIZE)
        except SegmentationFault as dead:
            out.print(f"the next call says: {dead.message}")

    out.rule("4. /proc/meminfo (excerpt)")
    text = inspector.meminfo().text
    keep = (
        "MemTotal",
        "MemFree",
        "SwapTotal",
        "SwapFree",
        "AnonPages",
        "PageTables",
        "Committed_AS",
    )
    out.print(
        "".join(line + "\n" for line in text.splitlines() if line.split(":")[0] in keep),
        highlight=False,
    )
    inspector.close()


def run_demo(address: str | None, out: Console) -> int:
    """Run the demo against *address*, or against a server it starts; returns the exit code."""
    if address:
        _session(address, out)
        return 0
    with start_server_process() as started:
        _session(started, out)
    out.print("[green]demo finished[/green]")
    return 0
