"""Zones, the buddy allocator, watermarks, /proc/buddyinfo and simulated physical memory."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsim_kernel.arch.x86.constants import MAX_ORDER, PAGE_SIZE, Gfp, GiB, MiB, ZoneType
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.mm.page_alloc import (
    FreeArea,
    PageAllocator,
    WatermarkLevel,
    Zone,
    zone_watermark_ok,
)
from vmsim_kernel.mm.physmem import PageFlag, PhysicalMemory

BootAllocator = Callable[..., PageAllocator]

# What Machine reserves on a small box: the BIOS page, the 640K-1M hole, the kernel image.
TYPICAL_RESERVED = [(0, 1), (0x9F, 0x100), (0x100, 0x180)]


@pytest.fixture
def boot() -> Iterator[BootAllocator]:
    """Boot page allocators over fresh RAM; the RAM is released after the test."""
    memories: list[PhysicalMemory] = []

    def factory(
        ram_bytes: int,
        reserved: list[tuple[int, int]] | None = None,
        min_free_kbytes: int | None = None,
    ) -> PageAllocator:
        physmem = PhysicalMemory(ram_bytes // PAGE_SIZE)
        memories.append(physmem)
        return PageAllocator(physmem, [(0, 1)] if reserved is None else reserved, min_free_kbytes)

    yield factory
    for physmem in memories:
        physmem.close()


def free_area_counts(allocator: PageAllocator) -> list[tuple[int, ...]]:
    """nr_free per order for each zone, as /proc/buddyinfo shows them."""
    return [tuple(area.nr_free for area in zone.free_area) for zone in allocator.zones]


def zone_type_of(allocator: PageAllocator, pfn: int | None) -> ZoneType:
    assert pfn is not None
    return allocator.zone_of(pfn).zone_type


def drain(allocator: PageAllocator, zone: Zone) -> list[int]:
    """Allocate every free page of *zone*, one at a time."""
    taken: list[int] = []
    while (pfn := allocator.allocate_pages(zone, 0)) is not None:
        taken.append(pfn)
    return taken


def resident_bytes() -> int:
    """The test process's resident set size, from /proc/self/statm."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_SIZE


# ---- zones ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ram_bytes", "present"),
    [
        (4 * MiB, (1024, 0, 0)),
        (64 * MiB, (4096, 12288, 0)),
        (900 * MiB, (4096, 225280, 1024)),
        (1 * GiB, (4096, 225280, 32768)),
        (4 * GiB, (4096, 225280, 819200)),
    ],
)
def test_zones_follow_the_dma_normal_highmem_boundaries(
    boot: BootAllocator, ram_bytes: int, present: tuple[int, int, int]
) -> None:
    allocator = boot(ram_bytes)
    zones = allocator.zones
    assert [zone.name for zone in zones] == ["DMA", "Normal", "HighMem"]
    assert [zone.zone_type for zone in zones] == list(ZoneType)
    assert tuple(zone.present_pages for zone in zones) == present
    assert tuple(zone.spanned_pages for zone in zones) == present
    assert zones[0].start_pfn == 0
    assert zones[0].end_pfn == zones[1].start_pfn and zones[1].end_pfn == zones[2].start_pfn
    assert zones[2].end_pfn == ram_bytes // PAGE_SIZE
    assert [zone.is_empty for zone in zones] == [pages == 0 for pages in present]
    # Only the BIOS page is reserved: everything else was handed to the buddy lists.
    assert allocator.nr_reserved_pages() == 1
    assert allocator.nr_free_pages() == allocator.nr_managed_pages() == ram_bytes // PAGE_SIZE - 1


