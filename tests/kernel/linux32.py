"""The real i686 Linux 6.1 kernel's captures (tests/kernel/data/linux32/*.log) read into objects.

A capture is one serial-console log of a fresh boot (scripts/linux32/run.sh): `ANCHOR` lines
with the scenario and sysctls, `=== BEGIN x === / === END x ===` blocks holding /proc files,
memtouch's `MEMTOUCH phase=...` lines (getrusage deltas of the test process), ocprobe's
`OCPROBE` lines (overcommit limits), `OOMSCORE` lines and vmprobe's `VP ...` lines. Kernel
printk lines (`[   12.345678] ...`) can land inside any block, so every block is parsed by
matching its own line formats and ignoring the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

__all__ = [
    "DATA_DIR",
    "Capture",
    "MemtouchPhase",
    "MemtouchRun",
    "OcprobeResult",
    "OomKillReport",
    "OomScore",
    "Snapshot",
    "VpRow",
    "ZoneStats",
    "kswapd_share",
    "load",
    "parse_buddyinfo",
    "parse_meminfo",
    "parse_vmstat_deltas",
    "parse_vp_rows",
    "parse_zoneinfo",
    "scenario_names",
    "sections",
]

DATA_DIR = Path(__file__).parent / "data" / "linux32"

_MARKER = re.compile(r"=== (BEGIN|END) (.*) ===$")
_PRINTK = re.compile(r"^\[\s*\d+\.\d+\] ")
_KEY_VALUE = re.compile(r'(\S+?)=("[^"]*"|\S+)')
_KB = re.compile(r"^(\d+) kB$")


@dataclass(frozen=True)
class ZoneStats:
    """One zone of /proc/zoneinfo (counts in pages)."""

    name: str
    start_pfn: int
    spanned: int
    present: int
    managed: int
    free: int
    min: int
    low: int
    high: int
    protection: tuple[int, ...]
    pcp_count: int | None  # the first CPU's pageset `count:`; None for an empty zone
    pcp_high: int | None = None  # the first CPU's pageset `high:` (zone_highsize)
    pcp_batch: int | None = None  # and its `batch:` (zone_batchsize)
    counters: dict[str, int] = field(default_factory=dict)  # nr_zone_* and friends


@dataclass(frozen=True)
class MemtouchPhase:
    """A `MEMTOUCH phase=...` line: the test process's getrusage and status after a phase."""

    name: str
    minflt: int
    majflt: int
    d_minflt: int  # this phase's minor faults (exact: the process's own count)
    d_majflt: int
    vm_rss_kb: int
    vm_size_kb: int
    vm_pte_kb: int


@dataclass(frozen=True)
class MemtouchRun:
    """One memtouch process: its size, its phases in order and what it printed at the end."""

    title: str  # the block's name, e.g. "memtouch 400" or "memtouch 150 (D)"
    mib: int
    nr_pages: int
    read_pass: bool
    phases: dict[str, MemtouchPhase]
    vm_swap_kb: int | None
    maps: tuple[str, ...]  # the last /proc/self/maps it printed (without the prefix)
    exit_status: int | None  # `D exit=N` when the scenario recorded it


@dataclass(frozen=True)
class Snapshot:
    """The `hook=/bin/snap` files taken at one moment: vmstat deltas, meminfo, zones, buddy."""

    phase: str  # "held", "after-munmap" or "after-oom"
    vmstat: dict[str, int]  # value of each counter at the snapshot
    vmstat_delta: dict[str, int]  # change since just before the test started
    meminfo: dict[str, int]
    zones: tuple[ZoneStats, ...]
    buddyinfo: dict[str, tuple[int, ...]]

    def zone(self, name: str) -> ZoneStats:
        """The zone called *name* (DMA, Normal, HighMem) at this snapshot."""
        return _zone(self.zones, name)


@dataclass(frozen=True)
class OomScore:
    """An `OOMSCORE` line: /proc/PID/oom_score of a process held before the OOM."""

    who: str
    oom_score: int
    oom_score_adj: int
    vm_rss_kb: int


