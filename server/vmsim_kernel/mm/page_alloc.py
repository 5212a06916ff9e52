"""Zones, the binary buddy allocator with min/low/high watermarks, and the per-cpu page lists.

Models mm/page_alloc.c (__rmqueue_smallest, expand, __free_one_page, __zone_watermark_ok,
get_page_from_freelist, __setup_per_zone_wmarks, memblock_free_all; the per_cpu_pages of 6.1:
rmqueue_pcplist, rmqueue_bulk, free_unref_page, free_pcppages_bulk, drain_all_pages,
zone_batchsize, zone_highsize) and include/linux/mmzone.h.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Final, NoReturn

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import (
    MAX_DMA_ADDRESS,
    MAX_ORDER,
    PAGE_SHIFT,
    PAGE_SIZE,
    ZONELIST,
    Gfp,
    KiB,
    MiB,
    Pfn,
    ZoneType,
)
from vmsim_kernel.arch.x86.layout import TEXTBOOK_MAXMEM
from vmsim_kernel.errors import KernelBug, OutOfMemory

from .physmem import PageFlag, PhysicalMemory

if TYPE_CHECKING:
    from vmsim_kernel.kernel.locks import SimLock
    from vmsim_kernel.kernel.process import Task
    from vmsim_kernel.kernel.sched import Scheduler

    from .vmstat import VmEvents

__all__ = [
    "LOWMEM_RESERVE_RATIO",
    "PAGE_ALLOC_COSTLY_ORDER",
    "WATERMARK_SCALE_FACTOR",
    "FreeArea",
    "PageAllocator",
    "PerCpuPages",
    "PglistData",
    "SlowPath",
    "WatermarkLevel",
    "Zone",
    "alloc_page",
    "alloc_pages",
    "charge_zone_lock",
    "count_allocation",
    "free_page",
    "free_page_list",
    "get_order",
    "large_system_hash_entries",
    "zone_batchsize",
    "zone_highsize",
    "zone_watermark_ok",
]

ZONE_NAMES: Final[dict[ZoneType, str]] = {
    ZoneType.DMA: "DMA",
    ZoneType.NORMAL: "Normal",
    ZoneType.HIGHMEM: "HighMem",
}

WATERMARK_SCALE_FACTOR: Final = 10  # vm.watermark_scale_factor, in 1/10000 of the zone
# vm.lowmem_reserve_ratio per zone (DMA, Normal, HighMem): a zone keeps 1/ratio of the managed
# pages of the zones above it from allocations that could have used those (0: keeps nothing).
LOWMEM_RESERVE_RATIO: Final = (256, 32, 0)
SWAP_CLUSTER_MAX: Final = 32  # the smallest HIGHMEM min watermark
MIN_FREE_KBYTES_FLOOR: Final = 128  # init_per_zone_wmark_min's clamp
MIN_FREE_KBYTES_CEILING: Final = 262144
# hugepage_init gives up (THP off for good) below 512 MiB of RAM; above, it sets min_free_kbytes.
THP_MIN_RAM_PAGES: Final = 512 * MiB // PAGE_SIZE
PAGE_ALLOC_COSTLY_ORDER: Final = 3  # above it the allocator never calls the OOM killer
# pcp_allowed_order: the per-cpu lists hold blocks of orders 0..PAGE_ALLOC_COSTLY_ORDER (6.1
# also keeps a THP list, which a machine of 4 KiB pages never uses).
NR_PCP_ORDERS: Final = PAGE_ALLOC_COSTLY_ORDER + 1
PERCPU_PAGELIST_HIGH_FRACTION: Final = 0  # vm.percpu_pagelist_high_fraction: 0 follows the low mark
# buddy_order per frame: the order of the free block headed there (>= 0, in the buddy lists),
# or one of these. It is the allocator's page_ref_count: a free may only find _NOT_FREE, so a
# double free is one scalar test, however large the free block the frame hides in.
_NOT_FREE: Final = -1  # handed out, reserved or a hole
_ON_PCP: Final = -2  # the head of a block on a per-cpu list: not free, not handed out
_FREE_TAIL: Final = -3  # any other frame of a free block, in the buddy or the per-cpu lists

# free_page_is_bad (PAGE_FLAGS_CHECK_AT_FREE): a page freed with these still set is in use.
# SWAPCACHE is added because freeing a swap-cache page would leak its swap slot.
_BAD_FLAGS_AT_FREE: Final = int(
    PageFlag.LOCKED | PageFlag.LRU | PageFlag.ACTIVE | PageFlag.SLAB | PageFlag.SWAPCACHE
)
# Plain ints: IntFlag operators go through enum.__and__ and cost more than the rest of a free.
_RESERVED_BIT: Final = int(PageFlag.RESERVED)
_BUDDY_BIT: Final = int(PageFlag.BUDDY)
# Any of these on a frame being freed makes the free a bug (_bad_free says which).
_CHECK_AT_FREE: Final = _BAD_FLAGS_AT_FREE | _RESERVED_BIT | _BUDDY_BIT


class WatermarkLevel(IntEnum):
    """The watermark an allocation must leave the zone's free pages above (ALLOC_WMARK_*)."""

    MIN = 0  # ALLOC_WMARK_MIN: the slow path, after kswapd was woken; below it reclaim directly
    LOW = 1  # ALLOC_WMARK_LOW: the fast path; below it kswapd is woken
    HIGH = 2  # ALLOC_WMARK_HIGH: the level kswapd restores before it sleeps again
    NONE = 3  # ALLOC_NO_WATERMARKS: boot and emergency allocations that may empty the zone


class FreeArea:
    """free_area[order]: the free blocks of 2**order pages of one zone.

    Attributes:
        free_list: head pfns as an insertion-ordered set. The last inserted is taken first
            (LIFO, like list_add at the list head), which keeps allocation deterministic.
    """

    def __init__(self) -> None:
        self.free_list: dict[int, None] = {}

    @property
    def nr_free(self) -> int:
        """Number of free blocks of this order."""
        return len(self.free_list)


class PerCpuPages:
    """struct per_cpu_pages: one CPU's cache of free blocks of one zone, orders 0..3.

    Attributes:
        count: pages on the lists (a block of order n counts 2**n), zoneinfo's `count:`.
        high: above this many pages a free gives a batch back to the buddy lists.
        batch: pages taken from (rmqueue_bulk) or given back to (free_pcppages_bulk) the
            buddy lists at a time.
        free_factor: how many frees in a row came without an allocation: each such run
            doubles the batch freed (nr_pcp_free); an allocation halves it.
        lists: per order, head pfns. An allocation takes the first; a free puts the block
            first (the cache-hot one is reused next); a refill appends at the end; a drain
            takes from the end (the coldest). One list per order, not per order and
            migratetype: the buddy lists here are not split by migratetype either.
    """

    def __init__(self, high: int = 0, batch: int = 1) -> None:
        self.count = 0
        self.high = high
        self.batch = batch
        self.free_factor = 0
        self.lists: list[deque[int]] = [deque() for _ in range(NR_PCP_ORDERS)]


