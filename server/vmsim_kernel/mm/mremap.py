"""mremap(2): shrink a mapping, grow it in place, or move it with its page table entries.

Models mm/mremap.c of Linux 6.1: the syscall's checks, mremap_to, vma_to_resize,
vma_expandable, move_vma and move_page_tables. A moved range keeps its frames, bytes and
swap entries: the PTE words themselves move (accessed and dirty bits with them) and the
reverse map follows, so a resident page never faults again after the move. Every check runs
before anything changes: Linux unmaps the MREMAP_FIXED target and a shrunk tail before its
last checks, so a late refusal there has already unmapped them; here a refused call changes
nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from enum import IntFlag
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import (
    MMAP_MIN_ADDR,
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SHIFT,
    TASK_SIZE,
    page_align_up,
)
from vmsim_kernel.arch.x86.pgtable import (
    PTE_MAPPED,
    PTE_PRESENT,
    pgd_words,
    pte_words_many,
)
from vmsim_kernel.errors import (
    BadAddress,
    InvalidArgument,
    KernelBug,
    LimitExceeded,
    OutOfMemory,
    PermissionDenied,
)
from vmsim_kernel.kernel import exit as task_exit

from .memory import pte_alloc
from .mlock import MLOCK_LIMIT, nr_locked_pages
from .mmap import (
    address_space_change,
    check_map_count_for_hole,
    shoot_down_tlbs,
    too_many_mappings,
    unmap_in_slices,
    unmap_range,
)
from .overcommit import commit_allowed, commit_pages, commit_refused, uncommit_pages
from .unmap import free_pgtables, pte_runs

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

    from .vma import MmStruct, Vma

__all__ = ["MREMAP_KNOWN", "MremapFlag", "MremapResult", "do_mremap", "move_page_tables"]


class MremapFlag(IntFlag):
    """mremap flags (include/uapi/linux/mman.h values)."""

    MAYMOVE = 1  # the mapping may move to a free range when it cannot grow where it is
    FIXED = 2  # move to exactly new_address, unmapping what is there (needs MAYMOVE)
    DONTUNMAP = 4  # move, leaving the old range mapped but empty (MAYMOVE, same size)


MREMAP_KNOWN: Final = MremapFlag.MAYMOVE | MremapFlag.FIXED | MremapFlag.DONTUNMAP
_FLAGS_ALLOWED: Final = (
    "MREMAP_MAYMOVE 1, MREMAP_FIXED 2 (with MAYMOVE), MREMAP_DONTUNMAP 4 (with MAYMOVE and "
    "new_size equal to old_size)"
)


@dataclass(frozen=True)
class MremapResult:
    """What an mremap did: where the mapping starts now, and the part a locked mapping's
    growth must fault in once mmap_lock is dropped (mm_populate): (start, end, write)."""

    address: int
    populate: tuple[int, int, bool] | None = None


def do_mremap(
    kernel: Kernel, task: Task, addr: int, old_len: int, new_len: int, flags: int, new_addr: int
) -> Generator[None, None, MremapResult]:
    """mremap(2) (SYSCALL_DEFINE5(mremap)): a shrink unmaps the tail (in quanta, as munmap);
    a growth extends the VMA when the range after it is free, else moves it with
    MREMAP_MAYMOVE; MREMAP_FIXED and MREMAP_DONTUNMAP go to mremap_to.

    Raises:
        InvalidArgument: bad flags, an unaligned address, new_size 0, overlapping ranges,
            old_size 0 on a private mapping (EINVAL).
        BadAddress: *addr* in no mapping, or the old range past its mapping's end (EFAULT).
        OutOfMemory: no room to grow without MREMAP_MAYMOVE, no free range, the commit
            charge refused, vm.max_map_count (ENOMEM).
        LimitExceeded: a locked mapping would grow past RLIMIT_MEMLOCK (EAGAIN).
        PermissionDenied: MREMAP_FIXED below mmap_min_addr (EPERM).
    """
    old_len, new_len = check_mremap_args(addr, old_len, new_len, flags)
    mm = task.mm
    vma = mm.find_vma(addr)
    if vma is None:
        raise BadAddress(
            "old_address", f"0x{addr:x} is in no mapping (EFAULT)", "an address inside a mapping"
        )
    if flags & (MremapFlag.FIXED | MremapFlag.DONTUNMAP):
        return mremap_to(kernel, task, vma, addr, old_len, new_len, flags, new_addr)
    if old_len >= new_len:  # always allowed: only the tail goes, whatever it spans
        if old_len > new_len:
            check_unmap_args("old_size", addr + new_len, old_len - new_len)
            check_map_count_for_hole(kernel, mm, addr + new_len, addr + old_len)
            yield from unmap_in_slices(kernel, task, addr + new_len, addr + old_len)
        else:
            kernel.current.run(kernel.costs.syscall_ns)  # nothing to do but enter and leave
        return MremapResult(addr)
    vma_to_resize(mm, vma, addr, old_len, new_len)
    if addr + old_len == vma.end and mm.range_is_free(vma.end, vma.end + new_len - old_len):
        return expand_in_place(kernel, task, vma, addr, old_len, new_len)
    if not flags & MremapFlag.MAYMOVE:
        raise OutOfMemory(
            f"0x{addr:x}+0x{old_len:x} cannot grow to 0x{new_len:x} bytes in place (the range "
            "after it is mapped) and MREMAP_MAYMOVE was not given (ENOMEM)"
        )
    target = mm.get_unmapped_area(new_len, 0)
    if target is None:
        raise OutOfMemory(f"no free virtual range of {new_len} bytes to move the mapping to")
    if len(mm) >= kernel.config.max_map_count - 3:  # move_vma's margin for the unmap's splits
        raise too_many_mappings(kernel, mm)
    check_commit(kernel, task, vma, (new_len - old_len) // PAGE_SIZE)
    with address_space_change(kernel, task):
        move_vma(kernel, task, vma, addr, old_len, new_len, target, dontunmap=False)
    return MremapResult(target, locked_growth(vma, target + old_len, target + new_len))


def check_mremap_args(addr: int, old_len: int, new_len: int, flags: int) -> tuple[int, int]:
    """The syscall's own checks, in Linux's order; returns the page-aligned lengths.

    Raises:
        InvalidArgument: unknown flags, FIXED without MAYMOVE, DONTUNMAP without MAYMOVE or
            with a size change, an unaligned address, a negative size, new_size 0.
    """
    if flags < 0 or flags & ~int(MREMAP_KNOWN):
        raise InvalidArgument("flags", f"unknown bits in 0x{flags:x}", _FLAGS_ALLOWED)
    if flags & MremapFlag.FIXED and not flags & MremapFlag.MAYMOVE:
        raise InvalidArgument("flags", "MREMAP_FIXED needs MREMAP_MAYMOVE", _FLAGS_ALLOWED)
    if flags & MremapFlag.DONTUNMAP and (not flags & MremapFlag.MAYMOVE or old_len != new_len):
        raise InvalidArgument(
            "flags",
            "MREMAP_DONTUNMAP needs MREMAP_MAYMOVE and new_size == old_size",
            _FLAGS_ALLOWED,
        )
    if addr % PAGE_SIZE or addr < 0:
        raise InvalidArgument(
            "old_address", f"0x{addr:x} is not page aligned", "a multiple of 4096"
        )
    if old_len < 0 or new_len < 0:
        raise InvalidArgument("new_size", "a size is negative", "0 .. 3 GiB")
    old_len, new_len = page_align_up(old_len), page_align_up(new_len)
    if not new_len:
        raise InvalidArgument("new_size", "0 is not a size a mapping can have", "1 .. 3 GiB")
    return old_len, new_len


def check_unmap_args(field: str, start: int, length: int) -> None:
    """do_mas_munmap's check of the range it unmaps: inside user space (EINVAL)."""
    if start > TASK_SIZE or length > TASK_SIZE - start:
        raise InvalidArgument(
            field, f"0x{start:x}+0x{length:x} leaves user space", "ranges below 0xC0000000"
        )


