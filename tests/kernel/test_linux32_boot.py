"""vmsim's boot against the real i686 Linux 6.1 kernel's (issue 22: lowmem, e820, memblock).

Each capture's guest is booted once as a vmsim machine (tests/kernel/linux32_run.py), whose
reports the tests read, and compares zoneinfo, meminfo and the layout with what the capture recorded (read from
data/linux32/<scenario>.log, never typed here). Zone boundaries and present pages follow
from the e820 map and MAXMEM alone, so they are exact; managed pages and MemTotal also
depend on the size of every boot-time reservation, so they agree within issue 22's 0.5%.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import booted, snapshot

from vmsim_kernel.arch.x86.constants import PAGE_OFFSET, PAGE_SHIFT

BOOT_SCENARIOS = ["base-256m", "base-1g-4k", "base-2g"]
BOOT_TOLERANCE = 0.005  # issue 22: zone sizes and MemTotal within 0.5%
# Kernel memory at boot (issue 22 asks for "the range" of base-*.log): the slab objects and
# kernel threads are modelled on base-1g-4k's, so Slab and KernelStack land within 5%;
# MemFree within 0.3% (0.12% at 256 MiB, 0.08% above; 1.7% before the rootfs and the vmalloc
# areas were unpacked and made at boot): what is left is init's sh and the cat reading meminfo
# (their pages, page tables and the page cache they map), which vmsim's boot does not run;
# the Normal zone's order-10 blocks within 10% (the lower orders come from the churn of those
# processes and of drivers, which vmsim does not run).
KERNEL_MEMORY_TOLERANCE = 0.05
# Every cache of the capture's slabinfo is filled and packed as Linux packs it: SReclaimable
# (the SLAB_RECLAIM_ACCOUNT caches) is exact; Slab within 2% (kmalloc-16's partly empty slabs
# and Linux's per-cpu partial slabs are not modelled).
SLAB_TOLERANCE = 0.02
KMALLOC_OBJECTS_SLACK = 8
MEMFREE_TOLERANCE = 0.003
BUDDY_TOP_ORDER_TOLERANCE = 0.10
BUDDY_TOP_ORDER_BLOCKS = 2
# Each zone's free pages at boot: ftrace's records, the system hash tables, the bounce pool,
# slabs and stacks, the rootfs's shmem pages and the vmalloc areas account for all but 0.15%
# of them (0.13% at 256 MiB and in HighMem at 1 GiB: init's sh and cat).
ZONE_FREE_TOLERANCE = 0.0015


@dataclass(frozen=True)
class Boot:
    """What the tests read of a machine booted like a capture's guest (booted once)."""

    capture: linux32.Capture
    reports: linux32.Snapshot  # meminfo, zoneinfo, buddyinfo
    layout: str
    slabinfo: str
    vmallocinfo: str
    kernel_log: str


@functools.cache
def boot_like(name: str) -> Boot:
    """The machine of capture *name*, booted, checked and closed; its reports kept."""
    capture = linux32.load(name)
    with booted(capture) as machine:
        machine.check_invariants()
        return Boot(
            capture,
            snapshot(machine, "boot", {}),
            machine.report("layout"),
            machine.report("slabinfo"),
            machine.report("vmallocinfo"),
            machine.kernel.kernel_log.text(),
        )


def _slab_rows(slabinfo: str) -> dict[str, tuple[int, int, int]]:
    """/proc/slabinfo's rows: cache name -> (active objects, objects per slab, pages per slab)."""
    rows = [line.split() for line in slabinfo.splitlines()[2:] if line.strip()]
    return {row[0]: (int(row[1]), int(row[4]), int(row[5])) for row in rows}


