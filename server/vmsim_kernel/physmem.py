"""Simulated physical RAM and the per-frame descriptors (struct page).

Models mm/memory_model (one mem_map array indexed by pfn), include/linux/mm_types.h
and include/linux/page-flags.h. RAM is one lazily backed host buffer: frame n is bytes
n*4096 .. n*4096+4095, and the host only backs the frames that have been touched.
"""

from __future__ import annotations

import contextlib
import mmap
from enum import IntFlag

import numpy as np
import numpy.typing as npt

from .constants import PAGE_SHIFT, PAGE_SIZE
from .errors import KernelBug

__all__ = ["PageFlag", "PhysicalMemory"]


class PageFlag(IntFlag):
    """page->flags bits (page-flags.h)."""

    LOCKED = 1 << 0  # under I/O or otherwise pinned for a moment
    REFERENCED = 1 << 1  # software referenced bit (second chance)
    UPTODATE = 1 << 2  # contents valid
    DIRTY = 1 << 3  # differs from its copy in swap (or has none)
    LRU = 1 << 4  # on an LRU list
    ACTIVE = 1 << 5  # on the active list
    SLAB = 1 << 6  # owned by the slab allocator
    RESERVED = 1 << 7  # memblock reservation: never in the buddy lists
    SWAPCACHE = 1 << 8  # has a swap slot; `private` holds the swap entry
    SWAPBACKED = 1 << 9  # anonymous or shmem: goes to swap, not a file
    BUDDY = 1 << 10  # head of a free block in the buddy allocator
    PAGETABLE = 1 << 11  # holds a page table or page directory
    ANON = 1 << 12  # anonymous user page
    VMALLOC = 1 << 13  # backs a vmalloc area
    KMALLOC = 1 << 14  # large kmalloc straight from the page allocator


class PhysicalMemory:
    """RAM plus mem_map: the frames' bytes and their descriptors, as numpy arrays.

    Attributes:
        nr_frames: number of 4 KiB frames.
        ram: the host buffer (anonymous mmap, zero-filled on demand by the host).
        ram8: uint8 view of all RAM.
        ram32: little-endian uint32 view of all RAM: index = physical address // 4.
        flags: PageFlag bits per frame.
        mapcount: PTEs mapping each frame (0-based, unlike Linux's -1).
        private: the swap entry of a SWAPCACHE frame (page_private).
    """

    def __init__(self, nr_frames: int) -> None:
        if nr_frames <= 0:
            raise KernelBug(f"cannot have {nr_frames} frames")
        self.nr_frames = nr_frames
        self.size = nr_frames * PAGE_SIZE
        self.ram = mmap.mmap(-1, self.size)
        self.ram8: npt.NDArray[np.uint8] = np.frombuffer(self.ram, dtype=np.uint8)
        self.ram32: npt.NDArray[np.uint32] = np.frombuffer(self.ram, dtype="<u4")
        self.flags: npt.NDArray[np.uint32] = np.zeros(nr_frames, dtype=np.uint32)
        self.mapcount: npt.NDArray[np.int32] = np.zeros(nr_frames, dtype=np.int32)
        self.private: npt.NDArray[np.uint32] = np.zeros(nr_frames, dtype=np.uint32)

    def _check_frame(self, pfn: int) -> None:
        if not 0 <= pfn < self.nr_frames:
            raise KernelBug(f"pfn {pfn} outside RAM (0..{self.nr_frames - 1})")

    def _check_phys(self, physical: int, length: int) -> None:
        if physical < 0 or length < 0 or physical + length > self.size:
            raise KernelBug(f"physical range {physical:#x}+{length} outside RAM")

    def frame_view(self, pfn: int) -> memoryview:
        """The 4096 writable bytes of frame *pfn*."""
        self._check_frame(pfn)
        start = pfn << PAGE_SHIFT
        return memoryview(self.ram)[start : start + PAGE_SIZE]

    def zero_frame(self, pfn: int) -> None:
        """clear_page()."""
        self._check_frame(pfn)
        self.ram8[pfn << PAGE_SHIFT : (pfn + 1) << PAGE_SHIFT] = 0

    def copy_frame(self, src_pfn: int, dst_pfn: int) -> None:
        """copy_page()."""
        self._check_frame(src_pfn)
        self._check_frame(dst_pfn)
        src = src_pfn << PAGE_SHIFT
        dst = dst_pfn << PAGE_SHIFT
        self.ram8[dst : dst + PAGE_SIZE] = self.ram8[src : src + PAGE_SIZE]

    def read_phys(self, physical: int, length: int) -> bytes:
        """Bytes at a physical address."""
        self._check_phys(physical, length)
        return self.ram[physical : physical + length]

    def write_phys(self, physical: int, data: bytes | memoryview) -> None:
        """Store bytes at a physical address."""
        self._check_phys(physical, len(data))
        self.ram[physical : physical + len(data)] = bytes(data)

    def read_u32(self, physical: int) -> int:
        """The little-endian u32 at an aligned physical address."""
        self._check_phys(physical, 4)
        return int(self.ram32[physical >> 2])

    def write_u32(self, physical: int, value: int) -> None:
        """Store a little-endian u32 at an aligned physical address."""
        self._check_phys(physical, 4)
        self.ram32[physical >> 2] = value

    def set_flags(self, pfn: int, flags: PageFlag) -> None:
        """Set page flags."""
        self.flags[pfn] |= np.uint32(flags)

    def clear_flags(self, pfn: int, flags: PageFlag) -> None:
        """Clear page flags."""
        self.flags[pfn] &= np.uint32(~int(flags) & 0xFFFFFFFF)

    def test_flags(self, pfn: int, flags: PageFlag) -> bool:
        """Whether any of *flags* is set."""
        return bool(self.flags[pfn] & np.uint32(flags))

    def close(self) -> None:
        """Release the host buffer (the numpy views are dropped first)."""
        self.ram8 = np.zeros(0, dtype=np.uint8)
        self.ram32 = np.zeros(0, dtype=np.uint32)
        # A caller may still hold a view; the buffer is then freed with the last reference.
        with contextlib.suppress(BufferError):
            self.ram.close()