def vma_to_resize(mm: MmStruct, vma: Vma, addr: int, old_len: int, new_len: int) -> None:
    """vma_to_resize: may [addr, addr+old_len) of *vma* become new_len bytes?

    Raises:
        InvalidArgument: old_size 0 on a private mapping (only a shared one can be
            duplicated that way).
        BadAddress: the old range runs past the end of its mapping (EFAULT).
        LimitExceeded: a locked mapping would grow past RLIMIT_MEMLOCK (EAGAIN).
    """
    if not old_len and not vma.shared:
        raise InvalidArgument(
            "old_size",
            "0 duplicates a mapping, which only a MAP_SHARED one can be",
            "the size of the range to remap",
        )
    if old_len > vma.end - addr:
        raise BadAddress(
            "old_size",
            f"0x{addr:x}+0x{old_len:x} runs past the end of its mapping at 0x{vma.end:x} (EFAULT)",
            "a range inside one mapping",
        )
    if new_len > old_len and vma.locked:
        locked = nr_locked_pages(mm) * PAGE_SIZE + new_len - old_len
        if locked > MLOCK_LIMIT:
            raise LimitExceeded(
                f"growing an mlocked mapping to {new_len} bytes would lock {locked} bytes, past "
                f"RLIMIT_MEMLOCK ({MLOCK_LIMIT} bytes) (EAGAIN)",
                "RLIMIT_MEMLOCK",
            )


