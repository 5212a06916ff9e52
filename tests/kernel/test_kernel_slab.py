"""kmalloc/kfree: size classes, slabs, large kmallocs, GFP rules, kfree checks and /proc/slabinfo."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from tests.kernel.conftest import free_with_pcp

from vmsim_kernel import InvalidArgument, Machine, MiB, OutOfMemory, PermissionDenied
from vmsim_kernel.arch.x86.constants import PAGE_SIZE, Gfp, ZoneType
from vmsim_kernel.mm.highmem import KernelOops, kernel_read, kernel_write, pa, va
from vmsim_kernel.mm.physmem import PageFlag
from vmsim_kernel.mm.slab import KMALLOC_MAX_SIZE, ZERO_SIZE_PTR, SlabAllocator, calculate_order

MachineFactory = Callable[..., Machine]  # the make_machine fixture of conftest.py


@pytest.fixture
def machine64(make_machine: MachineFactory) -> Machine:
    """64 MiB: a NORMAL zone of 48 MiB, so GFP_KERNEL does not fall back to DMA."""
    return make_machine(ram_bytes=64 * MiB)


def free_pages(machine: Machine) -> dict[ZoneType, int]:
    return {zone.zone_type: free_with_pcp(zone) for zone in machine.kernel.allocator.zones}


def test_first_kmalloc_takes_one_normal_page_and_kfree_gives_it_back(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    before = free_pages(machine64)
    addr = slab.kmalloc(100)
    after = free_pages(machine64)
    assert before[ZoneType.NORMAL] - after[ZoneType.NORMAL] == 1
    assert before[ZoneType.DMA] == after[ZoneType.DMA]
    pfn = pa(addr, machine64.kernel.nr_lowmem_frames) // PAGE_SIZE
    assert machine64.kernel.allocator.zone_of(pfn).zone_type is ZoneType.NORMAL
    assert machine64.kernel.physmem.test_flags(pfn, PageFlag.SLAB)
    assert slab.nr_slab_pages == 1
    slab.kfree(addr)
    assert free_pages(machine64) == before
    assert slab.nr_slab_pages == 0
    machine64.kernel.allocator.check_invariants()


@pytest.mark.parametrize(
    ("size", "cache"),
    [
        (1, "kmalloc-8"),
        (8, "kmalloc-8"),
        (9, "kmalloc-16"),
        (65, "kmalloc-96"),
        (97, "kmalloc-128"),
        (129, "kmalloc-192"),
        (193, "kmalloc-256"),
        (257, "kmalloc-512"),
        (1000, "kmalloc-1k"),
        (1025, "kmalloc-2k"),
        (4096, "kmalloc-4k"),
        (8192, "kmalloc-8k"),
    ],
)
def test_kmalloc_uses_the_smallest_linux_size_class_that_fits(
    machine64: Machine, size: int, cache: str
) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    addr = slab.kmalloc(size)
    [allocation] = slab.allocations()
    assert allocation.addr == addr and allocation.cache == cache and allocation.size == size
    assert slab.ksize(addr) >= size


def test_slab_orders_follow_slub_for_two_cpus() -> None:
    orders = {size: calculate_order(size, 2) for size in (8, 256, 512, 1024, 2048, 4096, 8192)}
    assert orders == {8: 0, 256: 0, 512: 1, 1024: 2, 2048: 3, 4096: 3, 8192: 3}


def test_slab_orders_take_slubs_waste_test_with_one_cpu() -> None:
    """416-byte objects (inode_cache): order 0 holds the 8 a CPU wants but leaves 352 bytes,
    over 1/16 of the page; order 1 holds 19 and leaves 288, under 1/16 of 8 KiB."""
    assert calculate_order(416, 1) == 1
    assert calculate_order(488, 1) == 0  # 8 objects, 192 bytes left: within 1/16
    assert calculate_order(848, 1) == 2  # order 1 leaves 560 > 512; order 2 leaves 272
    assert calculate_order(8192, 1) == 3  # at most 4 fit in the costly order: 4 it is


def test_objects_share_a_slab_until_it_is_full(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    addrs = [slab.kmalloc(128) for _ in range(33)]
    assert [b - a for a, b in itertools.pairwise(addrs[:32])] == [128] * 31  # one slab
    assert addrs[0] % PAGE_SIZE == 0
    assert slab.nr_slab_pages == 2
    [row] = [row for row in slab.caches() if row.name == "kmalloc-128"]
    assert (row.active_objs, row.num_objs, row.objperslab, row.num_slabs) == (33, 64, 32, 2)


def test_a_freed_object_is_the_next_one_handed_out(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    first, second, _third = (slab.kmalloc(64) for _ in range(3))
    slab.kfree(second)
    assert slab.kmalloc(64) == second
    assert first != second


def test_large_kmalloc_is_a_buddy_block_flagged_kmalloc(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    before = free_pages(machine64)
    addr = slab.kmalloc(20000)  # 5 pages -> order 3
    assert before[ZoneType.NORMAL] - free_pages(machine64)[ZoneType.NORMAL] == 8
    pfn = pa(addr, machine64.kernel.nr_lowmem_frames) // PAGE_SIZE
    assert pfn % 8 == 0
    assert all(
        machine64.kernel.physmem.test_flags(p, PageFlag.KMALLOC) for p in range(pfn, pfn + 8)
    )
    assert slab.nr_large_kmalloc_pages == 8 and slab.nr_slab_pages == 0
    assert slab.ksize(addr) == 8 * PAGE_SIZE
    slab.kfree(addr)
    assert free_pages(machine64) == before
    assert not machine64.kernel.physmem.test_flags(pfn, PageFlag.KMALLOC)
    machine64.kernel.allocator.check_invariants()


def test_gfp_dma_objects_come_from_the_dma_zone_and_dma_caches(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    addr = slab.kmalloc(64, Gfp.DMA)
    assert pa(addr, machine64.kernel.nr_lowmem_frames) < 16 * MiB
    assert slab.allocations()[0].cache == "dma-kmalloc-64"
    large = slab.kmalloc(16 * 1024, Gfp.DMA)
    assert pa(large, machine64.kernel.nr_lowmem_frames) + 16 * 1024 <= 16 * MiB


@pytest.mark.parametrize(
    ("size", "gfp"),
    [(-1, Gfp.KERNEL), (KMALLOC_MAX_SIZE + 1, Gfp.KERNEL), (8, Gfp.HIGHUSER)],
)
def test_kmalloc_refuses_impossible_requests(machine64: Machine, size: int, gfp: Gfp) -> None:
    with pytest.raises(InvalidArgument):
        SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus).kmalloc(size, gfp)


def test_kzalloc_clears_what_a_previous_object_left(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    keep = slab.kmalloc(32)  # keeps the slab alive across the free
    addr = slab.kmalloc(32)
    kernel_write(machine64.kernel.init_mm, addr, b"\xff" * 32)
    slab.kfree(addr)
    assert slab.kmalloc(32) == addr
    assert kernel_read(machine64.kernel.init_mm, addr, 32) == b"\xff" * 32  # kmalloc does not clear
    slab.kfree(addr)
    assert slab.kmalloc(32, zero=True) == addr
    assert kernel_read(machine64.kernel.init_mm, addr, 32) == bytes(32)
    slab.kfree(keep)


# ---- kfree checks ----------------------------------------------------------------------------------
def test_double_kfree_is_refused(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    keep = slab.kmalloc(64)
    addr = slab.kmalloc(64)
    slab.kfree(addr)
    with pytest.raises(InvalidArgument, match="double free"):
        slab.kfree(addr)
    slab.kfree(keep)
    with pytest.raises(InvalidArgument, match="never allocated, or freed already"):
        slab.kfree(keep)


def test_kfree_of_an_interior_pointer_is_refused(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    addr = slab.kmalloc(64)
    with pytest.raises(InvalidArgument, match="interior pointer"):
        slab.kfree(addr + 8)
    large = slab.kmalloc(64 * 1024)
    with pytest.raises(InvalidArgument, match="interior pointer"):
        slab.kfree(large + 3 * PAGE_SIZE)
    slab.check_invariants()


def test_kfree_of_an_address_kmalloc_never_returned_is_refused(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    with pytest.raises(InvalidArgument, match="not a direct-map address"):
        slab.kfree(0x08048000)
    with pytest.raises(InvalidArgument, match="not a kmalloc object"):
        slab.kfree(va(0x200000, machine64.kernel.nr_lowmem_frames))


def test_kfree_of_null_does_nothing(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    kept = slab.kmalloc(64)
    before = free_pages(machine64)
    slab.kfree(0)  # kfree(NULL) is a no-op, as in mm/slab_common.c
    assert [a.addr for a in slab.allocations()] == [kept]
    assert free_pages(machine64) == before
    slab.check_invariants()


def test_an_owner_cannot_kfree_another_owners_object(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    addr = slab.kmalloc(64, owner=1)
    with pytest.raises(PermissionDenied):
        slab.kfree(addr, owner=2)
    slab.kfree(addr, owner=1)


def test_release_owner_frees_everything_that_owner_holds(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    before = free_pages(machine64)
    for size in (8, 8, 100, 700, 5000, 70000):
        slab.kmalloc(size, owner=7)
    slab.kmalloc(16, Gfp.DMA, owner=7)
    other = slab.kmalloc(100, owner=8)
    assert slab.release_owner(7) == 7
    assert [a.addr for a in slab.allocations()] == [other]
    assert slab.allocations(7) == []
    slab.kfree(other)
    assert free_pages(machine64) == before
    assert slab.nr_slab_pages == slab.nr_large_kmalloc_pages == 0
    machine64.kernel.allocator.check_invariants()


# ---- kmem_cache_alloc_bulk -------------------------------------------------------------------------
def test_alloc_bulk_gives_the_objects_and_pages_as_many_single_allocations_would(
    make_machine: MachineFactory,
) -> None:
    """Boot takes tens of thousands of objects in bulk: it must leave the slabs, the buddy
    lists and the per-cpu lists exactly as one kmem_cache_alloc per object would."""
    one_by_one, in_bulk = (make_machine(ram_bytes=64 * MiB) for _ in range(2))
    singles = SlabAllocator(one_by_one.kernel.init_mm, one_by_one.config.nr_cpus)
    bulk = SlabAllocator(in_bulk.kernel.init_mm, in_bulk.config.nr_cpus)
    for slab in (singles, bulk):
        slab.kmem_cache_create("dentry", 128, reclaimable=True)
        slab.kmem_cache_create("task_struct", 2944)
    # a partial slab first, so the bulk call starts inside it
    partial = [singles.kmem_cache_alloc("dentry", owner=3) for _ in range(5)]
    assert bulk.kmem_cache_alloc_bulk("dentry", 5, owner=3) == partial
    expected = {
        (name, count): [singles.kmem_cache_alloc(name, owner=3) for _ in range(count)]
        for name, count in (("dentry", 700), ("task_struct", 9))
    }
    expected["kmalloc-64", 300] = [singles.kmalloc(64, owner=3) for _ in range(300)]
    for (name, count), addrs in expected.items():
        assert bulk.kmem_cache_alloc_bulk(name, count, owner=3) == addrs, name
    assert bulk.slabinfo() == singles.slabinfo()
    assert in_bulk.report("buddyinfo") == one_by_one.report("buddyinfo")
    assert in_bulk.report("zoneinfo") == one_by_one.report("zoneinfo")
    assert bulk.allocations(3) == singles.allocations(3)
    assert bulk.nr_slab_pages == singles.nr_slab_pages > 0
    assert bulk.nr_slab_reclaimable_pages == singles.nr_slab_reclaimable_pages > 0
    bulk.check_invariants()
    in_bulk.kernel.allocator.check_invariants()


def test_objects_taken_in_bulk_are_freed_one_by_one_and_their_slabs_go_back(
    machine64: Machine,
) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    before = free_pages(machine64)
    slab.kmem_cache_create("inode_cache", 416, reclaimable=True)
    addrs = slab.kmem_cache_alloc_bulk("inode_cache", 50, owner=4)
    assert len(set(addrs)) == 50
    assert {slab.ksize(addr) for addr in addrs} == {416}
    with pytest.raises(PermissionDenied):
        slab.kfree(addrs[0], owner=5)
    for addr in addrs[:10]:
        slab.kfree(addr, owner=4)
    with pytest.raises(InvalidArgument, match="double free"):
        slab.kfree(addrs[0])
    assert slab.release_owner(4) == 40
    assert free_pages(machine64) == before
    assert slab.nr_slab_pages == slab.nr_slab_reclaimable_pages == 0
    slab.check_invariants()


def test_alloc_bulk_that_runs_out_of_memory_gives_back_what_it_took(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=16 * MiB)
    slab = SlabAllocator(machine.kernel.init_mm, machine.config.nr_cpus)
    slab.kmem_cache_create("dentry", 128)
    kept = slab.kmem_cache_alloc_bulk("dentry", 3)
    before = free_pages(machine)
    with pytest.raises(OutOfMemory):
        slab.kmem_cache_alloc_bulk("dentry", 32 * 16 * 256, owner=9)  # 16 MiB of slabs
    assert free_pages(machine) == before
    assert slab.allocations(9) == [] and [a.addr for a in slab.allocations()] == sorted(kept)
    assert slab.kmem_cache_alloc("dentry") not in kept
    slab.check_invariants()
    machine.kernel.allocator.check_invariants()


def test_alloc_bulk_refuses_an_unknown_cache_or_a_negative_count(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    with pytest.raises(InvalidArgument, match="no cache named 'dentry'"):
        slab.kmem_cache_alloc_bulk("dentry", 1)
    with pytest.raises(InvalidArgument, match="-1"):
        slab.kmem_cache_alloc_bulk("kmalloc-64", -1)
    assert slab.kmem_cache_alloc_bulk("kmalloc-64", 0) == []
    assert slab.allocations() == [] and slab.nr_slab_pages == 0


# ---- GFP rules ---------------------------------------------------------------------------------------
def test_gfp_atomic_dips_below_min_but_never_reclaims(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=32 * MiB)
    slab = SlabAllocator(machine.kernel.init_mm, machine.config.nr_cpus)
    events = machine.kernel.vm_events
    with pytest.raises(OutOfMemory):
        while True:
            slab.kmalloc(4096, Gfp.ATOMIC)
    assert events.allocstall_normal == 0 and events.pgscan_direct == 0
    normal = machine.kernel.allocator.zones[ZoneType.NORMAL]
    assert normal.nr_free_pages < normal.watermark_min
    # GFP_KERNEL may not go below min: it tries direct reclaim (nothing to reclaim) and fails.
    with pytest.raises(OutOfMemory):
        slab.kmalloc(4096, Gfp.KERNEL)
    assert events.allocstall_normal > 0
    slab.check_invariants()
    machine.kernel.allocator.check_invariants()


# ---- /proc/slabinfo ------------------------------------------------------------------------------------
def test_slabinfo_has_the_version_2_1_header_and_one_row_per_cache(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    for _ in range(3):
        slab.kmalloc(200)
    lines = slab.slabinfo().splitlines()
    assert lines[0] == "slabinfo - version: 2.1"
    assert lines[1] == (
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
        " : tunables <limit> <batchcount> <sharedfactor>"
        " : slabdata <active_slabs> <num_slabs> <sharedavail>"
    )
    rows = lines[2:]
    assert len(rows) == 26
    assert rows[0].startswith("dma-kmalloc-8k ") and rows[-1].startswith("kmalloc-8 ")
    pattern = re.compile(
        r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) : tunables\s+0\s+0\s+0"
        r" : slabdata\s+(\d+)\s+(\d+)\s+0$"
    )
    parsed = {}
    for row in rows:
        match = pattern.match(row)
        assert match, row
        parsed[match[1]] = tuple(int(match[i]) for i in range(2, 9))
    assert parsed["kmalloc-256"] == (3, 16, 256, 16, 1, 1, 1)
    assert parsed["kmalloc-8k"] == (0, 0, 8192, 4, 8, 0, 0)
    assert parsed["kmalloc-96"][2:5] == (96, 42, 1)


def test_kmalloc_0_returns_zero_size_ptr_which_faults_and_kfree_accepts(machine64: Machine) -> None:
    slab = SlabAllocator(machine64.kernel.init_mm, machine64.config.nr_cpus)
    assert slab.kmalloc(0) == ZERO_SIZE_PTR == 16
    assert slab.allocations() == []
    slab.kfree(ZERO_SIZE_PTR)  # a no-op, as ZERO_OR_NULL_PTR
    with pytest.raises(KernelOops):
        kernel_read(machine64.kernel.init_mm, ZERO_SIZE_PTR, 1)
