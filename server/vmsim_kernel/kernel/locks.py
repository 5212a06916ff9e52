"""Kernel locks in simulated time: spinlocks, sleeping locks, reader-writer semaphores, lock_stat.

Models the two waiting disciplines of kernel/locking (a spinlock's waiter burns CPU; a
mutex/semaphore's waiter sleeps, paying context switches but leaving the CPU free) and
the per-class statistics of kernel/locking/lockdep_proc.c (/proc/lock_stat).
A lock remembers the simulated interval of each hold (LockHolds); a thread arriving at time t
waits only if t falls inside holds, until the latest end among those. Holders and waiters
contend exactly as their critical sections overlap in simulated time, whatever order the
scheduler ran their quanta in: no phantom waits behind a holder that ran later, and no wait
longer than the hold it waited for.
"""

from __future__ import annotations

import bisect
import operator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from vmsim_kernel.errors import InvalidArgument, KernelBug

if TYPE_CHECKING:
    from .time import CostModel, SimThread

__all__ = [
    "LOCK_CLASSES",
    "BusyIntervals",
    "LockClassStats",
    "LockHolds",
    "LockKind",
    "LockRegistry",
    "SimLock",
]


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

    def record_holds(self, count: int, hold_ns: int | list[int], first_bounced: bool) -> None:
        """record_hold for *count* holds by one thread, in a row: each *hold_ns* long, or
        as long as its item of the list."""
        if count <= 0:
            return
        if isinstance(hold_ns, int):
            shortest, longest, total = hold_ns, hold_ns, count * hold_ns
        else:
            shortest, longest, total = min(hold_ns), max(hold_ns), sum(hold_ns)
        first = self.acquisitions == 0
        self.acquisitions += count
        self.acq_bounces += first_bounced
        self.hold_min_ns = shortest if first else min(self.hold_min_ns, shortest)
        self.hold_max_ns = max(self.hold_max_ns, longest)
        self.hold_total_ns += total


class BusyIntervals:
    """The simulated time during which a device was busy: disjoint [start, end) intervals,
    sorted; overlapping and touching ones are merged (busy is busy, whoever asked), and so
    are ones less than *min_gap_ns* apart when no request is shorter than that (the gap could
    never serve one), which keeps a long busy stretch one interval however it was filled.

    Only the most recent `limit` intervals are kept: a thread far behind everyone else's
    clock (an idle process) then finds nothing busy, which is what a live kernel would show.
    """

    def __init__(self, limit: int = 1024, *, min_gap_ns: int = 0) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._limit = limit
        self._slack = max(min_gap_ns - 1, 0)  # intervals this close (or closer) are one

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def latest_end_ns(self) -> int:
        """Nothing is busy after this."""
        return self._ends[-1] if self._ends else 0

    def add(self, start_ns: int, end_ns: int) -> None:
        """Record one busy interval (an empty one is dropped)."""
        if end_ns <= start_ns:
            return
        starts, ends, slack = self._starts, self._ends, self._slack
        if not starts or start_ns > ends[-1] + slack:
            starts.append(start_ns)  # the common case: after everything known
            ends.append(end_ns)
        elif start_ns >= starts[-1]:  # joins the last interval only: the others end before it
            ends[-1] = max(ends[-1], end_ns)
        else:
            # The intervals to merge: from the first that ends at or after start (less the
            # slack) to the last that starts at or before end (plus the slack).
            first = bisect.bisect_left(ends, start_ns - slack)
            last = bisect.bisect_right(starts, end_ns + slack)
            if first < last:
                start_ns = min(start_ns, starts[first])
                end_ns = max(end_ns, ends[last - 1])
            starts[first:last] = [start_ns]
            ends[first:last] = [end_ns]
        if len(starts) > self._limit:
            del starts[0], ends[0]

    def free_from(self, at_ns: int) -> int:
        """The first time at or after *at_ns* that is not busy (the end of the interval that
        holds *at_ns*)."""
        ends = self._ends
        if not ends or at_ns >= ends[-1]:
            return at_ns
        index = bisect.bisect_right(self._starts, at_ns) - 1
        if index >= 0 and ends[index] > at_ns:
            return ends[index]
        return at_ns

    def covering_end(self, at_ns: int) -> int | None:
        """The end of the busy interval containing *at_ns*, or None when it is free."""
        free = self.free_from(at_ns)
        return None if free == at_ns else free

    def first_gap(self, at_ns: int, length_ns: int) -> int:
        """The earliest start at or after *at_ns* of a free stretch *length_ns* long
        (*length_ns* at least the min_gap_ns the intervals were built with)."""
        starts, ends = self._starts, self._ends
        if not starts or at_ns >= ends[-1]:
            return at_ns  # after everything known
        if at_ns >= starts[-1]:
            return ends[-1]  # inside the last interval (a backlog), with nothing after it
        moment = at_ns
        index = bisect.bisect_right(starts, moment) - 1  # the interval that may hold moment
        if index >= 0 and ends[index] > moment:
            moment = ends[index]
        index += 1  # the intervals are disjoint and sorted: walk them in order
        while index < len(starts) and starts[index] < moment + length_ns:
            moment = max(moment, ends[index])
            index += 1
        return moment


