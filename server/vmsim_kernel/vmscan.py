"""Page reclaim: kswapd balancing, direct reclaim and pageout to swap.

Models mm/vmscan.c (shrink_page_list, pageout, kswapd/balance_pgdat, try_to_free_pages),
mm/page_alloc.c's slow path (__alloc_pages_slowpath: wake kswapd, direct reclaim, OOM)
and mm/swap_state.c (a clean page still in the swap cache is dropped without a write).
Which page to evict is the replacement policy's choice (policies.py).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Final

from .constants import PAGE_SIZE, Gfp
from .errors import KernelBug, OutOfMemory, SwapIoError
from .page_alloc import WatermarkLevel
from .physmem import PageFlag
from .printk import LogLevel
from .results import EventKind
from .swap import swp_entry, swp_offset

if TYPE_CHECKING:
    from .machine import Machine
    from .process import Task

__all__ = ["PageoutResult", "allocate_page", "kswapd_balance", "shrink_pages"]

SWAP_CLUSTER_MAX: Final = 32  # pages direct reclaim tries to free per round
MAX_RECLAIM_RETRIES: Final = 16
MAX_OOM_KILLS_PER_ALLOCATION: Final = 8
# A failing device is not hammered: a pass gives up on swap after this many write errors.
MAX_WRITE_ERRORS_PER_PASS: Final = 8


class PageoutResult(Enum):
    """What reclaim did with one victim page."""

    KEEP = "keep"  # could not be evicted (no swap space): back on the list
    SUCCESS = "success"  # written to swap, unmapped and freed
    CLEAN = "clean"  # unchanged copy already in swap: unmapped and freed without a write
    WRITE_ERROR = "write_error"  # the swap write failed: kept resident and dirty, slot freed


def pageout(machine: Machine, pfn: int) -> PageoutResult:
    """Evict one mapped anonymous page to swap and free its frame."""
    physmem = machine.physmem
    rmap = machine.rmap
    mappings = rmap.mappings(pfn)
    if not mappings:
        raise KernelBug(f"reclaim picked pfn {pfn}, which nothing maps")
    swap = machine.swap
    in_swap_cache = physmem.test_flags(pfn, PageFlag.SWAPCACHE)
    dirty = rmap.test_and_clear_dirty(pfn) or physmem.test_flags(pfn, PageFlag.DIRTY)
    result = PageoutResult.CLEAN
    if in_swap_cache and not dirty:
        entry = int(physmem.private[pfn])
    else:
        if swap is None:
            return PageoutResult.KEEP
        if in_swap_cache:
            offset = swp_offset(int(physmem.private[pfn]))
        else:
            with machine.holding(machine.swap_lock) as thread:
                thread.run(machine.costs.page_alloc_ns)
                slot = swap.alloc_slot()
            if slot is None:
                return PageoutResult.KEEP
            offset = slot
        # Writeback is asynchronous: the device gets busier, the reclaiming thread goes on.
        machine.swap_queue.submit(machine.current.now_ns)
        try:
            swap.write_slot(offset, physmem.frame_view(pfn))
        except SwapIoError as error:
            return _write_error(machine, pfn, offset, in_swap_cache, error)
        machine.vm_events.pswpout += 1
        machine.vm_events.pgpgout += PAGE_SIZE // 1024
        entry = swp_entry(swap.swap_type, offset)
        result = PageoutResult.SUCCESS
    assert swap is not None
    # The slot's count: one per PTE that will hold the entry; the swap cache's own
    # reference (or the fresh allocation's) becomes the first of them.
    for _ in range(len(mappings) - 1):
        swap.duplicate(swp_offset(entry))
    for mapping in mappings:
        machine.ram_words[mapping.pte_word] = entry
        rmap.remove(pfn, mapping.mm, mapping.address)
        mapping.mm.rss_anon -= 1
        mapping.mm.swap_entries += 1
    first = mappings[0]
    owner = machine.pid_of_mm(first.mm)
    machine.emit(
        EventKind.SWAP_OUT, owner, first.address, pfn, f"slot {swp_offset(entry)} {result.value}"
    )
    physmem.clear_flags(pfn, PageFlag.SWAPCACHE | PageFlag.DIRTY)
    physmem.private[pfn] = 0
    machine.free_page(pfn)
    return result


def _write_error(
    machine: Machine, pfn: int, offset: int, in_swap_cache: bool, error: SwapIoError
) -> PageoutResult:
    """end_swap_bio_write with an error: the page stays mapped and dirty, its slot is freed.

    Nothing was unmapped yet, so every PTE still points at the frame; only the dirty bit
    that page_referenced cleared moves to the page flag.
    """
    assert machine.swap is not None
    physmem = machine.physmem
    physmem.set_flags(pfn, PageFlag.DIRTY)
    if in_swap_cache:  # the swap cache held the slot: it lets go of it
        physmem.clear_flags(pfn, PageFlag.SWAPCACHE)
        physmem.private[pfn] = 0
    machine.swap.free_slot(offset)
    machine.printk_ratelimited(LogLevel.ERR, error.message)
    return PageoutResult.WRITE_ERROR


def shrink_pages(machine: Machine, nr_to_reclaim: int, *, direct: bool) -> int:
    """Evict up to *nr_to_reclaim* pages chosen by the policy; return how many were freed.

    Direct reclaim runs on the allocating thread's clock; background reclaim on kswapd's,
    which wakes no earlier than the thread that woke it.
    """
    if direct:
        return _shrink(machine, nr_to_reclaim, direct=True)
    kswapd, woken_by = machine.kswapd, machine.current
    kswapd.now_ns = max(kswapd.now_ns, woken_by.now_ns)
    machine.current = kswapd
    try:
        return _shrink(machine, nr_to_reclaim, direct=False)
    finally:
        machine.current = woken_by


def _shrink(machine: Machine, nr_to_reclaim: int, *, direct: bool) -> int:
    policy = machine.policy
    events = machine.vm_events
    reclaimed = 0
    scanned = 0
    write_errors = 0
    budget = len(policy) + SWAP_CLUSTER_MAX
    while reclaimed < nr_to_reclaim and budget > 0:
        budget -= 1
        pfn = policy.choose_victim(machine.rmap.page_referenced)
        if pfn is None:
            break
        scanned += 1
        result = pageout(machine, pfn)
        if result is PageoutResult.KEEP:
            policy.insert(pfn)
            break  # no swap space: no anonymous page can be reclaimed now
        if result is PageoutResult.WRITE_ERROR:
            policy.insert(pfn)  # back on the list, as activate_page after a failed write
            write_errors += 1
            if write_errors >= MAX_WRITE_ERRORS_PER_PASS:
                break
            continue  # reclaim moves on to the next victim
        reclaimed += 1
    machine.charge_lru_lock(scanned, machine.costs.reclaim_scan_ns)
    if direct:
        events.pgscan_direct += scanned
        events.pgsteal_direct += reclaimed
    else:
        events.pgscan_kswapd += scanned
        events.pgsteal_kswapd += reclaimed
    return reclaimed


def kswapd_balance(machine: Machine) -> int:
    """What kswapd does when woken: reclaim until every zone is above its high watermark."""
    machine.vm_events.kswapd_wakeups += 1
    # Per-node LRU (Linux 4.8+): one list for all zones, so the pages freed may lie in any
    # zone; only zones under their low mark ask for work, which bounds a pass.
    shortfall = sum(
        zone.watermark_high - zone.nr_free_pages
        for zone in machine.allocator.zones
        if zone.managed_pages and not zone.watermark_ok(0, WatermarkLevel.LOW)
    )
    return shrink_pages(machine, shortfall, direct=False) if shortfall else 0


def allocate_page(machine: Machine, gfp: Gfp, task: Task | None) -> int:
    """One page for *gfp*, reclaiming and OOM-killing as __alloc_pages_slowpath does.

    Raises:
        OomKilled/ProcessKilled: the OOM killer chose *task* itself.
        OutOfMemory: nothing left to reclaim or kill.
    """
    allocator = machine.allocator
    pfn = allocator.get_page_from_freelist(gfp, 0, WatermarkLevel.LOW)
    if pfn is None and gfp is not Gfp.ATOMIC:
        kswapd_balance(machine)
        pfn = allocator.get_page_from_freelist(gfp, 0, WatermarkLevel.MIN)
        kills = 0
        while pfn is None:
            for _ in range(MAX_RECLAIM_RETRIES):
                machine.vm_events.allocstall += 1
                progress = shrink_pages(machine, SWAP_CLUSTER_MAX, direct=True)
                pfn = allocator.get_page_from_freelist(gfp, 0, WatermarkLevel.MIN)
                if pfn is not None or not progress:
                    break
            if pfn is not None:
                break
            if kills >= MAX_OOM_KILLS_PER_ALLOCATION or not machine.out_of_memory(task, gfp):
                raise OutOfMemory(
                    f"no free page for a {gfp.name} allocation and nothing to reclaim or kill"
                )
            kills += 1
            if task is not None and not task.alive:
                raise machine.dead(task)
            pfn = allocator.get_page_from_freelist(gfp, 0, WatermarkLevel.MIN)
    elif pfn is None:
        pfn = allocator.get_page_from_freelist(gfp, 0, WatermarkLevel.MIN)
        if pfn is None:
            raise OutOfMemory("no free page for a GFP_ATOMIC allocation")
    machine.count_allocation(pfn)
    zone = allocator.zone_of(pfn)
    if not zone.watermark_ok(0, WatermarkLevel.LOW):
        kswapd_balance(machine)
    return pfn