def _lowmem_end(layout_text: str) -> int:
    """The end address of the first "lowmem : 0xc0000000 - 0x..." line of a layout block."""
    found = re.search(r"lowmem\s*:\s*0x[0-9a-f]+ - 0x([0-9a-f]+)", layout_text)
    assert found, layout_text
    return int(found.group(1), 16)


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_zone_boundaries_and_present_pages_are_linuxs_exactly(name: str) -> None:
    """DMA from pfn 1 with the 640 KiB-1 MiB hole, HighMem from MAXMEM, all up to max_pfn."""
    boot = boot_like(name)
    capture, ours = boot.capture, boot.reports
    assert [zone.name for zone in ours.zones if zone.present] == [
        zone.name for zone in capture.zones if zone.present
    ]
    for linux_zone in capture.zones:
        zone = ours.zone(linux_zone.name)
        assert (zone.start_pfn, zone.spanned, zone.present) == (
            linux_zone.start_pfn,
            linux_zone.spanned,
            linux_zone.present,
        ), zone.name


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_managed_pages_and_memtotal_are_within_half_a_percent_of_linuxs(name: str) -> None:
    """The memblock reservations (first 1 MiB, image, mem_map, page tables, percpu, hashes)."""
    boot = boot_like(name)
    capture, ours = boot.capture, boot.reports
    for linux_zone in capture.zones:
        managed = ours.zone(linux_zone.name).managed
        assert managed == pytest.approx(linux_zone.managed, rel=BOOT_TOLERANCE), (
            linux_zone.name,
            managed,
            linux_zone.managed,
        )
    for key in ("MemTotal", "LowTotal", "HighTotal"):
        linux_kb, ours_kb = capture.meminfo[key], ours.meminfo[key]
        if linux_kb == 0:
            assert ours_kb == 0, key
        else:
            assert ours_kb == pytest.approx(linux_kb, rel=BOOT_TOLERANCE), (key, ours_kb, linux_kb)


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_the_layout_report_ends_lowmem_where_zoneinfo_and_linux_do(name: str) -> None:
    """`vmsim stat layout`: the derived block and the machine's own lowmem line both end where
    HighMem (or RAM) begins, as the capture's vmlayout block does."""
    boot = boot_like(name)
    capture, ours, text = boot.capture, boot.reports, boot.layout
    (vmlayout,) = [text for title, text in capture.sections.items() if title.startswith("vmlayout")]
    linux_end = _lowmem_end(vmlayout)
    derived, machines_own = re.findall(r"lowmem\s*:\s*0x[0-9a-f]+ - 0x([0-9a-f]+)", text)
    assert int(derived, 16) == int(machines_own, 16) == linux_end
    normal = ours.zone("Normal")
    assert PAGE_OFFSET + ((normal.start_pfn + normal.spanned) << PAGE_SHIFT) == linux_end


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_kernel_memory_at_boot_is_in_the_range_linux_shows(name: str) -> None:
    """Slab (dentry, inode_cache, kernfs ...), kernel stacks, the first percpu chunk."""
    boot = boot_like(name)
    capture, ours = boot.capture, boot.reports
    for key, tolerance in (
        ("Slab", SLAB_TOLERANCE),
        ("KernelStack", KERNEL_MEMORY_TOLERANCE),
    ):
        linux_kb, ours_kb = capture.meminfo[key], ours.meminfo[key]
        assert ours_kb == pytest.approx(linux_kb, rel=tolerance), (key, ours_kb, linux_kb)
    assert ours.meminfo["SReclaimable"] == capture.meminfo["SReclaimable"]
    assert ours.meminfo["Percpu"] == capture.meminfo["Percpu"]
    assert ours.meminfo["MemFree"] == pytest.approx(
        capture.meminfo["MemFree"], rel=MEMFREE_TOLERANCE
    )
    assert ours.buddyinfo["Normal"][-1] == pytest.approx(
        capture.buddyinfo["Normal"][-1], rel=BUDDY_TOP_ORDER_TOLERANCE
    )


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_the_caches_boot_fills_hold_as_many_objects_as_linuxs_slabinfo(name: str) -> None:
    """Every cache vmsim's boot fills is in the capture's /proc/slabinfo, its slabs of Linux's
    size (calculate_order's waste test: inode_cache 19 objects in 2 pages) and as many
    active objects; the kmalloc size classes within KMALLOC_OBJECTS_SLACK (base-2g's
    kmalloc-4k holds 8 objects more than the smaller machines')."""
    boot = boot_like(name)
    ours = _slab_rows(boot.slabinfo)
    linux = _slab_rows(boot.capture.sections["/proc/slabinfo"])
    assert len(ours) > 60
    assert {cache: row[1:] for cache, row in ours.items()} == {
        cache: linux[cache][1:] for cache in ours
    }
    for cache, (active, _per_slab, _pages) in ours.items():
        size_class = re.fullmatch(r"kmalloc-\d+k?", cache) is not None
        slack = KMALLOC_OBJECTS_SLACK if size_class else 0
        assert abs(active - linux[cache][0]) <= slack, (cache, active, linux[cache][0])


