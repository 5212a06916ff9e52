"""Readahead windows of sequential file reads and file faults.

Models mm/readahead.c (ondemand_readahead, get_init_ra_size, get_next_ra_size,
page_cache_sync_ra, page_cache_async_ra) and the mmap read-around of mm/filemap.c
(do_sync_mmap_readahead): only the sizes of the windows; reading them is the page cache's
(filemap.read_pages). A window is (start, size, async_size): its pages from start on, and
the page async_size before its end carries PG_readahead, so a reader reaching it reads the
next window before it needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmsim_kernel.fs.vfs import FileRaState

__all__ = [
    "get_init_ra_size",
    "get_next_ra_size",
    "mmap_read_around",
    "ondemand_readahead",
]


def get_init_ra_size(req_pages: int, max_pages: int) -> int:
    """get_init_ra_size: the first window of a sequential read of *req_pages*."""
    size = 1 << max(0, (req_pages - 1).bit_length())  # roundup_pow_of_two
    if size <= max_pages // 32:
        size *= 4
    elif size <= max_pages // 4:
        size *= 2
    else:
        size = max_pages
    return min(size, max_pages)


def get_next_ra_size(ra: FileRaState, max_pages: int) -> int:
    """get_next_ra_size: the window after *ra*'s grows 4x while small, then 2x, up to max."""
    cur = ra.size
    if cur < max_pages // 16:
        return min(4 * cur, max_pages)
    if cur <= max_pages // 2:
        return min(2 * cur, max_pages)
    return max_pages


def ondemand_readahead(
    ra: FileRaState, index: int, req_pages: int, *, hit_marker: bool
) -> tuple[int, int]:
    """ondemand_readahead: the window to read for a read() of *req_pages* at page *index*,
    as (first page, number of pages); *ra* becomes that window.

    *hit_marker* is an async call (the reader reached a PG_readahead page): the next window
    follows the current one when the marker was where the window put it; a read at page 0,
    or one continuing where the last one ended, starts a new window; any other read reads
    just what it asked for (a random read).
    """
    max_pages = ra.ra_pages
    if hit_marker and index in (ra.start + ra.size - ra.async_size, ra.start + ra.size):
        ra.start += ra.size
        ra.size = get_next_ra_size(ra, max_pages)
        ra.async_size = ra.size
        return ra.start, ra.size
    if index == 0 or index - 1 <= ra.prev_index <= index or hit_marker:
        ra.start = index
        ra.size = get_init_ra_size(req_pages, max_pages)
        ra.async_size = ra.size - req_pages if ra.size > req_pages else ra.size
        return ra.start, ra.size
    return index, req_pages  # do_page_cache_ra of the request alone: no window state


def mmap_read_around(ra: FileRaState, index: int) -> tuple[int, int]:
    """do_sync_mmap_readahead's read-around for a fault on page *index* that missed the
    cache: ra_pages centred on it, the last quarter's first page marked."""
    ra.start = max(0, index - ra.ra_pages // 2)
    ra.size = ra.ra_pages
    ra.async_size = ra.ra_pages // 4
    return ra.start, ra.size
