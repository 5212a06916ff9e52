"""Event counters of the memory system, as /proc/vmstat prints them.

Models mm/vmstat.c (vm_event_item: pgfault, pgmajfault, pswpin, pswpout, pgscan_*, pgsteal_*, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["VmEvents"]


@dataclass
class VmEvents:
    """Monotonic event counts since boot (names are the /proc/vmstat keys)."""

    pgpgin: int = 0  # kB read from swap
    pgpgout: int = 0  # kB written to swap
    pswpin: int = 0  # pages swapped in
    pswpout: int = 0  # pages swapped out
    pgalloc_dma: int = 0
    pgalloc_normal: int = 0
    pgalloc_high: int = 0
    pgfree: int = 0
    pgactivate: int = 0
    pgdeactivate: int = 0
    pgfault: int = 0  # every page fault, minor or major
    pgmajfault: int = 0  # faults that read from swap
    pgrefill: int = 0  # active-list pages scanned
    pgscan_kswapd: int = 0
    pgscan_direct: int = 0
    pgsteal_kswapd: int = 0
    pgsteal_direct: int = 0
    pginodesteal: int = 0
    kswapd_wakeups: int = 0  # historically named pageoutrun / kswapd_low_wmark_hit
    allocstall: int = 0  # direct reclaim entered
    oom_kill: int = 0
    swap_ra: int = 0  # pages read ahead by MADV_WILLNEED

    def as_dict(self) -> dict[str, int]:
        """Counters by /proc/vmstat name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