class LockHolds:
    """The simulated interval [acquired, released) of each hold of one lock, sorted by start.

    Holds are kept one by one, never merged: quanta run one after another, so a quantum run
    later may take the lock at a simulated time an earlier-run quantum already found free,
    and its hold then overlaps that one. A thread arriving at t waits for the holds that
    contain t, until the latest end among them, so its wait never exceeds the one hold it
    waited behind; it is not chained on to holds recorded after its turn. A hold containing
    t started after t - (the longest hold kept), so only those few are looked at. Only about
    the most recent `limit` holds are kept (see BusyIntervals).
    """

    def __init__(self, limit: int = 1024) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._latest_end = 0
        self._longest = 0
        self._limit = limit

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, start_ns: int, end_ns: int) -> None:
        """Record one hold (an empty one is dropped)."""
        if end_ns <= start_ns:
            return
        starts, ends = self._starts, self._ends
        if not starts or start_ns >= starts[-1]:
            starts.append(start_ns)  # the common case: the latest hold so far
            ends.append(end_ns)
        else:
            index = bisect.bisect_right(starts, start_ns)
            starts.insert(index, start_ns)
            ends.insert(index, end_ns)
        self._latest_end = max(self._latest_end, end_ns)
        if self._longest >= 0:  # known (see _trim)
            self._longest = max(self._longest, end_ns - start_ns)
        self._trim()

    def _trim(self) -> None:
        """Keep about the latest `limit` holds: when more than twice that many are kept,
        the oldest go `limit` at a time (in one cut); the longest hold kept is then found
        again when free_from next needs it, not at every trim."""
        starts, ends = self._starts, self._ends
        excess = len(starts) - 2 * self._limit
        if excess <= 0:
            return
        drop = -(-excess // self._limit) * self._limit
        del starts[:drop], ends[:drop]
        self._longest = -1  # unknown until free_from measures it

    def _longest_kept(self) -> int:
        if self._longest < 0:
            self._longest = max(map(operator.sub, self._ends, self._starts), default=0)
        return self._longest

    @property
    def latest_end_ns(self) -> int:
        """No hold kept lasts beyond this."""
        return self._latest_end

    def add_after(self, starts: list[int], length_ns: int | list[int]) -> None:
        """add() of [start, start + length) for each of *starts* (ascending, the holds
        disjoint), when none starts before the latest hold kept: the batch form. The
        length is *length_ns*, or each hold's item of the list (empty holds are dropped)."""
        if isinstance(length_ns, int):
            if length_ns <= 0:
                return
            ends = [start + length_ns for start in starts]
            longest = length_ns
        else:
            kept = [
                (start, length)
                for start, length in zip(starts, length_ns, strict=True)
                if length > 0
            ]
            starts = [start for start, _length in kept]
            ends = [start + length for start, length in kept]
            longest = max((length for _start, length in kept), default=0)
        if not starts:
            return
        if self._starts and starts[0] < self._starts[-1]:
            raise KernelBug("add_after: a hold starts before the latest one kept")
        self._starts.extend(starts)
        self._ends.extend(ends)
        self._latest_end = max(self._latest_end, ends[-1])
        if self._longest >= 0:  # known (see _trim)
            self._longest = max(self._longest, longest)
        self._trim()

    def free_from(self, at_ns: int, *, handed_over: bool = False) -> int:
        """When a thread arriving at *at_ns* gets the lock: the latest end of the holds that
        contain *at_ns*, or *at_ns* when none does. *handed_over*: the caller was handed the
        lock at *at_ns* by its previous holder, so a hold starting exactly then does not hold
        it off (a ticket spinlock's hand-off: the waiter slips in between)."""
        if at_ns >= self._latest_end:
            return at_ns
        starts, ends = self._starts, self._ends
        find = bisect.bisect_left if handed_over else bisect.bisect_right
        index = find(starts, at_ns) - 1
        horizon = at_ns - self._longest_kept()  # a hold that started by then has ended by at_ns
        free = at_ns
        while index >= 0 and starts[index] >= horizon:
            free = max(free, ends[index])
            index -= 1
        return free


class SimLock:
    """One lock instance (a zone's lock, an mm's mmap_lock ...); readers share when rw."""

    def __init__(self, registry: LockRegistry, lock_class: str, rw: bool = False) -> None:
        self._registry = registry
        self.lock_class = lock_class
        self.rw = rw
        self.exclusive_holds = LockHolds()  # writers, or every holder of a plain lock
        self.shared_holds = LockHolds()  # readers of a reader-writer lock
        self.last_owner = -1
        self._held: dict[int, tuple[int, bool, bool]] = {}  # tid -> (acquired at, read?, bounced)
        # The statistics rows this lock feeds, looked up once (the hot path takes locks often).
        self._stats_read = registry.stats_for(lock_class, True, write=False)
        self._stats_exclusive = registry.stats_for(lock_class, False, write=rw)

    def forget_holds(self) -> None:
        """Drop the hold history (the lock's owner is gone): each of up to 2 x `limit`
        holds kept is two ints, and an exited task's record lives on as a zombie."""
        self.exclusive_holds = LockHolds()
        self.shared_holds = LockHolds()

    def acquire(self, thread: SimThread, *, read: bool = False) -> None:
        """Take the lock at the thread's time, waiting as the lock's kind says."""
        if thread.tid in self._held:
            raise KernelBug(f"thread {thread.tid} takes {self.lock_class} recursively")
        registry = self._registry
        kind = registry.kinds[self.lock_class]
        costs = registry.costs
        arrival = thread.now_ns
        shared = read and self.rw
        busy_until = self.exclusive_holds.free_from(arrival)
        if not shared:  # a writer waits for the readers too, and for a writer behind them
            while True:
                handed = busy_until != arrival
                after = self.shared_holds.free_from(busy_until, handed_over=handed)
                if after != busy_until:
                    after = self.exclusive_holds.free_from(after, handed_over=True)
                if after == busy_until:
                    break
                busy_until = after
        bounced = self.last_owner not in (-1, thread.tid)
        stats = self._stats_read if shared else self._stats_exclusive
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
        self._held[thread.tid] = (thread.now_ns, shared, bounced)
        self.last_owner = thread.tid

    def free_after(self, at_ns: int) -> bool:
        """Whether no hold, by anyone, lasts beyond *at_ns*: from then on nobody waits."""
        return (
            self.exclusive_holds.latest_end_ns <= at_ns
            and self.shared_holds.latest_end_ns <= at_ns
            and not self._held
        )

    def record_holds(
        self, thread: SimThread, starts: list[int], hold_ns: int | list[int], *, read: bool = False
    ) -> None:
        """What acquire, hold_ns of work and release at each of *starts* (ascending, the
        holds disjoint) by *thread* would record, when the lock is free_after(starts[0]):
        no waits, so only the holds and the statistics. *hold_ns* is one length for all, or
        one per hold. The thread's clock is the caller's.

        Raises:
            KernelBug: the lock may be busy then, so the holds could have waited.
        """
        if not starts:
            return
        if not self.free_after(starts[0]):
            raise KernelBug(f"{self.lock_class}: batched holds on a lock that may be busy")
        shared = read and self.rw
        (self.shared_holds if shared else self.exclusive_holds).add_after(starts, hold_ns)
        bounced = self.last_owner not in (-1, thread.tid)
        stats = self._stats_read if shared else self._stats_exclusive
        stats.record_holds(len(starts), hold_ns, bounced)
        self.last_owner = thread.tid

    def record_blocked(self, wait_ns: int) -> None:
        """A waiter that must sleep for a resource this lock guards (e.g. a free pkmap slot)."""
        self._stats_exclusive.record_wait(wait_ns, bounced=True)

    def charge(self, thread: SimThread, work_ns: int) -> None:
        """*work_ns* of *thread*'s work with the lock held (acquire, run, release)."""
        self.acquire(thread)
        thread.run(work_ns)
        self.release(thread)

    def release(self, thread: SimThread) -> None:
        """Drop the lock at the thread's time."""
        held = self._held.pop(thread.tid, None)
        if held is None:
            raise KernelBug(f"thread {thread.tid} releases {self.lock_class} it does not hold")
        acquired_at, read, bounced = held
        hold = thread.now_ns - acquired_at
        (self.shared_holds if read else self.exclusive_holds).add(acquired_at, thread.now_ns)
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
