"""`vmsim demo`: start a server, then narrate a client session through lazy allocation, swap and SIGSEGV.

Each step prints what a Linux user would check (/proc/<pid>/status, vmstat, meminfo) and
asserts the property it shows, so the demo doubles as an end-to-end smoke test.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from . import calls
from .client import Inspector, Process, connect
from .constants import (
    DEFAULT_TIMEOUT,
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    GiB,
    MiB,
)
from .errors import OomKilled, ProcessKilled, SegmentationFault, VmsimError
from .results import Zone

__all__ = [
    "DemoFailed",
    "SwapPlan",
    "plan_swapping",
    "run_demo",
    "server_process",
    "start_server_process",
    "stop_process",
    "user_room_pages",
]

# The demo machine: small enough to fill in a second, big enough for three zones.
DEMO_SERVER_ARGS = ("--ram", "64M", "--swap", "128M", "--seed", "0", "--grace", "1")
_CONSOLE_ADDRESS = re.compile(r"address[=:]\s*'?\"?([\w.\-\[\]:]+:\d+)")
MEMINFO_EXCERPT = (
    "MemTotal",
    "MemFree",
    "AnonPages",
    "PageTables",
    "SwapTotal",
    "SwapFree",
    "Committed_AS",
)


class DemoFailed(RuntimeError):
    """A step of the demo did not show what it should."""


def _started_address(line: str) -> str | None:
    """The bound address from the server's "server started" log line (JSON or console)."""
    with contextlib.suppress(ValueError):
        record = json.loads(line)
        if isinstance(record, dict) and record.get("event") == "server started":
            return str(record["address"])
        return None
    if "server started" in line:
        match = _CONSOLE_ADDRESS.search(line)
        return match.group(1) if match else None
    return None


def _drain(stream: IO[str], tail: collections.deque[str]) -> None:
    # The server logs every spawn and exit; an unread pipe would fill up and stall it.
    for line in stream:
        tail.append(line.rstrip())


@contextlib.contextmanager
def start_server_process(*args: str, startup_seconds: float = 30) -> Iterator[str]:
    """Run `python -m vmsim_server ARGS` on a free loopback port; yield its address; stop it after.

    The address, log format and level are set after *args* (the last flag wins): the
    "server started" line is how the address is learnt. The log is drained, not shown.
    """
    with server_process(*args, startup_seconds=startup_seconds) as (address, _pid):
        yield address


@contextlib.contextmanager
def server_process(*args: str, startup_seconds: float = 30) -> Iterator[tuple[str, int]]:
    """As start_server_process, yielding (address, pid) of the server it started."""
    command = [sys.executable, "-m", "vmsim_server", *args, "--address", "127.0.0.1:0"]
    command += ["--log-format", "json", "--log-level", "info"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert server.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=20)
    try:
        deadline = time.monotonic() + startup_seconds
        address = None
        while address is None:
            line = server.stderr.readline()
            if not line:
                log = "\n".join(tail)
                raise DemoFailed(
                    f"the server exited with {server.wait()} before it started:\n{log}"
                )
            tail.append(line.rstrip())
            address = _started_address(line)
            if address is None and time.monotonic() > deadline:
                raise DemoFailed(f"the server did not report its address in {startup_seconds} s")
        threading.Thread(target=_drain, args=(server.stderr, tail), daemon=True).start()
        yield address, server.pid
    finally:
        stop_process(server, grace_seconds=15)


def stop_process(process: subprocess.Popen[Any], grace_seconds: float) -> None:
    """SIGTERM *process* and wait for it; SIGKILL it if it is still running after
    *grace_seconds* (a server stops gracefully within its --grace)."""
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


def _run_all(process: Process, operations: list[calls.Call[Any]]) -> list[Any]:
    """Process.run, raising the first error it returned in place of a result.

    A hog killed halfway (say by the OOM killer of a server shared with other clients)
    must be reported as killed, not as data that came back wrong.
    """
    outcomes = process.run(operations)
    for outcome in outcomes:
        if isinstance(outcome, OomKilled):
            raise DemoFailed(
                f"process {process.pid} was killed by the OOM killer ({outcome.message}): the server "
                "has too little RAM + swap free for the demo (other clients?)"
            )
        if isinstance(outcome, VmsimError):
            raise outcome
    return outcomes


