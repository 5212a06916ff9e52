"""Kernel locks in simulated time: spinlocks, sleeping locks, reader-writer semaphores, lock_stat.

Models the two waiting disciplines of kernel/locking (a spinlock's waiter burns CPU; a
mutex/semaphore's waiter sleeps, paying context switches but leaving the CPU free) and
the per-class statistics of kernel/locking/lockdep_proc.c (/proc/lock_stat).
A lock is busy until the simulated time its holder released it; a thread arriving earlier
waits, so threads whose clocks overlap contend exactly as their critical sections overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .errors import InvalidArgument, KernelBug

if TYPE_CHECKING:
    from .timing import CostModel, SimThread

__all__ = ["LOCK_CLASSES", "LockClassStats", "LockKind", "LockRegistry", "SimLock"]


class LockKind(StrEnum):
    """How a waiter waits."""

    SPIN = "spin"  # busy-waits: the wait is system CPU time, hand-off is fast
    SLEEP = "sleep"  # sleeps: the wait is idle time, plus a context switch out and back in


# Lock classes and their Linux names; the default kind is what Linux uses.
LOCK_CLASSES: dict[str, tuple[str, LockKind]] = {
    "zone": ("&zone->lock", LockKind.SPIN),
    "lru": ("&lruvec->lru_lock", LockKind.SPIN),
    "mmap": ("&mm->mmap_lock", LockKind.SLEEP),
    "swap": ("&si->lock", LockKind.SPIN),
    "pkmap": ("kmap_lock", LockKind.SPIN),
}


@dataclass
class LockClassStats:
    """lock_stat numbers of one class (and one of -R/-W for reader-writer locks)."""

    con_bounces: int = 0
    contentions: int = 0
    wait_min_ns: int = 0
    wait_max_ns: int = 0
    wait_total_ns: int = 0
    acq_bounces: int = 0
    acquisitions: int = 0
    hold_min_ns: int = 0
    hold_max_ns: int = 0
    hold_total_ns: int = 0

    def record_wait(self, wait_ns: int, bounced: bool) -> None:
        self.contentions += 1
        self.con_bounces += bounced
        self.wait_min_ns = wait_ns if self.contentions == 1 else min(self.wait_min_ns, wait_ns)
        self.wait_max_ns = max(self.wait_max_ns, wait_ns)
        self.wait_total_ns += wait_ns

    def record_hold(self, hold_ns: int, bounced: bool) -> None:
        self.acquisitions += 1
        self.acq_bounces += bounced
        self.hold_min_ns = hold_ns if self.acquisitions == 1 else min(self.hold_min_ns, hold_ns)
        self.hold_max_ns = max(self.hold_max_ns, hold_ns)
        self.hold_total_ns += hold_ns


class SimLock:
    """One lock instance (a zone's lock, an mm's mmap_lock ...); readers share when rw."""

    def __init__(self, registry: LockRegistry, lock_class: str, rw: bool = False) -> None:
        self._registry = registry
        self.lock_class = lock_class
        self.rw = rw
        self.free_at_ns = 0  # when the current writer (or exclusive holder) releases
        self.readers_until_ns = 0  # when the last current reader releases
        self.last_owner = -1
        self._held: dict[int, tuple[int, bool, bool]] = {}  # tid -> (acquired at, read?, bounced)
        # The statistics rows this lock feeds, looked up once (the hot path takes locks often).
        self._stats_read = registry.stats_for(lock_class, True, write=False)
        self._stats_exclusive = registry.stats_for(lock_class, False, write=rw)

    def acquire(self, thread: SimThread, *, read: bool = False) -> None:
        """Take the lock at the thread's time, waiting as the lock's kind says."""
        if thread.tid in self._held:
            raise KernelBug(f"thread {thread.tid} takes {self.lock_class} recursively")
        registry = self._registry
        kind = registry.kinds[self.lock_class]
        costs = registry.costs
        busy_until = (
            self.free_at_ns if (read and self.rw) else max(self.free_at_ns, self.readers_until_ns)
        )
        arrival = thread.now_ns
        bounced = self.last_owner not in (-1, thread.tid)
        stats = self._stats_read if (read and self.rw) else self._stats_exclusive
        if busy_until > arrival:
            wait = busy_until - arrival
            stats.record_wait(wait, bounced)
            if kind is LockKind.SPIN:
                thread.now_ns = busy_until
                thread.times.system_ns += wait
                thread.run(costs.lock_handoff_ns)
            else:
                thread.now_ns = busy_until
                thread.times.lock_wait_ns += wait
                thread.run(2 * costs.context_switch_ns)  # switched out, then woken and back in
        self._held[thread.tid] = (thread.now_ns, read and self.rw, bounced)
        self.last_owner = thread.tid

    def record_blocked(self, wait_ns: int) -> None:
        """A waiter that must sleep for a resource this lock guards (e.g. a free pkmap slot)."""
        self._stats_exclusive.record_wait(wait_ns, bounced=True)

    def release(self, thread: SimThread) -> None:
        """Drop the lock at the thread's time."""
        held = self._held.pop(thread.tid, None)
        if held is None:
            raise KernelBug(f"thread {thread.tid} releases {self.lock_class} it does not hold")
        acquired_at, read, bounced = held
        hold = thread.now_ns - acquired_at
        if read:
            self.readers_until_ns = max(self.readers_until_ns, thread.now_ns)
        else:
            self.free_at_ns = max(self.free_at_ns, thread.now_ns)
        (self._stats_read if read else self._stats_exclusive).record_hold(hold, bounced)


