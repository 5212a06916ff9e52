"""The per-cpu page lists of mm/page_alloc.c (6.1): what a free and an allocation do."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from tests.kernel.conftest import MachineFactory

from vmsim_kernel.arch.x86.constants import Gfp, ZoneType
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.mm.page_alloc import (
    PageAllocator,
    WatermarkLevel,
    alloc_page,
    free_page,
    free_page_list,
)
from vmsim_kernel.mm.physmem import PhysicalMemory

NR_FRAMES = 64 << 8  # 64 MiB: Normal has about 12000 pages, batch 3


@pytest.fixture
def allocator() -> Iterator[PageAllocator]:
    allocator = PageAllocator(PhysicalMemory(NR_FRAMES), [(0, 1)], 128)
    cpu = [0]
    allocator.setup_per_cpu_pageset(2, lambda: cpu[0])
    allocator.cpu = cpu  # type: ignore[attr-defined]  # the tests switch CPUs through it
    yield allocator
    allocator.check_invariants()
    allocator.physmem.close()


def take(allocator: PageAllocator) -> int:
    pfn = allocator.get_page_from_freelist(Gfp.KERNEL, 0, WatermarkLevel.LOW)
    assert pfn is not None
    return pfn


def test_a_first_allocation_refills_the_list_with_a_batch_from_the_buddy_lists(
    allocator: PageAllocator,
) -> None:
    normal = allocator.zones[ZoneType.NORMAL]
    pcp = normal.per_cpu_pageset[0]
    free_before = normal.nr_free_pages
    first = take(allocator)
    assert normal.nr_free_pages == free_before - pcp.batch  # NR_FREE_PAGES drops by a batch
    assert pcp.count == pcp.batch - 1
    assert [take(allocator) for _ in range(pcp.batch - 1)] == list(
        range(first + 1, first + pcp.batch)
    )  # the rest of the batch, in the order the buddy lists gave it
    assert normal.nr_free_pages == free_before - pcp.batch


def test_a_freed_page_is_the_next_one_allocated_and_not_counted_free(
    allocator: PageAllocator,
) -> None:
    normal = allocator.zones[ZoneType.NORMAL]
    pfns = [take(allocator) for _ in range(5)]
    free_before = normal.nr_free_pages
    allocator.free_unref_page(pfns[2])
    assert normal.nr_free_pages == free_before  # on the list, not in MemFree
    assert allocator.nr_pcp_pages() == normal.per_cpu_pageset[0].count > 0
    assert take(allocator) == pfns[2]  # cache-hot first


def test_each_cpu_has_its_own_list(allocator: PageAllocator) -> None:
    pfn = take(allocator)
    allocator.cpu[0] = 1  # type: ignore[attr-defined]
    allocator.free_unref_page(pfn)
    normal = allocator.zones[ZoneType.NORMAL]
    assert pfn in normal.per_cpu_pageset[1].lists[0]
    assert pfn not in normal.per_cpu_pageset[0].lists[0]
    assert take(allocator) == pfn


def test_frees_above_high_give_the_coldest_pages_back_in_growing_batches(
    allocator: PageAllocator,
) -> None:
    normal = allocator.zones[ZoneType.NORMAL]
    pcp = normal.per_cpu_pageset[0]
    pfns = [take(allocator) for _ in range(pcp.high + 40)]
    for pfn in pfns[: pcp.high - 1 - pcp.count]:
        allocator.free_unref_page(pfn)
    assert pcp.count == pcp.high - 1
    free_before = normal.nr_free_pages
    allocator.free_unref_page(pfns[pcp.high])  # reaches high: a batch goes back
    assert pcp.count == pcp.high - pcp.batch
    assert normal.nr_free_pages == free_before + pcp.batch
    assert pcp.free_factor == 1
    allocator.free_unref_page(pfns[pcp.high + 1])
    allocator.free_unref_page(pfns[pcp.high + 2])
    allocator.free_unref_page(pfns[pcp.high + 3])  # high again: now two batches go
    assert pcp.count == pcp.high - 2 * pcp.batch
    take(allocator)
    assert pcp.free_factor == 1  # an allocation halves it


def test_kswapd_at_work_caps_the_list_at_four_batches(allocator: PageAllocator) -> None:
    normal = allocator.zones[ZoneType.NORMAL]
    pcp = normal.per_cpu_pageset[0]
    pfns = [take(allocator) for _ in range(50)]
    for pfn in pfns:
        allocator.free_unref_page(pfn, reclaim_active=True)
        assert pcp.count < pcp.batch << 2
    assert pcp.high > pcp.batch << 2


def test_drain_all_pages_empties_every_cpus_list(allocator: PageAllocator) -> None:
    pfns = [take(allocator) for _ in range(10)]
    allocator.cpu[0] = 1  # type: ignore[attr-defined]
    for pfn in pfns:
        allocator.free_unref_page(pfn)
    on_lists = allocator.nr_pcp_pages()
    free_before = allocator.nr_free_pages()
    assert allocator.drain_all_pages() == on_lists > 0
    assert allocator.nr_pcp_pages() == 0
    assert allocator.nr_free_pages() == free_before + on_lists


def test_freeing_a_page_that_is_on_a_list_is_a_double_free(allocator: PageAllocator) -> None:
    pfn = take(allocator)
    allocator.free_unref_page(pfn)
    with pytest.raises(KernelBug, match="double free"):
        allocator.free_unref_page(pfn)
    with pytest.raises(KernelBug, match="double free"):
        allocator.free_pages(pfn, 0)


# ---- free_unref_page_list: many pages at once ----------------------------------------------
def _state(allocator: PageAllocator) -> tuple[object, ...]:
    """Everything a free may change: lists in their order, counters, descriptors."""
    return (
        allocator.buddy_order.tobytes(),
        allocator.physmem.flags.tobytes(),
        allocator.physmem.pristine.tobytes(),
        [
            (
                zone.nr_free_pages,
                zone.nr_allocated_pages,
                [list(area.free_list) for area in zone.free_area],
                [
                    (pcp.count, pcp.free_factor, [list(pages) for pages in pcp.lists])
                    for pcp in zone.per_cpu_pageset
                ],
            )
            for zone in allocator.zones
        ],
    )


def _twin_allocators() -> tuple[PageAllocator, PageAllocator, list[int]]:
    """Two allocators in the same state, holding the same shuffled pages of both zones."""
    twins = []
    for _ in range(2):
        twin = PageAllocator(PhysicalMemory(NR_FRAMES), [(0, 1)], 128)
        twin.setup_per_cpu_pageset(2, lambda: 0)
        twins.append(twin)
    held: list[int] = []
    for twin in twins:
        taken = [
            twin.get_page_from_freelist(Gfp.KERNEL, 0, WatermarkLevel.NONE) for _ in range(3000)
        ]
        taken += [twin.get_page_from_freelist(Gfp.DMA, 0, WatermarkLevel.NONE) for _ in range(500)]
        held = [pfn for pfn in taken if pfn is not None]
        assert len(held) == 3500
    random.Random(7).shuffle(held)
    return twins[0], twins[1], held


def test_a_list_free_leaves_what_single_frees_in_its_order_leave() -> None:
    listed, single, held = _twin_allocators()
    try:
        assert _state(listed) == _state(single)
        freed = listed.free_unref_page_list(held[:2000], reclaim_classzone=ZoneType.DMA)
        for pfn in held[:2000]:
            zone = single.zone_of(pfn)
            single.free_unref_page(pfn, reclaim_active=zone.zone_type <= ZoneType.DMA)
        assert sum(freed) == 2000 and freed[ZoneType.DMA] > 0 and freed[ZoneType.NORMAL] > 0
        # Enough pages crossed high that batches went back to the buddy lists.
        assert listed.zones[ZoneType.NORMAL].per_cpu_pageset[0].free_factor > 0
        assert _state(listed) == _state(single)
        listed.check_invariants()
    finally:
        listed.physmem.close()
        single.physmem.close()


def test_a_page_listed_twice_is_a_double_free_and_nothing_is_freed(
    allocator: PageAllocator,
) -> None:
    pfns = [take(allocator) for _ in range(20)]
    before = _state(allocator)
    with pytest.raises(KernelBug, match=f"double free of pfn {pfns[3]}"):
        allocator.free_unref_page_list([*pfns[:10], pfns[3], *pfns[10:]])
    assert _state(allocator) == before
    allocator.free_unref_page_list(pfns)


def test_a_listed_page_inside_a_free_block_is_a_double_free(allocator: PageAllocator) -> None:
    normal = allocator.zones[ZoneType.NORMAL]
    block = allocator.allocate_pages(normal, 3)
    assert block is not None
    allocator.free_pages(block, 3)  # merges into a larger block: block + 5 is a tail of it
    before = _state(allocator)
    with pytest.raises(KernelBug, match=f"double free of pfn {block + 5} order 0"):
        allocator.free_unref_page_list([block + 5])
    with pytest.raises(KernelBug, match=f"double free of pfn {block + 5} order 0"):
        allocator.free_unref_page(block + 5)
    assert _state(allocator) == before


def test_a_listed_mapped_page_is_a_bad_page(allocator: PageAllocator) -> None:
    pfns = [take(allocator) for _ in range(4)]
    allocator.physmem.mapcount[pfns[2]] = 1
    with pytest.raises(KernelBug, match=f"freeing pfn {pfns[2]} order 0 while it is mapped"):
        allocator.free_unref_page_list(pfns)
    allocator.physmem.mapcount[pfns[2]] = 0
    allocator.free_unref_page_list(pfns)


def test_free_page_list_counts_and_frees_as_free_page_does(make_machine: MachineFactory) -> None:
    listed, single = make_machine(), make_machine()
    held = {}
    for machine in (listed, single):
        held[id(machine)] = [alloc_page(machine.kernel.pgdat, Gfp.KERNEL, None) for _ in range(700)]
    assert held[id(listed)] == held[id(single)]
    pfns = held[id(listed)][::-1]
    pgfree_before = listed.kernel.vm_events.pgfree
    free_page_list(listed.kernel.pgdat, pfns)
    for pfn in pfns:
        free_page(single.kernel.pgdat, pfn)
    assert listed.kernel.vm_events.pgfree == single.kernel.vm_events.pgfree == pgfree_before + 700
    assert _state(listed.kernel.allocator) == _state(single.kernel.allocator)
    listed.kernel.allocator.check_invariants()
    with pytest.raises(KernelBug, match="double free"):
        free_page_list(listed.kernel.pgdat, pfns[:1])