def _lazy_allocation(address: str, out: Console) -> None:
    out.rule("1. lazy allocation: mmap reserves, the first touch allocates")
    with connect(address, name="lazy") as proc:
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        addr = proc.mmap(1 * GiB, PROT_READ | PROT_WRITE, flags)
        status = proc.status()
        out.print(
            f"mmap(NULL, 1 GiB, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)"
            f" = [bold]0x{addr:08x}[/bold]"
        )
        out.print(f"  VmSize {status.vm_size // 1024:,} kB, VmRSS {status.vm_rss // 1024} kB")
        for page in (0, 100, 200):
            target = addr + page * PAGE_SIZE
            out.print(f"  touch 0x{target:08x} (write) -> {proc.touch(target, write=True)} fault")
        out.print(f"  touch 0x{addr:08x} again     -> {proc.touch(addr)}")
        zero = addr + 300 * PAGE_SIZE
        out.print(
            f"  touch 0x{zero:08x} (read)  -> {proc.touch(zero)} fault: "
            "the shared zero page, read-only, no RSS"
        )
        status = proc.status()
        out.print(
            f"[bold]RSS {status.vm_rss // 1024} kB after {status.minor_faults} minor faults[/bold]"
            " (three 4 KiB frames out of a 1 GiB mapping)"
        )
        _check(status.vm_rss == 3 * PAGE_SIZE, f"RSS should be 12 kB, is {status.vm_rss}")

        out.rule("2. write, read back, and the page walk behind it")
        message = b"hello, vmsim"
        proc.write(addr + 0x10, message)
        echoed = proc.read(addr + 0x10, len(message))
        out.print(f"write 0x{addr + 0x10:08x} {message!r}; read back {echoed!r}")
        _check(echoed == message, "read did not return what was written")
        out.print(proc.translate(addr + 0x10).text.rstrip(), highlight=False)


# The swapping step writes this much beyond what user pages can take: enough to swap, little
# enough that swapping (thousands of pages a second, the slow part) takes seconds on any machine.
EXCESS_MIN, EXCESS_MAX = 4 * MiB, 16 * MiB
TOUCH_CHUNK = 16 * MiB  # one TouchMany per chunk: every call well inside the default deadline
STAMPS_PER_HOG = 512  # stamped pages per hog, spread evenly whatever the machine's size
# A hog's exit frees every page it holds in one call (about 16,000 pages a second measured
# on a 1 GiB server): its deadline grows with its size, at a quarter of that pace.
EXIT_PAGES_PER_SECOND = 4096


@dataclass(frozen=True)
class SwapPlan:
    """How the swapping step is sized for the machine it meets (from zoneinfo and meminfo)."""

    room_pages: int  # free pages user allocations can take before reclaim starts
    excess_pages: int  # pages written beyond them: what must go to swap
    hog_bytes: int  # each of the two hogs maps and writes this much
    stride: int  # bytes between two stamped pages


def user_room_pages(zones: list[Zone]) -> int:
    """Free pages a GFP_HIGHUSER allocation can take before reclaim: in each zone, the free
    pages above its high watermark and its lowmem_reserve against HighMem allocations."""
    names = [zone.name for zone in zones]
    classzone = names.index("HighMem") if "HighMem" in names else len(zones) - 1
    return sum(
        max(0, z.free - z.high - (z.protection[classzone] if classzone < len(z.protection) else 0))
        for z in zones
    )


