"""Event counters of the memory system, as /proc/vmstat prints them.

Models mm/vmstat.c (vmstat_text: the node and zone gauges, then vm_event_item: pgpgin ..
swap_ra_hit) with the names and order a 6.1 i386 kernel prints (HIGHMEM, no DMA32, no NUMA).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

__all__ = ["VMSTAT_EVENT_NAMES", "VmEvents"]


@dataclass
class VmEvents:
    """Monotonic event counts since boot (names are the /proc/vmstat keys)."""

    pgpgin: int = 0  # kB read from swap and from the disk (file pages)
    pgpgout: int = 0  # kB written to swap and to the disk (file pages)
    pswpin: int = 0  # pages swapped in
    pswpout: int = 0  # pages swapped out
    pgalloc_dma: int = 0  # pages handed out per zone they came from
    pgalloc_normal: int = 0
    pgalloc_high: int = 0
    pgalloc_movable: int = 0  # ZONE_MOVABLE is empty here: stays 0
    # Direct reclaim entered, by the allocation's highest zone (its classzone). User pages are
    # GFP_HIGHUSER_MOVABLE on Linux, whose classzone is ZONE_MOVABLE: allocstall_movable.
    allocstall_dma: int = 0
    allocstall_normal: int = 0
    allocstall_high: int = 0
    allocstall_movable: int = 0
    pgfree: int = 0
    pgactivate: int = 0  # pages moved to the active list (referenced when reclaim met them)
    pgdeactivate: int = 0  # pages moved from the active to the inactive list
    pgfault: int = 0  # every page fault, minor or major
    pgmajfault: int = 0  # faults that read from swap
    pgrefill: int = 0  # active-list pages scanned by shrink_active_list
    pglazyfree: int = 0  # pages MADV_FREE made lazily freeable (moved to the file list)
    pglazyfreed: int = 0  # lazyfree pages reclaim discarded clean, without any I/O
    pgrotated: int = 0  # written pages reclaim had met dirty, moved to the inactive tail
    pgreuse: int = 0  # write faults on a read-only exclusive anon page: made writable in place
    pgsteal_kswapd: int = 0  # pages reclaimed by kswapd
    pgsteal_direct: int = 0  # pages reclaimed by allocating tasks
    pgscan_kswapd: int = 0  # inactive pages scanned by kswapd
    pgscan_direct: int = 0  # inactive pages scanned by allocating tasks
    pgscan_anon: int = 0  # inactive anon (and shmem) pages scanned by reclaim
    pgsteal_anon: int = 0
    pgscan_file: int = 0  # inactive page cache pages scanned by reclaim
    pgsteal_file: int = 0
    pageoutrun: int = 0  # kswapd balancing runs (balance_pgdat)
    kswapd_low_wmark_hit_quickly: int = 0  # kswapd woken again during its short nap
    oom_kill: int = 0
    swap_ra: int = 0  # pages read ahead from swap (fault readahead and MADV_WILLNEED)
    swap_ra_hit: int = 0  # faults that found a read-ahead page in the swap cache
    workingset_refault_anon: int = 0  # evicted anonymous pages faulted back in (a node gauge)
    # refaulted pages whose refault distance put them in the workingset: back on the active list
    workingset_activate_anon: int = 0
    workingset_refault_file: int = 0  # evicted page cache pages read back in
    workingset_activate_file: int = 0
    # refaulted pages that were on the active list when evicted (PG_workingset)
    workingset_restore_file: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counters by /proc/vmstat name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Every line /proc/vmstat prints on Debian's 6.1 686 kernel (linux32/out/base-1g-4k.log), in
# order. Lines for what the simulator has no use for (files, THP, compaction ...) print 0,
# which is their true value here.
VMSTAT_EVENT_NAMES: Final = [
    "nr_free_pages",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_bounce",
    "nr_zspages",
    "nr_free_cma",
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_isolated_anon",
    "nr_isolated_file",
    "workingset_nodes",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_writeback_temp",
    "nr_shmem",
    "nr_shmem_hugepages",
    "nr_shmem_pmdmapped",
    "nr_file_hugepages",
    "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "nr_dirtied",
    "nr_written",
    "nr_throttled_written",
    "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired",
    "nr_foll_pin_released",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_swapcached",
    "nr_dirty_threshold",
    "nr_dirty_background_threshold",
    "pgpgin",
    "pgpgout",
    "pswpin",
    "pswpout",
    "pgalloc_dma",
    "pgalloc_normal",
    "pgalloc_high",
    "pgalloc_movable",
    "allocstall_dma",
    "allocstall_normal",
    "allocstall_high",
    "allocstall_movable",
    "pgskip_dma",
    "pgskip_normal",
    "pgskip_high",
    "pgskip_movable",
    "pgfree",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pgfault",
    "pgmajfault",
    "pglazyfreed",
    "pgrefill",
    "pgreuse",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_direct_throttle",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_anon",
    "pgsteal_file",
    "pginodesteal",
    "slabs_scanned",
    "kswapd_inodesteal",
    "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly",
    "pageoutrun",
    "pgrotated",
    "drop_pagecache",
    "drop_slab",
    "oom_kill",
    "pgmigrate_success",
    "pgmigrate_fail",
    "thp_migration_success",
    "thp_migration_fail",
    "thp_migration_split",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "htlb_buddy_alloc_success",
    "htlb_buddy_alloc_fail",
    "unevictable_pgs_culled",
    "unevictable_pgs_scanned",
    "unevictable_pgs_rescued",
    "unevictable_pgs_mlocked",
    "unevictable_pgs_munlocked",
    "unevictable_pgs_cleared",
    "unevictable_pgs_stranded",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_fault_fallback_charge",
    "thp_collapse_alloc",
    "thp_collapse_alloc_failed",
    "thp_file_alloc",
    "thp_file_fallback",
    "thp_file_fallback_charge",
    "thp_file_mapped",
    "thp_split_page",
    "thp_split_page_failed",
    "thp_deferred_split_page",
    "thp_split_pmd",
    "thp_scan_exceed_none_pte",
    "thp_scan_exceed_swap_pte",
    "thp_scan_exceed_share_pte",
    "thp_zero_page_alloc",
    "thp_zero_page_alloc_failed",
    "thp_swpout",
    "thp_swpout_fallback",
    "balloon_inflate",
    "balloon_deflate",
    "balloon_migrate",
    "swap_ra",
    "swap_ra_hit",
    "ksm_swpin_copy",
    "cow_ksm",
    "zswpin",
    "zswpout",
    "direct_map_level2_splits",
    "direct_map_level3_splits",
    "nr_unstable",
]
