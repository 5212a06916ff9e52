"""Tearing user address spaces down: unmapping pages, freeing page tables, exit_mmap.

Models the freeing half of mm/memory.c (zap_pte_range, free_pgtables) and exit_mmap of
mm/mmap.c. It only frees, so it imports nothing that allocates, reclaims or kills: exit.py
(release_task) and the fault path (memory.py, which kills through exit.py) both use it
without an import cycle.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

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
from .page_alloc import charge_zone_lock, free_page, free_page_list
from .physmem import PageFlag
from .policies import charge_lru_lock, lru_cache_add, lru_del
from .shmem import shmem_release
from .swap_state import delete_from_swap_cache, free_swap_and_cache
from .truncate import account_page_dirtied, iput

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

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
_SWAPBACKED_BIT: Final = int(PageFlag.SWAPBACKED)


def pte_runs(kernel: Kernel, mm: MmStruct, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(first va, first ram32 word, nr entries) for each existing page table under [start, end),
    in address order; each directory entry is read when its turn comes, so a caller that
    stops early (zap_slice_end, a slice of a huge munmap) reads no more of them."""
    words = kernel.ram_words
    for index in range(pde_index(start), pde_index(end - 1) + 1):
        pde = words[pgd_entry_word(mm.pgd_pfn, index)]
        if not pde & _P:
            continue
        lo = max(start, index << PGDIR_SHIFT)
        hi = min(end, (index + 1) << PGDIR_SHIFT)
        yield lo, pte_word(pde, lo), (hi - lo) >> PAGE_SHIFT


class _FreeBatch:
    """The frames a zap frees, queued in PTE order and given back with free_page_list
    (release_pages); charged once at the end, as the single frees were."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.queued: list[int] = []
        self.nr_freed = 0
        self.first_pfn = -1

    def flush(self) -> None:
        """Free what is queued now: the next step may free a page itself."""
        if self.queued:
            if self.first_pfn < 0:
                self.first_pfn = self.queued[0]
            self.nr_freed += len(self.queued)
            free_page_list(self.kernel.pgdat, self.queued, charge=False)
            self.queued = []

    def charge(self) -> None:
        """The LRU and zone-lock work of every page freed, once (free_pages_and_swap_cache)."""
        self.flush()
        if self.nr_freed:
            kernel = self.kernel
            charge_lru_lock(kernel.lruvec, self.nr_freed, kernel.costs.lru_update_ns)
            charge_zone_lock(kernel.pgdat, self.first_pfn, self.nr_freed)


def zap_range(kernel: Kernel, mm: MmStruct, start: int, end: int) -> int:
    """Unmap every page of [start, end): free frames no one else maps and swap slots (zap_pte_range).

    Returns the number of PTEs cleared. The freed frames go back with free_page_list
    (release_pages) in PTE order, and the LRU and zone-lock work is charged once per range,
    as the kernel batches it (free_pages_and_swap_cache). Runs of plain anonymous pages
    mapped only by their PTE (nearly every page a process wrote) and of zero-page PTEs are
    zapped with a few array operations; the other entries one by one.
    """
    ram32 = kernel.ram32
    cleared = 0
    batch = _FreeBatch(kernel)
    for first_va, first_word, count in pte_runs(kernel, mm, start, end):
        entries = ram32[first_word : first_word + count]
        used = np.flatnonzero(entries)
        if not len(used):
            continue
        _zap_table(kernel, mm, entries, used, first_va, first_word, batch)
        entries[used] = 0
        cleared += len(used)
    batch.charge()
    return cleared


def _zap_table(
    kernel: Kernel,
    mm: MmStruct,
    entries: npt.NDArray[np.uint32],
    used: npt.NDArray[np.intp],
    first_va: int,
    first_word: int,
    batch: _FreeBatch,
) -> None:
    """zap_pte_range for the *used* entries of one page table (at ram32 *first_word*, mapping
    *first_va*), in PTE order: each run of zero-page PTEs and plain anonymous pages (swap-backed,
    so on the anon lists, not MADV_FREE's lazyfree ones on the file lists; not in the swap
    cache, not mlocked, mapped only by that PTE) at once, every other entry alone."""
    words = entries[used]
    pfns = (words >> np.uint32(PAGE_SHIFT)).astype(np.int64)
    mapped = (words & np.uint32(_MAPPED)) != 0
    own = mapped & (pfns != kernel.zero_pfn)  # a frame, not the zero page
    page_flags = kernel.physmem.flags[np.where(own, pfns, 0)]
    plain = (
        own
        & (
            (page_flags & np.uint32(_ANON_BIT | _SWAPBACKED_BIT | _SWAPCACHE_BIT | _MLOCKED_BIT))
            == _ANON_BIT | _SWAPBACKED_BIT
        )
        & kernel.rmap.sole_mapped_by(np.where(own, pfns, 0), first_word + used)
    )
    at_once = plain | (mapped & ~own)
    edges = np.flatnonzero(at_once[1:] != at_once[:-1]) + 1
    bounds = [0, *edges.tolist(), len(used)]
    for low, high in itertools.pairwise(bounds):
        if not at_once[low]:
            _zap_entries(kernel, mm, entries, used[low:high], first_va, batch)
            continue
        run = plain[low:high]
        if run.any():
            _zap_plain_pages(kernel, mm, pfns[low:high][run], page_flags[low:high][run], batch)


def _zap_plain_pages(
    kernel: Kernel,
    mm: MmStruct,
    pfns: npt.NDArray[np.int64],
    page_flags: npt.NDArray[np.uint32],
    batch: _FreeBatch,
) -> None:
    """What unmap_user_page and release_user_page do to each of *pfns* (plain anonymous
    pages, each mapped once), as array operations; the frames queued on *batch* in order."""
    mm.count_resident(False, -len(pfns))
    kernel.rmap.remove_sole(pfns)
    remove_from_lru = kernel.lruvec.policy.remove
    listed = pfns.tolist()
    for pfn in listed:  # in PTE order: a policy's lists may depend on it (random's do)
        remove_from_lru(pfn)
    kernel.physmem.flags[pfns] = page_flags & np.uint32(~_DIRTY_BIT & 0xFFFFFFFF)
    batch.queued.extend(listed)


def _zap_entries(
    kernel: Kernel,
    mm: MmStruct,
    entries: npt.NDArray[np.uint32],
    used: npt.NDArray[np.intp],
    first_va: int,
    batch: _FreeBatch,
) -> None:
    """zap_pte_range entry by entry for the *used* entries of one page table: a frame that
    unmap_user_page would free is queued on *batch* instead, and what is queued is freed
    before a swap entry's release, which may free a page itself."""
    for k in used.tolist():
        pte = int(entries[k])
        if pte & _MAPPED:
            pfn = pte >> PAGE_SHIFT
            if pfn != kernel.zero_pfn:  # the zero page is nobody's: clearing the PTE is all
                page_va = first_va + (k << PAGE_SHIFT)
                if unmap_user_page(kernel, mm, pfn, page_va, dirty=bool(pte & _D), free=False):
                    batch.queued.append(pfn)
        else:
            batch.flush()
            free_swap_and_cache(kernel, pte)
            mm.swap_entries -= 1


