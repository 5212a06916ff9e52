"""fork(): a new process whose address space is a copy-on-write copy of its parent's.

Models kernel/fork.c (copy_process, dup_mm, dup_mmap) and copy_page_range of mm/memory.c
(copy_pte_range, copy_present_pte, copy_nonpresent_pte): the child gets every VMA, and a
page table for each of the parent's under a private mapping, whose PTEs map the parent's
pages. A writable PTE of a private mapping is write-protected in both, so the first write
on either side faults and copies the page (do_wp_page); a swap entry is duplicated
(swap_duplicate). A MAP_SHARED mapping's PTEs are not copied: it maps a shmem object,
whose pages the child's faults find (mm/shmem.py), so both sides write the same pages;
so is a MAP_SHARED file mapping's (the page cache's pages). A MAP_PRIVATE file mapping's
PTEs are copied: its page cache pages stay read-only in both, its copies are COW'd as anon.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT
from vmsim_kernel.arch.x86.pgtable import PTE_ACCESSED, PTE_MAPPED, PTE_RW
from vmsim_kernel.errors import OutOfMemory
from vmsim_kernel.mm.memory import pte_alloc
from vmsim_kernel.mm.overcommit import commit_pages
from vmsim_kernel.mm.unmap import pte_runs

from . import exit as task_exit

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.mm.vma import MmStruct, Vma

    from .process import Task

__all__ = ["dup_mmap"]

_MAPPED = np.uint32(PTE_MAPPED)
_RW = np.uint32(PTE_RW)
_OLD = np.uint32(~PTE_ACCESSED & 0xFFFFFFFF)  # pte_mkold: the child has not used it yet


def dup_mmap(kernel: Kernel, parent: Task, child: Task) -> None:
    """Give *child* (a new task with an empty mm) a copy of *parent*'s address space.

    The child's accounted private VMAs are charged to Committed_AS first, as dup_mmap's
    security_vm_enough_memory_mm does: under vm.overcommit_memory=2 a fork that does not fit
    is refused with OutOfMemory (ENOMEM). On any failure the child's address space is torn
    down again (its page directory freed), so the parent is as it was, but for pages
    reclaim moved meanwhile.

    Raises:
        OutOfMemory: the commit charge was refused, or the OOM killer chose the child while
            its page tables were allocated.
        ProcessKilled: the OOM killer chose the parent.
    """
    pmm, cmm = parent.mm, child.mm
    # A MAP_SHARED mapping's object was charged once, when it was made: the child's copy of
    # the mapping is not charged again (dup_mmap charges VM_ACCOUNT, private, VMAs only).
    # VM_LOCKED is not inherited: the child's pages are evictable where only it maps them.
    vmas = [replace(vma, accounted=vma.accounted and not vma.shared, locked=False) for vma in pmm]
    try:
        commit_pages(kernel, child, sum(vma.nr_pages for vma in vmas if vma.accounted))
    except OutOfMemory:
        task_exit.release_task(kernel, child)
        raise
    cmm.mmap_base, cmm.start_brk, cmm.brk = pmm.mmap_base, pmm.start_brk, pmm.brk
    for vma in vmas:
        cmm.insert(vma)
    for vma in vmas:
        copy_page_range(kernel, parent, child, vma)
        if not child.alive or not parent.alive:  # the OOM killer chose one of them
            if child.alive:
                task_exit.release_task(kernel, child)
            if not parent.alive:
                raise task_exit.dead(parent)
            raise OutOfMemory("fork: the child was chosen by the OOM killer while copied")
    cmm.hiwater_rss, cmm.hiwater_vm = cmm.rss, cmm.total_vm_pages


def copy_page_range(kernel: Kernel, parent: Task, child: Task, vma: Vma) -> None:
    """Copy the PTEs of *vma* from *parent* to *child*, page table by page table.

    Each of the parent's page tables under the VMA gets one in the child (copy_pmd_range
    skips only an empty PDE); then, without anything allocated in between that could let
    reclaim change them, its entries are copied: present pages gain the child's mapping in
    the rmap (their mapcount), swap entries a reference on their slot.
    """
    if vma.shmem is not None or (vma.file is not None and vma.shared):
        return  # the child's faults find the object's pages (copy_page_range skips it)
    ram32 = kernel.ram32
    zero_pfn = np.uint32(kernel.zero_pfn)
    for first_va, first_word, count in pte_runs(kernel, parent.mm, vma.start, vma.end):
        child_word = pte_alloc(kernel, child, first_va)
        if not child.alive or not parent.alive:
            return
        # Reclaim inside pte_alloc may have changed the parent's PTEs: read them after it.
        entries = ram32[first_word : first_word + count]
        present = (entries & _MAPPED) != 0
        entries[present] &= ~_RW  # is_cow_mapping: write-protected in the parent too
        copied = entries & _OLD
        ram32[child_word : child_word + count] = copied
        pfns = (entries >> np.uint32(PAGE_SHIFT)).astype(np.int64)
        pages = np.flatnonzero(present & (entries >> np.uint32(PAGE_SHIFT) != zero_pfn))
        _share_pages(kernel, child.mm, first_va, child_word, pfns, pages)
        swapped = np.flatnonzero((entries != 0) & ~present)
        if len(swapped):
            for pte in entries[swapped].tolist():
                kernel.swap_info.swap_duplicate(pte)
            child.mm.swap_entries += len(swapped)
        kernel.current.run(kernel.costs.zap_page_ns * int(np.count_nonzero(entries)))


def _share_pages(
    kernel: Kernel,
    mm: MmStruct,
    first_va: int,
    first_word: int,
    pfns: np.ndarray[tuple[int], np.dtype[np.int64]],
    indexes: np.ndarray[tuple[int], np.dtype[np.intp]],
) -> None:
    """page_dup_anon_rmap: the pages at *indexes* of a table copied to *mm* (first entry at
    *first_va*, ram32 word *first_word*) gain the child's mapping."""
    rmap = kernel.rmap
    flags = kernel.physmem.flags
    for index in indexes.tolist():
        pfn = pfns.item(index)
        rmap.add(pfn, mm, first_va + (index << PAGE_SHIFT), first_word + index)
        mm.count_resident_page(flags.item(pfn), 1)  # a private file mapping's page cache pages too
