"""Shared memory objects (mm/shmem.c): the pages behind MAP_SHARED|MAP_ANONYMOUS, found by
index by every process that maps them, swapped like tmpfs pages."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from vmsim_kernel import PAGE_SIZE, Machine, MachineConfig, Madvise, MapFlag, MiB, Prot
from vmsim_kernel.mm.memory import FAULT_AROUND_BYTES
from vmsim_kernel.mm.vmscan import PageoutResult, pageout

RW = int(Prot.READ | Prot.WRITE)
SHARED = int(MapFlag.SHARED | MapFlag.ANONYMOUS)


def _pages(addr: int, nr_pages: int) -> npt.NDArray[np.uint32]:
    return np.arange(addr, addr + nr_pages * PAGE_SIZE, PAGE_SIZE, dtype=np.uint32)


@pytest.fixture
def machine() -> Iterator[Machine]:
    machine = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=16 * MiB, nr_cpus=1))
    yield machine
    machine.close()


def _shared_pair(machine: Machine, nr_pages: int) -> tuple[int, int, int]:
    parent = machine.spawn("parent")
    addr = machine.mmap(parent, 0, nr_pages * PAGE_SIZE, RW, SHARED)
    for page in range(nr_pages):
        machine.write(parent, addr + page * PAGE_SIZE, f"page {page}".encode())
    return parent, machine.fork(parent), addr


def test_a_reclaimed_shmem_page_leaves_empty_ptes_and_its_slot_in_the_object(
    machine: Machine,
) -> None:
    parent, child, addr = _shared_pair(machine, 2)
    machine.read(child, addr, 6)  # both map page 0 now
    pfn = machine.translate(parent, addr).pfn
    assert pfn is not None
    machine.kernel.lruvec.policy.remove(pfn)
    assert pageout(machine.kernel, pfn) is PageoutResult.SUCCESS
    for pid in (parent, child):  # try_to_unmap cleared every PTE: no swap entry in them
        assert machine.translate(pid, addr).pte == 0
        assert machine.process(pid).vm_swap == 0
    (info,) = [vma for vma in machine.maps(parent) if vma.start == addr]
    assert info.swap == PAGE_SIZE  # the object's page in swap, shown in its mapping
    assert machine.vmstat()["nr_shmem"] == 1
    machine.check_invariants()
    majors = machine.process(child).major_faults
    assert machine.read(child, addr, 6) == b"page 0"  # read back into the object
    assert machine.process(child).major_faults == majors + 1
    majors, minors = machine.process(parent).major_faults, machine.process(parent).minor_faults
    assert machine.read(parent, addr, 6) == b"page 0"  # found in the object: minor
    assert machine.process(parent).major_faults == majors
    assert machine.process(parent).minor_faults == minors + 1
    assert machine.translate(parent, addr).pfn == machine.translate(child, addr).pfn
    assert machine.kernel.swap is not None and machine.kernel.swap.inuse_pages == 0
    machine.check_invariants()


def test_the_object_and_its_swap_go_when_the_last_mapping_does(machine: Machine) -> None:
    before = machine.meminfo()
    parent, child, addr = _shared_pair(machine, 8)
    pfn = machine.translate(parent, addr).pfn
    assert pfn is not None
    machine.kernel.lruvec.policy.remove(pfn)
    assert pageout(machine.kernel, pfn) is PageoutResult.SUCCESS
    machine.munmap(parent, addr, 8 * PAGE_SIZE)
    assert machine.meminfo()["Shmem"] == 8 * 4 - 4  # the child's mapping still holds it
    assert machine.read(child, addr + 7 * PAGE_SIZE, 6) == b"page 7"
    machine.exit(child)
    after = machine.meminfo()
    assert after["Shmem"] == 0
    assert after["SwapFree"] == before["SwapFree"]
    machine.check_invariants()


def test_dontneed_on_a_shared_mapping_keeps_the_bytes_in_the_object(machine: Machine) -> None:
    _parent, child, addr = _shared_pair(machine, 4)
    machine.madvise(child, addr, 4 * PAGE_SIZE, Madvise.DONTNEED)
    assert machine.read(child, addr + PAGE_SIZE, 6) == b"page 1"
    machine.check_invariants()


def test_a_read_fault_maps_the_resident_pages_of_its_fault_around_window(
    machine: Machine,
) -> None:
    window = FAULT_AROUND_BYTES // PAGE_SIZE
    parent = machine.spawn("writer")
    addr = machine.mmap(
        parent,
        0,
        4 * window * PAGE_SIZE,
        RW,
        SHARED,
    )
    machine.touch_many(parent, _pages(addr, 4 * window), True)
    child = machine.fork(parent)
    machine.touch_many(child, _pages(addr, 4 * window), False)
    windows = len({a // FAULT_AROUND_BYTES for a in _pages(addr, 4 * window).tolist()})
    assert machine.process(child).minor_faults == windows
    # a write fault maps only its own page
    other = machine.fork(parent)
    machine.touch_many(other, _pages(addr, window), True)
    assert machine.process(other).minor_faults == window
    machine.check_invariants()
