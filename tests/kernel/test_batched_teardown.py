"""A zap of whole page tables at once, with one free_page_list per range, leaves the machine
exactly as the entry-by-entry zap with a free_page per frame (the code before it) did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.kernel.conftest import ANON, RW, SHARED_ANON, pages
from tests.kernel.test_batched_first_touch import lists_of, machine_state

from vmsim_kernel import PAGE_SIZE, Machine, MiB
from vmsim_kernel.config import ReplacementPolicy
from vmsim_kernel.mm import unmap as unmap_module
from vmsim_kernel.mm.page_alloc import free_page
from vmsim_kernel.results import Event

P = PAGE_SIZE


def single_frees(pgdat: Any, pfns: list[int], *, charge: bool = True) -> None:
    """The free path before batching: free_page on each frame in turn."""
    for pfn in list(pfns):
        free_page(pgdat, pfn, charge=charge)


def teardown_scenario(machine: Machine) -> int:
    """Private pages written and read (zero page), swapped, shared with a child, locked,
    a shared mapping, whole page tables of plain private pages; then munmaps that cut
    page tables and an exit of the rest."""
    parent = machine.spawn("parent")
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
        if not batched:
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
        state["last cost"] = machine.last_cost
        states.append(state)
    batched_state, single_state = states
    for name, got in batched_state.items():
        assert got == single_state[name], name
    assert batched_state["vmstat"]["pswpout"] > 0  # the scenario did swap
