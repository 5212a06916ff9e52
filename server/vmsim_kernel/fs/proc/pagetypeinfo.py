"""/proc/pagetypeinfo: free blocks per zone, migratetype and order, and pageblocks per type.

Models mm/vmstat.c (pagetypeinfo_show). What is modelled: the buddy allocator here keeps one
free list per order, not one per migratetype, so a pageblock's type is derived from what it
holds now. A pageblock holding an unmovable kernel allocation made at run time (a page
directory or table, a slab, a vmalloc or large-kmalloc page) is Unmovable, as the allocation that first took a
page of a Movable block for the kernel claims the whole block (steal_suitable_fallback); every
other pageblock keeps the Movable type memmap_init gives them all at boot, boot reservations
included. Free blocks are listed under their pageblock's type. Linux keeps a claimed block's
type after the kernel frees its pages; here it turns Movable again. No Reclaimable,
HighAtomic or Isolate blocks arise: nothing here allocates reclaimable kernel memory,
high-order atomic reserves or isolates pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import MAX_ORDER, PAGE_SHIFT, PGDIR_SHIFT
from vmsim_kernel.mm.physmem import PageFlag

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.mm.page_alloc import Zone

__all__ = [
    "MIGRATETYPE_NAMES",
    "PAGEBLOCK_ORDER",
    "MigrateType",
    "MigrateTypeCount",
    "ZonePageTypes",
    "format_pagetypeinfo",
    "pagetypeinfo",
]

# pageblock_order is HUGETLB_PAGE_ORDER: a huge page of non-PAE i386 is one 4 MiB PDE.
PAGEBLOCK_ORDER = PGDIR_SHIFT - PAGE_SHIFT
_PAGEBLOCK_PAGES = 1 << PAGEBLOCK_ORDER
# A free list longer than this prints as ">100000" (pagetypeinfo_showfree_print stops counting).
_FREECOUNT_CAP = 100_000
# Kernel allocations that cannot be moved: they make their pageblock Unmovable.
_UNMOVABLE_FLAGS = PageFlag.PAGETABLE | PageFlag.SLAB | PageFlag.VMALLOC | PageFlag.KMALLOC


class MigrateType(IntEnum):
    """The migratetypes of a 6.1 kernel without CMA, in migratetype_names' order."""

    UNMOVABLE = 0  # kernel memory that stays where it is (page tables, slab)
    MOVABLE = 1  # user pages, which compaction could move
    RECLAIMABLE = 2  # kernel memory a shrinker can free (dentries, inodes)
    HIGHATOMIC = 3  # the reserve kept for high-order atomic allocations
    ISOLATE = 4  # blocks taken off the allocator for migration or memory offlining


MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")


@dataclass(frozen=True)
class MigrateTypeCount:
    """The free blocks and the pageblocks of one migratetype in one zone.

    Attributes:
        migratetype: its name in /proc/pagetypeinfo ("Unmovable", "Movable" ...).
        nr_free: free blocks of each order 0..10 on its free lists.
        nr_blocks: pageblocks of this type.
    """

    migratetype: str
    nr_free: tuple[int, ...]
    nr_blocks: int


@dataclass(frozen=True)
class ZonePageTypes:
    """One populated zone of /proc/pagetypeinfo: its name and every MigrateType in order."""

    zone: str
    migratetypes: tuple[MigrateTypeCount, ...]


def _pageblock_types(kernel: Kernel, zone: Zone) -> npt.NDArray[np.uint8]:
    """The MigrateType of every pageblock the zone touches, indexed by pfn >> PAGEBLOCK_ORDER
    minus the first one's."""
    first_block = zone.start_pfn >> PAGEBLOCK_ORDER
    last_block = (zone.end_pfn - 1) >> PAGEBLOCK_ORDER
    flags = kernel.physmem.flags[first_block << PAGEBLOCK_ORDER : zone.end_pfn]
    unmovable = (flags & np.uint32(_UNMOVABLE_FLAGS)) != 0
    for task in kernel.tasks.values():  # page directories carry no PageFlag.PAGETABLE
        offset = task.mm.pgd_pfn - (first_block << PAGEBLOCK_ORDER)
        if task.alive and 0 <= offset < len(unmovable):
            unmovable[offset] = True
    padded = np.zeros((last_block - first_block + 1) * _PAGEBLOCK_PAGES, dtype=np.bool_)
    padded[: len(unmovable)] = unmovable
    padded[: zone.start_pfn - (first_block << PAGEBLOCK_ORDER)] = (
        False  # frames of the block that belong to the zone below
    )
    holds_unmovable = padded.reshape(-1, _PAGEBLOCK_PAGES).any(axis=1)
    return np.where(holds_unmovable, MigrateType.UNMOVABLE, MigrateType.MOVABLE).astype(np.uint8)


def pagetypeinfo(kernel: Kernel) -> list[ZonePageTypes]:
    """Free blocks per migratetype and order, and pageblocks per type, of each populated zone."""
    result = []
    for zone in kernel.allocator.zones:
        if zone.present_pages == 0:  # walk_zones_in_node(assert_populated=true)
            continue
        types = _pageblock_types(kernel, zone)
        first_block = zone.start_pfn >> PAGEBLOCK_ORDER
        nr_free = [[0] * MAX_ORDER for _ in MigrateType]
        for order, area in enumerate(zone.free_area):
            for pfn in area.free_list:
                nr_free[types[(pfn >> PAGEBLOCK_ORDER) - first_block]][order] += 1
        # pagetypeinfo_showblockcount_print steps from zone_start_pfn by a pageblock.
        sampled = np.arange(zone.start_pfn, zone.end_pfn, _PAGEBLOCK_PAGES) >> PAGEBLOCK_ORDER
        nr_blocks = np.bincount(types[sampled - first_block], minlength=len(MigrateType))
        counts = tuple(
            MigrateTypeCount(MIGRATETYPE_NAMES[mtype], tuple(nr_free[mtype]), int(nr_blocks[mtype]))
            for mtype in MigrateType
        )
        result.append(ZonePageTypes(zone.name, counts))
    return result


def _freecount(count: int) -> str:
    return f">{_FREECOUNT_CAP:6d} " if count >= _FREECOUNT_CAP else f"{count:6d} "


def format_pagetypeinfo(kernel: Kernel) -> str:
    """/proc/pagetypeinfo text, as pagetypeinfo_show prints it (node 0 only; no page_owner,
    so no mixed-block counts)."""
    zones = pagetypeinfo(kernel)
    orders = "".join(f"{order:6d} " for order in range(MAX_ORDER))
    lines = [
        f"Page block order: {PAGEBLOCK_ORDER}",
        f"Pages per block:  {_PAGEBLOCK_PAGES}",
        "",
        f"{'Free pages count per migrate type at order':<43} {orders}",
    ]
    for info in zones:
        for count in info.migratetypes:
            free = "".join(_freecount(n) for n in count.nr_free)
            lines.append(f"Node {0:4d}, zone {info.zone:>8}, type {count.migratetype:>12} {free}")
    lines.append("")
    names = "".join(f"{name:>12} " for name in MIGRATETYPE_NAMES)
    lines.append(f"{'Number of blocks type ':<23}{names}")
    for info in zones:
        blocks = "".join(f"{count.nr_blocks:12d} " for count in info.migratetypes)
        lines.append(f"Node 0, zone {info.zone:>8} {blocks}")
    return "\n".join(lines) + "\n"
