"""Writeback of dirty page cache pages: the dirty limits and the flusher's work.

Models mm/page-writeback.c (global_dirtyable_memory, domain_dirty_limits,
balance_dirty_pages, write_cache_pages / do_writepages) and fs/fs-writeback.c's background
writeback (wb_writeback for_background: MIN_WRITEBACK_PAGES at a time, oldest dirtied
first, while Dirty is above the background threshold). The flusher is not a thread here:
its work is done by the task whose write crossed the background threshold, but the disk
writes are asynchronous (only the disk's request queue gets busier), as the flusher's are
for the writer. fsync, msync(MS_SYNC) and sync write a file's (or every) dirty page and wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, ZoneType
from vmsim_kernel.errors import KernelBug, SwapIoError
from vmsim_kernel.kernel.time import SwapQueue

from .truncate import account_page_dirtied, clear_page_dirty_for_io

if TYPE_CHECKING:
    from vmsim_kernel.fs.blockdev import BlockDevice
    from vmsim_kernel.fs.vfs import Inode
    from vmsim_kernel.init.main import Kernel

__all__ = [
    "MIN_WRITEBACK_PAGES",
    "balance_dirty_pages",
    "disk_io_error",
    "disk_of",
    "global_dirty_limits",
    "sync_inode",
    "write_pages",
]

MIN_WRITEBACK_PAGES: Final = 1024  # 4 MiB: the least a background writeback pass writes
# Pages per write request: BIO_MAX_VECS, which also keeps a pwritev under the host's IOV_MAX.
MAX_PAGES_PER_BIO: Final = 256


def disk_of(kernel: Kernel) -> BlockDevice:
    """The file system's disk, made on its first use with a request queue of its own."""
    fs = kernel.fs
    if fs.disk is None:
        return fs.block_device(SwapQueue(kernel.costs))
    return fs.disk


def disk_io_error(error: SwapIoError) -> KernelBug:
    """A block of a file that could not be written, or read back as written: the disk's
    host file failed or was damaged under the server, which the simulator cannot recover
    from (a file system would remount read-only)."""
    return KernelBug(f"file system disk: {error.message.replace('swap-device', 'disk')}")


def global_dirty_limits(kernel: Kernel) -> tuple[int, int]:
    """(dirty threshold, background threshold) in pages: vm.dirty_ratio and
    vm.dirty_background_ratio percent of the dirtyable memory, which is free low memory
    above the reserves plus the low-memory page cache (vm.highmem_is_dirtyable 0), as
    global_dirtyable_memory and domain_dirty_limits compute them."""
    allocator = kernel.allocator
    free = sum(z.nr_free_pages for z in allocator.zones if z.zone_type is not ZoneType.HIGHMEM)
    fs = kernel.fs
    dirtyable = max(0, free - allocator.totalreserve_pages())
    dirtyable += len(fs.owner_of) - fs.nr_highmem_pages
    sysctl = kernel.vm_sysctl
    thresh = dirtyable * sysctl.dirty_ratio // 100
    bg_thresh = dirtyable * sysctl.dirty_background_ratio // 100
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    return thresh, bg_thresh


def write_pages(kernel: Kernel, pfns: list[int]) -> int:
    """do_writepages for page cache pages: each one still dirty (PG_dirty or a dirty PTE) is
    written to its block, one request per run of consecutive blocks, asynchronously (the
    disk's queue is charged, the caller does not wait); returns the pages written."""
    fs = kernel.fs
    physmem = kernel.physmem
    to_write: list[tuple[int, int]] = []
    for pfn in pfns:
        inode, index = fs.owner_of[pfn]
        if not clear_page_dirty_for_io(kernel, pfn):
            continue
        block = inode.blocks.get(index)
        if block is None:  # a hole written through a shared mapping: its block comes now
            block = disk_of(kernel).alloc_slot()
            if block is None:  # the disk is full: the page stays dirty, in memory
                account_page_dirtied(kernel, pfn)
                continue
            inode.blocks[index] = block
        to_write.append((block, pfn))
    if not to_write:
        return 0
    to_write.sort()
    disk = disk_of(kernel)
    now = kernel.current.now_ns
    for start in range(0, len(to_write), MAX_PAGES_PER_BIO):
        batch = to_write[start : start + MAX_PAGES_PER_BIO]
        outcome, _tried = disk.write_slots(
            [block for block, _pfn in batch], [physmem.frame_view(pfn) for _block, pfn in batch]
        )
        for error in outcome:
            if error is not None:
                raise disk_io_error(error)
            disk.queue.submit(now)
    kernel.vm_events.pgpgout += len(to_write) * (PAGE_SIZE // 1024)
    return len(to_write)


def writeback_chunk_pages(dirty_thresh: int) -> int:
    """writeback_chunk_size of a background pass (wb_writeback_pages): dirty_limit /
    DIRTY_SCOPE (8) plus MIN_WRITEBACK_PAGES, rounded down to MIN_WRITEBACK_PAGES (the
    device's write bandwidth, the other bound, is not the smaller one for one disk here)."""
    pages = dirty_thresh // 8 + MIN_WRITEBACK_PAGES
    return max(MIN_WRITEBACK_PAGES, pages - pages % MIN_WRITEBACK_PAGES)


def balance_dirty_pages(kernel: Kernel) -> None:
    """balance_dirty_pages after a page was dirtied: above the background threshold the
    flusher writes the oldest dirty pages, a writeback chunk at a time, until Dirty is back
    under it (wb_over_bg_thresh is checked between chunks, so it ends up to a chunk below)."""
    fs = kernel.fs
    if fs.nr_dirty <= MIN_WRITEBACK_PAGES:
        return
    thresh, bg_thresh = global_dirty_limits(kernel)
    chunk = writeback_chunk_pages(thresh)
    while fs.nr_dirty > bg_thresh:
        if not write_pages(kernel, _first(fs.dirty_pages, chunk)):
            break


def _first(pages: dict[int, None], count: int) -> list[int]:
    result = []
    for pfn in pages:
        result.append(pfn)
        if len(result) == count:
            break
    return result


def sync_inode(kernel: Kernel, inode: Inode | None, first: int = 0, end: int | None = None) -> int:
    """filemap_write_and_wait_range: write back the dirty pages of *inode* (every file's
    when None) with index in [first, end), and wait for the disk; returns pages written."""
    fs = kernel.fs
    if inode is None:
        pfns = list(fs.owner_of)
    else:
        pages = inode.mapping.pages
        pfns = [
            pfn for index, pfn in pages.items() if first <= index and (end is None or index < end)
        ]
    written = write_pages(kernel, pfns)
    if written:
        disk = disk_of(kernel)
        thread = kernel.current
        done = max(thread.now_ns, disk.queue.busy_until_ns)
        thread.times.iowait_ns += done - thread.now_ns
        thread.now_ns = done
    return written
