"""mlock/munlock (mm/mlock.c): locked pages are resident, off the LRU, never reclaimed."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import ANON, RW, write_pages

from vmsim_kernel import (
    PAGE_SIZE,
    InvalidArgument,
    Machine,
    Madvise,
    OutOfMemory,
)

pytestmark = pytest.mark.machine(nr_cpus=1)  # the default 16 MiB, 32 MiB of swap


def test_locked_pages_are_faulted_in_counted_and_never_swapped(machine: Machine) -> None:
    locker = machine.spawn("locker")
    addr = machine.mmap(locker, 0, 256 * PAGE_SIZE, RW, ANON)
    machine.mlock(locker, addr + 100, 256 * PAGE_SIZE - 200)  # page-rounded: all 256
    info = machine.meminfo()
    assert info["Mlocked"] == info["Unevictable"] == 256 * 4
    assert machine.process(locker).minor_faults == 256  # populated now
    assert "VmLck:\t    1024 kB" in machine.report("status", locker)
    assert "Locked:             1024 kB" in machine.report("smaps", locker)
    hog = machine.spawn("hog")
    write_pages(machine, hog, 6000)  # 23 MiB through 16 MiB of RAM: reclaim swaps the hog
    assert machine.vmstat()["pswpout"] > 0
    assert machine.process(locker).vm_swap == 0
    assert machine.process(locker).vm_rss == 256 * PAGE_SIZE
    machine.check_invariants()


def test_munlock_makes_the_pages_evictable_again(machine: Machine) -> None:
    locker = machine.spawn("locker")
    addr = machine.mmap(locker, 0, 64 * PAGE_SIZE, RW, ANON)
    machine.mlock(locker, addr, 64 * PAGE_SIZE)
    machine.munlock(locker, addr, 32 * PAGE_SIZE)
    assert machine.meminfo()["Mlocked"] == 32 * 4
    (first, second) = [v for v in machine.maps(locker) if addr <= v.start < addr + 64 * PAGE_SIZE]
    assert (first.end - first.start, second.end - second.start) == (32 * PAGE_SIZE,) * 2
    hog = machine.spawn("hog")
    write_pages(machine, hog, 6000)
    assert 0 < machine.process(locker).vm_swap <= 32 * PAGE_SIZE
    machine.munmap(locker, addr, 64 * PAGE_SIZE)
    assert machine.meminfo()["Mlocked"] == 0
    machine.check_invariants()


def test_a_forked_child_does_not_inherit_the_lock(machine: Machine) -> None:
    parent = machine.spawn("parent")
    addr = machine.mmap(parent, 0, 8 * PAGE_SIZE, RW, ANON)
    machine.mlock(parent, addr, 8 * PAGE_SIZE)
    child = machine.fork(parent)
    machine.write(child, addr, b"copy")  # the child's copy is evictable
    machine.write(parent, addr + PAGE_SIZE, b"copy")  # the parent's copy is locked
    assert machine.meminfo()["Mlocked"] == 8 * 4
    machine.exit(parent)
    assert machine.meminfo()["Mlocked"] == 0
    machine.check_invariants()


def test_bad_mlock_calls_are_refused_and_change_nothing(machine: Machine) -> None:
    pid = machine.spawn("caller")
    addr = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    before = machine.maps(pid)
    with pytest.raises(OutOfMemory, match="ENOMEM"):
        machine.mlock(pid, addr, 8 * PAGE_SIZE)  # past the mapping
    big = machine.mmap(pid, 0, 4096 * PAGE_SIZE, RW, ANON)
    before = machine.maps(pid)
    with pytest.raises(OutOfMemory, match="RLIMIT_MEMLOCK"):
        machine.mlock(pid, big, 4096 * PAGE_SIZE)  # 16 MiB > 8 MiB
    assert machine.maps(pid) == before
    assert machine.meminfo()["Mlocked"] == 0
    machine.mlock(pid, addr, 4 * PAGE_SIZE)
    with pytest.raises(InvalidArgument, match="mlocked"):
        machine.madvise(pid, addr, 4 * PAGE_SIZE, Madvise.DONTNEED)
    machine.check_invariants()
