"""Terminal views in the formats of procps: vmstat(8), free(1), pmap(1) -x and top(1)'s table.

Each view is a pure function of reports read from the server, so the same numbers can be
printed once (`vmsim free`) or every interval (`vmsim vmstat 1`, `vmsim top`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .calls import Listing
from .client import Inspector
from .results import CpuTimes, LockClass, ProcessStatus, Vma

__all__ = [
    "TOP_SORT_KEYS",
    "VMSTAT_HEADER",
    "VmstatSample",
    "format_free",
    "format_pmap",
    "human_size",
    "read_vmstat_sample",
    "top_rows",
    "vmstat_line",
]

VMSTAT_HEADER = (
    "procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----\n"
    " r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa"
)
TOP_SORT_KEYS = ("rss", "swap", "faults", "pid")
_PROCS_RUNNING = re.compile(r"^procs_running (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class VmstatSample:
    """What one vmstat line needs, read at one moment (*seconds* is the caller's clock)."""

    seconds: float
    meminfo: dict[str, int]
    vmstat: dict[str, int]
    cpu: CpuTimes
    locks: tuple[LockClass, ...]
    procs_running: int


def read_vmstat_sample(inspector: Inspector, seconds: float) -> VmstatSample:
    """Read the reports a vmstat line is computed from."""
    cpu = inspector.cpu_times()
    match = _PROCS_RUNNING.search(cpu.text)
    return VmstatSample(
        seconds,
        inspector.meminfo().values,
        inspector.vmstat().values,
        cpu,
        tuple(inspector.lock_stat().items),
        int(match.group(1)) if match else 0,
    )


def _context_switches(locks: tuple[LockClass, ...]) -> int:
    # A waiter on a sleeping lock pays two context switches (out and back in).
    return sum(2 * c.contentions for c in locks if c.kind == "sleep")


def vmstat_line(previous: VmstatSample | None, current: VmstatSample) -> str:
    """One vmstat(8) line: memory now, rates since *previous* (since boot when None).

    si/so are kB swapped in/out per second, bi/bo kB paged in/out per second (1 KiB blocks),
    in is page faults per second (the simulated machine's only traps), cs context switches
    per second (two per contention of a sleeping lock), us/sy/id/wa shares of the simulated
    clock that passed (system includes kswapd and spinning on locks).
    """
    m, v = current.meminfo, current.vmstat
    before = previous.vmstat if previous else dict.fromkeys(v, 0)
    seconds = max(current.seconds - previous.seconds, 1e-9) if previous else 1.0

    def rate(name: str, scale: int = 1) -> int:
        return round((v[name] - before.get(name, 0)) * scale / seconds)

    cpu, old_cpu = current.cpu, previous.cpu if previous else CpuTimes(0, 0, 0, 0, 0, 0)
    user = cpu.user_ns - old_cpu.user_ns
    system = (
        cpu.system_ns
        + cpu.kswapd_ns
        + cpu.lock_wait_ns
        - old_cpu.system_ns
        - old_cpu.kswapd_ns
        - old_cpu.lock_wait_ns
    )
    iowait = cpu.iowait_ns - old_cpu.iowait_ns
    elapsed = max(cpu.clock_ns - old_cpu.clock_ns, user + system + iowait, 1)
    idle = elapsed - user - system - iowait
    old_cs = _context_switches(previous.locks) if previous else 0
    cs = round((_context_switches(current.locks) - old_cs) / seconds)
    page_kb = 4
    values = (
        f"{current.procs_running:2d} {0:2d} "
        f"{m['SwapTotal'] - m['SwapFree']:6d} {m['MemFree']:6d} {m['Buffers']:6d} "
        f"{m['Cached'] + m.get('SReclaimable', 0):6d} "
        f"{rate('pswpin', page_kb):4d} {rate('pswpout', page_kb):4d} "
        f"{rate('pgpgin'):5d} {rate('pgpgout'):5d} {rate('pgfault'):4d} {cs:4d} "
        + " ".join(f"{round(100 * part / elapsed):2d}" for part in (user, system, idle, iowait))
    )
    return values


def human_size(kb: int) -> str:
    """free -h style: 1023Ki, 16Mi, 1.5Gi."""
    value, unit = float(kb), "Ki"
    for next_unit in ("Mi", "Gi", "Ti"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{value:.0f}{unit}" if value >= 10 or unit == "Ki" else f"{value:.1f}{unit}"


def format_free(meminfo: dict[str, int], human: bool = False) -> str:
    """free(1): Mem and Swap lines in KiB (or human-readable sizes with *human*)."""
    total, free = meminfo["MemTotal"], meminfo["MemFree"]
    buff_cache = meminfo["Buffers"] + meminfo["Cached"] + meminfo.get("SReclaimable", 0)
    used = total - free - buff_cache
    swap_total, swap_free = meminfo["SwapTotal"], meminfo["SwapFree"]

    def row(label: str, cells: tuple[int | str, ...]) -> str:
        # procps: the label in 8 columns, then each value right-aligned in 12
        return f"{label:<8}" + "".join(
            f" {human_size(c) if human and isinstance(c, int) else c:>11}" for c in cells
        )

    header = row("", ("total", "used", "free", "shared", "buff/cache", "available"))
    mem = row(
        "Mem:",
        (total, used, free, meminfo.get("Shmem", 0), buff_cache, meminfo["MemAvailable"]),
    )
    swap = row("Swap:", (swap_total, swap_total - swap_free, swap_free))
    return "\n".join((header, mem, swap)) + "\n"


def format_pmap(process: ProcessStatus, vmas: Listing[Vma]) -> str:
    """pmap -x PID: address, Kbytes, RSS, Dirty, mode and mapping of each VMA, then totals."""
    lines = [
        f"{process.pid}:   {process.name}",
        f"{'Address':<8} {'Kbytes':>7} {'RSS':>7} {'Dirty':>7} Mode  Mapping",
    ]
    totals = [0, 0, 0]
    for vma in vmas.items:
        sizes = [
            (vma.end - vma.start) // 1024,
            vma.rss // 1024,
            (vma.private_dirty + vma.shared_dirty) // 1024,
        ]
        totals = [a + b for a, b in zip(totals, sizes, strict=True)]
        mode = vma.perms[:3] + "--"
        mapping = vma.name or "[ anon ]"  # pmap's name for an anonymous mapping
        lines.append(
            f"{vma.start:08x} {sizes[0]:>7} {sizes[1]:>7} {sizes[2]:>7} {mode}   {mapping}"
        )
    lines.append("-------- ------- ------- -------")
    lines.append(f"{'total kB':<8} {totals[0]:>7} {totals[1]:>7} {totals[2]:>7}")
    return "\n".join(lines) + "\n"


def top_rows(processes: list[ProcessStatus], sort: str, limit: int = 0) -> list[ProcessStatus]:
    """Live processes ordered as top shows them: by RSS, swap, faults (largest first) or pid."""
    if sort not in TOP_SORT_KEYS:
        raise ValueError(f"sort key {sort!r}: one of {', '.join(TOP_SORT_KEYS)}")
    live = [p for p in processes if p.state != "Z"]
    keys = {
        "rss": lambda p: -p.vm_rss,
        "swap": lambda p: -p.vm_swap,
        "faults": lambda p: -(p.minor_faults + p.major_faults),
        "pid": lambda p: p.pid,
    }
    ordered = sorted(live, key=keys[sort])
    return ordered[:limit] if limit else ordered
