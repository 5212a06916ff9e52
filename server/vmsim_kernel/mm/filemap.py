"""The page cache: a file's pages by index, read() and write() through them, file faults.

Models mm/filemap.c (filemap_read, filemap_get_pages, filemap_fault, filemap_map_pages'
page choice, __filemap_add_folio, __filemap_remove_folio, folio_mark_accessed's caller
side), mm/truncate.c (truncate_inode_pages_range) and the write_begin/write_end of
generic_perform_write on an ext2-like file system whose blocks are allocated when a page is
first written. A page cache page is neither anonymous nor swap-backed: reclaim drops it when
clean and writes it back to its block first when dirty (page_writeback.py); it lives on the
file LRU lists (policies.FileLru), and an evicted page leaves a shadow entry in its file's
address space (workingset.py).

Disk reads are priced by the disk's request queue: a read that needs a page waits for it (a
major fault, for a fault); readahead's pages are read without waiting and are under I/O
until their request completes (`FileSystem.io_done_ns`), so a fault on one of them before
then waits too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, Gfp
from vmsim_kernel.errors import FileTooLarge, NoSpaceOnDevice
from vmsim_kernel.kernel import exit as task_exit
from vmsim_kernel.results import FileInfo

from .page_alloc import alloc_page, free_page
from .page_writeback import balance_dirty_pages, disk_io_error, disk_of
from .physmem import PageFlag
from .policies import charge_lru_lock
from .readahead import mmap_read_around, ondemand_readahead
from .truncate import (
    PAGE_CACHE_FLAGS,
    account_page_dirtied,
)
from .workingset import workingset_refault_file

if TYPE_CHECKING:
    from vmsim_kernel.fs.vfs import FileRaState, Inode, OpenFile
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

__all__ = [
    "add_to_page_cache_lru",
    "disk_io_error",
    "disk_of",
    "file_info",
    "file_infos",
    "filemap_fault_page",
    "filemap_read",
    "generic_perform_write",
    "mark_page_accessed",
    "page_cache_ready",
]

_DIRTY_BIT: Final = int(PageFlag.DIRTY)
_READAHEAD_BIT: Final = int(PageFlag.READAHEAD)


# ---- dirty pages ---------------------------------------------------------------------------
# ---- the page cache itself -------------------------------------------------------------------
def add_to_page_cache_lru(
    kernel: Kernel, inode: Inode, index: int, pfn: int, *, charge: bool = True
) -> None:
    """filemap_add_folio: frame *pfn* (its bytes in place) is *inode*'s page *index*, on
    the file LRU: the active list when a shadow entry says it refaults in the workingset.
    *charge* False: the caller charges the LRU lock once for its batch of pages."""
    physmem = kernel.physmem
    physmem.flags[pfn] = physmem.flags.item(pfn) | PAGE_CACHE_FLAGS
    inode.mapping.pages[index] = pfn
    kernel.fs.owner_of[pfn] = (inode, index)
    if pfn >= kernel.nr_lowmem_frames:
        kernel.fs.nr_highmem_pages += 1
    lruvec = kernel.lruvec
    active = workingset_refault_file(
        lruvec, inode.mapping, index, kernel.vm_events, kernel.swap_info.nr_free_swap_pages > 0
    )
    if active:
        lruvec.file.insert_active(pfn)
    else:
        lruvec.file.insert(pfn)
    if charge:
        charge_lru_lock(lruvec, 1, kernel.costs.lru_update_ns)


def mark_page_accessed(kernel: Kernel, pfn: int) -> None:
    """folio_mark_accessed from read() and write(): the second touch activates the page
    (pgactivate), and an activation ages the workingset clock (workingset_activation)."""
    lruvec = kernel.lruvec
    if pfn in lruvec.file and lruvec.file.mark_page_accessed(pfn):
        kernel.vm_events.pgactivate += 1
        lruvec.nonresident_age += 1


def page_cache_ready(kernel: Kernel, pfn: int) -> bool:
    """Whether the page's read has completed (a readahead page may still be under I/O)."""
    done = kernel.fs.io_done_ns.get(pfn)
    return done is None or done <= kernel.current.now_ns


