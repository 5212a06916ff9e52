"""Page faults and page-table maintenance for user address spaces.

Models mm/memory.c: handle_mm_fault, do_anonymous_page, do_swap_page, do_wp_page, change_protection (mm/mprotect.c), access_process_vm and follow_page;
plus expand_stack from mm/mmap.c. The resident-page hit path (`touch_one`, `touch_many`)
is the MMU itself and is written for speed; everything else for reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SHIFT,
    STACK_GUARD_GAP,
    STACK_RLIMIT,
    STACK_TOP,
    TASK_SIZE,
    ZONELIST,
    Gfp,
)
from vmsim_kernel.arch.x86.pgtable import (
    FRAME_MASK,
    PDE_USER_TABLE,
    PTE_ACCESSED,
    PTE_DIRTY,
    PTE_MAPPED,
    PTE_PRESENT,
    PTE_PROTNONE,
    PTE_RW,
    PTE_USER,
    make_entry,
    pde_word,
    pgd_words,
    pte_word_or_none,
    pte_words_many,
    pte_words_of_table,
    user_pte_bits,
    walk,
)
from vmsim_kernel.errors import KernelBug, SwapIoError
from vmsim_kernel.kernel import exit as task_exit
from vmsim_kernel.kernel.printk import LogLevel
from vmsim_kernel.results import EventKind, FaultResult, TouchSummary, Translation, VmaInfo

from .filemap import filemap_fault_page, page_cache_ready
from .mlock import mlock_page
from .overcommit import commit_pages
from .page_alloc import WatermarkLevel, Zone, alloc_page, count_allocation, free_page
from .physmem import PageFlag
from .policies import lru_cache_add
from .shmem import ShmemObject, shmem_add_page
from .swap import swp_offset, swp_type, wait_for_swap_read
from .swap_state import (
    add_to_swap_cache,
    delete_from_swap_cache,
    lookup_swap_cache,
    readahead_offsets,
    swap_cluster_readahead,
)
from .truncate import account_page_dirtied
from .unmap import pte_runs, unmap_user_page
from .vma import MmStruct, Vma
from .workingset import workingset_refault

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

__all__ = [
    "BATCHED_TOUCHES_PER_FAULT",
    "FAULT_AROUND_BYTES",
    "access_user_memory",
    "do_anonymous_pages",
    "do_fault_around",
    "do_shmem_fault",
    "do_swap_cache_pages",
    "do_wp_page",
    "handle_mm_fault",
    "page_exclusive",
    "shmem_get_page",
    "swapin_range",
    "touch_many",
    "touch_one",
    "translate",
    "update_protection",
    "wp_page_copy",
]

SEGV_MAPERR: Final = "SEGV_MAPERR"  # si_code: no mapping at the address
SEGV_ACCERR: Final = "SEGV_ACCERR"  # si_code: mapped, but the access is not permitted
_P = PTE_PRESENT
_RW = PTE_RW
_US = PTE_USER
_A = PTE_ACCESSED
_D = PTE_DIRTY
_MAPPED = PTE_MAPPED
_PTE_KEEP_ON_MPROTECT: Final = FRAME_MASK | _A | _D
# fault_around_bytes (a debugfs knob in Linux): a read fault of a shmem or file mapping maps
# the resident pages of this aligned window around it.
FAULT_AROUND_BYTES: Final = 65536
# A new anonymous page's flags, as a plain int: IntFlag arithmetic per fault is measurable.
_NEW_ANON_PAGE_FLAGS: Final = int(PageFlag.ANON | PageFlag.SWAPBACKED | PageFlag.UPTODATE)
# A MAP_SHARED anonymous page is shmem: swap-backed, but not PageAnon.
_NEW_SHMEM_PAGE_FLAGS: Final = int(PageFlag.SWAPBACKED | PageFlag.UPTODATE)
_ANON_BIT: Final = int(PageFlag.ANON)
_READAHEAD_BIT: Final = int(PageFlag.READAHEAD)
_DIRTY_BIT: Final = int(PageFlag.DIRTY)
_SWAPCACHE_BIT: Final = int(PageFlag.SWAPCACHE)


# ---- page-table pages --------------------------------------------------------------------
def pte_alloc(kernel: Kernel, task: Task, address: int) -> int:
    """ram32 index of the PTE for *address*, allocating its page table first (__pte_alloc)."""
    mm = task.mm
    word = pte_word_or_none(kernel.ram_words, mm.pgd_pfn, address)
    if word is not None:
        return word
    table_pfn = alloc_page(kernel.pgdat, Gfp.KERNEL, task)
    kernel.ram32[pte_words_of_table(table_pfn)] = 0
    kernel.physmem.set_flags(table_pfn, PageFlag.PAGETABLE)
    # Reclaim inside allocate_page never frees page tables, so the PDE is still empty.
    kernel.ram_words[pde_word(mm.pgd_pfn, address)] = make_entry(table_pfn, PDE_USER_TABLE)
    mm.nr_ptes += 1
    word = pte_word_or_none(kernel.ram_words, mm.pgd_pfn, address)
    assert word is not None
    return word


# ---- faults --------------------------------------------------------------------------------
def handle_mm_fault(kernel: Kernel, task: Task, address: int, write: bool) -> FaultResult:
    """Resolve a fault at *address* under mmap_lock (reader), or kill the task with SIGSEGV."""
    kernel.current.run(kernel.costs.fault_entry_ns)
    lock, thread = task.mmap_lock, kernel.current
    assert lock is not None
    lock.acquire(thread, read=True)
    try:
        result = _resolve_fault(kernel, task, address, write)
        vma = task.mm.find_vma(address)
        if vma is not None and vma.locked:  # mlock_new_folio: a locked mapping's new page
            word = pte_word_or_none(kernel.ram_words, task.mm.pgd_pfn, address)
            pte = kernel.ram_words[word] if word is not None else 0
            if pte & _MAPPED and pte >> PAGE_SHIFT != kernel.zero_pfn:
                mlock_page(kernel, pte >> PAGE_SHIFT)
        return result
    finally:
        lock.release(thread)


def _resolve_fault(kernel: Kernel, task: Task, address: int, write: bool) -> FaultResult:
    mm = task.mm
    if address >= TASK_SIZE:
        # do_kern_addr_fault: a user access to kernel space is a bad area, SEGV_MAPERR.
        raise task_exit.segv(
            kernel, task, address, "user-mode access to kernel space (U/S bit clear)", SEGV_MAPERR
        )
    vma = mm.find_vma(address) or expand_stack(kernel, task, address)
    if vma is None:
        raise task_exit.segv(kernel, task, address, "no VMA covers the address", SEGV_MAPERR)
    if write and not vma.writable:
        raise task_exit.segv(kernel, task, address, f"write to a {vma.perms} mapping", SEGV_ACCERR)
    if not vma.accessible:
        raise task_exit.segv(kernel, task, address, "access to a PROT_NONE mapping", SEGV_ACCERR)
    word = pte_alloc(kernel, task, address)
    if not task.alive:
        raise task_exit.dead(task)
    pte = kernel.ram_words[word]
    if pte == 0 and vma.file is not None:
        return do_file_fault(kernel, task, vma, address, word, write)
    if pte == 0 and vma.shmem is not None:
        return do_shmem_fault(kernel, task, vma, address, word, write)
    if pte == 0:
        if not write and not vma.shared:
            return do_anonymous_zero_page(kernel, task, address, word)
        return do_anonymous_page(kernel, task, vma, address, word, write)
    if not pte & _MAPPED:
        return do_swap_page(kernel, task, vma, address, word, write)
    is_zero_page = pte >> PAGE_SHIFT == kernel.zero_pfn
    if write and is_zero_page:
        # do_wp_page on the zero page: wp_page_copy gives the task a zeroed page of its own.
        return do_anonymous_page(kernel, task, vma, address, word, write)
    if write and pte & (_P | _US | _RW) == _P | _US:
        return do_wp_page(kernel, task, vma, address, word, pte)
    # Present but the access was refused: the protection was widened since (mprotect raced
    # nothing here, so this is only the accessed/dirty update of a spurious fault).
    kernel.ram_words[word] = (
        (pte & FRAME_MASK)
        | user_pte_bits(vma.writable and not is_zero_page, True)
        | (pte & (_A | _D))
        | _A
        | (_D if write else 0)
    )
    return FaultResult.HIT


def account_fault(
    kernel: Kernel,
    task: Task,
    address: int,
    pfn: int,
    major: bool,
    detail: str,
    *,
    pgmajfault: bool = True,
) -> FaultResult:
    """mm_account_fault for a fault that mapped *pfn*: pgfault always; a major fault (the
    page was read from a device) also pgmajfault (unless *pgmajfault* is False: a file
    fault counts that where it missed the cache, filemap_fault) and the task's maj_flt, a
    minor one its min_flt; and the fault's event with *detail*."""
    kernel.vm_events.pgfault += 1
    if major:
        task.maj_flt += 1
        kernel.vm_events.pgmajfault += pgmajfault
        kernel.emit(EventKind.MAJOR_FAULT, task.pid, address, pfn, detail)
        return FaultResult.MAJOR
    task.min_flt += 1
    kernel.emit(EventKind.MINOR_FAULT, task.pid, address, pfn, detail)
    return FaultResult.MINOR


