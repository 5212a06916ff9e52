"""The address-space system calls: mmap, munmap, mprotect and brk (madvise: madvise.py).

Models mm/mmap.c (do_mmap, do_vmi_munmap, do_brk_flags) and mm/mprotect.c (mprotect_fixup):
validate every argument first (a refused call changes nothing), account the
commit charge, change the VMAs under mmap_lock, then the page tables (memory.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from vmsim_kernel.arch.x86.constants import (
    ADDRESS_SPACE_END,
    MAP_KNOWN,
    MMAP_MIN_ADDR,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_ALL,
    TASK_SIZE,
    MapFlag,
    Prot,
    page_align_up,
)
from vmsim_kernel.config import OvercommitMode
from vmsim_kernel.errors import AccessDenied, InvalidArgument, OutOfMemory, OutOfRange
from vmsim_kernel.fs.vfs import MsyncFlag
from vmsim_kernel.kernel import exit as task_exit
from vmsim_kernel.kernel.sched import QUANTUM_ZAP_PAGES

from . import memory
from .overcommit import commit_allowed, commit_pages, commit_refused, uncommit_pages
from .page_writeback import sync_inode
from .truncate import account_page_dirtied
from .unmap import free_pgtables, pte_runs, release_unmapped_objects, zap_range
from .vma import MmStruct, Vma, VmaKind, needs_accounting

if TYPE_CHECKING:
    from vmsim_kernel.fs.vfs import Inode, OpenFile
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task
    from vmsim_kernel.kernel.time import SimThread

    from .shmem import ShmemObject

__all__ = [
    "address_space_change",
    "do_brk",
    "do_mmap",
    "do_mmap_file",
    "do_mprotect",
    "do_msync",
    "do_munmap",
    "populate_span",
    "shoot_down_tlbs",
    "unmap_in_slices",
    "unmap_mapping_range",
    "unmap_range",
    "zap_slice_end",
]


def check_range(field: str, addr: int, length: int) -> None:
    """An address range must lie in user space (below 0xC0000000)."""
    if addr < 0 or length < 0 or addr + length > TASK_SIZE:
        raise OutOfRange(
            field,
            f"range 0x{addr:x}+0x{length:x} leaves user space",
            "addresses and ranges within 0x00000000..0xBFFFFFFF",
        )


def check_aligned(field: str, addr: int) -> None:
    """Addresses of these calls must be page aligned."""
    if addr % PAGE_SIZE:
        raise InvalidArgument(field, f"0x{addr:x} is not page aligned", "a multiple of 4096")


def check_prot(prot: int) -> None:
    """Only PROT_READ, PROT_WRITE and PROT_EXEC bits exist."""
    if prot < 0 or prot & ~int(PROT_ALL):
        raise InvalidArgument(
            "prot",
            f"unknown bits in 0x{prot:x}",
            "PROT_NONE 0, PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4",
        )


def mapped_range_end(task: Task, addr: int, length: int) -> int | None:
    """End of [addr, addr+length) rounded to pages, checked to be wholly mapped; None if empty.

    mprotect and madvise accept a zero length and refuse holes with ENOMEM, as Linux does.
    """
    if length < 0:
        raise InvalidArgument("length", f"{length} is negative", "0 .. 3 GiB")
    end = addr + page_align_up(length)
    check_range("addr", addr, end - addr)
    if addr == end:
        return None
    if not task.mm.is_fully_mapped(addr, end):
        raise OutOfRange(
            "addr",
            f"0x{addr:x}..0x{end:x} contains unmapped pages (ENOMEM)",
            "a range covered by mappings",
        )
    return end


def do_mmap(
    kernel: Kernel,
    task: Task,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    obj: ShmemObject | None = None,
    file: OpenFile | None = None,
    pgoff: int = 0,
) -> int:
    """mmap(2) of anonymous memory, of the whole shared memory object *obj* (MAP_SHARED,
    without MAP_ANONYMOUS), or of the open *file* from page *pgoff* (do_mmap_file checked
    the file's side); returns the start address."""
    mm = task.mm
    if length <= 0:
        raise InvalidArgument("length", f"{length} is not a positive length", "1 .. 3 GiB")
    if length > TASK_SIZE:
        raise OutOfRange("length", f"{length} bytes do not fit in user space", "at most 3 GiB")
    check_prot(prot)
    check_map_flags(flags, obj, file)
    if not 0 <= addr < ADDRESS_SPACE_END:
        raise OutOfRange("addr", f"0x{addr:x} is not a 32-bit address", "0x0 .. 0xBFFFFFFF")
    length = page_align_up(length)
    # do_mmap refuses only past the limit (map_count > max), so a process ends with
    # max_map_count + 1 mappings, which is LTP's pass rule (mem/tunable/max_map_count).
    if len(mm) > kernel.config.max_map_count:
        raise too_many_mappings(kernel, mm)
    fixed = bool(flags & (MapFlag.FIXED | MapFlag.FIXED_NOREPLACE))
    start = get_unmapped_area(mm, addr, length, flags)
    if fixed:
        check_map_count_for_hole(kernel, mm, start, start + length)
    shared = bool(flags & MapFlag.SHARED)
    accounted = accountable_mapping(kernel, Prot(prot), flags, file is not None)
    # MAP_FIXED gives back the charge of what it replaces, so only the difference must fit.
    replaced = sum(v.nr_pages for v in mm.overlapping(start, start + length) if v.accounted)
    charge = length // PAGE_SIZE if accounted else 0
    if not commit_allowed(kernel, charge - (replaced if fixed else 0), task):
        raise commit_refused(kernel, charge)
    with address_space_change(kernel, task):
        if fixed:
            unmap_range(kernel, task, start, start + length)
            shoot_down_tlbs(kernel, task)
        commit_pages(kernel, task, charge)
        mmap_region(kernel, mm, start, length, Prot(prot), shared, accounted, obj, file, pgoff)
    return start


def check_map_flags(flags: int, obj: ShmemObject | None, file: OpenFile | None) -> None:
    """do_mmap's checks of the flags for what is mapped: anonymous memory, a shared memory
    object or a file.

    Raises:
        InvalidArgument: unknown bits, not exactly one of MAP_SHARED and MAP_PRIVATE, or a
            flag the kind of mapping does not take.
    """
    if flags < 0 or flags & ~int(MAP_KNOWN):
        raise InvalidArgument(
            "flags",
            f"unknown bits in 0x{flags:x}",
            "MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE, MAP_POPULATE, "
            "MAP_FIXED_NOREPLACE",
        )
    shared = bool(flags & MapFlag.SHARED)
    if shared == bool(flags & MapFlag.PRIVATE):
        raise InvalidArgument(
            "flags",
            "need exactly one of MAP_SHARED and MAP_PRIVATE",
            "MAP_SHARED or MAP_PRIVATE",
        )
    if obj is None and file is None and not flags & MapFlag.ANONYMOUS:
        raise InvalidArgument(
            "flags",
            "an anonymous mapping needs MAP_ANONYMOUS (map a file with its descriptor)",
            "MAP_ANONYMOUS",
        )
    if file is not None and flags & MapFlag.ANONYMOUS:
        raise InvalidArgument(
            "flags", "a file mapping is not MAP_ANONYMOUS", "MAP_SHARED or MAP_PRIVATE"
        )
    if obj is not None and (not shared or flags & MapFlag.ANONYMOUS):
        raise InvalidArgument(
            "flags",
            "a shared memory object is mapped MAP_SHARED, without MAP_ANONYMOUS",
            "MAP_SHARED, with MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE, MAP_NORESERVE",
        )


def get_unmapped_area(mm: MmStruct, addr: int, length: int, flags: int) -> int:
    """Where a mapping of *length* bytes goes: exactly *addr* with MAP_FIXED or
    MAP_FIXED_NOREPLACE (checked), else the hint if free or the top-down search.

    Raises:
        InvalidArgument: a fixed *addr* not page aligned, or MAP_FIXED_NOREPLACE over a
            mapping (EEXIST).
        OutOfRange: a fixed range outside mmap_min_addr .. TASK_SIZE.
        OutOfMemory: no free range that long.
    """
    if not flags & (MapFlag.FIXED | MapFlag.FIXED_NOREPLACE):
        found = mm.get_unmapped_area(length, addr)
        if found is None:
            raise OutOfMemory(f"no free virtual range of {length} bytes in the address space")
        return found
    check_aligned("addr", addr)
    if addr < MMAP_MIN_ADDR or addr + length > TASK_SIZE:
        raise OutOfRange(
            "addr",
            f"0x{addr:x}+0x{length:x} is outside the mappable range",
            f"0x{MMAP_MIN_ADDR:x} .. 0xBFFFFFFF",
        )
    if flags & MapFlag.FIXED_NOREPLACE and mm.overlapping(addr, addr + length):
        raise InvalidArgument(
            "addr",
            f"0x{addr:x}+0x{length:x} overlaps an existing mapping (EEXIST)",
            "a free range with MAP_FIXED_NOREPLACE",
        )
    return addr


def accountable_mapping(kernel: Kernel, prot: Prot, flags: int, is_file: bool) -> bool:
    """VM_ACCOUNT (mmap_region's accountable_mapping): whether the mapping's pages count
    towards Committed_AS; MAP_NORESERVE opts out unless overcommit is never."""
    noreserve = (
        bool(flags & MapFlag.NORESERVE)
        and kernel.vm_sysctl.overcommit_memory is not OvercommitMode.NEVER
    )
    shared = bool(flags & MapFlag.SHARED)
    if not is_file:
        return needs_accounting(prot, shared, noreserve)
    # A file's private writable mapping may copy every page; its shared one writes the file.
    return not shared and bool(prot & Prot.WRITE) and not noreserve


def mmap_region(
    kernel: Kernel,
    mm: MmStruct,
    start: int,
    length: int,
    prot: Prot,
    shared: bool,
    accounted: bool,
    obj: ShmemObject | None,
    file: OpenFile | None,
    pgoff: int,
) -> None:
    """mmap_region under mmap_lock: the VMA for [start, start+length), merged with its
    neighbours where they match (vma_merge); a MAP_SHARED anonymous mapping gets a shmem
    object of its own (shmem_zero_setup), which a fork's child maps too."""
    kind = VmaKind.SHARED_ANON if shared else VmaKind.ANON
    if obj is not None:
        kind = f"/dev/shm/{obj.name}"
    elif file is not None:
        kind = f"/{file.inode.name}" if file.inode.linked else "/ (deleted)"
    elif shared:
        obj = kernel.shmem.new_object("", length // PAGE_SIZE)
    # vm_pgoff: page 0 of the object or file sits this far below the mapping's start.
    base = start - pgoff * PAGE_SIZE if shared or file is not None else 0
    mm.insert(
        Vma(
            start,
            start + length,
            prot,
            shared,
            kind,
            accounted,
            shmem=obj,
            shmem_base=base,
            file=file,
        )
    )


def do_mmap_file(
    kernel: Kernel,
    task: Task,
    file: OpenFile,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    offset: int,
) -> int:
    """mmap(2) of an open file: the file's own checks (do_mmap's file branch), then do_mmap.

    Raises:
        AccessDenied: the file is not open for reading, or MAP_SHARED|PROT_WRITE on a file
            not open for writing (EACCES).
        InvalidArgument: *offset* negative or not page aligned; see do_mmap.
    """
    if offset < 0 or offset % PAGE_SIZE:
        raise InvalidArgument("offset", f"{offset} is not a page-aligned offset", "0, 4096, ...")
    if not file.readable:
        raise AccessDenied(f"{file.inode.name!r} is not open for reading: it cannot be mapped")
    if flags & MapFlag.SHARED and prot & Prot.WRITE and not file.writable:
        raise AccessDenied(
            f"{file.inode.name!r} is open read-only: MAP_SHARED with PROT_WRITE needs O_RDWR"
        )
    return do_mmap(kernel, task, addr, length, prot, flags, file=file, pgoff=offset // PAGE_SIZE)


def unmap_mapping_range(kernel: Kernel, inode: Inode, first_index: int) -> None:
    """unmap_mapping_range (truncate's, even_cows): every process's PTEs for the file's
    pages from *first_index* on are zapped, copies of private mappings included."""
    for task in kernel.tasks.values():
        if not task.alive:
            continue
        for vma in task.mm:
            if vma.file is None or vma.file.inode is not inode:
                continue
            start = max(vma.start, vma.shmem_base + first_index * PAGE_SIZE)
            if start < vma.end:
                zap_range(kernel, task.mm, start, vma.end)
                shoot_down_tlbs(kernel, task)


def do_msync(kernel: Kernel, task: Task, addr: int, length: int, flags: int) -> None:
    """msync(2): the dirty bits of the range's PTEs move to its shared file pages; MS_SYNC
    then writes those pages back and waits for the disk (filemap_write_and_wait_range).

    Raises:
        InvalidArgument: *addr* not page aligned, unknown flags, MS_SYNC with MS_ASYNC.
        OutOfRange: a hole in the range (ENOMEM).
    """
    check_aligned("addr", addr)
    known = int(MsyncFlag.MS_ASYNC | MsyncFlag.MS_INVALIDATE | MsyncFlag.MS_SYNC)
    if flags < 0 or flags & ~known or (flags & MsyncFlag.MS_ASYNC and flags & MsyncFlag.MS_SYNC):
        raise InvalidArgument(
            "flags",
            f"{flags} is not a set of msync flags",
            "MS_ASYNC 1 or MS_SYNC 4, MS_INVALIDATE 2",
        )
    end = mapped_range_end(task, addr, length)
    if end is None:
        return
    kernel.current.run(kernel.costs.syscall_ns)
    for vma in task.mm.overlapping(addr, end):
        if vma.file is None or not vma.shared:
            continue
        first = vma.shmem_index(max(addr, vma.start))
        stop = vma.shmem_index(min(end, vma.end))
        inode = vma.file.inode
        for index, pfn in list(inode.mapping.pages.items()):
            if first <= index < stop and kernel.rmap.test_and_clear_dirty(pfn):
                account_page_dirtied(kernel, pfn)
        if flags & MsyncFlag.MS_SYNC:
            sync_inode(kernel, inode, first, stop)


def populate_span(start: int, length: int, prot: int, flags: int) -> tuple[int, int, bool] | None:
    """What mm_populate prefaults after a MAP_POPULATE mmap: (start, end, write), or None.

    It runs after mmap_lock is dropped, faulting like the process would (the caller does it
    in quanta, so a huge populate never holds a CPU for long).
    """
    if not flags & MapFlag.POPULATE or prot == Prot.NONE:
        return None
    return start, start + page_align_up(length), bool(prot & Prot.WRITE)


def too_many_mappings(kernel: Kernel, mm: MmStruct) -> OutOfMemory:
    """ENOMEM for a call that would take the process past vm.max_map_count."""
    return OutOfMemory(
        f"the process already has {len(mm)} mappings "
        f"(vm.max_map_count={kernel.config.max_map_count})"
    )


def check_map_count_for_hole(kernel: Kernel, mm: MmStruct, start: int, end: int) -> None:
    """Unmapping [start, end) out of the middle of one VMA leaves two where there was one:
    do_mas_align_munmap refuses that at the limit (map_count >= max), before changing
    anything, so munmap and a MAP_FIXED mmap cannot push a process past it."""
    vma = mm.find_vma(start)
    if vma is None or not (vma.start < start and end < vma.end):
        return
    if len(mm) >= kernel.config.max_map_count:
        raise too_many_mappings(kernel, mm)


def check_map_count_for_splits(
    kernel: Kernel, mm: MmStruct, start: int, end: int, prot: Prot
) -> None:
    """mprotect of [start, end) to *prot* splits the first VMA if it starts before *start*
    and the last if it ends after *end*, unless their protection is already *prot*
    (mprotect_fixup returns early then); split_vma refuses each split at the limit
    (map_count >= max).
    Checked for both splits before anything changes (Linux may have changed the first VMAs
    when the second split fails; here a refused call changes nothing)."""
    vmas = mm.overlapping(start, end)
    first, last = vmas[0], vmas[-1]
    splits = int(first.start < start and first.prot != prot)
    splits += int(last.end > end and last.prot != prot)
    if splits and len(mm) + splits - 1 >= kernel.config.max_map_count:
        raise too_many_mappings(kernel, mm)


def do_munmap(kernel: Kernel, task: Task, addr: int, length: int) -> Generator[None, None, None]:
    """munmap(2), in quanta (see unmap_in_slices)."""
    check_aligned("addr", addr)
    if length <= 0:
        raise InvalidArgument("length", f"{length} is not a positive length", "1 .. 3 GiB")
    check_range("addr", addr, page_align_up(length))
    check_map_count_for_hole(kernel, task.mm, addr, addr + page_align_up(length))
    yield from unmap_in_slices(kernel, task, addr, addr + page_align_up(length))


def unmap_in_slices(
    kernel: Kernel, task: Task, start: int, end: int
) -> Generator[None, None, None]:
    """Unmap [start, end) a slice at a time, yielding at each quantum boundary.

    A slice holds at most QUANTUM_ZAP_PAGES PTEs (zap_slice_end) and is a whole munmap of
    its part under mmap_lock: VMAs cut, pages and swap slots freed, commit given back, empty
    page tables freed, TLBs shot down. So at every boundary the address space is consistent
    (a prefix of the range is gone, the rest still mapped), and a call stopped there has
    done exactly that much, as zap_page_range's cond_resched() lets Linux stop between
    batches. The first slice pays the syscall entry; the later ones retake mmap_lock.
    """
    cursor = start
    while True:
        stop = zap_slice_end(kernel, task.mm, cursor, end)
        with address_space_change(kernel, task, entry=cursor == start):
            unmap_range(kernel, task, cursor, stop)
            shoot_down_tlbs(kernel, task)
        if stop >= end:
            return
        cursor = stop
        yield
        if not task.alive:  # killed between two slices: its teardown freed the rest
            raise task_exit.dead(task)


def zap_slice_end(kernel: Kernel, mm: MmStruct, start: int, end: int) -> int:
    """Where a slice of unmapping that starts at *start* ends: after QUANTUM_ZAP_PAGES
    non-empty PTEs (present or swap), or at *end*."""
    ram32 = kernel.ram32
    budget = QUANTUM_ZAP_PAGES
    for first_va, first_word, count in pte_runs(kernel, mm, start, end):
        used = np.flatnonzero(ram32[first_word : first_word + count])
        if len(used) > budget:
            return first_va + (int(used[budget]) << PAGE_SHIFT)
        budget -= len(used)
    return end


def do_mprotect(kernel: Kernel, task: Task, addr: int, length: int, prot: int) -> None:
    """mprotect(2)."""
    mm = task.mm
    check_aligned("addr", addr)
    check_prot(prot)
    end = mapped_range_end(task, addr, length)
    if end is None:
        return
    new_prot = Prot(prot)
    check_map_count_for_splits(kernel, mm, addr, end, new_prot)
    pieces = []
    charge = 0
    for vma in mm.overlapping(addr, end):
        piece = replace(vma, start=max(vma.start, addr), end=min(vma.end, end))
        newly = not piece.accounted and needs_accounting(new_prot, piece.shared, False)
        charge += piece.nr_pages if newly else 0
        pieces.append(replace(piece, prot=new_prot, accounted=piece.accounted or newly))
    commit_pages(kernel, task, charge)
    with address_space_change(kernel, task):
        mm.replace_range(addr, end, pieces)
        for piece in pieces:
            memory.update_protection(kernel, mm, piece.start, piece.end, piece)
        shoot_down_tlbs(kernel, task)


def do_brk(kernel: Kernel, task: Task, addr: int) -> int:
    """brk(2): addr 0 queries; returns the (new) program break."""
    mm = task.mm
    if addr == 0 or addr == mm.brk:
        return mm.brk
    if addr < mm.start_brk or addr >= TASK_SIZE:
        raise OutOfRange(
            "addr",
            f"0x{addr:x} is not a possible program break",
            f"0x{mm.start_brk:x} .. below the mappings above the heap",
        )
    old_end, new_end = page_align_up(mm.brk), page_align_up(addr)
    if new_end > old_end:
        if not mm.range_is_free(old_end, new_end) or not mm._clear_of_stack_gap(new_end):
            blocker = mm.next_vma_after(old_end)
            where = f"0x{blocker.start:x}" if blocker else "the stack"
            raise OutOfMemory(f"brk to 0x{addr:x} would run into the mapping at {where}")
        commit_pages(kernel, task, (new_end - old_end) // PAGE_SIZE)
        with address_space_change(kernel, task):
            mm.insert(
                Vma(old_end, new_end, Prot.READ | Prot.WRITE, kind=VmaKind.HEAP, accounted=True)
            )
    elif new_end < old_end:
        with address_space_change(kernel, task):
            unmap_range(kernel, task, new_end, old_end)
            shoot_down_tlbs(kernel, task)
    mm.brk = addr
    return addr


def unmap_range(kernel: Kernel, task: Task, start: int, end: int) -> None:
    """Remove [start, end) from the VMAs and the page tables, giving back its commit charge."""
    mm = task.mm
    pieces = mm.remove_range(start, end)
    for piece in pieces:
        kernel.current.run(kernel.costs.zap_page_ns * zap_range(kernel, mm, piece.start, piece.end))
        if piece.accounted:
            uncommit_pages(kernel, piece.nr_pages)
            mm.committed_pages -= piece.nr_pages
    free_pgtables(kernel, mm, start, end)
    release_unmapped_objects(kernel, pieces)


def shoot_down_tlbs(kernel: Kernel, task: Task) -> None:
    """flush_tlb_mm after unmapping or reprotecting: every thread's TLB; IPIs cost the caller."""
    caller = kernel.current
    for thread in task.threads.values():
        thread.tlb.flush()
        if thread is not caller:
            caller.run(kernel.costs.tlb_shootdown_ns)


@contextlib.contextmanager
def address_space_change(kernel: Kernel, task: Task, *, entry: bool = True) -> Iterator[SimThread]:
    """A syscall that changes the VMAs: entry cost (unless *entry* is False: a later slice of
    the same call), then the work under mmap_lock (writer)."""
    thread = kernel.current
    if entry:
        thread.run(kernel.costs.syscall_ns)
    assert task.mmap_lock is not None
    with kernel.holding(task.mmap_lock):
        thread.run(kernel.costs.vma_op_ns)
        yield thread