def zone_batchsize(managed_pages: int) -> int:
    """zone_batchsize, with zone_set_high_and_batch's floor of 1: about 0.1% of the zone or
    1 MiB, whichever is smaller, divided by 4 and rounded to 2**n - 1 (power-of-two batches
    alias in the cache)."""
    batch = min(managed_pages >> 10, MiB // PAGE_SIZE) // 4
    batch = max(batch, 1)
    return max(1, (1 << ((batch + batch // 2).bit_length() - 1)) - 1)


def zone_highsize(
    managed_pages: int,
    low_wmark: int,
    batch: int,
    nr_cpus: int,
    high_fraction: int = PERCPU_PAGELIST_HIGH_FRACTION,
) -> int:
    """zone_highsize: the zone's low mark (or managed / vm.percpu_pagelist_high_fraction when
    set) split over the node's CPUs, so that full lists never wake kswapd early; at least
    4 batches."""
    total_pages = managed_pages // high_fraction if high_fraction else low_wmark
    return max(total_pages // max(1, nr_cpus), batch << 2)


def get_order(nr_bytes: int) -> int:
    """get_order: the smallest order whose block holds *nr_bytes* (0 for a page or less)."""
    return max(0, (nr_bytes - 1).bit_length() - PAGE_SHIFT)


def large_system_hash_entries(
    nr_kernel_pages: int,
    bucketsize: int,
    numentries: int,
    scale: int,
    low_limit: int = 0,
    high_limit: int = 0,
) -> int:
    """alloc_large_system_hash's number of buckets (its table takes get_order(entries x
    bucketsize) pages from alloc_pages_exact: both powers of two, so nothing is trimmed).

    Without *numentries*, one bucket per 2**scale bytes of low memory (*nr_kernel_pages*
    rounded up to a MiB), at least a page's worth; then a power of two within
    [low_limit, high_limit] (high 0: no limit).
    """
    if not numentries:
        numentries = -(-nr_kernel_pages // (MiB // PAGE_SIZE)) * (MiB // PAGE_SIZE)
        if scale > PAGE_SHIFT:
            numentries >>= scale - PAGE_SHIFT
        else:
            numentries <<= PAGE_SHIFT - scale
        if numentries * bucketsize < PAGE_SIZE:
            numentries = PAGE_SIZE // bucketsize
    numentries = 1 << max(0, numentries - 1).bit_length()  # roundup_pow_of_two
    numentries = max(numentries, low_limit)
    return min(numentries, high_limit) if high_limit else numentries


class Zone:
    """One memory zone: a pfn range, its free lists and its watermarks (struct zone).

    Attributes:
        zone_type: DMA, NORMAL or HIGHMEM.
        name: the name /proc prints ("DMA", "Normal", "HighMem").
        start_pfn: first frame of the zone.
        end_pfn: one past the last frame (empty zone: end_pfn == start_pfn).
        present_pages: frames of RAM in the zone: spanned less the BIOS map's holes.
        managed_pages: present pages minus the boot-time (memblock) reservations.
        free_area: MAX_ORDER free lists, orders 0..10.
        nr_free_pages: pages in the free lists (NR_FREE_PAGES).
        nr_allocated_pages: pages handed out and not yet freed (simulator bookkeeping).
        watermark_min, watermark_low, watermark_high: the three marks, in pages.
        lowmem_reserve: per classzone (the highest zone an allocation may use), the pages this
            zone keeps back from such allocations (zone->lowmem_reserve, zoneinfo's
            `protection:`), so that allocations which could use a higher zone do not exhaust
            a lower one that others can only use.
        per_cpu_pageset: one PerCpuPages per CPU (zone->per_cpu_pageset); until boot calls
            setup_per_cpu_pageset every CPU has the boot pageset (high 0, batch 1), which
            hands pages straight between the caller and the buddy lists.
        pageset_high, pageset_batch: the high and batch every CPU's pageset gets
            (zone_set_high_and_batch).
    """

    def __init__(self, zone_type: ZoneType, start_pfn: int, end_pfn: int) -> None:
        if end_pfn < start_pfn:
            raise KernelBug(f"zone {zone_type.name} ends at {end_pfn} before {start_pfn}")
        self.zone_type = zone_type
        self.name = ZONE_NAMES[zone_type]
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.present_pages = end_pfn - start_pfn
        self.managed_pages = self.present_pages
        self.free_area = [FreeArea() for _ in range(MAX_ORDER)]
        self.nr_free_pages = 0
        self.nr_allocated_pages = 0
        self.watermark_min = 0
        self.watermark_low = 0
        self.watermark_high = 0
        self.lowmem_reserve = [0] * len(ZoneType)
        self.per_cpu_pageset = [PerCpuPages()]
        self.pageset_high = 0
        self.pageset_batch = 1

    @property
    def nr_pcp_pages(self) -> int:
        """Pages on the per-cpu lists of every CPU (not in NR_FREE_PAGES, not allocated)."""
        return sum(pcp.count for pcp in self.per_cpu_pageset)

    @property
    def spanned_pages(self) -> int:
        """Frames between start_pfn and end_pfn."""
        return self.end_pfn - self.start_pfn

    @property
    def nr_reserved_pages(self) -> int:
        """Frames of the zone kept out of the buddy allocator at boot."""
        return self.present_pages - self.managed_pages

    @property
    def is_empty(self) -> bool:
        """Whether the zone has no page it could ever give (no managed pages)."""
        return self.managed_pages == 0

    def contains(self, pfn: int) -> bool:
        """Whether frame *pfn* lies in this zone."""
        return self.start_pfn <= pfn < self.end_pfn

    def watermark(self, level: WatermarkLevel) -> int:
        """The mark of *level* in pages (0 for NONE)."""
        if level is WatermarkLevel.MIN:
            return self.watermark_min
        if level is WatermarkLevel.LOW:
            return self.watermark_low
        if level is WatermarkLevel.HIGH:
            return self.watermark_high
        return 0

    def watermark_ok(
        self,
        order: int,
        level: WatermarkLevel,
        *,
        classzone: ZoneType | None = None,
        harder: bool = False,
    ) -> bool:
        """zone_watermark_ok at *level*: may a 2**order block be taken?

        The mark is the level's plus the zone's lowmem_reserve for *classzone* (the highest
        zone of the allocation's zonelist; None means the zone's own, which reserves
        nothing); *harder* (GFP_ATOMIC, ALLOC_HARDER) lowers it by a quarter. Level NONE
        only asks whether a block exists.
        """
        if level is WatermarkLevel.NONE:
            return self.has_free_block(order)
        return zone_watermark_ok(
            self, order, self.effective_mark(level, classzone=classzone, harder=harder)
        )

    def effective_mark(
        self, level: WatermarkLevel, *, classzone: ZoneType | None = None, harder: bool = False
    ) -> int:
        """The free pages an allocation at *level* must leave above: the mark, a quarter
        lower for *harder*, plus lowmem_reserve[*classzone*] (0 for level NONE)."""
        mark = self.watermark(level)
        if harder:
            mark -= mark // 4
        if classzone is not None:
            mark += self.lowmem_reserve[classzone]
        return mark

    def order0_pages_allowed(
        self, level: WatermarkLevel, *, classzone: ZoneType | None = None, harder: bool = False
    ) -> int:
        """How many order-0 pages in a row watermark_ok(0, ...) lets this zone give now:
        each one needs the free pages above the mark, so nr_free_pages - mark of them."""
        if level is WatermarkLevel.NONE:
            return self.nr_free_pages
        mark = self.effective_mark(level, classzone=classzone, harder=harder)
        return max(0, self.nr_free_pages - mark)

    def has_free_block(self, order: int) -> bool:
        """Whether a free block of at least *order* is on the zone's lists."""
        return any(self.free_area[current].free_list for current in range(order, MAX_ORDER))


def zone_watermark_ok(zone: Zone, order: int, mark: int) -> bool:
    """__zone_watermark_ok: may a 2**order block be taken from *zone* and leave its free
    pages above *mark* (in pages, lowmem_reserve and any ALLOC_HARDER discount included)?

    For order > 0 a free block of at least that order must exist too.
    """
    # The block's other pages are gone too, but only its first one counts as "the" page.
    free_pages = zone.nr_free_pages - ((1 << order) - 1)
    if free_pages <= mark:
        return False
    return order == 0 or zone.has_free_block(order)


class PageAllocator:
    """The buddy allocators of the node's three zones (pglist_data's node_zones).

    Attributes:
        physmem: the RAM and frame descriptors the allocator manages.
        zones: always three, in DMA, NORMAL, HIGHMEM order (index = ZoneType).
        buddy_order: per frame, the order of the free block headed there, or -1 (not free:
            handed out, reserved, a hole), -2 (heads a block on a per-cpu list) or -3 (inside
            a free block, not its head).
        min_free_kbytes: vm.min_free_kbytes the watermarks were computed from.
        watermark_scale_factor: vm.watermark_scale_factor (1/10000 of a zone between marks).
        lowmem_reserve_ratio: vm.lowmem_reserve_ratio per zone (DMA, Normal, HighMem).
        nr_cpus: CPUs with a pageset in every zone (1 until setup_per_cpu_pageset).
        smp_processor_id: the CPU the calling code runs on, whose per-cpu lists it uses.
    """

    def __init__(
        self,
        physmem: PhysicalMemory,
        reserved: Sequence[tuple[int, int]],
        min_free_kbytes: int | None = None,
        *,
        memory: Sequence[range] | None = None,
        max_low_pfn: int | None = None,
    ) -> None:
        """Build the zones, reserve *reserved* and free everything else into the buddy lists.

        Args:
            physmem: the machine's RAM.
            reserved: [start, end) pfn ranges that never enter the buddy lists (memblock_reserve).
            min_free_kbytes: vm.min_free_kbytes; None computes Linux's default from low memory.
            memory: the pfn ranges of usable RAM, ascending (memblock.memory); frames outside
                them are holes: in no free list and no zone's present pages. None: all of RAM.
            max_low_pfn: the end of low memory: ZONE_NORMAL ends and ZONE_HIGHMEM starts there.
                None: the textbook 896 MiB.

        Raises:
            KernelBug: a reserved or memory range lies outside RAM or is empty.
        """
        self.physmem = physmem
        nr_frames = physmem.nr_frames
        if memory is None:
            memory = (range(nr_frames),)
        if max_low_pfn is None:
            max_low_pfn = TEXTBOOK_MAXMEM >> PAGE_SHIFT
        self.is_present: npt.NDArray[np.bool_] = np.zeros(nr_frames, dtype=np.bool_)
        for pfns in memory:
            if not 0 <= pfns.start < pfns.stop <= nr_frames:
                raise KernelBug(f"memory range {pfns} is empty or outside RAM")
            self.is_present[pfns.start : pfns.stop] = True
        # free_area_init: zones span from the first to the last usable frame (max_pfn).
        first_pfn, max_pfn = memory[0].start, memory[-1].stop
        dma_end = min(max_pfn, MAX_DMA_ADDRESS >> PAGE_SHIFT)
        low_end = max(dma_end, min(max_low_pfn, max_pfn))
        self.zones = [
            Zone(ZoneType.DMA, min(first_pfn, dma_end), dma_end),
            Zone(ZoneType.NORMAL, dma_end, low_end),
            Zone(ZoneType.HIGHMEM, low_end, max_pfn),
        ]
        for zone in self.zones:
            zone.present_pages = int(
                np.count_nonzero(self.is_present[zone.start_pfn : zone.end_pfn])
            )
        self.buddy_order: npt.NDArray[np.int8] = np.full(nr_frames, -1, dtype=np.int8)
        self.nr_cpus = 1
        self.smp_processor_id: Callable[[], int] = lambda: 0
        self.pcp_enabled = False
        is_reserved = self._memblock_reserve(reserved)
        self._memblock_free_all(is_reserved)
        self.watermark_scale_factor = WATERMARK_SCALE_FACTOR
        self.lowmem_reserve_ratio: tuple[int, ...] = LOWMEM_RESERVE_RATIO
        self.min_free_kbytes = self._init_per_zone_wmark_min(min_free_kbytes)
        self.setup_per_zone_lowmem_reserve()

    # ---- boot ---------------------------------------------------------------------------------
    def _memblock_reserve(self, reserved: Sequence[tuple[int, int]]) -> npt.NDArray[np.bool_]:
        """Flag the reserved frames and the holes PG_reserved (init_unavailable_range does the
        holes) and take the reserved RAM out of managed_pages."""
        nr_frames = self.physmem.nr_frames
        is_reserved = np.zeros(nr_frames, dtype=np.bool_)
        for start, end in reserved:
            if not 0 <= start < end <= nr_frames:
                raise KernelBug(f"reserved range [{start}, {end}) is empty or outside RAM")
            is_reserved[start:end] = True
        self.physmem.flags[is_reserved | ~self.is_present] |= np.uint32(PageFlag.RESERVED)
        is_reserved &= self.is_present
        for zone in self.zones:
            nr_reserved = int(np.count_nonzero(is_reserved[zone.start_pfn : zone.end_pfn]))
            zone.managed_pages = zone.present_pages - nr_reserved
        return is_reserved

    def _memblock_free_all(self, is_reserved: npt.NDArray[np.bool_]) -> None:
        """memblock_free_all: give every unreserved run to its zone in maximal aligned blocks.

        Works per block, never per frame: 4 GiB is about a thousand order-10 blocks. The
        blocks are linked highest pfn first, so the lowest pfn sits on top of each list and
        is allocated first, as __free_pages_core's FPI_TO_TAIL arranges in Linux.
        """
        blocks: list[tuple[Zone, int, int]] = []
        for zone in self.zones:
            span = slice(zone.start_pfn, zone.end_pfn)
            unreserved = ~is_reserved[span] & self.is_present[span]
            # Edges of the runs of unreserved frames: +1 where a run starts, -1 past its end.
            edges = np.diff(unreserved.astype(np.int8), prepend=0, append=0)
            run_starts = np.flatnonzero(edges == 1) + zone.start_pfn
            run_ends = np.flatnonzero(edges == -1) + zone.start_pfn
            for start, end in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
                self.buddy_order[start:end] = _FREE_TAIL  # the heads are set as they are linked
                blocks.extend((zone, pfn, order) for pfn, order in _aligned_blocks(start, end))
        for zone, pfn, order in reversed(blocks):
            self._add_free_block(zone, pfn, order)

    def _init_per_zone_wmark_min(self, min_free_kbytes: int | None) -> int:
        """The watermarks the initcalls leave: init_per_zone_wmark_min's (postcore, no marks
        yet), then on a machine of 512 MiB or more hugepage_init's: with THP off,
        set_recommended_min_free_kbytes recalculates min_free_kbytes once more, now above
        the high marks just set. A given *min_free_kbytes* is used as it is."""
        if min_free_kbytes is not None:
            return self.setup_per_zone_wmarks(min_free_kbytes)
        min_free_kbytes = self.setup_per_zone_wmarks(None)
        if self.nr_managed_pages() >= THP_MIN_RAM_PAGES:
            min_free_kbytes = self.setup_per_zone_wmarks(None)
        return min_free_kbytes

    def calculate_min_free_kbytes(self) -> int:
        """calculate_min_free_kbytes: int_sqrt(16 x the low memory above the zones' high marks
        (nr_free_buffer_pages), in kB), clamped to 128..262144."""
        lowmem_pages = sum(
            max(0, zone.managed_pages - zone.watermark_high)
            for zone in self.zones
            if zone.zone_type is not ZoneType.HIGHMEM
        )
        return min(
            max(math.isqrt(lowmem_pages * (PAGE_SIZE // KiB) * 16), MIN_FREE_KBYTES_FLOOR),
            MIN_FREE_KBYTES_CEILING,
        )

    def free_reserved_area(self, start_pfn: int, end_pfn: int) -> None:
        """free_reserved_area: boot memory given back (the initramfs, the image's .init): each
        present frame becomes managed and is freed as a page (free_reserved_page, through this
        CPU's list). The watermarks and the per-cpu lists keep the sizes the initcalls gave
        them; lowmem_reserve follows the new managed pages."""
        flags = self.physmem.flags
        for pfn in range(start_pfn, end_pfn):
            if not self.is_present[pfn]:
                continue
            if not flags.item(pfn) & _RESERVED_BIT:
                raise KernelBug(f"freeing boot memory at pfn {pfn}, which is not reserved")
            flags[pfn] = flags.item(pfn) & ~_RESERVED_BIT
            zone = self.zone_of(pfn)
            zone.managed_pages += 1
            zone.nr_allocated_pages += 1  # handed out by memblock, now freed
            self.free_unref_page(pfn, 0)
        self.setup_per_zone_lowmem_reserve()

    def setup_per_zone_wmarks(self, min_free_kbytes: int | None) -> int:
        """__setup_per_zone_wmarks, with init_per_zone_wmark_min's default min_free_kbytes.

        min_free_kbytes None: calculate_min_free_kbytes; pages_min is that in pages. Each low-memory zone gets a share of pages_min in
        proportion to its managed pages as its min mark; HIGHMEM's min is capped to
        clamp(managed / 1024, 32, 128) since atomic and reclaim allocations cannot use it.
        The distance min->low and low->high is max(share / 4, managed * 10 / 10000), where
        share is the zone's proportional part of pages_min even for HIGHMEM (Linux does not
        cap the kswapd distances). An empty HIGHMEM zone gets the clamp's 32 for all three
        marks, as zoneinfo shows on Linux; other empty zones keep 0.

        Returns:
            The min_free_kbytes in effect.
        """
        lowmem_pages = sum(
            zone.managed_pages for zone in self.zones if zone.zone_type is not ZoneType.HIGHMEM
        )
        if min_free_kbytes is None:
            min_free_kbytes = self.calculate_min_free_kbytes()
        self.min_free_kbytes = min_free_kbytes
        pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)
        for zone in self.zones:
            if zone.is_empty and zone.zone_type is not ZoneType.HIGHMEM:
                continue
            share = pages_min * zone.managed_pages // max(1, lowmem_pages)
            if zone.zone_type is ZoneType.HIGHMEM:
                zone.watermark_min = min(max(zone.managed_pages // 1024, SWAP_CLUSTER_MAX), 128)
            else:
                zone.watermark_min = share
            distance = max(share >> 2, zone.managed_pages * self.watermark_scale_factor // 10000)
            zone.watermark_low = zone.watermark_min + distance
            zone.watermark_high = zone.watermark_low + distance
        # The pagesets' high follows the low mark.
        self.zone_pcp_update()
        return min_free_kbytes

    def setup_per_zone_lowmem_reserve(self) -> None:
        """setup_per_zone_lowmem_reserve: zone i keeps (managed pages of zones i+1..j) / ratio[i]
        from allocations whose classzone is j. A zone with ratio 0 or no pages keeps nothing."""
        for lower in self.zones:
            ratio = self.lowmem_reserve_ratio[lower.zone_type]
            upper_managed = 0
            for upper in self.zones[lower.zone_type + 1 :]:
                upper_managed += upper.managed_pages
                lower.lowmem_reserve[upper.zone_type] = (
                    upper_managed // ratio if ratio and lower.managed_pages else 0
                )

    # ---- per-cpu pagesets ------------------------------------------------------------------------
    def setup_per_cpu_pageset(self, nr_cpus: int, smp_processor_id: Callable[[], int]) -> None:
        """setup_per_cpu_pageset: from now on every CPU of *nr_cpus* keeps free pages of each
        zone on lists of its own, sized by zone_pcp_update; *smp_processor_id* tells which
        CPU the code that allocates or frees runs on."""
        self.nr_cpus = nr_cpus
        self.smp_processor_id = smp_processor_id
        for zone in self.zones:
            zone.per_cpu_pageset = [PerCpuPages() for _ in range(nr_cpus)]
        self.pcp_enabled = True
        self.zone_pcp_update()

    def zone_pcp_update(self) -> None:
        """zone_pcp_update(zone, 0) for every zone: batch from the managed pages, high from
        the low mark split over the CPUs (zone_set_high_and_batch). A no-op while the zones
        still have their boot pagesets."""
        if not self.pcp_enabled:
            return
        for zone in self.zones:
            batch = zone_batchsize(zone.managed_pages)
            high = zone_highsize(zone.managed_pages, zone.watermark_low, batch, self.nr_cpus)
            zone.pageset_high, zone.pageset_batch = high, batch
            for pcp in zone.per_cpu_pageset:
                pcp.high, pcp.batch = high, batch

    def nr_pcp_pages(self) -> int:
        """Pages on every CPU's lists in every zone."""
        return sum(zone.nr_pcp_pages for zone in self.zones)

    def _this_cpu_pageset(self, zone: Zone) -> PerCpuPages:
        return zone.per_cpu_pageset[self.smp_processor_id()]

    def rmqueue(self, zone: Zone, order: int) -> Pfn | None:
        """rmqueue: a block of 2**order from *zone*, through this CPU's list for orders up
        to PAGE_ALLOC_COSTLY_ORDER (rmqueue_pcplist), else from the buddy lists."""
        if order < NR_PCP_ORDERS and zone.pageset_high:
            return self._rmqueue_pcplist(zone, self._this_cpu_pageset(zone), order)
        return self.allocate_pages(zone, order)

    def _rmqueue_pcplist(self, zone: Zone, pcp: PerCpuPages, order: int) -> Pfn | None:
        """__rmqueue_pcplist: the first block of the order's list, refilled by one batch
        (scaled down for higher orders) when empty."""
        pcp.free_factor >>= 1
        pages = pcp.lists[order]
        if not pages:
            batch = pcp.batch
            if batch > 1:
                batch = max(batch >> order, 2)
            self._rmqueue_bulk(zone, pcp, order, batch)
            if not pages:
                return None
        pfn = pages.popleft()
        pcp.count -= 1 << order
        if order:
            self.buddy_order[pfn : pfn + (1 << order)] = _NOT_FREE
        else:
            self.buddy_order[pfn] = _NOT_FREE
        zone.nr_allocated_pages += 1 << order
        return Pfn(pfn)

    def _rmqueue_bulk(self, zone: Zone, pcp: PerCpuPages, order: int, count: int) -> None:
        """rmqueue_bulk: up to *count* blocks of *order* from the buddy lists (one
        __rmqueue each, under one hold of zone->lock) to the end of the CPU's list."""
        if order == 0:
            got: list[int] = self.allocate_pages_bulk(zone, count).tolist()
        else:
            got = []
            for _ in range(count):
                pfn = self.allocate_pages(zone, order)
                if pfn is None:
                    break
                got.append(pfn)
        self._to_pcp_tail(zone, pcp, order, got)

    def _to_pcp_tail(self, zone: Zone, pcp: PerCpuPages, order: int, pfns: list[int]) -> None:
        """Blocks just taken from the buddy lists go to the end of the CPU's list: no longer
        free, not yet handed out."""
        if not pfns:
            return
        zone.nr_allocated_pages -= len(pfns) << order
        buddy_order = self.buddy_order
        buddy_order[pfns] = _ON_PCP
        for pfn in pfns if order else ():
            buddy_order[pfn + 1 : pfn + (1 << order)] = _FREE_TAIL
        pcp.lists[order].extend(pfns)
        pcp.count += len(pfns) << order

    def free_unref_page(self, pfn: int, order: int = 0, *, reclaim_active: bool = False) -> None:
        """free_unref_page: a block of order up to PAGE_ALLOC_COSTLY_ORDER goes to the front
        of this CPU's list; when the list then holds `high` pages or more, free_pcppages_bulk
        gives a batch (growing while frees come without allocations) back to the buddy lists.
        *reclaim_active* (kswapd is balancing the zone, ZONE_RECLAIM_ACTIVE) caps high at four
        batches, so that reclaimed pages reach the buddy lists.

        Raises:
            KernelBug: as free_pages does.
        """
        self.free_unref_page_in(self.zone_of(pfn), pfn, order, reclaim_active)

    def free_unref_page_in(self, zone: Zone, pfn: int, order: int, reclaim_active: bool) -> None:
        """free_unref_page of a block the caller already found in *zone* (page_zone)."""
        if order >= NR_PCP_ORDERS or not zone.pageset_high:
            self._free_pages_prepare(zone, pfn, order)
            self._free_one_page(zone, pfn, order)
            return
        self._free_pages_prepare(zone, pfn, order)
        pcp = zone.per_cpu_pageset[self.smp_processor_id()]
        pcp.lists[order].appendleft(pfn)
        self.buddy_order[pfn] = _ON_PCP
        pcp.count += 1 << order
        # Higher orders freed in a run go back at once: they fragment the zone while parked.
        free_high = bool(pcp.free_factor and order)
        high = 0 if free_high else pcp.high
        if high and reclaim_active:
            high = min(pcp.batch << 2, high)
        if pcp.count >= high:
            self.free_pcppages_bulk(zone, pcp, self._nr_pcp_free(pcp, high, free_high), order)

    def free_unref_page_list(
        self,
        pfns: Sequence[int] | npt.NDArray[np.integer],
        *,
        reclaim_classzone: ZoneType | None = None,
    ) -> list[int]:
        """free_unref_page_list: many order-0 pages at once, leaving every list, counter and
        descriptor as free_unref_page on each of them in turn would.

        The checks of free_pages_prepare run on the whole list first (vectorised), so a bad
        page (or one listed twice) raises before anything is freed. Each run of pages of one
        zone then goes to the front of this CPU's list in chunks that end where a single
        free would have crossed `high`, each followed by that free's free_pcppages_bulk.

        Args:
            pfns: the frames, in the order they are freed.
            reclaim_classzone: the highest zone kswapd is balancing (pgdat's
                kswapd_classzone): zones up to it free with ZONE_RECLAIM_ACTIVE's high.

        Returns:
            Pages freed per zone, indexed by ZoneType (for the caller's zone-lock charge).

        Raises:
            KernelBug: a frame is in no zone, listed twice, or fails free_pages_prepare's
                checks (as free_pages raises it); nothing is freed then.
        """
        freed = [0] * len(self.zones)
        pfn_array = np.asarray(pfns, dtype=np.int64)
        if pfn_array.ndim != 1:
            raise KernelBug(f"freeing pages of an array of shape {pfn_array.shape}")
        if not len(pfn_array):
            return freed
        zone_index = self._zone_indexes(pfn_array)
        self._check_free_list(pfn_array)
        physmem = self.physmem
        physmem.flags[pfn_array] = 0
        physmem.private[pfn_array] = 0
        physmem.pristine[pfn_array] = False
        # Where the zone changes from one listed page to the next: the runs to commit.
        edges = np.flatnonzero(zone_index[1:] != zone_index[:-1]) + 1
        run_starts = [0, *edges.tolist()]
        run_ends = [*edges.tolist(), len(pfn_array)]
        for start, end in zip(run_starts, run_ends, strict=True):
            zone = self.zones[int(zone_index[start])]
            run = pfn_array[start:end]
            zone.nr_allocated_pages -= end - start
            freed[zone.zone_type] += end - start
            reclaim_active = reclaim_classzone is not None and zone.zone_type <= reclaim_classzone
            self._free_unref_page_commit_run(zone, run, reclaim_active)
        return freed

    def _zone_indexes(self, pfns: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """page_zone of each of *pfns*, as indexes into zones.

        Raises:
            KernelBug: a pfn is in no zone (as zone_of).
        """
        zone_ends = np.array([zone.end_pfn for zone in self.zones], dtype=np.int64)
        zone_starts = np.array([zone.start_pfn for zone in self.zones], dtype=np.int64)
        # The first zone ending above the pfn; empty zones end where the one below ends.
        index = np.searchsorted(zone_ends, pfns, side="right")
        outside = index >= len(self.zones)
        outside[~outside] |= pfns[~outside] < zone_starts[index[~outside]]
        if outside.any():
            raise KernelBug(f"pfn {int(pfns[np.argmax(outside)])} is in no zone")
        return index

    def _check_free_list(self, pfns: npt.NDArray[np.int64]) -> None:
        """free_pages_prepare's checks on order-0 *pfns* at once, plus one free per frame.

        Raises:
            KernelBug: for the first bad pfn in list order, as a single free of it would.
        """
        physmem = self.physmem
        bad = (
            (self.buddy_order[pfns] != _NOT_FREE)
            | ((physmem.flags[pfns] & np.uint32(_CHECK_AT_FREE)) != 0)
            | (physmem.mapcount[pfns] != 0)
        )
        if bad.any():
            self._bad_free(int(pfns[np.argmax(bad)]), 0)
        by_pfn = np.argsort(pfns, kind="stable")  # a pfn's listings stay in list order
        ascending = pfns[by_pfn]
        repeated = np.flatnonzero(ascending[1:] == ascending[:-1])
        if len(repeated):
            # The second listing of the pfn whose second listing comes first.
            first = int(np.min(by_pfn[repeated + 1]))
            raise KernelBug(f"double free of pfn {int(pfns[first])} order 0 (listed twice)")

    def _free_unref_page_commit_run(
        self, zone: Zone, run: npt.NDArray[np.int64], reclaim_active: bool
    ) -> None:
        """free_unref_page_commit for each of *run* (checked order-0 pages of *zone*), as
        chunks: the frees between two crossings of `high` only push onto the list."""
        if not zone.pageset_high:  # the boot pageset: straight to the buddy lists
            for pfn in run.tolist():
                self._free_one_page(zone, pfn, 0)
            return
        self.buddy_order[run] = _ON_PCP
        pcp = zone.per_cpu_pageset[self.smp_processor_id()]
        pages = pcp.lists[0]
        high = pcp.high
        if reclaim_active:
            high = min(pcp.batch << 2, high)
        listed = run.tolist()
        position, nr_pages = 0, len(listed)
        while position < nr_pages:
            # This many more frees leave count at high, where the last one frees a batch.
            take = min(max(1, high - pcp.count), nr_pages - position)
            pages.extendleft(listed[position : position + take])  # as appendleft one by one
            pcp.count += take
            position += take
            if pcp.count >= high:
                self.free_pcppages_bulk(zone, pcp, self._nr_pcp_free(pcp, high, False), 0)

    @staticmethod
    def _nr_pcp_free(pcp: PerCpuPages, high: int, free_high: bool) -> int:
        """nr_pcp_free: how many pages a free over high gives back: a batch, doubled for
        each free in a row without an allocation, leaving at least a batch on the lists."""
        if free_high:
            return pcp.count
        batch = pcp.batch
        if high < batch:
            return 1
        min_nr_free, max_nr_free = batch, high - batch
        batch <<= pcp.free_factor
        if batch < max_nr_free:
            pcp.free_factor += 1
        return max(min_nr_free, min(batch, max_nr_free))

    def free_pcppages_bulk(self, zone: Zone, pcp: PerCpuPages, count: int, order: int) -> None:
        """free_pcppages_bulk: *count* pages from the ends of the CPU's lists (the coldest)
        back to the buddy lists, the list of *order* first, then round-robin by order."""
        count = min(pcp.count, count)
        lists = pcp.lists
        min_index, max_index = 0, NR_PCP_ORDERS - 1
        index = order - 1
        free_one_page = self._free_one_page
        while count > 0:
            while True:
                index += 1
                if index > max_index:
                    index = min_index
                if lists[index]:
                    break
                if index == max_index:
                    max_index -= 1
                if index == min_index:
                    min_index += 1
            pages, nr_pages = lists[index], 1 << index
            while True:
                pfn = pages.pop()
                count -= nr_pages
                pcp.count -= nr_pages
                free_one_page(zone, pfn, index)
                if count <= 0 or not pages:
                    break

    def drain_all_pages(self) -> int:
        """drain_all_pages(NULL): every CPU's lists of every zone back to the buddy lists
        (before retrying an allocation that failed after direct reclaim).

        Returns:
            The pages drained.
        """
        drained = 0
        for zone in self.zones:
            for pcp in zone.per_cpu_pageset:
                if pcp.count:
                    drained += pcp.count
                    self.free_pcppages_bulk(zone, pcp, pcp.count, 0)
        return drained

    def _order0_plan(self, zone: Zone, mark: int, nr_wanted: int | None) -> tuple[int, int, int]:
        """What *nr_wanted* (None: as many as allowed) order-0 allocations in a row from
        *zone* at *mark* do, each checked as zone_watermark_fast checks it (the buddy lists'
        free pages above the mark; pages on a CPU's list do not count): (pages taken from
        this CPU's list, pages its refills take from the buddy lists, pages of the refills
        handed out). A refill that takes the zone to its mark gives its first page only;
        the rest stay on the list until something drains it.
        """
        above = zone.nr_free_pages - mark
        if above <= 0 or nr_wanted == 0:
            return 0, 0, 0
        if not zone.pageset_high:  # the boot pageset: straight from the buddy lists
            taken = above if nr_wanted is None else min(above, nr_wanted)
            return 0, taken, taken
        pcp = self._this_cpu_pageset(zone)
        batch = pcp.batch
        nr_listed = len(pcp.lists[0])
        from_list = nr_listed if nr_wanted is None else min(nr_listed, nr_wanted)
        rest = None if nr_wanted is None else nr_wanted - from_list
        if rest == 0:
            return from_list, 0, 0
        full_refills = (above - 1) // batch  # refills after which the zone still passes
        if rest is not None and rest <= full_refills * batch:
            return from_list, -(-rest // batch) * batch, rest
        last = min(batch, zone.nr_free_pages - full_refills * batch)
        return from_list, full_refills * batch + last, full_refills * batch + 1

    def _rmqueue_order0_many(self, zone: Zone, mark: int, nr_wanted: int) -> npt.NDArray[np.int64]:
        """*nr_wanted* order-0 allocations in a row from *zone* at *mark* (fewer when the
        zone reaches its mark): the pages and lists _order0_plan describes."""
        from_list, refilled, from_refill = self._order0_plan(zone, mark, nr_wanted)
        if not zone.pageset_high:
            return self.allocate_pages_bulk(zone, from_refill)
        pcp = self._this_cpu_pageset(zone)
        pcp.free_factor >>= from_list + from_refill
        pages = pcp.lists[0]
        listed = [pages.popleft() for _ in range(from_list)]
        if listed:
            self.buddy_order[listed] = _NOT_FREE
            pcp.count -= from_list
            zone.nr_allocated_pages += from_list
        taken = np.array(listed, dtype=np.int64)
        if refilled:
            refill = self.allocate_pages_bulk(zone, refilled)
            self._to_pcp_tail(zone, pcp, 0, refill[from_refill:].tolist())
            taken = (
                np.concatenate([taken, refill[:from_refill]]) if listed else refill[:from_refill]
            )
        return taken

    # ---- free list primitives ------------------------------------------------------------------
    def _add_free_block(self, zone: Zone, pfn: int, order: int) -> None:
        """Link a free block at the top of its list (add_to_free_list + set_buddy_order)."""
        zone.free_area[order].free_list[pfn] = None
        zone.nr_free_pages += 1 << order
        self.buddy_order[pfn] = order
        flags = self.physmem.flags
        flags[pfn] = flags.item(pfn) | _BUDDY_BIT

    def _del_free_block(self, zone: Zone, pfn: int, order: int) -> None:
        """Unlink a free block (del_page_from_free_list)."""
        del zone.free_area[order].free_list[pfn]
        zone.nr_free_pages -= 1 << order
        self.buddy_order[pfn] = -1
        flags = self.physmem.flags
        flags[pfn] = flags.item(pfn) & ~_BUDDY_BIT

    # ---- the buddy allocator -------------------------------------------------------------------
    def allocate_pages(self, zone: Zone, order: int) -> Pfn | None:
        """__rmqueue_smallest: the smallest free block >= *order*, split down to *order*.

        Ignores watermarks: get_page_from_freelist decides whether the zone may be used.

        Returns:
            The first pfn of 2**order free frames, or None when the zone has no such block.
        """
        if not 0 <= order < MAX_ORDER:
            raise KernelBug(f"order {order} outside 0..{MAX_ORDER - 1}")
        for current_order in range(order, MAX_ORDER):
            free_list = zone.free_area[current_order].free_list
            if free_list:
                break
        else:
            return None
        pfn = next(reversed(free_list))  # the most recently linked block: LIFO
        self._del_free_block(zone, pfn, current_order)
        # expand(): the upper half of each split goes back on the list one order down.
        while current_order > order:
            current_order -= 1
            self._add_free_block(zone, pfn + (1 << current_order), current_order)
        if order:
            self.buddy_order[pfn + 1 : pfn + (1 << order)] = _NOT_FREE
        zone.nr_allocated_pages += 1 << order
        return Pfn(pfn)

    def allocate_pages_bulk(self, zone: Zone, nr_pages: int) -> npt.NDArray[np.int64]:
        """rmqueue_bulk: up to *nr_pages* order-0 pages from *zone*, watermarks ignored.

        The result (and the free lists left behind) are exactly those of as many
        allocate_pages(zone, 0) calls in a row, only without splitting a block page by page:
        once the order-0 list is empty, __rmqueue_smallest splits the smallest block and
        then hands out its pages from the head upwards, so a block taken whole is a run
        of consecutive frames, and a block taken in part leaves the naturally aligned
        pieces of its tail on the (empty) lower lists, as expand() would have.

        Returns:
            The pfns in allocation order; shorter than *nr_pages* when the zone runs out.
        """
        if nr_pages < 0:
            raise KernelBug(f"bulk allocation of {nr_pages} pages")
        runs: list[npt.NDArray[np.int64]] = []
        singles: list[int] = []
        taken = 0
        free_area = zone.free_area
        while taken < nr_pages:
            order0 = free_area[0].free_list
            if order0:
                pfn = next(reversed(order0))
                self._del_free_block(zone, pfn, 0)
                singles.append(pfn)
                taken += 1
                continue
            for order in range(1, MAX_ORDER):
                if free_area[order].free_list:
                    break
            else:
                break  # the zone is empty
            if singles:
                runs.append(np.array(singles, dtype=np.int64))
                singles = []
            head = next(reversed(free_area[order].free_list))
            self._del_free_block(zone, head, order)
            want = min(1 << order, nr_pages - taken)
            runs.append(np.arange(head, head + want, dtype=np.int64))
            self.buddy_order[head + 1 : head + want] = _NOT_FREE
            for pfn, piece_order in _aligned_blocks(head + want, head + (1 << order)):
                self._add_free_block(zone, pfn, piece_order)
            taken += want
        if singles:
            runs.append(np.array(singles, dtype=np.int64))
        zone.nr_allocated_pages += taken
        if not runs:
            return np.zeros(0, dtype=np.int64)
        return runs[0] if len(runs) == 1 else np.concatenate(runs)

    def free_pages(self, pfn: int, order: int) -> None:
        """__free_one_page: return a block, merging with its buddy while the buddy is free.

        The frames' descriptors are blanked (flags, private) as free_pages_prepare does.

        Raises:
            KernelBug: the block is unaligned, outside RAM, reserved,
                is (partly) free already, or a page is still mapped or in use (bad_page).
        """
        if not 0 <= pfn < self.physmem.nr_frames:
            raise KernelBug(f"freeing pfn {pfn} order {order} outside RAM")
        zone = self.zone_of(pfn)
        self._free_pages_prepare(zone, pfn, order)
        self._free_one_page(zone, pfn, order)

    def _free_pages_prepare(self, zone: Zone, pfn: int, order: int) -> None:
        """free_pages_prepare: check the block (bad_page, double free) and blank its frames'
        descriptors; it stops counting as allocated.

        The checks are Linux's, a few flag and counter tests per frame (PageBuddy and
        page_ref_count are buddy_order's state, the rest page->flags and _mapcount); the
        free lists are never searched (check_invariants does that).
        """
        physmem = self.physmem
        if order == 0:  # the common case: scalar reads are several times faster than slices
            if (
                self.buddy_order.item(pfn) != _NOT_FREE
                or physmem.flags.item(pfn) & _CHECK_AT_FREE
                or physmem.mapcount.item(pfn)
            ):
                self._bad_free(pfn, 0)
            physmem.flags[pfn] = 0
            physmem.private[pfn] = 0
            physmem.pristine[pfn] = False
            zone.nr_allocated_pages -= 1
            return
        if not 0 <= order < MAX_ORDER:
            raise KernelBug(f"order {order} outside 0..{MAX_ORDER - 1}")
        nr_pages = 1 << order
        if pfn & (nr_pages - 1):
            raise KernelBug(f"freeing unaligned block pfn {pfn} order {order}")
        if not 0 <= pfn <= physmem.nr_frames - nr_pages:
            raise KernelBug(f"freeing pfn {pfn} order {order} outside RAM")
        end = pfn + nr_pages
        if (
            np.any(self.buddy_order[pfn:end] != _NOT_FREE)
            or np.any(physmem.flags[pfn:end] & np.uint32(_CHECK_AT_FREE))
            or np.any(physmem.mapcount[pfn:end])
        ):
            self._bad_free(pfn, order)
        physmem.flags[pfn:end] = 0
        physmem.private[pfn:end] = 0
        physmem.pristine[pfn:end] = False
        self.buddy_order[pfn + 1 : end] = _FREE_TAIL  # the head's state is the caller's
        zone.nr_allocated_pages -= nr_pages

    def _bad_free(self, pfn: int, order: int) -> NoReturn:
        """bad_page: say what is wrong with freeing [pfn, pfn + 2**order), which the checks
        of _free_pages_prepare refused.

        Raises:
            KernelBug: always; reserved first, then a double free, a mapped page, flags.
        """
        physmem = self.physmem
        end = pfn + (1 << order)
        page_flags = int(np.bitwise_or.reduce(physmem.flags[pfn:end]))
        if page_flags & _RESERVED_BIT:
            raise KernelBug(f"freeing reserved pfn in block {pfn} order {order}")
        # Any frame of the block free already: on a buddy or per-cpu list, or inside a block
        # that is (its buddy_order says so, and BUDDY marks the free heads).
        if page_flags & _BUDDY_BIT or np.any(self.buddy_order[pfn:end] != _NOT_FREE):
            raise KernelBug(f"double free of pfn {pfn} order {order}")
        if np.any(physmem.mapcount[pfn:end]):
            raise KernelBug(f"bad page: freeing pfn {pfn} order {order} while it is mapped")
        bad_flags = page_flags & _BAD_FLAGS_AT_FREE
        raise KernelBug(f"bad page: freeing pfn {pfn} with flags {PageFlag(bad_flags)!r}")

    def _free_one_page(self, zone: Zone, pfn: int, order: int) -> None:
        """__free_one_page: link a checked block, merging with its buddy while the buddy is
        free. Zone boundaries may fall inside a 2**10 block, so a buddy outside the zone
        is never merged.

        The hot half of every free, so _del_free_block and _add_free_block are inlined: a
        free head's flags are BUDDY alone and a freed frame's none (check_invariants), so
        they are written, not read and masked.
        """
        buddy_order = self.buddy_order
        state_of = buddy_order.item
        flags = self.physmem.flags
        free_area = zone.free_area
        start_pfn, end_pfn = zone.start_pfn, zone.end_pfn
        zone.nr_free_pages += 1 << order  # merging moves pages between lists, adds none
        while order < MAX_ORDER - 1:
            buddy = pfn ^ (1 << order)
            if not start_pfn <= buddy < end_pfn or state_of(buddy) != order:
                break
            del free_area[order].free_list[buddy]
            flags[buddy] = 0
            # The higher of the two heads is inside the merged block now.
            if buddy > pfn:
                buddy_order[buddy] = _FREE_TAIL
            else:
                buddy_order[pfn] = _FREE_TAIL
                pfn = buddy
            order += 1
        free_area[order].free_list[pfn] = None
        buddy_order[pfn] = order
        flags[pfn] = _BUDDY_BIT

    def get_page_from_freelist(self, gfp: Gfp, order: int, level: WatermarkLevel) -> Pfn | None:
        """Walk the zonelist of *gfp*; take from the first zone whose watermark allows it.

        A zone under its mark (plus its lowmem_reserve for the classzone of *gfp*) is simply
        skipped for the next one. No reclaim here: the caller (vmscan) wakes kswapd,
        reclaims and retries.

        Returns:
            The first pfn of the block, or None when no zone of the zonelist qualifies.
        """
        harder = gfp is Gfp.ATOMIC
        zonelist = ZONELIST[gfp]
        classzone = zonelist[0]
        for zone_type in zonelist:
            zone = self.zones[zone_type]
            if zone.is_empty or not zone.watermark_ok(
                order, level, classzone=classzone, harder=harder
            ):
                continue
            pfn = self.rmqueue(zone, order)
            if pfn is not None:
                return pfn
        return None

    def get_pages_bulk_from_freelist(
        self, gfp: Gfp, nr_pages: int, level: WatermarkLevel
    ) -> list[tuple[Zone, npt.NDArray[np.int64]]]:
        """__alloc_pages_bulk: up to *nr_pages* order-0 pages for *gfp*, the same frames as
        that many get_page_from_freelist(gfp, 0, level) calls in a row would give.

        Taking a page only lowers its own zone's free count, so a zone the watermark check
        refuses stays refused for the rest of the batch: the single-page walk would take
        order0_pages_allowed pages from the first eligible zone of the zonelist, then move
        on to the next. Unlike Linux's bulk allocator (which tries one zone and leaves the
        rest to the single-page path), the whole zonelist is used, since the single-page
        path would do that too. Fewer pages than asked means the next single allocation
        needs the slow path (kswapd, reclaim).

        Returns:
            (zone, pfns) per zone used, in zonelist order.
        """
        harder = gfp is Gfp.ATOMIC
        zonelist = ZONELIST[gfp]
        classzone = zonelist[0]
        result = []
        for zone_type in zonelist:
            if nr_pages <= 0:
                break
            zone = self.zones[zone_type]
            if zone.is_empty:
                continue
            mark = self._order0_mark(zone, level, classzone, harder)
            pfns = self._rmqueue_order0_many(zone, mark, nr_pages)
            if len(pfns):
                result.append((zone, pfns))
                nr_pages -= len(pfns)
        return result

    def bulk_pages_allowed(self, gfp: Gfp, level: WatermarkLevel) -> int:
        """How many order-0 pages get_pages_bulk_from_freelist(gfp, ..., level) could give now."""
        harder = gfp is Gfp.ATOMIC
        zonelist = ZONELIST[gfp]
        allowed = 0
        for zone_type in zonelist:
            zone = self.zones[zone_type]
            if not zone.is_empty:
                mark = self._order0_mark(zone, level, zonelist[0], harder)
                from_list, _refilled, from_refill = self._order0_plan(zone, mark, None)
                allowed += from_list + from_refill
        return allowed

    @staticmethod
    def _order0_mark(zone: Zone, level: WatermarkLevel, classzone: ZoneType, harder: bool) -> int:
        """The free pages an order-0 allocation at *level* must find above (NONE: any)."""
        if level is WatermarkLevel.NONE:
            return 0
        return zone.effective_mark(level, classzone=classzone, harder=harder)

    # ---- queries -------------------------------------------------------------------------------
    def zone_of(self, pfn: int) -> Zone:
        """The zone holding frame *pfn* (page_zone)."""
        # From the top: user pages, the most freed, are in HighMem. The zones follow each
        # other, so the first that starts at or below pfn is the only one that may hold it.
        for zone in reversed(self.zones):
            if zone.start_pfn <= pfn:
                if pfn < zone.end_pfn:
                    return zone
                break
        raise KernelBug(f"pfn {pfn} is in no zone")

    def totalreserve_pages(self) -> int:
        """calculate_totalreserve_pages: per zone its high mark plus its largest lowmem_reserve,
        at most its managed pages; what MemAvailable keeps back."""
        return sum(
            min(zone.managed_pages, zone.watermark_high + max(zone.lowmem_reserve))
            for zone in self.zones
        )

    def nr_free_pages(self) -> int:
        """Free pages in all zones."""
        return sum(zone.nr_free_pages for zone in self.zones)

    def nr_managed_pages(self) -> int:
        """Pages handed to the buddy allocator at boot (MemTotal)."""
        return sum(zone.managed_pages for zone in self.zones)

    def nr_reserved_pages(self) -> int:
        """Pages kept out of the buddy allocator by the boot reservations."""
        return sum(zone.nr_reserved_pages for zone in self.zones)

    def buddyinfo(self) -> str:
        """/proc/buddyinfo: free blocks per order, one line per populated zone."""
        lines = []
        for zone in self.zones:
            if zone.present_pages == 0:  # populated_zone()
                continue
            counts = "".join(f"{area.nr_free:6d} " for area in zone.free_area)
            lines.append(f"Node 0, zone {zone.name:>8s} {counts}")
        return "\n".join(lines) + "\n"

    def check_invariants(self) -> None:
        """Raise KernelBug unless free lists, buddy_order, page flags and counters agree.

        Checks: each zone's counter equals the pages on its lists; every free head is
        aligned, inside its zone, flagged BUDDY (and nothing else) and recorded in
        buddy_order; no two free blocks (buddy or per-cpu) overlap; buddy_order marks
        exactly their other frames as inside one; no free frame is reserved, flagged or
        mapped; free + allocated + reserved = present in every zone.
        """
        nr_listed = 0
        for zone in self.zones:
            nr_listed += self._check_free_lists(zone)
            self._check_pcp_lists(zone)
            self._check_zone_accounting(zone)
        self._check_free_frames(nr_listed)

    def _check_free_lists(self, zone: Zone) -> int:
        """Every head on *zone*'s free lists is a marked, aligned, BUDDY block inside the zone,
        and the lists hold nr_free_pages; returns the number of blocks listed."""
        physmem, buddy_order = self.physmem, self.buddy_order
        nr_listed = nr_listed_pages = 0
        for order, area in enumerate(zone.free_area):
            for pfn in area.free_list:
                if buddy_order[pfn] != order:
                    raise KernelBug(f"free block {pfn} on order-{order} list is not marked so")
                if pfn & ((1 << order) - 1):
                    raise KernelBug(f"free block {pfn} is not aligned to order {order}")
                if pfn < zone.start_pfn or pfn + (1 << order) > zone.end_pfn:
                    raise KernelBug(f"free block {pfn} order {order} is outside {zone.name}")
                if int(physmem.flags[pfn]) != PageFlag.BUDDY:
                    raise KernelBug(f"free block {pfn} has flags {int(physmem.flags[pfn]):#x}")
                nr_listed_pages += 1 << order
            nr_listed += area.nr_free
        if nr_listed_pages != zone.nr_free_pages:
            raise KernelBug(
                f"zone {zone.name}: lists hold {nr_listed_pages} pages, "
                f"nr_free_pages says {zone.nr_free_pages}"
            )
        return nr_listed

    def _check_pcp_lists(self, zone: Zone) -> None:
        """Every page on a CPU's list of *zone* is in the zone and marked as on a list, and
        each list's count is the pages it holds."""
        for cpu, pcp in enumerate(zone.per_cpu_pageset):
            on_lists = 0
            for order, pages in enumerate(pcp.lists):
                for pfn in pages:
                    if self.buddy_order[pfn] != _ON_PCP or not zone.contains(pfn):
                        raise KernelBug(f"pfn {pfn} on cpu {cpu}'s {zone.name} list is not")
                on_lists += len(pages) << order
            if on_lists != pcp.count:
                raise KernelBug(
                    f"zone {zone.name} cpu {cpu}: lists hold {on_lists}, count {pcp.count}"
                )

    def _check_zone_accounting(self, zone: Zone) -> None:
        """free + per-cpu + allocated + reserved = present, and PG_reserved marks exactly the
        reserved frames and the holes of the zone's span."""
        accounted = (
            zone.nr_free_pages
            + zone.nr_pcp_pages
            + zone.nr_allocated_pages
            + zone.nr_reserved_pages
        )
        if accounted != zone.present_pages or zone.nr_allocated_pages < 0:
            raise KernelBug(
                f"zone {zone.name}: free {zone.nr_free_pages} + per-cpu "
                f"{zone.nr_pcp_pages} + allocated {zone.nr_allocated_pages} + reserved "
                f"{zone.nr_reserved_pages} != present {zone.present_pages}"
            )
        zone_flags = self.physmem.flags[zone.start_pfn : zone.end_pfn]
        nr_flagged = int(np.count_nonzero(zone_flags & np.uint32(PageFlag.RESERVED)))
        if nr_flagged != zone.nr_reserved_pages + zone.spanned_pages - zone.present_pages:
            raise KernelBug(f"zone {zone.name}: {nr_flagged} frames flagged reserved")

    def _check_free_frames(self, nr_listed: int) -> None:
        """Over all of RAM: buddy_order's heads and per-cpu marks are the listed blocks, the
        free blocks do not overlap, carry no flag and no mapping, and buddy_order marks
        exactly their other frames as inside one."""
        physmem, buddy_order = self.physmem, self.buddy_order
        pcp_heads: list[int] = []
        pcp_orders: list[int] = []
        for zone in self.zones:
            for pcp in zone.per_cpu_pageset:
                for order, pages in enumerate(pcp.lists):
                    pcp_heads.extend(pages)
                    pcp_orders.extend([order] * len(pages))
        is_pcp_head = buddy_order == _ON_PCP
        if int(np.count_nonzero(is_pcp_head)) != len(pcp_heads):
            raise KernelBug("frames marked as on a per-cpu list disagree with the lists")
        is_head = buddy_order >= 0
        heads = np.flatnonzero(is_head)
        if len(heads) != nr_listed:
            raise KernelBug(f"{len(heads)} frames marked as free heads, {nr_listed} listed")
        if not np.array_equal(is_head, (physmem.flags & np.uint32(_BUDDY_BIT)) != 0):
            raise KernelBug("BUDDY flags disagree with buddy_order")
        buddy_coverage = _coverage(physmem.nr_frames, heads, buddy_order[heads].astype(np.int64))
        pcp_coverage = _coverage(
            physmem.nr_frames,
            np.array(pcp_heads, dtype=np.int64),
            np.array(pcp_orders, dtype=np.int64),
        )
        coverage = buddy_coverage + pcp_coverage
        if int(coverage.max()) > 1:
            raise KernelBug(f"free blocks overlap at pfn {int(np.argmax(coverage > 1))}")
        is_free = buddy_coverage == 1
        if np.any(physmem.flags[is_free & ~is_head]):
            raise KernelBug("a free frame inside a block carries page flags")
        if np.any(physmem.flags[pcp_coverage == 1]):
            raise KernelBug("a frame on a per-cpu list carries page flags")
        if np.any(physmem.mapcount[coverage == 1]):
            raise KernelBug("a free frame is still mapped")
        inside = (coverage == 1) & ~is_head & ~is_pcp_head
        if not np.array_equal(inside, buddy_order == _FREE_TAIL):
            where = int(np.argmax(inside != (buddy_order == _FREE_TAIL)))
            raise KernelBug(f"buddy_order of pfn {where} disagrees with the free blocks")


def _coverage(
    nr_frames: int, heads: npt.NDArray[np.int64], orders: npt.NDArray[np.int64]
) -> npt.NDArray[np.int32]:
    """Per frame, how many of the blocks (*heads*, *orders*) hold it."""
    # +1 at each block's head, -1 one past its end, summed from the left.
    delta = np.zeros(nr_frames + 1, dtype=np.int32)
    np.add.at(delta, heads, 1)
    np.add.at(delta, heads + (np.int64(1) << orders), -1)
    return np.cumsum(delta[:-1], dtype=np.int32)


def _aligned_blocks(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut into maximal naturally aligned blocks: (pfn, order) pairs, ascending."""
    blocks = []
    pfn = start
    while pfn < end:
        alignment = (pfn & -pfn).bit_length() - 1 if pfn else MAX_ORDER - 1
        order = min(MAX_ORDER - 1, alignment, (end - pfn).bit_length() - 1)
        blocks.append((pfn, order))
        pfn += 1 << order
    return blocks


# __alloc_pages_slowpath(gfp, order, task): a pfn, or None when nothing could be freed.
SlowPath = Callable[[Gfp, int, "Task | None"], "int | None"]


class PglistData:
    """pglist_data: the node, as the allocation path sees it.

    The zones and their buddy lists (`allocator`), one zone->lock per zone, the vm_event
    counters the allocator feeds, the cost table, and the scheduler whose current thread
    pays for the work; `kswapd_classzone` is the highest zone kswapd was woken to balance
    (pgdat->kswapd_highest_zoneidx; None while it sleeps). `slowpath` is
    __alloc_pages_slowpath (kswapd, direct reclaim, the OOM killer): mm/vmscan registers it
    at boot, since reclaim calls the allocator's free path and so cannot be imported from
    here; without one, an allocation that fails at the low mark retries at min, then fails.
    """

    def __init__(
        self,
        allocator: PageAllocator,
        zone_locks: Sequence[SimLock],
        vm_events: VmEvents,
        sched: Scheduler,
    ) -> None:
        self.allocator = allocator
        self.physmem = allocator.physmem
        self.zone_locks = list(zone_locks)
        self.vm_events = vm_events
        self.sched = sched
        self.costs = sched.costs
        self.kswapd_classzone: ZoneType | None = None
        self.kswapd_slept_at_ns: int | None = None  # when kswapd last went to sleep balanced
        self.slowpath: SlowPath | None = None


def alloc_pages(
    pgdat: PglistData,
    gfp: Gfp,
    order: int,
    task: Task | None,
    *,
    may_reclaim: bool = True,
) -> int:
    """__alloc_pages: 2**order pages for *gfp*, following mm/page_alloc.c.

    Fast path: the first zone of the zonelist that passes zone_watermark_ok at the low mark
    plus its lowmem_reserve; a zone under it is skipped for the next one. Only when every
    eligible zone fails, the node's slow path (__alloc_pages_slowpath, mm/vmscan): wake
    kswapd (it runs after this call), retry at the min mark (GFP_ATOMIC a quarter lower and
    never more), then reclaim directly in the calling task (allocstall_<zone>) while that
    makes progress, then the OOM killer for orders up to PAGE_ALLOC_COSTLY_ORDER.
    *may_reclaim* False tries the free lists at low then min only (SLUB's first attempt at
    a costly order).

    Raises:
        OomKilled/ProcessKilled: the OOM killer chose *task* itself.
        OutOfMemory: nothing left to reclaim or kill, or a high-order block is missing.
    """
    allocator = pgdat.allocator
    pfn: int | None = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.LOW)
    if pfn is None and (not may_reclaim or pgdat.slowpath is None):
        pfn = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.MIN)
    elif pfn is None and pgdat.slowpath is not None:
        pfn = pgdat.slowpath(gfp, order, task)
    if pfn is None:
        raise OutOfMemory(
            f"no free block of order {order} ({PAGE_SIZE << order} bytes) for a {gfp.name} "
            "allocation and nothing to reclaim or kill"
        )
    count_allocation(pgdat, pfn, 1 << order)
    charge_zone_lock(pgdat, pfn, 1 << order)
    return pfn


def alloc_page(pgdat: PglistData, gfp: Gfp, task: Task | None) -> int:
    """alloc_page: one page, reclaiming or OOM-killing if needed (alloc_pages of order 0)."""
    return alloc_pages(pgdat, gfp, 0, task)


def charge_zone_lock(pgdat: PglistData, pfn: int, nr_pages: int) -> None:
    """Buddy work on *nr_pages* under the lock of pfn's zone (&zone->lock)."""
    zone = pgdat.allocator.zone_of(pfn).zone_type
    pgdat.zone_locks[zone].charge(pgdat.sched.current, pgdat.costs.page_alloc_ns * nr_pages)


def free_page(pgdat: PglistData, pfn: int, *, charge: bool = True) -> None:
    """free_page: an order-0 page back to the page allocator, through this CPU's list
    (free_unref_page; charge=False: the caller batches the zone-lock cost). Its flags (a
    user page's ANON, SWAPBACKED, UPTODATE) are cleared by free_pages_prepare."""
    allocator = pgdat.allocator
    zone = allocator.zone_of(pfn)
    classzone = pgdat.kswapd_classzone
    # ZONE_RECLAIM_ACTIVE: kswapd balances the zones up to the one it was woken for.
    reclaim_active = classzone is not None and zone.zone_type <= classzone
    allocator.free_unref_page_in(zone, pfn, 0, reclaim_active)
    pgdat.vm_events.pgfree += 1
    if charge:
        pgdat.zone_locks[zone.zone_type].charge(pgdat.sched.current, pgdat.costs.page_alloc_ns)


def free_page_list(
    pgdat: PglistData, pfns: Sequence[int] | npt.NDArray[np.integer], *, charge: bool = True
) -> None:
    """free_page for many order-0 pages at once (release_pages -> free_unref_page_list): the
    same lists, counters and pgfree as free_page on each in turn; charge=True charges each
    zone's lock once for its pages (charge=False: the caller batches the zone-lock cost).

    Raises:
        KernelBug: a page is in no zone, listed twice or fails free_pages_prepare's checks;
            nothing is freed then.
    """
    freed = pgdat.allocator.free_unref_page_list(pfns, reclaim_classzone=pgdat.kswapd_classzone)
    pgdat.vm_events.pgfree += sum(freed)
    if charge:
        for zone_type, nr_pages in enumerate(freed):
            if nr_pages:
                pgdat.zone_locks[zone_type].charge(
                    pgdat.sched.current, pgdat.costs.page_alloc_ns * nr_pages
                )


def count_allocation(pgdat: PglistData, pfn: int, nr_pages: int = 1) -> None:
    """pgalloc_<zone> accounting of *nr_pages* taken from pfn's zone."""
    zone = pgdat.allocator.zone_of(pfn).zone_type
    events = pgdat.vm_events
    if zone is ZoneType.DMA:
        events.pgalloc_dma += nr_pages
    elif zone is ZoneType.NORMAL:
        events.pgalloc_normal += nr_pages
    else:
        events.pgalloc_high += nr_pages
