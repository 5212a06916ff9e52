"""Zones and the binary buddy allocator with min/low/high watermarks.

Models mm/page_alloc.c (__rmqueue_smallest, expand, __free_one_page, __zone_watermark_ok,
__setup_per_zone_wmarks, memblock_free_all) and include/linux/mmzone.h (zone, free_area).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from .constants import (
    MAX_DMA_ADDRESS,
    MAX_LOW_ADDRESS,
    MAX_ORDER,
    PAGE_SHIFT,
    ZONELIST,
    Gfp,
    Pfn,
    ZoneType,
)
from .errors import KernelBug
from .physmem import PageFlag, PhysicalMemory

__all__ = ["FreeArea", "PageAllocator", "WatermarkLevel", "Zone"]

WATERMARK_SCALE_FACTOR = 10  # vm.watermark_scale_factor, in 1/10000 of the zone
SWAP_CLUSTER_MAX = 32


class WatermarkLevel(IntEnum):
    """Which watermark an allocation must leave free pages above."""

    MIN = 0  # ALLOC_WMARK_MIN: the slow path, after kswapd was woken
    LOW = 1  # ALLOC_WMARK_LOW: the fast path
    HIGH = 2  # ALLOC_WMARK_HIGH: what kswapd restores
    NONE = 3  # ALLOC_NO_WATERMARKS: boot and emergency allocations


class FreeArea:
    """free_area[order]: heads of free blocks of 2**order pages, most recently freed last."""

    def __init__(self) -> None:
        self.free_list: dict[int, None] = {}

    @property
    def nr_free(self) -> int:
        """Number of free blocks of this order."""
        return len(self.free_list)


class Zone:
    """One memory zone: a pfn range, its free lists and its watermarks."""

    def __init__(self, zone_type: ZoneType, name: str, start_pfn: int, end_pfn: int) -> None:
        self.zone_type = zone_type
        self.name = name
        self.start_pfn = start_pfn
        self.end_pfn = max(start_pfn, end_pfn)
        self.present_pages = self.end_pfn - self.start_pfn
        self.managed_pages = self.present_pages
        self.free_area = [FreeArea() for _ in range(MAX_ORDER)]
        self.nr_free_pages = 0
        self.watermark_min = 0
        self.watermark_low = 0
        self.watermark_high = 0

    @property
    def is_empty(self) -> bool:
        """Whether the zone has no pages to give."""
        return self.managed_pages == 0

    def contains(self, pfn: int) -> bool:
        """Whether *pfn* lies in this zone."""
        return self.start_pfn <= pfn < self.end_pfn

    def watermark(self, level: WatermarkLevel) -> int:
        """The number of pages for *level* (0 for NONE)."""
        if level is WatermarkLevel.NONE:
            return 0
        return (self.watermark_min, self.watermark_low, self.watermark_high)[level]

    def watermark_ok(self, order: int, level: WatermarkLevel, *, harder: bool = False) -> bool:
        """__zone_watermark_ok: would a 2**order allocation leave free pages above the mark?

        GFP_ATOMIC (*harder*) may go a quarter below the mark, as ALLOC_HARDER does.
        """
        mark = self.watermark(level)
        if harder:
            mark -= mark // 4
        free = self.nr_free_pages - ((1 << order) - 1)
        if level is WatermarkLevel.NONE:
            return free > 0
        if free <= mark:
            return False
        return any(self.free_area[o].nr_free for o in range(order, MAX_ORDER))


class PageAllocator:
    """The per-zone buddy allocators of one node."""

    def __init__(
        self,
        physmem: PhysicalMemory,
        reserved: Sequence[tuple[int, int]],
        min_free_kbytes: int | None = None,
    ) -> None:
        self.physmem = physmem
        nr_frames = physmem.nr_frames
        dma_end = min(nr_frames, MAX_DMA_ADDRESS >> PAGE_SHIFT)
        low_end = min(nr_frames, MAX_LOW_ADDRESS >> PAGE_SHIFT)
        self.zones = [
            Zone(ZoneType.DMA, "DMA", 0, dma_end),
            Zone(ZoneType.NORMAL, "Normal", dma_end, low_end),
            Zone(ZoneType.HIGHMEM, "HighMem", low_end, nr_frames),
        ]
        self.buddy_order: npt.NDArray[np.int8] = np.full(nr_frames, -1, dtype=np.int8)
        self._reserved_pages = 0
        free_ranges = self._reserve(reserved)
        for start, end in free_ranges:
            self._free_range(start, end)
        self.min_free_kbytes = self._setup_watermarks(min_free_kbytes)

    # ---- boot ---------------------------------------------------------------------------------
    def _reserve(self, reserved: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Mark memblock reservations; return the free ranges, split at zone boundaries."""
        is_reserved = np.zeros(self.physmem.nr_frames, dtype=bool)
        for start, end in reserved:
            if not 0 <= start < end <= self.physmem.nr_frames:
                raise KernelBug(f"reserved range {start}..{end} outside RAM")
            is_reserved[start:end] = True
        reserved_pfns = np.flatnonzero(is_reserved)
        self.physmem.flags[reserved_pfns] |= np.uint32(PageFlag.RESERVED)
        self._reserved_pages = len(reserved_pfns)
        ranges = []
        for zone in self.zones:
            in_zone = is_reserved[zone.start_pfn : zone.end_pfn]
            zone.managed_pages = zone.present_pages - int(in_zone.sum())
            # Boundaries of runs of free frames within the zone.
            padded = np.concatenate(([True], in_zone, [True])).astype(np.int8)
            edges = np.flatnonzero(np.diff(padded))
            for run_start, run_end in zip(edges[::2], edges[1::2], strict=True):
                ranges.append((zone.start_pfn + int(run_start), zone.start_pfn + int(run_end)))
        return ranges

    def _free_range(self, start: int, end: int) -> None:
        """Hand [start, end) to the free lists in maximal naturally aligned blocks."""
        zone = self.zone_of(start)
        pfn = start
        while pfn < end:
            alignment = (pfn & -pfn).bit_length() - 1 if pfn else MAX_ORDER - 1
            order = min(MAX_ORDER - 1, alignment, (end - pfn).bit_length() - 1)
            self._add_free_block(zone, pfn, order)
            pfn += 1 << order

    def _setup_watermarks(self, min_free_kbytes: int | None) -> int:
        """__setup_per_zone_wmarks with init_per_zone_wmark_min's default."""
        lowmem_pages = sum(
            z.managed_pages for z in self.zones if z.zone_type is not ZoneType.HIGHMEM
        )
        if min_free_kbytes is None:
            min_free_kbytes = int(math.sqrt(lowmem_pages * 4 * 16))
            min_free_kbytes = max(128, min(262144, min_free_kbytes))
        pages_min = min_free_kbytes >> 2
        for zone in self.zones:
            if zone.is_empty:
                continue
            if zone.zone_type is ZoneType.HIGHMEM:
                zone_min = max(SWAP_CLUSTER_MAX, min(128, zone.managed_pages // 1024))
            else:
                zone_min = pages_min * zone.managed_pages // max(1, lowmem_pages)
            delta = max(zone_min // 4, zone.managed_pages * WATERMARK_SCALE_FACTOR // 10000)
            zone.watermark_min = zone_min
            zone.watermark_low = zone_min + delta
            zone.watermark_high = zone_min + 2 * delta
        return min_free_kbytes

    # ---- the buddy allocator ------------------------------------------------------------------
    def _add_free_block(self, zone: Zone, pfn: int, order: int) -> None:
        zone.free_area[order].free_list[pfn] = None
        zone.nr_free_pages += 1 << order
        self.buddy_order[pfn] = order
        self.physmem.flags[pfn] |= np.uint32(PageFlag.BUDDY)

    def _remove_free_block(self, zone: Zone, pfn: int, order: int) -> None:
        del zone.free_area[order].free_list[pfn]
        zone.nr_free_pages -= 1 << order
        self.buddy_order[pfn] = -1
        self.physmem.flags[pfn] &= np.uint32(~int(PageFlag.BUDDY) & 0xFFFFFFFF)

    def allocate_pages(self, zone: Zone, order: int) -> Pfn | None:
        """__rmqueue_smallest: the smallest free block >= order, split down (expand)."""
        if not 0 <= order < MAX_ORDER:
            raise KernelBug(f"order {order} outside 0..{MAX_ORDER - 1}")
        for current in range(order, MAX_ORDER):
            area = zone.free_area[current]
            if not area.free_list:
                continue
            pfn = next(reversed(area.free_list))
            self._remove_free_block(zone, pfn, current)
            while current > order:
                current -= 1
                self._add_free_block(zone, pfn + (1 << current), current)
            return Pfn(pfn)
        return None

    def free_pages(self, pfn: int, order: int) -> None:
        """__free_one_page: return a block, merging with its buddy while the buddy is free."""
        if not 0 <= order < MAX_ORDER or pfn & ((1 << order) - 1):
            raise KernelBug(f"freeing unaligned block pfn {pfn} order {order}")
        if not 0 <= pfn < self.physmem.nr_frames:
            raise KernelBug(f"freeing pfn {pfn} outside RAM")
        flags = int(self.physmem.flags[pfn])
        if flags & PageFlag.RESERVED:
            raise KernelBug(f"freeing reserved pfn {pfn}")
        if flags & PageFlag.BUDDY or self._inside_free_block(pfn):
            raise KernelBug(f"double free of pfn {pfn}")
        zone = self.zone_of(pfn)
        while order < MAX_ORDER - 1:
            buddy = pfn ^ (1 << order)
            if not zone.contains(buddy) or self.buddy_order[buddy] != order:
                break
            self._remove_free_block(zone, buddy, order)
            pfn = min(pfn, buddy)
            order += 1
        self._add_free_block(zone, pfn, order)

    def _inside_free_block(self, pfn: int) -> bool:
        """Whether *pfn* lies inside a larger free block (a double free of a split page)."""
        for order in range(1, MAX_ORDER):
            head = pfn & ~((1 << order) - 1)
            if self.buddy_order[head] >= order:
                return True
        return False

    def get_page_from_freelist(self, gfp: Gfp, order: int, level: WatermarkLevel) -> Pfn | None:
        """Walk the zonelist of *gfp*; take from the first zone that passes the watermark."""
        harder = gfp is Gfp.ATOMIC
        for zone_type in ZONELIST[gfp]:
            zone = self.zones[zone_type]
            if zone.is_empty or not zone.watermark_ok(order, level, harder=harder):
                continue
            pfn = self.allocate_pages(zone, order)
            if pfn is not None:
                return pfn
        return None

    # ---- queries -------------------------------------------------------------------------------
    def zone_of(self, pfn: int) -> Zone:
        """The zone holding *pfn*."""
        for zone in self.zones:
            if zone.contains(pfn):
                return zone
        raise KernelBug(f"pfn {pfn} is in no zone")

    def nr_free_pages(self) -> int:
        """Free pages in all zones."""
        return sum(zone.nr_free_pages for zone in self.zones)

    def nr_managed_pages(self) -> int:
        """Pages handed to the buddy allocator at boot."""
        return sum(zone.managed_pages for zone in self.zones)

    def nr_reserved_pages(self) -> int:
        """Pages kept out by memblock reservations."""
        return self._reserved_pages

    def buddyinfo(self) -> str:
        """/proc/buddyinfo: free blocks per order for each populated zone."""
        lines = []
        for zone in self.zones:
            if zone.present_pages == 0:
                continue
            counts = "".join(f"{area.nr_free:6d} " for area in zone.free_area)
            lines.append(f"Node 0, zone {zone.name:>8} {counts}")
        return "\n".join(lines) + "\n"

    def check_invariants(self) -> None:
        """Raise KernelBug unless the free lists, buddy_order and counters agree."""
        heads = np.flatnonzero(self.buddy_order >= 0)
        listed = 0
        for zone in self.zones:
            total = 0
            for order, area in enumerate(zone.free_area):
                for pfn in area.free_list:
                    if self.buddy_order[pfn] != order or pfn & ((1 << order) - 1):
                        raise KernelBug(
                            f"free block {pfn} order {order} is misaligned or mislabelled"
                        )
                    if not zone.contains(pfn) or not zone.contains(pfn + (1 << order) - 1):
                        raise KernelBug(f"free block {pfn} order {order} crosses zone {zone.name}")
                    flags = int(self.physmem.flags[pfn])
                    if not flags & PageFlag.BUDDY or flags & PageFlag.RESERVED:
                        raise KernelBug(f"free block {pfn} has flags {flags:#x}")
                    total += 1 << order
                listed += area.nr_free
            if total != zone.nr_free_pages:
                raise KernelBug(
                    f"zone {zone.name}: lists hold {total} pages, counter says {zone.nr_free_pages}"
                )
            if zone.nr_free_pages > zone.managed_pages:
                raise KernelBug(f"zone {zone.name}: more free than managed pages")
        if listed != len(heads):
            raise KernelBug(f"{len(heads)} heads marked but {listed} listed")
        ends = heads + (np.int64(1) << self.buddy_order[heads].astype(np.int64))
        if len(heads) > 1 and np.any(ends[:-1] > heads[1:]):
            raise KernelBug("free blocks overlap")