def _hash_table_lines(dmesg: str) -> list[str]:
    """The "... hash table entries" lines of a kernel log, timestamps cut."""
    return [line.split("] ", 1)[1] for line in dmesg.splitlines() if "hash table entries" in line]


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_boot_sizes_the_system_hash_tables_as_linux_printed_them(name: str) -> None:
    """alloc_large_system_hash's tables (mount, futex, quota, IP, TCP, MPTCP, UDP), each
    sized from low memory by its caller's scale and limits: the same lines, in the same order."""
    boot = boot_like(name)
    ours = _hash_table_lines(boot.kernel_log)
    # after "Memory:" (mem_init): the dentry and inode tables before it come from memblock
    linux = _hash_table_lines(boot.capture.sections["full dmesg"].split("Memory: ", 1)[1])
    assert len(linux) == 12
    assert ours == linux


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_buddyinfo_at_boot_is_linuxs_where_boot_is_modelled(name: str) -> None:
    """DMA exactly (boot never allocates there: Normal passes its watermark, so DMA keeps the
    blocks memblock_free_all made around the first MiB); the top order of Normal and HighMem
    within BUDDY_TOP_ORDER_BLOCKS (the blocks ftrace's records, the system hash tables, the
    slabs and stacks, the rootfs and the vmalloc areas split); each zone's free pages within
    ZONE_FREE_TOLERANCE. Orders 0-9 are not compared: Linux holds 2-8 times vmsim's pages
    there (base-1g-4k Normal 2293 vs 407), left by the churn of init's processes and of the
    initcalls, which vmsim's boot does not run."""
    boot = boot_like(name)
    capture, ours = boot.capture, boot.reports
    assert ours.buddyinfo["DMA"] == capture.buddyinfo["DMA"]
    for zone in ("Normal", "HighMem"):
        if zone in capture.buddyinfo:
            assert abs(ours.buddyinfo[zone][-1] - capture.buddyinfo[zone][-1]) <= (
                BUDDY_TOP_ORDER_BLOCKS
            ), zone
            assert ours.zone(zone).free == pytest.approx(
                capture.zone(zone).free, rel=ZONE_FREE_TOLERANCE
            ), zone


def _vmalloc_rows(vmallocinfo: str) -> list[tuple[str, int, int]]:
    """/proc/vmallocinfo's vmalloc (not ioremap) lines as (caller, size, pages), by address."""
    found = re.findall(r"^0x\S+ +(\d+) (\w+)\+\S+ pages=(\d+) vmalloc", vmallocinfo, re.M)
    return [(caller, int(size), int(pages)) for size, caller, pages in found]


@pytest.mark.parametrize("name", BOOT_SCENARIOS)
def test_boot_leaves_linuxs_vmalloc_areas_and_its_rootfs_in_shmem(name: str) -> None:
    """The initcalls' vmalloc areas (bpf, crypto's per-CPU scratch buffers, the console's
    n_tty) in Linux's order and sizes, so VmallocUsed is exact; populate_rootfs's files are
    tmpfs pages, Shmem and Cached exactly as Linux's."""
    boot = boot_like(name)
    capture, ours = boot.capture, boot.reports
    linux_areas = _vmalloc_rows(capture.sections["/proc/vmallocinfo"])
    assert len(linux_areas) == 4
    assert _vmalloc_rows(boot.vmallocinfo) == linux_areas
    for key in ("VmallocUsed", "Shmem", "Cached"):
        assert ours.meminfo[key] == capture.meminfo[key] > 0, key


def test_the_textbook_split_ends_lowmem_at_896_mib() -> None:
    capture = linux32.load("base-1g-4k")
    with booted(capture, textbook_split=True) as machine:
        ours = snapshot(machine, "boot", {})
        text = machine.report("layout")
    assert ours.zone("HighMem").start_pfn << PAGE_SHIFT == 896 << 20
    # 21 MiB more low memory than Linux 6.1 leaves, so that much less HighMem
    assert ours.meminfo["LowTotal"] > capture.meminfo["LowTotal"]
    assert ours.meminfo["HighTotal"] < capture.meminfo["HighTotal"]
    assert "the textbook split (low memory up to 896 MiB)" in text
    assert _lowmem_end(text.split("# what this simulated machine uses")[1]) == 0xF8000000
