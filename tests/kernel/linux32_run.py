"""Run a linux32 capture's scenario on vmsim and return the same kind of figures as the capture.

The machine is built the way the capture's QEMU guest was (RAM, swap size, vm.page-cluster,
vm.swappiness, one CPU) and driven through the kernel's public `Machine` API, the embedded form
of what the gRPC server does for a client: memtouch's passes are one touch_many each, as a client
sends them in one TouchMany. The results are linux32's own types (MemtouchRun, Snapshot,
ZoneStats ...), read back from vmsim's /proc-format reports with the capture's parsers, so a test
or scripts/linux32/compare.py compares like with like.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from tests.kernel.linux32 import (
    Capture,
    MemtouchPhase,
    MemtouchRun,
    OcprobeResult,
    OomKillReport,
    OomScore,
    Snapshot,
    VpRow,
    parse_buddyinfo,
    parse_meminfo,
    parse_zoneinfo,
)

from vmsim_kernel import (
    PAGE_SIZE,
    KiB,
    Machine,
    MachineConfig,
    MapFlag,
    MiB,
    OutOfMemory,
    OvercommitMode,
    ProcessKilled,
    Prot,
)
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.results import Event, EventKind, ProcessState

__all__ = [
    "MemtouchResult",
    "OomRun",
    "SharedWrite",
    "Vmprobe",
    "booted",
    "machine_config",
    "run_cow",
    "run_cowp",
    "run_cowsh",
    "run_memtouch",
    "run_ocprobe",
    "run_oom",
    "run_pcache",
    "run_shanon",
    "run_shared_anon_write",
    "run_shm",
    "run_swpy",
    "snapshot",
    "unpack_rootfs",
]

RW = int(Prot.READ | Prot.WRITE)
ANON_PRIVATE = int(MapFlag.PRIVATE | MapFlag.ANONYMOUS)
ANON_SHARED = int(MapFlag.SHARED | MapFlag.ANONYMOUS)
SWAP_HEADER_KB = PAGE_SIZE // KiB  # mkswap's header page: /proc/swaps' Size leaves it out


def machine_config(capture: Capture, **overrides: Any) -> MachineConfig:
    """The machine the capture ran on: its RAM, swap area, page-cluster, swappiness, 1 CPU."""
    settings: dict[str, Any] = {
        "ram_bytes": capture.ram_mib * MiB,
        "swap_bytes": (capture.swap_kb + SWAP_HEADER_KB) * KiB if capture.swap_kb else 0,
        "page_cluster": capture.page_cluster,
        "swappiness": capture.sysctl.get("swappiness", 60),
        "nr_cpus": 1,  # qemu -smp 1
    }
    settings.update(overrides)
    return MachineConfig(**settings)


@contextmanager
def booted(capture: Capture, **overrides: Any) -> Iterator[Machine]:
    """A fresh vmsim machine configured like *capture*'s guest, closed afterwards."""
    machine = Machine(machine_config(capture, **overrides))
    try:
        yield machine
    finally:
        machine.close()


def snapshot(machine: Machine, phase: str, vmstat_before: dict[str, int]) -> Snapshot:
    """What snap prints, from vmsim's reports: vmstat (and its change), meminfo, zones, buddy."""
    vmstat = machine.vmstat()
    return Snapshot(
        phase=phase,
        vmstat=vmstat,
        vmstat_delta={name: value - vmstat_before.get(name, 0) for name, value in vmstat.items()},
        meminfo=parse_meminfo(machine.report("meminfo")),
        zones=parse_zoneinfo(machine.report("zoneinfo")),
        buddyinfo=parse_buddyinfo(machine.report("buddyinfo")),
    )


def _pages(base: int, nr_pages: int) -> npt.NDArray[np.uint32]:
    return np.arange(base, base + nr_pages * PAGE_SIZE, PAGE_SIZE, dtype=np.uint32)


# memtouch's rewrite is `p[i] ^= 0x5a`: a load, then a store, per page. A vmsim call carries
# one kind of access, so the pages go in batches of this many, each loaded then stored: a page
# swapped in by its load is still there for its store (reclaim takes the coldest pages).
LOAD_STORE_BATCH_PAGES = 64


