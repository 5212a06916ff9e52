"""Page cache exercises: a process writes a file with write(2), reads it back with read(2),
maps it MAP_PRIVATE and reads every page, then writes a few of them; the answers are what a
fresh kernel counted (mm/filemap.c's read and write paths, mm/readahead.c, the fault-around of
mm/memory.c do_read_fault, do_cow_fault's copy, /proc/vmstat pgpgin/pgpgout, /proc/meminfo).
"""

from __future__ import annotations

import random
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from vmsim_kernel import (
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SIZE,
    TASK_SIZE,
    InvalidArgument,
    KiB,
    Machine,
    MachineConfig,
    MiB,
)
from vmsim_kernel.fs.vfs import OpenFlag

from .exercise import RW, Item, Question, item_ids, prompt_lines, register

__all__ = [
    "MAX_COW_PAGES",
    "MAX_FILE_PAGES",
    "PagecacheRun",
    "PagecacheScenario",
    "PhaseCounts",
    "pagecache_question",
    "random_scenario",
    "run_pagecache_scenario",
    "scenario_question",
]

MAX_FILE_PAGES = 102_400  # 400 MiB: the capture's file (the disk holds 512 MiB)
MAX_COW_PAGES = 64
IO_CHUNK = 1 * MiB  # vmprobe's write(2)/read(2) size
FILE_NAME = "data"


@dataclass(frozen=True)
class PagecacheScenario:
    """A machine of *ram_mib* (and *swap_mib* of swap) where one process writes a file of
    *file_pages* pages, reads it back, maps it MAP_PRIVATE and reads every page, then writes
    its first *cow_pages* pages through the mapping.

    *map_addr* is where the mapping goes: 0 lets mmap choose (mmap(NULL): in a vmsim process,
    which maps no libraries, a 64 KiB aligned address, so each fault-around window is 16 of
    the file's pages); an address maps it there with MAP_FIXED, as the real kernel's capture
    found it (its windows are aligned in virtual addresses, so where the mapping starts
    changes how many read faults it takes).
    """

    ram_mib: int
    file_pages: int
    cow_pages: int
    swap_mib: int = 0
    map_addr: int = 0

    def check(self) -> None:
        """Refuse a scenario the exercise cannot run.

        Raises:
            InvalidArgument: RAM outside 32..1024 MiB, swap outside 0..512 MiB, a file
                outside 1..MAX_FILE_PAGES pages, written pages outside 1..MAX_COW_PAGES or
                more than the file has, a mapping address not page aligned or whose mapping
                would not end below TASK_SIZE.
        """
        if not 32 <= self.ram_mib <= 1024:
            raise InvalidArgument("ram_mib", f"{self.ram_mib}", "32 .. 1024")
        if not 0 <= self.swap_mib <= 512:
            raise InvalidArgument("swap_mib", f"{self.swap_mib}", "0 .. 512")
        if not 1 <= self.file_pages <= MAX_FILE_PAGES:
            raise InvalidArgument("file_pages", f"{self.file_pages}", f"1 .. {MAX_FILE_PAGES}")
        if not 1 <= self.cow_pages <= min(MAX_COW_PAGES, self.file_pages):
            raise InvalidArgument(
                "cow_pages",
                f"{self.cow_pages}",
                f"1 .. {min(MAX_COW_PAGES, self.file_pages)} (at most the file's pages)",
            )
        highest = TASK_SIZE - self.file_pages * PAGE_SIZE
        if self.map_addr % PAGE_SIZE or not 0 <= self.map_addr <= highest:
            raise InvalidArgument(
                "map_addr",
                f"0x{self.map_addr:x}",
                f"0 (mmap chooses) or a page-aligned address 0x{PAGE_SIZE:x} .. 0x{highest:x} "
                "(the whole file mapped below TASK_SIZE)",
            )