def check_commit(kernel: Kernel, task: Task, vma: Vma, pages: int) -> None:
    """security_vm_enough_memory_mm for *pages* more of an accounted (VM_ACCOUNT) mapping."""
    if vma.accounted and not commit_allowed(kernel, pages, task):
        raise commit_refused(kernel, pages)


def locked_growth(vma: Vma, start: int, end: int) -> tuple[int, int, bool] | None:
    """What mm_populate faults in after a locked mapping grew by [start, end): written pages
    for a private writable mapping (FOLL_WRITE), read ones otherwise; nothing for PROT_NONE."""
    if not vma.locked or start >= end or not vma.accessible:
        return None
    return start, end, vma.writable and not vma.shared


def expand_in_place(
    kernel: Kernel, task: Task, vma: Vma, addr: int, old_len: int, new_len: int
) -> MremapResult:
    """The mapping ends at addr+old_len and the range after it is free: the VMA grows over
    it (vma_merge of the extension, which may join the next VMA too)."""
    pages = (new_len - old_len) // PAGE_SIZE
    check_commit(kernel, task, vma, pages)
    with address_space_change(kernel, task):
        if vma.accounted:
            commit_pages(kernel, task, pages)
        task.mm.insert(replace(vma, start=vma.end, end=addr + new_len))
    return MremapResult(addr, locked_growth(vma, addr + old_len, addr + new_len))


