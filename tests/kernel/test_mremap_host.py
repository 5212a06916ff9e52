"""The same mremap sequences on the host kernel (ctypes: libc's mmap, mprotect, mremap) and on
vmsim give the same outcome in every case vmsim models: success and where the mapping went
(in place, moved, to the target), the bytes read back, or the errno.

Left out, as the host cannot be compared there: ENOMEM for want of address space (the host
is 64-bit), EPERM below mmap_min_addr and EAGAIN past RLIMIT_MEMLOCK (the tests may run as
root, which has CAP_SYS_RAWIO and CAP_IPC_LOCK), the commit limit (the host's own setting).
"""

from __future__ import annotations

import ctypes
import errno as errno_codes
import sys
from collections.abc import Callable
from ctypes import c_int, c_long, c_size_t, c_void_p
from typing import Any, Protocol

import pytest
from tests.kernel.conftest import MachineFactory

from vmsim_kernel import PAGE_SIZE, KernelError, Machine, MiB

P = PAGE_SIZE
PROT_READ, PROT_WRITE = 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAYMOVE, FIXED, DONTUNMAP = 1, 2, 4
RW = PROT_READ | PROT_WRITE
UNMAPPED = b"(unmapped)"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="compares with the Linux host")


class Backend(Protocol):
    """The calls a case makes, on the host or on vmsim."""

    def mmap(self, length: int, prot: int, flags: int, addr: int = 0) -> int: ...
    def munmap(self, addr: int, length: int) -> None: ...
    def mprotect(self, addr: int, length: int, prot: int) -> None: ...
    def mremap(self, addr: int, old: int, new: int, flags: int, new_addr: int = 0) -> int:
        """The new address; OSError(errno) when refused."""
        ...

    def write(self, addr: int, data: bytes) -> None: ...
    def read(self, addr: int, length: int) -> bytes: ...


def _declared(function: Any, restype: Any, *argtypes: Any) -> Any:
    """*function* of libc told its C return and argument types (ctypes would guess ints)."""
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


class Host:
    """libc through ctypes, on this process's own address space."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        # void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
        self._mmap = _declared(libc.mmap, c_void_p, c_void_p, c_size_t, c_int, c_int, c_int, c_long)
        # void *mremap(void *old, size_t old_size, size_t new_size, int flags, void *new)
        self._mremap = _declared(
            libc.mremap, c_void_p, c_void_p, c_size_t, c_size_t, c_int, c_void_p
        )
        self._munmap = _declared(libc.munmap, c_int, c_void_p, c_size_t)
        self._mprotect = _declared(libc.mprotect, c_int, c_void_p, c_size_t, c_int)
        self.mapped: list[tuple[int, int]] = []

    @staticmethod
    def _check(result: int | None) -> int:
        if result is None or result in (2**64 - 1, -1):
            raise OSError(ctypes.get_errno(), "refused")
        return result

    def mmap(self, length: int, prot: int, flags: int, addr: int = 0) -> int:
        start = self._check(self._mmap(addr, length, prot, flags, -1, 0))
        self.mapped.append((start, length))
        return start

    def munmap(self, addr: int, length: int) -> None:
        if self._munmap(addr, length):
            raise OSError(ctypes.get_errno(), "munmap")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        if self._mprotect(addr, length, prot):
            raise OSError(ctypes.get_errno(), "mprotect")

    def mremap(self, addr: int, old: int, new: int, flags: int, new_addr: int = 0) -> int:
        start = self._check(self._mremap(addr, old, new, flags, new_addr))
        self.mapped.append((start, new))
        return start

    def write(self, addr: int, data: bytes) -> None:
        ctypes.memmove(addr, data, len(data))

    def read(self, addr: int, length: int) -> bytes:
        """Through /proc/self/mem, so an unmapped address reads as UNMAPPED, not SIGSEGV."""
        with open("/proc/self/mem", "rb", buffering=0) as mem:
            try:
                mem.seek(addr)
                return mem.read(length)
            except OSError:
                return UNMAPPED

    def close(self) -> None:
        """Unmap whatever a case may have left (unmapping a hole is harmless)."""
        for start, length in self.mapped:
            self._munmap(start, length)


class Simulated:
    """The same calls on one vmsim process."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.pid = machine.spawn("host twin")

    def _call(self, work: Callable[[], int | None]) -> int:
        try:
            return work() or 0
        except KernelError as error:
            raise OSError(getattr(errno_codes, error.errno_name), str(error)) from None

    def mmap(self, length: int, prot: int, flags: int, addr: int = 0) -> int:
        return self._call(lambda: self.machine.mmap(self.pid, addr, length, prot, flags))

    def munmap(self, addr: int, length: int) -> None:
        self._call(lambda: self.machine.munmap(self.pid, addr, length))

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self._call(lambda: self.machine.mprotect(self.pid, addr, length, prot))

    def mremap(self, addr: int, old: int, new: int, flags: int, new_addr: int = 0) -> int:
        return self._call(lambda: self.machine.mremap(self.pid, addr, old, new, flags, new_addr))

    def write(self, addr: int, data: bytes) -> None:
        self.machine.write(self.pid, addr, data)

    def read(self, addr: int, length: int) -> bytes:
        if not any(vma.start <= addr < vma.end for vma in self.machine.maps(self.pid)):
            return UNMAPPED
        return self.machine.read(self.pid, addr, length)


