"""smaps, smaps_rollup, status and pagetypeinfo against the real i686 Linux 6.1 kernel's files.

References: i-1g-4k (memtouch's own smaps, smaps_rollup and status after an 8 MiB
read-then-write) and base-1g-4k (/proc/pagetypeinfo at boot), in tests/kernel/data/linux32/.
Line names, order and field widths are compared with the capture; values come from vmsim.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from tests.kernel.conftest import MachineFactory, field_shape, pages
from tests.kernel.linux32 import DATA_DIR, load

from vmsim_kernel import Machine
from vmsim_kernel.arch.x86.constants import PAGE_SIZE, GiB, MiB
from vmsim_kernel.fs.proc.framemap import FrameUse
from vmsim_kernel.machine import SmapsRollup

RW = 3
ANON_PRIVATE = 0x22
ANON_SHARED = 0x21
_PRINTK = re.compile(r"^\[\s*\d+\.\d+\] ")
_VMA_HEADER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8} ")


def capture_lines(scenario: str, section: str) -> list[str]:
    """A /proc file of a capture, without the kernel messages the console mixed into it."""
    text = load(scenario).sections[section]
    return [line for line in text.splitlines() if not _PRINTK.match(line)]


def name_of(line: str) -> str:
    return line.split(":")[0]


def smaps_blocks(lines: list[str]) -> list[list[str]]:
    """smaps text cut into one list of lines per VMA, its maps line first."""
    blocks: list[list[str]] = []
    for line in lines:
        if _VMA_HEADER.match(line):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks


@pytest.fixture
def memtouch_8m(make_machine: MachineFactory) -> tuple[Machine, int, int]:
    """i-1g-4k's scenario on vmsim: 1 GiB, one CPU, 8 MiB private anonymous memory read page by
    page (the zero page), then written. Returns (machine, pid, the mapping's address)."""
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=0, nr_cpus=1)
    pid = machine.spawn("memtouch")
    addr = machine.mmap(pid, 0, 8 * MiB, RW, ANON_PRIVATE)
    machine.touch_many(pid, pages(addr, 2048), False)
    machine.touch_many(pid, pages(addr, 2048), True)
    return machine, pid, addr


def memtouch_reports(
    memtouch_8m: tuple[Machine, int, int], name: str
) -> tuple[list[str], list[str]]:
    """/proc/PID/*name* of the memtouch process as lines: (vmsim's, Linux's in i-1g-4k)."""
    machine, pid, _ = memtouch_8m
    ours = machine.report(name, pid).splitlines()
    return ours, capture_lines("i-1g-4k", f"memtouch-{name}")


# ---- smaps -------------------------------------------------------------------------------------
def test_every_smaps_block_has_the_lines_and_widths_of_6_1(
    memtouch_8m: tuple[Machine, int, int],
) -> None:
    ours, reference = map(smaps_blocks, memtouch_reports(memtouch_8m, "smaps"))
    expected = [field_shape(line) for line in reference[0][1:-1]]  # up to VmFlags
    assert all([field_shape(line) for line in block[1:-1]] == expected for block in reference)
    for block in ours:
        assert [field_shape(line) for line in block[1:-1]] == expected, block[0]
        assert block[-1].startswith("VmFlags: ") and block[-1].endswith(" ")
    assert "THPeligible:    0" in reference[0] and "ProtectionKey" not in str(reference)


def test_the_8_mib_mapping_reads_as_linux_printed_it(
    memtouch_8m: tuple[Machine, int, int],
) -> None:
    """Same scenario, same numbers: the block of the 8 MiB mapping is byte for byte Linux's
    (the address apart)."""
    addr = memtouch_8m[2]
    our_blocks, reference = map(smaps_blocks, memtouch_reports(memtouch_8m, "smaps"))
    (linux,) = [block for block in reference if block[1] == "Size:               8192 kB"]
    (ours,) = [block for block in our_blocks if block[0].startswith(f"{addr:08x}-")]
    assert ours[0] == f"{addr:08x}-{addr + 8 * MiB:08x} rw-p 00000000 00:00 0 "
    assert linux[0].endswith(" rw-p 00000000 00:00 0 ")
    assert ours[1:] == linux[1:]


def test_pss_dirty_counts_only_dirty_pages(make_machine: MachineFactory) -> None:
    machine = make_machine()
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 8 * PAGE_SIZE, RW, ANON_SHARED)
    machine.touch_many(pid, pages(addr, 2), True)
    machine.touch_many(pid, pages(addr + 2 * PAGE_SIZE, 3), False)
    (info,) = [v for v in machine.maps(pid) if v.start == addr]
    assert info.rss == 5 * PAGE_SIZE and info.pss == 5 * PAGE_SIZE
    assert info.pss_dirty == 2 * PAGE_SIZE == info.private_dirty
    assert info.private_clean == 3 * PAGE_SIZE