@dataclass(frozen=True)
class OomKillReport:
    """What the kernel printed for one OOM kill: the victim and each zone's state then."""

    victim_pid: int
    victim_comm: str
    anon_rss_kb: int
    pgtables_kb: int
    zone_free_kb: dict[str, int]
    zone_min_kb: dict[str, int]
    lowmem_reserve: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class OcprobeResult:
    """An `OCPROBE modeN` line: the largest single private writable mmap that succeeded."""

    mode: int
    largest_ok_kb: int
    commit_limit_kb: int
    mem_total_kb: int
    swap_total_kb: int


@dataclass(frozen=True)
class VpRow:
    """A vmprobe `VP <kind> phase=... who=... k=v ...` line."""

    kind: str  # proc, vma, rollup, meminfo, vmdelta, vmtotal, vmabs
    phase: str
    who: str  # "" for machine-wide rows
    values: dict[str, int]


@dataclass(frozen=True)
class Capture:
    """Everything one scenario's log recorded."""

    name: str
    ram_mib: int
    swap_kb: int  # /proc/swaps Size of the swap area; 0 without swap
    thp: str  # the active transparent_hugepage mode: always, madvise or never
    sysctl: dict[str, int]  # ANCHOR vm: min_free_kbytes, swappiness, page-cluster ...
    sections: dict[str, str]  # every BEGIN/END block's raw text (first one of each name)
    meminfo: dict[str, int]  # the first /proc/meminfo block, before the test
    zones: tuple[ZoneStats, ...]  # the first /proc/zoneinfo block (base-*, f, g, h, j)
    buddyinfo: dict[str, tuple[int, ...]]  # the first /proc/buddyinfo block (base-*)
    swaps: tuple[str, ...]  # /proc/swaps lines, header first
    memtouch: tuple[MemtouchRun, ...]
    snapshots: dict[str, Snapshot]
    oom_scores: tuple[OomScore, ...]
    survivors: dict[str, bool]  # who -> alive after the OOM
    oom_kills: tuple[OomKillReport, ...]
    ocprobe: dict[int, OcprobeResult]
    vp: tuple[VpRow, ...]

    @property
    def page_cluster(self) -> int:
        """vm.page-cluster during the test (3, the kernel's default, unless the scenario set it)."""
        return self.sysctl.get("page-cluster", 3)

    def run(self, title_prefix: str = "memtouch") -> MemtouchRun:
        """The one memtouch run whose block title starts with *title_prefix*."""
        (found,) = [run for run in self.memtouch if run.title.startswith(title_prefix)]
        return found

    def zone(self, name: str, phase: str | None = None) -> ZoneStats:
        """Zone *name* at boot, or in snapshot *phase*."""
        return _zone(self.zones, name) if phase is None else self.snapshots[phase].zone(name)

    def vp_rows(self, kind: str, who: str = "") -> list[VpRow]:
        """vmprobe's rows of one kind and process ("" for machine-wide rows), in phase order."""
        return [row for row in self.vp if row.kind == kind and row.who == who]

    def vp_values(self, kind: str, phase: str, who: str = "") -> dict[str, int]:
        """The values of vmprobe's one row of *kind* for *who* in *phase*."""
        (row,) = [row for row in self.vp_rows(kind, who) if row.phase == phase]
        return row.values

    def vp_rows_of_kind(self, kind: str) -> list[VpRow]:
        """vmprobe's rows of one kind for every process, in the order the log has them."""
        return [row for row in self.vp if row.kind == kind]


def _zone(zones: tuple[ZoneStats, ...], name: str) -> ZoneStats:
    (found,) = [zone for zone in zones if zone.name == name]
    return found


# ---- the formats of single /proc files --------------------------------------------------------
def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo lines `Name:   123 kB` (and the few without a unit) to {name: value}."""
    pairs = (re.match(r"^([A-Za-z0-9_()]+):\s+(\d+)( kB)?$", line) for line in text.splitlines())
    return {match.group(1): int(match.group(2)) for match in pairs if match}


def parse_vmstat_deltas(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """snap's `name  value  delta=N` lines: ({name: value}, {name: delta})."""
    values: dict[str, int] = {}
    deltas: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z0-9_]+)\s+(-?\d+)\s+delta=(-?\d+)$", line)
        if match:
            values[match.group(1)] = int(match.group(2))
            deltas[match.group(1)] = int(match.group(3))
    return values, deltas


