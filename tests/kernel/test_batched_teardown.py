"""A zap of whole page tables at once, with one free_page_list per range, leaves the machine
exactly as the entry-by-entry zap with a free_page per frame (the code before it) did."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.kernel.conftest import ANON, RW, SHARED_ANON, pages
from tests.kernel.test_batched_first_touch import lists_of, machine_state, shuffled_allocator

from vmsim_kernel import PAGE_SIZE, Machine, Madvise, MapFlag, MiB
from vmsim_kernel.config import ReplacementPolicy
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.mm import page_alloc as page_alloc_module
from vmsim_kernel.mm import unmap as unmap_module
from vmsim_kernel.mm.page_alloc import PageAllocator, free_page
from vmsim_kernel.mm.policies import (
    ClockPolicy,
    FifoPolicy,
    FileLru,
    LruPolicy,
    PagePolicy,
    RandomPolicy,
    TwoListPolicy,
)
from vmsim_kernel.results import Event

P = PAGE_SIZE


def single_frees(pgdat: Any, pfns: list[int], *, charge: bool = True) -> None:
    """The free path before batching: free_page on each frame in turn."""
    for pfn in list(pfns):
        free_page(pgdat, pfn, charge=charge)


def teardown_scenario(machine: Machine) -> int:
    """Private pages written and read (zero page), swapped, shared with a child, locked,
    a shared mapping, a file mapped shared (written: dirty page cache) and private (copies
    on write), pages given MADV_FREE (lazyfree, on the file lists), whole page tables of
    plain private pages; then munmaps that cut page tables and an exit of the rest."""
    parent = machine.spawn("parent")
    fd = machine.open_file(parent, "teardown", int(OpenFlag.O_RDWR | OpenFlag.O_CREAT))
    machine.write_file(parent, fd, bytes(range(256)) * (64 * P // 256))
    machine.fsync(parent, fd)
    file_shared = machine.mmap_file(parent, fd, 0, 64 * P, RW, int(MapFlag.SHARED))
    machine.touch_many(parent, pages(file_shared, 32), True)
    machine.touch_many(parent, pages(file_shared + 32 * P, 32), False)
    file_private = machine.mmap_file(parent, fd, 0, 64 * P, RW, int(MapFlag.PRIVATE))
    machine.touch_many(parent, pages(file_private, 16), True)
    machine.touch_many(parent, pages(file_private + 16 * P, 48), False)
    lazy = machine.mmap(parent, 0, 128 * P, RW, ANON)
    machine.touch_many(parent, pages(lazy, 128), True)
    machine.madvise(parent, lazy, 96 * P, Madvise.FREE)
    machine.touch_many(parent, pages(lazy + 64 * P, 8), True)  # some written again
    big = machine.mmap(parent, 0, 6 * MiB, RW, ANON)
    machine.touch_many(parent, pages(big, 1536), True)
    machine.touch_many(parent, pages(big + 6 * MiB - 64 * P, 64), False)
    reads = machine.mmap(parent, 0, 64 * P, RW, ANON)
    machine.touch_many(parent, pages(reads, 64), False)  # zero-page PTEs only
    locked = machine.mmap(parent, 0, 32 * P, RW, ANON)
    machine.mlock(parent, locked, 32 * P)
    shared = machine.mmap(parent, 0, 32 * P, RW, SHARED_ANON)
    machine.touch_many(parent, pages(shared, 32), True)
    child = machine.fork(parent)
    machine.touch_many(child, pages(big, 100), True)  # copies: some pages mapped once again
    plain = machine.mmap(parent, 0x20000000, 8 * MiB, RW, ANON)  # two whole page tables
    machine.touch_many(parent, pages(plain, 2048), True)
    machine.munmap(parent, plain + 3 * P, 5 * MiB)  # from the middle of a page table on
    machine.munmap(parent, big + 3 * P, 2 * MiB)
    machine.munmap(parent, reads, 64 * P)
    machine.munmap(parent, lazy + 32 * P, 64 * P)
    machine.munmap(parent, file_shared + 16 * P, 32 * P)
    machine.munmap(parent, file_private, 32 * P)
    machine.munmap(child, big, 6 * MiB)
    machine.exit(parent)
    return child


@pytest.mark.parametrize(
    "policy",
    [ReplacementPolicy.LINUX, pytest.param(ReplacementPolicy.RANDOM, marks=pytest.mark.slow)],
)
def test_batched_zap_leaves_the_machine_as_single_frees_do(
    make_machine: Callable[..., Machine], monkeypatch: pytest.MonkeyPatch, policy: ReplacementPolicy
) -> None:
    states = []
    for batched in (True, False):
        machine = make_machine(ram_bytes=16 * MiB, swap_bytes=16 * MiB, policy=policy)
        events: list[Event] = []
        machine.add_event_listener(events.append)
        if batched:  # every drain of the per-cpu lists through _free_one_page_many
            monkeypatch.setattr(page_alloc_module, "_BULK_FREE_MIN_BLOCKS", 1)
        else:
            monkeypatch.setattr(
                unmap_module,
                "_zap_table",
                lambda kernel, mm, entries, used, first_va, first_word, batch: (
                    unmap_module._zap_entries(kernel, mm, entries, used, first_va, batch)
                ),
            )
            monkeypatch.setattr(unmap_module, "free_page_list", single_frees)
        try:
            child = teardown_scenario(machine)
        finally:
            monkeypatch.undo()
        state = machine_state(machine, child, events)
        state["free lists"] = lists_of(machine.kernel.allocator)
        state["file lru"] = machine.kernel.lruvec.file.snapshot()
        for report in ("zoneinfo", "buddyinfo"):
            state[report] = machine.report(report)
        state["last cost"] = machine.last_cost
        states.append(state)
    batched_state, single_state = states
    for name, got in batched_state.items():
        assert got == single_state[name], name
    assert batched_state["vmstat"]["pswpout"] > 0  # the scenario did swap
    assert batched_state["vmstat"]["pglazyfree"] > 0  # and gave pages MADV_FREE


# ---- buddy frees of a whole drain ------------------------------------------------------------
def freed_blocks(allocator: PageAllocator, seed: int, nr_blocks: int) -> list[tuple[int, int]]:
    """*nr_blocks* blocks handed out now (order 0 mostly, some larger, some neighbours of
    free blocks), checked and blanked as free_pages_prepare does, in a random freeing order."""
    rng = random.Random(seed)
    zones = [zone for zone in allocator.zones if not zone.is_empty]
    blocks = []
    for _ in range(nr_blocks):
        order = rng.choice([0, 0, 0, 0, 1, 2, 3])
        zone = rng.choice(zones)
        pfn = allocator.allocate_pages(zone, order)
        if pfn is not None:
            blocks.append((pfn, order))
    rng.shuffle(blocks)
    for pfn, order in blocks:
        allocator._free_pages_prepare(allocator.zone_of(pfn), pfn, order)
    return blocks


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), nr_blocks=st.integers(1, 1500))
def test_a_batch_of_buddy_frees_leaves_the_lists_single_frees_leave(
    seed: int, nr_blocks: int
) -> None:
    """Merges with blocks free before the batch and within it, up to order 10, and each
    new block placed in its list where the single frees put it."""
    allocators = [shuffled_allocator(seed), shuffled_allocator(seed)]
    batched, single = allocators
    blocks = freed_blocks(batched, seed, nr_blocks)
    assert freed_blocks(single, seed, nr_blocks) == blocks
    for zone in {id(z): z for z in (batched.zone_of(pfn) for pfn, _ in blocks)}.values():
        of_zone = [(pfn, order) for pfn, order in blocks if batched.zone_of(pfn) is zone]
        batched._free_one_page_many(
            zone,
            np.array([pfn for pfn, _ in of_zone], dtype=np.int64),
            np.array([order for _, order in of_zone], dtype=np.int64),
        )
        single_zone = single.zones[zone.zone_type]
        for pfn, order in of_zone:
            single._free_one_page(single_zone, pfn, order)
    assert lists_of(batched) == lists_of(single)
    assert np.array_equal(batched.buddy_order, single.buddy_order)
    assert np.array_equal(batched.physmem.flags, single.physmem.flags)
    assert [z.nr_free_pages for z in batched.zones] == [z.nr_free_pages for z in single.zones]
    batched.check_invariants()
    for allocator in allocators:
        allocator.physmem.close()


# ---- LRU removal of a run ---------------------------------------------------------------------
def stirred_policy(policy: PagePolicy, seed: int) -> PagePolicy:
    """*policy* with 200 pages, some scanned (second chances, activations, marks) and
    some accessed, so pages sit on both lists where there are two."""
    rng = random.Random(seed)
    for key in range(200):
        if isinstance(policy, TwoListPolicy) and rng.random() < 0.2:
            policy.insert_active(key)
        else:
            policy.insert(key)
    if isinstance(policy, FileLru):
        for key in rng.sample(range(200), 60):
            policy.mark_page_accessed(key)
    policy.access_many(np.array(rng.sample(range(200), 50), dtype=np.int64))
    for _ in range(30):
        policy.choose_victim(lambda key: rng.random() < 0.5)
    return policy


@pytest.mark.parametrize(
    "make",
    [TwoListPolicy, FileLru, FifoPolicy, LruPolicy, ClockPolicy, lambda: RandomPolicy(3)],
    ids=["linux", "file", "fifo", "lru", "clock", "random"],
)
@pytest.mark.parametrize("on_inactive_only", [False, True])
def test_removing_a_run_leaves_the_lists_removing_each_page_leaves(
    make: Callable[[], PagePolicy], on_inactive_only: bool
) -> None:
    batched, single = stirred_policy(make(), 5), stirred_policy(make(), 5)
    resident = [key for key in range(200) if key in batched]
    if on_inactive_only and isinstance(batched, TwoListPolicy):
        resident = list(batched.inactive)  # the fast path: the whole run on one list
    keys = random.Random(9).sample(resident, len(resident) // 2)
    batched.remove_many(keys)
    for key in keys:
        single.remove(key)
    assert batched.snapshot() == single.snapshot()
    assert len(batched) == len(single)
    if isinstance(batched, TwoListPolicy) and isinstance(single, TwoListPolicy):
        assert batched.marked == single.marked
    if isinstance(batched, FileLru) and isinstance(single, FileLru):
        assert batched.workingset == single.workingset
    with pytest.raises(KernelBug):
        batched.remove_many([10_000])  # never resident


def test_a_run_with_a_page_on_no_list_is_a_kernel_bug_naming_it() -> None:
    policy = TwoListPolicy()
    policy.insert_many([1, 2, 3])
    with pytest.raises(KernelBug, match="key 7 is on no LRU list"):
        policy.remove_many([1, 7, 2])


def test_a_run_in_pfn_order_with_a_page_twice_is_a_double_free() -> None:
    """The run order that skips the duplicate search (strictly increasing or decreasing)
    does not hide a page listed twice in a row."""
    allocator = shuffled_allocator(3, pcp=True)
    zone = next(zone for zone in allocator.zones if not zone.is_empty)
    first = allocator.allocate_pages(zone, 2)
    assert first is not None
    for run in ([first, first + 1, first + 1], [first + 2, first + 1, first + 1]):
        with pytest.raises(KernelBug, match=f"double free of pfn {first + 1}"):
            allocator.free_unref_page_list(run)
    allocator.physmem.close()


def test_a_run_listing_a_page_twice_is_a_kernel_bug_naming_it() -> None:
    policy = FifoPolicy()
    policy.insert_many([1, 2, 3])
    with pytest.raises(KernelBug, match="fifo: key 2 is not resident"):
        policy.remove_many([1, 2, 2])
