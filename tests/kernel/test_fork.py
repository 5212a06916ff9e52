"""fork() with copy-on-write: what the parent and the child see, share and pay for."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import (
    ANON,
    RW,
    SHARED_ANON,
    MachineFactory,
    fork_stamped,
    free_with_pcp,
    pages,
    spawn_stamped,
    stamp_pages,
    stamped,
    swap_out,
)

from vmsim_kernel import (
    PAGE_SIZE,
    LimitExceeded,
    Machine,
    MiB,
    OutOfMemory,
    OvercommitMode,
    Prot,
)
from vmsim_kernel.mm.swap import swp_offset

pytestmark = pytest.mark.machine(ram_bytes=64 * MiB, swap_bytes=16 * MiB, nr_cpus=1)


def test_the_child_reads_the_parents_bytes_without_a_fault_or_a_new_page(machine: Machine) -> None:
    parent, addr = spawn_stamped(machine, 8)
    free = machine.meminfo()["MemFree"]
    child = machine.fork(parent)
    faults = machine.process(child).minor_faults
    assert [machine.read(child, addr + p * PAGE_SIZE, 6) for p in range(8)] == [
        f"page {p}".encode()[:6] for p in range(8)
    ]
    assert machine.process(child).minor_faults == faults
    # Only the child's page directory and page tables were allocated.
    assert machine.meminfo()["MemFree"] >= free - 4 * 4
    machine.check_invariants()


def test_a_write_copies_the_page_and_each_side_keeps_its_own_bytes(machine: Machine) -> None:
    parent, child, addr = fork_stamped(machine, 4)
    anon = machine.vmstat()["nr_anon_pages"]
    machine.write(child, addr, b"child!")
    assert machine.vmstat()["nr_anon_pages"] == anon + 1  # the copy
    assert machine.read(child, addr, 6) == b"child!"
    assert machine.read(parent, addr, 6) == b"page 0"
    machine.check_invariants()


def test_the_last_mapper_reuses_its_page_with_a_fault_counted_as_pgreuse(
    machine: Machine,
) -> None:
    parent, child, addr = fork_stamped(machine, 4)
    machine.write(child, addr, b"child!")  # the child copies: the parent maps page 0 alone
    before = machine.vmstat()
    faults = machine.process(parent).minor_faults
    machine.write(parent, addr, b"parent")
    after = machine.vmstat()
    assert machine.process(parent).minor_faults == faults + 1
    assert after["pgreuse"] == before["pgreuse"] + 1
    assert after["nr_anon_pages"] == before["nr_anon_pages"]
    assert machine.read(child, addr, 6) == b"child!"


def test_fork_then_child_exit_leaves_every_page_to_the_parent_alone(machine: Machine) -> None:
    parent, addr = spawn_stamped(machine, 16)
    free = free_with_pcp(machine.kernel.allocator)
    child = machine.fork(parent)
    machine.exit(child)
    assert free_with_pcp(machine.kernel.allocator) == free
    before = machine.vmstat()
    machine.touch_many(parent, pages(addr, 16), True)
    after = machine.vmstat()
    assert after["pgreuse"] - before["pgreuse"] == 16
    assert after["nr_anon_pages"] == before["nr_anon_pages"]
    machine.check_invariants()


def test_smaps_splits_shared_pages_between_the_two_processes(machine: Machine) -> None:
    parent, child, addr = fork_stamped(machine, 10)
    machine.write(child, addr, b"x")
    for pid in (parent, child):
        (info,) = [vma for vma in machine.maps(pid) if vma.start == addr]
        assert info.rss == 10 * PAGE_SIZE
        assert info.pss == 9 * PAGE_SIZE // 2 + PAGE_SIZE
        assert info.shared_dirty == 9 * PAGE_SIZE
        assert info.private_dirty == PAGE_SIZE


def test_swap_entries_are_duplicated_and_swap_pss_is_halved(machine: Machine) -> None:
    parent, addr = spawn_stamped(machine, 4)
    swap_out(machine, parent, addr)
    child = machine.fork(parent)
    swap = machine.kernel.swap
    assert swap is not None
    entry = machine.translate(child, addr).pte
    assert entry is not None
    assert swap.swap_map[swp_offset(entry)] == 2
    for pid in (parent, child):
        (info,) = [vma for vma in machine.maps(pid) if vma.start == addr]
        assert (info.swap, info.swap_pss) == (PAGE_SIZE, PAGE_SIZE // 2)
    machine.write(child, addr, b"child!")
    assert machine.read(parent, addr, 6) == b"page 0"
    assert machine.read(child, addr, 6) == b"child!"
    machine.check_invariants()
    machine.exit(child)
    machine.exit(parent)
    assert swap.inuse_pages == 0


def test_a_page_swapped_in_by_one_side_is_found_in_the_swap_cache_by_the_other(
    machine: Machine,
) -> None:
    parent, child, addr = fork_stamped(machine, 2)
    swap_out(machine, parent, addr)
    assert machine.read(parent, addr, 6) == b"page 0"  # major: read into the swap cache
    majors = machine.process(child).major_faults
    assert machine.read(child, addr, 6) == b"page 0"
    assert machine.process(child).major_faults == majors  # found in the swap cache
    assert machine.translate(child, addr).physical == machine.translate(parent, addr).physical
    machine.write(parent, addr, b"parent")  # still shared: copied
    assert machine.read(child, addr, 6) == b"page 0"
    machine.check_invariants()


def test_mprotect_keeps_a_shared_page_read_only_so_its_write_still_copies(
    machine: Machine,
) -> None:
    parent, child, addr = fork_stamped(machine, 2)
    machine.mprotect(parent, addr, 2 * PAGE_SIZE, int(Prot.READ))
    machine.mprotect(parent, addr, 2 * PAGE_SIZE, RW)
    machine.write(parent, addr, b"parent")
    assert machine.read(child, addr, 6) == b"page 0"
    machine.check_invariants()


def test_a_shared_mapping_stays_shared_across_fork(machine: Machine) -> None:
    parent, child, addr = fork_stamped(machine, 2, SHARED_ANON)
    machine.write(child, addr, b"child!")
    assert machine.read(parent, addr, 6) == b"child!"
    machine.check_invariants()


def test_fork_past_max_processes_is_refused_and_changes_nothing(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=16 * MiB, max_processes=1)
    parent, _addr = spawn_stamped(machine, 2)
    free = free_with_pcp(machine.kernel.allocator)
    with pytest.raises(LimitExceeded, match="max_processes"):
        machine.fork(parent)
    assert free_with_pcp(machine.kernel.allocator) == free
    assert [info.pid for info in machine.processes()] == [parent]


def test_fork_that_overcommits_under_mode_never_is_refused_and_changes_nothing(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=64 * MiB, overcommit_memory=OvercommitMode.NEVER)
    parent = machine.spawn("big")
    limit = machine.meminfo()["CommitLimit"] * 1024
    machine.mmap(parent, 0, limit * 2 // 3 // PAGE_SIZE * PAGE_SIZE, RW, ANON)
    before = machine.meminfo()
    with pytest.raises(OutOfMemory, match="cannot commit"):
        machine.fork(parent)
    after = machine.meminfo()
    assert (after["MemFree"], after["Committed_AS"]) == (
        before["MemFree"],
        before["Committed_AS"],
    )
    assert len(machine.processes()) == 1
    machine.check_invariants()


def test_fork_replays_from_the_journal_to_the_same_costs(make_machine: MachineFactory) -> None:
    from vmsim_kernel.journal import replay_journal

    machine = make_machine(ram_bytes=16 * MiB, record=True)
    parent, addr = spawn_stamped(machine, 4)
    child = machine.fork(parent)
    machine.write(child, addr, b"x")
    assert machine.journal is not None
    recorded = [entry for entry in machine.journal if entry[0] == "fork"]
    assert recorded
    costs = replay_journal(machine.config, machine.journal)
    fork_index = [entry[0] for entry in machine.journal].index("fork")
    assert costs[fork_index] is not None


@pytest.mark.slow
def test_xv6_cowtest_more_than_half_of_ram_forks_and_both_write_everything(
    make_machine: MachineFactory,
) -> None:
    """xv6's cowtest: a process using more than half of RAM forks (possible only with COW),
    both write every page, each reads back its own bytes; after both exit, free memory and
    swap are what they were before."""
    machine = make_machine(ram_bytes=64 * MiB, swap_bytes=64 * MiB, nr_cpus=1)
    swap = machine.kernel.swap
    assert swap is not None
    free_before = free_with_pcp(machine.kernel.allocator)
    nr_pages = machine.meminfo()["MemTotal"] * 1024 * 6 // 10 // PAGE_SIZE
    parent = machine.spawn("cowtest")
    addr = machine.mmap(parent, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.touch_many(parent, pages(addr, nr_pages), True)
    child = machine.fork(parent)
    for pid, tag in ((child, b"C"), (parent, b"P")):
        stamp_pages(machine, pid, addr, nr_pages, tag)
    for pid, tag in ((parent, b"P"), (child, b"C")):
        assert all(stamped(machine, pid, addr, nr_pages, tag, step=7))
    machine.check_invariants()
    machine.exit(child)
    machine.exit(parent)
    assert free_with_pcp(machine.kernel.allocator) == free_before
    assert swap.inuse_pages == 0
    machine.check_invariants()


def test_fork_charges_the_childs_private_writable_mappings_not_its_shared_ones(
    machine: Machine,
) -> None:
    parent = machine.spawn("parent")
    machine.mmap(parent, 0, 10 * PAGE_SIZE, RW, ANON)
    machine.mmap(parent, 0, 20 * PAGE_SIZE, RW, SHARED_ANON)
    machine.mmap(parent, 0, 40 * PAGE_SIZE, int(Prot.READ), ANON)  # not accounted
    before = machine.meminfo()["Committed_AS"]
    child = machine.fork(parent)
    stack = 33  # the [stack] VMA, private and writable too
    assert machine.meminfo()["Committed_AS"] - before == (10 + stack) * 4
    machine.exit(child)
    assert machine.meminfo()["Committed_AS"] == before
    machine.check_invariants()
