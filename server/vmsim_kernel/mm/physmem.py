"""Simulated physical RAM and the per-frame descriptors (struct page).

Models mm/memory_model (one mem_map array indexed by pfn), include/linux/mm_types.h and
include/linux/page-flags.h. RAM is one lazily backed host buffer: frame n is bytes n*4096 ..
n*4096+4095, and the host backs only the frames that have been touched.
"""

from __future__ import annotations

import contextlib
import mmap
from enum import IntFlag
from typing import Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import ADDRESS_SPACE_END, PAGE_SHIFT, PAGE_SIZE
from vmsim_kernel.errors import KernelBug

__all__ = ["MAX_PHYS_FRAMES", "PageFlag", "PhysicalMemory"]

# Non-PAE PTEs hold a 20-bit frame number: 4 GiB of physical address space at most.
MAX_PHYS_FRAMES: Final = ADDRESS_SPACE_END >> PAGE_SHIFT


class PageFlag(IntFlag):
    """page->flags bits (page-flags.h)."""

    LOCKED = 1 << 0  # pinned for a moment (I/O in flight): reclaim must skip it
    REFERENCED = 1 << 1  # software referenced bit: the second chance of mark_page_accessed
    UPTODATE = 1 << 2  # the bytes are valid (zero-filled or read back from swap)
    DIRTY = 1 << 3  # differs from its copy in swap, or has no copy yet
    LRU = 1 << 4  # on an LRU list, so reclaim can find it
    ACTIVE = 1 << 5  # on the active rather than the inactive LRU list
    SLAB = 1 << 6  # owned by the slab allocator
    RESERVED = 1 << 7  # memblock reservation: never in the buddy lists, never freed
    SWAPCACHE = 1 << 8  # has a swap slot; `private` holds the swap entry
    SWAPBACKED = 1 << 9  # anonymous or shmem: reclaim writes it to swap, not to a file
    BUDDY = 1 << 10  # head of a free block in the buddy allocator
    PAGETABLE = 1 << 11  # holds a page table or a page directory (counted as PageTables)
    ANON = 1 << 12  # anonymous user page (page->mapping & PAGE_MAPPING_ANON)
    VMALLOC = 1 << 13  # backs part of a vmalloc area
    KMALLOC = 1 << 14  # a large kmalloc served straight from the page allocator
    READAHEAD = 1 << 15  # read ahead from swap and not yet faulted on (swap_ra_hit when it is)
    MLOCKED = 1 << 16  # mapped by an mlocked VMA: off the LRU (unevictable), never reclaimed