ARENA_PAGES = 64  # every case works inside a PROT_NONE arena of its own, the same on both
MAIN, TARGET, HOLE = 16, 40, 52  # where in the arena: the mapping, the FIXED target, a hole


def _written(
    b: Backend, arena: int, nr_pages: int, flags: int = MAP_PRIVATE | MAP_ANONYMOUS
) -> int:
    """*nr_pages* mapped at the arena's MAIN page, each written with its number; the start."""
    addr = b.mmap(nr_pages * P, RW, flags | MAP_FIXED, arena + MAIN * P)
    for page in range(nr_pages):
        b.write(addr + page * P, f"page {page}".encode())
    return addr


def _blocked(b: Backend, arena: int, nr_pages: int = 4) -> int:
    """_written with a read-only page right after it (another VMA): no growth in place."""
    addr = _written(b, arena, nr_pages + 1)
    b.mprotect(addr + nr_pages * P, P, PROT_READ)
    return addr


def _room_after(b: Backend, arena: int, nr_pages: int = 4) -> int:
    """_written with as many free (unmapped) pages right after it."""
    addr = _written(b, arena, 2 * nr_pages)
    b.munmap(addr + nr_pages * P, nr_pages * P)
    return addr


def _pages(b: Backend, addr: int, nr_pages: int) -> list[bytes]:
    return [b.read(addr + page * P, 6) for page in range(nr_pages)]


Outcome = tuple[object, ...]
Case = Callable[[Backend, int], Outcome]


def _remap(b: Backend, addr: int, *args: int) -> tuple[str, int]:
    """mremap, its result as ("ok", new address) or ("errno name", 0)."""
    try:
        return "ok", b.mremap(addr, *args)
    except OSError as error:
        return errno_codes.errorcode[error.errno], 0


def _where(result: tuple[str, int], addr: int, target: int = -1) -> str:
    status, new = result
    if status != "ok":
        return status
    return "in place" if new == addr else "at the target" if new == target else "moved"


def shrink(b: Backend, arena: int) -> Outcome:
    a = _written(b, arena, 4)
    return _where(_remap(b, a, 4 * P, 2 * P, 0), a), _pages(b, a, 3)


def shrink_across_two_mappings(b: Backend, arena: int) -> Outcome:
    a = _blocked(b, arena)
    return _where(_remap(b, a, 5 * P, 2 * P, 0), a), _pages(b, a, 5)


def same_size(b: Backend, arena: int) -> Outcome:
    a = _written(b, arena, 4)
    return (_where(_remap(b, a, 4 * P, 4 * P, 0), a),)


def grow_in_place(b: Backend, arena: int) -> Outcome:
    a = _room_after(b, arena)
    result = _remap(b, a, 4 * P, 8 * P, 0)
    if result[0] == "ok":
        b.write(a + 7 * P, b"grown")
    return _where(result, a), _pages(b, a, 4), b.read(a + 7 * P, 5)


def grow_blocked(b: Backend, arena: int) -> Outcome:
    a = _blocked(b, arena)
    return (_where(_remap(b, a, 4 * P, 8 * P, 0), a),)


def grow_blocked_may_move(b: Backend, arena: int) -> Outcome:
    a = _blocked(b, arena)
    result = _remap(b, a, 4 * P, 8 * P, MAYMOVE)
    return _where(result, a), _pages(b, result[1], 4), _pages(b, a, 1)


def _move_fixed_case(nr_pages: int, first: int, old: int, new: int, left: int) -> Case:
    """Of a written mapping of *nr_pages*, move pages *first* .. *first* + *old* to the arena's
    target with MAYMOVE|FIXED as *new* pages; the outcome: where they went, the target's
    pages, and the original mapping's first *left* pages (what the move left there)."""

    def case(b: Backend, arena: int) -> Outcome:
        a, t = _written(b, arena, nr_pages), arena + TARGET * P
        result = _remap(b, a + first * P, old * P, new * P, MAYMOVE | FIXED, t)
        return _where(result, a, t), _pages(b, t, new), _pages(b, a, left)

    return case


def move_fixed_growing(b: Backend, arena: int) -> Outcome:
    a, t = _written(b, arena, 4), arena + TARGET * P
    result = _remap(b, a, 4 * P, 6 * P, MAYMOVE | FIXED, t)
    return _where(result, a, t), _pages(b, t, 4), b.read(t + 5 * P, 4)