@dataclass(frozen=True)
class PhaseCounts:
    """What the kernel counted for one phase.

    Attributes:
        minor_faults: the process's minor faults (ru_minflt) during the phase.
        major_faults: its major faults (ru_majflt).
        pgpgin_kb: /proc/vmstat pgpgin's growth: kB read from the disk.
        pgpgout_kb: pgpgout's growth: kB written to it.
        cached_kb: /proc/meminfo Cached afterwards.
        dirty_kb: Dirty afterwards.
        anon_kb: AnonPages' growth.
    """

    minor_faults: int
    major_faults: int
    pgpgin_kb: int
    pgpgout_kb: int
    cached_kb: int
    dirty_kb: int
    anon_kb: int


@dataclass(frozen=True)
class PagecacheRun:
    """A scenario as the kernel ran it: Cached before, then the counts of each phase."""

    scenario: PagecacheScenario
    cached_before_kb: int
    write: PhaseCounts
    read: PhaseCounts
    mmap_read: PhaseCounts
    cow_write: PhaseCounts


class _Probe:
    """The counters a phase is measured by, read off the machine before and after it."""

    def __init__(self, machine: Machine, pid: int) -> None:
        self.machine, self.pid = machine, pid
        self._before = self._read()

    def _read(self) -> tuple[int, int, int, int, int]:
        info = self.machine.process(self.pid)
        vmstat, meminfo = self.machine.vmstat(), self.machine.meminfo()
        return (
            info.minor_faults,
            info.major_faults,
            vmstat["pgpgin"],
            vmstat["pgpgout"],
            meminfo["AnonPages"],
        )

    def phase(self) -> PhaseCounts:
        """The counts since the last phase."""
        now = self._read()
        minor, major, pgpgin, pgpgout, anon = (
            a - b for a, b in zip(now, self._before, strict=True)
        )
        self._before = now
        meminfo = self.machine.meminfo()
        return PhaseCounts(minor, major, pgpgin, pgpgout, meminfo["Cached"], meminfo["Dirty"], anon)


def run_pagecache_scenario(scenario: PagecacheScenario, seed: int = 0) -> PagecacheRun:
    """Run *scenario* on a fresh kernel and read every answer off it.

    Raises:
        InvalidArgument: as PagecacheScenario.check.
    """
    scenario.check()
    config = MachineConfig(
        ram_bytes=scenario.ram_mib * MiB, swap_bytes=scenario.swap_mib * MiB, nr_cpus=1, seed=seed
    )
    size = scenario.file_pages * PAGE_SIZE
    with closing(Machine(config)) as machine:
        pid = machine.spawn("writer")
        cached_before = machine.meminfo()["Cached"]
        probe = _Probe(machine, pid)
        fd = machine.open_file(
            pid, FILE_NAME, int(OpenFlag.O_RDWR | OpenFlag.O_CREAT | OpenFlag.O_TRUNC), 0o644
        )
        for offset in range(0, size, IO_CHUNK):
            machine.write_file(pid, fd, b"\x5a" * min(IO_CHUNK, size - offset))
        machine.close_file(pid, fd)
        write = probe.phase()
        fd = machine.open_file(pid, FILE_NAME, int(OpenFlag.O_RDONLY))
        while machine.read_file(pid, fd, IO_CHUNK):
            pass
        read = probe.phase()
        flags = MAP_PRIVATE | MAP_FIXED if scenario.map_addr else MAP_PRIVATE
        addr = machine.mmap_file(pid, fd, scenario.map_addr, size, RW, int(flags))
        machine.close_file(pid, fd)
        every = (addr + np.arange(scenario.file_pages, dtype=np.int64) * PAGE_SIZE).astype(
            np.uint32
        )
        machine.touch_many(pid, every, False)
        mmap_read = probe.phase()
        machine.touch_many(pid, every[: scenario.cow_pages], True)
        cow_write = probe.phase()
        machine.check_invariants()
    return PagecacheRun(scenario, cached_before, write, read, mmap_read, cow_write)