class PhysicalMemory:
    """RAM plus mem_map: the frames' bytes and their descriptors, as numpy arrays.

    Attributes:
        nr_frames: number of 4 KiB frames.
        nr_bytes: size of RAM in bytes (nr_frames * PAGE_SIZE).
        ram: the host buffer: an anonymous mmap, zero-filled by the host on first touch.
        ram8: uint8 view of all RAM (no copy).
        ram32: little-endian uint32 view of all RAM (no copy): index = physical address // 4.
        flags: PageFlag bits per frame (page->flags).
        mapcount: PTEs mapping each frame (0-based, unlike Linux's -1 based _mapcount).
        private: the swap entry of a SWAPCACHE frame (page_private).
        pristine: per frame, never freed nor written from outside since boot. A free frame
            that is still pristine was never handed out, so its bytes are the host's fresh
            zeroes and the host has not even backed them yet: clearing it (clear_page)
            would only make the host fault the page in (see zero_user_frames).
    """

    def __init__(self, nr_frames: int) -> None:
        """Reserve *nr_frames* frames of host address space; the host backs them on first touch.

        Raises:
            KernelBug: *nr_frames* is not 1 .. 2**20 (a 32-bit physical address space).
        """
        if not 0 < nr_frames <= MAX_PHYS_FRAMES:
            raise KernelBug(f"cannot have {nr_frames} frames (allowed: 1..{MAX_PHYS_FRAMES})")
        self.nr_frames = nr_frames
        self.nr_bytes = nr_frames * PAGE_SIZE
        # An anonymous mapping costs nothing until written: 4 GiB of RAM boots instantly.
        self.ram = mmap.mmap(-1, self.nr_bytes)
        self._ram_view = memoryview(self.ram)
        self.ram8: npt.NDArray[np.uint8] = np.frombuffer(self.ram, dtype=np.uint8)
        self.ram32: npt.NDArray[np.uint32] = np.frombuffer(self.ram, dtype="<u4")
        self.flags: npt.NDArray[np.uint32] = np.zeros(nr_frames, dtype=np.uint32)
        self.mapcount: npt.NDArray[np.int32] = np.zeros(nr_frames, dtype=np.int32)
        self.private: npt.NDArray[np.uint32] = np.zeros(nr_frames, dtype=np.uint32)
        self.pristine: npt.NDArray[np.bool_] = np.ones(nr_frames, dtype=np.bool_)

    # ---- bounds checks: kernel-internal callers, so a bad address is a bug ------------------
    def _check_frame(self, pfn: int) -> None:
        if not 0 <= pfn < self.nr_frames:
            raise KernelBug(f"pfn {pfn} outside RAM (0..{self.nr_frames - 1})")

    def _check_phys(self, physical: int, length: int) -> None:
        if physical < 0 or length < 0 or physical + length > self.nr_bytes:
            raise KernelBug(
                f"physical range {physical:#x}+{length} outside RAM (0..{self.nr_bytes:#x})"
            )

    def _check_word(self, physical: int) -> None:
        # The MMU reads PDEs/PTEs as aligned words; an unaligned one means a bad table pointer.
        if physical & 3 or not 0 <= physical <= self.nr_bytes - 4:
            raise KernelBug(f"u32 access at {physical:#x} is unaligned or outside RAM")

    # ---- frame contents -----------------------------------------------------------------------
    def frame_view(self, pfn: int) -> memoryview:
        """The 4096 bytes of frame *pfn*, writable in place (page_address / kmap)."""
        self._check_frame(pfn)
        self.pristine[pfn] = False  # the caller may write through the view
        start = pfn << PAGE_SHIFT
        return self._ram_view[start : start + PAGE_SIZE]

    def zero_frame(self, pfn: int) -> None:
        """clear_page(): fill frame *pfn* with zeroes."""
        self._check_frame(pfn)
        start = pfn << PAGE_SHIFT
        self.ram8[start : start + PAGE_SIZE] = 0

    def zero_user_frame(self, pfn: int) -> bool:
        """zero_user_frames for one frame (the single-fault path); True if it was cleared."""
        self._check_frame(pfn)
        if self.pristine.item(pfn):
            self.pristine[pfn] = False
            return False
        self.zero_frame(pfn)
        return True

    def zero_user_frames(self, pfns: npt.NDArray[np.int64]) -> int:
        """clear_page() for freshly allocated frames, skipping the pristine ones; returns how
        many were really cleared.

        A pristine frame holds zeroes already (nothing ever wrote it), and writing them
        again would make the host back the page for nothing: that host fault was the largest
        single cost of a simulated first touch. The frames stop being pristine here, since
        their new owner will write them.
        """
        if len(pfns) == 0:
            return 0
        used = pfns[~self.pristine[pfns]]
        self.pristine[pfns] = False
        for pfn in used.tolist():
            self.zero_frame(pfn)
        return len(used)

    def mark_used(self, first_pfn: int, nr_frames: int) -> None:
        """Frames [first_pfn, first_pfn + nr_frames) may hold data now: never treat them as
        fresh host zeroes again (freeing a frame, or a write from outside its owner)."""
        self.pristine[first_pfn : first_pfn + nr_frames] = False

    def copy_frame(self, src_pfn: int, dst_pfn: int) -> None:
        """copy_page(): copy frame *src_pfn* over frame *dst_pfn*."""
        self._check_frame(src_pfn)
        self._check_frame(dst_pfn)
        src = src_pfn << PAGE_SHIFT
        dst = dst_pfn << PAGE_SHIFT
        self.ram8[dst : dst + PAGE_SIZE] = self.ram8[src : src + PAGE_SIZE]

    def read_phys(self, physical: int, length: int) -> bytes:
        """*length* bytes from physical address *physical*; may cross frame boundaries."""
        self._check_phys(physical, length)
        return self.ram[physical : physical + length]

    def write_phys(self, physical: int, data: bytes | memoryview) -> None:
        """Store *data* at physical address *physical*; may cross frame boundaries."""
        length = len(data) if isinstance(data, bytes) else data.nbytes
        self._check_phys(physical, length)
        if length:  # kernel_write may write a free frame: it is no longer all zeroes
            first = physical >> PAGE_SHIFT
            self.mark_used(first, ((physical + length - 1) >> PAGE_SHIFT) - first + 1)
        # mmap slice assignment takes any contiguous buffer, whatever its item format.
        self.ram[physical : physical + length] = data

    def read_u32(self, physical: int) -> int:
        """The little-endian u32 at the 4-byte aligned address *physical*."""
        self._check_word(physical)
        return int(self.ram32[physical >> 2])

    def write_u32(self, physical: int, value: int) -> None:
        """Store *value* as a little-endian u32 at the 4-byte aligned address *physical*."""
        self._check_word(physical)
        if not 0 <= value <= 0xFFFFFFFF:
            raise KernelBug(f"{value:#x} does not fit in a u32")
        self.ram32[physical >> 2] = value

    # ---- page flags -----------------------------------------------------------------------
    def set_flags(self, pfn: int, flags: PageFlag) -> None:
        """Set *flags* on frame *pfn* (SetPageXxx)."""
        self._check_frame(pfn)
        # .item() and plain ints: numpy scalars and IntFlag operators cost 3-5x more here.
        self.flags[pfn] = self.flags.item(pfn) | int(flags)

    def clear_flags(self, pfn: int, flags: PageFlag) -> None:
        """Clear *flags* on frame *pfn* (ClearPageXxx)."""
        self._check_frame(pfn)
        self.flags[pfn] = self.flags.item(pfn) & ~int(flags)

    def test_flags(self, pfn: int, flags: PageFlag) -> bool:
        """Whether frame *pfn* has any of *flags* (PageXxx)."""
        self._check_frame(pfn)
        return bool(self.flags.item(pfn) & int(flags))

    # ---- teardown -------------------------------------------------------------------------
    def close(self) -> None:
        """Give the host buffer back; the object must not be used afterwards."""
        if self.ram.closed:
            return
        # mmap.close() refuses while buffer exports exist, so drop our own views first.
        self.ram8 = np.zeros(0, dtype=np.uint8)
        self.ram32 = np.zeros(0, dtype=np.uint32)
        self._ram_view.release()
        # A caller may still hold a frame_view; the host then frees the buffer with it.
        with contextlib.suppress(BufferError):
            self.ram.close()
