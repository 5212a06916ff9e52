"""Allocation under pressure as mm/page_alloc.c and mm/vmscan.c do it: the zonelist fast path,
lowmem_reserve, kswapd between calls, direct reclaim, and no swap-out while a zone has room.

Reference figures come from a real Debian 6.1 686 kernel (linux32/summary.md beside DESIGN.md).
"""

from __future__ import annotations

import pytest
from tests.kernel.conftest import ANON, RW, MachineFactory, write_pages

from vmsim_kernel import Machine
from vmsim_kernel.arch.x86.constants import PAGE_SIZE, Gfp, GiB, MiB, ZoneType
from vmsim_kernel.mm.page_alloc import PageAllocator, WatermarkLevel, alloc_page, free_page
from vmsim_kernel.mm.physmem import PhysicalMemory
from vmsim_kernel.mm.vmscan import pgdat_balanced
from vmsim_kernel.results import Event, EventKind


def free_pages(machine: Machine) -> int:
    return machine.kernel.allocator.nr_free_pages()


@pytest.fixture
def complaints(machine: Machine) -> list[str]:
    """Complaints about the test machine's swap-outs made while every zone a user page may use
    was above its high watermark (plus the lowmem_reserve it keeps from user allocations)."""
    complaints: list[str] = []

    def on_swap_out(event: Event) -> None:
        zones = [z for z in machine.kernel.allocator.zones if not z.is_empty]
        if all(z.watermark_ok(0, WatermarkLevel.HIGH, classzone=ZoneType.HIGHMEM) for z in zones):
            complaints.append(f"swap-out of pfn {event.pfn} with every zone above high")

    machine.add_event_listener(on_swap_out, frozenset({EventKind.SWAP_OUT}))
    return complaints