def do_anonymous_zero_page(kernel: Kernel, task: Task, address: int, word: int) -> FaultResult:
    """A first read of a private anonymous page: map the shared zero page read-only (minor fault).

    Nothing is allocated: the zero page is not in the task's RSS, on no LRU list and has no
    reverse mapping (pte_mkspecial); the first write faults again and copies it.
    """
    kernel.ram_words[word] = make_entry(kernel.zero_pfn, _P | _US | _A)
    return account_fault(kernel, task, address, kernel.zero_pfn, False, "zero page")


def page_exclusive(kernel: Kernel, pfn: int) -> bool:
    """Whether the user page *pfn* belongs to one PTE alone, so a write may reuse it in place
    (do_wp_page's test, as page_count() <= 1 + PageSwapCache() with try_to_free_swap): at
    most one mapping, and when it is in the swap cache, no PTE of another process still
    holds its slot (a fork shared it, then reclaim put the entry in that PTE)."""
    physmem = kernel.physmem
    if physmem.mapcount.item(pfn) > 1:
        return False
    if not physmem.flags.item(pfn) & _SWAPCACHE_BIT:
        return True
    return kernel.swap_info.swap_count(physmem.private.item(pfn)) <= 1


def do_wp_page(
    kernel: Kernel, task: Task, vma: Vma, address: int, word: int, pte: int
) -> FaultResult:
    """A write to a read-only PTE of a writable VMA (a minor fault).

    A page the task alone maps (page_exclusive) is reused: wp_page_reuse makes the PTE
    writable and dirty in place, no copy (counted as pgreuse). A page swapped in by a load
    is mapped read-only this way (do_swap_page), and so is reached by the store after it;
    so is every page of a private mapping after fork() once the other side has copied its
    own. A page still shared after fork() is copied (wp_page_copy): the task gets a page of
    its own and the others keep the original.
    """
    pfn = pte >> PAGE_SHIFT
    events = kernel.vm_events
    page_cache = pfn in kernel.fs.owner_of
    if vma.shared or (not page_cache and page_exclusive(kernel, pfn)):
        kernel.ram_words[word] = pte | _RW | _A | _D
        events.pgreuse += 1
        detail = "write-protect reuse"
        if page_cache:  # wp_page_shared: the write-notify fault that dirties the page
            account_page_dirtied(kernel, pfn)
    else:
        copied = wp_page_copy(kernel, task, address, word, pte)
        if copied is None:  # reclaim changed the PTE while the copy's page was found
            return _resolve_fault(kernel, task, address, True)
        pfn, detail = copied, "copy-on-write"
    return account_fault(kernel, task, address, pfn, False, detail)


def wp_page_copy(kernel: Kernel, task: Task, address: int, word: int, pte: int) -> int | None:
    """Break copy-on-write: copy the page *pte* maps into a new page mapped writable and
    dirty at *word* in its place, and drop the task's mapping of the original (freed when it
    was the last). Returns the new pfn, or None when the PTE changed while the new page was
    allocated (reclaim took the original: the fault is retried, as pte_same() fails)."""
    old_pfn = pte >> PAGE_SHIFT
    pfn = alloc_page(kernel.pgdat, Gfp.HIGHUSER, task)
    if not task.alive:
        free_page(kernel.pgdat, pfn)
        raise task_exit.dead(task)
    if kernel.ram_words[word] & ~(_A | _D) != pte & ~(_A | _D):
        free_page(kernel.pgdat, pfn)
        return None
    physmem = kernel.physmem
    physmem.copy_frame(old_pfn, pfn)
    physmem.pristine[pfn] = False
    kernel.current.run(kernel.costs.zero_page_ns)  # copy_page costs what clear_page does
    physmem.flags[pfn] = physmem.flags.item(pfn) | _NEW_ANON_PAGE_FLAGS
    page_va = address & ~(PAGE_SIZE - 1)
    mm = task.mm
    unmap_user_page(kernel, mm, old_pfn, page_va, dirty=bool(pte & _D))
    map_user_page(kernel, mm, pfn, page_va, word, user_pte_bits(True, True) | _A | _D)
    return pfn


def do_shmem_fault(
    kernel: Kernel, task: Task, vma: Vma, address: int, word: int, write: bool
) -> FaultResult:
    """A fault on an empty PTE of a shared memory mapping (do_read_fault / do_shared_fault
    with shmem_fault): the object's page at that index is mapped, read back from swap (a
    major fault) or allocated zeroed when the object has none yet. No one's page is copied:
    every process that maps the object maps the same page.

    A read first maps the pages of the object already resident around it (do_fault_around:
    the aligned fault_around_bytes window, within the VMA and its page table), so a reader
    of pages someone else wrote faults once per window.
    """
    obj = vma.shmem
    assert obj is not None
    page_va = address & ~(PAGE_SIZE - 1)
    if not write and do_fault_around(kernel, task, vma, page_va) and kernel.ram_words[word]:
        pfn, read = kernel.ram_words[word] >> PAGE_SHIFT, False
    else:
        pfn, read = shmem_get_page(kernel, task, obj, vma.shmem_index(page_va))
        bits = user_pte_bits(vma.writable, True) | _A | (_D if write else 0)
        _map_shmem_page(kernel, task.mm, pfn, page_va, word, bits)
        if write:  # do_shared_fault's fault_dirty_shared_page
            physmem = kernel.physmem
            physmem.flags[pfn] = physmem.flags.item(pfn) | _DIRTY_BIT
    return account_fault(kernel, task, address, pfn, read, "shmem swap-in" if read else "shmem")


