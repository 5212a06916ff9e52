"""MADV_FREE (mm/madvise.c madvise_free_pte_range, mm/vmscan.c's lazyfree branch): pages
stay mapped until reclaim needs them, are then discarded without swap I/O while clean, and
are kept when written again; and MADV_DONTNEED on shared memory keeps the object's bytes."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import (
    ANON,
    RW,
    SHARED_ANON,
    MachineFactory,
    pages,
    stamp_pages,
    stamped,
    swap_out,
    write_pages,
)

from vmsim_kernel import MAP_PRIVATE, PAGE_SIZE, InvalidArgument, Machine, Madvise
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.mm.physmem import PageFlag

NR_PAGES = 256


def _lazyfree(machine: Machine, tag: bytes) -> tuple[int, int]:
    """A process whose NR_PAGES, stamped with *tag*, it has given MADV_FREE; (pid, addr)."""
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, NR_PAGES * PAGE_SIZE, RW, ANON)
    stamp_pages(machine, pid, addr, NR_PAGES, tag)
    machine.madvise(pid, addr, NR_PAGES * PAGE_SIZE, Madvise.FREE)
    return pid, addr


def _squeeze(machine: Machine, nr_pages: int) -> None:
    """Memory pressure: another process writes *nr_pages* fresh anonymous pages."""
    write_pages(machine, machine.spawn("squeeze"), nr_pages)


def _smaps_field(machine: Machine, pid: int, addr: int, field: str) -> int:
    """One kB field of the smaps entry of the VMA that holds *addr*."""
    for entry in machine.report("smaps", pid).split("VmFlags:"):
        lines = entry.strip().splitlines()
        header = next((line for line in lines if "-" in line.split(" ")[0]), None)
        if header is None:
            continue
        start, end = (int(part, 16) for part in header.split(" ")[0].split("-"))
        if start <= addr < end:
            return int(next(line for line in lines if line.startswith(f"{field}:")).split()[1])
    raise AssertionError(f"no VMA holds 0x{addr:x}")


def test_madv_free_without_pressure_keeps_the_pages_mapped_and_their_bytes(
    machine: Machine,
) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, NR_PAGES * PAGE_SIZE, RW, ANON)
    stamp_pages(machine, pid, addr, NR_PAGES, b"kept")
    inactive_file = machine.meminfo()["Inactive(file)"]
    machine.madvise(pid, addr, NR_PAGES * PAGE_SIZE, Madvise.FREE)
    assert machine.vmstat()["pglazyfree"] == NR_PAGES
    assert machine.meminfo()["Inactive(file)"] - inactive_file == NR_PAGES * 4
    assert _smaps_field(machine, pid, addr, "LazyFree") == NR_PAGES * 4
    assert _smaps_field(machine, pid, addr, "Rss") == NR_PAGES * 4
    assert all(stamped(machine, pid, addr, NR_PAGES, b"kept"))
    machine.check_invariants()


def test_under_pressure_clean_lazyfree_pages_are_discarded_without_swap_io(
    machine: Machine,
) -> None:
    pid, addr = _lazyfree(machine, b"lazy")
    _squeeze(machine, 6000)  # 23 MiB through a 16 MiB machine
    discarded = machine.vmstat()["pglazyfreed"]
    # Reclaim stops taking file pages when the file lists are nearly empty (file_is_tiny):
    # most lazyfree pages went, the last few may stay.
    assert NR_PAGES - 32 <= discarded <= NR_PAGES
    assert _smaps_field(machine, pid, addr, "Swap") == 0  # none of them went to swap
    assert _smaps_field(machine, pid, addr, "Rss") == (NR_PAGES - discarded) * 4
    kept = stamped(machine, pid, addr, NR_PAGES, b"lazy")
    assert kept.count(False) == discarded
    gone = kept.index(False)
    assert machine.read(pid, addr + gone * PAGE_SIZE, 64) == bytes(64)  # zero-filled
    machine.check_invariants()


def test_a_write_after_madv_free_keeps_the_page_through_reclaim(machine: Machine) -> None:
    pid, addr = _lazyfree(machine, b"old!")
    half = NR_PAGES // 2
    stamp_pages(machine, pid, addr, half, b"new!")  # redirties the first half
    _squeeze(machine, 6000)
    assert all(stamped(machine, pid, addr, half, b"new!"))
    assert NR_PAGES - half - 32 <= machine.vmstat()["pglazyfreed"] <= NR_PAGES - half
    # Reclaim met the written ones and kept them: swap-backed anon pages again.
    physmem = machine.kernel.physmem
    pfns = [machine.translate(pid, addr + i * PAGE_SIZE).pfn for i in range(half)]
    resident = [pfn for pfn in pfns if pfn is not None]
    assert resident and all(physmem.test_flags(pfn, PageFlag.SWAPBACKED) for pfn in resident)
    machine.check_invariants()


def test_without_swap_lazyfree_pages_are_still_reclaimed(make_machine: MachineFactory) -> None:
    """Linux 6.1 frees lazily on a swapless machine too (madvise_free_single_vma has no
    swap check since 4.12): the discard is what lets this allocation succeed."""
    machine = make_machine(swap_bytes=0)
    pid = machine.spawn()
    lazy = 1024
    addr = write_pages(machine, pid, lazy)
    machine.madvise(pid, addr, lazy * PAGE_SIZE, Madvise.FREE)
    free_pages = machine.meminfo()["MemFree"] // 4
    _squeeze(machine, free_pages + lazy // 2)
    assert machine.vmstat()["pglazyfreed"] >= lazy // 2
    assert machine.vmstat()["oom_kill"] == 0
    machine.check_invariants()


def test_madv_free_drops_swapped_out_pages_and_their_slots(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    stamp_pages(machine, pid, addr, 4, b"swap")
    swap_free = machine.meminfo()["SwapFree"]
    swap_out(machine, pid, addr)
    assert machine.meminfo()["SwapFree"] == swap_free - 4
    machine.madvise(pid, addr, 4 * PAGE_SIZE, Madvise.FREE)
    assert machine.meminfo()["SwapFree"] == swap_free
    assert machine.read(pid, addr, 8) == bytes(8)
    assert stamped(machine, pid, addr, 4, b"swap")[1:] == [True] * 3
    machine.check_invariants()


def test_madv_free_leaves_pages_shared_with_a_child_alone(machine: Machine) -> None:
    parent = machine.spawn()
    addr = write_pages(machine, parent, 8)
    child = machine.fork(parent)
    machine.madvise(parent, addr, 8 * PAGE_SIZE, Madvise.FREE)
    assert machine.vmstat()["pglazyfree"] == 0
    assert _smaps_field(machine, parent, addr, "LazyFree") == 0
    machine.exit(child)
    machine.check_invariants()


def test_lazyfree_pages_can_be_unmapped_locked_and_exited(machine: Machine) -> None:
    pid = machine.spawn()
    addr = write_pages(machine, pid, 16)
    machine.madvise(pid, addr, 16 * PAGE_SIZE, Madvise.FREE)
    machine.mlock(pid, addr, 4 * PAGE_SIZE)
    machine.munlock(pid, addr, 4 * PAGE_SIZE)
    machine.munmap(pid, addr + 8 * PAGE_SIZE, 4 * PAGE_SIZE)
    machine.check_invariants()
    machine.exit(pid)
    machine.check_invariants()


@pytest.mark.parametrize("shared", [True, False], ids=["shared-anon", "file"])
def test_madv_free_on_a_shared_or_file_mapping_is_einval_and_changes_nothing(
    machine: Machine, shared: bool
) -> None:
    pid = machine.spawn()
    if shared:
        addr = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, SHARED_ANON)
    else:
        fd = machine.open_file(pid, "data", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
        machine.pwrite_file(pid, fd, b"x" * 4 * PAGE_SIZE, 0)
        addr = machine.mmap_file(pid, fd, 0, 4 * PAGE_SIZE, RW, MAP_PRIVATE)
    machine.touch_many(pid, pages(addr, 4), write=True)
    before = machine.report("smaps", pid)
    with pytest.raises(InvalidArgument, match="MADV_FREE on a shared or file mapping"):
        machine.madvise(pid, addr, 4 * PAGE_SIZE, Madvise.FREE)
    assert machine.report("smaps", pid) == before
    assert machine.vmstat()["pglazyfree"] == 0


def test_madv_free_on_an_mlocked_range_is_einval(machine: Machine) -> None:
    pid = machine.spawn()
    addr = write_pages(machine, pid, 4)
    machine.mlock(pid, addr, 4 * PAGE_SIZE)
    with pytest.raises(InvalidArgument, match="MADV_FREE on an mlocked range"):
        machine.madvise(pid, addr, 4 * PAGE_SIZE, Madvise.FREE)


def test_an_unknown_advice_names_madv_free_among_the_allowed(machine: Machine) -> None:
    pid = machine.spawn()
    addr = write_pages(machine, pid, 1)
    with pytest.raises(InvalidArgument) as raised:
        machine.madvise(pid, addr, PAGE_SIZE, 7)
    assert "FREE 8" in str(raised.value)


def test_dontneed_on_shared_anonymous_memory_keeps_the_data_for_the_next_fault(
    machine: Machine,
) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, SHARED_ANON)
    stamp_pages(machine, pid, addr, 4, b"shm!")
    shmem = machine.meminfo()["Shmem"]
    machine.madvise(pid, addr, 4 * PAGE_SIZE, Madvise.DONTNEED)
    assert _smaps_field(machine, pid, addr, "Rss") == 0  # the PTEs are zapped
    assert machine.meminfo()["Shmem"] == shmem  # the pages are not
    assert all(stamped(machine, pid, addr, 4, b"shm!"))
    machine.check_invariants()
