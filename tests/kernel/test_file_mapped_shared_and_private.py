"""A file page mapped MAP_SHARED (writable) by one mapping and MAP_PRIVATE (read-only until
written: copy-on-write) by another: both at once are legal, as on Linux. Found by the
random-syscall state machine, whose invariant check called the writable shared PTE a bug."""

from __future__ import annotations

import pytest

from vmsim_kernel import MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, Machine, MachineConfig, MiB
from vmsim_kernel.fs.vfs import OpenFlag

pytestmark = pytest.mark.fast

RW = 3


def test_a_page_mapped_shared_and_private_keeps_its_invariants_and_the_private_write_copies() -> (
    None
):
    machine = Machine(MachineConfig(ram_bytes=16 * MiB, swap_bytes=0))
    try:
        pid = machine.spawn()
        fd = machine.open_file(pid, "a", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
        machine.pwrite_file(pid, fd, b"A" * PAGE_SIZE, 0)
        shared = machine.mmap_file(pid, fd, 0, PAGE_SIZE, RW, MAP_SHARED)
        private = machine.mmap_file(pid, fd, 0, PAGE_SIZE, RW, MAP_PRIVATE)
        machine.close_file(pid, fd)
        child = machine.fork(pid)
        machine.write(pid, shared, b"S")  # writable in place: the file's own page
        assert machine.read(pid, private, 1) == b"S"  # read: the same page-cache page
        machine.check_invariants()  # a writable MAP_SHARED PTE beside read-only private ones
        machine.write(child, private, b"P")  # copy-on-write: the file keeps its byte
        assert machine.read(child, private, 1) == b"P"
        assert machine.read(pid, shared, 1) == machine.read(child, shared, 1) == b"S"
        machine.check_invariants()
    finally:
        machine.close()
