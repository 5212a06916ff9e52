"""The sharing scenarios of the real i686 Linux 6.1 kernel, replayed THROUGH the public client API.

tests/kernel/test_linux32_golden_{cow,shmem}.py drive the kernel's Machine directly; here the
same vmprobe scenarios (cow-1g-4k, shanon-1g-4k, shm-1g-4k, and the page cache's
pcache-256m-disk-4k with `proc.open()` files) run as a user would run them: a
real server on a free loopback port with the capture's RAM, one `vmsim.connect` per process,
`proc.fork()`, `shm_create`/`shm_map`, `touch_many`, and the figures read back over the wire
(`proc.status()` fault counts, `proc.smaps()` of the test VMA, `Inspector.vmstat()`). Every
figure below is exact on Linux and compared exactly (the page cache's counters within the
issue's 10%), read from the capture; the table names
which rows of which phases. What the kernel tests leave out (fork's own faults on Linux, the
page tables of libc's VMAs) is left out here for the same reasons.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import VMA_FIELDS, machine_config

import vmsim

pytestmark = pytest.mark.slow

PAGE = vmsim.PAGE_SIZE
# A 300 MiB touch_many on a loaded 2-core machine takes seconds, not the default timeout's
# fraction of them.
CALL_TIMEOUT = 300.0
SMAPS_KB = {  # smaps line -> the client's Vma field (bytes)
    "Rss": "rss",
    "Pss": "pss",
    "Shared_Clean": "shared_clean",
    "Shared_Dirty": "shared_dirty",
    "Private_Clean": "private_clean",
    "Private_Dirty": "private_dirty",
    "Swap": "swap",
    "SwapPss": "swap_pss",
}
assert tuple(SMAPS_KB) == VMA_FIELDS


class ApiProbe:
    """vmprobe's rows (as linux32.VpRow kinds: proc, vma, vmdelta) read through the client:
    after each phase, each living process's fault deltas and smaps of the test VMA, and the
    machine's vmstat change."""

    def __init__(self, inspector: vmsim.Inspector) -> None:
        self.inspector = inspector
        self.addr = 0
        self.procs: dict[str, vmsim.Process] = {}
        self.rows: dict[tuple[str, str, str], dict[str, int]] = {}
        self._faults: dict[str, tuple[int, int]] = {}
        self._vmstat = dict(inspector.vmstat().values)

    def start(self, who: str, proc: vmsim.Process) -> vmsim.Process:
        """*who* is *proc* from now on."""
        self.procs[who] = proc
        status = proc.status()
        self._faults[who] = (status.minor_faults, status.major_faults)
        return proc

    def exit(self, who: str) -> None:
        """*who* exits (its rows stop)."""
        proc = self.procs.pop(who)
        proc.exit()
        proc.close()

    def pages(self, first: int, count: int) -> range:
        """The addresses of test-VMA pages first .. first + count - 1."""
        start = self.addr + first * PAGE
        return range(start, start + count * PAGE, PAGE)

    def phase(self, name: str) -> None:
        """Record the rows of phase *name*."""
        for who, proc in self.procs.items():
            status = proc.status()
            minflt, majflt = self._faults[who]
            self._faults[who] = (status.minor_faults, status.major_faults)
            self.rows["proc", name, who] = {
                "d_minflt": status.minor_faults - minflt,
                "d_majflt": status.major_faults - majflt,
            }
            vmas = [vma for vma in proc.smaps().items if vma.start == self.addr]
            self.rows["vma", name, who] = {
                line: getattr(vma, field) // vmsim.KiB
                for vma in vmas
                for line, field in SMAPS_KB.items()
            }
        vmstat = dict(self.inspector.vmstat().values)
        self.rows["vmdelta", name, ""] = {
            key: value - self._vmstat.get(key, 0) for key, value in vmstat.items()
        }
        self._vmstat = vmstat
        self.rows["meminfo", name, ""] = dict(self.inspector.meminfo().values)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.close()


def connect(address: str, name: str) -> vmsim.Process:
    return vmsim.connect(address, name=name, timeout=CALL_TIMEOUT)