def test_reserved_ranges_never_enter_the_buddy_lists(boot: BootAllocator) -> None:
    allocator = boot(16 * MiB, reserved=TYPICAL_RESERVED)
    dma = allocator.zones[ZoneType.DMA]
    nr_reserved = 1 + (0x100 - 0x9F) + (0x180 - 0x100)
    assert dma.managed_pages == dma.present_pages - nr_reserved == allocator.nr_managed_pages()
    assert allocator.nr_reserved_pages() == nr_reserved
    flags = allocator.physmem.flags
    assert np.count_nonzero(flags & np.uint32(PageFlag.RESERVED)) == nr_reserved
    handed_out = set(drain(allocator, dma))
    assert len(handed_out) == dma.managed_pages
    assert handed_out.isdisjoint({0, *range(0x9F, 0x180)})


def test_a_reserved_range_outside_ram_is_a_kernel_bug(boot: BootAllocator) -> None:
    with pytest.raises(KernelBug, match="outside RAM"):
        boot(4 * MiB, reserved=[(1000, 1025)])


def test_a_4_gib_machine_boots_in_order_10_blocks_without_touching_ram(
    boot: BootAllocator,
) -> None:
    before = resident_bytes()
    allocator = boot(4 * GiB)
    grown = resident_bytes() - before
    # The descriptors cost ~13 MiB; touching the RAM itself would cost 4 GiB.
    assert grown < 256 * MiB
    counts = free_area_counts(allocator)
    assert counts[ZoneType.NORMAL] == (0,) * 10 + (220,)
    assert counts[ZoneType.HIGHMEM] == (0,) * 10 + (800,)
    # DMA minus pfn 0: one block of each order 0..9, then three order-10 blocks.
    assert counts[ZoneType.DMA] == (1,) * 10 + (3,)
    allocator.check_invariants()


def test_zone_of_finds_the_zone_and_rejects_pfns_beyond_ram(boot: BootAllocator) -> None:
    allocator = boot(1 * GiB)
    assert allocator.zone_of(4095).zone_type is ZoneType.DMA
    assert allocator.zone_of(4096).zone_type is ZoneType.NORMAL
    assert allocator.zone_of(229376).zone_type is ZoneType.HIGHMEM
    with pytest.raises(KernelBug, match="no zone"):
        allocator.zone_of(262144)