def parse_zoneinfo(text: str) -> tuple[ZoneStats, ...]:
    """/proc/zoneinfo's zones with pages (the empty Movable zone and 0-page zones left out)."""
    raw: list[dict[str, str]] = []
    for line in text.splitlines():
        header = re.match(r"^Node \d+, zone\s+(\S+)$", line)
        if header:
            raw.append({"name": header.group(1)})
            continue
        if not raw:
            continue
        zone = raw[-1]
        stripped = line.strip()
        if stripped.startswith("pages free"):
            zone["free"] = stripped.split()[-1]
        elif stripped.startswith("protection:"):
            zone["protection"] = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("count:"):
            zone.setdefault("pcp_count", stripped.split()[-1])
        elif stripped.startswith(("high:", "batch:")):  # the pageset's, not the watermark
            zone.setdefault(f"pcp_{stripped.split(':')[0]}", stripped.split()[-1])
        else:
            match = re.match(r"^([a-z_]+):?\s+(-?\d+)$", stripped)
            if match:
                zone.setdefault(match.group(1), match.group(2))
    zones = []
    for zone in raw:
        if int(zone.get("present", "0")) == 0:
            continue
        protection = tuple(int(part) for part in re.findall(r"\d+", zone.get("protection", "")))
        counters = {k: int(v) for k, v in zone.items() if k.startswith("nr_")}
        zones.append(
            ZoneStats(
                name=zone["name"],
                start_pfn=int(zone["start_pfn"]),
                spanned=int(zone["spanned"]),
                present=int(zone["present"]),
                managed=int(zone["managed"]),
                free=int(zone["free"]),
                min=int(zone["min"]),
                low=int(zone["low"]),
                high=int(zone["high"]),
                protection=protection,
                pcp_count=int(zone["pcp_count"]) if "pcp_count" in zone else None,
                pcp_high=int(zone["pcp_high"]) if "pcp_high" in zone else None,
                pcp_batch=int(zone["pcp_batch"]) if "pcp_batch" in zone else None,
                counters=counters,
            )
        )
    return tuple(zones)


def parse_buddyinfo(text: str) -> dict[str, tuple[int, ...]]:
    """/proc/buddyinfo: {zone: nr_free per order 0..10}."""
    found: dict[str, tuple[int, ...]] = {}
    for line in text.splitlines():
        match = re.match(r"^Node \d+, zone\s+(\S+)((?:\s+\d+)+)\s*$", line)
        if match:
            found[match.group(1)] = tuple(int(part) for part in match.group(2).split())
    return found


# ---- the whole log -----------------------------------------------------------------------------
def sections(text: str) -> dict[str, str]:
    """Every BEGIN/END block, nested ones included; the first block of each name wins."""
    found: dict[str, str] = {}
    open_blocks: dict[str, list[str]] = {}
    for line in text.splitlines():
        marker = _MARKER.match(line)
        if marker:
            kind, name = marker.groups()
            if kind == "BEGIN":
                open_blocks.setdefault(name, [])
            elif name in open_blocks:
                found.setdefault(name, "\n".join(open_blocks.pop(name)) + "\n")
            continue
        for lines in open_blocks.values():
            lines.append(line)
    return found


def _key_values(line: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _KEY_VALUE.findall(line)}


def _kb(value: str) -> int:
    match = _KB.match(value)
    if match is None:
        raise ValueError(f"not a 'N kB' figure: {value!r}")
    return int(match.group(1))


def _memtouch_run(title: str, body: str) -> MemtouchRun:
    phases: dict[str, MemtouchPhase] = {}
    maps: list[str] = []
    mib = nr_pages = 0
    read_pass = False
    vm_swap_kb: int | None = None
    exit_status: int | None = None
    for line in body.splitlines():
        if line.startswith("MEMTOUCH start "):
            values = _key_values(line)
            mib, nr_pages, read_pass = (
                int(values["MiB"]),
                int(values["pages"]),
                values["read"] == "1",
            )
        elif line.startswith("MEMTOUCH phase="):
            values = _key_values(line)
            phases[values["phase"]] = MemtouchPhase(
                name=values["phase"],
                minflt=int(values["minflt"]),
                majflt=int(values["majflt"]),
                d_minflt=int(values["d_minflt"]),
                d_majflt=int(values["d_majflt"]),
                vm_rss_kb=_kb(values["VmRSS"]),
                vm_size_kb=_kb(values["VmSize"]),
                vm_pte_kb=_kb(values["VmPTE"]),
            )
        elif line.startswith("MEMTOUCH ---- /proc/self/maps"):
            maps = []
        elif line.startswith("MEMTOUCH maps "):
            maps.append(line.removeprefix("MEMTOUCH maps "))
        elif line.startswith("MEMTOUCH VmSwap="):
            vm_swap_kb = _kb(_key_values(line)["VmSwap"])
        else:
            match = re.match(r"^\S+ exit=(\d+)$", line)
            if match:
                exit_status = int(match.group(1))
    return MemtouchRun(
        title, mib, nr_pages, read_pass, phases, vm_swap_kb, tuple(maps), exit_status
    )