class LockRegistry:
    """Lock kinds per class, the cost table, and the lock_stat counters."""

    def __init__(self, costs: CostModel, kinds: dict[str, LockKind] | None = None) -> None:
        self.costs = costs
        self.kinds = {name: kind for name, (_, kind) in LOCK_CLASSES.items()}
        for name, kind in (kinds or {}).items():
            if name not in LOCK_CLASSES:
                raise InvalidArgument(
                    "lock_kinds", f"unknown lock class {name!r}", ", ".join(LOCK_CLASSES)
                )
            self.kinds[name] = LockKind(kind)
        self._stats: dict[str, LockClassStats] = {}

    def new_lock(self, lock_class: str, rw: bool = False) -> SimLock:
        """A lock instance of *lock_class*."""
        if lock_class not in LOCK_CLASSES:
            raise KernelBug(f"unknown lock class {lock_class}")
        return SimLock(self, lock_class, rw)

    def stats_for(self, lock_class: str, read: bool, write: bool) -> LockClassStats:
        key = LOCK_CLASSES[lock_class][0] + ("-R" if read else "-W" if write else "")
        return self._stats.setdefault(key, LockClassStats())

    def stats(self) -> dict[str, LockClassStats]:
        """Per lock class that was used (Linux names; rw locks split into -R and -W), by name."""
        return {
            name: stats
            for name, stats in sorted(self._stats.items())
            if stats.acquisitions or stats.contentions
        }

    def reset(self) -> None:
        """echo 0 > /proc/lock_stat: every row back to zero (locks keep feeding the same rows)."""
        for stats in self._stats.values():
            for name, value in vars(LockClassStats()).items():
                setattr(stats, name, value)

    def report(self) -> str:
        """/proc/lock_stat text (times in microseconds, as Linux prints them)."""
        columns = (
            "con-bounces",
            "contentions",
            "waittime-min",
            "waittime-max",
            "waittime-total",
            "waittime-avg",
            "acq-bounces",
            "acquisitions",
            "holdtime-min",
            "holdtime-max",
            "holdtime-total",
            "holdtime-avg",
        )
        rule = "-" * 207
        lines = [
            "lock_stat version 0.4",
            rule,
            f"{'class name':>40} " + " ".join(f"{c:>14}" for c in columns),
            rule,
            "",
        ]

        def us(ns: float) -> str:
            return f"{ns / 1000:.2f}"

        for name, s in self.stats().items():
            wait_avg = s.wait_total_ns / s.contentions if s.contentions else 0
            hold_avg = s.hold_total_ns / s.acquisitions if s.acquisitions else 0
            values = (
                str(s.con_bounces),
                str(s.contentions),
                us(s.wait_min_ns),
                us(s.wait_max_ns),
                us(s.wait_total_ns),
                us(wait_avg),
                str(s.acq_bounces),
                str(s.acquisitions),
                us(s.hold_min_ns),
                us(s.hold_max_ns),
                us(s.hold_total_ns),
                us(hold_avg),
            )
            lines.append(f"{name + ':':>40} " + " ".join(f"{v:>14}" for v in values))
        return "\n".join(lines) + "\n"