def _load_and_store(machine: Machine, pid: int, pages: npt.NDArray[np.uint32]) -> None:
    for start in range(0, len(pages), LOAD_STORE_BATCH_PAGES):
        batch = pages[start : start + LOAD_STORE_BATCH_PAGES]
        machine.touch_many(pid, batch, False)
        machine.touch_many(pid, batch, True)


@dataclass(frozen=True)
class MemtouchResult:
    """A memtouch run on vmsim: its process, its phases and the snapshots taken."""

    pid: int
    run: MemtouchRun
    snapshots: dict[str, Snapshot]


class _Rusage:
    """getrusage deltas of one simulated process, phase by phase (memtouch's report())."""

    def __init__(self, machine: Machine, pid: int) -> None:
        self.machine, self.pid = machine, pid
        self.minflt = self.majflt = 0
        self.phases: dict[str, MemtouchPhase] = {}

    def report(self, name: str) -> None:
        info = self.machine.process(self.pid)
        self.phases[name] = MemtouchPhase(
            name=name,
            minflt=info.minor_faults,
            majflt=info.major_faults,
            d_minflt=info.minor_faults - self.minflt,
            d_majflt=info.major_faults - self.majflt,
            vm_rss_kb=info.vm_rss // KiB,
            vm_size_kb=info.vm_size // KiB,
            vm_pte_kb=info.vm_pte // KiB,
        )
        self.minflt, self.majflt = info.minor_faults, info.major_faults


def run_memtouch(
    machine: Machine,
    mib: int,
    *,
    read_pass: bool = False,
    snapshots: bool = True,
    oom_score_adj: int = 0,
    name: str = "memtouch",
    hold: bool = False,
) -> MemtouchResult:
    """memtouch MiB [read]: mmap, (read every page,) write every page, rewrite every page;
    with *snapshots*, snap while held and after munmap (vmstat deltas from the start).
    With *hold*, the mapping stays (the OOM scenario's A, B and C)."""
    vmstat_before = machine.vmstat()
    nr_pages = mib * MiB // PAGE_SIZE
    pid = machine.spawn(name, oom_score_adj=oom_score_adj)
    rusage = _Rusage(machine, pid)
    rusage.report("start")
    base = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON_PRIVATE)
    rusage.report("mmap")
    maps = tuple(machine.report("maps", pid).splitlines())
    if read_pass:
        machine.touch_many(pid, _pages(base, nr_pages), False)
        rusage.report("read")
    machine.touch_many(pid, _pages(base, nr_pages), True)
    rusage.report("write")
    _load_and_store(machine, pid, _pages(base, nr_pages))
    rusage.report("rewrite")
    vm_swap_kb = machine.process(pid).vm_swap // KiB
    taken: dict[str, Snapshot] = {}
    if snapshots:
        taken["held"] = snapshot(machine, "held", vmstat_before)
    if not hold:
        machine.munmap(pid, base, nr_pages * PAGE_SIZE)
        rusage.report("munmap")
        if snapshots:
            taken["after-munmap"] = snapshot(machine, "after-munmap", vmstat_before)
    run = MemtouchRun(
        title=f"{name} {mib}",
        mib=mib,
        nr_pages=nr_pages,
        read_pass=read_pass,
        phases=rusage.phases,
        vm_swap_kb=vm_swap_kb,
        maps=maps,
        exit_status=None,
    )
    return MemtouchResult(pid, replace(run, exit_status=None if hold else 0), taken)


@dataclass(frozen=True)
class OomRun:
    """The OOM scenarios' figures: scores before, who survived, the zones at each kill."""

    oom_scores: tuple[OomScore, ...]
    survivors: dict[str, bool]
    kills: tuple[OomKillReport, ...]
    last: MemtouchRun  # the process that pushed the machine into OOM
    vmstat_delta: dict[str, int]


