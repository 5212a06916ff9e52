"""Simulated time: the cost table, per-thread clocks and CPU-time accounting.

Models what kernel/sched/cputime.c accounts (user, system, iowait) with costs taken from
an injected table instead of a clock: every operation charges simulated nanoseconds to the
thread that runs it, so the same calls always cost the same. Each thread has its own clock,
which runs on a CPU's clock while the scheduler (sched.py) has it on that CPU; shared
resources (locks.py, the swap queue) make threads wait for each other only where their
busy intervals really overlap in simulated time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vmsim_kernel.errors import InvalidArgument

from .locks import BusyIntervals

__all__ = ["TLB_ENTRIES", "CallCost", "CostModel", "CpuTimes", "SimThread", "SwapQueue", "TlbModel"]

TLB_ENTRIES = 64  # a direct-mapped data TLB: one entry per set, the set is vpn % 64


@dataclass(frozen=True)
class CostModel:
    """Simulated nanoseconds per operation (defaults are those of a 2010s x86 with an SSD)."""

    tlb_hit_ns: int = 1  # an access whose translation is cached
    page_walk_ns: int = 60  # TLB miss: two memory references (PDE, PTE)
    fault_entry_ns: int = 700  # exception entry/exit and handle_mm_fault bookkeeping
    zero_page_ns: int = 500  # clear_page of a fresh frame
    page_alloc_ns: int = 150  # buddy allocation or free under the zone lock
    lru_update_ns: int = 80  # adding to / removing from an LRU list under the LRU lock
    reclaim_scan_ns: int = 200  # examining one page during reclaim
    swap_latency_ns: int = 80_000  # device latency of one 4 KiB request
    swap_bandwidth_bytes_per_s: int = 500_000_000  # device transfer rate
    syscall_ns: int = 300  # syscall entry and exit
    vma_op_ns: int = 400  # VMA lookup / split / merge in mmap, munmap, mprotect, brk
    zap_page_ns: int = 50  # unmapping one PTE
    copy_byte_ns: float = 0.25  # read/write of user memory, per byte
    context_switch_ns: int = 2_000  # sleep or wake-up of a thread
    lock_handoff_ns: int = 100  # a contended lock's cache line moving to the next owner
    tlb_shootdown_ns: int = 1_500  # IPI and remote flush, per other thread of the mm

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0:
                raise InvalidArgument(
                    name, f"{value} is negative", "a cost of 0 or more nanoseconds"
                )
        if self.swap_bandwidth_bytes_per_s <= 0:
            raise InvalidArgument(
                "swap_bandwidth_bytes_per_s", "must be positive", "bytes per second > 0"
            )

    @property
    def swap_service_ns(self) -> int:
        """Time the device is busy with one page."""
        return self.swap_latency_ns + 4096 * 1_000_000_000 // self.swap_bandwidth_bytes_per_s


@dataclass
class CpuTimes:
    """Where simulated time went (nanoseconds)."""

    user_ns: int = 0  # the thread's own accesses
    system_ns: int = 0  # kernel work, including spinning on locks
    iowait_ns: int = 0  # waiting for the swap device
    lock_wait_ns: int = 0  # asleep on a sleeping lock

    def add(self, other: CpuTimes) -> None:
        """Accumulate *other* into self."""
        self.user_ns += other.user_ns
        self.system_ns += other.system_ns
        self.iowait_ns += other.iowait_ns
        self.lock_wait_ns += other.lock_wait_ns


@dataclass(frozen=True)
class CallCost:
    """What one call cost its thread."""

    total_ns: int
    user_ns: int
    system_ns: int
    iowait_ns: int
    lock_wait_ns: int


class TlbModel:
    """A per-thread direct-mapped TLB; numpy keeps a batch of accesses exact and fast."""

    def __init__(self) -> None:
        self.tags: npt.NDArray[np.int64] = np.full(TLB_ENTRIES, -1, dtype=np.int64)

    def access(self, vpn: int) -> bool:
        """One access; True on a hit."""
        index = vpn % TLB_ENTRIES
        if self.tags[index] == vpn:
            return True
        self.tags[index] = vpn
        return False

    def access_many(self, vpns: npt.NDArray[np.integer[Any]]) -> int:
        """Accesses in order; returns the number of misses, leaving the TLB as they would.

        An access misses when the previous access to its set (or the entry the set held
        before the batch) was to another page: a stable sort by set lines those up.
        """
        if len(vpns) == 0:
            return 0
        # uint8 set numbers let numpy's stable sort use a radix sort: linear in the batch.
        sets = (vpns & (TLB_ENTRIES - 1)).astype(np.uint8)
        order = np.argsort(sets, kind="stable")
        ordered_sets, ordered = sets[order], vpns[order]
        set_starts = np.flatnonzero(ordered_sets[1:] != ordered_sets[:-1]) + 1
        firsts = np.concatenate(([0], set_starts))
        lasts = np.concatenate((set_starts - 1, [len(ordered) - 1]))
        misses = int(np.count_nonzero(ordered[1:] != ordered[:-1]))
        misses -= int(np.count_nonzero(ordered[set_starts] != ordered[set_starts - 1]))
        misses += int(np.count_nonzero(self.tags[ordered_sets[firsts]] != ordered[firsts]))
        self.tags[ordered_sets[lasts]] = ordered[lasts]
        return misses

    def flush(self) -> None:
        """Invalidate every entry (CR3 reload, or a shootdown)."""
        self.tags.fill(-1)


@dataclass(eq=False)
class SimThread:
    """A thread: its own clock, CPU times and TLB; threads of one process share its mm."""

    tid: int
    pid: int
    now_ns: int = 0
    times: CpuTimes = field(default_factory=CpuTimes)
    tlb: TlbModel = field(default_factory=TlbModel)
    alive: bool = True

    def run(self, ns: int, *, user: bool = False) -> None:
        """The thread computes for *ns* (user or system time)."""
        self.now_ns += ns
        if user:
            self.times.user_ns += ns
        else:
            self.times.system_ns += ns

    def snapshot(self) -> tuple[int, int, int, int, int]:
        """(now, user, system, iowait, lock wait) for cost deltas."""
        t = self.times
        return self.now_ns, t.user_ns, t.system_ns, t.iowait_ns, t.lock_wait_ns


class SwapQueue:
    """The swap device as a single server: a request issued at t is served in the first idle
    stretch of the device at or after t, so it waits only for requests that really occupy the
    device then (not for a burst another thread issued later in simulated time)."""

    def __init__(self, costs: CostModel) -> None:
        self._costs = costs
        self._busy = BusyIntervals(limit=4096, min_gap_ns=costs.swap_service_ns)
        self.requests = 0
        self.total_wait_ns = 0

    @property
    def busy_until_ns(self) -> int:
        """When the latest request known to the device completes."""
        return self._busy.latest_end_ns

    def submit(self, at_ns: int) -> int:
        """A one-page request issued at *at_ns*; returns when it completes."""
        service = self._costs.swap_service_ns
        start = self._busy.first_gap(at_ns, service)
        self._busy.add(start, start + service)
        self.requests += 1
        self.total_wait_ns += start - at_ns
        return start + service
