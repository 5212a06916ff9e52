"""Terminal views in the formats of procps: vmstat(8), free(1), pmap(1), top(1)'s table, and
ls -l of /dev/shm and of the file system.

Each view is a pure function of reports read from the server, so the same numbers can be
printed once (`vmsim free`) or every interval (`vmsim vmstat 1`, `vmsim top`).
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .calls import Listing
from .client import Inspector
from .results import CpuTimes, FileInfo, LockClass, ProcessStatus, ShmObject, Vma

__all__ = [
    "FREE_UNITS",
    "TOP_SORT_KEYS",
    "VMSTAT_HEADER",
    "VmstatSample",
    "format_files",
    "format_free",
    "format_pmap",
    "format_shm",
    "free_table",
    "human_size",
    "pmap_rows",
    "read_vmstat_sample",
    "top_header",
    "top_rows",
    "vmstat_columns",
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


def vmstat_columns(previous: VmstatSample | None, current: VmstatSample) -> dict[str, int]:
    """The columns of one vmstat(8) line: memory now, rates since *previous* (since boot when None).

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
    page_kb = 4
    return {
        "r": current.procs_running,
        "b": 0,
        "swpd": m["SwapTotal"] - m["SwapFree"],
        "free": m["MemFree"],
        "buff": m["Buffers"],
        "cache": m["Cached"] + m.get("SReclaimable", 0),
        "si": rate("pswpin", page_kb),
        "so": rate("pswpout", page_kb),
        "bi": rate("pgpgin"),
        "bo": rate("pgpgout"),
        "in": rate("pgfault"),
        "cs": round((_context_switches(current.locks) - old_cs) / seconds),
        **{
            name: round(100 * part / elapsed)
            for name, part in (("us", user), ("sy", system), ("id", idle), ("wa", iowait))
        },
    }


# procps' widths of the columns, in the order of VMSTAT_HEADER
_VMSTAT_WIDTHS = {"r": 2, "b": 2, "swpd": 6, "free": 6, "buff": 6, "cache": 6, "si": 4, "so": 4}
_VMSTAT_WIDTHS |= {"bi": 5, "bo": 5, "in": 4, "cs": 4, "us": 2, "sy": 2, "id": 2, "wa": 2}


def vmstat_line(previous: VmstatSample | None, current: VmstatSample) -> str:
    """One vmstat(8) line under VMSTAT_HEADER (the columns of vmstat_columns)."""
    columns = vmstat_columns(previous, current)
    return " ".join(f"{columns[name]:{width}d}" for name, width in _VMSTAT_WIDTHS.items())