def _memtouch_runs(text: str, blocks: dict[str, str]) -> tuple[MemtouchRun, ...]:
    """memtouch runs: each `memtouch ...` block, plus runs printed outside any block (the OOM
    scenario's held processes A, B, C), split at their `MEMTOUCH start` lines."""
    runs = [
        _memtouch_run(name, body)
        for name, body in blocks.items()
        if name.startswith("memtouch ") and "MEMTOUCH start" in body
    ]
    loose: list[list[str]] = []
    depth = 0
    for line in text.splitlines():
        marker = _MARKER.match(line)
        if marker:
            depth += 1 if marker.group(1) == "BEGIN" else -1
            continue
        if depth or not line.startswith("MEMTOUCH "):
            continue
        if line.startswith("MEMTOUCH start ") or not loose:
            loose.append([])
        loose[-1].append(line)
    runs += [_memtouch_run(f"held {index}", "\n".join(body)) for index, body in enumerate(loose)]
    return tuple(runs)


def _snapshots(blocks: dict[str, str]) -> dict[str, Snapshot]:
    snapshots: dict[str, Snapshot] = {}
    for phase in ("held", "after-munmap", "after-oom"):
        if f"vmstat-delta {phase}" not in blocks and f"meminfo {phase}" not in blocks:
            continue
        values, deltas = parse_vmstat_deltas(blocks.get(f"vmstat-delta {phase}", ""))
        snapshots[phase] = Snapshot(
            phase=phase,
            vmstat=values,
            vmstat_delta=deltas,
            meminfo=parse_meminfo(blocks.get(f"meminfo {phase}", "")),
            zones=parse_zoneinfo(blocks.get(f"zoneinfo {phase}", "")),
            buddyinfo=parse_buddyinfo(blocks.get(f"buddyinfo {phase}", "")),
        )
    return snapshots


def _oom_kills(dmesg: str) -> tuple[OomKillReport, ...]:
    """The show_mem() zone lines and the `Killed process` line of each OOM kill."""
    kills: list[OomKillReport] = []
    free: dict[str, int] = {}
    minimum: dict[str, int] = {}
    reserve: dict[str, tuple[int, ...]] = {}
    last_zone = ""
    seen: set[str] = set()
    for line in dmesg.splitlines():
        if line in seen:  # the block can repeat the tail of the log
            continue
        seen.add(line)
        body = _PRINTK.sub("", line)
        zone = re.match(r"^(DMA|Normal|HighMem) free:(\d+)kB boost:\d+kB min:(\d+)kB", body)
        if zone:
            last_zone = zone.group(1)
            free[last_zone], minimum[last_zone] = int(zone.group(2)), int(zone.group(3))
            continue
        protection = re.match(r"^lowmem_reserve\[\]:((?: \d+)+)$", body)
        if protection and last_zone:
            reserve[last_zone] = tuple(int(part) for part in protection.group(1).split())
            continue
        killed = re.search(
            r"Killed process (\d+) \((\S+)\).*anon-rss:(\d+)kB.*pgtables:(\d+)kB", body
        )
        if killed:
            kills.append(
                OomKillReport(
                    victim_pid=int(killed.group(1)),
                    victim_comm=killed.group(2),
                    anon_rss_kb=int(killed.group(3)),
                    pgtables_kb=int(killed.group(4)),
                    zone_free_kb=dict(free),
                    zone_min_kb=dict(minimum),
                    lowmem_reserve=dict(reserve),
                )
            )
    return tuple(kills)


