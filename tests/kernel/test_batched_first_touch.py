"""Batched first touches, bulk allocation and batched reclaim give exactly what the
single-page paths give."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.kernel.conftest import ANON, RW, pages

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_SHARED,
    PAGE_SIZE,
    Machine,
    MiB,
)
from vmsim_kernel.arch.x86.constants import Gfp
from vmsim_kernel.mm import memory as memory_module
from vmsim_kernel.mm import vmscan
from vmsim_kernel.mm.page_alloc import PageAllocator, WatermarkLevel
from vmsim_kernel.mm.physmem import PhysicalMemory
from vmsim_kernel.results import Event


# ---- bulk allocation ------------------------------------------------------------------------
def shuffled_allocator(seed: int, nr_frames: int = 4096, *, pcp: bool = False) -> PageAllocator:
    """An allocator whose free lists were stirred by random allocations and frees; with
    *pcp*, through per-cpu lists (the frees of single pages through them too)."""
    allocator = PageAllocator(PhysicalMemory(nr_frames), [(0, 1)], 128)
    if pcp:
        allocator.setup_per_cpu_pageset(1, lambda: 0)
    rng = random.Random(seed)
    held: list[tuple[int, int]] = []
    for _ in range(300):
        if held and rng.random() < 0.4:
            pfn, order = held.pop(rng.randrange(len(held)))
            allocator.free_unref_page(pfn, order)
            continue
        if pcp and rng.random() < 0.3:
            pfn = allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
            if pfn is not None:
                held.append((pfn, 0))
            continue
        order = rng.choice([0, 0, 0, 1, 2, 3, 5])
        zone = allocator.zones[rng.randrange(len(allocator.zones))]
        if zone.is_empty:
            continue
        pfn = allocator.allocate_pages(zone, order)
        if pfn is not None:
            held.append((pfn, order))
    return allocator


def lists_of(allocator: PageAllocator) -> list[list[list[int]]]:
    """The buddy lists and every CPU's per-cpu lists, in order."""
    return [
        [list(area.free_list) for area in zone.free_area]
        + [list(pages) for pcp in zone.per_cpu_pageset for pages in pcp.lists]
        for zone in allocator.zones
    ]


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nr_pages=st.integers(0, 20_000), pcp=st.booleans())
def test_a_bulk_allocation_takes_the_frames_single_allocations_would(
    seed: int, nr_pages: int, pcp: bool
) -> None:
    """Per-cpu lists included: the list first, then refills of a batch, and a refill that
    takes the zone to its mark strands all but its first page on the list."""
    # 64 MiB with per-cpu lists: Normal's batch is 3, so refills and stranded pages occur.
    nr_frames = 16384 if pcp else 4096
    bulk = shuffled_allocator(seed, nr_frames, pcp=pcp)
    single = shuffled_allocator(seed, nr_frames, pcp=pcp)
    got = [
        (zone.zone_type, pfns.tolist())
        for zone, pfns in bulk.get_pages_bulk_from_freelist(
            Gfp.HIGHUSER, nr_pages, WatermarkLevel.LOW
        )
    ]
    expected: list[tuple[Any, list[int]]] = []
    for _ in range(nr_pages):
        pfn = single.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
        if pfn is None:
            break
        zone_type = single.zone_of(pfn).zone_type
        if not expected or expected[-1][0] != zone_type:
            expected.append((zone_type, []))
        expected[-1][1].append(pfn)
    assert got == expected
    assert lists_of(bulk) == lists_of(single)
    assert np.array_equal(bulk.buddy_order, single.buddy_order)
    assert np.array_equal(bulk.physmem.flags, single.physmem.flags)
    assert bulk.bulk_pages_allowed(Gfp.HIGHUSER, WatermarkLevel.LOW) == single.bulk_pages_allowed(
        Gfp.HIGHUSER, WatermarkLevel.LOW
    )
    bulk.check_invariants()
    bulk.physmem.close()
    single.physmem.close()