# ---- splitting and merging ---------------------------------------------------------------------
def test_allocating_one_page_splits_an_order_10_block(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    assert free_area_counts(allocator)[ZoneType.DMA] == (0,) * 10 + (2,)
    pfn = allocator.allocate_pages(dma, 0)
    assert pfn == 0
    # expand(): the upper halves 512, 256, ..., 1 went back one per order.
    assert free_area_counts(allocator)[ZoneType.DMA] == (1,) * 10 + (1,)
    for order in range(10):
        assert list(dma.free_area[order].free_list) == [1 << order]
        assert allocator.buddy_order[1 << order] == order
    assert dma.nr_free_pages == 2047
    assert not allocator.physmem.test_flags(0, PageFlag.BUDDY)


def test_consecutive_allocations_hand_out_ascending_pfns(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    assert [allocator.allocate_pages(dma, 0) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert allocator.allocate_pages(dma, 3) == 8


def test_the_most_recently_freed_block_is_allocated_first(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    pages = [allocator.allocate_pages(dma, 0) for _ in range(8)]
    allocator.free_pages(2, 0)
    allocator.free_pages(5, 0)
    assert pages == list(range(8))
    assert allocator.allocate_pages(dma, 0) == 5
    assert allocator.allocate_pages(dma, 0) == 2


def test_free_merges_buddy_when_buddy_is_free(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    initial = free_area_counts(allocator)
    dma = allocator.zones[ZoneType.DMA]
    first = allocator.allocate_pages(dma, 0)
    second = allocator.allocate_pages(dma, 0)
    assert first is not None and second is not None
    assert (first, second) == (0, 1)
    allocator.free_pages(first, 0)
    assert allocator.buddy_order[first] == 0
    allocator.free_pages(second, 0)
    # The pair merged, then merged again with each upper half, back to one order-10 block.
    assert allocator.buddy_order[second] < 0  # inside the block now, no longer a head
    assert allocator.buddy_order[first] == 10
    assert free_area_counts(allocator) == initial


def test_free_does_not_merge_when_buddy_is_allocated(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    first = allocator.allocate_pages(dma, 0)
    assert allocator.allocate_pages(dma, 0) == 1
    assert first == 0
    allocator.free_pages(first, 0)
    assert allocator.buddy_order[0] == 0
    assert dma.free_area[0].nr_free == 1 and 0 in dma.free_area[0].free_list


def test_a_block_never_merges_across_a_reserved_frame(boot: BootAllocator) -> None:
    allocator = boot(4 * MiB, reserved=[(1, 2)])
    dma = allocator.zones[ZoneType.DMA]
    assert allocator.buddy_order[0] == 0  # pfn 0's buddy is the reserved pfn 1
    pfn = allocator.allocate_pages(dma, 0)
    assert pfn == 0
    allocator.free_pages(0, 0)
    assert allocator.buddy_order[0] == 0


def test_random_allocations_freed_return_to_the_boot_free_area(boot: BootAllocator) -> None:
    allocator = boot(64 * MiB, reserved=TYPICAL_RESERVED)
    initial = free_area_counts(allocator)
    rng = random.Random(2024)
    held: list[tuple[int, int]] = []
    for step in range(3000):
        if held and rng.random() < 0.45:
            pfn, order = held.pop(rng.randrange(len(held)))
            allocator.free_pages(pfn, order)
        else:
            order = rng.choice([0, 0, 0, 0, 1, 2, 3, 5, 10])
            zone = allocator.zones[rng.choice([ZoneType.DMA, ZoneType.NORMAL])]
            new_pfn = allocator.allocate_pages(zone, order)
            if new_pfn is not None:
                assert new_pfn % (1 << order) == 0
                held.append((new_pfn, order))
        if step % 500 == 0:
            allocator.check_invariants()
    assert free_area_counts(allocator) != initial
    rng.shuffle(held)
    for pfn, order in held:
        allocator.free_pages(pfn, order)
    allocator.check_invariants()
    assert free_area_counts(allocator) == initial


def test_an_exhausted_zone_returns_none(boot: BootAllocator) -> None:
    allocator = boot(4 * MiB)
    dma = allocator.zones[ZoneType.DMA]
    assert len(drain(allocator, dma)) == 1023
    assert dma.nr_free_pages == 0 and dma.nr_allocated_pages == 1023
    assert allocator.allocate_pages(dma, 0) is None
    assert allocator.allocate_pages(allocator.zones[ZoneType.HIGHMEM], 0) is None


def test_an_order_above_10_is_a_kernel_bug(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB)
    with pytest.raises(KernelBug, match="order 11"):
        allocator.allocate_pages(allocator.zones[ZoneType.DMA], MAX_ORDER)


# ---- bad frees -----------------------------------------------------------------------------------
def test_double_free_is_a_kernel_bug(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB)
    dma = allocator.zones[ZoneType.DMA]
    pfn = allocator.allocate_pages(dma, 0)
    assert pfn is not None
    allocator.free_pages(pfn, 0)
    with pytest.raises(KernelBug, match="double free"):
        allocator.free_pages(pfn, 0)


def test_freeing_a_page_inside_a_merged_free_block_is_a_double_free(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB)
    pair = allocator.allocate_pages(allocator.zones[ZoneType.DMA], 1)
    assert pair is not None
    allocator.free_pages(pair, 1)
    with pytest.raises(KernelBug, match="double free"):
        allocator.free_pages(pair + 1, 0)


def test_freeing_a_block_that_contains_a_free_page_is_a_double_free(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    first, second = (allocator.allocate_pages(dma, 0) for _ in range(2))
    assert (first, second) == (0, 1)
    allocator.free_pages(1, 0)
    with pytest.raises(KernelBug, match="double free"):
        allocator.free_pages(0, 1)
    allocator.check_invariants()


@pytest.mark.parametrize(
    ("pfn", "order", "message"),
    [
        (0, 0, "reserved"),
        (3, 1, "unaligned"),
        (2048, 0, "outside RAM"),
        (-1, 0, "outside RAM"),
        (2040, 4, "unaligned"),
        (0, MAX_ORDER, "order 11"),
    ],
)
def test_bad_frees_are_kernel_bugs(boot: BootAllocator, pfn: int, order: int, message: str) -> None:
    allocator = boot(8 * MiB)
    with pytest.raises(KernelBug, match=message):
        allocator.free_pages(pfn, order)
    allocator.check_invariants()


def test_freeing_a_mapped_or_lru_page_is_a_bad_page(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB)
    dma = allocator.zones[ZoneType.DMA]
    mapped, on_lru = allocator.allocate_pages(dma, 0), allocator.allocate_pages(dma, 0)
    assert mapped is not None and on_lru is not None
    allocator.physmem.mapcount[mapped] = 1
    allocator.physmem.set_flags(on_lru, PageFlag.LRU)
    with pytest.raises(KernelBug, match="mapped"):
        allocator.free_pages(mapped, 0)
    with pytest.raises(KernelBug, match="LRU"):
        allocator.free_pages(on_lru, 0)


def test_free_blanks_the_page_descriptor(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB)
    physmem = allocator.physmem
    pfn = allocator.allocate_pages(allocator.zones[ZoneType.DMA], 2)
    assert pfn is not None
    physmem.set_flags(pfn, PageFlag.ANON | PageFlag.DIRTY | PageFlag.UPTODATE)
    physmem.set_flags(pfn + 3, PageFlag.PAGETABLE)
    physmem.private[pfn + 1] = 0x1234
    allocator.free_pages(pfn, 2)
    block = slice(pfn, pfn + 4)
    assert not np.any(physmem.flags[block] & ~np.uint32(PageFlag.BUDDY))
    assert not np.any(physmem.private[block])
    allocator.check_invariants()


# ---- zonelists -------------------------------------------------------------------------------------
def test_gfp_masks_pick_their_preferred_zone(boot: BootAllocator) -> None:
    allocator = boot(1 * GiB)
    low = WatermarkLevel.LOW
    assert zone_type_of(allocator, allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, low)) is (
        ZoneType.HIGHMEM
    )
    assert zone_type_of(allocator, allocator.get_page_from_freelist(Gfp.KERNEL, 0, low)) is (
        ZoneType.NORMAL
    )
    assert zone_type_of(allocator, allocator.get_page_from_freelist(Gfp.ATOMIC, 0, low)) is (
        ZoneType.NORMAL
    )
    assert zone_type_of(allocator, allocator.get_page_from_freelist(Gfp.DMA, 0, low)) is (
        ZoneType.DMA
    )


@pytest.mark.slow
def test_gfp_highuser_falls_back_from_highmem_to_normal_to_dma(boot: BootAllocator) -> None:
    allocator = boot(1 * GiB)
    high, normal = allocator.zones[ZoneType.HIGHMEM], allocator.zones[ZoneType.NORMAL]
    while high.watermark_ok(0, WatermarkLevel.LOW):
        allocator.allocate_pages(high, 0)
    pfn = allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
    assert zone_type_of(allocator, pfn) is ZoneType.NORMAL
    while normal.watermark_ok(0, WatermarkLevel.LOW):
        allocator.allocate_pages(normal, 0)
    pfn = allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
    assert zone_type_of(allocator, pfn) is ZoneType.DMA


def test_gfp_highuser_skips_the_empty_highmem_of_a_small_machine(boot: BootAllocator) -> None:
    allocator = boot(64 * MiB)
    pfn = allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
    assert zone_type_of(allocator, pfn) is ZoneType.NORMAL


def test_gfp_dma_only_ever_uses_the_dma_zone(boot: BootAllocator) -> None:
    allocator = boot(64 * MiB)
    drain(allocator, allocator.zones[ZoneType.DMA])
    assert allocator.zones[ZoneType.NORMAL].nr_free_pages > 10000
    assert allocator.get_page_from_freelist(Gfp.DMA, 0, WatermarkLevel.NONE) is None


@pytest.mark.slow
def test_gfp_kernel_never_uses_highmem(boot: BootAllocator) -> None:
    allocator = boot(1 * GiB)
    drain(allocator, allocator.zones[ZoneType.DMA])
    drain(allocator, allocator.zones[ZoneType.NORMAL])
    assert allocator.get_page_from_freelist(Gfp.KERNEL, 0, WatermarkLevel.NONE) is None
    assert allocator.zones[ZoneType.HIGHMEM].nr_free_pages == 32768


# ---- watermarks ----------------------------------------------------------------------------------
def test_watermarks_match_linux_for_a_1_gib_machine(boot: BootAllocator) -> None:
    allocator = boot(1 * GiB)
    # lowmem = 4095 + 225280 managed pages = 917500 kB. init_per_zone_wmark_min:
    # int_sqrt(917500 * 16) = 3831 kB, pages_min 957: high marks DMA 17 + 8, Normal 939 + 468.
    # 512 MiB or more: hugepage_init (THP off) recalculates above those high marks:
    # (229375 - 25 - 1407) * 4 = 911772 kB, int_sqrt(911772 * 16) = 3819 kB; pages_min = 954,
    # shared out by managed pages: DMA 17, Normal 936 (HighMem 136).
    assert allocator.min_free_kbytes == 3819
    marks = [(z.watermark_min, z.watermark_low, z.watermark_high) for z in allocator.zones]
    assert marks == [
        (17, 17 + 4, 17 + 8),  # distance max(17 // 4, 4095 * 10 // 10000) = 4
        (936, 936 + 234, 936 + 468),  # distance max(936 // 4, 225) = 234
        (32, 32 + 34, 32 + 68),  # min clamp(32, 32, 128); distance max(136 // 4, 32) = 34
    ]
    assert all(z.watermark_min < z.watermark_low < z.watermark_high for z in allocator.zones)


def test_highmem_min_watermark_is_capped_at_128_pages(boot: BootAllocator) -> None:
    high = boot(4 * GiB).zones[ZoneType.HIGHMEM]
    assert high.watermark_min == 128
    # The kswapd distances are not capped: pages_min 954 (as at 1 GiB: the same low memory),
    # share 954 * 819200 // 229375 = 3407, max(3407 // 4, 819200 * 10 // 10000) = 851.
    assert (high.watermark_low, high.watermark_high) == (128 + 851, 128 + 2 * 851)


def test_min_free_kbytes_is_clamped_to_128_and_can_be_set(boot: BootAllocator) -> None:
    tiny = boot(128 * PAGE_SIZE)  # int_sqrt(508 * 16) = 90 kB, raised to 128
    assert tiny.min_free_kbytes == 128
    assert tiny.zones[ZoneType.DMA].watermark_min == 32
    tuned = boot(1 * GiB, min_free_kbytes=8192)
    assert tuned.min_free_kbytes == 8192
    assert tuned.zones[ZoneType.NORMAL].watermark_min == 2048 * 225280 // 229375


def test_empty_zones_have_linux_watermarks_and_give_nothing(boot: BootAllocator) -> None:
    allocator = boot(4 * MiB)
    normal, highmem = allocator.zones[ZoneType.NORMAL], allocator.zones[ZoneType.HIGHMEM]
    assert (normal.watermark_min, normal.watermark_low, normal.watermark_high) == (0, 0, 0)
    # An empty HighMem gets the highmem clamp, as zoneinfo shows on a 256 MiB Linux box.
    assert (highmem.watermark_min, highmem.watermark_low, highmem.watermark_high) == (32, 32, 32)
    for zone in (normal, highmem):
        assert not zone.watermark_ok(0, WatermarkLevel.NONE)


def test_watermark_ok_refuses_an_allocation_that_would_go_below_the_mark(
    boot: BootAllocator,
) -> None:
    allocator = boot(64 * MiB)
    normal = allocator.zones[ZoneType.NORMAL]
    while normal.nr_free_pages > normal.watermark_min + 1:
        allocator.allocate_pages(normal, 0)
    assert normal.watermark_ok(0, WatermarkLevel.MIN)
    assert not normal.watermark_ok(0, WatermarkLevel.LOW)
    # An order-1 block leaves one page fewer than an order-0 one would.
    assert not normal.watermark_ok(1, WatermarkLevel.MIN)
    allocator.allocate_pages(normal, 0)
    assert normal.nr_free_pages == normal.watermark_min
    assert not normal.watermark_ok(0, WatermarkLevel.MIN)
    assert normal.watermark_ok(0, WatermarkLevel.MIN, harder=True)
    assert normal.watermark_ok(0, WatermarkLevel.NONE)


def test_atomic_allocations_may_dip_below_min_where_kernel_ones_may_not(
    boot: BootAllocator,
) -> None:
    allocator = boot(64 * MiB)
    for zone in allocator.zones[: ZoneType.HIGHMEM]:
        while zone.nr_free_pages > zone.watermark_min:
            allocator.allocate_pages(zone, 0)
    assert allocator.get_page_from_freelist(Gfp.KERNEL, 0, WatermarkLevel.MIN) is None
    pfn = allocator.get_page_from_freelist(Gfp.ATOMIC, 0, WatermarkLevel.MIN)
    assert zone_type_of(allocator, pfn) is ZoneType.NORMAL
    normal = allocator.zones[ZoneType.NORMAL]
    # ALLOC_HARDER goes a quarter below min, not further.
    while normal.watermark_ok(0, WatermarkLevel.MIN, harder=True):
        allocator.allocate_pages(normal, 0)
    assert normal.nr_free_pages == normal.watermark_min - normal.watermark_min // 4


def test_level_none_ignores_watermarks_and_may_empty_the_zone(boot: BootAllocator) -> None:
    allocator = boot(4 * MiB)
    taken = 0
    while allocator.get_page_from_freelist(Gfp.KERNEL, 0, WatermarkLevel.NONE) is not None:
        taken += 1
    assert taken == 1023
    assert allocator.nr_free_pages() == 0


def test_a_fragmented_zone_refuses_higher_orders(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    pages = drain(allocator, dma)
    for pfn in pages[::2]:  # every other page: plenty free, but no two buddies together
        allocator.free_pages(pfn, 0)
    assert dma.nr_free_pages == 1024 > dma.watermark_high
    assert dma.watermark_ok(0, WatermarkLevel.HIGH)
    assert not dma.watermark_ok(1, WatermarkLevel.MIN)
    assert not dma.watermark_ok(1, WatermarkLevel.NONE)
    assert allocator.get_page_from_freelist(Gfp.DMA, 1, WatermarkLevel.NONE) is None


def test_zone_watermark_ok_takes_the_zone_and_a_mark_in_pages(boot: BootAllocator) -> None:
    """__zone_watermark_ok(zone, order, mark): the free pages left must stay above *mark*."""
    allocator = boot(8 * MiB, reserved=[])
    dma = allocator.zones[ZoneType.DMA]
    assert dma.nr_free_pages == 2048  # two whole order-10 blocks
    assert zone_watermark_ok(dma, 0, 2047)
    assert not zone_watermark_ok(dma, 0, 2048)
    # An order-3 block leaves 7 pages fewer than "the" page counted at order 0.
    assert zone_watermark_ok(dma, 3, 2040)
    assert not zone_watermark_ok(dma, 3, 2041)
    pages = drain(allocator, dma)
    for pfn in pages[::2]:  # 1024 free pages, but no two buddies together
        allocator.free_pages(pfn, 0)
    assert zone_watermark_ok(dma, 0, 0)
    assert not zone_watermark_ok(dma, 1, 0)


# ---- reports and invariants ------------------------------------------------------------------
def test_buddyinfo_matches_the_proc_format(boot: BootAllocator) -> None:
    allocator = boot(8 * MiB, reserved=[])
    allocator.allocate_pages(allocator.zones[ZoneType.DMA], 0)
    assert allocator.buddyinfo() == (
        "Node 0, zone      DMA      1      1      1      1      1      1      1      1      1"
        "      1      1 \n"
    )


def test_buddyinfo_lists_only_populated_zones(boot: BootAllocator) -> None:
    small = boot(4 * MiB).buddyinfo().splitlines()
    assert [line.split()[3] for line in small] == ["DMA"]
    big = boot(1 * GiB).buddyinfo().splitlines()
    assert big[1] == "Node 0, zone   Normal" + "      0" * 10 + "    220 "
    assert big[2] == "Node 0, zone  HighMem" + "      0" * 10 + "     32 "


def test_free_area_counts_blocks_not_pages() -> None:
    area = FreeArea()
    area.free_list[1024] = None
    area.free_list[0] = None
    assert area.nr_free == 2
    assert list(area.free_list) == [1024, 0]


def _corrupt_counter(allocator: PageAllocator) -> None:
    allocator.zones[ZoneType.DMA].nr_free_pages += 1


def _corrupt_buddy_flag(allocator: PageAllocator) -> None:
    allocator.physmem.clear_flags(0x180, PageFlag.BUDDY)


def _corrupt_overlap(allocator: PageAllocator) -> None:
    # A second head inside the order-7 block at 0x180 (0x180..0x1FF).
    dma = allocator.zones[ZoneType.DMA]
    dma.free_area[0].free_list[0x181] = None
    dma.nr_free_pages += 1
    allocator.buddy_order[0x181] = 0
    allocator.physmem.set_flags(0x181, PageFlag.BUDDY)


def _corrupt_reserved_inside_free_block(allocator: PageAllocator) -> None:
    allocator.physmem.set_flags(0x185, PageFlag.RESERVED)


def _corrupt_flag_on_free_tail(allocator: PageAllocator) -> None:
    allocator.physmem.set_flags(0x185, PageFlag.ANON)


def _corrupt_mapped_free_page(allocator: PageAllocator) -> None:
    allocator.physmem.mapcount[0x185] = 1


def _corrupt_allocated_count(allocator: PageAllocator) -> None:
    allocator.zones[ZoneType.DMA].nr_allocated_pages -= 1


def _corrupt_misaligned_head(allocator: PageAllocator) -> None:
    dma = allocator.zones[ZoneType.DMA]
    del dma.free_area[7].free_list[0x180]
    dma.free_area[7].free_list[0x181] = None
    allocator.buddy_order[0x180], allocator.buddy_order[0x181] = -1, 7


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_counter,
        _corrupt_buddy_flag,
        _corrupt_overlap,
        _corrupt_reserved_inside_free_block,
        _corrupt_flag_on_free_tail,
        _corrupt_mapped_free_page,
        _corrupt_allocated_count,
        _corrupt_misaligned_head,
    ],
)
def test_check_invariants_catches_corruption(
    boot: BootAllocator, corrupt: Callable[[PageAllocator], None]
) -> None:
    allocator = boot(16 * MiB, reserved=TYPICAL_RESERVED)
    assert allocator.buddy_order[0x180] == 7  # the block the corruptions aim at
    allocator.check_invariants()
    corrupt(allocator)
    with pytest.raises(KernelBug):
        allocator.check_invariants()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 10), st.sampled_from(list(Gfp)), st.integers()),
        max_size=60,
    )
)
def test_any_sequence_of_allocations_and_frees_keeps_the_invariants(
    steps: list[tuple[bool, int, Gfp, int]],
) -> None:
    physmem = PhysicalMemory(20 * MiB // PAGE_SIZE)  # DMA plus a little Normal
    try:
        allocator = PageAllocator(physmem, TYPICAL_RESERVED)
        initial = free_area_counts(allocator)
        held: list[tuple[int, int]] = []
        for allocate, order, gfp, pick in steps:
            if allocate or not held:
                level = WatermarkLevel.NONE if pick % 2 else WatermarkLevel.LOW
                pfn = allocator.get_page_from_freelist(gfp, order, level)
                if pfn is not None:
                    held.append((pfn, order))
            else:
                allocator.free_pages(*held.pop(pick % len(held)))
            allocator.check_invariants()
        allocated = sum(1 << order for _, order in held)
        assert allocator.nr_free_pages() + allocated == allocator.nr_managed_pages()
        for held_pfn, held_order in held:
            allocator.free_pages(held_pfn, held_order)
        assert free_area_counts(allocator) == initial
    finally:
        physmem.close()


# ---- physical memory -------------------------------------------------------------------------
def test_write_phys_and_read_phys_round_trip_across_a_frame_boundary() -> None:
    physmem = PhysicalMemory(4)
    physmem.write_phys(PAGE_SIZE - 3, b"straddle")
    assert physmem.read_phys(PAGE_SIZE - 3, 8) == b"straddle"
    assert bytes(physmem.frame_view(1)[:5]) == b"addle"
    physmem.write_phys(3 * PAGE_SIZE, np.arange(4, dtype="<u4").data)
    assert physmem.read_phys(3 * PAGE_SIZE + 4, 4) == b"\x01\x00\x00\x00"
    physmem.close()


def test_zero_frame_and_copy_frame_touch_exactly_one_frame() -> None:
    physmem = PhysicalMemory(4)
    physmem.ram8[:] = 0xAA
    physmem.zero_frame(1)
    assert not physmem.ram8[PAGE_SIZE : 2 * PAGE_SIZE].any()
    assert physmem.ram8[PAGE_SIZE - 1] == 0xAA and physmem.ram8[2 * PAGE_SIZE] == 0xAA
    physmem.copy_frame(1, 3)
    assert physmem.read_phys(3 * PAGE_SIZE, PAGE_SIZE) == bytes(PAGE_SIZE)
    assert physmem.ram8[2 * PAGE_SIZE + 5] == 0xAA
    physmem.close()


def test_ram32_is_a_little_endian_view_of_the_same_bytes() -> None:
    physmem = PhysicalMemory(2)
    physmem.write_u32(PAGE_SIZE + 8, 0x11223344)
    assert physmem.read_phys(PAGE_SIZE + 8, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    assert int(physmem.ram32[(PAGE_SIZE + 8) // 4]) == 0x11223344
    physmem.frame_view(0)[0:4] = b"\x78\x56\x34\x12"
    assert physmem.read_u32(0) == 0x12345678 == int(physmem.ram32[0])
    physmem.close()


@pytest.mark.parametrize(
    "access",
    [
        lambda m: m.read_phys(2 * PAGE_SIZE - 2, 4),
        lambda m: m.write_phys(-1, b"x"),
        lambda m: m.read_u32(2),
        lambda m: m.write_u32(2 * PAGE_SIZE, 0),
        lambda m: m.write_u32(0, 1 << 32),
        lambda m: m.frame_view(2),
        lambda m: m.zero_frame(-1),
        lambda m: m.set_flags(2, PageFlag.DIRTY),
    ],
)
def test_out_of_range_physical_accesses_are_kernel_bugs(
    access: Callable[[PhysicalMemory], object],
) -> None:
    physmem = PhysicalMemory(2)
    with pytest.raises(KernelBug):
        access(physmem)
    physmem.close()


def test_page_flags_set_clear_and_test_independently() -> None:
    physmem = PhysicalMemory(4)
    physmem.set_flags(3, PageFlag.DIRTY | PageFlag.LRU)
    assert physmem.test_flags(3, PageFlag.DIRTY) and physmem.test_flags(3, PageFlag.LRU)
    physmem.clear_flags(3, PageFlag.DIRTY)
    assert not physmem.test_flags(3, PageFlag.DIRTY) and physmem.test_flags(3, PageFlag.LRU)
    assert not physmem.test_flags(2, PageFlag.LRU)
    assert int(physmem.flags[3]) == PageFlag.LRU
    physmem.close()


def test_close_releases_the_buffer_and_is_idempotent() -> None:
    physmem = PhysicalMemory(4)
    physmem.close()
    physmem.close()
    assert physmem.ram.closed
    assert len(physmem.ram32) == 0
