"""Locking pages in memory: mlock(2) and munlock(2).

Models mm/mlock.c: a VM_LOCKED mapping's pages are populated at once and taken off the LRU
lists (the unevictable list: PG_mlocked), so reclaim never sees them; munlock (or the last
locked mapping of a page going away) puts them back. Counted as Mlocked and Unevictable in
/proc/meminfo, Locked in smaps, VmLck in status.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

import numpy as np

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE, MiB
from vmsim_kernel.arch.x86.pgtable import PTE_MAPPED
from vmsim_kernel.errors import InvalidArgument, OutOfMemory, OutOfRange

from .physmem import PageFlag
from .policies import lru_cache_add, lru_del, page_is_lazyfree
from .unmap import pte_runs

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

    from .vma import MmStruct, Vma

__all__ = [
    "MLOCK_LIMIT",
    "lock_vmas",
    "mlock_page",
    "mlock_range",
    "mlock_span",
    "munlock_page",
    "munlock_range",
    "nr_locked_pages",
    "resident_pages",
]

MLOCK_LIMIT: Final = 8 * MiB  # RLIMIT_MEMLOCK's default for an unprivileged user (6.1)
_MLOCKED: Final = int(PageFlag.MLOCKED)


def nr_locked_pages(mm: MmStruct) -> int:
    """mm->locked_vm: pages of the VM_LOCKED mappings (VmLck)."""
    return sum(vma.nr_pages for vma in mm if vma.locked)


def mlock_span(task: Task, addr: int, length: int) -> tuple[int, int]:
    """The page-rounded range mlock/munlock act on: [addr rounded down, addr+length rounded
    up), every page of it mapped (start == end for length 0).

    Raises:
        InvalidArgument: a negative length.
        OutOfRange: the range leaves user space.
        OutOfMemory: a page of it is in no VMA (ENOMEM).
    """
    if length < 0:
        raise InvalidArgument("length", f"{length} is negative", "0 .. 3 GiB")
    start = addr & ~(PAGE_SIZE - 1)
    end = (addr + length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if not 0 <= start <= end <= TASK_SIZE:
        raise OutOfRange("addr", f"{addr:#x}+{length:#x} leaves user space", "0x0 .. 0xBFFFFFFF")
    if start < end and not task.mm.is_fully_mapped(start, end):
        raise OutOfMemory(f"{start:#x}..{end:#x} has pages in no mapping (ENOMEM)")
    return start, end


def lock_vmas(kernel: Kernel, task: Task, start: int, end: int, locked: bool) -> list[Vma]:
    """mlock_fixup over [start, end) (every page mapped): the VMAs split at its edges and
    marked (un)locked; returns the new pieces.

    Raises:
        OutOfMemory: locking would pass RLIMIT_MEMLOCK (ENOMEM), nothing changed.
    """
    mm = task.mm
    vmas = mm.overlapping(start, end)
    pieces = [
        replace(vma, start=max(vma.start, start), end=min(vma.end, end), locked=locked)
        for vma in vmas
    ]
    if locked:
        newly = sum(
            piece.nr_pages for piece, vma in zip(pieces, vmas, strict=True) if not vma.locked
        )
        limit = MLOCK_LIMIT // PAGE_SIZE
        if nr_locked_pages(mm) + newly > limit:
            raise OutOfMemory(
                f"mlock of {newly} more pages would pass RLIMIT_MEMLOCK "
                f"({nr_locked_pages(mm)} of {limit} pages locked already)"
            )
    mm.replace_range(start, end, pieces)
    return pieces


def mlock_page(kernel: Kernel, pfn: int) -> None:
    """mlock_folio: take a mapped page off the LRU (the unevictable list)."""
    flags = kernel.physmem.flags
    if flags.item(pfn) & _MLOCKED:
        return
    lru_del(kernel.lruvec, pfn, flags.item(pfn))
    flags[pfn] = flags.item(pfn) | _MLOCKED


def munlock_page(kernel: Kernel, pfn: int, *, mapped: bool) -> None:
    """munlock_folio: the page goes back on the LRU unless a locked mapping still maps it
    (*mapped*: it has mappings left; a page about to be freed just loses the flag)."""
    flags = kernel.physmem.flags
    if not flags.item(pfn) & _MLOCKED:
        return
    if mapped and any(
        (vma := m.mm.find_vma(m.address)) is not None and vma.locked
        for m in kernel.rmap.mappings(pfn)
    ):
        return
    flags[pfn] = flags.item(pfn) & ~_MLOCKED
    # A page cache page (its file keeps it, mapped or not) or a lazyfree one (MADV_FREE put
    # it there) goes back on the file lists.
    if pfn in kernel.fs.owner_of or (mapped and page_is_lazyfree(flags.item(pfn))):
        kernel.lruvec.file.insert(pfn)
    elif mapped:
        lru_cache_add(kernel.lruvec, pfn)


def resident_pages(kernel: Kernel, mm: MmStruct, start: int, end: int) -> list[int]:
    """The pfns the present PTEs of [start, end) map (not the zero page)."""
    pfns: list[int] = []
    for _va, first, count in pte_runs(kernel, mm, start, end):
        entries = kernel.ram32[first : first + count]
        mapped = entries[(entries & np.uint32(PTE_MAPPED)) != 0] >> np.uint32(PAGE_SHIFT)
        pfns += mapped[mapped != np.uint32(kernel.zero_pfn)].tolist()
    return pfns


def mlock_range(kernel: Kernel, mm: MmStruct, start: int, end: int) -> None:
    """Every resident page of [start, end) (a locked range, populated) off the LRU."""
    for pfn in resident_pages(kernel, mm, start, end):
        mlock_page(kernel, pfn)


def munlock_range(kernel: Kernel, mm: MmStruct, start: int, end: int) -> None:
    """Every resident page of [start, end) (just unlocked) back on the LRU, unless another
    locked mapping holds it."""
    for pfn in resident_pages(kernel, mm, start, end):
        munlock_page(kernel, pfn, mapped=True)