@pytest.mark.parametrize("pcp", [False, True])
def test_a_bulk_allocation_stops_at_the_watermark_the_single_path_stops_at(pcp: bool) -> None:
    allocator = shuffled_allocator(7, 16384 if pcp else 4096, pcp=pcp)
    allowed = allocator.bulk_pages_allowed(Gfp.HIGHUSER, WatermarkLevel.LOW)
    taken = allocator.get_pages_bulk_from_freelist(Gfp.HIGHUSER, allowed + 100, WatermarkLevel.LOW)
    assert sum(len(pfns) for _, pfns in taken) == allowed
    assert allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW) is None
    assert allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.MIN) is not None
    allocator.physmem.close()


# ---- frames the host never handed out --------------------------------------------------------
def test_only_frames_never_used_since_boot_skip_their_clearing() -> None:
    physmem = PhysicalMemory(64)
    allocator = PageAllocator(physmem, [(0, 1)], 128)
    zone = next(z for z in allocator.zones if not z.is_empty)
    pfn = allocator.allocate_pages(zone, 0)
    assert pfn is not None and physmem.pristine[pfn]
    assert physmem.zero_user_frame(pfn) is False  # fresh host memory: nothing to clear
    physmem.write_phys(pfn * PAGE_SIZE, b"secret")
    allocator.free_pages(pfn, 0)
    again = allocator.allocate_pages(zone, 0)
    assert again == pfn and not physmem.pristine[pfn]
    assert physmem.zero_user_frames(np.array([pfn], dtype=np.int64)) == 1
    assert physmem.read_phys(pfn * PAGE_SIZE, PAGE_SIZE) == bytes(PAGE_SIZE)
    physmem.close()


def test_a_kernel_write_to_a_free_frame_is_cleared_before_a_process_sees_it(
    make_machine: Callable[..., Machine],
) -> None:
    machine = make_machine(ram_bytes=16 * MiB)
    pid = machine.spawn()
    base = machine.mmap(pid, 0, 64 * PAGE_SIZE, RW, ANON)
    machine.touch(pid, base, True)  # the page table exists from here on
    # The frame the next user fault gets (LIFO), all of 16 MiB being direct-mapped.
    pfn = machine.kernel.allocator.get_page_from_freelist(Gfp.HIGHUSER, 0, WatermarkLevel.LOW)
    assert pfn is not None
    machine.kernel.allocator.free_unref_page(pfn)  # back to the front of the CPU's list
    machine.kernel.physmem.pristine[pfn] = True  # as if never used: only the write may spoil it
    machine.kernel_write(machine.va(pfn * PAGE_SIZE), b"\xff" * PAGE_SIZE)
    assert machine.touch_many(pid, pages(base, 64), True).nr_minor == 63
    assert machine.translate(pid, base + PAGE_SIZE).pfn == pfn
    assert machine.read(pid, base, 64 * PAGE_SIZE) == bytes(64 * PAGE_SIZE)


# ---- the batch against the single path ------------------------------------------------------
# What turns each batched path off, so the single path runs instead.
SINGLE_PATHS: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "first touch": (memory_module, "_first_touch_batch", lambda *args: 0),
    "reclaim locks": (vmscan, "_reclaim_locks_free_ahead", lambda *args: False),
    "swap cache hits": (memory_module, "do_swap_cache_pages", lambda *args: 0),
}


def machine_state(machine: Machine, pid: int, events: list[Event]) -> dict[str, Any]:
    """Everything a client or a test can see of the machine after a scenario."""
    machine.check_invariants()
    swap = machine.kernel.swap
    assert swap is not None
    return {
        "events": [(e.seq, e.kind, e.pid, e.address, e.pfn, e.detail) for e in events],
        "vmstat": machine.vmstat(),
        "meminfo": machine.meminfo(),
        "process": machine.process(pid),
        "lru": machine.kernel.lruvec.policy.snapshot(),
        "ram": bytes(machine.kernel.physmem.ram),
        "slots": (swap.swap_map.tobytes(), swap.slot_crc.tobytes(), swap.slot_generation.tobytes()),
        "cpu": machine.cpu_times(),
        "kswapd": machine.kernel.kswapd.now_ns,
        "lock_stat": machine.lock_stat(),
    }