def do_fault_around(kernel: Kernel, task: Task, vma: Vma, page_va: int) -> int:
    """Map the object's or file's resident pages in the fault_around_bytes window of
    *page_va* whose PTEs are empty (do_fault_around, filemap_map_pages); returns how many
    were mapped. The PTEs are old (prefaulted), except the faulting one's, which the access
    makes young. A file's pages are mapped read-only (a write to a shared one faults, to
    dirty it) and only when read and not marked PG_readahead (next_uptodate_page)."""
    if vma.file is not None:
        pages = vma.file.inode.mapping.pages
        bits = user_pte_bits(False, True)
    else:
        assert vma.shmem is not None
        pages = vma.shmem.pages
        bits = user_pte_bits(vma.writable, True)
    table_va = page_va & ~((1 << PGDIR_SHIFT) - 1)
    start = max(page_va & ~(FAULT_AROUND_BYTES - 1), vma.start, table_va)
    end = min(start + FAULT_AROUND_BYTES, vma.end, table_va + (1 << PGDIR_SHIFT))
    words, mm = kernel.ram_words, task.mm
    flags = kernel.physmem.flags
    mapped = 0
    for va in range(start, end, PAGE_SIZE):
        pfn = pages.get(vma.shmem_index(va))
        word = pte_word_or_none(words, mm.pgd_pfn, va)
        if pfn is None or word is None or words[word]:
            continue
        if vma.file is not None and (
            flags.item(pfn) & _READAHEAD_BIT or not page_cache_ready(kernel, pfn)
        ):
            continue
        _map_shmem_page(kernel, mm, pfn, va, word, bits | (_A if va == page_va else 0))
        mapped += 1
    kernel.current.run(kernel.costs.zap_page_ns * mapped)
    return mapped


def _map_shmem_page(
    kernel: Kernel, mm: MmStruct, pfn: int, page_va: int, word: int, bits: int
) -> None:
    """Install the PTE and the reverse mapping of an object's or a file's page (on the LRU
    already)."""
    kernel.ram_words[word] = make_entry(pfn, bits)
    kernel.rmap.add(pfn, mm, page_va, word)
    mm.count_resident_page(kernel.physmem.flags.item(pfn), 1)


def do_file_fault(
    kernel: Kernel, task: Task, vma: Vma, address: int, word: int, write: bool
) -> FaultResult:
    """A fault on an empty PTE of a file mapping (do_fault): a read maps the page cache
    page read-only, after mapping its resident neighbours (do_read_fault with fault-around);
    a write to a private mapping copies the page into an anonymous page of the task's own
    (do_cow_fault); a write to a shared one maps it writable and dirties it
    (do_shared_fault). The page comes from filemap_fault.

    When filemap_fault had to let go of mmap_lock for I/O (it read the page, started the
    next readahead window at a PG_readahead page, or waited for a page under I/O) the fault
    returns VM_FAULT_RETRY and is made again (FAULT_FLAG_TRIED), fault-around included, so
    the retry maps the whole window the I/O brought in; mm_account_fault counts the retried
    fault once, as major, and pgfault counts both attempts. pgmajfault counts only the
    faults that missed the cache.

    Raises:
        ProcessKilled: SIGBUS for an access past the end of the file, or the OOM killer.
    """
    file = vma.file
    assert file is not None
    page_va = address & ~(PAGE_SIZE - 1)
    tried = False
    detail = "file"
    while True:
        if not write and do_fault_around(kernel, task, vma, page_va) and kernel.ram_words[word]:
            pfn = kernel.ram_words[word] >> PAGE_SHIFT
            return account_fault(kernel, task, address, pfn, tried, detail, pgmajfault=False)
        found = filemap_fault_page(kernel, task, file, vma.shmem_index(page_va), tried=tried)
        if found is None:
            raise task_exit.sigbus(
                kernel, task, address, "access past the end of the mapped file (SIGBUS)"
            )
        pfn, missed, retry = found
        kernel.vm_events.pgmajfault += missed
        if missed:
            detail = "file read"
        if not retry:
            break
        kernel.vm_events.pgfault += 1  # the attempt that returned VM_FAULT_RETRY
        tried = True
    if kernel.ram_words[word]:  # reclaim or a read-around changed the PTE meanwhile
        return _resolve_fault(kernel, task, address, write)
    if write and not vma.shared:
        copied = _cow_file_page(kernel, task, vma, page_va, word, pfn)
        if copied is None:
            return _resolve_fault(kernel, task, address, write)
        pfn = copied
    else:
        bits = user_pte_bits(write, True) | _A | (_D if write else 0)
        _map_shmem_page(kernel, task.mm, pfn, page_va, word, bits)
        if write:
            account_page_dirtied(kernel, pfn)
    return account_fault(kernel, task, address, pfn, missed or tried, detail, pgmajfault=False)


def _cow_file_page(
    kernel: Kernel, task: Task, vma: Vma, page_va: int, word: int, pfn: int
) -> int | None:
    """do_cow_fault's copy: a new anonymous page with the bytes of page cache page *pfn*,
    mapped writable and dirty; None when reclaim took *pfn* while the copy was allocated."""
    owner = kernel.fs.owner_of.get(pfn)
    new_pfn = alloc_page(kernel.pgdat, Gfp.HIGHUSER, task)
    if not task.alive:
        free_page(kernel.pgdat, new_pfn)
        raise task_exit.dead(task)
    if kernel.fs.owner_of.get(pfn) != owner or kernel.ram_words[word]:
        free_page(kernel.pgdat, new_pfn)
        return None
    physmem = kernel.physmem
    physmem.copy_frame(pfn, new_pfn)
    physmem.pristine[new_pfn] = False
    kernel.current.run(kernel.costs.zero_page_ns)
    physmem.flags[new_pfn] = physmem.flags.item(new_pfn) | _NEW_ANON_PAGE_FLAGS
    bits = user_pte_bits(True, True) | _A | _D
    map_user_page(kernel, task.mm, new_pfn, page_va, word, bits)
    return new_pfn


