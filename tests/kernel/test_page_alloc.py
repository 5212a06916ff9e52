"""Zones and the buddy allocator: splitting, merging, fallback, watermarks, reports."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsim_kernel.constants import MAX_ORDER, Gfp, MiB, ZoneType
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.page_alloc import PageAllocator, WatermarkLevel
from vmsim_kernel.physmem import PageFlag, PhysicalMemory


def allocator(ram: int, reserved: list[tuple[int, int]] | None = None) -> PageAllocator:
    return PageAllocator(
        PhysicalMemory(ram // 4096), reserved if reserved is not None else [(0, 1)]
    )


def free_area_counts(pa: PageAllocator) -> list[tuple[int, ...]]:
    return [tuple(area.nr_free for area in zone.free_area) for zone in pa.zones]


@pytest.mark.parametrize(
    ("ram", "sizes"),
    [
        (4 * MiB, (1024, 0, 0)),
        (64 * MiB, (4096, 12288, 0)),
        (1024 * MiB, (4096, 225280, 32768)),
    ],
)
def test_zones_follow_the_dma_normal_highmem_boundaries(
    ram: int, sizes: tuple[int, int, int]
) -> None:
    pa = allocator(ram)
    assert tuple(zone.present_pages for zone in pa.zones) == sizes
    assert [zone.name for zone in pa.zones] == ["DMA", "Normal", "HighMem"]
    assert pa.nr_free_pages() == pa.nr_managed_pages() == ram // 4096 - 1


def test_a_4_gib_machine_boots_with_few_free_blocks() -> None:
    pa = allocator(4096 * MiB)
    blocks = sum(sum(counts) for counts in free_area_counts(pa))
    assert blocks < 1100  # maximal order-10 blocks, not a million single pages
    assert pa.zones[ZoneType.HIGHMEM].free_area[10].nr_free == (4096 - 896) * 256 // 1024


def test_allocating_one_page_splits_an_order_10_block() -> None:
    pa = allocator(8 * MiB, reserved=[])
    before = free_area_counts(pa)[0]
    pfn = pa.allocate_pages(pa.zones[0], 0)
    assert pfn is not None
    after = free_area_counts(pa)[0]
    assert after[10] == before[10] - 1
    assert after[:10] == tuple(before[o] + 1 for o in range(10))


def test_free_merges_buddy_when_buddy_is_free() -> None:
    pa = allocator(8 * MiB, reserved=[])
    initial = free_area_counts(pa)
    a = pa.allocate_pages(pa.zones[0], 0)
    b = pa.allocate_pages(pa.zones[0], 0)
    assert a is not None and b is not None and a ^ b == 1
    pa.free_pages(a, 0)
    assert pa.buddy_order[a] == 0
    pa.free_pages(b, 0)
    assert free_area_counts(pa) == initial


def test_random_allocations_freed_return_to_the_initial_state() -> None:
    pa = allocator(16 * MiB)
    initial = free_area_counts(pa)
    rng = random.Random(42)
    held: list[tuple[int, int]] = []
    for _ in range(2000):
        if held and rng.random() < 0.4:
            pfn, order = held.pop(rng.randrange(len(held)))
            pa.free_pages(pfn, order)
        else:
            order = rng.choice([0, 0, 0, 1, 2, 3, 5])
            pfn = pa.allocate_pages(pa.zones[rng.randrange(2)], order)
            if pfn is not None:
                held.append((pfn, order))
        if rng.random() < 0.05:
            pa.check_invariants()
    for pfn, order in held:
        pa.free_pages(pfn, order)
    pa.check_invariants()
    assert free_area_counts(pa) == initial


def test_double_free_and_bad_frees_are_kernel_bugs() -> None:
    pa = allocator(8 * MiB)
    pfn = pa.allocate_pages(pa.zones[0], 1)
    assert pfn is not None
    pa.free_pages(pfn, 1)
    with pytest.raises(KernelBug, match="double free"):
        pa.free_pages(pfn, 0)
    with pytest.raises(KernelBug, match="reserved"):
        pa.free_pages(0, 0)
    with pytest.raises(KernelBug, match="unaligned"):
        pa.free_pages(3, 1)


def test_zone_fallback_follows_the_gfp_mask() -> None:
    pa = allocator(1024 * MiB)
    user = pa.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
    kernel = pa.get_page_from_freelist(Gfp.KERNEL, 0, WatermarkLevel.LOW)
    dma = pa.get_page_from_freelist(Gfp.DMA, 0, WatermarkLevel.LOW)
    assert pa.zone_of(user).zone_type is ZoneType.HIGHMEM  # type: ignore[arg-type]
    assert pa.zone_of(kernel).zone_type is ZoneType.NORMAL  # type: ignore[arg-type]
    assert pa.zone_of(dma).zone_type is ZoneType.DMA  # type: ignore[arg-type]
    high = pa.zones[ZoneType.HIGHMEM]
    while high.watermark_ok(0, WatermarkLevel.LOW):
        assert pa.allocate_pages(high, 0) is not None
    fallback = pa.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
    assert pa.zone_of(fallback).zone_type is ZoneType.NORMAL  # type: ignore[arg-type]


def test_watermarks_match_linux_for_a_1_gib_machine() -> None:
    pa = allocator(1024 * MiB)
    lowmem = sum(z.managed_pages for z in pa.zones[:2])
    assert pa.min_free_kbytes == int(math.sqrt(lowmem * 4 * 16))
    normal = pa.zones[ZoneType.NORMAL]
    expected_min = (pa.min_free_kbytes >> 2) * normal.managed_pages // lowmem
    delta = max(expected_min // 4, normal.managed_pages * 10 // 10000)
    assert (normal.watermark_min, normal.watermark_low, normal.watermark_high) == (
        expected_min,
        expected_min + delta,
        expected_min + 2 * delta,
    )
    high = pa.zones[ZoneType.HIGHMEM]
    assert high.watermark_min == 32  # clamp(managed / 1024, 32, 128)
    assert all(z.watermark_min < z.watermark_low < z.watermark_high for z in pa.zones)


def test_atomic_allocations_may_dip_below_the_watermark() -> None:
    pa = allocator(64 * MiB)
    zone = pa.zones[ZoneType.NORMAL]
    while zone.watermark_ok(0, WatermarkLevel.MIN):
        pa.allocate_pages(zone, 0)
    assert not zone.watermark_ok(0, WatermarkLevel.MIN)
    assert zone.watermark_ok(0, WatermarkLevel.MIN, harder=True)


def test_buddyinfo_prints_eleven_columns_per_zone() -> None:
    text = allocator(64 * MiB).buddyinfo()
    lines = text.splitlines()
    assert lines[0].startswith("Node 0, zone      DMA ")
    assert lines[1].startswith("Node 0, zone   Normal ")
    assert all(len(line.split()) == 4 + MAX_ORDER for line in lines)


def test_invariants_catch_corruption() -> None:
    pa = allocator(8 * MiB)
    pa.check_invariants()
    zone = pa.zones[0]
    zone.nr_free_pages += 1
    with pytest.raises(KernelBug):
        pa.check_invariants()


def test_physical_memory_round_trips_bytes_across_frames() -> None:
    physmem = PhysicalMemory(16)
    physmem.write_phys(4090, b"straddle")
    assert physmem.read_phys(4090, 8) == b"straddle"
    physmem.write_u32(8192, 0x11223344)
    assert physmem.read_phys(8192, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    assert int(physmem.ram32[8192 // 4]) == 0x11223344
    physmem.zero_frame(1)
    assert physmem.read_phys(4090, 8) == b"stradd\0\0"
    physmem.set_flags(3, PageFlag.DIRTY | PageFlag.LRU)
    assert physmem.test_flags(3, PageFlag.DIRTY)
    physmem.clear_flags(3, PageFlag.DIRTY)
    assert not physmem.test_flags(3, PageFlag.DIRTY) and physmem.test_flags(3, PageFlag.LRU)
    with pytest.raises(KernelBug):
        physmem.read_phys(16 * 4096 - 2, 4)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 1000)), max_size=80))
def test_any_sequence_keeps_the_free_lists_consistent(steps: list[tuple[bool, int, int]]) -> None:
    pa = allocator(8 * MiB)
    held: list[tuple[int, int]] = []
    for allocate, order, pick in steps:
        if allocate or not held:
            pfn = pa.allocate_pages(pa.zones[0], order)
            if pfn is not None:
                held.append((pfn, order))
        else:
            pa.free_pages(*held.pop(pick % len(held)))
        pa.check_invariants()