def mremap_to(
    kernel: Kernel,
    task: Task,
    vma: Vma,
    addr: int,
    old_len: int,
    new_len: int,
    flags: int,
    new_addr: int,
) -> MremapResult:
    """mremap_to: a move to *new_addr* (MREMAP_FIXED: exactly there, replacing what is
    mapped; else a hint) or, with MREMAP_DONTUNMAP, leaving the old range mapped but empty."""
    mm = task.mm
    fixed = bool(flags & MremapFlag.FIXED)
    dontunmap = bool(flags & MremapFlag.DONTUNMAP)
    if new_addr % PAGE_SIZE or new_addr < 0:
        raise InvalidArgument(
            "new_address", f"0x{new_addr:x} is not page aligned", "a multiple of 4096"
        )
    if new_len > TASK_SIZE or new_addr > TASK_SIZE - new_len:
        raise InvalidArgument(
            "new_address",
            f"0x{new_addr:x}+0x{new_len:x} leaves user space",
            "a range below 0xC0000000",
        )
    if addr + old_len > new_addr and new_addr + new_len > addr:
        raise InvalidArgument(
            "new_address",
            f"0x{new_addr:x}+0x{new_len:x} overlaps the old range 0x{addr:x}+0x{old_len:x}",
            "a range apart from the old one",
        )
    # Both unmaps below may split a VMA in three: stay clear of the limit (mremap_to's margin).
    if len(mm) + 2 >= kernel.config.max_map_count - 3:
        raise too_many_mappings(kernel, mm)
    if fixed:
        check_map_count_for_hole(kernel, mm, new_addr, new_addr + new_len)
    moved_len = min(old_len, new_len)
    if old_len > new_len:
        check_unmap_args("old_size", addr + new_len, old_len - new_len)
        check_map_count_for_hole(kernel, mm, addr + new_len, addr + old_len)
    vma_to_resize(mm, vma, addr, moved_len, new_len)
    target = fixed_target(new_addr) if fixed else mm.get_unmapped_area(new_len, new_addr)
    if target is None:
        raise OutOfMemory(f"no free virtual range of {new_len} bytes to move the mapping to")
    # What the unmaps give back counts against the charge, as Linux unmaps before it checks.
    given_back = sum(
        v.nr_pages
        for v in (mm.overlapping(target, target + new_len) if fixed else ())
        if v.accounted
    )
    if old_len > new_len and vma.accounted:
        given_back += (old_len - new_len) // PAGE_SIZE
    charge = new_len // PAGE_SIZE if dontunmap else (new_len - moved_len) // PAGE_SIZE
    check_commit(kernel, task, vma, charge - given_back)
    with address_space_change(kernel, task):
        if fixed:
            unmap_range(kernel, task, target, target + new_len)
        if old_len > new_len:
            unmap_range(kernel, task, addr + new_len, addr + old_len)
        move_vma(kernel, task, vma, addr, moved_len, new_len, target, dontunmap=dontunmap)
    populate = None if dontunmap else locked_growth(vma, target + moved_len, target + new_len)
    return MremapResult(target, populate)


def fixed_target(new_addr: int) -> int:
    """get_unmapped_area with MAP_FIXED: the address itself, unless below mmap_min_addr,
    which security_mmap_addr refuses (EPERM)."""
    if new_addr < MMAP_MIN_ADDR:
        raise PermissionDenied(
            f"new_address 0x{new_addr:x} is below vm.mmap_min_addr 0x{MMAP_MIN_ADDR:x} (EPERM)"
        )
    return new_addr


def move_vma(
    kernel: Kernel,
    task: Task,
    vma: Vma,
    addr: int,
    old_len: int,
    new_len: int,
    new_addr: int,
    *,
    dontunmap: bool,
) -> None:
    """move_vma under mmap_lock (checked by the caller): copy_vma to [new_addr,
    new_addr+new_len) with the page offset kept, move_page_tables, then the old range goes
    without giving back its charge (the moved pages keep it), or, with *dontunmap*, stays
    mapped, empty and no longer locked.

    Raises:
        OutOfMemory: no page for a new page table (nothing moved; a MREMAP_FIXED target is
            unmapped already, as in Linux).
    """
    mm = task.mm
    pages = (new_len if dontunmap else new_len - old_len) // PAGE_SIZE if vma.accounted else 0
    commit_pages(kernel, task, pages)  # checked by the caller: it fits
    try:
        moved = move_page_tables(kernel, task, addr, new_addr, old_len)
    except OutOfMemory:
        uncommit_pages(kernel, pages)
        mm.committed_pages -= pages
        raise
    kernel.current.run(kernel.costs.zap_page_ns * moved)
    keeps_offset = vma.shared or vma.file is not None  # vm_pgoff: the object's page index
    shift = new_addr - addr
    base = vma.shmem_base + shift if keeps_offset else vma.shmem_base
    hiwater_vm = mm.hiwater_vm  # both ranges are mapped for a moment: not a new VmPeak
    mm.insert(replace(vma, start=new_addr, end=new_addr + new_len, shmem_base=base))
    if dontunmap:
        if vma.locked:
            piece = replace(vma, start=addr, end=addr + old_len, locked=False)
            mm.replace_range(addr, addr + old_len, [piece])
    elif old_len:
        mm.remove_range(addr, addr + old_len)
        free_pgtables(kernel, mm, addr, addr + old_len)
    mm.hiwater_vm = max(hiwater_vm, mm.total_vm_pages)
    shoot_down_tlbs(kernel, task)