def run_oom(machine: Machine, held_mib: dict[str, tuple[int, int]], last_mib: int) -> OomRun:
    """Hold a memtouch per *held_mib* entry (who -> (MiB, oom_score_adj)), note their
    oom_score, then let one more process write *last_mib*; record the zones at each OOM kill
    (the kernel's show_mem) and who is alive at the end."""
    vmstat_before = machine.vmstat()
    pids: dict[str, int] = {}
    for who, (mib, adj) in held_mib.items():
        held = run_memtouch(machine, mib, snapshots=False, oom_score_adj=adj, name=who, hold=True)
        pids[who] = held.pid
    scores = tuple(
        OomScore(
            who=who,
            oom_score=machine.process(pid).oom_score,
            oom_score_adj=machine.process(pid).oom_score_adj,
            vm_rss_kb=machine.process(pid).vm_rss // KiB,
        )
        for who, pid in pids.items()
    )
    kills: list[OomKillReport] = []

    def at_kill(event: Event) -> None:
        zones = parse_zoneinfo(machine.report("zoneinfo"))
        info = machine.process(event.pid)
        kills.append(
            OomKillReport(
                victim_pid=event.pid,
                victim_comm=info.name,
                anon_rss_kb=info.vm_rss // KiB,
                pgtables_kb=info.vm_pte // KiB,
                zone_free_kb={zone.name: zone.free * PAGE_SIZE // KiB for zone in zones},
                zone_min_kb={zone.name: zone.min * PAGE_SIZE // KiB for zone in zones},
                lowmem_reserve={zone.name: zone.protection for zone in zones},
            )
        )

    machine.add_event_listener(at_kill, frozenset({EventKind.OOM_KILL}))
    try:
        last = run_memtouch(machine, last_mib, snapshots=False, name="last").run
    except ProcessKilled:
        last = MemtouchRun(f"last {last_mib}", last_mib, 0, False, {}, None, (), 137)
    finally:
        machine.remove_event_listener(at_kill)
    alive = {info.pid for info in machine.processes()}
    after = machine.vmstat()
    return OomRun(
        oom_scores=scores,
        survivors={who: pid in alive for who, pid in pids.items()},
        kills=tuple(kills),
        last=last,
        vmstat_delta={name: value - vmstat_before.get(name, 0) for name, value in after.items()},
    )


@dataclass(frozen=True)
class SharedWrite:
    """vmprobe shanon's first phase: one process writes a MAP_SHARED|MAP_ANONYMOUS mapping."""

    minflt: int
    meminfo_before: dict[str, int]  # after the mmap, before the writes (kB)
    meminfo_after: dict[str, int]


def run_shared_anon_write(machine: Machine, nr_pages: int) -> SharedWrite:
    """mmap *nr_pages* MAP_SHARED|MAP_ANONYMOUS read-write and write every page once."""
    pid = machine.spawn("P")
    addr = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON_SHARED)
    before, faults = machine.meminfo(), machine.process(pid).minor_faults
    machine.touch_many(pid, _pages(addr, nr_pages), True)
    return SharedWrite(machine.process(pid).minor_faults - faults, before, machine.meminfo())


def largest_mmap_pages(machine: Machine, pid: int, limit_pages: int) -> int:
    """ocprobe: the largest private writable anonymous mmap (in pages) that succeeds, by
    bisection between 0 and *limit_pages*; every successful probe is unmapped again."""
    low, high = 0, limit_pages + 1  # low succeeds (or is 0), high fails
    while high - low > 1:
        middle = (low + high) // 2
        try:
            addr = machine.mmap(pid, 0, middle * PAGE_SIZE, RW, ANON_PRIVATE)
        except OutOfMemory:
            high = middle
        else:
            machine.munmap(pid, addr, middle * PAGE_SIZE)
            low = middle
    return low


def run_ocprobe(capture: Capture, mode: int) -> OcprobeResult:
    """ocprobe in vm.overcommit_memory *mode* on a machine like *capture*'s."""
    with booted(capture, overcommit_memory=OvercommitMode(mode)) as machine:
        pid = machine.spawn("ocprobe")
        largest = largest_mmap_pages(machine, pid, 0xC0000000 // PAGE_SIZE)
        meminfo = machine.meminfo()
        return OcprobeResult(
            mode=mode,
            largest_ok_kb=largest * PAGE_SIZE // KiB,
            commit_limit_kb=meminfo["CommitLimit"],
            mem_total_kb=meminfo["MemTotal"],
            swap_total_kb=meminfo["SwapTotal"],
        )


# smaps fields vmprobe prints for its test VMA (kB)
VMA_FIELDS = (
    "Rss",
    "Pss",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Swap",
    "SwapPss",
)


class Vmprobe:
    """vmprobe's processes and its phase rows, on vmsim: after each phase, `proc` rows (the
    fault deltas), `vma` rows (smaps of the test VMA, kB), one `vmdelta` row and one
    `meminfo` row (kB), as VpRows
    named as in the capture, so a test compares them with Capture.vp_rows."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.pids: dict[str, int] = {}
        self.addr = 0
        self.rows: list[VpRow] = []
        self._faults: dict[str, tuple[int, int]] = {}
        self._vmstat = machine.vmstat()
        self.mismatches = 0  # pages a file workload read back wrong

    def start(self, who: str, pid: int) -> None:
        """*who* is process *pid* from now on."""
        self.pids[who] = pid
        info = self.machine.process(pid)
        self._faults[who] = (info.minor_faults, info.major_faults)

    def pages(self, first: int, count: int) -> npt.NDArray[np.uint32]:
        """The addresses of test-VMA pages first .. first + count - 1."""
        return _pages(self.addr + first * PAGE_SIZE, count)

    def phase(self, name: str) -> None:
        """Record the rows of phase *name*."""
        machine = self.machine
        for who, pid in self.pids.items():
            info = machine.process(pid)
            if info.state is not ProcessState.RUNNING:
                continue
            minflt, majflt = self._faults[who]
            self._faults[who] = (info.minor_faults, info.major_faults)
            proc = {"d_minflt": info.minor_faults - minflt, "d_majflt": info.major_faults - majflt}
            self.rows.append(VpRow("proc", name, who, proc))
            self.rows.append(VpRow("vma", name, who, self.vma_smaps(pid)))
        vmstat = machine.vmstat()
        delta = {key: value - self._vmstat.get(key, 0) for key, value in vmstat.items()}
        self._vmstat = vmstat
        self.rows.append(VpRow("vmdelta", name, "", delta))
        self.rows.append(VpRow("meminfo", name, "", machine.meminfo()))

    def vma_smaps(self, pid: int) -> dict[str, int]:
        """The smaps lines of the test VMA of *pid*, in kB (none once it is unmapped)."""
        lines = self.machine.report("smaps", pid).splitlines()
        header = f"{self.addr:08x}-"
        start = next((i for i, line in enumerate(lines) if line.startswith(header)), None)
        if start is None:
            return {}
        values: dict[str, int] = {}
        for line in lines[start + 1 :]:
            key, _, rest = line.partition(":")
            if key == "VmFlags":
                break
            if key in VMA_FIELDS:
                values[key] = int(rest.split()[0])
        return values

    def touch(self, pid: int, addrs: npt.NDArray[np.uint32], write: bool, phase: str) -> None:
        """One vmprobe step: *pid* reads *addrs* (writes them, with *write*) in one call, as a
        client's TouchMany does, then the rows of *phase*."""
        self.machine.touch_many(pid, addrs, write)
        self.phase(phase)

    def write_and_fork(
        self, parent: int, nr_pages: int, flags: int, written: str, mapped: str = ""
    ) -> tuple[int, npt.NDArray[np.uint32]]:
        """The opening the fork scenarios share: P maps the test VMA of *nr_pages* (phase
        *mapped*, when named), writes every page (phase *written*) and forks C (phase
        "fork"); (C's pid, every page's address)."""
        machine = self.machine
        self.addr = machine.mmap(parent, 0, nr_pages * PAGE_SIZE, RW, flags)
        if mapped:
            self.phase(mapped)
        every = self.pages(0, nr_pages)
        self.touch(parent, every, True, written)
        child = machine.fork(parent)
        self.start("C", child)
        self.phase("fork")
        return child, every

    def row(self, kind: str, phase: str, who: str = "") -> dict[str, int]:
        """The values of one recorded row."""
        (found,) = [r for r in self.rows if (r.kind, r.phase, r.who) == (kind, phase, who)]
        return found.values


def run_cow(machine: Machine, nr_pages: int) -> Vmprobe:
    """vmprobe cow: *nr_pages* private anonymous pages written by P; fork; C reads all, writes
    the first half; P writes all; both verify; C exits; P rewrites; then fork with an
    immediate exit of C2 and P writes all twice. The phases carry the capture's names."""
    probe = Vmprobe(machine)
    parent = machine.spawn("P")
    probe.start("P", parent)
    child, every = probe.write_and_fork(parent, nr_pages, ANON_PRIVATE, "p0-parent-write-all")
    half = nr_pages // 2
    probe.touch(child, every, False, "p1-child-read-all")
    probe.touch(child, probe.pages(0, half), True, "p2-child-write-first-half")
    probe.touch(parent, every, True, "p3-parent-write-all")
    machine.touch_many(child, every, False)
    probe.touch(parent, every, False, "p3v-verify-reads")
    machine.exit(child)
    probe.phase("p4a-child-exited")
    probe.touch(parent, every, True, "p4-parent-rewrite-all")
    child2 = machine.fork(parent)
    probe.start("C2", child2)
    probe.phase("x0-fork2")
    machine.exit(child2)
    probe.phase("x1-child2-exited")
    probe.touch(parent, every, True, "x2-parent-write-all")
    probe.touch(parent, every, True, "x3-parent-rewrite-all")
    return probe


def run_shanon(machine: Machine, nr_pages: int) -> Vmprobe:
    """vmprobe shanon: *nr_pages* MAP_SHARED|MAP_ANONYMOUS written by P; fork; C writes all;
    P reads all; P writes the first half and C reads all; C exits; P unmaps."""
    probe = Vmprobe(machine)
    parent = machine.spawn("P")
    probe.start("P", parent)
    child, every = probe.write_and_fork(
        parent, nr_pages, ANON_SHARED, "p0-parent-write-all", mapped="p0a-mmap-shared"
    )
    probe.touch(child, every, True, "p1-child-write-all")
    probe.touch(parent, every, False, "p2-parent-read-verify")
    machine.touch_many(parent, probe.pages(0, nr_pages // 2), True)
    probe.touch(child, every, False, "p3-parent-write-half-child-verify")
    machine.exit(child)
    probe.phase("p4-child-exited")
    machine.munmap(parent, probe.addr, nr_pages * PAGE_SIZE)
    probe.phase("p5-parent-munmap")
    return probe


def run_shm(machine: Machine, nr_pages: int, addr: int) -> Vmprobe:
    """vmprobe shm: W creates a named object of *nr_pages* (mode 0600), maps it at *addr* and
    writes all; R, unrelated to W but the same user (vmprobe's two processes run as root in
    the guest), maps it at *addr* and reads all, writes 16 pages that W reads; W exits; R
    unmaps; R unlinks the name."""
    probe = Vmprobe(machine)
    writer, reader = machine.spawn("W"), machine.spawn("R")
    probe.start("W", writer)
    probe.start("R", reader)
    probe.addr = addr
    length = nr_pages * PAGE_SIZE
    machine.shm_create(writer, "/vmprobe", length, 0o600)
    assert machine.shm_map(writer, "/vmprobe", RW, addr=addr) == addr
    probe.phase("p0-writer-shm_open-ftruncate-mmap")
    every = probe.pages(0, nr_pages)
    probe.touch(writer, every, True, "p1-writer-write-all")
    assert machine.shm_map(reader, "/vmprobe", RW, addr=addr) == addr
    probe.phase("p2-reader-shm_open-mmap")
    probe.touch(reader, every, False, "p3-reader-read-verify")
    machine.touch_many(reader, probe.pages(0, 16), True)
    probe.touch(writer, probe.pages(0, 16), False, "p4-reader-writes-16-writer-verifies")
    machine.exit(writer)
    probe.phase("p5-writer-exited")
    machine.munmap(reader, addr, length)
    probe.phase("p6-reader-munmap")
    machine.shm_unlink(reader, "/vmprobe")
    probe.phase("p7-shm_unlink")
    return probe


def run_cowp(machine: Machine, nr_pages: int, *, verify: bool = True) -> Vmprobe:
    """vmprobe cowp: *nr_pages* private anonymous pages written by P on a machine that must
    swap; fork; C writes all; P writes all; (with *verify*:) C reads all; P reads all; C
    exits."""
    probe = Vmprobe(machine)
    parent = machine.spawn("P")
    probe.start("P", parent)
    child, every = probe.write_and_fork(parent, nr_pages, ANON_PRIVATE, "p0-parent-write-all")
    probe.touch(child, every, True, "p1-child-write-all")
    probe.touch(parent, every, True, "p2-parent-write-all")
    if not verify:
        return probe
    probe.touch(child, every, False, "p3-child-read-verify")
    probe.touch(parent, every, False, "p4-parent-read-verify")
    machine.exit(child)
    probe.phase("p5-child-exited")
    return probe


def run_cowsh(machine: Machine, nr_pages: int, hog_pages: int) -> Vmprobe:
    """vmprobe cowsh: *nr_pages* private pages written by P; fork; a third process H writes
    *hog_pages* so the still-shared pages go to swap; C reads all, P reads all, C writes all;
    H exits, C exits."""
    probe = Vmprobe(machine)
    parent, hog = machine.spawn("P"), machine.spawn("H")
    probe.start("P", parent)
    probe.start("H", hog)
    child, every = probe.write_and_fork(parent, nr_pages, ANON_PRIVATE, "s0-parent-write-all")
    hog_addr = machine.mmap(hog, 0, hog_pages * PAGE_SIZE, RW, ANON_PRIVATE)
    probe.touch(hog, _pages(hog_addr, hog_pages), True, "s1-hog-write")
    probe.touch(child, every, False, "s2-child-read-all")
    probe.touch(parent, every, False, "s3-parent-read-all")
    probe.touch(child, every, True, "s4-child-write-all")
    machine.exit(hog)
    probe.phase("s5-hog-exited")
    machine.exit(child)
    probe.phase("s6-child-exited")
    return probe


FILE_IO_BYTES = 64 * KiB  # vmprobe's iobuf: each write(2) and read(2) moves 64 KiB
FILE_PRIVATE = int(MapFlag.PRIVATE)


def _file_write(machine: Machine, pid: int, name: str, nr_bytes: int) -> None:
    """vmprobe's OP_FWRITE: open O_WRONLY|O_CREAT|O_TRUNC, write 64 KiB at a time (each page
    starting with its number, as vmprobe stamps it), close; no fsync."""
    fd = machine.open_file(pid, name, OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_TRUNC)
    chunk_pages = FILE_IO_BYTES // PAGE_SIZE
    for first in range(0, nr_bytes // PAGE_SIZE, chunk_pages):
        stamps = np.zeros((chunk_pages, PAGE_SIZE // 4), dtype="<u4")
        stamps[:, 0] = 0x5A000000 + np.arange(first, first + chunk_pages, dtype=np.uint32)
        machine.write_file(pid, fd, stamps.tobytes())
    machine.close_file(pid, fd)


def _file_read(machine: Machine, pid: int, name: str) -> int:
    """vmprobe's OP_FREAD: open, read(2) 64 KiB at a time to the end, checking each page's
    stamp; returns the pages whose stamp was wrong (0 on Linux)."""
    fd = machine.open_file(pid, name)
    mismatches = 0
    page = 0
    while chunk := machine.read_file(pid, fd, FILE_IO_BYTES):
        words = np.frombuffer(chunk, dtype="<u4")[:: PAGE_SIZE // 4]
        expected = 0x5A000000 + np.arange(page, page + len(words), dtype=np.uint32)
        mismatches += int(np.count_nonzero(words != expected))
        page += len(words)
    machine.close_file(pid, fd)
    return mismatches


def _file_workload(
    probe: Vmprobe, pid: int, nr_bytes: int, *, do_mmap: bool, mmap_addr: int = 0
) -> None:
    """vmprobe's file_workload: the 400 MiB file written, read twice, then (with *do_mmap*)
    mapped MAP_PRIVATE (at *mmap_addr* when given) and read twice, the last and the first 10
    pages written, unmapped."""
    machine = probe.machine
    name = "f400"
    _file_write(machine, pid, name, nr_bytes)
    probe.phase("f1-write")
    probe.mismatches = _file_read(machine, pid, name)
    probe.phase("f2-read1")
    probe.mismatches += _file_read(machine, pid, name)
    probe.phase("f3-read2")
    if not do_mmap:
        return
    fd = machine.open_file(pid, name)
    nr_pages = nr_bytes // PAGE_SIZE
    fixed = int(MapFlag.FIXED) if mmap_addr else 0
    probe.addr = machine.mmap_file(pid, fd, mmap_addr, nr_bytes, RW, FILE_PRIVATE | fixed)
    machine.close_file(pid, fd)
    probe.phase("f4-mmap-private")
    every = probe.pages(0, nr_pages)
    probe.touch(pid, every, False, "f5-mmap-read-all")
    machine.touch_many(pid, every, False)
    first_words = np.frombuffer(machine.read(pid, probe.addr, 4), dtype="<u4")
    probe.mismatches += int(first_words[0] != 0x5A000000)
    probe.phase("f6-mmap-read-all-again-verify")
    probe.touch(pid, probe.pages(nr_pages - 10, 10), True, "f7-write-last-10-pages")
    probe.touch(pid, probe.pages(0, 10), True, "f8-write-first-10-pages")
    machine.munmap(pid, probe.addr, nr_bytes)
    probe.phase("f9-munmap")


def unpack_rootfs(machine: Machine, shmem_kb: int) -> None:
    """The guest's initramfs, unpacked into the rootfs tmpfs before init runs: *shmem_kb* of
    shmem pages (the capture's Shmem at its start). vmsim's boot unpacks base-*.log's rootfs;
    what this guest's initramfs holds beyond it is written by a process that exits. They sit
    on the anon LRU lists, where they count in the workingset a file refault competes with."""
    missing_kb = shmem_kb - machine.meminfo()["Shmem"]
    if missing_kb <= 0:
        return
    init = machine.spawn("init")
    length = missing_kb * KiB
    machine.shm_create(init, "/rootfs", length, 0o600)
    addr = machine.shm_map(init, "/rootfs", RW)
    machine.touch_many(init, _pages(addr, length // PAGE_SIZE), True)
    machine.exit(init)


def run_pcache(machine: Machine, nr_bytes: int, rootfs_kb: int = 0, mmap_addr: int = 0) -> Vmprobe:
    """vmprobe pcache: F writes a file of *nr_bytes* with write(2), reads it twice with
    read(2), maps it MAP_PRIVATE and reads every page twice, writes the last and the first 10
    pages (copy-on-write), unmaps; then sync. The phases carry the capture's names. The
    machine first holds *rootfs_kb* of shmem, as the guest's initramfs (unpack_rootfs).

    *mmap_addr* places the mapping where the guest's mmap did (the capture's vma row): the
    fault-around window is aligned in virtual addresses, so a mapping that starts off a
    16-page boundary (as a process with shared libraries gets) takes a minor fault more per
    readahead window than one on it (vmsim's processes have no libraries, so mmap(NULL)
    returns an aligned address)."""
    unpack_rootfs(machine, rootfs_kb)
    probe = Vmprobe(machine)
    pid = machine.spawn("F")
    probe.start("F", pid)
    probe.phase("start")
    _file_workload(probe, pid, nr_bytes, do_mmap=True, mmap_addr=mmap_addr)
    machine.sync()
    probe.phase("f10-after-sync")
    return probe


def run_swpy(machine: Machine, nr_bytes: int, anon_pages: int, rootfs_kb: int = 0) -> Vmprobe:
    """vmprobe swpy: H writes *anon_pages* of private anonymous memory and holds them; F
    writes the file of *nr_bytes* and reads it twice; H reads its pages back. The machine
    first holds *rootfs_kb* of shmem (unpack_rootfs)."""
    unpack_rootfs(machine, rootfs_kb)
    probe = Vmprobe(machine)
    holder, writer = machine.spawn("H"), machine.spawn("F")
    probe.start("H", holder)
    probe.start("F", writer)
    probe.phase("start")
    probe.addr = machine.mmap(holder, 0, anon_pages * PAGE_SIZE, RW, ANON_PRIVATE)
    probe.touch(holder, probe.pages(0, anon_pages), True, "a0-anon-write")
    _file_workload(probe, writer, nr_bytes, do_mmap=False)
    probe.touch(holder, probe.pages(0, anon_pages), False, "a1-anon-reread-verify")
    return probe