def run_cow(probe: ApiProbe, address: str, capture: linux32.Capture) -> None:
    """vmprobe cow (tests/kernel/linux32_run.run_cow's phases): P writes, forks; C reads all,
    writes half; P writes all; C exits; P rewrites; fork with C2 exiting at once; P writes."""
    (nr_pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    parent = probe.start("P", connect(address, "P"))
    probe.addr = parent.mmap(nr_pages * PAGE)
    every, half = probe.pages(0, nr_pages), probe.pages(0, nr_pages // 2)
    parent.touch_many(every, write=True)
    probe.phase("p0-parent-write-all")
    child = probe.start("C", parent.fork())
    probe.phase("fork")
    child.touch_many(every)
    probe.phase("p1-child-read-all")
    child.touch_many(half, write=True)
    probe.phase("p2-child-write-first-half")
    parent.touch_many(every, write=True)
    probe.phase("p3-parent-write-all")
    probe.exit("C")
    probe.phase("p4a-child-exited")
    parent.touch_many(every, write=True)
    probe.phase("p4-parent-rewrite-all")
    probe.start("C2", parent.fork())
    probe.phase("x0-fork2")
    probe.exit("C2")
    probe.phase("x1-child2-exited")
    parent.touch_many(every, write=True)
    probe.phase("x2-parent-write-all")
    parent.touch_many(every, write=True)
    probe.phase("x3-parent-rewrite-all")


def run_shanon(probe: ApiProbe, address: str, capture: linux32.Capture) -> None:
    """vmprobe shanon: P maps MAP_SHARED|MAP_ANONYMOUS and writes; fork; C writes all; P reads
    all; P writes half while C reads all; C exits; P unmaps."""
    (nr_pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    parent = probe.start("P", connect(address, "P"))
    probe.addr = parent.mmap(nr_pages * PAGE, flags=vmsim.MAP_SHARED | vmsim.MAP_ANONYMOUS)
    probe.phase("p0a-mmap-shared")
    every = probe.pages(0, nr_pages)
    parent.touch_many(every, write=True)
    probe.phase("p0-parent-write-all")
    child = probe.start("C", parent.fork())
    probe.phase("fork")
    child.touch_many(every, write=True)
    probe.phase("p1-child-write-all")
    parent.touch_many(every)
    probe.phase("p2-parent-read-verify")
    parent.touch_many(probe.pages(0, nr_pages // 2), write=True)
    child.touch_many(every)
    probe.phase("p3-parent-write-half-child-verify")
    probe.exit("C")
    probe.phase("p4-child-exited")
    parent.munmap(probe.addr, nr_pages * PAGE)
    probe.phase("p5-parent-munmap")


def run_shm(probe: ApiProbe, address: str, capture: linux32.Capture) -> None:
    """vmprobe shm: W creates /vmprobe (0600) and writes all; R, another connection of the
    same user, maps it at the same address and reads all, writes 16 pages W reads; W exits;
    R unmaps and unlinks."""
    (nr_pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    (addr,) = {row.values["addr"] for row in capture.vp_rows_of_kind("vma")}
    writer = probe.start("W", connect(address, "W"))
    reader = probe.start("R", connect(address, "R"))
    probe.addr = addr
    writer.shm_create("/vmprobe", nr_pages * PAGE, 0o600)
    assert writer.shm_map("/vmprobe", addr=addr) == addr
    probe.phase("p0-writer-shm_open-ftruncate-mmap")
    every = probe.pages(0, nr_pages)
    writer.touch_many(every, write=True)
    probe.phase("p1-writer-write-all")
    assert reader.shm_map("/vmprobe", addr=addr) == addr
    probe.phase("p2-reader-shm_open-mmap")
    reader.touch_many(every)
    probe.phase("p3-reader-read-verify")
    reader.touch_many(probe.pages(0, 16), write=True)
    writer.touch_many(probe.pages(0, 16))
    probe.phase("p4-reader-writes-16-writer-verifies")
    probe.exit("W")
    probe.phase("p5-writer-exited")
    reader.munmap(addr, nr_pages * PAGE)
    probe.phase("p6-reader-munmap")
    reader.shm_unlink("/vmprobe")
    probe.phase("p7-shm_unlink")


def run_pcache(probe: ApiProbe, address: str, capture: linux32.Capture) -> None:
    """vmprobe pcache (tests/kernel/linux32_run.run_pcache's phases): the guest's initramfs
    is shmem already (what vmsim's boot has not unpacked, a process fills a named object with
    and exits, as unpack_rootfs does); F writes a 400 MiB file with 1 MiB write()s, reads it
    twice with read(), maps it MAP_PRIVATE and reads every page twice, writes the last and the
    first 10 pages, unmaps."""
    with vmsim.Inspector(address) as inspector:
        booted_kb = inspector.meminfo()["Shmem"]
    rootfs_kb = capture.vp_values("meminfo", "start")["Shmem"] - booted_kb
    with connect(address, "init") as init:
        init.shm_create("/rootfs", rootfs_kb * vmsim.KiB, 0o600)
        start = init.shm_map("/rootfs")
        init.touch_many(range(start, start + rootfs_kb * vmsim.KiB, PAGE), write=True)
    size = (
        capture.vp_values("proc", "f4-mmap-private", "F")["VmSize"]
        - capture.vp_values("proc", "f3-read2", "F")["VmSize"]
    ) * vmsim.KiB  # what mapping the whole file added to VmSize: 400 MiB
    writer = probe.start("F", connect(address, "F"))
    probe.phase("start")
    with writer.open("/f400", vmsim.O_RDWR | vmsim.O_CREAT | vmsim.O_TRUNC) as f:
        for _ in range(size // vmsim.MiB):
            f.write(b"\x5a" * vmsim.MiB)
    probe.phase("f1-write")
    for phase in ("f2-read1", "f3-read2"):
        with writer.open("/f400") as f:
            while f.read(vmsim.MiB):
                pass
        probe.phase(phase)
    with writer.open("/f400", vmsim.O_RDWR) as f:
        # Where the guest's mmap put it: fault-around windows are aligned in virtual
        # addresses, and the minor faults depend on it (linux32_run.run_pcache).
        probe.addr = f.mmap(
            size,
            vmsim.PROT_READ | vmsim.PROT_WRITE,
            vmsim.MAP_PRIVATE | vmsim.MAP_FIXED,
            addr=capture.vp_values("vma", "f4-mmap-private", "F")["addr"],
        )
    probe.phase("f4-mmap-private")
    nr_pages = size // PAGE
    writer.touch_many(probe.pages(0, nr_pages))
    probe.phase("f5-mmap-read-all")
    writer.touch_many(probe.pages(0, nr_pages))
    probe.phase("f6-mmap-read-all-again-verify")
    writer.touch_many(probe.pages(nr_pages - 10, 10), write=True)
    probe.phase("f7-write-last-10-pages")
    writer.touch_many(probe.pages(0, 10), write=True)
    probe.phase("f8-write-first-10-pages")
    writer.munmap(probe.addr, size)
    probe.phase("f9-munmap")


SCENARIOS: dict[str, Callable[[ApiProbe, str, linux32.Capture], None]] = {
    "cow-1g-4k": run_cow,
    "shanon-1g-4k": run_shanon,
    "shm-1g-4k": run_shm,
    "pcache-256m-disk-4k": run_pcache,
}


@dataclass(frozen=True)
class Check:
    """One row of the capture compared with the same row read through the client."""

    scenario: str
    kind: str  # proc (d_minflt, d_majflt), vma (smaps of the test VMA), vmdelta
    phase: str
    who: str = ""
    fields: tuple[str, ...] = ()  # vmdelta's counters; proc and vma compare all theirs
    tolerance: float = 0.0  # 0: exact; else the share of Linux's figure vmsim may differ by

    def __str__(self) -> str:
        return f"{self.scenario}:{self.kind}:{self.phase}:{self.who}"


def _checks(
    scenario: str, kind: str, rows: list[tuple[str, str]], *fields: str, tolerance: float = 0.0
) -> list[Check]:
    return [Check(scenario, kind, phase, who, fields, tolerance) for who, phase in rows]


COW_VMAS = [
    ("P", "p0-parent-write-all"),
    ("P", "fork"),
    ("C", "fork"),  # Pss 153600, Shared_Dirty 307200 each
    ("C", "p1-child-read-all"),
    ("P", "p2-child-write-first-half"),  # Pss 230400 both
    ("C", "p2-child-write-first-half"),
    ("P", "p3-parent-write-all"),
    ("P", "p4a-child-exited"),
    ("C2", "x0-fork2"),
    ("P", "x1-child2-exited"),
]
COW_FAULTS = [
    ("C", "p1-child-read-all"),  # 0
    ("C", "p2-child-write-first-half"),  # 38400
    ("P", "p3-parent-write-all"),  # 76800: 38400 copies, 38400 reuses
    ("P", "p4-parent-rewrite-all"),
    ("P", "x2-parent-write-all"),  # 76800 reuses, no allocation
]
COW_COPIES = [
    ("", phase)
    for phase in ("p2-child-write-first-half", "p3-parent-write-all", "x2-parent-write-all")
]
SHANON_VMAS = [
    ("P", "p0-parent-write-all"),
    ("C", "fork"),  # Rss 0: no PTEs copied for a shared mapping
    ("P", "p1-child-write-all"),  # Rss 102400, Pss 51200, Shared_Dirty 102400
    ("C", "p1-child-write-all"),
    ("P", "p4-child-exited"),
]
SHANON_FAULTS = [
    ("P", "p0-parent-write-all"),  # 25600
    ("C", "p1-child-write-all"),  # 25600, no new page
    ("C", "p3-parent-write-half-child-verify"),
]
SHANON_SHMEM = [("", phase) for phase in ("p0-parent-write-all", "p1-child-write-all")]
SHM_VMAS = [
    ("W", "p1-writer-write-all"),
    ("R", "p2-reader-shm_open-mmap"),
    ("W", "p3-reader-read-verify"),  # Pss 32768 each
    ("R", "p3-reader-read-verify"),
    ("R", "p5-writer-exited"),
]
SHM_FAULTS = [
    ("W", "p1-writer-write-all"),  # 16384
    ("R", "p3-reader-read-verify"),  # 1025: fault-around of 16 pages
    ("R", "p4-reader-writes-16-writer-verifies"),
]
SHM_SHMEM = [
    ("", phase)
    for phase in ("p1-writer-write-all", "p5-writer-exited", "p6-reader-munmap", "p7-shm_unlink")
]

# pcache: the tolerances, 10% for the page cache counters (pgpgin/pgpgout, Cached,
# Dirty, majflt under pressure); exact for the faults read()/write() never take and the copies.
PCACHE = "pcache-256m-disk-4k"
PCACHE_EXACT = [("F", phase) for phase in ("f1-write", "f2-read1", "f3-read2")] + [
    ("F", "f8-write-first-10-pages")  # 9 copies of cached pages, one read back first
]
TEN_PERCENT = 0.10
ONE_PERCENT = 0.01  # the private mapping's minor faults: exact rules, no timing in them

CHECKS = [
    *_checks("cow-1g-4k", "vma", COW_VMAS),
    *_checks("cow-1g-4k", "proc", COW_FAULTS),
    *_checks("cow-1g-4k", "vmdelta", COW_COPIES, "nr_anon_pages", "pgreuse", "pgfault"),
    *_checks("shanon-1g-4k", "vma", SHANON_VMAS),
    *_checks("shanon-1g-4k", "proc", SHANON_FAULTS),
    *_checks("shanon-1g-4k", "vmdelta", SHANON_SHMEM, "nr_shmem", "nr_mapped"),
    *_checks("shm-1g-4k", "vma", SHM_VMAS),
    *_checks("shm-1g-4k", "proc", SHM_FAULTS),
    *_checks("shm-1g-4k", "vmdelta", SHM_SHMEM, "nr_shmem", "nr_mapped"),
    *_checks(PCACHE, "proc", PCACHE_EXACT),
    *_checks(PCACHE, "vmdelta", [("", "f1-write")], "pgpgout", tolerance=TEN_PERCENT),
    *_checks(PCACHE, "meminfo", [("", "f1-write")], "Cached", "Dirty", tolerance=TEN_PERCENT),
    *_checks(
        PCACHE, "vmdelta", [("", "f2-read1"), ("", "f3-read2")], "pgpgin", tolerance=TEN_PERCENT
    ),
    *_checks(PCACHE, "vmdelta", [("", "f8-write-first-10-pages")], "nr_anon_pages"),
]
# The private mapping's reads: majflt within 10%, minflt not yet (vmsim 7846, Linux 6400).
PCACHE_MAPPED_READ = Check(PCACHE, "proc", "f5-mmap-read-all", "F", ("d_majflt",), TEN_PERCENT)


@pytest.fixture(scope="module")
def through_the_api(
    start_module_server: Callable[..., Any],
) -> Iterator[Callable[[str], dict[tuple[str, str, str], dict[str, int]]]]:
    """Each scenario's rows, run once on a server of its own (stopped at once: 1 GiB each)."""
    done: dict[str, dict[tuple[str, str, str], dict[str, int]]] = {}

    def rows(scenario: str) -> dict[tuple[str, str, str], dict[str, int]]:
        if scenario not in done:
            capture = linux32.load(scenario)
            config = machine_config(capture)
            with (
                start_module_server(
                    ram_bytes=config.ram_bytes,
                    swap_bytes=config.swap_bytes,
                    swappiness=config.swappiness,
                    nr_cpus=config.nr_cpus,
                ) as server,
                vmsim.inspect(server.address, timeout=CALL_TIMEOUT) as inspector,
            ):
                probe = ApiProbe(inspector)
                with contextlib.closing(probe):
                    SCENARIOS[scenario](probe, server.address, capture)
                done[scenario] = probe.rows
        return done[scenario]

    yield rows


def linux_and_vmsim(
    through_the_api: Callable[[str], dict[tuple[str, str, str], dict[str, int]]], check: Check
) -> tuple[dict[str, int], dict[str, int]]:
    """The row *check* names, as the capture has it and as the client read it."""
    linux = linux32.load(check.scenario).vp_values(check.kind, check.phase, check.who)
    return linux, through_the_api(check.scenario)[check.kind, check.phase, check.who]


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_figure_through_the_client_equals_linux(
    through_the_api: Callable[[str], dict[tuple[str, str, str], dict[str, int]]], check: Check
) -> None:
    linux, vmsim_row = linux_and_vmsim(through_the_api, check)
    names = check.fields or (VMA_FIELDS if check.kind == "vma" else ("d_minflt", "d_majflt"))
    if not check.tolerance:
        assert {name: vmsim_row[name] for name in names} == {name: linux[name] for name in names}
    for name in names:
        assert abs(vmsim_row[name] - linux[name]) <= check.tolerance * abs(linux[name]), name


def test_the_private_file_mappings_major_faults_are_linuxs(
    through_the_api: Callable[[str], dict[tuple[str, str, str], dict[str, int]]],
) -> None:
    linux, vmsim_row = linux_and_vmsim(through_the_api, PCACHE_MAPPED_READ)
    tolerance = PCACHE_MAPPED_READ.tolerance
    assert abs(vmsim_row["d_majflt"] - linux["d_majflt"]) <= tolerance * linux["d_majflt"]


def test_the_private_file_mappings_minor_faults_are_linuxs(
    through_the_api: Callable[[str], dict[tuple[str, str, str], dict[str, int]]],
) -> None:
    linux, vmsim_row = linux_and_vmsim(through_the_api, PCACHE_MAPPED_READ)
    assert abs(vmsim_row["d_minflt"] - linux["d_minflt"]) <= ONE_PERCENT * linux["d_minflt"]
