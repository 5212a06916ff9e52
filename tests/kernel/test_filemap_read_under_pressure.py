"""read(2) of a file while the allocations for its readahead window reclaim page cache."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import RW, pages

from vmsim_kernel import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, Machine, MachineConfig, MiB
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