def human_size(kb: int) -> str:
    """free -h style: 0B, 1023Ki, 16Mi, 1.5Gi."""
    if kb == 0:
        return "0B"  # free -h prints an empty swap as 0B
    value, unit = float(kb), "Ki"
    for next_unit in ("Mi", "Gi", "Ti"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{value:.0f}{unit}" if value >= 10 or unit == "Ki" else f"{value:.1f}{unit}"


# free(1)'s unit flags: how a KiB value is shown (-h picks a unit per value)
FREE_UNITS = ("b", "k", "m", "g", "h")


def free_table(meminfo: dict[str, int]) -> dict[str, dict[str, int]]:
    """free(1)'s numbers in KiB: total, used, free, shared, buff/cache and available per row."""
    total, free = meminfo["MemTotal"], meminfo["MemFree"]
    buff_cache = meminfo["Buffers"] + meminfo["Cached"] + meminfo.get("SReclaimable", 0)
    swap_total, swap_free = meminfo["SwapTotal"], meminfo["SwapFree"]
    return {
        "Mem": {
            "total": total,
            "used": total - free - buff_cache,
            "free": free,
            "shared": meminfo.get("Shmem", 0),
            "buff/cache": buff_cache,
            "available": meminfo["MemAvailable"],
        },
        "Swap": {"total": swap_total, "used": swap_total - swap_free, "free": swap_free},
    }


def _free_cell(kb: int, unit: str) -> str:
    if unit == "h":
        return human_size(kb)
    if unit == "b":
        return str(kb * 1024)
    return str(kb // 1024 ** "kmg".index(unit))  # free(1) truncates, as here


def format_free(meminfo: dict[str, int], unit: str = "k") -> str:
    """free(1): Mem and Swap lines in KiB, or in the unit of free's -b/-m/-g/-h flag."""
    if unit not in FREE_UNITS:
        raise ValueError(f"unit {unit!r}: one of {', '.join(FREE_UNITS)}")
    table = free_table(meminfo)

    def row(label: str, cells: list[str]) -> str:
        # procps: the label in 8 columns, then each value right-aligned in 12
        return f"{label:<8}" + "".join(f" {cell:>11}" for cell in cells)

    lines = [row("", list(table["Mem"]))]
    lines += [
        row(f"{name}:", [_free_cell(kb, unit) for kb in cells.values()])
        for name, cells in table.items()
    ]
    return "\n".join(lines) + "\n"


def pmap_rows(vmas: Listing[Vma]) -> list[dict[str, int | str]]:
    """Each mapping as pmap shows it: address, Kbytes, RSS and Dirty (kB), mode, mapping."""
    return [
        {
            "address": vma.start,
            "kbytes": (vma.end - vma.start) // 1024,
            "rss": vma.rss // 1024,
            "dirty": (vma.private_dirty + vma.shared_dirty) // 1024,
            "mode": vma.perms[:3] + "--",
            "mapping": vma.name or "[ anon ]",  # pmap's name for an anonymous mapping
        }
        for vma in vmas.items
    ]


def format_pmap(process: ProcessStatus, vmas: Listing[Vma], extended: bool = False) -> str:
    """pmap PID: address, Kbytes, mode and mapping of each VMA and the total; with *extended*
    (pmap -x) also RSS and Dirty, under a header."""
    rows = pmap_rows(vmas)
    lines = [f"{process.pid}:   {process.name}"]
    if not extended:
        for r in rows:
            lines.append(f"{r['address']:08x} {r['kbytes']:>6}K {r['mode']} {r['mapping']}")
        lines.append(f" total {sum(int(r['kbytes']) for r in rows):>15}K")
        return "\n".join(lines) + "\n"
    lines.append(f"{'Address':<8} {'Kbytes':>7} {'RSS':>7} {'Dirty':>7} Mode  Mapping")
    for r in rows:
        lines.append(
            f"{r['address']:08x} {r['kbytes']:>7} {r['rss']:>7} {r['dirty']:>7} {r['mode']}   "
            f"{r['mapping']}"
        )
    totals = [sum(int(r[key]) for r in rows) for key in ("kbytes", "rss", "dirty")]
    lines.append("-------- ------- ------- -------")
    lines.append(f"{'total kB':<8} {totals[0]:>7} {totals[1]:>7} {totals[2]:>7}")
    return "\n".join(lines) + "\n"


def top_header(address: str, meminfo: dict[str, int], processes: list[ProcessStatus]) -> list[str]:
    """top(1)'s summary lines, each well under 80 columns whatever the terminal's width."""
    live = sum(1 for p in processes if p.state != "Z")
    return [
        f"vmsim top - {address} - {live} processes, {len(processes) - live} zombie",
        f"KiB Mem : {meminfo['MemTotal']:>9} total, {meminfo['MemFree']:>9} free, "
        f"{meminfo['MemAvailable']:>9} avail",
        f"KiB Swap: {meminfo['SwapTotal']:>9} total, {meminfo['SwapFree']:>9} free, "
        f"{meminfo['SwapTotal'] - meminfo['SwapFree']:>9} used",
    ]


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


def _ls_listing(
    total_kb: int,
    columns: Sequence[tuple[str, int]],
    rows: Iterable[tuple[int, Sequence[int], str]],
) -> str:
    """A listing as `ls -ln` prints one: "total KB", then per row the mode, the numbers of
    *columns* (title, width) right-aligned, and the name."""
    header = " ".join([f"{'MODE':<10}", *(f"{title:>{width}}" for title, width in columns), "NAME"])
    lines = [f"total {total_kb}", header]
    for mode, values, name in rows:
        cells = (f"{value:>{width}}" for value, (_, width) in zip(values, columns, strict=True))
        lines.append(" ".join([f"{stat.filemode(stat.S_IFREG | mode):<10}", *cells, name]))
    return "\n".join(lines) + "\n"


def format_shm(objects: list[ShmObject]) -> str:
    """/dev/shm as `ls -ln` shows it (mode, owner uid, size in bytes, name), with what ls cannot
    show beside it: the mappings in live processes and the bytes resident and swapped."""
    return _ls_listing(
        sum(o.size for o in objects) // 1024,
        [("UID", 5), ("SIZE", 11), ("MAPPERS", 7), ("RESIDENT", 11), ("SWAPPED", 11)],
        (
            (o.mode, (o.owner, o.size, o.mappings, o.resident, o.swapped), o.name)
            for o in sorted(objects, key=lambda o: o.name)
        ),
    )


def format_files(files: list[FileInfo]) -> str:
    """The file system as `ls -ln` shows it (mode, links, owner uid, size, name), with the page
    cache's view beside it: the bytes of each file cached, dirty and mapped."""
    return _ls_listing(
        sum(f.blocks for f in files) * 4,
        [("LINKS", 5), ("UID", 5), ("SIZE", 11), ("CACHED", 11), ("DIRTY", 11), ("MAPPED", 11)],
        (
            (f.mode, (f.nlink, f.owner, f.size, f.cached, f.dirty, f.mapped), f.name)
            for f in sorted(files, key=lambda f: f.name)
        ),
    )