def parse_vp_rows(text: str) -> tuple[VpRow, ...]:
    """Every vmprobe `VP <kind> phase=...` line of a log, its numbers read (+N as N)."""
    rows: list[VpRow] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "VP" or not parts[2].startswith("phase="):
            continue
        values = _key_values(line)
        numbers = {  # decimal counts and sizes; hexadecimal addresses (addr=0xb3ffa000)
            key: int(value, 0) if value.startswith("0x") else int(value)
            for key, value in values.items()
            if re.fullmatch(r"[+-]?\d+|0x[0-9a-fA-F]+", value) and key not in ("phase", "who")
        }
        rows.append(VpRow(parts[1], values["phase"], values.get("who", ""), numbers))
    return tuple(rows)


def _anchors(text: str) -> tuple[str, dict[str, int]]:
    thp = ""
    sysctl: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("ANCHOR thp:"):
            thp = re.search(r"\[(\w+)\]", line).group(1)  # type: ignore[union-attr]
        elif line.startswith(("ANCHOR vm:", "ANCHOR page-cluster=")):
            for key, value in _key_values(line.removeprefix("ANCHOR ")).items():
                if re.fullmatch(r"\d+", value):
                    sysctl[key] = int(value)
    return thp, sysctl


def kswapd_share(vmstat_delta: dict[str, int]) -> float:
    """The share of the pages reclaim scanned that kswapd scanned (the rest: direct reclaim)."""
    scanned = vmstat_delta["pgscan_kswapd"] + vmstat_delta["pgscan_direct"]
    assert scanned > 0, vmstat_delta
    return vmstat_delta["pgscan_kswapd"] / scanned


@cache
def load(name: str) -> Capture:
    """The capture of scenario *name* (e.g. "c-256m-swap-4k"), parsed once per test session."""
    text = (DATA_DIR / f"{name}.log").read_text(errors="replace")
    blocks = sections(text)
    ram = re.search(r"^### host command: .* -m (\d+) ", text, re.MULTILINE)
    if ram is None:
        raise ValueError(f"{name}: no qemu command line with -m")
    swaps = tuple(line for line in blocks.get("/proc/swaps", "").splitlines() if line.strip())
    swap_kb = sum(int(line.split()[2]) for line in swaps if line.startswith("/dev/"))
    thp, sysctl = _anchors(text)
    ocprobe = {}
    for line in text.splitlines():
        if line.startswith("OCPROBE mode") and "largest_ok_kB=" in line:
            values = _key_values(line)
            mode = int(line.split()[1].removeprefix("mode"))
            ocprobe[mode] = OcprobeResult(
                mode=mode,
                largest_ok_kb=int(values["largest_ok_kB"]),
                commit_limit_kb=int(values["CommitLimit"]),
                mem_total_kb=int(values["MemTotal"]),
                swap_total_kb=int(values["SwapTotal"]),
            )
    oom_scores = tuple(
        OomScore(
            who=line.split()[1],
            oom_score=int(values["oom_score"]),
            oom_score_adj=int(values["oom_score_adj"]),
            vm_rss_kb=int(re.search(r"VmRSS: (\d+) kB", line).group(1)),  # type: ignore[union-attr]
        )
        for line in blocks.get("oom_score before", "").splitlines()
        if line.startswith("OOMSCORE ") and "VmRSS:" in line
        for values in [_key_values(line)]
    )
    survivors = {
        match.group(1): match.group(2) == "alive"
        for match in re.finditer(
            r"^(\S+) pid=\d+ (alive|dead)$", blocks.get("survivors", ""), re.MULTILINE
        )
    }
    return Capture(
        name=name,
        ram_mib=int(ram.group(1)),
        swap_kb=swap_kb,
        thp=thp,
        sysctl=sysctl,
        sections=blocks,
        meminfo=parse_meminfo(blocks.get("/proc/meminfo", "")),
        zones=parse_zoneinfo(blocks.get("/proc/zoneinfo", "")),
        buddyinfo=parse_buddyinfo(blocks.get("/proc/buddyinfo", "")),
        swaps=swaps,
        memtouch=_memtouch_runs(text, blocks),
        snapshots=_snapshots(blocks),
        oom_scores=oom_scores,
        survivors=survivors,
        oom_kills=_oom_kills(blocks.get("dmesg oom", "")),
        ocprobe=ocprobe,
        vp=parse_vp_rows(text),
    )


def scenario_names() -> list[str]:
    """Every capture in the data folder, sorted."""
    return sorted(path.stem for path in DATA_DIR.glob("*.log"))
