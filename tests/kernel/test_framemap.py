"""The frame map: every frame's use and owner, as the dashboard's memory picture shows it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tests.kernel.conftest import ANON, RW

from vmsim_kernel import PAGE_SIZE, Machine, MapFlag, MiB
from vmsim_kernel.fs.proc.framemap import FrameUse, frame_map
from vmsim_kernel.mm.physmem import PageFlag


def _count(machine: Machine, use: FrameUse) -> int:
    return int(np.count_nonzero(frame_map(machine.kernel).uses == use))


def test_free_frames_match_the_buddy_allocator(machine: Machine) -> None:
    """The buddy lists' free pages and those on the CPUs' per-cpu lists."""
    allocator = machine.kernel.allocator
    assert allocator.nr_pcp_pages() > 0  # boot's frees left some on a list
    assert _count(machine, FrameUse.FREE) == allocator.nr_free_pages() + allocator.nr_pcp_pages()


def test_written_pages_belong_to_their_process(machine: Machine) -> None:
    pid = machine.spawn("writer")
    addr = machine.mmap(pid, 0, 1 * MiB, 3, 0x22)
    machine.touch_many(pid, list(range(addr, addr + 1 * MiB, PAGE_SIZE)), write=True)
    frames = frame_map(machine.kernel)
    user = frames.uses == FrameUse.USER
    assert int(np.count_nonzero(user)) == 256
    assert set(frames.pids[user].tolist()) == {pid}
    walk = machine.translate(pid, addr)
    assert walk.pfn is not None and frames.pids[walk.pfn] == pid
    assert frames.flags[walk.pfn] & PageFlag.ANON
    # the page table that maps them is charged to the process too
    assert walk.pte_address is not None
    table_pfn = walk.pte_address // PAGE_SIZE
    assert frames.uses[table_pfn] == FrameUse.PAGE_TABLE and frames.pids[table_pfn] == pid


def test_an_exited_process_frees_its_frames(machine: Machine) -> None:
    free_before = _count(machine, FrameUse.FREE)
    pid = machine.spawn("short")
    addr = machine.mmap(pid, 0, 256 * 1024, 3, 0x22)
    machine.touch_many(pid, list(range(addr, addr + 256 * 1024, PAGE_SIZE)), write=True)
    assert _count(machine, FrameUse.FREE) < free_before - 64
    machine.exit(pid)
    assert _count(machine, FrameUse.FREE) == free_before
    assert _count(machine, FrameUse.USER) == 0


def test_kernel_allocations_show_as_slab_and_vmalloc(make_machine: Callable[..., Machine]) -> None:
    machine = make_machine()
    machine.kmalloc(128)
    machine.vmalloc(64 * 1024)
    assert _count(machine, FrameUse.SLAB) >= 1
    assert _count(machine, FrameUse.VMALLOC) == 16
    assert _count(machine, FrameUse.KERNEL) >= machine.kernel.nr_boot_reserved


def test_pages_shared_after_fork_and_shmem_pages_are_told_apart_with_their_mapcount(
    machine: Machine,
) -> None:
    parent = machine.spawn("parent")
    private = machine.mmap(parent, 0, 2 * PAGE_SIZE, RW, ANON)
    shared = machine.mmap(parent, 0, PAGE_SIZE, RW, int(MapFlag.SHARED | MapFlag.ANONYMOUS))
    for addr in (private, private + PAGE_SIZE, shared):
        machine.write(parent, addr, b"x")
    child = machine.fork(parent)
    machine.write(child, private + PAGE_SIZE, b"y")  # copied: each side has its own
    machine.read(child, shared, 1)
    frames = frame_map(machine.kernel)

    def frame(pid: int, addr: int) -> int:
        pfn = machine.translate(pid, addr).pfn
        assert pfn is not None
        return pfn

    cow = frame(parent, private)
    assert (frames.uses[cow], frames.mapcounts[cow]) == (FrameUse.SHARED, 2)
    own = frame(child, private + PAGE_SIZE)
    assert (frames.uses[own], frames.mapcounts[own], frames.pids[own]) == (FrameUse.USER, 1, child)
    shm = frame(parent, shared)
    assert (frames.uses[shm], frames.mapcounts[shm]) == (FrameUse.SHMEM, 2)
    assert frames.pids[shm] in (parent, child)


def test_page_cache_pages_are_their_own_kind_and_owned_by_a_mapper(machine: Machine) -> None:
    from vmsim_kernel import OpenFlag

    pid = machine.spawn("reader")
    fd = machine.open_file(pid, "f", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
    machine.write_file(pid, fd, b"x" * (8 * PAGE_SIZE))
    frames = frame_map(machine.kernel)
    cached = np.flatnonzero(frames.uses == FrameUse.PAGE_CACHE)
    assert len(cached) == 8 and not frames.pids[cached].any()  # nobody maps them yet
    addr = machine.mmap_file(pid, fd, 0, 8 * PAGE_SIZE, RW, int(MapFlag.SHARED))
    machine.touch(pid, addr, False)  # fault-around maps the 8 pages at once
    frames = frame_map(machine.kernel)
    assert (frames.uses[cached] == FrameUse.PAGE_CACHE).all()
    assert set(frames.pids[cached].tolist()) == {pid}