def shmem_get_page(
    kernel: Kernel, task: Task | None, obj: ShmemObject, index: int
) -> tuple[int, bool]:
    """shmem_get_folio(SGP_CACHE): *obj*'s page at *index*, read back from swap or allocated
    zeroed when the object has none; returns (pfn, whether it was read from swap). *task*
    is None for the kernel's own call (swapoff's shmem_unuse).

    Raises:
        ProcessKilled: the allocation's OOM kill chose *task*, or the slot could not be read
            back (SIGBUS).
        SwapIoError: the slot could not be read back and there is no task.
    """
    pfn = obj.pages.get(index)
    if pfn is not None:
        return pfn, False
    entry = obj.swapped.get(index)
    if entry is not None:
        cached = _shmem_swap_cache_page(kernel, obj, index, entry)
        if cached is not None:
            return cached, False
    new_pfn = alloc_page(kernel.pgdat, Gfp.HIGHUSER, task)
    if task is not None and not task.alive:
        free_page(kernel.pgdat, new_pfn)
        raise task_exit.dead(task)
    pfn = obj.pages.get(index)  # another fault brought it in while reclaim ran
    if pfn is not None:
        free_page(kernel.pgdat, new_pfn)
        return pfn, False
    physmem = kernel.physmem
    entry = obj.swapped.get(index)
    active = False
    readahead: list[int] = []
    if entry is None:
        physmem.zero_user_frame(new_pfn)
        kernel.current.run(kernel.costs.zero_page_ns)
    else:
        swap = kernel.swap_info.swp_swap_info(entry)
        offset = swp_offset(entry)
        waited = read_swap_slot(kernel, task, entry, new_pfn, index * PAGE_SIZE)
        # shmem_swapin_folio: the page is the object's again, its slot is let go.
        del obj.swapped[index]
        swap.free_slot(offset)
        active = workingset_refault(kernel.lruvec, swap, offset, kernel.vm_events)
        kernel.vm_events.pswpin += 1
        kernel.vm_events.pgpgin += PAGE_SIZE // 1024
        kernel.emit(
            EventKind.SWAP_IN,
            task.pid if task is not None else 0,
            None,
            new_pfn,
            f"shmem slot {offset}, waited {waited} ns",
        )
        readahead = readahead_offsets(kernel, swap, offset)
    shmem_add_page(kernel, obj, index, new_pfn)
    lru_cache_add(kernel.lruvec, new_pfn, active=active)
    if entry is not None:
        # shmem_swapin_cluster: the rest of the slot's cluster into the swap cache, as for anon
        swap_cluster_readahead(
            kernel,
            task.pid if task is not None else 0,
            kernel.swap_info.swp_swap_info(entry),
            readahead,
        )
    return new_pfn, entry is not None


def _shmem_swap_cache_page(kernel: Kernel, obj: ShmemObject, index: int, entry: int) -> int | None:
    """The object's swapped page at *index* when the swap cache has it (read ahead by an
    earlier fault): it becomes the object's page again, no I/O, and its slot is let go."""
    swap = kernel.swap_info.swp_swap_info(entry)
    offset = swp_offset(entry)
    pfn = lookup_swap_cache(kernel, entry)
    if pfn is None:
        return None
    physmem = kernel.physmem
    if physmem.flags.item(pfn) & _READAHEAD_BIT:
        kernel.vm_events.swap_ra_hit += 1
    delete_from_swap_cache(kernel, pfn)
    swap.free_slot(offset)  # the swap cache's reference
    swap.free_slot(offset)  # the object's
    physmem.flags[pfn] = physmem.flags.item(pfn) & ~(_READAHEAD_BIT | _ANON_BIT)
    del obj.swapped[index]
    shmem_add_page(kernel, obj, index, pfn)  # on the LRU already, since its readahead
    return pfn


def do_anonymous_page(
    kernel: Kernel, task: Task, vma: Vma, address: int, word: int, write: bool
) -> FaultResult:
    """A zeroed frame of the task's own, mapped (minor fault): the first write of an anonymous
    page, whether its PTE is empty or maps the zero page (the copy of zeroes is a clear)."""
    pfn = alloc_page(kernel.pgdat, Gfp.HIGHUSER, task)
    if not task.alive:
        free_page(kernel.pgdat, pfn)
        raise task_exit.dead(task)
    kernel.physmem.zero_user_frame(pfn)
    kernel.current.run(kernel.costs.zero_page_ns)
    flags = kernel.physmem.flags
    flags[pfn] = flags.item(pfn) | (_NEW_SHMEM_PAGE_FLAGS if vma.shared else _NEW_ANON_PAGE_FLAGS)
    bits = user_pte_bits(vma.writable, True) | _A | (_D if write else 0)
    map_user_page(kernel, task.mm, pfn, address & ~(PAGE_SIZE - 1), word, bits)
    return account_fault(kernel, task, address, pfn, False, "")


def do_anonymous_pages(
    kernel: Kernel, task: Task, addresses: npt.NDArray[np.uint32], write: bool
) -> int:
    """A run of first-touch write faults as one batch: do_anonymous_page for each address,
    in order, with the same frames, PTEs, counters, events and simulated time; returns how
    many addresses from the front of *addresses* it handled (0: none, use touch_one).

    The run is the longest prefix of *addresses* that the single path would treat as that
    many do_anonymous_page calls: strictly increasing pages, one writable VMA, page tables
    present, PTEs empty, and no more pages than the allocator's fast path gives
    (get_pages_bulk_from_freelist at the low mark, the same frames one by one would get).
    A page that needs a page table or the allocator's slow path (kswapd, reclaim) is left
    to the single path, so the batch never changes what happens.

    What is batched is the host's work: the frames come from one bulk allocation
    (alloc_pages_bulk), PTEs, page flags, rmap and LRU are written with numpy or in one
    call, frames never used since boot are not cleared (PhysicalMemory.zero_user_frames).
    The simulated machine sees the single path exactly: the same clock, CPU times, lock
    holds at the same moments and /proc/lock_stat counts (SimLock.record_holds). That needs
    the locks to be free for the whole batch; when a hold by another thread (kswapd, a
    thread with a later clock) may lie ahead, the batch is declined and the single path
    handles the fault, waits included.
    """
    if not write or len(addresses) < 2:
        return 0
    mm = task.mm
    vma = mm.find_vma(int(addresses[0]))
    if (
        vma is None
        or not vma.writable
        or not vma.accessible
        or vma.shmem is not None  # a shmem page is the object's: shmem_fault adds it
        or vma.file is not None  # a file's page is the page cache's: filemap_fault finds it
        or vma.locked  # a locked mapping's new pages go off the LRU one by one
    ):
        return 0
    vpns = addresses >> np.uint32(PAGE_SHIFT)
    ram32 = kernel.ram32
    pte_words32, ok, _pde_indexes = pte_words_many(ram32[pgd_words(mm.pgd_pfn)], vpns, _P)
    pte_words = pte_words32.astype(np.int64)
    ok[1:] &= vpns[1:] > vpns[:-1]
    ok &= addresses < np.uint32(vma.end)
    ok &= ram32[np.where(ok, pte_words, 0)] == 0
    nr_pages = int(np.argmin(ok)) if not ok.all() else len(ok)
    if nr_pages < 2:
        return 0
    thread = kernel.current
    lock = task.mmap_lock
    assert lock is not None
    zone_locks = [kernel.pgdat.zone_locks[zone_type] for zone_type in ZONELIST[Gfp.HIGHUSER]]
    start_ns = thread.now_ns
    if not all(held.free_after(start_ns) for held in (lock, kernel.lruvec.lru_lock, *zone_locks)):
        return 0  # a hold by another thread may lie ahead: only the single path is exact
    batches = kernel.allocator.get_pages_bulk_from_freelist(
        Gfp.HIGHUSER, nr_pages, WatermarkLevel.LOW
    )
    if not batches:
        return 0
    pfns = batches[0][1] if len(batches) == 1 else np.concatenate([b[1] for b in batches])
    nr_pages = len(pfns)
    _charge_first_touches(kernel, task, batches, nr_pages, start_ns)

    physmem = kernel.physmem
    physmem.zero_user_frames(pfns)
    physmem.flags[pfns] |= np.uint32(_NEW_SHMEM_PAGE_FLAGS if vma.shared else _NEW_ANON_PAGE_FLAGS)
    words = pte_words[:nr_pages]
    bits = user_pte_bits(vma.writable, True) | _A | _D
    ram32[words] = (pfns.astype(np.uint32) << np.uint32(PAGE_SHIFT)) | np.uint32(bits)
    page_vas = vpns[:nr_pages].astype(np.int64) << PAGE_SHIFT
    kernel.rmap.add_new_pages(pfns, mm, page_vas, words)
    pfn_list = pfns.tolist()
    kernel.lruvec.policy.insert_many(pfn_list)
    mm.count_resident(vma.shared, nr_pages)
    task.min_flt += nr_pages
    kernel.vm_events.pgfault += nr_pages
    kernel.emit_many(EventKind.MINOR_FAULT, task.pid, addresses[:nr_pages].tolist(), pfn_list)
    # Each faulting access is restarted: it walks the new PTE and fills the TLB.
    thread.tlb.access_many(vpns[:nr_pages])
    return nr_pages


