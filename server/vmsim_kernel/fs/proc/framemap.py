"""Who owns every physical frame: a report for pictures of physical memory.

Models what /proc/kpageflags and /proc/kpagecgroup expose (fs/proc/page.c) and page_owner
(mm/page_owner.c) reports: per pfn, what the frame is used for and by which process. It only
reads the machine's state (mem_map flags, the buddy free lists, the page tables of each
process); nothing here allocates or changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import KERNEL_PGD_INDEX
from vmsim_kernel.arch.x86.pgtable import PTE_PRESENT, pgd_words
from vmsim_kernel.mm.physmem import PageFlag

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel

__all__ = ["FrameMap", "FrameUse", "frame_map"]


class FrameUse(IntEnum):
    """What a frame is used for (one byte per frame on the wire)."""

    FREE = 1  # inside a free block of the buddy allocator or on a CPU's per-cpu list
    USER = 2  # an anonymous page of a process (mapped, or its owner is being torn down)
    PAGE_TABLE = 3  # a page directory or page table
    KERNEL = 4  # boot reservations (kernel image, mem_map, direct map tables), the zero page ...
    SLAB = 5  # a slab of a kmem_cache
    VMALLOC = 6  # backs part of a vmalloc area
    SWAP_CACHE = 7  # in the swap cache and mapped by no process
    KMALLOC = 8  # a large kmalloc served straight from the page allocator
    SHMEM = 9  # a page of a shared memory object (MAP_SHARED, named shm), mapped or not
    SHARED = 10  # an anonymous page mapped by more than one process (copy-on-write after fork)
    PAGE_CACHE = 11  # a page of a file in the page cache, mapped or not


@dataclass(frozen=True)
class FrameMap:
    """One entry per pfn.

    Attributes:
        uses: FrameUse value of each frame.
        pids: the process owning each frame (a process mapping it, or the process whose page
            tables it holds); 0 for none.
        flags: page->flags (PageFlag bits) of each frame.
        mapcounts: the PTEs mapping each frame (page_mapcount).
    """

    uses: npt.NDArray[np.uint8]
    pids: npt.NDArray[np.uint32]
    flags: npt.NDArray[np.uint32]
    mapcounts: npt.NDArray[np.uint32]


def frame_map(kernel: Kernel) -> FrameMap:
    """The use, owner and flags of every frame, computed from the current state."""
    flags = kernel.physmem.flags.copy()
    uses = np.full(flags.shape, FrameUse.KERNEL, dtype=np.uint8)
    pids = np.zeros(flags.shape, dtype=np.uint32)
    for flag, use in (
        (PageFlag.ANON, FrameUse.USER),
        (PageFlag.SWAPCACHE, FrameUse.SWAP_CACHE),
        (PageFlag.PAGETABLE, FrameUse.PAGE_TABLE),
        (PageFlag.SLAB, FrameUse.SLAB),
        (PageFlag.VMALLOC, FrameUse.VMALLOC),
        (PageFlag.KMALLOC, FrameUse.KMALLOC),
    ):
        uses[(flags & np.uint32(flag)) != 0] = use
    for zone in kernel.allocator.zones:
        for order, area in enumerate(zone.free_area):
            for pfn in area.free_list:
                uses[pfn : pfn + (1 << order)] = FrameUse.FREE
        for pcp in zone.per_cpu_pageset:  # free pages parked on a CPU's list are free too
            for order, pcp_pages in enumerate(pcp.lists):
                for pfn in pcp_pages:
                    uses[pfn : pfn + (1 << order)] = FrameUse.FREE
    # Owners from each process's own page tables, read as the MMU would (vectorised: no
    # per-page Python work, so a scrape stays cheap on a large machine under load).
    anon = np.uint32(PageFlag.ANON)
    present_bit = np.uint32(PTE_PRESENT)
    tables_of_ram = kernel.ram32.reshape(-1, 1024)
    for pid, task in kernel.tasks.items():
        if not task.alive:
            continue
        pgd_pfn = task.mm.pgd_pfn
        directory = kernel.ram32[pgd_words(pgd_pfn)][:KERNEL_PGD_INDEX]
        tables = directory[(directory & present_bit) != 0] >> np.uint32(12)
        pids[pgd_pfn] = pid
        pids[tables] = pid
        if not len(tables):
            continue
        ptes = tables_of_ram[tables].ravel()
        mapped = ptes[(ptes & present_bit) != 0] >> np.uint32(12)
        mapped = mapped[(flags[mapped] & anon) != 0]  # not the shared zero page
        pids[mapped] = pid
        uses[mapped] = FrameUse.USER
    mapcounts = kernel.physmem.mapcount.astype(np.uint32)
    uses[(uses == FrameUse.USER) & (mapcounts > 1)] = FrameUse.SHARED
    for pfn, (_obj, _index) in kernel.shmem.owner_of.items():
        uses[pfn] = FrameUse.SHMEM
        mapping = kernel.rmap.mappings(pfn)
        if mapping:  # the last process (in rmap order) that maps it, as for anon pages
            pids[pfn] = kernel.pid_of_mm(mapping[-1].mm)
    for pfn in kernel.fs.owner_of:
        uses[pfn] = FrameUse.PAGE_CACHE
        mapping = kernel.rmap.mappings(pfn)
        if mapping:
            pids[pfn] = kernel.pid_of_mm(mapping[-1].mm)
    return FrameMap(uses, pids, flags, mapcounts)
