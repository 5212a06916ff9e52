"""Dropping page cache pages: truncation, the release of files, and the dirty state.

Models mm/truncate.c (truncate_inode_pages_range, truncate_setsize), fs/inode.c's iput and
fs/file_table.c's fput, __filemap_remove_folio of mm/filemap.c, and the dirty-page
accounting of mm/page-writeback.c (folio_mark_dirty, folio_clear_dirty_for_io with
folio_mkclean). It only frees, so it imports nothing that allocates, reclaims or kills: the
unmapping code (unmap.py) and task exit use it without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE
from vmsim_kernel.errors import KernelBug

from .page_alloc import free_page
from .physmem import PageFlag

if TYPE_CHECKING:
    from vmsim_kernel.fs.blockdev import BlockDevice
    from vmsim_kernel.fs.vfs import Inode, OpenFile
    from vmsim_kernel.init.main import Kernel

__all__ = [
    "PAGE_CACHE_FLAGS",
    "account_page_dirtied",
    "clear_page_dirty_for_io",
    "delete_from_page_cache",
    "drop_pagecache",
    "fput",
    "iput",
    "truncate_inode_pages",
]

# A page cache page's flags: valid, neither anonymous nor swap-backed.
PAGE_CACHE_FLAGS: Final = int(PageFlag.UPTODATE)
_DIRTY_BIT: Final = int(PageFlag.DIRTY)
_READAHEAD_BIT: Final = int(PageFlag.READAHEAD)


def account_page_dirtied(kernel: Kernel, pfn: int) -> None:
    """folio_mark_dirty of a page cache page: PG_dirty, counted in its file and in Dirty."""
    flags = kernel.physmem.flags
    page_flags = flags.item(pfn)
    if page_flags & _DIRTY_BIT:
        return
    flags[pfn] = page_flags | _DIRTY_BIT
    inode, _index = kernel.fs.owner_of[pfn]
    inode.mapping.nr_dirty += 1
    kernel.fs.nr_dirty += 1
    kernel.fs.dirty_pages[pfn] = None


def clear_page_dirty_for_io(kernel: Kernel, pfn: int) -> bool:
    """folio_clear_dirty_for_io: whether the page must be written (PG_dirty, or a dirty PTE
    folio_mkclean collected); either way it is clean after, and every PTE mapping it is
    write-protected and clean, so the next write through a mapping faults and dirties it."""
    rmap = kernel.rmap
    dirty_pte = False
    if rmap.is_mapped(pfn):
        dirty_pte = rmap.test_and_clear_dirty(pfn)
        rmap.write_protect(pfn)
    flags = kernel.physmem.flags
    page_flags = flags.item(pfn)
    if not page_flags & _DIRTY_BIT:
        return dirty_pte
    flags[pfn] = page_flags & ~_DIRTY_BIT
    inode, _index = kernel.fs.owner_of[pfn]
    inode.mapping.nr_dirty -= 1
    kernel.fs.nr_dirty -= 1
    del kernel.fs.dirty_pages[pfn]
    return True


def delete_from_page_cache(kernel: Kernel, pfn: int) -> tuple[Inode, int]:
    """__filemap_remove_folio of a page nothing maps: it leaves its file and the LRU, clean
    (its bytes are on disk or no longer wanted); the caller frees or reuses the frame.
    Returns (inode, index) it was."""
    if kernel.rmap.is_mapped(pfn):
        raise KernelBug(f"removing page cache pfn {pfn} that a PTE still maps")
    fs = kernel.fs
    found = fs.owner_of.pop(pfn, None)
    if found is None:
        raise KernelBug(f"pfn {pfn} is in no file's page cache")
    inode, index = found
    fs.owner_of[pfn] = found  # clear_page_dirty_for_io finds the file through it
    clear_page_dirty_for_io(kernel, pfn)
    del fs.owner_of[pfn]
    del inode.mapping.pages[index]
    if pfn >= kernel.nr_lowmem_frames:
        fs.nr_highmem_pages -= 1
    fs.io_done_ns.pop(pfn, None)
    if pfn in kernel.lruvec.file:
        kernel.lruvec.file.remove(pfn)
    physmem = kernel.physmem
    physmem.flags[pfn] = physmem.flags.item(pfn) & ~(PAGE_CACHE_FLAGS | _READAHEAD_BIT)
    return inode, index


def truncate_inode_pages(kernel: Kernel, inode: Inode, size: int) -> None:
    """truncate_setsize + truncate_inode_pages_range: i_size becomes *size*; cached pages and
    blocks wholly past it go (a page some process maps is unmapped first, by the caller's
    unmap_mapping_range); the tail of the last page is zeroed, so growing it back reads
    zeroes. Shadow entries past it go too."""
    first_gone = -(-size // PAGE_SIZE)
    mapping = inode.mapping
    physmem = kernel.physmem
    for index in [i for i in mapping.pages if i >= first_gone]:
        pfn = mapping.pages[index]
        delete_from_page_cache(kernel, pfn)
        free_page(kernel.pgdat, pfn)
    for index in [i for i in mapping.shadows if i >= first_gone]:
        del mapping.shadows[index]
    disk = kernel.fs.disk
    if size % PAGE_SIZE:
        tail = mapping.pages.get(size // PAGE_SIZE)
        if tail is not None:
            start = tail * PAGE_SIZE + size % PAGE_SIZE
            physmem.ram8[start : tail * PAGE_SIZE + PAGE_SIZE] = 0
            account_page_dirtied(kernel, tail)
        elif disk is not None and size // PAGE_SIZE in inode.blocks:
            _zero_block_tail(disk, inode.blocks[size // PAGE_SIZE], size % PAGE_SIZE)
    for index in [i for i in inode.blocks if i >= first_gone]:
        assert disk is not None
        disk.free_slot(inode.blocks.pop(index))
    inode.size = size


def _zero_block_tail(disk: BlockDevice, block: int, keep: int) -> None:
    """block_truncate_page for a last page not in the cache: the block's bytes past *keep*
    become zeroes on disk, so a file grown again reads zeroes there."""
    buffer = bytearray(PAGE_SIZE)
    error = disk.read_slots_into([block], [memoryview(buffer)])[0]
    if error is None:
        buffer[keep:] = bytes(PAGE_SIZE - keep)
        error = disk.write_slots([block], [memoryview(buffer)])[0][0]
    if error is not None:
        raise KernelBug(f"file system disk: {error.message.replace('swap-device', 'disk')}")


def fput(kernel: Kernel, file: OpenFile) -> None:
    """fput: one descriptor less on *file*; with the last, the open file description goes,
    and its inode too if it was unlinked and nothing maps it."""
    file.refs -= 1
    if file.refs == 0:
        file.inode.open_count -= 1
        iput(kernel, file.inode)


def iput(kernel: Kernel, inode: Inode) -> bool:
    """iput_final + evict: an unlinked inode no open file and no mapping holds any more is
    freed, its pages and blocks with it. Returns whether it was."""
    if inode.linked or inode.open_count:
        return False
    for task in kernel.tasks.values():
        if task.alive and any(vma.file is not None and vma.file.inode is inode for vma in task.mm):
            return False
    truncate_inode_pages(kernel, inode, 0)
    inode.mapping.shadows.clear()
    kernel.fs.inodes.pop(inode.ino, None)
    return True


def drop_pagecache(kernel: Kernel) -> int:
    """drop_pagecache_sb + invalidate_mapping_pages: every clean page cache page that no
    PTE maps is dropped (no shadow entry: it was not reclaimed); returns how many."""
    flags = kernel.physmem.flags
    rmap = kernel.rmap
    dropped = [
        pfn
        for pfn in kernel.fs.owner_of
        if not flags.item(pfn) & (_DIRTY_BIT | PageFlag.MLOCKED) and not rmap.is_mapped(pfn)
    ]
    for pfn in dropped:
        delete_from_page_cache(kernel, pfn)
        free_page(kernel.pgdat, pfn)
    return len(dropped)
