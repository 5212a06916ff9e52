"""Page reclaim: kswapd balancing, direct reclaim and pageout to swap.

Models mm/vmscan.c (shrink_page_list, pageout, wakeup_kswapd, kswapd/balance_pgdat,
pgdat_balanced, try_to_free_pages), mm/page_alloc.c's __alloc_pages_slowpath (wake kswapd,
retry at min, direct reclaim, OOM: page_alloc's fast path calls it through the node's hook)
and mm/swap_state.c (a clean page still in the swap cache is dropped without a write).
Which page to evict is the replacement policy's choice (policies.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, ZONELIST, Gfp, ZoneType
from vmsim_kernel.errors import KernelBug, SwapIoError
from vmsim_kernel.kernel import exit as task_exit
from vmsim_kernel.kernel.printk import LogLevel
from vmsim_kernel.results import EventKind

from . import oom_kill
from .page_alloc import (
    PAGE_ALLOC_COSTLY_ORDER,
    PglistData,
    WatermarkLevel,
    charge_zone_lock,
    free_page,
)
from .page_writeback import write_pages
from .physmem import PageFlag
from .policies import (
    Lruvec,
    PagePolicy,
    ReferencedFn,
    charge_lru_lock,
    lru_note_cost,
    page_is_lazyfree,
)
from .rmap import Mapping
from .shmem import shmem_writeout
from .swap import swp_entry, swp_offset, swp_type
from .swap_state import delete_from_swap_cache, drop_unmapped_swap_cache_page
from .truncate import account_page_dirtied, delete_from_page_cache
from .workingset import workingset_eviction, workingset_eviction_file

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

    from .swap import SwapDevice
    from .swapfile import SwapAreas

__all__ = [
    "PageoutResult",
    "ScanBalance",
    "ScanControl",
    "alloc_pages_slowpath",
    "can_reclaim_anon_pages",
    "get_scan_count",
    "kswapd_balance",
    "kswapd_run",
    "pgdat_balanced",
    "rotate_dirty_file_pages",
    "shrink_file_list",
    "shrink_lazyfree_page",
    "shrink_lruvec",
    "shrink_page_list",
    "shrink_pages",
    "wakeup_kswapd",
]

SWAP_CLUSTER_MAX: Final = 32  # pages direct reclaim tries to free per round
DEF_PRIORITY: Final = 12  # the first reclaim pass scans 1/4096 of each list
MAX_RECLAIM_RETRIES: Final = 16
MAX_OOM_KILLS_PER_ALLOCATION: Final = 8
_SWAPCACHE_BIT: Final = int(PageFlag.SWAPCACHE)
_DIRTY_BIT: Final = int(PageFlag.DIRTY)
_ANON_BIT: Final = int(PageFlag.ANON)
_SWAPBACKED_BIT: Final = int(PageFlag.SWAPBACKED)
# A failing device is not hammered: a pass gives up on swap after this many write errors.
MAX_WRITE_ERRORS_PER_PASS: Final = 8


class PageoutResult(Enum):
    """What reclaim did with one victim page."""

    KEEP = "keep"  # could not be evicted (no swap space): back on the list
    SUCCESS = "success"  # written to swap, unmapped and freed
    CLEAN = "clean"  # unchanged copy already in swap: unmapped and freed without a write
    WRITE_ERROR = "write_error"  # the swap write failed: kept resident and dirty, slot freed
    NOT_TRIED = "not_tried"  # its batch gave up on a failing device first: kept, dirty


@dataclass
class _Victim:
    """One page of a reclaim batch between choosing its slot and finishing it."""

    pfn: int
    mappings: list[Mapping]
    in_swap_cache: bool
    entry: int = 0  # the swap entry its PTEs get
    # the slot (in the area entry names) it is written to, if it needs a write
    write_offset: int | None = None
    result: PageoutResult = PageoutResult.CLEAN


def pageout(kernel: Kernel, pfn: int) -> PageoutResult:
    """Evict one mapped anonymous page to swap and free its frame."""
    return shrink_page_list(kernel, [pfn])[0]


def shrink_page_list(
    kernel: Kernel, pfns: list[int], max_errors: int | None = None
) -> list[PageoutResult]:
    """shrink_page_list + swap_writepage for a batch of victims: evict them to swap in
    order, the dirty ones written with one vectored request per run of slots.

    Everything but the write happens page by page as for a single victim, in the same order
    with the same simulated costs: the slot (under the device's si->lock), the device request, and the
    zone-lock work of freeing the frame, charged when the write is issued (it follows
    unless the write fails). A failed write keeps its page resident and dirty and frees its
    slot (WRITE_ERROR); after *max_errors* failures the pages not yet written are kept the
    same way, without a write (NOT_TRIED). Without swap space a page is KEEP, and so is
    the rest of the batch.

    When no hold by anyone may lie ahead on si->lock and the zone locks (the usual case),
    the holds are not taken one by one: their moments are computed and recorded in bulk
    (SimLock.record_holds), which is what taking them would have recorded.
    """
    flags = kernel.physmem.flags
    rmap = kernel.rmap
    clock = _BatchClock(kernel)
    victims: list[_Victim] = []
    for pfn in pfns:
        mappings = rmap.mappings(pfn)
        in_swap_cache = bool(flags.item(pfn) & _SWAPCACHE_BIT)
        if not mappings and not in_swap_cache and pfn not in kernel.shmem.owner_of:
            raise KernelBug(f"reclaim picked pfn {pfn}, which nothing maps")
        victim = _Victim(pfn, mappings, in_swap_cache)
        victims.append(victim)
        if not _add_to_swap(kernel, victim, clock):
            victim.result = PageoutResult.KEEP
            break
        clock.free_page(pfn)  # free_page's share, see above
    clock.record()
    results = [PageoutResult.KEEP] * len(pfns)
    _write_victims(kernel, victims, max_errors)
    for index, victim in enumerate(victims):
        results[index] = victim.result
        if victim.result in (PageoutResult.SUCCESS, PageoutResult.CLEAN):
            _unmap_and_free(kernel, victim)
    return results


class _BatchClock:
    """The reclaiming thread's clock over a batch, and the lock holds it makes: taken one by
    one, or (when no one else's hold may lie ahead: in_bulk) recorded at the end at the
    moments taking them would have had (_record_reclaim_holds)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.hold_ns = kernel.costs.page_alloc_ns
        self.in_bulk = _reclaim_locks_free_ahead(kernel, kernel.current.now_ns)
        self.now = kernel.current.now_ns  # the thread's clock as the single path moves it
        self.swap_lock_starts: list[int] = []
        self.zone_lock_starts: dict[ZoneType, list[int]] = {}

    def alloc_slot(self) -> tuple[SwapDevice, int] | None:
        """get_swap_page under si->lock: the area (by priority, swapfile.py) and its slot."""
        swap = self.kernel.swap_info.get_swap_area()
        if swap is None:
            return None
        if not self.in_bulk:
            with self.kernel.holding(swap.lock) as holder:
                holder.run(self.hold_ns)
                slot = swap.alloc_slot()
        else:
            self.swap_lock_starts.append(self.now)
            self.now += self.hold_ns
            slot = swap.alloc_slot()
        return None if slot is None else (swap, slot)

    def submit_write(self, swap: SwapDevice) -> None:
        """Writeback is asynchronous: the device gets busier, the reclaiming thread goes on."""
        swap.queue.submit(self.now if self.in_bulk else self.kernel.current.now_ns)

    def free_page(self, pfn: int) -> None:
        """The zone-lock work of freeing *pfn*."""
        if not self.in_bulk:
            charge_zone_lock(self.kernel.pgdat, pfn, 1)
            return
        zone_type = self.kernel.allocator.zone_of(pfn).zone_type
        self.zone_lock_starts.setdefault(zone_type, []).append(self.now)
        self.now += self.hold_ns

    def record(self) -> None:
        """The bulk holds, once the batch is chosen."""
        if self.in_bulk:
            _record_reclaim_holds(
                self.kernel, self.swap_lock_starts, self.zone_lock_starts, self.now
            )


def _add_to_swap(kernel: Kernel, victim: _Victim, clock: _BatchClock) -> bool:
    """add_to_swap and pageout's decision for one victim: a clean page whose copy is in the
    swap cache keeps that entry (CLEAN); a dirty one gets its slot (the swap cache's, or a
    new one) and a write (SUCCESS). False when there is no swap or no free slot."""
    physmem, pfn = kernel.physmem, victim.pfn
    dirty = (
        kernel.rmap.test_and_clear_dirty(pfn)
        or bool(physmem.flags.item(pfn) & _DIRTY_BIT)
        or pfn in kernel.shmem.owner_of  # its only copy: shmem_writepage writes it
    )
    if victim.in_swap_cache and not dirty:
        victim.entry = physmem.private.item(pfn)
        return True
    if victim.in_swap_cache:
        entry = physmem.private.item(pfn)
        swap, offset = kernel.swap_info.swp_swap_info(entry), swp_offset(entry)
    else:
        slot = clock.alloc_slot()
        if slot is None:
            return False
        swap, offset = slot
    clock.submit_write(swap)
    victim.write_offset = offset
    victim.entry = swp_entry(swap.swap_type, offset)
    victim.result = PageoutResult.SUCCESS
    return True


def _record_reclaim_holds(
    kernel: Kernel,
    swap_lock_starts: list[int],
    zone_lock_starts: dict[ZoneType, list[int]],
    now: int,
) -> None:
    """The si->lock and zone-lock holds of a reclaim batch, recorded in bulk at the moments
    taking them one by one would have (the current thread's clock then runs to *now*)."""
    thread = kernel.current
    hold_ns = kernel.costs.page_alloc_ns
    kernel.swap_lock.record_holds(thread, swap_lock_starts, hold_ns)
    for zone_type, starts in zone_lock_starts.items():
        kernel.pgdat.zone_locks[zone_type].record_holds(thread, starts, hold_ns)
    thread.run(now - thread.now_ns)


def _write_victims(kernel: Kernel, victims: list[_Victim], max_errors: int | None) -> None:
    """swap_writepage for the victims given a slot: one vectored request per run of slots.
    A failed write keeps its page (WRITE_ERROR), and after *max_errors* failures the rest
    are kept unwritten (NOT_TRIED)."""
    physmem = kernel.physmem
    by_area: dict[int, list[_Victim]] = {}
    for victim in victims:
        if victim.write_offset is not None:
            by_area.setdefault(swp_type(victim.entry), []).append(victim)
    for swap_type, written in by_area.items():
        swap = kernel.swap_info.area(swap_type)
        outcome, tried = swap.write_slots(
            [victim.write_offset for victim in written if victim.write_offset is not None],
            [physmem.frame_view(victim.pfn) for victim in written],
            max_errors,
        )
        _finish_writes(kernel, written, outcome, tried)


def _finish_writes(
    kernel: Kernel, written: list[_Victim], outcome: list[SwapIoError | None], tried: int
) -> None:
    """end_swap_bio_write for one area's batch: count the pages written, keep the others."""
    for index, victim in enumerate(written):
        error = outcome[index] if index < tried else None
        if index >= tried:
            victim.result = PageoutResult.NOT_TRIED
            _keep_dirty(kernel, victim, None)
        elif error is not None:
            victim.result = PageoutResult.WRITE_ERROR
            _keep_dirty(kernel, victim, error)
        else:
            kernel.vm_events.pswpout += 1
            kernel.vm_events.pgpgout += PAGE_SIZE // 1024


def _reclaim_locks_free_ahead(kernel: Kernel, at_ns: int) -> bool:
    """Whether si->lock and every zone lock are free from *at_ns* on, for everyone: then a
    reclaim batch never waits, and its holds can be recorded in bulk."""
    return kernel.swap_lock.free_after(at_ns) and all(
        lock.free_after(at_ns) for lock in kernel.pgdat.zone_locks
    )


def _unmap_and_free(kernel: Kernel, victim: _Victim) -> None:
    """try_to_unmap with the swap entry, then free the frame (its zone-lock work is charged).

    A page nobody maps (read ahead, never faulted on) just leaves the swap cache."""
    swap = kernel.swap_info.swp_swap_info(victim.entry)
    physmem = kernel.physmem
    pfn, entry, mappings = victim.pfn, victim.entry, victim.mappings
    workingset_eviction(kernel.lruvec, swap, swp_offset(entry))
    if pfn in kernel.shmem.owner_of:
        _unmap_shmem_page(kernel, victim)
        return
    if not mappings:
        drop_unmapped_swap_cache_page(kernel, pfn, charge=False)
        return
    # The slot's count: one per PTE that will hold the entry; the swap cache's own
    # reference (or the fresh allocation's) becomes the first of them.
    for _ in range(len(mappings) - 1):
        swap.duplicate(swp_offset(entry))
    page_flags = physmem.flags.item(pfn)
    shmem = not page_flags & _ANON_BIT
    ram_words, rmap = kernel.ram_words, kernel.rmap
    for mapping in mappings:
        ram_words[mapping.pte_word] = entry
        rmap.remove(pfn, mapping.mm, mapping.address)
        mapping.mm.count_resident(shmem, -1)
        mapping.mm.swap_entries += 1
    first = mappings[0]
    kernel.emit(
        EventKind.SWAP_OUT,
        kernel.pid_of_mm(first.mm),
        first.address,
        pfn,
        f"slot {swp_offset(entry)} {victim.result.value}"
        if kernel.wants_event(EventKind.SWAP_OUT)
        else "",
    )
    if victim.in_swap_cache:
        delete_from_swap_cache(kernel, pfn)
        page_flags = physmem.flags.item(pfn)
    physmem.flags[pfn] = page_flags & ~_DIRTY_BIT
    free_page(kernel.pgdat, pfn, charge=False)


def _unmap_shmem_page(kernel: Kernel, victim: _Victim) -> None:
    """try_to_unmap of a shmem page, then shmem_writepage's end: every PTE is cleared (the
    next fault finds the page through the object, not the PTE), the object keeps the swap
    entry at the page's index (the slot's one reference), and the frame is freed."""
    pfn, physmem = victim.pfn, kernel.physmem
    ram_words, rmap = kernel.ram_words, kernel.rmap
    for mapping in victim.mappings:
        ram_words[mapping.pte_word] = 0
        rmap.remove(pfn, mapping.mm, mapping.address)
        mapping.mm.count_resident(True, -1)
    shmem_writeout(kernel, pfn, victim.entry)
    kernel.emit(
        EventKind.SWAP_OUT,
        kernel.pid_of_mm(victim.mappings[0].mm) if victim.mappings else 0,
        victim.mappings[0].address if victim.mappings else None,
        pfn,
        f"shmem slot {swp_offset(victim.entry)}" if kernel.wants_event(EventKind.SWAP_OUT) else "",
    )
    physmem.flags[pfn] = physmem.flags.item(pfn) & ~_DIRTY_BIT
    free_page(kernel.pgdat, pfn, charge=False)


def _keep_dirty(kernel: Kernel, victim: _Victim, error: SwapIoError | None) -> None:
    """end_swap_bio_write with an error (or a write never sent): the page stays mapped and
    dirty, its slot is freed.

    Nothing was unmapped yet, so every PTE still points at the frame; only the dirty bit
    that page_referenced cleared moves to the page flag.
    """
    assert victim.write_offset is not None
    physmem = kernel.physmem
    pfn = victim.pfn
    physmem.set_flags(pfn, PageFlag.DIRTY)
    if victim.in_swap_cache:  # the swap cache held the slot: it lets go of it
        delete_from_swap_cache(kernel, pfn)
    kernel.swap_info.swap_free(victim.entry)
    if error is not None:
        kernel.printk_ratelimited(LogLevel.ERR, error.message)


@dataclass(frozen=True)
class ScanControl:
    """scan_control: what one reclaim pass is asked to do."""

    nr_to_reclaim: int  # stop once this many pages are freed
    direct: bool  # in the allocating task (pgscan_direct), else kswapd's (pgscan_kswapd)


def shrink_pages(kernel: Kernel, nr_to_reclaim: int, *, direct: bool) -> int:
    """Evict up to *nr_to_reclaim* pages chosen by the policy; return how many were freed.

    Direct reclaim runs on the allocating thread's clock; background reclaim on kswapd's,
    which wakes no earlier than the thread that woke it.
    """
    sc = ScanControl(nr_to_reclaim, direct)
    if direct:
        return shrink_lruvec(kernel.lruvec, sc, kernel)
    kswapd, woken_by = kernel.kswapd, kernel.current
    kswapd.now_ns = max(kswapd.now_ns, woken_by.now_ns)
    kernel.current = kswapd
    try:
        return shrink_lruvec(kernel.lruvec, sc, kernel)
    finally:
        kernel.current = woken_by


def can_reclaim_anon_pages(swap_info: SwapAreas) -> bool:
    """can_reclaim_anon_pages: whether swap can take anonymous pages (get_nr_swap_pages() > 0).

    Every LRU page here is swap-backed, so without a free slot get_scan_count scans nothing:
    no page is looked at, aged or activated, and reclaim makes no progress.
    """
    return swap_info.nr_free_swap_pages > 0


class ScanBalance(Enum):
    """get_scan_count's choice of lists to scan."""

    SCAN_EQUAL = "equal"  # both kinds by their sizes alone (last resort; unused above priority 0)
    SCAN_FRACT = "fract"  # both, weighted by swappiness and what reclaiming each cost lately
    SCAN_ANON = "anon"  # anon only: the file pages are nearly gone (file_is_tiny)
    SCAN_FILE = "file"  # file only: no swap, or the cache is trimmed alone (cache_trim_mode)
    # both by weight, but the anon list has fewer than 1 << DEF_PRIORITY pages, so its share
    # at this priority (size >> priority) is none: anon only once the file pages run dry
    SCAN_FILE_FIRST = "file-first"


def get_scan_count(lruvec: Lruvec, kernel: Kernel) -> tuple[ScanBalance, int, int]:
    """get_scan_count (with prepare_scan_count's cache_trim_mode and file_is_tiny): the
    balance and the weights (anon, file) of the two kinds of pages in what reclaim scans,
    as 6.1's mm/vmscan.c computes them for the node at DEF_PRIORITY: each list's size times
    its fraction, the fractions ap = swappiness * (total_cost + 1) / (anon_cost + 1) and
    fp = (200 - swappiness) * (total_cost + 1) / (file_cost + 1).

    No swap to take anon pages: file only. Swappiness 0 leaves anon a fraction of 0, so
    anon is reclaimed only when the file pages are nearly gone. Inactive file pages and no
    file refaults since the last reclaim (the cache is not thrashing): file only. An anon
    list too small to be scanned at DEF_PRIORITY (size >> priority is 0) beside a file list
    that is not: file first, anon once the file pages run dry (SCAN_FILE_FIRST).
    """
    nr_anon = len(lruvec.policy)
    file_lru = lruvec.file
    nr_file = len(file_lru)
    if not can_reclaim_anon_pages(kernel.swap_info) or not nr_anon:
        return ScanBalance.SCAN_FILE, 0, nr_file
    allocator = kernel.allocator
    free = allocator.nr_free_pages()
    total_high_wmark = sum(zone.watermark_high for zone in allocator.zones)
    if nr_file + free <= total_high_wmark and nr_anon - lruvec.policy.nr_active:
        return ScanBalance.SCAN_ANON, nr_anon, 0
    refaulting = kernel.vm_events.workingset_activate_file != lruvec.refaults_file
    inactive_file_low = len(file_lru.inactive) < len(file_lru.active)
    if len(file_lru.inactive) >> DEF_PRIORITY and not (refaulting or inactive_file_low):
        return ScanBalance.SCAN_FILE, 0, nr_file
    swappiness = kernel.vm_sysctl.swappiness
    total_cost = lruvec.anon_cost + lruvec.file_cost
    anon_prio = swappiness * (total_cost + 1) // (lruvec.anon_cost + 1)
    file_prio = (200 - swappiness) * (total_cost + 1) // (lruvec.file_cost + 1)
    if anon_prio and file_prio and not nr_anon >> DEF_PRIORITY and nr_file >> DEF_PRIORITY:
        return ScanBalance.SCAN_FILE_FIRST, 0, nr_file * file_prio
    return ScanBalance.SCAN_FRACT, nr_anon * anon_prio, nr_file * file_prio


def shrink_file_list(kernel: Kernel, pfns: list[int]) -> int:
    """shrink_folio_list for victims of the file lists: page cache pages, and lazyfree
    anonymous pages (shrink_lazyfree_page). A clean page cache page is unmapped from every
    PTE (try_to_unmap: the next access faults it back from the cache or the disk), leaves
    its file with a shadow entry (workingset_eviction) and is freed. A dirty one is not
    written by reclaim: it is marked PG_reclaim and activated (the flusher writes it), and
    once written it is rotated to the tail of the inactive list (rotate_dirty_file_pages).
    Returns how many were freed."""
    flags = kernel.physmem.flags
    lazyfree = [pfn for pfn in pfns if page_is_lazyfree(flags.item(pfn))]
    if lazyfree:
        pfns = [pfn for pfn in pfns if not page_is_lazyfree(flags.item(pfn))]
    nr_lazyfreed = sum(shrink_lazyfree_page(kernel, pfn) for pfn in lazyfree)
    dirty = [pfn for pfn in pfns if _file_page_dirty(kernel, pfn)]
    if dirty:
        rotate_dirty_file_pages(kernel, dirty)
        written_back = set(dirty)
        pfns = [pfn for pfn in pfns if pfn not in written_back]
    rmap, ram_words = kernel.rmap, kernel.ram_words
    lruvec = kernel.lruvec
    for pfn in pfns:
        page_flags = flags.item(pfn)
        for mapping in rmap.mappings(pfn):
            ram_words[mapping.pte_word] = 0
            rmap.remove(pfn, mapping.mm, mapping.address)
            mapping.mm.count_resident_page(page_flags, -1)
        was_active = lruvec.file.evicted(pfn)
        inode, index = delete_from_page_cache(kernel, pfn)
        workingset_eviction_file(lruvec, inode.mapping, index, was_active)
        free_page(kernel.pgdat, pfn, charge=False)
    if pfns:
        charge_zone_lock(kernel.pgdat, pfns[0], len(pfns))
    return len(pfns) + nr_lazyfreed


def rotate_dirty_file_pages(kernel: Kernel, pfns: list[int]) -> None:
    """Dirty page cache victims, as 6.1's shrink_folio_list treats them: reclaim does not
    write a file page (only kswapd may, and only a page it met dirty before); it sets
    PG_reclaim and activates the page (pgactivate; move_folios_to_lru ages the workingset
    clock for every page it puts back active), and the flusher writes it. When the write
    completes, folio_rotate_reclaimable moves it to the tail of the inactive list
    (pgrotated), where the next scan frees it. Writeback completes in the call that starts
    it here, so the page goes straight to that tail (one the disk had no block for stays
    dirty there)."""
    lruvec, physmem, events = kernel.lruvec, kernel.physmem, kernel.vm_events
    write_pages(kernel, pfns)  # wakeup_flusher_threads: the flusher's write
    for pfn in pfns:
        events.pgactivate += 1
        lruvec.nonresident_age += 1
        lruvec.file.rotate_reclaimable(pfn)
        events.pgrotated += not physmem.flags.item(pfn) & _DIRTY_BIT


def shrink_lazyfree_page(kernel: Kernel, pfn: int) -> bool:
    """A lazyfree victim (try_to_unmap_one's MADV_FREE branch): still clean, in every PTE
    and in PG_dirty, it is discarded without I/O: its PTEs are cleared, so the next touch
    finds zeros, and the frame is freed (pglazyfreed). Written since MADV_FREE, it is kept:
    swap-backed again (the write made it wanted) and activated on the anon lists, its dirty
    bit moved to the page so that pageout writes it. Returns whether it was freed."""
    physmem, rmap = kernel.physmem, kernel.rmap
    lruvec = kernel.lruvec
    lruvec.file.evicted(pfn)  # off the file lists either way: forget PG_workingset
    if rmap.test_and_clear_dirty(pfn) or physmem.flags.item(pfn) & _DIRTY_BIT:
        physmem.flags[pfn] = physmem.flags.item(pfn) | _DIRTY_BIT | _SWAPBACKED_BIT
        lruvec.policy.insert_active(pfn)
        kernel.vm_events.pgactivate += 1
        return False
    ram_words = kernel.ram_words
    for mapping in rmap.mappings(pfn):
        ram_words[mapping.pte_word] = 0
        rmap.remove(pfn, mapping.mm, mapping.address)
        mapping.mm.count_resident(False, -1)
    free_page(kernel.pgdat, pfn)
    kernel.vm_events.pglazyfreed += 1
    return True


def _file_page_dirty(kernel: Kernel, pfn: int) -> bool:
    """PG_dirty, or a PTE's dirty bit (moved to the page, as try_to_unmap would)."""
    if kernel.rmap.test_and_clear_dirty(pfn):
        account_page_dirtied(kernel, pfn)
    return bool(kernel.physmem.flags.item(pfn) & _DIRTY_BIT)


@dataclass
class _ScanState:
    """What one shrink_lruvec pass has done so far, between its batches."""

    budget: int  # list entries it may still look at
    anon_weight: int  # get_scan_count's weights
    file_weight: int
    anon_dry: bool = False  # no anon page can go now (none left, no slot, a failing device)
    file_dry: bool = False
    write_errors: int = 0
    reclaimed: int = 0
    reclaimed_file: int = 0
    scanned: int = 0  # anon victims taken (the single-list policies' pgscan)


def shrink_lruvec(lruvec: Lruvec, sc: ScanControl, kernel: Kernel) -> int:
    """Reclaim from *lruvec* as *sc* asks: victims chosen from the anon and file lists in
    the proportion get_scan_count gives, SWAP_CLUSTER_MAX at a time; anon victims paged out
    to swap by shrink_page_list, file victims dropped (written back first when dirty) by
    shrink_file_list; return the pages freed."""
    balance, anon_weight, file_weight = get_scan_count(lruvec, kernel)
    if not anon_weight and not file_weight:
        return 0
    lists = (lruvec.policy, lruvec.file)
    before = [
        (lru.nr_scanned, lru.nr_activated, lru.nr_deactivated, lru.nr_refilled) for lru in lists
    ]
    state = _ScanState(
        len(lruvec.policy) + len(lruvec.file) + SWAP_CLUSTER_MAX,
        anon_weight,
        file_weight,
        anon_dry=not anon_weight and balance is not ScanBalance.SCAN_FILE_FIRST,
        file_dry=not file_weight,
    )
    swap_info = kernel.swap_info
    while state.reclaimed < sc.nr_to_reclaim and state.budget > 0:
        if state.anon_dry and state.file_dry:
            break
        # Anon victims go to swap SWAP_CLUSTER_MAX at a time when there are slots for all of
        # them; otherwise one at a time, so the pass ends at the first page that finds no
        # slot, having aged no page beyond it.
        want = min(SWAP_CLUSTER_MAX, sc.nr_to_reclaim - state.reclaimed)
        anon_want = 1 if swap_info.nr_free_swap_pages < want else want
        victims, file_victims = _isolate_victims(lruvec, kernel, state, want, anon_want)
        if not victims and not file_victims:
            break
        if not _shrink_batch(lruvec, kernel, state, victims, file_victims, anon_want):
            break
    _count_scan_events(lruvec, kernel, sc, state, before)
    return state.reclaimed


def _isolate_victims(
    lruvec: Lruvec, kernel: Kernel, state: _ScanState, want: int, anon_want: int
) -> tuple[list[int], list[int]]:
    """isolate_lru_folios for one batch: up to *want* victims, at most *anon_want* of them
    anon, taken from the two kinds in get_scan_count's proportion (lruvec.scan_credit
    carries the split from victim to victim). Returns (anon victims, file victims)."""
    victims: list[int] = []
    file_victims: list[int] = []
    total_weight = state.anon_weight + state.file_weight
    referenced = kernel.rmap.page_referenced
    while len(victims) + len(file_victims) < want and state.budget > 0:
        lruvec.scan_credit += state.file_weight
        take_file = lruvec.scan_credit >= total_weight
        if take_file:
            lruvec.scan_credit -= total_weight
        if (take_file and not state.file_dry) or state.anon_dry:
            if state.file_dry:
                break
            state.file_dry = not _take_victim(lruvec.file, referenced, state, file_victims)
            continue
        if len(victims) >= anon_want:
            break
        state.anon_dry = not _take_victim(lruvec.policy, referenced, state, victims)
    return victims, file_victims


def _take_victim(
    lru: PagePolicy, referenced: ReferencedFn, state: _ScanState, into: list[int]
) -> bool:
    """One victim from *lru* (a look at a list entry, out of the pass's budget) added to
    *into*; False when the list has none left."""
    state.budget -= 1
    pfn = lru.choose_victim(referenced)
    if pfn is None:
        return False
    into.append(pfn)
    return True


def _shrink_batch(
    lruvec: Lruvec,
    kernel: Kernel,
    state: _ScanState,
    victims: list[int],
    file_victims: list[int],
    anon_want: int,
) -> bool:
    """shrink_folio_list for one batch: the file victims dropped, the anon ones paged out
    (a page that could not go is put back, as activate_page after a failed write); notes
    what each kind cost (lru_note_cost). False when the lists ran dry."""
    events = kernel.vm_events
    state.scanned += len(victims)
    if file_victims:
        pgpgout = events.pgpgout
        freed = shrink_file_list(kernel, file_victims)
        state.reclaimed += freed
        state.reclaimed_file += freed
        # lru_note_cost: what reclaim had to write back is what reclaiming file cost
        lru_note_cost(lruvec, True, (events.pgpgout - pgpgout) // (PAGE_SIZE // 1024))
    if not victims:
        return True
    pswpout = events.pswpout
    results = shrink_page_list(kernel, victims, MAX_WRITE_ERRORS_PER_PASS - state.write_errors)
    lru_note_cost(lruvec, False, events.pswpout - pswpout)  # nr_pageout of anon
    for pfn, result in zip(victims, results, strict=True):
        if result in (PageoutResult.SUCCESS, PageoutResult.CLEAN):
            state.reclaimed += 1
        else:
            lruvec.policy.insert(pfn)
            state.write_errors += result is PageoutResult.WRITE_ERROR
    if PageoutResult.KEEP in results or state.write_errors >= MAX_WRITE_ERRORS_PER_PASS:
        state.anon_dry = True  # no swap space, or a failing device: no anon page can go now
    elif len(victims) < anon_want and not file_victims:
        return False
    return True


def _count_scan_events(
    lruvec: Lruvec,
    kernel: Kernel,
    sc: ScanControl,
    state: _ScanState,
    before: list[tuple[int, int, int, int]],
) -> None:
    """The pass's vmstat events: list movements, pgscan/pgsteal by kind and by who reclaimed
    (kswapd or direct), the LRU lock's share of the scan, and the refaults snapshot."""
    events = kernel.vm_events
    policy, file_lru = lruvec.policy, lruvec.file
    # The two-list policy also looks at pages it activates instead of evicting: pgscan counts
    # those too; single-list policies count their victims.
    scanned_anon = max(state.scanned, policy.nr_scanned - before[0][0])
    scanned_file = file_lru.nr_scanned - before[1][0]
    nr_scanned = scanned_anon + scanned_file
    charge_lru_lock(lruvec, nr_scanned, kernel.costs.reclaim_scan_ns)
    for lru, (_scanned, activated, deactivated, refilled) in zip(
        (policy, file_lru), before, strict=True
    ):
        events.pgactivate += lru.nr_activated - activated
        events.pgdeactivate += lru.nr_deactivated - deactivated
        events.pgrefill += lru.nr_refilled - refilled
    events.pgscan_anon += scanned_anon
    events.pgsteal_anon += state.reclaimed - state.reclaimed_file
    events.pgscan_file += scanned_file
    events.pgsteal_file += state.reclaimed_file
    if sc.direct:
        events.pgscan_direct += nr_scanned
        events.pgsteal_direct += state.reclaimed
    else:
        events.pgscan_kswapd += nr_scanned
        events.pgsteal_kswapd += state.reclaimed
    lruvec.refaults_file = events.workingset_activate_file  # snapshot_refaults


# ---- kswapd ----------------------------------------------------------------------------------
def pgdat_balanced(pgdat: PglistData, classzone: ZoneType) -> bool:
    """pgdat_balanced: whether some zone up to *classzone* is above its high watermark.

    The mark includes the zone's lowmem_reserve for *classzone*, as kswapd checks it; one
    balanced eligible zone is enough, since the allocation could be served from it.
    """
    return any(
        zone.watermark_ok(0, WatermarkLevel.HIGH, classzone=classzone)
        for zone in pgdat.allocator.zones[: classzone + 1]
        if not zone.is_empty
    )


def wakeup_kswapd(pgdat: PglistData, classzone: ZoneType) -> None:
    """wakeup_kswapd: note that kswapd must balance the node for *classzone*.

    kswapd runs between calls (`kswapd_run`), on its own clock, never inside the call that
    woke it. A node that is already balanced for the classzone does not wake it.
    """
    if pgdat_balanced(pgdat, classzone):
        return
    pending = pgdat.kswapd_classzone
    if pending is None:
        pgdat.vm_events.pageoutrun += 1  # a new balance_pgdat run begins
        slept_at = pgdat.kswapd_slept_at_ns
        if slept_at is not None and pgdat.sched.current.now_ns - slept_at < KSWAPD_SHORT_SLEEP_NS:
            # woken during kswapd_try_to_sleep's short nap: the low mark was hit quickly
            pgdat.vm_events.kswapd_low_wmark_hit_quickly += 1
    pgdat.kswapd_classzone = classzone if pending is None else max(pending, classzone)


# kswapd_try_to_sleep naps HZ/10 once the node is balanced before it sleeps for good: a
# wake-up within the nap counts kswapd_low_wmark_hit_quickly.
KSWAPD_SHORT_SLEEP_NS: Final = 100_000_000

# kswapd runs beside the tasks, not instead of them: one turn between two calls reclaims at
# most this many SWAP_CLUSTER_MAX batches (a few ms of host time), so a long balance never
# holds up other clients: the scheduler gives it a step of its own after a call ends.
KSWAPD_BATCHES_PER_TURN: Final = 1


def kswapd_run(kernel: Kernel) -> int:
    """kswapd's turn, a quantum of its own thread on a CPU (the scheduler gives it one after
    the quanta that earned it): a slice of balance_pgdat if it was woken; returns how long
    the turn ran in simulated time (0: it was asleep). It stays woken until the node is
    balanced or reclaim makes no progress."""
    classzone = kernel.pgdat.kswapd_classzone
    if classzone is None:
        return 0
    sched = kernel.sched
    _freed, finished = sched.run_quantum(
        kernel.kswapd, None, kswapd_balance, (kernel, classzone, KSWAPD_BATCHES_PER_TURN)
    )
    if finished:
        kernel.pgdat.kswapd_classzone = None
        kernel.pgdat.kswapd_slept_at_ns = kernel.kswapd.now_ns
    return max(1, sched.last_quantum.ran_ns)


def kswapd_balance(
    kernel: Kernel, classzone: ZoneType = ZoneType.HIGHMEM, max_batches: int | None = None
) -> tuple[int, bool]:
    """balance_pgdat: reclaim in SWAP_CLUSTER_MAX batches until a zone up to *classzone* is above
    its high watermark (plus lowmem_reserve), until reclaim makes no progress, or for at most
    *max_batches* batches; returns (pages freed, whether kswapd is done)."""
    freed = 0
    batches = 0
    while not pgdat_balanced(kernel.pgdat, classzone):
        if max_batches is not None and batches >= max_batches:
            return freed, False
        progress = shrink_pages(kernel, SWAP_CLUSTER_MAX, direct=False)
        batches += 1
        if not progress:
            break
        freed += progress
    return freed, True


# ---- the allocator's slow path ---------------------------------------------------------------
_ALLOCSTALL_FIELD: Final = {
    Gfp.HIGHUSER: "allocstall_movable",  # GFP_HIGHUSER_MOVABLE: classzone ZONE_MOVABLE
    Gfp.KERNEL: "allocstall_normal",
    Gfp.ATOMIC: "allocstall_normal",
    Gfp.DMA: "allocstall_dma",
}


def alloc_pages_slowpath(kernel: Kernel, gfp: Gfp, order: int, task: Task | None) -> int | None:
    """__alloc_pages_slowpath, after every zone failed its low mark: wake kswapd (it runs
    after this call), retry at the min mark (GFP_ATOMIC a quarter lower and never more),
    then reclaim directly in the calling task (allocstall_<zone>) while that makes
    progress, then the OOM killer for orders up to PAGE_ALLOC_COSTLY_ORDER.

    Boot registers it as the node's slow path (page_alloc.PglistData.slowpath).

    Raises:
        OomKilled/ProcessKilled: the OOM killer chose *task* itself.
    """
    allocator = kernel.allocator
    wakeup_kswapd(kernel.pgdat, ZONELIST[gfp][0])
    pfn = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.MIN)
    if pfn is not None or gfp is Gfp.ATOMIC:
        return pfn
    stall_field = _ALLOCSTALL_FIELD[gfp]
    events = kernel.vm_events
    kills = 0
    while pfn is None:
        for _ in range(MAX_RECLAIM_RETRIES):
            setattr(events, stall_field, getattr(events, stall_field) + 1)
            progress = shrink_pages(kernel, SWAP_CLUSTER_MAX << order, direct=True)
            pfn = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.MIN)
            if pfn is None and progress and allocator.drain_all_pages():  # pcp pages, once
                pfn = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.MIN)
            if pfn is not None or not progress:
                break
        if pfn is not None or order > PAGE_ALLOC_COSTLY_ORDER:
            break
        if kills >= MAX_OOM_KILLS_PER_ALLOCATION or not oom_kill.out_of_memory(kernel, task, gfp):
            break
        kills += 1
        if task is not None and not task.alive:
            raise task_exit.dead(task)
        pfn = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.MIN)
    return pfn
