"""mremap(2): shrink, grow in place, move with the page tables, and every refusal."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import (
    ANON,
    RW,
    SHARED_ANON,
    MachineFactory,
    pages,
    spawn_stamped,
    swap_out,
)
from tests.mremap_refusals import Refusal, each_mremap_refusal

from vmsim_kernel import (
    PAGE_SIZE,
    InvalidArgument,
    KernelError,
    LimitExceeded,
    Machine,
    MiB,
    OutOfMemory,
    OvercommitMode,
    PermissionDenied,
)
from vmsim_kernel.errors import BadAddress
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.mm.mremap import MremapFlag
from vmsim_kernel.mm.swap import swp_offset

MAYMOVE = int(MremapFlag.MAYMOVE)
FIXED = int(MremapFlag.FIXED)
DONTUNMAP = int(MremapFlag.DONTUNMAP)
P = PAGE_SIZE
STAMP = "page {:04}"  # nine bytes, each page's own (below page 10000)

pytestmark = pytest.mark.machine(ram_bytes=64 * MiB, swap_bytes=16 * MiB, nr_cpus=1)


def _written(machine: Machine, nr_pages: int, flags: int = ANON) -> tuple[int, int]:
    return spawn_stamped(machine, nr_pages, flags, name="mover", stamp=STAMP)


def _bytes(machine: Machine, pid: int, addr: int, nr_pages: int) -> list[bytes]:
    return [machine.read(pid, addr + page * P, 9) for page in range(nr_pages)]


def _expected(nr_pages: int, first: int = 0) -> list[bytes]:
    return [STAMP.format(page).encode() for page in range(first, first + nr_pages)]


def _faults(machine: Machine, pid: int) -> int:
    info = machine.process(pid)
    return info.minor_faults + info.major_faults


def _maps(machine: Machine, pid: int) -> list[tuple[int, int, str]]:
    return [(v.start, v.end, v.perms) for v in machine.maps(pid)]


def test_a_move_keeps_the_frames_and_bytes_and_costs_no_fault(machine: Machine) -> None:
    pid, addr = _written(machine, 8)
    blocker = machine.mmap(pid, addr + 8 * P, P, RW, ANON | 0x10)  # MAP_FIXED right after it
    frames = [machine.translate(pid, addr + page * P).pfn for page in range(8)]
    before = machine.process(pid)
    moved = machine.mremap(pid, addr, 8 * P, 16 * P, MAYMOVE)
    assert moved != addr and blocker == addr + 8 * P
    assert [machine.translate(pid, moved + page * P).pfn for page in range(8)] == frames
    faults = _faults(machine, pid)
    assert _bytes(machine, pid, moved, 8) == _expected(8)
    assert _faults(machine, pid) == faults  # resident pages: no fault after the move
    after = machine.process(pid)
    assert after.vm_size == before.vm_size + 8 * P
    assert after.vm_peak == after.vm_size  # never both ranges at once, as Linux counts it
    assert after.vm_rss == before.vm_rss
    assert (moved, moved + 16 * P, "rw-p") in _maps(machine, pid)
    assert not any(start <= addr < end for start, end, _ in _maps(machine, pid))
    machine.check_invariants()


def test_a_move_carries_swap_entries_and_the_pages_come_back_from_swap(machine: Machine) -> None:
    pid, addr = _written(machine, 4)
    for page in (1, 3):
        swap_out(machine, pid, addr + page * P)
    swap = machine.process(pid).vm_swap
    moved = machine.mremap(pid, addr, 4 * P, 4 * P, MAYMOVE | FIXED, 0x50000000)
    assert moved == 0x50000000
    assert machine.process(pid).vm_swap == swap == 2 * P
    majors = machine.process(pid).major_faults
    assert _bytes(machine, pid, moved, 4) == _expected(4)
    # The first swapped page is read from the device (readahead may bring the other along).
    assert machine.process(pid).major_faults >= majors + 1
    assert machine.process(pid).vm_swap == 0
    machine.check_invariants()


def test_reclaim_after_a_move_finds_the_new_ptes(machine: Machine) -> None:
    """The reverse map moved with the PTEs: pageout writes the swap entry into the new PTE."""
    pid, addr = _written(machine, 4)
    moved = machine.mremap(pid, addr, 4 * P, 4 * P, MAYMOVE | FIXED, 0x60000000)
    for page in range(4):
        swap_out(machine, pid, moved + page * P)
    assert machine.process(pid).vm_rss == 0
    assert _bytes(machine, pid, moved, 4) == _expected(4)
    machine.check_invariants()


def test_shrinking_unmaps_the_tail_only(machine: Machine) -> None:
    pid, addr = _written(machine, 8)
    rss = machine.process(pid).vm_rss
    assert machine.mremap(pid, addr, 8 * P, 3 * P) == addr
    assert (addr, addr + 3 * P, "rw-p") in _maps(machine, pid)
    assert machine.process(pid).vm_rss == rss - 5 * P
    assert _bytes(machine, pid, addr, 3) == _expected(3)
    machine.check_invariants()


def test_growing_in_place_extends_the_vma_and_commits_the_growth(machine: Machine) -> None:
    pid, addr = _written(machine, 4)
    committed = machine.meminfo()["Committed_AS"]
    assert machine.mremap(pid, addr, 4 * P, 6 * P) == addr  # the range below is free
    assert (addr, addr + 6 * P, "rw-p") in _maps(machine, pid)
    assert machine.meminfo()["Committed_AS"] == committed + 2 * P // 1024
    machine.write(pid, addr + 5 * P, b"new")
    assert _bytes(machine, pid, addr, 4) == _expected(4)
    machine.check_invariants()


def test_growing_without_maymove_against_a_neighbour_is_enomem(machine: Machine) -> None:
    pid, addr = _written(machine, 4)
    machine.mmap(pid, addr + 4 * P, P, RW, ANON | 0x10)
    with pytest.raises(OutOfMemory, match="MREMAP_MAYMOVE"):
        machine.mremap(pid, addr, 4 * P, 8 * P)


def test_fork_then_a_move_in_the_child_leaves_the_parent_and_cow_right(machine: Machine) -> None:
    parent, addr = _written(machine, 4)
    child = machine.fork(parent)
    moved = machine.mremap(child, addr, 4 * P, 4 * P, MAYMOVE | FIXED, 0x70000000)
    machine.write(child, moved, b"child 0!!")  # a COW copy: the parent keeps its page
    machine.write(parent, addr + P, b"parent 1!")  # and the other way round
    assert _bytes(machine, child, moved, 2) == [b"child 0!!", b"page 0001"]
    assert _bytes(machine, parent, addr, 2) == [b"page 0000", b"parent 1!"]
    assert _bytes(machine, parent, addr + 2 * P, 2) == _expected(2, 2)
    assert _bytes(machine, child, moved + 2 * P, 2) == _expected(2, 2)
    # A page still shared by both, pushed out: both PTEs get the entry, both read it back.
    swap_out(machine, parent, addr + 3 * P)
    assert machine.read(child, moved + 3 * P, 9) == b"page 0003"
    assert machine.read(parent, addr + 3 * P, 9) == b"page 0003"
    machine.check_invariants()


def test_a_shared_anonymous_mapping_moves_with_its_object(machine: Machine) -> None:
    parent, addr = _written(machine, 4, SHARED_ANON)
    child = machine.fork(parent)
    moved = machine.mremap(child, addr, 4 * P, 4 * P, MAYMOVE | FIXED, 0x70000000)
    machine.write(child, moved + 2 * P, b"shared!!!")
    assert machine.read(parent, addr + 2 * P, 9) == b"shared!!!"
    assert _bytes(machine, child, moved, 2) == _expected(2)
    machine.check_invariants()


def test_a_file_mapping_moves_with_its_page_offset(machine: Machine) -> None:
    pid = machine.spawn("filer")
    fd = machine.open_file(pid, "data", int(OpenFlag.O_RDWR | OpenFlag.O_CREAT))
    machine.write_file(pid, fd, b"".join(f"file {n:04}".encode().ljust(P, b".") for n in range(6)))
    addr = machine.mmap_file(pid, fd, 0, 4 * P, RW, 0x01, 2 * P)  # file pages 2..5
    assert machine.read(pid, addr, 9) == b"file 0002"
    moved = machine.mremap(pid, addr + P, 3 * P, 3 * P, MAYMOVE | FIXED, 0x58000000)
    assert [machine.read(pid, moved + n * P, 9) for n in range(3)] == [
        b"file 0003",
        b"file 0004",
        b"file 0005",
    ]
    machine.write(pid, moved, b"FILE")
    assert machine.pread_file(pid, fd, 4, 3 * P) == b"FILE"
    machine.check_invariants()


def test_a_locked_mapping_populates_its_growth(machine: Machine) -> None:
    pid, addr = _written(machine, 2)
    machine.mlock(pid, addr, 2 * P)
    moved = machine.mremap(pid, addr, 2 * P, 5 * P, MAYMOVE)
    info = next(v for v in machine.maps(pid) if v.start == moved)
    assert info.locked and info.rss == 5 * P
    assert machine.meminfo()["Mlocked"] == 5 * P // 1024
    machine.check_invariants()


def test_a_locked_mapping_may_not_grow_past_rlimit_memlock(machine: Machine) -> None:
    pid, addr = _written(machine, 2)
    machine.mlock(pid, addr, 2 * P)
    with pytest.raises(LimitExceeded, match="RLIMIT_MEMLOCK") as raised:
        machine.mremap(pid, addr, 2 * P, 16 * MiB, MAYMOVE)
    assert raised.value.errno_name == "EAGAIN"


def test_dontunmap_leaves_the_old_range_mapped_and_empty(machine: Machine) -> None:
    pid, addr = _written(machine, 3)
    moved = machine.mremap(pid, addr, 3 * P, 3 * P, MAYMOVE | DONTUNMAP)
    assert _bytes(machine, pid, moved, 3) == _expected(3)
    assert machine.read(pid, addr, 4) == b"\0\0\0\0"  # a fresh zero page
    assert any(start <= addr < end for start, end, _ in _maps(machine, pid))
    machine.check_invariants()


def test_growth_is_refused_past_the_commit_limit(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=16 * MiB, swap_bytes=0, overcommit_memory=OvercommitMode.NEVER)
    pid, addr = _written(machine, 2)
    with pytest.raises(OutOfMemory, match="cannot commit"):
        machine.mremap(pid, addr, 2 * P, 64 * MiB, MAYMOVE)
    assert (addr, addr + 2 * P, "rw-p") in _maps(machine, pid)


# The kernel's error of each errno mremap refuses with.
KERNEL_ERROR: dict[str, type[KernelError]] = {
    "EINVAL": InvalidArgument,
    "EFAULT": BadAddress,
    "EPERM": PermissionDenied,
    "ENOMEM": OutOfMemory,
}


@each_mremap_refusal
def test_every_bad_call_is_refused_with_its_errno_and_changes_nothing(
    machine: Machine, refusal: Refusal
) -> None:
    pid = machine.spawn("bad")
    addr = machine.mmap(pid, 0, 4 * P, RW, ANON)
    machine.mmap(pid, addr + 4 * P, P, RW, ANON | 0x10)  # keeps growth in place impossible
    machine.touch_many(pid, pages(addr, 4), write=True)
    maps, meminfo = _maps(machine, pid), machine.meminfo()
    with pytest.raises(KERNEL_ERROR[refusal.errno]) as raised:
        machine.mremap(pid, *refusal.args(addr))
    assert raised.value.errno_name == refusal.errno, refusal.what
    assert _maps(machine, pid) == maps
    assert machine.meminfo() == meminfo
    machine.check_invariants()


def test_a_move_is_journaled_and_replays_to_the_same_cost(make_machine: MachineFactory) -> None:
    from vmsim_kernel.journal import replay_journal

    machine = make_machine(record=True)
    pid, addr = _written(machine, 4)
    machine.mremap(pid, addr, 4 * P, 8 * P, MAYMOVE | FIXED, 0x50000000)
    assert machine.journal is not None and machine.journal[-1][0] == "mremap"
    replayed = replay_journal(machine.config, machine.journal)
    assert replayed[-1] == machine.last_cost and machine.last_cost.total_ns > 0


def test_swap_slots_stay_owned_by_the_moved_ptes(machine: Machine) -> None:
    swap_free = machine.meminfo()["SwapFree"]
    pid, addr = _written(machine, 2)
    swap_out(machine, pid, addr)
    entry = machine.translate(pid, addr).pte
    assert entry and swp_offset(entry) > 0
    moved = machine.mremap(pid, addr, 2 * P, 2 * P, MAYMOVE | FIXED, 0x50000000)
    assert machine.translate(pid, moved).pte == entry
    assert machine.translate(pid, addr).pte in (None, 0)
    machine.exit(pid)  # the moved PTE's slot is freed with it
    assert machine.meminfo()["SwapFree"] == swap_free
    machine.check_invariants()


def test_a_move_across_page_tables_to_an_unaligned_place_keeps_every_page(
    machine: Machine,
) -> None:
    """1100 pages span two page tables; moved 3 pages past a 4 MiB boundary they span
    two others, each PTE landing at its own offset."""
    pid = machine.spawn("far mover")
    addr = machine.mmap(pid, 0, 1100 * P, RW, ANON)
    machine.touch_many(pid, pages(addr, 1100), True)
    for page in (0, 1, 1020, 1023, 1024, 1099):
        machine.write(pid, addr + page * P, STAMP.format(page).encode())
    ptes = machine.process(pid).vm_pte
    moved = machine.mremap(pid, addr, 1100 * P, 1100 * P, MAYMOVE | FIXED, 0x50003000)
    faults = _faults(machine, pid)
    for page in (0, 1, 1020, 1023, 1024, 1099):
        assert machine.read(pid, moved + page * P, 9) == STAMP.format(page).encode()
    assert _faults(machine, pid) == faults
    assert machine.process(pid).vm_pte == ptes  # the old tables freed, as many new ones
    machine.check_invariants()