def run_scenario(
    machine: Machine,
    single: list[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: int,
    passes: Callable[[Machine, int, np.ndarray[Any, Any]], None],
) -> dict[str, Any]:
    """*passes* over 12 MiB of pages, with the batched paths named in *single* turned off."""
    events: list[Event] = []
    machine.add_event_listener(events.append)
    for name in single:
        monkeypatch.setattr(*SINGLE_PATHS[name])
    try:
        pid = machine.spawn()
        passes(machine, pid, pages(machine.mmap(pid, 0, 12 * MiB, RW, flags), 3072))
    finally:
        monkeypatch.undo()
    return machine_state(machine, pid, events)


def first_touch_passes(machine: Machine, pid: int, addrs: np.ndarray[Any, Any]) -> None:
    machine.touch_many(pid, addrs[::2], True)  # half, then all (hits between faults)
    machine.touch_many(pid, addrs, True)
    machine.touch_many(pid, addrs[::-1][:300], True)  # descending: no batch runs
    machine.touch_many(pid, addrs, True)  # under pressure: swap-ins and reclaim


def thrashing_passes(machine: Machine, pid: int, addrs: np.ndarray[Any, Any]) -> None:
    machine.touch_many(pid, addrs, True)  # 12 MiB written in 8 MiB of RAM
    machine.touch_many(pid, addrs, False)  # read back: swap cache pages kept, dropped clean
    machine.touch_many(pid, addrs[::3], True)
    machine.touch_many(pid, addrs, True)


# The scenarios compared: their passes, and the batched paths turned off for the single run.
SCENARIOS: dict[str, tuple[Callable[[Machine, int, np.ndarray[Any, Any]], None], list[str]]] = {
    # 8 MiB of RAM for 12 MiB of pages: batches end at the low watermark, reclaim follows.
    "first touch": (first_touch_passes, ["first touch"]),
    # Every page written, read and written again through 8 MiB: reclaim and swap-ins.
    "thrashing": (thrashing_passes, list(SINGLE_PATHS)),
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize(
    "flags", [ANON | MAP_NORESERVE, MAP_SHARED | MAP_ANONYMOUS], ids=["private", "shared"]
)
def test_batched_faults_and_reclaim_leave_the_machine_as_single_pages_do(
    make_machine: Callable[..., Machine],
    monkeypatch: pytest.MonkeyPatch,
    flags: int,
    scenario: str,
) -> None:
    passes, single_paths = SCENARIOS[scenario]
    batched = run_scenario(make_machine(ram_bytes=8 * MiB), [], monkeypatch, flags, passes)
    single = run_scenario(make_machine(ram_bytes=8 * MiB), single_paths, monkeypatch, flags, passes)
    for name, got in batched.items():
        assert got == single[name], name
    vmstat = batched["vmstat"]
    assert vmstat["pswpout"] > 0  # the scenario did reach reclaim
    if scenario == "thrashing":
        assert vmstat["pswpout"] > 3072 and vmstat["pswpin"] > 3072
        assert vmstat["swap_ra_hit"] > 0 and vmstat["pgscan_kswapd"] > 0


def test_a_batch_reports_every_page_as_its_own_minor_fault(machine: Machine) -> None:
    events: list[Event] = []
    machine.add_event_listener(events.append)
    pid = machine.spawn()
    base = machine.mmap(pid, 0, 256 * PAGE_SIZE, RW, ANON)
    summary = machine.touch_many(pid, pages(base, 256), True)
    assert summary.nr_minor == 256
    faults = [e for e in events if e.kind.name == "MINOR_FAULT"]
    assert [e.address for e in faults] == pages(base, 256).tolist()
    assert len({e.pfn for e in faults}) == 256