def dontunmap(b: Backend, arena: int) -> Outcome:
    a = _written(b, arena, 4)
    result = _remap(b, a, 4 * P, 4 * P, MAYMOVE | DONTUNMAP)
    return _where(result, a), _pages(b, result[1], 4), b.read(a, 4)


def shared_move(b: Backend, arena: int) -> Outcome:
    a, t = _written(b, arena, 4, MAP_SHARED | MAP_ANONYMOUS), arena + TARGET * P
    result = _remap(b, a, 4 * P, 4 * P, MAYMOVE | FIXED, t)
    return _where(result, a, t), _pages(b, t, 4)


def shared_duplicate(b: Backend, arena: int) -> Outcome:
    """old_size 0 on a shared mapping maps the same pages a second time."""
    a = _written(b, arena, 4, MAP_SHARED | MAP_ANONYMOUS)
    result = _remap(b, a, 0, 4 * P, MAYMOVE)
    if result[0] == "ok":
        b.write(result[1] + P, b"twin!")
    return _where(result, a), _pages(b, result[1], 4), b.read(a + P, 5)


def nothing_mapped_there(b: Backend, arena: int) -> Outcome:
    hole = arena + HOLE * P
    b.munmap(hole, 4 * P)
    return (_where(_remap(b, hole, P, 2 * P, MAYMOVE), hole),)


def _error_case(*args: int) -> Case:
    """mremap(mapping + args[0], args[1], args[2], args[3], args[4]) on a _blocked mapping of
    4 pages (new address -1: the arena's target; below 1 MiB: an offset from the mapping)."""

    def case(b: Backend, arena: int) -> Outcome:
        a = _blocked(b, arena)
        new_addr = arena + TARGET * P if args[4] == -1 else args[4]
        new_addr += a if 0 < new_addr < MiB else 0
        result = _remap(b, a + args[0], args[1], args[2], args[3], new_addr)
        return _where(result, a), _pages(b, a, 5)

    return case


CASES: list[tuple[str, Case]] = [
    ("shrink", shrink),
    ("shrink across two mappings", shrink_across_two_mappings),
    ("same size", same_size),
    ("grow in place", grow_in_place),
    ("grow blocked", grow_blocked),
    ("grow blocked, MAYMOVE", grow_blocked_may_move),
    ("move FIXED", _move_fixed_case(4, 0, 4, 4, left=1)),
    ("move FIXED growing", move_fixed_growing),
    ("move FIXED shrinking", _move_fixed_case(4, 0, 4, 2, left=4)),
    ("move the middle of a mapping", _move_fixed_case(6, 2, 2, 2, left=6)),
    ("DONTUNMAP", dontunmap),
    ("shared move", shared_move),
    ("shared duplicate", shared_duplicate),
    ("nothing mapped there", nothing_mapped_there),
    ("unknown flags", _error_case(0, 4 * P, 4 * P, 8, 0)),
    ("FIXED without MAYMOVE", _error_case(0, 4 * P, 4 * P, FIXED, -1)),
    ("DONTUNMAP resizing", _error_case(0, 4 * P, 8 * P, MAYMOVE | DONTUNMAP, 0)),
    ("unaligned old address", _error_case(8, 2 * P, 4 * P, MAYMOVE, 0)),
    ("new size 0", _error_case(0, 4 * P, 0, MAYMOVE, 0)),
    ("unaligned new address", _error_case(0, 4 * P, 4 * P, MAYMOVE | FIXED, 0x10)),
    ("overlapping ranges", _error_case(0, 4 * P, 4 * P, MAYMOVE | FIXED, P)),
    ("private old size 0", _error_case(0, 0, 4 * P, MAYMOVE, 0)),
    ("old range over two mappings", _error_case(0, 5 * P, 8 * P, MAYMOVE, 0)),
    ("old range past the end", _error_case(0, 8 * P, 9 * P, MAYMOVE | FIXED, -1)),
    ("same size over three mappings", _error_case(0, 8 * P, 8 * P, MAYMOVE, 0)),
]


@pytest.fixture(scope="module")
def host() -> Host:
    try:
        return Host()
    except (OSError, AttributeError) as error:
        pytest.skip(f"no libc mremap on this host: {error}")


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_vmsim_answers_as_the_host_kernel_does(
    host: Host, make_machine: MachineFactory, name: str, case: Case
) -> None:
    try:
        on_host = case(host, host.mmap(ARENA_PAGES * P, 0, MAP_PRIVATE | MAP_ANONYMOUS))
    finally:
        host.close()
        host.mapped.clear()
    machine = make_machine(ram_bytes=32 * MiB)
    simulated = Simulated(machine)
    on_vmsim = case(simulated, simulated.mmap(ARENA_PAGES * P, 0, MAP_PRIVATE | MAP_ANONYMOUS))
    assert on_vmsim == on_host, name
    machine.check_invariants()
