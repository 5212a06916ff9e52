"""swapon/swapoff of extra swap areas (mm/swapfile.c): priorities, round-robin, try_to_unuse."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.kernel.conftest import RW

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_NONE,
    InvalidArgument,
    Machine,
    MachineConfig,
    MiB,
    OvercommitMode,
)
from vmsim_kernel.errors import (
    AlreadyExists,
    LimitExceeded,
    NoSuchObject,
    OutOfMemory,
    SwapIoError,
)
from vmsim_kernel.mm.swap import MAX_SWAPFILES, SwapIo
from vmsim_kernel.mm.swapfile import SWAP_BATCH

pytestmark = pytest.mark.fast

ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
RAM = 16 * MiB
NR_PAGES = RAM // PAGE_SIZE + 1024  # more than RAM holds: about 1500 pages go to swap


def stamp(index: int) -> bytes:
    return struct.pack("<I", index) * (PAGE_SIZE // 4)


def stamps(first: int, nr_pages: int) -> bytes:
    return b"".join(stamp(index) for index in range(first, first + nr_pages))


@pytest.fixture
def boot() -> Iterator[Callable[..., Machine]]:
    """Boots machines with RAM and the given configuration; closes them after the test."""
    booted: list[Machine] = []

    def make(**config: Any) -> Machine:
        booted.append(Machine(MachineConfig(ram_bytes=RAM, **config)))
        return booted[-1]

    yield make
    for m in booted:
        m.close()


@pytest.fixture
def machine(boot: Callable[..., Machine]) -> Machine:
    return boot(swap_bytes=16 * MiB)


def used_kb(machine: Machine) -> dict[str, int]:
    """/proc/swaps Used per area, by file name."""
    return {str(row["filename"]): int(row["used_kb"]) for row in machine.swaps()}


def fill(machine: Machine, nr_pages: int = NR_PAGES, first: int = 0) -> tuple[int, int]:
    """A process that wrote stamps first.. into *nr_pages* pages: (pid, address)."""
    pid = machine.spawn()
    base = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.write(pid, base, stamps(first, nr_pages))
    return pid, base


def assert_stamps(
    machine: Machine, pid: int, base: int, nr_pages: int = NR_PAGES, first: int = 0
) -> None:
    assert machine.read(pid, base, nr_pages * PAGE_SIZE) == stamps(first, nr_pages)


def state(machine: Machine) -> tuple[Any, ...]:
    """What a refused swapon/swapoff must leave as it was."""
    meminfo = machine.meminfo()
    return (machine.report("swaps"), meminfo["SwapTotal"], meminfo["SwapFree"])


def test_pages_pushed_into_a_second_area_read_back_byte_equal(machine: Machine) -> None:
    boot = machine.swaps()[0]["filename"]
    machine.swapon("second", 16 * MiB, 5)
    pid, base = fill(machine)
    used = used_kb(machine)
    assert used["/swap/second"] > 1000 * 4 and used[str(boot)] == 0
    assert machine.translate(pid, base).swap_type == 1
    assert_stamps(machine, pid, base)
    assert machine.vmstat()["pswpin"] > 0
    machine.check_invariants()


def test_a_higher_priority_area_fills_first_then_the_next(machine: Machine) -> None:
    boot = str(machine.swaps()[0]["filename"])
    machine.swapon("low", 8 * MiB, 1)
    machine.swapon("high", 2 * MiB, 10)  # 511 slots: too few for what is pushed out
    pid, base = fill(machine)
    used = used_kb(machine)
    assert used["/swap/high"] == 511 * 4  # full
    assert used["/swap/low"] > 0
    assert used[boot] == 0  # priority -2: nothing reaches it while the others have room
    assert_stamps(machine, pid, base)
    machine.check_invariants()


def test_equal_priorities_alternate_round_robin(machine: Machine) -> None:
    machine.swapon("a", 16 * MiB, 5)
    machine.swapon("b", 16 * MiB, 5)
    fill(machine)
    used = used_kb(machine)
    pages_a, pages_b = used["/swap/a"] // 4, used["/swap/b"] // 4
    assert pages_a > 4 * SWAP_BATCH and pages_b > 4 * SWAP_BATCH
    # swap_slots: runs of SWAP_BATCH slots from one area, then the other's turn
    assert abs(pages_a - pages_b) <= SWAP_BATCH
    machine.check_invariants()


def test_swapoff_brings_every_page_back(machine: Machine) -> None:
    total_before = machine.meminfo()["SwapTotal"]
    machine.swapon("second", 16 * MiB, 5)
    assert machine.meminfo()["SwapTotal"] == total_before + 16 * 1024 - 4
    pid, base = fill(machine, 2048 + 512)
    child = machine.fork(pid)  # the child's PTEs share the parent's swap slots
    machine.shm_create(pid, "/board", 64 * PAGE_SIZE, 0o600)
    board = machine.shm_map(pid, "/board", RW)
    machine.write(pid, board, stamps(10_000, 64))
    fill(machine, 2048)  # pushes the board and more of the first process out
    assert used_kb(machine)["/swap/second"] > 0
    machine.swapoff("second")
    assert "/swap/second" not in used_kb(machine)
    assert machine.meminfo()["SwapTotal"] == total_before
    machine.check_invariants()
    assert_stamps(machine, pid, base, 2048 + 512)
    assert_stamps(machine, child, base, 2048 + 512)
    assert_stamps(machine, pid, board, 64, 10_000)
    machine.check_invariants()


def test_swapoff_that_cannot_fit_fails_enomem_and_changes_nothing(
    boot: Callable[..., Machine],
) -> None:
    machine = boot(swap_bytes=2 * MiB)
    machine.swapon("second", 16 * MiB, 5)
    pid, base = fill(machine)
    before = state(machine)
    entry = machine.translate(pid, base)
    assert entry.swap_type == 1
    with pytest.raises(OutOfMemory, match="do not fit"):
        machine.swapoff("second")
    assert state(machine) == before
    assert machine.translate(pid, base) == entry
    machine.check_invariants()
    used = used_kb(machine)["/swap/second"]
    fill(machine, 256)  # still in use: it takes new pages as before
    assert used_kb(machine)["/swap/second"] > used
    assert_stamps(machine, pid, base)


def test_swapoff_of_the_boot_area_moves_its_pages_to_another(machine: Machine) -> None:
    pid, base = fill(machine)
    boot = str(machine.swaps()[0]["filename"])
    assert used_kb(machine)[boot] > 0
    machine.swapon("second", 16 * MiB)
    machine.swapoff(boot)
    assert list(used_kb(machine)) == ["/swap/second"]
    assert machine.meminfo()["SwapTotal"] == 16 * 1024 - 4
    assert_stamps(machine, pid, base)
    machine.check_invariants()


def test_swapoff_of_the_only_area_with_nothing_in_it_leaves_no_swap(machine: Machine) -> None:
    # named as /proc/swaps prints it: the anonymous file's " (deleted)" escaped as \040
    shown = machine.report("swaps").splitlines()[1].split()[0]
    assert "\\040(deleted)" in shown
    machine.swapoff(shown)
    assert machine.swaps() == [] and machine.meminfo()["SwapTotal"] == 0
    assert machine.kernel.swap is None
    machine.swapon("again", 1 * MiB)
    assert list(used_kb(machine)) == ["/swap/again"]


@pytest.mark.parametrize(
    ("name", "size", "priority", "error", "names"),
    [
        ("", 1 * MiB, -1, InvalidArgument, "name"),
        ("a/b", 1 * MiB, -1, InvalidArgument, "without '/'"),
        ("..", 1 * MiB, -1, InvalidArgument, "name"),
        ("x" * 256, 1 * MiB, -1, InvalidArgument, "255"),
        ("tab\there", 1 * MiB, -1, InvalidArgument, "control character"),
        ("ok", 0, -1, InvalidArgument, "8192"),
        ("ok", PAGE_SIZE, -1, InvalidArgument, "the header and one slot"),
        ("ok", 1 * MiB + 1, -1, InvalidArgument, "a multiple of 4096"),
        ("ok", 2048 * MiB, -1, InvalidArgument, "swapon_budget_bytes"),
        ("ok", 1 * MiB, -2, InvalidArgument, "32767"),
        ("ok", 1 * MiB, 32768, InvalidArgument, "32767"),
    ],
)
def test_bad_swapon_is_refused_naming_the_limit_and_changes_nothing(
    machine: Machine, name: str, size: int, priority: int, error: type[Exception], names: str
) -> None:
    before = state(machine)
    with pytest.raises(error, match=names):
        machine.swapon(name, size, priority)
    assert state(machine) == before


def test_swapon_of_an_active_name_and_swapoff_of_an_unknown_one_are_refused(
    machine: Machine,
) -> None:
    machine.swapon("second", 1 * MiB)
    before = state(machine)
    with pytest.raises(AlreadyExists, match="/swap/second is an active swap area"):
        machine.swapon("/swap/second", 1 * MiB)
    with pytest.raises(NoSuchObject, match="no active swap area named 'third'"):
        machine.swapoff("third")
    assert state(machine) == before


def test_the_disk_budget_counts_every_swapon_area(boot: Callable[..., Machine]) -> None:
    machine = boot(swapon_budget_bytes=4 * MiB)
    machine.swapon("a", 3 * MiB)
    with pytest.raises(InvalidArgument, match="1048576 bytes left of swapon_budget"):
        machine.swapon("b", 2 * MiB)
    machine.swapon("b", 1 * MiB)
    machine.swapoff("a")
    machine.swapon("c", 3 * MiB)


def test_more_than_max_swapfiles_areas_are_refused(machine: Machine) -> None:
    for index in range(MAX_SWAPFILES - 1):  # the boot area is the first
        machine.swapon(f"s{index}", 2 * PAGE_SIZE)
    before = state(machine)
    with pytest.raises(LimitExceeded, match="32 swap areas"):
        machine.swapon("one-more", 2 * PAGE_SIZE)
    assert state(machine) == before


def test_automatic_priorities_continue_below_the_boot_area(machine: Machine) -> None:
    machine.swapon("a", 1 * MiB)
    machine.swapon("b", 1 * MiB, 7)
    machine.swapon("c", 1 * MiB)
    assert [row["priority"] for row in machine.swaps()] == [-2, -3, 7, -4]


class UnreadableDisk(SwapIo):
    """A block layer whose every read fails (EIO)."""

    def preadv(self, fd: int, buffer: memoryview, offset: int) -> int:
        raise OSError(errno.EIO, "Input/output error")


def test_a_page_swapoff_cannot_read_kills_its_process_and_swapoff_completes(
    machine: Machine,
) -> None:
    machine.swapon("second", 16 * MiB, 5)
    victim, _base = fill(machine)
    area = next(a for a in machine.kernel.swap_info.areas() if a.path == "/swap/second")
    area.io = UnreadableDisk()
    machine.swapoff("second")
    assert "/swap/second" not in used_kb(machine)
    assert machine.process(victim).state.value != "R"  # SIGBUS, as unuse_pte would
    assert "Read-error on swap-device" in machine.kernel.kernel_log.text()
    # the freed area's read errors stay in the totals the metrics export (a counter)
    assert machine.swap_io_errors()[1] == area.nr_read_errors > 0
    machine.check_invariants()


def test_swapoff_leaves_the_resident_pages_of_a_prot_none_mapping_alone(machine: Machine) -> None:
    """A PROT_NONE PTE names a frame without PRESENT: its low bits must not be read as the
    swap type of the area being emptied."""
    pid = machine.spawn()
    hidden = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.write(pid, hidden, stamp(7))
    machine.mprotect(pid, hidden, PAGE_SIZE, PROT_NONE)
    pte = machine.translate(pid, hidden).pte
    assert pte is not None and not pte & 1
    pte_type = (pte >> 1) & (MAX_SWAPFILES - 1)  # what __swp_type would read from it
    for index in range(1, pte_type):
        machine.swapon(f"pad{index}", 2 * PAGE_SIZE)
    machine.swapon("second", 16 * MiB, 5)
    assert machine.kernel.swap_info.area(pte_type).path == "/swap/second"
    machine.swapoff("second")
    assert machine.translate(pid, hidden).pte == pte
    machine.mprotect(pid, hidden, PAGE_SIZE, RW)
    assert machine.read(pid, hidden, PAGE_SIZE) == stamp(7)
    machine.check_invariants()


def test_swapoff_that_would_leave_more_committed_than_the_limit_fails_enomem(
    boot: Callable[..., Machine],
) -> None:
    """overcommit_memory=2: security_vm_enough_memory(p->pages) fails when Committed_AS
    would exceed CommitLimit without the area, though nothing is in it."""
    machine = boot(swap_bytes=1 * MiB, overcommit_memory=OvercommitMode.NEVER)
    machine.swapon("big", 64 * MiB)
    pid = machine.spawn()
    machine.mmap(pid, 0, 40 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)  # committed, untouched
    before = state(machine)
    with pytest.raises(OutOfMemory, match="cannot commit"):
        machine.swapoff("big")
    assert state(machine) == before
    machine.swapoff(str(machine.swaps()[0]["filename"]))  # the 1 MiB boot area may go


def test_a_shared_memory_page_swapoff_cannot_read_fails_it_eio_and_the_area_stays_on(
    machine: Machine,
) -> None:
    """No process can take the blame for a shmem slot that cannot be read back (Linux's
    try_to_unuse would retry it until a signal): swapoff fails with EIO, the area stays on,
    and once the device reads again a second swapoff brings the object's bytes back."""
    machine.swapon("second", 16 * MiB, 5)
    writer = machine.spawn()
    machine.shm_create(writer, "/board", 64 * PAGE_SIZE, 0o600)
    board = machine.shm_map(writer, "/board", RW)
    machine.write(writer, board, stamps(10_000, 64))
    machine.exit(writer)  # the object outlives its writer, as a named one does
    fill(machine, NR_PAGES + 512)  # pushes the board out to the second area
    area = next(a for a in machine.kernel.swap_info.areas() if a.path == "/swap/second")
    assert any(obj.swapped for obj in machine.kernel.shmem.objects), (
        "the board's pages must be in swap for this test"
    )
    readable = area.io
    area.io = UnreadableDisk()
    with pytest.raises(SwapIoError):
        machine.swapoff("second")
    assert "/swap/second" in used_kb(machine) and used_kb(machine)["/swap/second"] > 0
    machine.check_invariants()
    area.io = readable
    machine.swapoff("second")
    assert "/swap/second" not in used_kb(machine)
    reader = machine.spawn()
    assert machine.read(reader, machine.shm_map(reader, "/board", RW), 64 * PAGE_SIZE) == stamps(
        10_000, 64
    )
    machine.check_invariants()