def unmap_user_page(
    kernel: Kernel, mm: MmStruct, pfn: int, page_va: int, *, dirty: bool = False, free: bool = True
) -> bool:
    """Drop one mapping of a user page (its PTE *dirty* or not); free the page (and say so)
    when it was the last (free=False: the caller frees it, with others).

    A page in the swap cache whose slot another PTE still names (a fork shared it, then
    reclaim unmapped it from that process) stays in the swap cache and on the LRU, as the
    page's swap-cache reference keeps it in Linux: the other process's fault finds it there.
    The PTE's dirty bit then moves to the page (zap_pte_range's set_page_dirty).
    """
    physmem = kernel.physmem
    page_flags = physmem.flags.item(pfn)
    mm.count_resident_page(page_flags, -1)
    left = kernel.rmap.remove(pfn, mm, page_va)
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
            and kernel.swap_info.swap_count(physmem.private.item(pfn)) > 1
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
    release_user_page(kernel, pfn, charge=False, free=free)
    return True


def _locked_elsewhere(kernel: Kernel, pfn: int) -> bool:
    """Whether a mapping of *pfn* that remains lies in a VM_LOCKED VMA."""
    for mapping in kernel.rmap.mappings(pfn):
        vma = mapping.mm.find_vma(mapping.address)
        if vma is not None and vma.locked:
            return True
    return False


def release_user_page(kernel: Kernel, pfn: int, *, charge: bool = True, free: bool = True) -> None:
    """The last mapping of a user page went away: drop its swap-cache slot and free it
    (free=False: ready to be freed, by the caller)."""
    if kernel.physmem.test_flags(pfn, PageFlag.SWAPCACHE):
        kernel.swap_info.swap_free(delete_from_swap_cache(kernel, pfn))  # the cache's reference
    kernel.physmem.clear_flags(pfn, PageFlag.DIRTY)
    if free:
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