def _charge_first_touches(
    kernel: Kernel,
    task: Task,
    batches: list[tuple[Zone, npt.NDArray[np.int64]]],
    nr_pages: int,
    start_ns: int,
) -> None:
    """Charge a batch of *nr_pages* first touches from *start_ns* exactly as that many single
    faults would be: the same lock holds at the same moments, the same CPU times."""
    thread, costs = kernel.current, kernel.costs
    lock = task.mmap_lock
    assert lock is not None
    # The single path's timeline, page i starting at start_ns + i * period: fault entry,
    # then under mmap_lock (read) the zone lock's allocation work, clear_page, the LRU
    # lock's work; then the restarted access's page walk (user time).
    in_mmap_ns = costs.page_alloc_ns + costs.zero_page_ns + costs.lru_update_ns
    period = costs.fault_entry_ns + in_mmap_ns + costs.page_walk_ns
    acquired = list(range(start_ns + costs.fault_entry_ns, start_ns + nr_pages * period, period))
    lock.record_holds(thread, acquired, in_mmap_ns, read=True)
    first = 0
    for _zone, zone_pfns in batches:
        count_allocation(kernel.pgdat, int(zone_pfns[0]), len(zone_pfns))
        zone_lock = kernel.pgdat.zone_locks[kernel.allocator.zone_of(int(zone_pfns[0])).zone_type]
        zone_lock.record_holds(
            thread, acquired[first : first + len(zone_pfns)], costs.page_alloc_ns
        )
        first += len(zone_pfns)
    lru_offset = costs.page_alloc_ns + costs.zero_page_ns
    lru_starts = list(range(acquired[0] + lru_offset, acquired[-1] + lru_offset + 1, period))
    kernel.lruvec.lru_lock.record_holds(thread, lru_starts, costs.lru_update_ns)
    thread.run(nr_pages * (costs.fault_entry_ns + in_mmap_ns))
    thread.run(nr_pages * costs.page_walk_ns, user=True)


def do_swap_page(
    kernel: Kernel, task: Task, vma: Vma, address: int, word: int, write: bool
) -> FaultResult:
    """Touch of a swapped-out page: a major fault that reads it back from the swap device,
    or a minor one when it is in the swap cache already (read ahead by an earlier fault)."""
    pfn, read = swap_in_page(kernel, task, vma, address, word, write)
    return account_fault(kernel, task, address, pfn, read, "" if read else "swap cache")


def do_swap_cache_pages(
    kernel: Kernel, task: Task, addresses: npt.NDArray[np.uint32], write: bool
) -> int:
    """A run of faults that find their pages in the swap cache (read ahead by an earlier
    fault) as one batch: do_swap_page for each address, in order, with the same frames,
    PTEs, counters, events and simulated time; returns how many addresses from the front
    of *addresses* it handled (0: none, use touch_one).

    The run ends at the first address that is not such a fault in the same VMA. Each page
    goes through the single path's own steps (lookup_swap_cache, waiting for its read,
    then _map_swap_cache_page); what is batched is the rest of the fault's host work and
    mmap_lock: its holds (fault entry done, until the page is mapped) are recorded in bulk
    (SimLock.record_holds), which needs the lock free for the whole run, as first touches
    do (do_anonymous_pages).
    """
    if not len(addresses):
        return 0
    mm = task.mm
    words = kernel.ram_words
    first_va = int(addresses[0])
    word = pte_word_or_none(kernel.ram_words, mm.pgd_pfn, first_va)
    first_pte = int(words[word]) if word is not None else 0
    if not first_pte or first_pte & _MAPPED:
        return 0  # cheap refusal: no swap entry there (a first touch, a resident page, ...)
    swap = kernel.swap_info.swp_swap_info(first_pte)
    if swp_offset(first_pte) not in swap.cache:
        return 0  # not a swap-cache page: a major fault
    vma = mm.find_vma(first_va)
    lock, thread, costs = task.mmap_lock, kernel.current, kernel.costs
    assert lock is not None
    if (
        vma is None
        or (write and not vma.writable)
        or not vma.accessible
        or not lock.free_after(thread.now_ns)
    ):
        return 0
    cache, swap_type, events = swap.cache, swap.swap_type, kernel.vm_events
    bits = _swap_in_pte_bits(vma, write)
    starts: list[int] = []
    holds: list[int] = []
    for address in addresses.tolist():
        if not vma.start <= address < vma.end:
            break
        word = pte_word_or_none(kernel.ram_words, mm.pgd_pfn, address)
        if word is None:
            break
        pte = words[word]
        if not pte or pte & _MAPPED or swp_type(pte) != swap_type or swp_offset(pte) not in cache:
            break
        if write and (
            swap.swap_map.item(swp_offset(pte)) > 2
            or kernel.physmem.mapcount.item(cache[swp_offset(pte)])
        ):
            break  # a page fork shared: the single path copies it (do_wp_page)
        thread.run(costs.fault_entry_ns)
        acquired = thread.now_ns
        pfn = lookup_swap_cache(kernel, pte)
        assert pfn is not None
        _map_swap_cache_page(kernel, task, vma, address, word, write, pfn, bits)
        starts.append(acquired)
        holds.append(thread.now_ns - acquired)
        events.pgfault += 1
        task.min_flt += 1
        kernel.emit(EventKind.MINOR_FAULT, task.pid, address, pfn, "swap cache")
        # The faulting access is restarted: it walks the new PTE and fills the TLB.
        thread.tlb.access(address >> PAGE_SHIFT)
        thread.run(costs.page_walk_ns, user=True)
    lock.record_holds(thread, starts, holds, read=True)
    return len(starts)