# ---- lowmem_reserve and watermarks: the real kernel's numbers -----------------------------------
def test_lowmem_reserve_and_watermarks_match_a_real_1_gib_kernel() -> None:
    """Zones sized as Linux's 1 GiB boot (managed 3840 / 213777 / 37858, min_free_kbytes 3714)
    get its zoneinfo marks and `protection:` lines exactly."""
    nr_frames = (896 * MiB // PAGE_SIZE) + 37858
    physmem = PhysicalMemory(nr_frames)
    try:
        normal_reserved = (896 * MiB - 16 * MiB) // PAGE_SIZE - 213777
        allocator = PageAllocator(physmem, [(0, 256), (4096, 4096 + normal_reserved)], 3714)
        dma, normal, high = allocator.zones
        assert (dma.managed_pages, normal.managed_pages, high.managed_pages) == (
            3840,
            213777,
            37858,
        )
        assert (dma.watermark_min, dma.watermark_low, dma.watermark_high) == (16, 20, 24)
        assert (normal.watermark_min, normal.watermark_low, normal.watermark_high) == (
            911,
            1138,
            1365,
        )
        assert (high.watermark_min, high.watermark_low, high.watermark_high) == (36, 76, 116)
        assert dma.lowmem_reserve == [0, 835, 982]
        assert normal.lowmem_reserve == [0, 0, 1183]
        assert high.lowmem_reserve == [0, 0, 0]
    finally:
        physmem.close()


def test_zoneinfo_prints_protection_per_classzone(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=0)
    text = machine.report("zoneinfo")
    # The reserves themselves are checked against the real kernel's numbers above; here, that
    # each zone prints its own, with the Movable classzone's (the same as HighMem's) last.
    printed = [line.split(":", 1)[1].strip() for line in text.splitlines() if "protection:" in line]
    kept = [zone.lowmem_reserve for zone in machine.kernel.allocator.zones]
    assert printed[:3] == [f"({', '.join(map(str, [*r, r[-1]]))})" for r in kept]
    assert kept[0][1] > 0 and kept[1][2] > 0  # lower zones do keep something back
    assert printed[3] == "(0, 0, 0, 0)"  # the empty Movable zone


def test_a_dma_allocation_ignores_the_reserve_kept_from_higher_classzones(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=64 * MiB, swap_bytes=0)
    dma = machine.kernel.allocator.zones[ZoneType.DMA]
    reserve = dma.lowmem_reserve[ZoneType.NORMAL]
    assert reserve > 0
    # Leave DMA just above low but below low + reserve: user pages may not take it, DMA may.
    while dma.nr_free_pages > dma.watermark_low + reserve // 2:
        machine.kernel.allocator.allocate_pages(dma, 0)
    assert not dma.watermark_ok(0, WatermarkLevel.LOW, classzone=ZoneType.HIGHMEM)
    assert dma.watermark_ok(0, WatermarkLevel.LOW, classzone=ZoneType.DMA)


# ---- the fast path walks the zonelist -------------------------------------------------------------
@pytest.mark.slow
def test_writing_400_mib_on_1_gib_takes_highmem_then_normal_and_swaps_nothing(
    make_machine: MachineFactory,
) -> None:
    """linux32 c-1g-swap-4k: HighMem is drained to its low mark, Normal gives the rest, no DMA,
    no scanning, no swap-out."""
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=256 * MiB)
    high = machine.kernel.allocator.zones[ZoneType.HIGHMEM]
    pid = machine.spawn("memtouch")
    write_pages(machine, pid, 400 * MiB // PAGE_SIZE)
    vmstat, meminfo = machine.vmstat(), machine.meminfo()
    assert vmstat["pswpout"] == 0 and vmstat["pgscan_kswapd"] == vmstat["pgscan_direct"] == 0
    assert meminfo["SwapFree"] == meminfo["SwapTotal"] == 256 * 1024 - 4
    assert vmstat["pgalloc_dma"] == 0
    # HighMem drained to its low mark: the refill of this CPU's list that took it there gave
    # one page, the rest of that batch waits on the list (nothing handed those out)
    assert high.nr_free_pages <= high.watermark_low < high.nr_free_pages + high.pageset_batch
    assert vmstat["pgalloc_high"] == high.managed_pages - high.nr_free_pages - high.nr_pcp_pages
    assert vmstat["pgalloc_normal"] > 65000  # 102400 pages + page tables - HighMem's share
    assert machine.process(pid).vm_rss == 400 * MiB


def test_a_zone_under_its_low_mark_is_skipped_for_the_next_not_reclaimed(
    make_machine: MachineFactory,
) -> None:
    """The issue's 32 MiB case: a 24 MiB process fits in Normal + DMA without any swap-out."""
    machine = make_machine(ram_bytes=32 * MiB, swap_bytes=32 * MiB)
    pid = machine.spawn("fits")
    write_pages(machine, pid, 24 * MiB // PAGE_SIZE)
    vmstat = machine.vmstat()
    normal = machine.kernel.allocator.zones[ZoneType.NORMAL]
    assert vmstat["pgalloc_dma"] > 0 and vmstat["pgalloc_normal"] > 0
    assert normal.nr_free_pages <= normal.watermark_low + normal.lowmem_reserve[ZoneType.HIGHMEM]
    assert (
        vmstat["pswpout"] == 0
        and vmstat["pgscan_direct"] == 0
        and vmstat["allocstall_movable"] == 0
    )
    machine.check_invariants()


@pytest.mark.slow
@pytest.mark.machine(ram_bytes=64 * MiB, swap_bytes=64 * MiB)
def test_writing_ram_plus_half_the_swap_swaps_out_little_more_than_the_excess(
    machine: Machine, complaints: list[str]
) -> None:
    pid = machine.spawn("big")
    available = free_pages(machine)
    nr_pages = available + (64 * MiB // PAGE_SIZE) // 2
    write_pages(machine, pid, nr_pages)
    excess = nr_pages - available
    vmstat = machine.vmstat()
    assert excess <= vmstat["pswpout"] <= 1.1 * excess
    assert vmstat["allocstall_movable"] > 0 and vmstat["pgsteal_direct"] > 0
    assert vmstat["pgscan_anon"] == vmstat["pgscan_kswapd"] + vmstat["pgscan_direct"]
    # A page written once is referenced only by its fault: reclaim rotates it once and then
    # takes it, never activating it (folio_check_references), so the active list stays empty
    # and nothing is refilled from it (Linux: pgrefill 34 for 400 MiB on 256 MiB).
    assert vmstat["pgactivate"] == vmstat["pgrefill"] == vmstat["pgdeactivate"] == 0
    assert complaints == []
    machine.check_invariants()


# ---- kswapd -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.machine(ram_bytes=32 * MiB, swap_bytes=32 * MiB)
def test_kswapd_balances_after_the_call_that_woke_it_on_its_own_clock(
    machine: Machine, complaints: list[str]
) -> None:
    pid = machine.spawn("grow")
    events = machine.kernel.vm_events
    addr = machine.mmap(pid, 0, 31 * MiB, RW, ANON)
    thread = machine.tasks[pid].main_thread
    for page in range(31 * MiB // PAGE_SIZE):
        system_before = thread.times.system_ns
        machine.touch(pid, addr + page * PAGE_SIZE, write=True)
        if events.pageoutrun:
            break
    else:
        pytest.fail("kswapd was never woken")
    # The call that woke kswapd paid only for its own fault; kswapd reclaimed on its clock.
    assert thread.times.system_ns - system_before == machine.last_cost.system_ns
    assert events.pgsteal_kswapd > 0 and machine.kswapd.times.system_ns > 0
    assert events.pgscan_direct == 0 and events.allocstall_movable == 0
    # kswapd balances in bounded turns between calls: a few more calls and it is done.
    for _ in range(64):
        if machine.kernel.pgdat.kswapd_classzone is None:
            break
        page += 1
        machine.touch(pid, addr + page * PAGE_SIZE, write=True)
    assert pgdat_balanced(machine.kernel.pgdat, ZoneType.HIGHMEM)
    assert machine.kernel.pgdat.kswapd_classzone is None
    assert events.pgscan_direct == 0
    # Balanced: the next calls do not wake it again.
    runs = events.pageoutrun
    machine.touch(pid, addr + (page + 1) * PAGE_SIZE, write=True)
    assert events.pageoutrun == runs
    assert complaints == []


def test_gfp_kernel_never_takes_highmem(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=0)
    high = machine.kernel.allocator.zones[ZoneType.HIGHMEM]
    pfns = [alloc_page(machine.kernel.pgdat, Gfp.KERNEL, None) for _ in range(100)]
    assert all(not high.contains(pfn) for pfn in pfns)
    for pfn in pfns:
        free_page(machine.kernel.pgdat, pfn)
