"""The swap cache and swap-in readahead.

Models mm/swap_state.c: add_to_swap_cache / delete_from_swap_cache / lookup_swap_cache
(the swapper address space, here a dict from slot to frame kept by the device), and
swap_cluster_readahead, which reads the naturally aligned cluster of 2**page_cluster slots
around a faulting one (vm.page-cluster, default 3: 8 pages) so that a later fault on one of
them finds it in the swap cache: a minor fault, no I/O. Counted as Linux 6.1 counts it:
pswpin for every page read (readahead included), pgmajfault only for the fault that read,
swap_ra per page read ahead, swap_ra_hit when a fault finds a read-ahead page.

A page in the swap cache holds one reference on its slot (Linux's SWAP_HAS_CACHE), on top of
one per PTE holding the swap entry. A page read ahead is on the LRU (inactive) but mapped
by nobody: reclaim drops it without a write (it is clean), and when the last PTE naming its
slot goes away it is dropped too (free_swap_and_cache).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, Gfp
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.results import EventKind

from .page_alloc import WatermarkLevel, charge_zone_lock, count_allocation, free_page
from .physmem import PageFlag
from .policies import lru_cache_add, lru_cache_add_many
from .swap import SwapDevice, swp_entry, swp_offset
from .workingset import workingset_refault

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel

__all__ = [
    "PAGE_CLUSTER_MAX",
    "add_to_swap_cache",
    "delete_from_swap_cache",
    "drop_unmapped_swap_cache_page",
    "free_swap_and_cache",
    "lookup_swap_cache",
    "readahead_offsets",
    "swap_cluster_readahead",
]

PAGE_CLUSTER_MAX: Final = 5  # 32 pages: one SWAP_CLUSTER_MAX batch at most
# A page read ahead: swap-backed, valid, in the swap cache, not yet anybody's (PageReadahead).
_READAHEAD_PAGE_FLAGS: Final = int(
    PageFlag.SWAPBACKED | PageFlag.UPTODATE | PageFlag.SWAPCACHE | PageFlag.READAHEAD
)
_SWAPCACHE: Final = int(PageFlag.SWAPCACHE)


def add_to_swap_cache(kernel: Kernel, pfn: int, entry: int) -> None:
    """add_to_swap_cache: frame *pfn* now holds the page of swap *entry* (page->private)."""
    swap = kernel.swap_info.swp_swap_info(entry)
    offset = swp_offset(entry)
    if offset in swap.cache:
        raise KernelBug(f"slot {offset} is in the swap cache already")
    physmem = kernel.physmem
    physmem.flags[pfn] = physmem.flags.item(pfn) | _SWAPCACHE
    physmem.private[pfn] = entry
    swap.cache[offset] = pfn


def delete_from_swap_cache(kernel: Kernel, pfn: int) -> int:
    """delete_from_swap_cache: frame *pfn* leaves the swap cache; returns its swap entry.

    The slot's references are the caller's business (the cache's own is not dropped here).
    """
    physmem = kernel.physmem
    if not physmem.flags.item(pfn) & _SWAPCACHE:
        raise KernelBug(f"pfn {pfn} is not in the swap cache")
    entry = physmem.private.item(pfn)
    swap = kernel.swap_info.swp_swap_info(entry)
    offset = swp_offset(entry)
    if swap.cache.pop(offset, None) != pfn:
        raise KernelBug(f"the swap cache does not hold pfn {pfn} for slot {offset}")
    swap.cache_ready_ns.pop(offset, None)
    physmem.flags[pfn] = physmem.flags.item(pfn) & ~_SWAPCACHE
    physmem.private[pfn] = 0
    return int(entry)


def lookup_swap_cache(kernel: Kernel, entry: int) -> int | None:
    """lookup_swap_cache: the frame holding the page of swap *entry*, if one does. A page
    whose readahead is still in flight is waited for (lock_page: the read must complete)."""
    swap = kernel.swap_info.swp_swap_info(entry)
    offset = swp_offset(entry)
    pfn = swap.cache.get(offset)
    ready = swap.cache_ready_ns.pop(offset, None)
    if ready is not None:
        thread = kernel.current
        if ready > thread.now_ns:
            thread.times.iowait_ns += ready - thread.now_ns
            thread.now_ns = ready
    return pfn


def drop_unmapped_swap_cache_page(kernel: Kernel, pfn: int, *, charge: bool = True) -> None:
    """__remove_mapping of a clean swap-cache page nobody maps (a page read ahead): off the
    LRU and the swap cache, the cache's reference on the slot dropped, the frame freed."""
    if kernel.rmap.is_mapped(pfn):
        raise KernelBug(f"dropping pfn {pfn} from the swap cache while it is mapped")
    entry = delete_from_swap_cache(kernel, pfn)
    kernel.physmem.clear_flags(pfn, PageFlag.READAHEAD | PageFlag.DIRTY)
    kernel.swap_info.swap_free(entry)
    free_page(kernel.pgdat, pfn, charge=charge)


def free_swap_and_cache(kernel: Kernel, entry: int) -> None:
    """free_swap_and_cache: a PTE holding swap *entry* is gone; when only the swap cache
    still holds the slot and its page is mapped by nobody, the page goes too."""
    swap = kernel.swap_info.swp_swap_info(entry)
    offset = swp_offset(entry)
    if swap.free_slot(offset) == 1:
        pfn = swap.cache.get(offset)
        if pfn is not None and not kernel.rmap.is_mapped(pfn):
            kernel.lruvec.policy.remove(pfn)
            drop_unmapped_swap_cache_page(kernel, pfn)


def readahead_offsets(kernel: Kernel, swap: SwapDevice, offset: int) -> list[int]:
    """The other slots of area *swap*'s aligned cluster of 2**page_cluster around *offset*
    that can be read ahead: in use, written in their current generation, in no page of the
    swap cache. Empty when vm.page-cluster is 0."""
    page_cluster = kernel.vm_sysctl.page_cluster
    if page_cluster == 0:
        return []
    mask = (1 << page_cluster) - 1
    start = max(offset & ~mask, 1)  # slot 0 is the header
    end = min(offset | mask, swap.nr_slots - 1)
    swap_map, written, generation = swap.swap_map, swap.slot_written, swap.slot_generation
    return [
        other
        for other in range(start, end + 1)
        if other != offset
        and swap_map.item(other)
        and written.item(other) == generation.item(other)
        and other not in swap.cache
    ]


def swap_cluster_readahead(kernel: Kernel, pid: int, swap: SwapDevice, offsets: list[int]) -> int:
    """Read the slots *offsets* of area *swap* into new frames of the swap cache, mapped by nobody, after the
    faulting page's own read; returns how many were read.

    Frames come only from the allocator's fast path (readahead never reclaims, so it can
    never make the fault that asked for it slower than reading alone); a slot that fails
    its read or check is simply not cached (the fault that needs it reads it itself and
    meets the error then). The device gets one request per page, issued behind the
    faulting one: the faulting thread does not wait for them, a later fault on one of them
    waits for its completion (lookup_swap_cache).
    """
    if not offsets:
        return 0
    batches = kernel.allocator.get_pages_bulk_from_freelist(
        Gfp.HIGHUSER, len(offsets), WatermarkLevel.MIN
    )
    pfns: list[int] = []
    for _zone, zone_pfns in batches:
        count_allocation(kernel.pgdat, int(zone_pfns[0]), len(zone_pfns))
        charge_zone_lock(kernel.pgdat, int(zone_pfns[0]), len(zone_pfns))
        pfns.extend(zone_pfns.tolist())
    offsets = offsets[: len(pfns)]
    if not offsets:
        return 0
    physmem = kernel.physmem
    outcome = swap.read_slots_into(offsets, [physmem.frame_view(pfn) for pfn in pfns])
    now = kernel.current.now_ns
    submit, flags = swap.queue.submit, physmem.flags
    detailed = kernel.wants_event(EventKind.SWAP_IN)
    cached: list[int] = []
    activated: list[int] = []
    lruvec, events = kernel.lruvec, kernel.vm_events
    for offset, pfn, error in zip(offsets, pfns, outcome, strict=True):
        if error is not None:
            free_page(kernel.pgdat, pfn)
            continue
        ready = submit(now)
        add_to_swap_cache(kernel, pfn, swp_entry(swap.swap_type, offset))
        swap.cache_ready_ns[offset] = ready
        flags[pfn] = flags.item(pfn) | _READAHEAD_PAGE_FLAGS
        swap.duplicate(offset)  # the swap cache's reference
        if workingset_refault(lruvec, swap, offset, events):
            activated.append(pfn)
        else:
            cached.append(pfn)
        kernel.emit(
            EventKind.SWAP_IN, pid, None, pfn, f"slot {offset}, readahead" if detailed else ""
        )
    lru_cache_add_many(lruvec, cached)  # nothing else touched the LRU meanwhile
    for pfn in activated:
        lru_cache_add(lruvec, pfn, active=True)
    read = len(cached) + len(activated)
    if read:
        events.pswpin += read
        events.pgpgin += read * (PAGE_SIZE // 1024)
        events.swap_ra += read
    return read