def swap_in_page(
    kernel: Kernel, task: Task, vma: Vma, address: int, word: int, write: bool
) -> tuple[int, bool]:
    """Bring in the page whose swap entry is at *word* and map it; return (pfn, whether it
    was read from the device rather than found in the swap cache).

    A miss reads the page into a new frame, then reads ahead the rest of its slot cluster
    into the swap cache (swap_state.swap_cluster_readahead, vm.page-cluster). The slot is
    kept (the page stays in the swap cache, so an unchanged page can later be dropped
    without a write) unless the access writes or swap is over half full, as do_swap_page()
    does with vm_swap_full(). A slot that cannot be read back intact kills the task with
    SIGBUS (VM_FAULT_SIGBUS); nothing else is touched.
    """
    entry = int(kernel.ram_words[word])
    swap = kernel.swap_info.swp_swap_info(entry)
    offset = swp_offset(entry)
    cached = lookup_swap_cache(kernel, entry)
    if cached is not None:
        _map_swap_cache_page(kernel, task, vma, address, word, write, cached)
        return cached, False
    pfn = alloc_page(kernel.pgdat, Gfp.HIGHUSER, task)
    if not task.alive:
        free_page(kernel.pgdat, pfn)
        raise task_exit.dead(task)
    if kernel.ram_words[word] != entry:
        raise KernelBug("swap PTE changed while its page was being read")
    waited = read_swap_slot(kernel, task, entry, pfn, address)
    physmem = kernel.physmem
    physmem.flags[pfn] = physmem.flags.item(pfn) | (
        _NEW_SHMEM_PAGE_FLAGS if vma.shared else _NEW_ANON_PAGE_FLAGS
    )
    # A slot another PTE still names (a fork shared the page) stays in the swap cache, so
    # that PTE's fault finds this page (a MAP_SHARED page) or the bytes it had (private).
    slot_shared = swap.swap_map.item(offset) > 1
    if (write or swap.inuse_pages * 2 > swap.nr_usable_slots) and not (slot_shared and vma.shared):
        swap.free_slot(offset)
        physmem.set_flags(pfn, PageFlag.DIRTY)
    else:  # the PTE's reference on the slot becomes the swap cache's
        add_to_swap_cache(kernel, pfn, entry)
    task.mm.swap_entries -= 1
    # Every swapped-out page left a shadow entry: reading it back is a workingset refault.
    active = workingset_refault(kernel.lruvec, swap, offset, kernel.vm_events)
    map_user_page(
        kernel,
        task.mm,
        pfn,
        address & ~(PAGE_SIZE - 1),
        word,
        _swap_in_pte_bits(vma, write),
        active=active,
    )
    kernel.vm_events.pswpin += 1
    kernel.vm_events.pgpgin += PAGE_SIZE // 1024
    kernel.emit(EventKind.SWAP_IN, task.pid, address, pfn, f"slot {offset}, waited {waited} ns")
    swap_cluster_readahead(kernel, task.pid, swap, readahead_offsets(kernel, swap, offset))
    return pfn, True


def read_swap_slot(kernel: Kernel, task: Task | None, entry: int, pfn: int, address: int) -> int:
    """swap_readpage of the slot of swap *entry* into the new frame *pfn* for *task*'s fault
    at *address*, waiting for the device; returns the nanoseconds waited. A slot that cannot
    be read back intact frees the frame and kills the task with SIGBUS (VM_FAULT_SIGBUS);
    with no task (swapoff reading a shmem page) the error goes to the caller.

    Raises:
        ProcessKilled: the read failed (SIGBUS).
        SwapIoError: the read failed and there is no task to kill.
    """
    swap = kernel.swap_info.swp_swap_info(entry)
    waited = wait_for_swap_read(swap, kernel.current)
    try:
        swap.read_slot_into(swp_offset(entry), kernel.physmem.frame_view(pfn))
    except SwapIoError as error:
        free_page(kernel.pgdat, pfn)
        kernel.printk_ratelimited(LogLevel.ERR, error.message)
        if task is None:
            raise
        raise task_exit.sigbus(kernel, task, address, error.message) from None
    return waited


def _map_swap_cache_page(
    kernel: Kernel,
    task: Task,
    vma: Vma,
    address: int,
    word: int,
    write: bool,
    pfn: int,
    bits: int | None = None,
) -> None:
    """do_swap_page on a swap-cache hit: map the page already there, no I/O (a minor fault).

    The PTE's reference on the slot is dropped (the cache keeps its own), and the page
    leaves the swap cache altogether when the access writes or swap is over half full. A
    page read ahead is on the LRU already; finding it is a swap_ra_hit. *bits*: the PTE
    bits for *vma* and this access, when the caller has them already.
    """
    physmem = kernel.physmem
    swap = kernel.swap_info.swp_swap_info(physmem.private.item(pfn))
    flags = physmem.flags.item(pfn)
    if flags & _READAHEAD_BIT:
        kernel.vm_events.swap_ra_hit += 1
    new_flags = _NEW_SHMEM_PAGE_FLAGS if vma.shared else _NEW_ANON_PAGE_FLAGS
    flags = (flags & ~_READAHEAD_BIT) | new_flags
    physmem.flags[pfn] = flags
    offset = swp_offset(physmem.private.item(pfn))
    # Shared: another process maps the page already, or another PTE still names its slot
    # (fork shared it); it keeps its place in the swap cache then (try_to_free_swap fails).
    mapped_elsewhere = physmem.mapcount.item(pfn) > 0
    shared = swap.free_slot(offset) > 1 or mapped_elsewhere  # free_slot: the PTE's reference
    if not shared and (write or swap.inuse_pages * 2 > swap.nr_usable_slots):
        delete_from_swap_cache(kernel, pfn)
        swap.free_slot(offset)  # the cache's
        physmem.flags[pfn] = physmem.flags.item(pfn) | _DIRTY_BIT
    mm = task.mm
    mm.swap_entries -= 1
    # A write to a private page still shared is mapped read-only and copied at once
    # (do_swap_page calls do_wp_page within the same fault).
    copy = write and shared and not vma.shared
    if bits is None or copy:
        bits = _swap_in_pte_bits(vma, write and not copy)
    page_va = address & ~(PAGE_SIZE - 1)
    pte = make_entry(pfn, bits)
    kernel.ram_words[word] = pte
    kernel.rmap.add(pfn, mm, page_va, word)
    mm.count_resident(vma.shared, 1)
    if copy and wp_page_copy(kernel, task, address, word, pte) is None:
        _resolve_fault(kernel, task, address, True)  # reclaim took it first: fault again


def _swap_in_pte_bits(vma: Vma, write: bool) -> int:
    """The PTE bits of a page swapped in (or found in the swap cache) by an access.

    do_swap_page maps a private anonymous page writable only on a write fault (the page is
    exclusive: there is no fork to share it); a load maps it read-only and the store after
    it is a write-protect fault that reuses the page (do_wp_page). A MAP_SHARED page (shmem)
    is mapped with the VMA's protection, as shmem_fault's mapping would be.
    """
    writable = vma.writable and (write or vma.shared)
    return user_pte_bits(writable, vma.accessible) | _A | (_D if write else 0)


def map_user_page(
    kernel: Kernel,
    mm: MmStruct,
    pfn: int,
    page_va: int,
    word: int,
    bits: int,
    *,
    active: bool = False,
) -> None:
    """Install the PTE, the reverse mapping and the LRU entry of a new user page (on the
    active list when *active*: a refault the workingset rules activated)."""
    kernel.ram_words[word] = make_entry(pfn, bits)
    kernel.rmap.add(pfn, mm, page_va, word)
    lru_cache_add(kernel.lruvec, pfn, active=active)
    mm.count_resident(not kernel.physmem.flags.item(pfn) & _ANON_BIT, 1)