def plan_swapping(zones: list[Zone], swap_free_kb: int) -> SwapPlan | None:
    """Two hogs that together write a little more than fits (None: no swap to show it with)."""
    room_pages = user_room_pages(zones)
    excess = min(max(room_pages * PAGE_SIZE // 4, EXCESS_MIN), EXCESS_MAX, swap_free_kb * 1024 // 2)
    if excess < MiB:
        return None
    hog_bytes = (room_pages * PAGE_SIZE + excess) // 2 // PAGE_SIZE * PAGE_SIZE
    stride = max(16, hog_bytes // PAGE_SIZE // STAMPS_PER_HOG) * PAGE_SIZE
    return SwapPlan(room_pages, 2 * hog_bytes // PAGE_SIZE - room_pages, hog_bytes, stride)


def _write_all(hog: Process, base: int, size: int) -> None:
    for start in range(base, base + size, TOUCH_CHUNK):
        hog.touch_many(range(start, min(start + TOUCH_CHUNK, base + size), PAGE_SIZE), write=True)


def _swapping(address: str, inspector: Inspector, out: Console) -> None:
    out.rule("3. swapping under pressure: two processes want more than RAM")
    ram_kb = inspector.meminfo()["MemTotal"]
    plan = plan_swapping(inspector.zoneinfo().items, inspector.meminfo()["SwapFree"])
    if plan is None:
        out.print("this server has no swap free: nothing can be swapped out (skipped)")
        return
    size = plan.hog_bytes
    before = inspector.vmstat()
    hogs: list[Process] = []
    try:
        bases = [_start_hog(address, n, plan, hogs) for n in range(2)]
        written = inspector.vmstat()
        out.print(
            f"each of 2 processes wrote {size // MiB} MiB; the machine has {ram_kb // 1024} MiB of RAM"
        )
        swapped_writing = written["pswpout"] - before["pswpout"]
        out.print(
            f"pswpout +{swapped_writing} pages while writing: only what did not fit in the "
            f"{plan.room_pages * PAGE_SIZE // MiB} MiB that user pages could take "
            f"({plan.excess_pages} pages); no zone is reclaimed while another has room"
        )
        # kswapd reclaims a little beyond the excess, up to each zone's high watermark
        _check(
            swapped_writing <= 1.1 * plan.excess_pages + 256,
            f"swapped {swapped_writing} pages, but only {plan.excess_pages} did not fit",
        )
        _show_hogs(hogs, inspector, out)
        intact = all(
            _stamps_intact(hog, n, base, plan)
            for n, (hog, base) in enumerate(zip(hogs, bases, strict=True))
        )
        after = inspector.vmstat()
        swapped_out = after["pswpout"] - before["pswpout"]
        swapped_in = after["pswpin"] - before["pswpin"]
        verdict = "[green]identical[/green]" if intact else "[red]CORRUPTED[/red]"
        out.print(
            f"read every stamp back: {verdict}; "
            f"vmstat pswpout +{swapped_out}, pswpin +{swapped_in}, "
            f"pgmajfault +{after['pgmajfault'] - before['pgmajfault']}"
        )
        _check(intact, "data read back from swap differs from what was written")
        _check(swapped_out > 0, "nothing was swapped out")
    finally:
        for hog in hogs:
            hog.close()


def _start_hog(address: str, n: int, plan: SwapPlan, hogs: list[Process]) -> int:
    """Start hog *n* (added to *hogs* at once, for the caller to close), write all of its
    mapping and stamp one page every plan.stride bytes; the mapping's base."""
    size = plan.hog_bytes
    # Each hog starts when it is its turn: a process that sat idle while another
    # wrote hundreds of MiB ran ~100x slower on the server of December 2026.
    deadline = max(DEFAULT_TIMEOUT, size // PAGE_SIZE / EXIT_PAGES_PER_SECOND)
    hog = Process(address, name=f"hog{n}", timeout=deadline)
    hogs.append(hog)
    base = hog.mmap(size)
    _write_all(hog, base, size)
    # One Run stream carries all the stamps: many writes in flight, no round trip each.
    _run_all(
        hog,
        [calls.write(hog.pid, base + o, _pattern(n, o)) for o in range(0, size, plan.stride)],
    )
    return base


def _stamps_intact(hog: Process, n: int, base: int, plan: SwapPlan) -> bool:
    """Whether every stamp _start_hog wrote reads back as written, in one Run stream."""
    offsets = range(0, plan.hog_bytes, plan.stride)
    read_back = _run_all(hog, [calls.read(hog.pid, base + o, 64) for o in offsets])
    return read_back == [_pattern(n, o) for o in offsets]


def _show_hogs(hogs: list[Process], inspector: Inspector, out: Console) -> None:
    """The hogs' /proc/PID/status numbers as a table, and an excerpt of /proc/meminfo."""
    table = Table("PID", "NAME", "RSS kB", "SWAP kB", "MINFLT", "MAJFLT")
    for hog in hogs:
        s = hog.status()
        table.add_row(
            str(s.pid),
            s.name,
            f"{s.vm_rss // 1024:,}",
            f"{s.vm_swap // 1024:,}",
            str(s.minor_faults),
            str(s.major_faults),
        )
    out.print(table)
    meminfo = inspector.meminfo().text
    out.print("/proc/meminfo (excerpt) while they run:")
    out.print(
        "".join(
            line + "\n" for line in meminfo.splitlines() if line.split(":")[0] in MEMINFO_EXCERPT
        ).rstrip(),
        highlight=False,
    )


def _pattern(n: int, offset: int) -> bytes:
    return f"hog{n}@{offset:08x}".encode().ljust(64, b".")


def _segfault(address: str, out: Console) -> None:
    out.rule("4. a segmentation fault")
    with connect(address, name="crash") as proc:
        target = 0x1000
        try:
            proc.touch(target, write=True)
        except SegmentationFault as fault:
            out.print(
                f"touch 0x{target:08x} -> [bold red]{fault.signal}[/bold red] at "
                f"0x{fault.address or 0:08x}: {fault.reason}"
            )
        else:
            raise DemoFailed("touching an unmapped address did not fault")
        try:
            proc.mmap(PAGE_SIZE)
        except ProcessKilled as dead:
            out.print(f"the next call says: {dead.message}", highlight=False)
        else:
            raise DemoFailed("a killed process went on running")


def _session(address: str, out: Console, own_server: bool) -> None:
    with Inspector(address) as inspector:
        free_kb = inspector.free_kb()
        out.print(Panel(f"vmsim at {address}: a 32-bit x86 Linux machine", style="bold"))
        _lazy_allocation(address, out)
        _swapping(address, inspector, out)
        _segfault(address, out)
        out.rule("5. after every process exited")
        free_after = inspector.free_kb()
        out.print(
            f"free {free_after:,} kB: MemFree with the per-cpu lists' pages "
            f"(at the start: {free_kb:,} kB)"
        )
        if own_server:  # on a shared server other clients move MemFree too
            _check(free_after == free_kb, "exited processes left memory behind")


def run_demo(address: str | None, out: Console) -> int:
    """Run the demo against *address*, or against a server it starts; returns the exit code.

    Raises:
        DemoFailed: a step did not show what it should (or the server did not start).
    """
    started = time.monotonic()
    if address:
        _session(address, out, own_server=False)
    else:
        with start_server_process(*DEMO_SERVER_ARGS) as own_address:
            _session(own_address, out, own_server=True)
    out.print(f"[green]demo finished in {time.monotonic() - started:.1f} s[/green]")
    return 0