# ---- smaps_rollup ------------------------------------------------------------------------------
def test_smaps_rollup_has_the_header_lines_and_widths_of_6_1(
    memtouch_8m: tuple[Machine, int, int],
) -> None:
    machine, pid, _ = memtouch_8m
    ours, reference = memtouch_reports(memtouch_8m, "smaps_rollup")
    assert [field_shape(line) for line in ours[1:]] == [field_shape(line) for line in reference[1:]]
    first = next(v for v in machine.maps(pid))
    last = machine.maps(pid)[-1]
    header = f"{first.start:08x}-{last.end:08x} ---p 00000000 00:00 0          [rollup]"
    assert ours[0] == header
    assert re.sub("[0-9a-f]{8}-[0-9a-f]{8}", "", ours[0]) == re.sub(
        "[0-9a-f]{8}-[0-9a-f]{8}", "", reference[0]
    )


def test_smaps_rollup_sums_smaps_and_splits_pss_by_memory_kind(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine()
    pid = machine.spawn()
    private = machine.mmap(pid, 0, 16 * PAGE_SIZE, RW, ANON_PRIVATE)
    shared = machine.mmap(pid, 0, 16 * PAGE_SIZE, RW, ANON_SHARED)
    machine.touch_many(pid, pages(private, 6), True)
    machine.touch_many(pid, pages(shared, 4), True)
    rollup = machine.smaps_rollup(pid).kb()
    vmas = machine.maps(pid)
    assert rollup["Rss"] == sum(v.rss for v in vmas) // 1024 == 40
    assert rollup["Pss_Anon"] == 24 and rollup["Pss_Shmem"] == 16 and rollup["Pss_File"] == 0
    assert rollup["Anonymous"] == 24 and rollup["Private_Dirty"] == 40
    text = machine.report("smaps_rollup", pid)
    assert "\nPss_Shmem:            16 kB\n" in text and "\nRss:                  40 kB\n" in text


def test_smaps_rollup_summed_a_few_vmas_at_a_time_is_the_one_pass_sum(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine()
    pid = machine.spawn()
    for n in range(7):  # alternate protections: seven VMAs that do not merge
        addr = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW if n % 2 else 1, ANON_PRIVATE)
        machine.touch_many(pid, pages(addr, n % 4 + 1), n % 2 == 1)
    parts = SmapsRollup()
    nr_parts = 1
    while machine.smaps_rollup_part(pid, parts, 2):
        nr_parts += 1
    whole = machine.smaps_rollup(pid)
    assert nr_parts == (len(machine.maps(pid)) + 1) // 2 >= 4
    assert parts == whole and parts.text() == machine.report("smaps_rollup", pid)


def test_a_zombie_has_no_smaps_rollup(machine: Machine) -> None:
    pid = machine.spawn()
    machine.kill(pid)
    assert machine.report("smaps_rollup", pid) == "" and machine.smaps_rollup(pid).kb() == {}


# ---- status ------------------------------------------------------------------------------------
def test_status_has_every_line_of_6_1_in_its_order(
    memtouch_8m: tuple[Machine, int, int],
) -> None:
    ours, reference = memtouch_reports(memtouch_8m, "status")
    assert [name_of(line) for line in ours] == [name_of(line) for line in reference]
    for line, linux in zip(ours, reference, strict=True):
        if name_of(line).startswith(("Vm", "Rss", "Hugetlb")):
            assert field_shape(line) == field_shape(linux), line
        if name_of(line).startswith(("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "Cap")):
            assert re.fullmatch(r"\w+:\t[0-9a-f]{16}", line) and re.fullmatch(
                r"\w+:\t[0-9a-f]{16}", linux
            )
        assert line.startswith(name_of(linux) + ":\t")
    # One CPU, one node, no signals, no seccomp: what Linux printed, line for line.
    for name in (
        "Cpus_allowed",
        "Cpus_allowed_list",
        "Mems_allowed",
        "Mems_allowed_list",
        "SigPnd",
        "SigBlk",
        "CapInh",
        "CapBnd",
        "NoNewPrivs",
        "Seccomp",
        "Speculation_Store_Bypass",
        "THP_enabled",
        "NSpgid",
    ):
        assert next(x for x in ours if name_of(x) == name) == next(
            x for x in reference if name_of(x) == name
        )
    assert "Groups:\t1000 " in ours  # the space Linux leaves after the last group


def test_status_sigq_limit_is_max_threads_over_two_as_linux_sizes_it(
    memtouch_8m: tuple[Machine, int, int],
) -> None:
    """Linux: "Memory: 1018288K/..." at boot gives SigQ 0/7955 (totalram / 16 / 2)."""
    machine, pid, _ = memtouch_8m
    log = (DATA_DIR / "i-1g-4k.log").read_text()
    boot_kb = int(re.search(r"Memory: (\d+)K/", log).group(1))  # type: ignore[union-attr]
    (sigq,) = [x for x in capture_lines("i-1g-4k", "memtouch-status") if x.startswith("SigQ")]
    assert sigq == f"SigQ:\t0/{boot_kb // 4 // 16 // 2}"
    managed = machine.kernel.nr_managed_pages
    assert f"SigQ:\t0/{managed // 16 // 2}\n" in machine.report("status", pid)


@pytest.mark.parametrize(
    ("nr_cpus", "mask", "cpulist"), [(2, "3", "0-1"), (8, "ff", "0-7"), (33, "1,ffffffff", "0-32")]
)
def test_status_cpus_allowed_is_a_cpumask_of_the_configured_cpus(
    make_machine: MachineFactory, nr_cpus: int, mask: str, cpulist: str
) -> None:
    machine = make_machine(nr_cpus=nr_cpus)
    status = machine.report("status", machine.spawn())
    assert f"\nCpus_allowed:\t{mask}\nCpus_allowed_list:\t{cpulist}\n" in status


def test_a_zombies_status_has_no_memory_lines(machine: Machine) -> None:
    pid = machine.spawn()
    machine.kill(pid)
    status = machine.report("status", pid)
    assert "State:\tZ (zombie)\n" in status and "Threads:\t1\n" in status
    assert "VmRSS" not in status and "THP_enabled" not in status


# ---- pagetypeinfo ------------------------------------------------------------------------------
def test_pagetypeinfo_has_the_lines_and_widths_of_6_1(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=0, nr_cpus=1)
    reference = capture_lines("base-1g-4k", "/proc/pagetypeinfo")
    ours = machine.report("pagetypeinfo").splitlines()
    assert [field_shape(line) for line in ours] == [field_shape(line) for line in reference]
    assert ours[:4] == reference[:4] and ours[-4] == reference[-4]  # the headings, exactly


def test_pagetypeinfo_adds_up_to_buddyinfo_and_the_zone_spans(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=64 * MiB)
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 4 * MiB, RW, ANON_PRIVATE)
    machine.touch_many(pid, pages(addr, 1024), True)
    zones = {z.name: z for z in machine.zoneinfo() if z.present}
    infos = machine.pagetypeinfo()
    assert [info.zone for info in infos] == list(zones)
    for info in infos:
        zone = zones[info.zone]
        per_order = tuple(
            sum(column) for column in zip(*(m.nr_free for m in info.migratetypes), strict=True)
        )
        nr_blocks = tuple(m.nr_blocks for m in info.migratetypes)
        assert per_order == zone.free_area
        first, end = zone.start_pfn, zone.start_pfn + zone.spanned
        assert sum(nr_blocks) == len(range(first, end, 1024))
        assert nr_blocks[2:] == (0, 0, 0)  # no Reclaimable, HighAtomic, Isolate here


def test_the_pageblocks_holding_kernel_allocations_are_the_unmovable_ones(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=64 * MiB)
    for _ in range(4):
        pid = machine.spawn()
        addr = machine.mmap(pid, 0, 64 * PAGE_SIZE, RW, ANON_PRIVATE)
        machine.touch_many(pid, pages(addr, 64), True)
    frames = machine.frame_map()
    kernel_uses = [FrameUse.PAGE_TABLE, FrameUse.SLAB, FrameUse.VMALLOC, FrameUse.KMALLOC]
    held = np.flatnonzero(np.isin(frames.uses, kernel_uses))
    zones = {z.name: z for z in machine.zoneinfo()}
    held = np.union1d(held, [task.mm.pgd_pfn for task in machine.kernel.tasks.values()])
    assert np.count_nonzero(frames.uses == FrameUse.PAGE_TABLE) >= 4  # a table per process
    for info in machine.pagetypeinfo():
        zone = zones[info.zone]
        inside = held[(held >= zone.start_pfn) & (held < zone.start_pfn + zone.spanned)]
        unmovable = info.migratetypes[0]
        assert unmovable.migratetype == "Unmovable"
        assert unmovable.nr_blocks == len(np.unique(inside >> 10)), info.zone
    assert sum(info.migratetypes[0].nr_blocks for info in machine.pagetypeinfo()) >= 1