def expand_stack(kernel: Kernel, task: Task, address: int) -> Vma | None:
    """Grow the stack VMA down to cover *address* if the stack rlimit and guard gap allow."""
    mm = task.mm
    stack = mm.stack_vma()
    if stack is None or address >= stack.start or address < STACK_TOP - STACK_RLIMIT:
        return None
    new_start = address & ~(PAGE_SIZE - 1)
    below = mm.prev_vma_before(stack.start)
    if below is not None and below.end + STACK_GUARD_GAP > new_start:
        return None
    if not commit_pages(kernel, task, (stack.start - new_start) // PAGE_SIZE, refuse=False):
        return None
    grown = Vma(new_start, stack.start, stack.prot, stack.shared, stack.kind, stack.accounted, True)
    mm.insert(grown)
    return mm.find_vma(address)


# ---- the MMU -------------------------------------------------------------------------------
# Addresses checked per bulk step of touch_many: numpy temporaries stay in the CPU cache and
# are reused by malloc instead of being mapped (and first-touch faulted) afresh per batch.
_BULK_CHUNK: Final = 32768
# A batched first touch costs the host a small fraction of a single fault (the per-fault
# Python calls are paid once per batch): a quantum's fault budget (max_faults) holds this
# many of them per fault, so a quantum still holds the host about as long. A batched
# swap-cache hit costs more (~1/5 of a single fault) and counts the same: a quantum of
# nothing but such hits holds the host ~10 ms, one with a major fault ends at it.
BATCHED_TOUCHES_PER_FAULT: Final = 256
_MAX_FIRST_TOUCH_BATCH: Final = 4096
# A run of swap-cache hits is at most a readahead cluster (vm.page-cluster) long, often less.
_MAX_SWAP_CACHE_BATCH: Final = 64


def touch_one(kernel: Kernel, task: Task, address: int, write: bool) -> FaultResult:
    """One user-mode access: the hardware walk, and the fault handler if it fails."""
    # The one page walk written out instead of through pgtable.pde_word / pte_word (same
    # arithmetic): it is the resident touch, the hottest path (bench/bench_kernel.py, "vmsim
    # resident touches/s, one touch() call each"); the two calls cost about 0.4-0.8 us of a
    # ~5 us touch on the 2-core development machine (timeit, inline vs accessors).
    words = kernel.ram_words
    pde_at = (task.mm.pgd_pfn << 10) + (address >> PGDIR_SHIFT)
    pde = words[pde_at]
    if pde & (_P | _US) == (_P | _US):
        word = ((pde & FRAME_MASK) >> 2) + ((address >> PAGE_SHIFT) & 1023)
        pte = words[word]
        need = (_P | _US | _RW) if write else (_P | _US)
        if pte & need == need:
            thread = kernel.current
            hit = thread.tlb.access(address >> PAGE_SHIFT)
            thread.run(kernel.costs.tlb_hit_ns if hit else kernel.costs.page_walk_ns, user=True)
            words[word] = pte | _A | (_D if write else 0)
            if not pde & _A:
                words[pde_at] = pde | _A
            if kernel.lruvec.tracks_access:
                kernel.lruvec.policy.access(pte >> PAGE_SHIFT)
            return FaultResult.HIT
    result = handle_mm_fault(kernel, task, address, write)
    # The faulting access is restarted: it walks the new PTE and fills the TLB.
    thread = kernel.current
    thread.tlb.access(address >> PAGE_SHIFT)
    thread.run(kernel.costs.page_walk_ns, user=True)
    return result


def touch_many(
    kernel: Kernel,
    task: Task,
    addresses: Sequence[int] | npt.NDArray[np.uint32],
    write: bool,
    max_faults: int | None = None,
) -> TouchSummary:
    """Many accesses in order; resident pages are checked and marked in bulk with numpy.

    With *max_faults* it stops after that many faults (a scheduler quantum's worth):
    nr_touched then says how many of the addresses were done.

    After a fault, reclaim may have changed any PTE, so the bulk check is redone for what
    follows; a window of scalar accesses between bulk checks grows while faults keep
    coming, keeping a batch of first touches linear rather than quadratic.
    """
    addrs = np.asarray(addresses, dtype=np.uint32)
    if addrs.ndim != 1:
        raise KernelBug("touch_many expects a flat sequence of addresses")
    need = (_P | _US | _RW) if write else (_P | _US)
    counts = [0, 0, 0]  # hits, minor, major
    # The quantum's fault budget: a quantum that ends while no other task is runnable
    # changes nothing in the schedule (there is no one to switch to), so a task alone on the
    # run queue counts a fault of a batch (first touches, swap-cache hits) as
    # 1/BATCHED_TOUCHES_PER_FAULT of a fault (the host cost it has); with others waiting,
    # every fault counts whole and the interleaving is exactly that of single faults.
    # A woken kswapd waits for the CPU too: while it is awake every fault counts whole, and
    # the fault that wakes it ends the quantum, so its turns come after the same faults
    # whether they were batched or single (the batches never take the slow path that wakes it).
    kswapd_asleep = kernel.pgdat.kswapd_classzone is None
    alone = kernel.sched.nr_running <= 1 and kswapd_asleep
    per_fault = BATCHED_TOUCHES_PER_FAULT if alone else 1
    fault_units = 0
    position = 0
    window = 16
    total = len(addrs)
    pgd = kernel.ram32[pgd_words(task.mm.pgd_pfn)]  # a view: the page directory itself
    words, mm = kernel.ram_words, task.mm
    while position < total:
        # A quantum of a thrashing task starts with a fault: the scalar look at its first
        # address spares the bulk check of everything after it.
        word = pte_word_or_none(words, mm.pgd_pfn, int(addrs[position]))
        if word is not None and words[word] & need == need:
            rest = addrs[position : position + _BULK_CHUNK]  # cache-sized temporaries
            nr_hits = _touch_resident_prefix(kernel, pgd, rest, need, write)
            if nr_hits:
                counts[0] += nr_hits
                position += nr_hits
                if nr_hits == len(rest):
                    continue  # the whole chunk hit: check the next one in bulk too
        if position >= total:
            break
        faults_in_window = 0
        end = min(total, position + window)
        while position < end:
            room = _MAX_FIRST_TOUCH_BATCH
            if max_faults is not None:
                room = min(room, max_faults * per_fault - fault_units)
            batched = _fault_batch(kernel, task, addrs[position : position + room], write)
            if batched:  # minor faults, each one unit of the budget
                counts[1] += batched
                fault_units += batched
                faults_in_window += batched
                position += batched
                if max_faults is not None and fault_units >= max_faults * per_fault:
                    return TouchSummary(position, counts[0], counts[1], counts[2])
                continue
            result = touch_one(kernel, task, int(addrs[position]), write)
            counts[result] += 1
            faults_in_window += result != FaultResult.HIT
            fault_units += per_fault if result != FaultResult.HIT else 0
            position += 1
            if max_faults is not None and (
                fault_units >= max_faults * per_fault
                or (kswapd_asleep and kernel.pgdat.kswapd_classzone is not None)
            ):
                return TouchSummary(position, counts[0], counts[1], counts[2])
        window = min(window * 2, 1 << 16) if faults_in_window else 16
    return TouchSummary(total, counts[0], counts[1], counts[2])


def _touch_resident_prefix(
    kernel: Kernel,
    pgd: npt.NDArray[np.uint32],
    addresses: npt.NDArray[np.uint32],
    need: int,
    write: bool,
) -> int:
    """The accesses at the front of *addresses* that hit (PTE with every bit of *need*), done
    in bulk as the MMU would: TLB, user time, accessed (and dirty) bits in the PTEs and once
    per page table in the PDEs (*pgd*: the directory's view). Returns how many hit."""
    ram32 = kernel.ram32
    vpns = addresses >> np.uint32(PAGE_SHIFT)
    # the tables a user access may walk (P and U/S in the PDE), and where
    pte_words, ok, pde_index = pte_words_many(pgd, vpns, _P | _US)
    ptes = ram32[pte_words]
    ok &= (ptes & np.uint32(need)) == np.uint32(need)
    first_miss = int(np.argmin(ok))
    nr_hits = len(addresses) if ok[first_miss] else first_miss
    if not nr_hits:
        return 0
    thread = kernel.current
    tlb_misses = thread.tlb.access_many(vpns[:nr_hits])
    costs = kernel.costs
    thread.run(
        (nr_hits - tlb_misses) * costs.tlb_hit_ns + tlb_misses * costs.page_walk_ns,
        user=True,
    )
    # Only PTEs still lacking the accessed (and dirty) bit are written back.
    set_bits = np.uint32(_A | (_D if write else 0))
    hit_ptes = ptes[:nr_hits]
    stale = (hit_ptes & set_bits) != set_bits
    if stale.any():
        ram32[pte_words[:nr_hits][stale]] = hit_ptes[stale] | set_bits
    # The accessed bit once per distinct page table, not once per address.
    used_tables = np.zeros(1024, dtype=bool)
    used_tables[pde_index[:nr_hits]] = True
    pgd[used_tables] |= np.uint32(_A)
    if kernel.lruvec.tracks_access:
        kernel.lruvec.policy.access_many((hit_ptes >> np.uint32(PAGE_SHIFT)).astype(np.int64))
    return nr_hits


def _fault_batch(kernel: Kernel, task: Task, addresses: npt.NDArray[np.uint32], write: bool) -> int:
    """The batch of minor faults at the front of *addresses*, if one applies: first
    touches (writes) or swap-cache hits; how many addresses it handled (0: none)."""
    if write:
        batched = _first_touch_batch(kernel, task, addresses)
        if batched:
            return batched
    return do_swap_cache_pages(kernel, task, addresses[:_MAX_SWAP_CACHE_BATCH], write)


def _first_touch_batch(kernel: Kernel, task: Task, addresses: npt.NDArray[np.uint32]) -> int:
    """do_anonymous_pages at the front of *addresses* when it can apply; a scalar look at the
    first PTE and at the allocator's fast path first, so a fault that cannot be batched
    (swapped out, present, or needing reclaim) costs the single path almost nothing more."""
    if len(addresses) < 2:
        return 0
    word = pte_word_or_none(kernel.ram_words, task.mm.pgd_pfn, int(addresses[0]))
    if word is None or kernel.ram_words[word]:
        return 0
    allowed = kernel.allocator.bulk_pages_allowed(Gfp.HIGHUSER, WatermarkLevel.LOW)
    if allowed < 2:
        return 0
    return do_anonymous_pages(kernel, task, addresses[:allowed], True)


def access_user_memory(
    kernel: Kernel, task: Task, address: int, length: int, data: bytes | None
) -> bytes:
    """Copy to (data given) or from user memory page by page, faulting pages in (access_process_vm)."""
    out = bytearray()
    done = 0
    write = data is not None
    ram = kernel.physmem.ram
    while done < length:
        va = address + done
        chunk = min(length - done, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
        touch_one(kernel, task, va, write)
        word = pte_word_or_none(kernel.ram_words, task.mm.pgd_pfn, va)
        assert word is not None
        physical = (kernel.ram_words[word] & FRAME_MASK) | (va & (PAGE_SIZE - 1))
        if data is not None:
            ram[physical : physical + chunk] = data[done : done + chunk]
        else:
            out += ram[physical : physical + chunk]
        done += chunk
    return bytes(out)


def swapin_range(kernel: Kernel, task: Task, start: int, end: int) -> int:
    """MADV_WILLNEED: read the swapped-out pages of [start, end) back in now; return how many."""
    count = 0
    for va in range(start, end, PAGE_SIZE):
        word = pte_word_or_none(kernel.ram_words, task.mm.pgd_pfn, va)
        pte = kernel.ram_words[word] if word is not None else 0
        if word is None or not pte or pte & _MAPPED:  # no swap entry there
            continue
        vma = task.mm.find_vma(va)
        assert vma is not None
        _pfn, read = swap_in_page(kernel, task, vma, va, word, False)
        kernel.vm_events.swap_ra += read
        count += 1
    return count


# ---- tearing down and changing ranges -----------------------------------------------------
def update_protection(kernel: Kernel, mm: MmStruct, start: int, end: int, vma: Vma) -> None:
    """Rewrite the R/W and U/S bits of the present PTEs of [start, end) for *vma* (change_protection)."""
    ram32 = kernel.ram32
    bits = np.uint32(user_pte_bits(vma.writable, vma.accessible))
    zero_page_bits = np.uint32(user_pte_bits(False, vma.accessible))
    zero_pfn = np.uint32(kernel.zero_pfn)
    for _va, first_word, count in pte_runs(kernel, mm, start, end):
        entries = ram32[first_word : first_word + count]
        present = (entries & np.uint32(_MAPPED)) != 0
        # The zero page stays read-only whatever the VMA allows: a write must copy it.
        stays_read_only = present & ((entries >> np.uint32(PAGE_SHIFT)) == zero_pfn)
        kept = entries & np.uint32(_PTE_KEEP_ON_MPROTECT)
        pfns = (entries >> np.uint32(PAGE_SHIFT)).astype(np.int64)
        if vma.file is not None:
            # A file's page cache page stays read-only: a private write must copy it, a
            # shared one must fault to dirty it (vma_wants_writenotify).
            page_flags = kernel.physmem.flags[np.where(present, pfns, 0)]
            stays_read_only |= present & ((page_flags & np.uint32(_ANON_BIT)) == 0)
        if vma.writable and not vma.shared:
            # A page fork shared stays read-only too: its first write must copy it
            # (change_pte_range makes a PTE writable only for an exclusive anon page).
            stays_read_only |= present & (kernel.physmem.mapcount[np.where(present, pfns, 0)] > 1)
        entries[present] = np.where(stays_read_only, kept | zero_page_bits, kept | bits)[present]


# ---- inspection -----------------------------------------------------------------------------
def translate(kernel: Kernel, task: Task, linear: int, vma_info: VmaInfo | None) -> Translation:
    """The walk of *linear* in the process's tables, with what a user access would meet (follow_page)."""
    result = walk(kernel.ram_words, task.mm.pgd_pfn, linear)
    if result.present:
        fault = None if result.user else "supervisor-only or PROT_NONE page (U/S clear)"
    elif vma_info is None:
        fault = "no VMA covers the address"
    elif result.pte is not None and result.pte & PTE_PROTNONE:
        fault = "PROT_NONE page (P clear, _PAGE_PROTNONE set): any access is SIGSEGV"
    elif result.swap_offset is not None:
        fault = "page is swapped out (major fault on access)"
    elif result.pte is None:
        fault = "page table not allocated yet"
    else:
        fault = "not touched yet (minor fault on access)"
    return replace(result, fault=fault, vma=vma_info)