def _wait_on_page_read(kernel: Kernel, pfn: int) -> bool:
    """folio_wait_locked for a page under read I/O: the thread sleeps until it is read;
    returns whether it had to."""
    done = kernel.fs.io_done_ns.pop(pfn, None)
    thread = kernel.current
    if done is None or done <= thread.now_ns:
        return False
    thread.times.iowait_ns += done - thread.now_ns
    thread.now_ns = done
    return True


def read_pages(
    kernel: Kernel, task: Task, inode: Inode, first: int, nr_pages: int, marker: int | None
) -> None:
    """page_cache_ra_unbounded + read_pages: every page of [first, first + nr_pages) below
    i_size not in the cache gets a frame and is read from its block (one request per run of
    consecutive blocks; a page without a block, a hole, is zeroes without I/O). The pages are
    under I/O until their request completes; page *marker* gets PG_readahead.

    Raises:
        ProcessKilled: the allocation's OOM kill chose *task*.
    """
    mapping = inode.mapping
    end = min(first + nr_pages, -(-inode.size // PAGE_SIZE))
    physmem = kernel.physmem
    fs = kernel.fs
    to_read: list[tuple[int, int]] = []  # (block, pfn)
    added = 0
    # Linux adds each new page to the cache locked, and reclaim skips a locked page until its
    # read completes. Here no page joins the cache (and the LRU) before every frame of the
    # window is allocated, so no allocation's reclaim can take back a page not yet read and
    # hand its frame to a later page of the same window.
    wanted = [index for index in range(first, end) if index not in mapping.pages]
    frames = _allocate_frames(kernel, task, len(wanted))
    for index, pfn in zip(wanted, frames, strict=True):
        block = inode.blocks.get(index)
        if block is None:
            physmem.zero_user_frame(pfn)
        else:
            to_read.append((block, pfn))
        if index == marker:
            physmem.flags[pfn] = physmem.flags.item(pfn) | _READAHEAD_BIT
        add_to_page_cache_lru(kernel, inode, index, pfn, charge=False)
        added += 1
    if added:  # the pages went on the LRU in one hold of its lock (a folio batch)
        charge_lru_lock(kernel.lruvec, added, kernel.costs.lru_update_ns)
    if not to_read:
        return
    disk = disk_of(kernel)
    to_read.sort()
    outcome = disk.read_slots_into(
        [block for block, _pfn in to_read], [physmem.frame_view(pfn) for _block, pfn in to_read]
    )
    now = kernel.current.now_ns
    done = now
    for error in outcome:
        if error is not None:
            raise disk_io_error(error)
        done = disk.queue.submit(now)
    for _block, pfn in to_read:  # one bio: its pages are read when its last one is
        fs.io_done_ns[pfn] = done
    kernel.vm_events.pgpgin += len(to_read) * (PAGE_SIZE // 1024)
    kernel.current.run(kernel.costs.syscall_ns)  # submit_bio's share


def _allocate_frames(kernel: Kernel, task: Task, nr_pages: int) -> list[int]:
    """*nr_pages* frames for a readahead window, all given back if the task dies on the way.

    Raises:
        ProcessKilled: an allocation's OOM kill chose *task*.
    """
    frames: list[int] = []
    try:
        for _ in range(nr_pages):
            frames.append(alloc_page(kernel.pgdat, Gfp.HIGHUSER, task))
            if not task.alive:
                raise task_exit.dead(task)
    except BaseException:
        for pfn in frames:
            free_page(kernel.pgdat, pfn)
        raise
    return frames


def filemap_get_page(
    kernel: Kernel, task: Task, file: OpenFile, index: int, req_pages: int
) -> tuple[int, bool]:
    """filemap_get_pages for read(): page *index* of the file, read with readahead when it is
    missing (page_cache_sync_ra) and the next window started when it carries PG_readahead
    (page_cache_async_ra); returns (pfn, whether the reader waited for the disk)."""
    inode = file.inode
    ra = file.ra
    pfn = inode.mapping.pages.get(index)
    if pfn is None:
        first, size = ondemand_readahead(ra, index, req_pages, hit_marker=False)
        read_pages(kernel, task, inode, first, size, _marker(ra, first, size))
        pfn = inode.mapping.pages[index]
    elif kernel.physmem.flags.item(pfn) & _READAHEAD_BIT:
        _async_readahead(kernel, task, inode, ra, index, pfn, req_pages)
    waited = _wait_on_page_read(kernel, pfn)
    ra.prev_index = index
    return pfn, waited


def _marker(ra: FileRaState, first: int, size: int) -> int | None:
    """The page of window (first, size) that gets PG_readahead, if *ra* is that window."""
    if ra.start != first or ra.size != size or not ra.async_size:
        return None
    return first + size - ra.async_size


def _async_readahead(
    kernel: Kernel, task: Task, inode: Inode, ra: FileRaState, index: int, pfn: int, req: int
) -> None:
    """page_cache_async_ra: the reader reached PG_readahead: clear it, read the next window."""
    physmem = kernel.physmem
    physmem.flags[pfn] = physmem.flags.item(pfn) & ~_READAHEAD_BIT
    first, size = ondemand_readahead(ra, index, req, hit_marker=True)
    read_pages(kernel, task, inode, first, size, _marker(ra, first, size))


def filemap_read(kernel: Kernel, task: Task, file: OpenFile, pos: int, length: int) -> bytes:
    """filemap_read: up to *length* bytes from *pos* (fewer at the end of the file), through
    the page cache, each page marked accessed."""
    inode = file.inode
    end = min(pos + length, inode.size)
    if end <= pos:
        return b""
    out = bytearray()
    ram = kernel.physmem.ram
    last_index = (end - 1) // PAGE_SIZE
    while pos < end:
        index = pos // PAGE_SIZE
        offset = pos % PAGE_SIZE
        chunk = min(end - pos, PAGE_SIZE - offset)
        pfn, _waited = filemap_get_page(kernel, task, file, index, last_index - index + 1)
        start = pfn * PAGE_SIZE + offset
        out += ram[start : start + chunk]
        mark_page_accessed(kernel, pfn)
        pos += chunk
    return bytes(out)


def generic_perform_write(kernel: Kernel, task: Task, file: OpenFile, pos: int, data: bytes) -> int:
    """generic_perform_write: copy *data* into the file's pages from *pos*, a page at a time
    (write_begin: the page found, or made, read first when the write covers only part of a
    page that has data on disk; a block allocated for a page that has none; write_end: the
    page dirty and i_size grown), then balance_dirty_pages' check. Returns the bytes written:
    all of them, or those before the disk filled up.

    Raises:
        FileTooLarge: *pos* is past the largest file the disk can hold (EFBIG).
        NoSpaceOnDevice: the disk had no block for the first page (ENOSPC).
    """
    inode = file.inode
    fs = kernel.fs
    max_bytes = fs.max_file_pages * PAGE_SIZE
    if pos >= max_bytes and data:
        raise FileTooLarge(
            "offset", f"{pos} is past the largest file ({max_bytes} bytes)", f"0 .. {max_bytes}"
        )
    data = data[: max_bytes - pos]
    written = 0
    ram = kernel.physmem.ram
    mapping = inode.mapping
    while written < len(data):
        at = pos + written
        index, offset = divmod(at, PAGE_SIZE)
        chunk = min(len(data) - written, PAGE_SIZE - offset)
        if index not in inode.blocks:
            block = disk_of(kernel).alloc_slot()
            if block is None:
                if written:
                    break
                raise NoSpaceOnDevice(
                    f"the disk's {fs.max_file_pages} blocks are all in use (ENOSPC)"
                )
            inode.blocks[index] = block
        pfn = mapping.pages.get(index)
        if pfn is None:
            partial = offset or (chunk < PAGE_SIZE and at + chunk < inode.size)
            if partial and index * PAGE_SIZE < inode.size:
                read_pages(kernel, task, inode, index, 1, None)  # read_folio: no readahead
                pfn = mapping.pages[index]
            else:
                pfn = alloc_page(kernel.pgdat, Gfp.HIGHUSER, task)
                if not task.alive:
                    free_page(kernel.pgdat, pfn)
                    raise task_exit.dead(task)
                kernel.physmem.zero_user_frame(pfn)
                add_to_page_cache_lru(kernel, inode, index, pfn)
        _wait_on_page_read(kernel, pfn)
        start = pfn * PAGE_SIZE + offset
        kernel.physmem.pristine[pfn] = False
        ram[start : start + chunk] = data[written : written + chunk]
        account_page_dirtied(kernel, pfn)
        mark_page_accessed(kernel, pfn)
        written += chunk
        inode.size = max(inode.size, at + chunk)
        balance_dirty_pages(kernel)
    return written


# ---- faults on a file mapping ----------------------------------------------------------------
def filemap_fault_page(
    kernel: Kernel, task: Task, file: OpenFile, index: int, *, tried: bool = False
) -> tuple[int, bool, bool] | None:
    """filemap_fault: the page cache page *index* for a fault, as (pfn, whether it missed
    the cache (PGMAJFAULT), whether the fault must be retried), or None past the end of the
    file (SIGBUS).

    A page missing from the cache is read with the read-around window
    (do_sync_mmap_readahead); a page carrying PG_readahead starts the next window
    (do_async_mmap_readahead, not on a retried fault: *tried*); a page still under I/O is
    waited for. Each of these lets go of mmap_lock on a first attempt
    (maybe_unlock_mmap_for_io, lock_folio_maybe_drop_mmap), and such a fault is retried.
    """
    inode = file.inode
    if index * PAGE_SIZE >= inode.size:
        return None
    ra = file.ra
    pfn = inode.mapping.pages.get(index)
    missed = pfn is None
    dropped_lock = False
    if pfn is None:
        first, size = mmap_read_around(ra, index)
        read_pages(kernel, task, inode, first, size, _marker(ra, first, size))
        pfn = inode.mapping.pages[index]
        dropped_lock = True
    elif not tried and kernel.physmem.flags.item(pfn) & _READAHEAD_BIT:
        _async_readahead(kernel, task, inode, ra, index, pfn, ra.ra_pages)
        dropped_lock = True
    if _wait_on_page_read(kernel, pfn):
        dropped_lock = True
    return pfn, missed, dropped_lock and not tried


# ---- reports ---------------------------------------------------------------------------------
def file_info(kernel: Kernel, inode: Inode) -> FileInfo:
    """stat(2) of *inode* with its page cache pages: cached, dirty, mapped."""
    pages = inode.mapping.pages.values()
    flags = kernel.physmem.flags
    rmap = kernel.rmap
    mappings = sum(
        1
        for task in kernel.tasks.values()
        if task.alive
        for vma in task.mm
        if vma.file is not None and vma.file.inode is inode
    )
    return FileInfo(
        name=inode.name,
        ino=inode.ino,
        size=inode.size,
        mode=inode.mode,
        owner=inode.owner,
        nlink=int(inode.linked),
        blocks=len(inode.blocks),
        cached=len(inode.mapping.pages) * PAGE_SIZE,
        dirty=sum(1 for pfn in pages if flags.item(pfn) & _DIRTY_BIT) * PAGE_SIZE,
        mapped=sum(1 for pfn in pages if rmap.is_mapped(pfn)) * PAGE_SIZE,
        open_count=inode.open_count,
        mappings=mappings,
    )


def file_infos(kernel: Kernel) -> list[FileInfo]:
    """Every named file's FileInfo, by name."""
    return [file_info(kernel, inode) for _name, inode in sorted(kernel.fs.names.items())]
