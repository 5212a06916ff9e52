"""Swap-in readahead (vm.page-cluster) and the swap cache, counted as Linux 6.1 counts them."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

import pytest
from tests.kernel.conftest import RW, pages

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PAGE_SIZE,
    InvalidArgument,
    Machine,
    MachineConfig,
    MiB,
    ProcessKilled,
)

ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
COUNTERS = ("pswpin", "pswpout", "pgmajfault", "pgfault", "swap_ra", "swap_ra_hit")


def stamp(index: int) -> bytes:
    return struct.pack("<I", index) * (PAGE_SIZE // 4)


def rewrite_run(machine: Machine, nr_pages: int) -> tuple[int, dict[str, int]]:
    """memtouch's scenario c: write every page of a mapping larger than RAM, then rewrite it;
    returns the address and the counters of the rewrite pass."""
    pid = machine.spawn()
    base = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, pages(base, nr_pages), True)
    before = machine.vmstat()
    machine.touch_many(pid, pages(base, nr_pages), True)
    after = machine.vmstat()
    machine.check_invariants()
    return base, {name: after[name] - before[name] for name in COUNTERS}


def overcommitted(
    machine: Machine, enough: int, nr_pages: int = 3072
) -> tuple[int, int, list[int]]:
    """A process that wrote more pages than RAM holds: (pid, address, the first *enough* of
    its swapped-out pages; each walk costs the VMA's smaps, so the search stops there)."""
    pid = machine.spawn()
    base = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, pages(base, nr_pages), True)
    swapped: list[int] = []
    for address in range(base, base + nr_pages * PAGE_SIZE, PAGE_SIZE):
        if len(swapped) == enough:
            break
        if machine.translate(pid, address).swap_offset is not None:
            swapped.append(address)
    assert len(swapped) == enough, "fewer pages in swap than the test reads"
    return pid, base, swapped


@pytest.mark.slow
def test_a_rewrite_under_pressure_reads_clusters_as_linux_does(
    make_machine: Callable[..., Machine],
) -> None:
    # linux32/out/c-256m-swap-4k.log, rewrite pass: pswpin 102063 for pgmajfault 12912
    # (7.9 pages read per major fault with page-cluster 3), and every fault is a pgfault.
    _, delta = rewrite_run(make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB), 3072)
    assert delta["pgfault"] == 3072
    assert delta["pswpin"] == delta["pgmajfault"] + delta["swap_ra"]
    assert 0 < delta["swap_ra_hit"] <= delta["swap_ra"]
    assert delta["pswpin"] / delta["pgmajfault"] > 4


@pytest.mark.slow
def test_page_cluster_zero_reads_one_page_per_major_fault(
    make_machine: Callable[..., Machine],
) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB, page_cluster=0)
    _, delta = rewrite_run(machine, 3072)
    assert delta["pswpin"] == delta["pgmajfault"] > 0
    assert delta["swap_ra"] == delta["swap_ra_hit"] == 0


def test_page_cluster_is_checked(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgument, match="page_cluster"):
        MachineConfig(page_cluster=6)
    with pytest.raises(InvalidArgument, match="page_cluster"):
        MachineConfig(page_cluster=-1)


@pytest.mark.slow
def test_pages_read_ahead_come_back_intact(make_machine: Callable[..., Machine]) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB)
    pid = machine.spawn()
    base = machine.mmap(pid, 0, 3072 * PAGE_SIZE, RW, ANON)
    for index in range(3072):
        machine.write(pid, base + index * PAGE_SIZE, stamp(index))
    before = machine.vmstat()
    for index in range(3072):
        assert machine.read(pid, base + index * PAGE_SIZE, PAGE_SIZE) == stamp(index)
    assert machine.vmstat()["swap_ra_hit"] > before["swap_ra_hit"]
    machine.check_invariants()


@pytest.mark.slow
def test_a_page_read_ahead_goes_when_its_owner_unmaps_it(
    make_machine: Callable[..., Machine],
) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB)
    pid, base, swapped = overcommitted(machine, enough=1)
    machine.touch(pid, swapped[0])  # one major fault reads its neighbours ahead
    assert machine.meminfo()["SwapCached"] > 4  # kB: the faulted page and what came along
    machine.munmap(pid, base, 3072 * PAGE_SIZE)
    machine.check_invariants()
    assert machine.meminfo()["SwapCached"] == 0
    assert machine.swaps()[0]["used_kb"] == 0


@pytest.mark.slow
def test_reclaim_drops_pages_read_ahead_without_writing_them(
    make_machine: Callable[..., Machine],
) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB)
    pid, _base, swapped = overcommitted(machine, enough=8 * 64)  # every 8th of them, 64
    # Fault one page of each cluster, reading the rest ahead, and never touch those.
    for address in swapped[::8][:64]:
        machine.touch(pid, address)
    cached = machine.meminfo()["SwapCached"]
    writes = machine.vmstat()["pswpout"]
    # The pages read ahead are the youngest on the inactive list: reclaim reaches them once
    # the older pages (referenced only by their faults, so not activated) have gone, so the
    # other process writes all of RAM.
    other = machine.spawn()
    machine.touch_many(other, pages(machine.mmap(other, 0, 8 * MiB, RW, ANON), 2048), True)
    machine.check_invariants()
    assert machine.meminfo()["SwapCached"] < cached
    # Dropping them cost no write: only the pages that were in use went out.
    assert machine.vmstat()["pswpout"] - writes <= 2048


@pytest.mark.slow
def test_a_damaged_slot_read_ahead_kills_only_when_faulted(
    make_machine: Callable[..., Machine],
) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB)
    pid = machine.spawn()
    base = machine.mmap(pid, 0, 3072 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, pages(base, 3072), True)
    walks = {int(a): machine.translate(pid, int(a)) for a in pages(base, 3072)}
    swapped = {a: w.swap_offset for a, w in walks.items() if w.swap_offset is not None}
    by_slot = {slot: a for a, slot in swapped.items()}
    first = min(by_slot)
    victim = next(slot for slot in range(first + 1, first + 8) if slot in by_slot)
    swap = machine.kernel.swap
    assert swap is not None
    fd = os.open(swap.path, os.O_WRONLY)
    os.pwrite(fd, b"\xde\xad" * 8, victim * PAGE_SIZE)
    os.close(fd)
    machine.touch(pid, by_slot[first])  # reads the cluster: the damaged slot is not cached
    assert machine.process(pid).killed_by is None
    with pytest.raises(ProcessKilled, match="SIGBUS"):
        machine.touch(pid, by_slot[victim])
