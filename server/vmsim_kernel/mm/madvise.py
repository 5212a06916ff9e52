"""madvise(2): what a process tells the kernel about how it will use a range.

Models mm/madvise.c (do_madvise, madvise_dontneed_free_valid_vma, madvise_free_single_vma,
madvise_free_pte_range): every argument is checked before anything changes; MADV_DONTNEED
zaps the range's PTEs, MADV_WILLNEED reads its swapped pages back, and MADV_FREE makes its
private anonymous pages lazily freeable (reclaim discards them while they stay clean).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT, Madvise
from vmsim_kernel.arch.x86.pgtable import PTE_ACCESSED, PTE_DIRTY, PTE_MAPPED
from vmsim_kernel.errors import InvalidArgument

from . import memory
from .mmap import check_aligned, mapped_range_end, shoot_down_tlbs
from .physmem import PageFlag
from .policies import mark_page_lazyfree
from .swap_state import delete_from_swap_cache, free_swap_and_cache
from .unmap import pte_runs, zap_range

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

    from .vma import MmStruct, Vma

__all__ = ["do_madvise", "madvise_free_pte_range"]

_SWAPCACHE_BIT: Final = int(PageFlag.SWAPCACHE)
_DIRTY_BIT: Final = int(PageFlag.DIRTY)

_ADVICE_ALLOWED: Final = (
    "MADV_NORMAL 0, RANDOM 1, SEQUENTIAL 2, WILLNEED 3, DONTNEED 4, FREE 8, HUGEPAGE 14, "
    "NOHUGEPAGE 15"
)


def _vma_is_anonymous(vma: Vma) -> bool:
    """vma_is_anonymous: a private mapping of no file (no vm_ops); MAP_SHARED anonymous
    memory is shmem's, so it is not."""
    return not vma.shared and vma.shmem is None and vma.file is None


def _check_vmas(task: Task, addr: int, end: int, advice: int) -> None:
    """madvise_dontneed_free_valid_vma: DONTNEED and FREE refuse mlocked VMAs (EINVAL), and
    FREE refuses any VMA that is not private anonymous memory (madvise_free_single_vma)."""
    if advice not in (Madvise.DONTNEED, Madvise.FREE):
        return
    name = "MADV_FREE" if advice == Madvise.FREE else "MADV_DONTNEED"
    vmas = task.mm.overlapping(addr, end)
    if any(vma.locked for vma in vmas):
        raise InvalidArgument(
            "addr", f"{name} on an mlocked range (EINVAL)", "a range without mlock"
        )
    if advice == Madvise.FREE and not all(_vma_is_anonymous(vma) for vma in vmas):
        raise InvalidArgument(
            "addr",
            "MADV_FREE on a shared or file mapping (EINVAL)",
            "a range of private anonymous mappings (MAP_PRIVATE|MAP_ANONYMOUS)",
        )


def do_madvise(kernel: Kernel, task: Task, addr: int, length: int, advice: int) -> None:
    """madvise(2) with MADV_NORMAL/RANDOM/SEQUENTIAL/WILLNEED/DONTNEED/FREE/(NO)HUGEPAGE."""
    check_aligned("addr", addr)
    if advice not in set(Madvise):
        raise InvalidArgument("advice", f"{advice} is not supported", _ADVICE_ALLOWED)
    end = mapped_range_end(task, addr, length)
    if end is None:
        return
    _check_vmas(task, addr, end, advice)
    kernel.current.run(kernel.costs.syscall_ns)
    assert task.mmap_lock is not None
    with kernel.holding(task.mmap_lock, read=True) as thread:
        if advice == Madvise.DONTNEED:
            thread.run(kernel.costs.zap_page_ns * zap_range(kernel, task.mm, addr, end))
            shoot_down_tlbs(kernel, task)
        elif advice == Madvise.FREE:
            thread.run(
                kernel.costs.zap_page_ns * madvise_free_pte_range(kernel, task.mm, addr, end)
            )
            shoot_down_tlbs(kernel, task)
        elif advice == Madvise.WILLNEED:
            memory.swapin_range(kernel, task, addr, end)


def madvise_free_pte_range(kernel: Kernel, mm: MmStruct, start: int, end: int) -> int:
    """madvise_free_pte_range over [start, end) of private anonymous memory; returns how
    many PTEs it looked at.

    A swap entry is dropped with its slot (the old contents are not wanted: the next touch
    sees zeros). A page mapped only here leaves the swap cache if only the cache holds its
    slot (folio_free_swap; otherwise it is skipped), loses PG_dirty and its PTE's accessed
    and dirty bits, and becomes lazyfree (mark_page_lazyfree: off the anon lists, not
    swap-backed, on the inactive file list). A page fork shares is left alone, as is the
    zero page.
    """
    ram32 = kernel.ram32
    physmem = kernel.physmem
    flags, mapcount = physmem.flags, physmem.mapcount
    clean_mask = ~(PTE_ACCESSED | PTE_DIRTY) & 0xFFFFFFFF
    looked_at = 0
    for _va, first_word, count in pte_runs(kernel, mm, start, end):
        entries = ram32[first_word : first_word + count]
        for k in np.flatnonzero(entries).tolist():
            looked_at += 1
            pte = int(entries[k])
            if not pte & PTE_MAPPED:  # a swap entry: its contents are not wanted any more
                free_swap_and_cache(kernel, pte)
                mm.swap_entries -= 1
                entries[k] = 0
                continue
            pfn = pte >> PAGE_SHIFT
            if pfn == kernel.zero_pfn or mapcount.item(pfn) != 1:
                continue
            if flags.item(pfn) & _SWAPCACHE_BIT and not _free_swap(kernel, pfn):
                continue
            flags[pfn] = flags.item(pfn) & ~_DIRTY_BIT
            entries[k] = pte & clean_mask
            if mark_page_lazyfree(kernel.lruvec, physmem, pfn):
                kernel.vm_events.pglazyfree += 1
    return looked_at


def _free_swap(kernel: Kernel, pfn: int) -> bool:
    """folio_free_swap: a swap-cache page whose slot only the cache holds lets go of it
    (its copy in swap is stale once the page is lazyfree); False if a PTE holds the slot."""
    if kernel.swap_info.swap_count(kernel.physmem.private.item(pfn)) > 1:
        return False
    kernel.swap_info.swap_free(delete_from_swap_cache(kernel, pfn))
    return True
