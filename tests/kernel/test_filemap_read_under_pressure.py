"""read(2) of a file while the allocations for its readahead window reclaim page cache."""

from __future__ import annotations

import contextlib

import pytest
from tests.kernel.conftest import RW, pages

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    KernelError,
    Machine,
    MachineConfig,
    MiB,
)
from vmsim_kernel.fs.vfs import OpenFlag

pytestmark = pytest.mark.fast


def test_a_read_gets_its_page_when_reclaim_took_it_back_during_readahead() -> None:
    """Found by the swap-areas state machine: with RAM full and one swap slot, reclaim for
    the window's later pages evicted the clean first page the read needs; it is read
    again alone (filemap_create_folio) instead of failing with a KeyError."""
    machine = Machine(MachineConfig(ram_bytes=4 * MiB, swap_bytes=2 * PAGE_SIZE))
    try:
        parent = machine.spawn(oom_score_adj=-82)
        reader = machine.fork(parent)
        hog = machine.spawn(oom_score_adj=1000)
        base = machine.mmap(hog, 0, 377 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
        machine.touch_many(hog, pages(base, 377), True)
        machine.exit(parent)
        payload = b"".join(bytes([1, 41 + i]) * (PAGE_SIZE // 2) for i in range(11))
        fd = machine.open_file(reader, "a", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
        machine.pwrite_file(reader, fd, payload, 41 * PAGE_SIZE)
        machine.close_file(reader, fd)
        fd = machine.open_file(reader, "a")
        got = machine.read_file(reader, fd, 53 * PAGE_SIZE)
        assert got == bytes(41 * PAGE_SIZE) + payload  # the hole reads as zeroes
        machine.check_invariants()
    finally:
        machine.close()


def test_no_page_of_a_readahead_window_is_reclaimed_before_it_is_read() -> None:
    """Found by the swap-areas state machine (no swap left, RAM full of a hog): reclaim for
    a window's later frames took back an earlier page of the same window, not read yet, and
    its frame went to a later page, so two blocks were read into one frame (a checksum
    error). Linux keeps such pages locked until read; here the window's frames are all
    allocated before any joins the cache."""
    machine = Machine(MachineConfig(ram_bytes=4 * MiB, swap_bytes=0))
    hog: list[int] = []

    def hog_memory(nr_pages: int) -> None:
        """A process OOM's first victim writes *nr_pages* (refused or killed past memory)."""
        if hog:
            with contextlib.suppress(KernelError):
                machine.exit(hog.pop())
        hog[:] = [machine.spawn(oom_score_adj=1000)]
        with contextlib.suppress(KernelError):
            base = machine.mmap(hog[0], 0, nr_pages * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
            machine.touch_many(hog[0], pages(base, nr_pages), True)

    def write_file(pid: int, first: int, nr_pages: int, fill: int) -> None:
        payload = b"".join(bytes([fill, first + i]) * (PAGE_SIZE // 2) for i in range(nr_pages))
        fd = machine.open_file(pid, "b", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
        machine.pwrite_file(pid, fd, payload, first * PAGE_SIZE)
        machine.close_file(pid, fd)
        expected[first * PAGE_SIZE : first * PAGE_SIZE + len(payload)] = payload

    def read_file(pid: int) -> bytes:
        fd = machine.open_file(pid, "b")
        got = machine.read_file(pid, fd, len(expected) + PAGE_SIZE)
        machine.close_file(pid, fd)
        return got

    expected = bytearray(37 * PAGE_SIZE)
    try:
        machine.spawn()
        for nr_pages in (413, 740, 256):
            hog_memory(nr_pages)
        writer = machine.spawn()
        hog_memory(366)
        base = machine.mmap(writer, 0, 197 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
        write_file(writer, 33, 4, 61)
        machine.set_sysctl("vm.drop_caches", "1")
        write_file(writer, 31, 1, 56)
        machine.write(writer, base + 90 * PAGE_SIZE, b"i\xd1\xd9\xff")
        assert read_file(writer) == bytes(expected)
        hog_memory(326)
        machine.exit(writer)
        for nr_pages in (611, 304, 397):
            hog_memory(nr_pages)  # the file's pages written back and dropped, RAM full
        assert read_file(machine.spawn()) == bytes(expected)
        machine.check_invariants()
    finally:
        machine.close()
