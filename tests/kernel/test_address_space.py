"""mmap, munmap, mprotect, brk and madvise: placement, splitting, validation."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import ANON, RW, SHARED_ANON, free_with_pcp

from vmsim_kernel import (
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    FaultResult,
    GiB,
    InvalidArgument,
    Machine,
    Madvise,
    MapFlag,
    MiB,
    OutOfMemory,
    OutOfRange,
    SegmentationFault,
)


def maps_of(machine: Machine, pid: int) -> list[tuple[int, int, str, str]]:
    return [(v.start, v.end, v.perms, v.name) for v in machine.maps(pid)]


def test_mmap_is_lazy_and_first_touches_are_minor_faults(machine: Machine) -> None:
    pid = machine.spawn("lazy")
    free_before = free_with_pcp(machine.kernel.allocator)
    # 1 GiB is more than RAM + swap: mode 0 would refuse it unless it is MAP_NORESERVE
    addr = machine.mmap(pid, 0, 1 * GiB, RW, ANON | MapFlag.NORESERVE)
    assert machine.process(pid).vm_rss == 0
    results = [machine.touch(pid, addr + i * PAGE_SIZE * 1000, write=True) for i in range(3)]
    assert results == [FaultResult.MINOR] * 3
    status = machine.process(pid)
    assert status.vm_rss == 3 * PAGE_SIZE
    assert status.minor_faults == 3
    assert machine.vmstat()["pgfault"] == 3
    # three pages and one page table (all within one 4 MiB span? no: 1000 pages apart spans two)
    used = free_before - free_with_pcp(machine.kernel.allocator)
    assert used == 3 + status.vm_pte // PAGE_SIZE


def test_mmap_places_top_down_below_the_stack(machine: Machine) -> None:
    pid = machine.spawn()
    first = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    second = machine.mmap(pid, 0, 4 * PAGE_SIZE, PROT_READ, ANON)
    assert first + 4 * PAGE_SIZE <= 0xB8000000
    assert second + 4 * PAGE_SIZE == first
    stack = [m for m in maps_of(machine, pid) if m[3] == "[stack]"]
    assert stack and stack[0][1] == 0xC0000000


def test_adjacent_compatible_mappings_merge_into_one_vma(machine: Machine) -> None:
    pid = machine.spawn()
    first = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    second = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    assert second + 4 * PAGE_SIZE == first
    anon = [m for m in maps_of(machine, pid) if m[3] == ""]
    assert anon == [(second, first + 4 * PAGE_SIZE, "rw-p", "")]


def test_hint_address_is_used_when_free(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0x40000000, 8192, RW, ANON)
    assert addr == 0x40000000


def test_partial_munmap_splits_the_vma_and_frees_its_pages(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0x40000000, 10 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, [addr + i * PAGE_SIZE for i in range(10)], write=True)
    machine.munmap(pid, addr + 3 * PAGE_SIZE, 2 * PAGE_SIZE)
    anon = [m[:2] for m in maps_of(machine, pid) if m[3] == ""]
    assert anon == [(addr, addr + 3 * PAGE_SIZE), (addr + 5 * PAGE_SIZE, addr + 10 * PAGE_SIZE)]
    assert machine.process(pid).vm_rss == 8 * PAGE_SIZE
    with pytest.raises(SegmentationFault) as fault:
        machine.touch(pid, addr + 3 * PAGE_SIZE)
    assert fault.value.address == addr + 3 * PAGE_SIZE
    machine.check_invariants()


def test_munmap_of_everything_frees_page_tables(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0x40000000, 8 * MiB, RW, ANON)
    machine.touch_many(pid, list(range(addr, addr + 8 * MiB, 64 * PAGE_SIZE)), write=True)
    assert machine.process(pid).vm_pte == 2 * PAGE_SIZE
    machine.munmap(pid, addr, 8 * MiB)
    assert machine.process(pid).vm_pte == 0
    machine.check_invariants()


def test_map_fixed_replaces_and_fixed_noreplace_refuses(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0x50000000, 4 * PAGE_SIZE, RW, ANON)
    machine.write(pid, addr, b"old")
    again = machine.mmap(pid, addr, PAGE_SIZE, RW, ANON | MapFlag.FIXED)
    assert again == addr
    assert machine.read(pid, addr, 3) == b"\0\0\0"
    before = maps_of(machine, pid)
    with pytest.raises(InvalidArgument, match="EEXIST"):
        machine.mmap(pid, addr, PAGE_SIZE, RW, ANON | MapFlag.FIXED_NOREPLACE)
    assert maps_of(machine, pid) == before


def test_map_populate_faults_everything_in(machine: Machine) -> None:
    pid = machine.spawn()
    machine.mmap(pid, 0, 16 * PAGE_SIZE, RW, ANON | MapFlag.POPULATE)
    assert machine.process(pid).vm_rss == 16 * PAGE_SIZE
    assert machine.process(pid).minor_faults == 16


def test_shared_anonymous_mapping_is_reported_as_shared(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, SHARED_ANON)
    (vma,) = [v for v in machine.maps(pid) if v.start == addr]
    assert vma.perms == "rw-s"
    assert vma.name == "/dev/zero (deleted)"


def test_mprotect_read_only_makes_writes_segfault(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0x40000000, 4 * PAGE_SIZE, RW, ANON)
    machine.write(pid, addr, b"x" * 10)
    machine.mprotect(pid, addr + PAGE_SIZE, PAGE_SIZE, PROT_READ)
    perms = [m[2] for m in maps_of(machine, pid) if m[3] == ""]
    assert perms == ["rw-p", "r--p", "rw-p"]
    assert machine.read(pid, addr, 10) == b"x" * 10
    assert machine.touch(pid, addr + PAGE_SIZE) is FaultResult.MINOR
    with pytest.raises(SegmentationFault, match="write to a r--p mapping"):
        machine.touch(pid, addr + PAGE_SIZE, write=True)


def test_mprotect_none_then_back_keeps_the_data(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0x40000000, PAGE_SIZE, RW, ANON)
    machine.write(pid, addr, b"keep")
    machine.mprotect(pid, addr, PAGE_SIZE, PROT_NONE)
    assert machine.translate(pid, addr).user is False
    machine.mprotect(pid, addr, PAGE_SIZE, RW)
    assert machine.read(pid, addr, 4) == b"keep"


def test_prot_none_access_segfaults(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, PROT_NONE, ANON)
    with pytest.raises(SegmentationFault, match="PROT_NONE"):
        machine.touch(pid, addr)


def test_brk_grows_and_shrinks_the_heap(machine: Machine) -> None:
    pid = machine.spawn()
    start = machine.brk(pid, 0)
    new = machine.brk(pid, start + 3 * PAGE_SIZE + 100)
    assert new == start + 3 * PAGE_SIZE + 100
    heap = [m for m in maps_of(machine, pid) if m[3] == "[heap]"]
    assert heap == [(start, start + 4 * PAGE_SIZE, "rw-p", "[heap]")]
    machine.write(pid, start, b"heap")
    machine.brk(pid, start + PAGE_SIZE)
    heap = [m for m in maps_of(machine, pid) if m[3] == "[heap]"]
    assert heap == [(start, start + PAGE_SIZE, "rw-p", "[heap]")]
    assert machine.read(pid, start, 4) == b"heap"


def test_madvise_dontneed_drops_pages_and_reads_back_zero(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 2 * PAGE_SIZE, RW, ANON)
    machine.write(pid, addr, b"gone")
    machine.madvise(pid, addr, 2 * PAGE_SIZE, Madvise.DONTNEED)
    assert machine.process(pid).vm_rss == 0
    assert machine.read(pid, addr, 4) == b"\0\0\0\0"


def test_stack_grows_down_on_touch_below_it(machine: Machine) -> None:
    pid = machine.spawn()
    stack = next(m for m in maps_of(machine, pid) if m[3] == "[stack]")
    below = stack[0] - 10 * PAGE_SIZE
    assert machine.touch(pid, below, write=True) is FaultResult.MINOR
    grown = next(m for m in maps_of(machine, pid) if m[3] == "[stack]")
    assert grown[0] == below


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m, p: m.mmap(p, 0, 0, RW, ANON), InvalidArgument),
        (lambda m, p: m.mmap(p, 0, -5, RW, ANON), InvalidArgument),
        (lambda m, p: m.mmap(p, 0, 4 * GiB, RW, ANON), OutOfRange),
        (lambda m, p: m.mmap(p, 0, PAGE_SIZE, 8, ANON), InvalidArgument),
        (lambda m, p: m.mmap(p, 0, PAGE_SIZE, RW, ANON | 0x40000000), InvalidArgument),
        (lambda m, p: m.mmap(p, 0, PAGE_SIZE, RW, MapFlag.ANONYMOUS), InvalidArgument),
        (lambda m, p: m.mmap(p, 0, PAGE_SIZE, RW, MapFlag.PRIVATE), InvalidArgument),
        (lambda m, p: m.mmap(p, 0x40000001, PAGE_SIZE, RW, ANON | MapFlag.FIXED), InvalidArgument),
        (lambda m, p: m.mmap(p, 0xBFFFF000, 2 * PAGE_SIZE, RW, ANON | MapFlag.FIXED), OutOfRange),
        (lambda m, p: m.mmap(p, 0xC0000000, PAGE_SIZE, RW, ANON | MapFlag.FIXED), OutOfRange),
        (lambda m, p: m.mmap(p, 1 << 40, PAGE_SIZE, RW, ANON), OutOfRange),
        (lambda m, p: m.munmap(p, 0x40000001, PAGE_SIZE), InvalidArgument),
        (lambda m, p: m.munmap(p, 0x40000000, 0), InvalidArgument),
        (lambda m, p: m.munmap(p, 0xBFFFF000, 3 * PAGE_SIZE), OutOfRange),
        (lambda m, p: m.mprotect(p, 0x40000000, PAGE_SIZE, 16), InvalidArgument),
        (lambda m, p: m.mprotect(p, 0x30000000, PAGE_SIZE, PROT_READ), OutOfRange),
        (lambda m, p: m.madvise(p, 0x40000000, PAGE_SIZE, 99), InvalidArgument),
        (lambda m, p: m.brk(p, 0xC0001000), OutOfRange),
        (lambda m, p: m.touch(p, 1 << 32), OutOfRange),
        (lambda m, p: m.touch_many(p, [0x40000000, -1]), OutOfRange),
        (lambda m, p: m.read(p, 0x40000000, -1), InvalidArgument),
    ],
)
def test_invalid_arguments_are_refused_and_change_nothing(
    machine: Machine, call: object, error: type[Exception]
) -> None:
    pid = machine.spawn()
    machine.mmap(pid, 0x40000000, 4 * PAGE_SIZE, RW, ANON)
    machine.touch(pid, 0x40000000, write=True)
    before = (maps_of(machine, pid), machine.meminfo(), machine.process(pid))
    with pytest.raises(error) as raised:
        call(machine, pid)  # type: ignore[operator]
    assert str(raised.value)
    assert (maps_of(machine, pid), machine.meminfo(), machine.process(pid)) == before
    machine.check_invariants()


def test_overcommit_never_refuses_beyond_commit_limit(make_machine: object) -> None:
    from vmsim_kernel import OvercommitMode

    machine = make_machine(overcommit_memory=OvercommitMode.NEVER, overcommit_ratio=50)  # type: ignore[operator]
    pid = machine.spawn()
    info = machine.meminfo()
    # Worked by hand for this 16 MiB machine with 32 MiB of swap, as mm/util.c's
    # __vm_enough_memory counts: CommitLimit = 8191 pages of swap + 50% of the 3441 RAM pages
    # (1720) = 39644 kB, of which the new process's stack commits 132 kB; the admin reserve
    # (vm.admin_reserve_kbytes: 1/32 of the 12844 kB free at boot, 401 kB, so 100 pages) and
    # the user reserve (1/32 of the caller's 132 kB: one page, 4 kB) stay free. That leaves
    # 39108 kB, less a page of slack.
    assert (info["MemTotal"], info["SwapTotal"]) == (13764, 32764)
    assert (info["CommitLimit"], info["Committed_AS"]) == (39644, 132)
    assert machine.sysctl("vm.admin_reserve_kbytes") == {"vm.admin_reserve_kbytes": "401"}
    room = 39108 * 1024 - PAGE_SIZE
    addr = machine.mmap(pid, 0, room, RW, ANON)
    assert addr
    with pytest.raises(OutOfMemory, match="CommitLimit"):
        machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    # read-only private mappings commit nothing, so they still work
    assert machine.mmap(pid, 0, 64 * MiB, PROT_READ, ANON)
    machine.munmap(pid, addr, room)
    assert machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)


def test_overcommit_heuristic_refuses_only_the_impossible(make_machine: object) -> None:
    machine = make_machine()  # type: ignore[operator]
    pid = machine.spawn()
    assert machine.mmap(pid, 0, 40 * MiB, RW, ANON)  # more than RAM, less than RAM + swap
    with pytest.raises(OutOfMemory):
        machine.mmap(pid, 0, 1 * GiB, RW, ANON)
