"""Tearing user address spaces down: unmapping pages, freeing page tables, exit_mmap.

Models the freeing half of mm/memory.c (zap_pte_range, free_pgtables) and exit_mmap of
mm/mmap.c. It only frees, so it imports nothing that allocates, reclaims or kills: exit.py
(release_task) and the fault path (memory.py, which kills through exit.py) both use it
without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT, PGDIR_SHIFT, TASK_SIZE
from vmsim_kernel.arch.x86.pgtable import (
    PTE_DIRTY,
    PTE_MAPPED,
    PTE_PRESENT,
    pde_index,
    pgd_entry_word,
    pte_word,
    pte_words_of_table,
)
from vmsim_kernel.errors import KernelBug

from .overcommit import uncommit_pages
from .page_alloc import charge_zone_lock, free_page
from .physmem import PageFlag
from .policies import charge_lru_lock, lru_cache_add, lru_del
from .shmem import shmem_release
from .swap import swp_offset
from .swap_state import delete_from_swap_cache, free_swap_and_cache
from .truncate import account_page_dirtied, iput

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

    from .vma import MmStruct, Vma

__all__ = [
    "exit_mmap",
    "free_pgtables",
    "pte_runs",
    "release_unmapped_objects",
    "release_user_page",
    "unmap_user_page",
    "zap_range",
]

_P = PTE_PRESENT
_MAPPED = PTE_MAPPED
_D = PTE_DIRTY
_ANON_BIT: Final = int(PageFlag.ANON)
_SWAPCACHE_BIT: Final = int(PageFlag.SWAPCACHE)
_DIRTY_BIT: Final = int(PageFlag.DIRTY)
_MLOCKED_BIT: Final = int(PageFlag.MLOCKED)


def pte_runs(kernel: Kernel, mm: MmStruct, start: int, end: int) -> list[tuple[int, int, int]]:
    """(first va, first ram32 word, nr entries) for each existing page table under [start, end)."""
    runs = []
    words = kernel.ram_words
    for index in range(pde_index(start), pde_index(end - 1) + 1):
        pde = words[pgd_entry_word(mm.pgd_pfn, index)]
        if not pde & _P:
            continue
        lo = max(start, index << PGDIR_SHIFT)
        hi = min(end, (index + 1) << PGDIR_SHIFT)
        first = pte_word(pde, lo)
        runs.append((lo, first, (hi - lo) >> PAGE_SHIFT))
    return runs


def zap_range(kernel: Kernel, mm: MmStruct, start: int, end: int) -> int:
    """Unmap every page of [start, end): free frames no one else maps and swap slots (zap_pte_range).

    Returns the number of PTEs cleared. The LRU and zone-lock work of the freed pages is
    charged once per range, as the kernel batches it (free_pages_and_swap_cache).
    """
    ram32 = kernel.ram32
    cleared = 0
    freed: list[int] = []
    for first_va, first_word, count in pte_runs(kernel, mm, start, end):
        entries = ram32[first_word : first_word + count]
        for k in np.flatnonzero(entries).tolist():
            pte = int(entries[k])
            if pte & _MAPPED:
                pfn = pte >> PAGE_SHIFT
                if pfn == kernel.zero_pfn:
                    pass  # the zero page is nobody's: clearing the PTE is all
                elif unmap_user_page(
                    kernel, mm, pfn, first_va + (k << PAGE_SHIFT), dirty=bool(pte & _D)
                ):
                    freed.append(pfn)
            else:
                free_swap_and_cache(kernel, pte)
                mm.swap_entries -= 1
            entries[k] = 0
            cleared += 1
    if freed:
        charge_lru_lock(kernel.lruvec, len(freed), kernel.costs.lru_update_ns)
        charge_zone_lock(kernel.pgdat, freed[0], len(freed))
    return cleared


def unmap_user_page(
    kernel: Kernel, mm: MmStruct, pfn: int, page_va: int, *, dirty: bool = False
) -> bool:
    """Drop one mapping of a user page (its PTE *dirty* or not); free the page (and say so)
    when it was the last.

    A page in the swap cache whose slot another PTE still names (a fork shared it, then
    reclaim unmapped it from that process) stays in the swap cache and on the LRU, as the
    page's swap-cache reference keeps it in Linux: the other process's fault finds it there.
    The PTE's dirty bit then moves to the page (zap_pte_range's set_page_dirty).
    """
    physmem = kernel.physmem
    page_flags = physmem.flags.item(pfn)
    mm.count_resident_page(page_flags, -1)
    left = kernel.rmap.remove(pfn, mm, page_va)
    swap = kernel.swap
    if pfn in kernel.fs.owner_of:  # a page cache page: its file keeps it
        if dirty:  # zap_pte_range's folio_mark_dirty: writeback will find it
            account_page_dirtied(kernel, pfn)
        if page_flags & _MLOCKED_BIT and not _locked_elsewhere(kernel, pfn):
            physmem.flags[pfn] = physmem.flags.item(pfn) & ~_MLOCKED_BIT
            kernel.lruvec.file.insert(pfn)
        return False
    kept = (
        left != 0
        or pfn in kernel.shmem.owner_of  # a shmem object's page: the object keeps it
        or (
            page_flags & _SWAPCACHE_BIT
            and swap is not None
            and swap.swap_map.item(swp_offset(physmem.private.item(pfn))) > 1
        )
    )
    on_lru = True
    if page_flags & _MLOCKED_BIT and not _locked_elsewhere(kernel, pfn):
        # munlock_vma_folio: no locked mapping holds it now; it is evictable again.
        page_flags &= ~_MLOCKED_BIT
        physmem.flags[pfn] = page_flags
        if kept:
            lru_cache_add(kernel.lruvec, pfn)
        on_lru = bool(kept)
    if kept:
        if left == 0 and dirty:
            physmem.flags[pfn] = page_flags | _DIRTY_BIT
        return False
    if on_lru:
        lru_del(kernel.lruvec, pfn, page_flags)
    release_user_page(kernel, pfn, charge=False)
    return True


def _locked_elsewhere(kernel: Kernel, pfn: int) -> bool:
    """Whether a mapping of *pfn* that remains lies in a VM_LOCKED VMA."""
    for mapping in kernel.rmap.mappings(pfn):
        vma = mapping.mm.find_vma(mapping.address)
        if vma is not None and vma.locked:
            return True
    return False


def release_user_page(kernel: Kernel, pfn: int, *, charge: bool = True) -> None:
    """The last mapping of a user page went away: drop its swap-cache slot and free it."""
    if kernel.physmem.test_flags(pfn, PageFlag.SWAPCACHE):
        offset = delete_from_swap_cache(kernel, pfn)
        assert kernel.swap is not None
        kernel.swap.free_slot(offset)  # the cache's reference
    kernel.physmem.clear_flags(pfn, PageFlag.DIRTY)
    free_page(kernel.pgdat, pfn, charge=charge)


def free_pgtables(kernel: Kernel, mm: MmStruct, start: int, end: int) -> None:
    """Free the page tables of [start, end) that no VMA needs any more (free_pgtables)."""
    words = kernel.ram_words
    for index in range(pde_index(start), pde_index(end - 1) + 1):
        span_start = index << PGDIR_SHIFT
        if mm.overlapping(span_start, span_start + (1 << PGDIR_SHIFT)):
            continue
        pde_word = pgd_entry_word(mm.pgd_pfn, index)
        pde = words[pde_word]
        if not pde & _P:
            continue
        table_pfn = pde >> PAGE_SHIFT
        if kernel.ram32[pte_words_of_table(table_pfn)].any():
            raise KernelBug(f"freeing page table {table_pfn} that still has entries")
        words[pde_word] = 0
        kernel.physmem.clear_flags(table_pfn, PageFlag.PAGETABLE)
        free_page(kernel.pgdat, table_pfn)
        mm.nr_ptes -= 1


def release_unmapped_objects(kernel: Kernel, vmas: Iterable[Vma]) -> None:
    """The shmem objects and files of *vmas*, just unmapped, are freed if nothing holds
    them now."""
    vmas = list(vmas)
    for obj in {id(vma.shmem): vma.shmem for vma in vmas if vma.shmem is not None}.values():
        shmem_release(kernel, obj)
    for file in {id(vma.file): vma.file for vma in vmas if vma.file is not None}.values():
        iput(kernel, file.inode)


def exit_mmap(kernel: Kernel, task: Task) -> None:
    """Tear down a whole address space: pages, swap slots, page tables and the directory."""
    mm = task.mm
    for vma in list(mm):
        zap_range(kernel, mm, vma.start, vma.end)
    release_unmapped_objects(kernel, mm.remove_range(0, TASK_SIZE))
    free_pgtables(kernel, mm, 0, TASK_SIZE)
    uncommit_pages(kernel, mm.committed_pages)
    mm.committed_pages = 0
    free_page(kernel.pgdat, mm.pgd_pfn)
