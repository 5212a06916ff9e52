"""Shared memory objects (mm/shmem.c): the pages behind MAP_SHARED|MAP_ANONYMOUS, found by
index by every process that maps them, swapped like tmpfs pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.kernel.conftest import RW, SHARED_ANON, fork_stamped, pages, swap_out

from vmsim_kernel import (
    PAGE_SIZE,
    AlreadyExists,
    InvalidArgument,
    LimitExceeded,
    Machine,
    Madvise,
    MapFlag,
    MiB,
    NoSuchObject,
    PermissionDenied,
    Prot,
)
from vmsim_kernel.mm.memory import FAULT_AROUND_BYTES

pytestmark = pytest.mark.machine(ram_bytes=64 * MiB, swap_bytes=16 * MiB, nr_cpus=1)


def test_a_reclaimed_shmem_page_leaves_empty_ptes_and_its_slot_in_the_object(
    machine: Machine,
) -> None:
    parent, child, addr = fork_stamped(machine, 2, SHARED_ANON)
    machine.read(child, addr, 6)  # both map page 0 now
    swap_out(machine, parent, addr)
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
    parent, child, addr = fork_stamped(machine, 8, SHARED_ANON)
    swap_out(machine, parent, addr)
    machine.munmap(parent, addr, 8 * PAGE_SIZE)
    assert machine.meminfo()["Shmem"] == 8 * 4 - 4  # the child's mapping still holds it
    assert machine.read(child, addr + 7 * PAGE_SIZE, 6) == b"page 7"
    machine.exit(child)
    after = machine.meminfo()
    assert after["Shmem"] == 0
    assert after["SwapFree"] == before["SwapFree"]
    machine.check_invariants()


def test_dontneed_on_a_shared_mapping_keeps_the_bytes_in_the_object(machine: Machine) -> None:
    _parent, child, addr = fork_stamped(machine, 4, SHARED_ANON)
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
        SHARED_ANON,
    )
    machine.touch_many(parent, pages(addr, 4 * window), True)
    child = machine.fork(parent)
    machine.touch_many(child, pages(addr, 4 * window), False)
    windows = len({a // FAULT_AROUND_BYTES for a in pages(addr, 4 * window).tolist()})
    assert machine.process(child).minor_faults == windows
    # a write fault maps only its own page
    other = machine.fork(parent)
    machine.touch_many(other, pages(addr, window), True)
    assert machine.process(other).minor_faults == window
    machine.check_invariants()


# ---- named shared memory ------------------------------------------------------------------------
def test_an_unrelated_process_maps_a_named_object_and_sees_the_writers_bytes(
    machine: Machine,
) -> None:
    writer, reader = machine.spawn("writer"), machine.spawn("reader")
    machine.shm_create(writer, "/board", 3 * PAGE_SIZE, 0o600)
    at_writer = machine.shm_map(writer, "/board", RW)
    machine.write(writer, at_writer + PAGE_SIZE, b"posted")
    at_reader = machine.shm_map(reader, "board", int(Prot.READ))
    assert machine.read(reader, at_reader + PAGE_SIZE, 6) == b"posted"
    (listed,) = machine.shm_list()
    assert (listed.name, listed.size, listed.mode, listed.mappings) == (
        "board",
        3 * PAGE_SIZE,
        0o600,
        2,
    )
    (vma,) = [v for v in machine.maps(reader) if v.start == at_reader]
    assert (vma.name, vma.perms) == ("/dev/shm/board", "r--s")
    machine.check_invariants()


def test_an_unlinked_object_lives_until_its_last_mapping_goes(machine: Machine) -> None:
    pid = machine.spawn("owner")
    machine.shm_create(pid, "/notes", PAGE_SIZE, 0o600)
    addr = machine.shm_map(pid, "/notes", RW)
    machine.write(pid, addr, b"kept")
    machine.shm_unlink(pid, "/notes")
    assert machine.shm_list() == []
    assert machine.read(pid, addr, 4) == b"kept"
    assert machine.meminfo()["Shmem"] == 4
    machine.munmap(pid, addr, PAGE_SIZE)
    assert machine.meminfo()["Shmem"] == 0
    machine.shm_create(pid, "/notes", PAGE_SIZE, 0o600)  # the name is free again
    machine.check_invariants()


def test_a_named_object_without_mappings_keeps_its_pages_until_unlinked(
    machine: Machine,
) -> None:
    pid = machine.spawn("owner")
    machine.shm_create(pid, "/keep", 2 * PAGE_SIZE, 0o600)
    addr = machine.shm_map(pid, "/keep", RW)
    machine.write(pid, addr, b"still here")
    machine.exit(pid)
    other = machine.spawn("later")
    assert machine.read(other, machine.shm_map(other, "/keep", RW), 10) == b"still here"
    machine.check_invariants()


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda m, pid: m.shm_create(pid, "/taken", PAGE_SIZE, 0o600), AlreadyExists, "exists"),
        (lambda m, pid: m.shm_create(pid, "/new", 0, 0o600), InvalidArgument, "size"),
        (lambda m, pid: m.shm_create(pid, "/new", PAGE_SIZE, 0o1777), InvalidArgument, "mode"),
        (lambda m, pid: m.shm_create(pid, "a/b", PAGE_SIZE, 0o600), InvalidArgument, "name"),
        (lambda m, pid: m.shm_map(pid, "/missing", RW), NoSuchObject, "taken"),
        (lambda m, pid: m.shm_unlink(pid, "/missing"), NoSuchObject, "taken"),
        (
            lambda m, pid: m.shm_map(pid, "/taken", RW, SHARED_ANON),
            InvalidArgument,
            "without MAP_ANONYMOUS",
        ),
    ],
)
def test_bad_shm_calls_are_refused_and_change_nothing(
    machine: Machine, call: Callable[[Machine, int], object], error: type[Exception], words: str
) -> None:
    pid = machine.spawn("caller")
    machine.shm_create(pid, "/taken", PAGE_SIZE, 0o600)
    before = (machine.shm_list(), machine.maps(pid), machine.meminfo()["MemFree"])
    with pytest.raises(error, match=words):
        call(machine, pid)
    assert (machine.shm_list(), machine.maps(pid), machine.meminfo()["MemFree"]) == before


def test_the_mode_decides_who_may_map_and_only_the_owner_unlinks(machine: Machine) -> None:
    owner, stranger = machine.spawn("owner"), machine.spawn("stranger", uid=1001)
    machine.shm_create(owner, "/ro", PAGE_SIZE, 0o644)
    machine.shm_create(owner, "/private", PAGE_SIZE, 0o600)
    machine.shm_map(stranger, "/ro", int(Prot.READ))  # others may read 0644
    with pytest.raises(PermissionDenied, match="may not read and write"):
        machine.shm_map(stranger, "/ro", RW)
    with pytest.raises(PermissionDenied, match="may not read"):
        machine.shm_map(stranger, "/private", int(Prot.READ))
    with pytest.raises(PermissionDenied, match="sticky"):
        machine.shm_unlink(stranger, "/ro")
    assert [info.name for info in machine.shm_list()] == ["private", "ro"]


def test_map_fixed_noreplace_over_a_mapping_is_refused(machine: Machine) -> None:
    pid = machine.spawn("caller")
    machine.shm_create(pid, "/fixed", PAGE_SIZE, 0o600)
    taken = machine.mmap(pid, 0, PAGE_SIZE, RW, int(MapFlag.PRIVATE | MapFlag.ANONYMOUS))
    before = machine.maps(pid)
    with pytest.raises(InvalidArgument, match="overlaps"):
        machine.shm_map(pid, "/fixed", RW, int(MapFlag.SHARED | MapFlag.FIXED_NOREPLACE), taken)
    assert machine.maps(pid) == before


def test_dev_shm_holds_at_most_half_of_ram(machine: Machine) -> None:
    pid = machine.spawn("big")
    half = machine.meminfo()["MemTotal"] * 1024 // 2
    machine.shm_create(pid, "/first", half // 2, 0o600)
    with pytest.raises(LimitExceeded, match="tmpfs size=50%"):
        machine.shm_create(pid, "/second", half // 2 + PAGE_SIZE, 0o600)
    assert [info.name for info in machine.shm_list()] == ["first"]
    machine.shm_unlink(pid, "/first")
    machine.shm_create(pid, "/second", half // 2 + PAGE_SIZE, 0o600)  # room again