def move_page_tables(kernel: Kernel, task: Task, old_addr: int, new_addr: int, length: int) -> int:
    """move_page_tables/move_ptes: every non-empty PTE of [old_addr, old_addr+length) moves
    to the same offset from *new_addr* (present pages, PROT_NONE ones and swap entries alike,
    the accessed and dirty bits kept) and the reverse map follows; returns how many moved.
    The destination's PTEs must be empty.

    The destination's page tables are allocated first: that may reclaim, which changes
    source PTEs (a page swapped out, a clean file page dropped) but frees no page table, so
    the source is read after.

    Raises:
        OutOfMemory: no page for a page table; nothing has moved.
    """
    mm = task.mm
    ram32 = kernel.ram32
    shift = new_addr - old_addr
    _, old_vas = _used_ptes(kernel, mm, old_addr, old_addr + length)
    _, table_ok, pde_indexes = _walk(kernel, mm, old_vas + shift)
    for index in np.unique(pde_indexes[~table_ok]).tolist():
        pte_alloc(kernel, task, index << PGDIR_SHIFT)
        if not task.alive:  # the allocation's OOM kill chose this process
            raise task_exit.dead(task)
    old_words, old_vas = _used_ptes(kernel, mm, old_addr, old_addr + length)
    if not len(old_words):
        return 0
    new_vas = old_vas + shift
    words, table_ok, _ = _walk(kernel, mm, new_vas)
    new_words = words.astype(np.int64)
    if not table_ok.all() or ram32[new_words].any():
        raise KernelBug("mremap's destination has no page table or a used PTE")
    entries = ram32[old_words]
    ram32[old_words] = 0
    ram32[new_words] = entries
    pfns = (entries >> np.uint32(PAGE_SHIFT)).astype(np.int64)
    mapped = ((entries & np.uint32(PTE_MAPPED)) != 0) & (pfns != kernel.zero_pfn)
    kernel.rmap.move(pfns[mapped], mm, old_vas[mapped], new_vas[mapped], new_words[mapped])
    return len(old_words)


def _walk(
    kernel: Kernel, mm: MmStruct, addresses: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_], npt.NDArray[np.uint32]]:
    """pte_words_many for *addresses* in *mm*: PTE indexes, whether the table is there, PDE
    indexes."""
    vpns = (addresses >> PAGE_SHIFT).astype(np.uint32)
    return pte_words_many(kernel.ram32[pgd_words(mm.pgd_pfn)], vpns, PTE_PRESENT)


def _used_ptes(
    kernel: Kernel, mm: MmStruct, start: int, end: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The ram32 indexes and addresses of the non-empty PTEs of [start, end)."""
    words, addresses = [], []
    for first_va, first_word, count in pte_runs(kernel, mm, start, end):
        used = np.flatnonzero(kernel.ram32[first_word : first_word + count]).astype(np.int64)
        words.append(first_word + used)
        addresses.append(first_va + (used << PAGE_SHIFT))
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(words), np.concatenate(addresses)