def random_scenario(rng: random.Random) -> PagecacheScenario:
    """A file that fits in RAM, a few pages written through the private mapping."""
    file_pages = rng.randrange(64, 1025, 16) + rng.randrange(16)
    return PagecacheScenario(32, file_pages, rng.randint(1, 12))


@register(
    "pagecache",
    "files and the page cache: faults, pgpgin/pgpgout, Cached and Dirty of write(), read(), "
    "a private mapping's reads and copy-on-write",
    "numbers: faults or kB",
)
def pagecache_question(rng: random.Random, number: int) -> Question:
    """A seeded file scenario; the kernel runs it and counts."""
    return scenario_question(random_scenario(rng), number, seed=rng.randrange(1 << 16))


def scenario_question(scenario: PagecacheScenario, number: int, seed: int = 0) -> Question:
    """Question *number* on *scenario*, answered by running it (run_pagecache_scenario).

    Raises:
        InvalidArgument: as PagecacheScenario.check.
    """
    run = run_pagecache_scenario(scenario, seed)
    prompts = [
        ("write(): the writer's page faults", run.write.minor_faults + run.write.major_faults),
        ("after write(): how much Cached grew, kB", run.write.cached_kb - run.cached_before_kb),
        ("after write(): Dirty, kB", run.write.dirty_kb),
        ("read() of the whole file: page faults", run.read.minor_faults + run.read.major_faults),
        ("read(): kB read from the disk (pgpgin)", run.read.pgpgin_kb),
        ("mmap(MAP_PRIVATE), every page read: minor faults", run.mmap_read.minor_faults),
        ("the same reads: major faults", run.mmap_read.major_faults),
        (
            f"writing the first {scenario.cow_pages} mapped pages: minor faults",
            run.cow_write.minor_faults,
        ),
        ("those writes: how much AnonPages grew, kB", run.cow_write.anon_kb),
    ]
    ids = item_ids(number, len(prompts))
    items = tuple(
        Item(i, prompt, str(answer)) for i, (prompt, answer) in zip(ids, prompts, strict=True)
    )
    a = [item.id for item in items]
    working = "\n".join(
        [
            "Rules: write() and read() copy through the page cache in the kernel: the process's "
            "own pages are not touched, so neither faults. A page written is dirty until "
            "writeback; one read is read from the disk only when it is not cached. A read "
            "fault on a file mapping maps every cached page of its 64 KiB window "
            "(fault_around_bytes), so one fault serves up to 16 pages; a write to a private "
            "file page copies it into an anonymous page.",
            f"{a[0]}) write() faults {items[0].answer} times; the file's pages join the page "
            f"cache: Cached {run.cached_before_kb} -> {run.write.cached_kb} kB, "
            f"{run.write.dirty_kb} kB of them dirty (pgpgout {run.write.pgpgout_kb} kB so far)",
            f"{a[3]}) read() faults {items[3].answer} times and reads {run.read.pgpgin_kb} kB "
            "from the disk (what the page cache no longer held)",
            f"{a[5]}) the mapping's reads: {run.mmap_read.minor_faults} minor faults, "
            f"{run.mmap_read.major_faults} major (pgpgin {run.mmap_read.pgpgin_kb} kB)",
            f"{a[7]}) each written page faults once and is copied: "
            f"{run.cow_write.minor_faults} faults, AnonPages +{run.cow_write.anon_kb} kB",
        ]
    )
    text = (
        f"A machine with {scenario.ram_mib} MiB of RAM runs one process. It creates a file and "
        f"writes {scenario.file_pages} pages ({scenario.file_pages * PAGE_SIZE // KiB} kB) to it "
        "with write(2) in 1 MiB calls, reads it all back with read(2), maps the whole file "
        "with mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE) and reads every page in order, then "
        f"writes the first {scenario.cow_pages} pages of the mapping. Give:\n"
        + prompt_lines(list(items), "?")
    )
    return Question("pagecache", number, text, items, working)
