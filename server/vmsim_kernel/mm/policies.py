"""Page replacement policies: Linux's two-list LRU and the textbook FIFO, LRU, CLOCK, RANDOM, OPT,
plus MRU and UNOPT (OSTEP's paging-policy.py has them as foils).

Models mm/vmscan.c + mm/swap.c (active/inactive lists, shrink_active_list deactivation,
second chance on the accessed bit in shrink_page_list) and the classic algorithms. One
policy object serves reclaim (keys are pfns; `referenced` tests and clears the accessed
bits of the PTEs through the reverse map) and trace replay (keys are page numbers).
"""

from __future__ import annotations

import heapq
import random
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.config import ReplacementPolicy
from vmsim_kernel.errors import InvalidArgument, KernelBug

from .physmem import PageFlag

if TYPE_CHECKING:
    from vmsim_kernel.kernel.locks import SimLock
    from vmsim_kernel.kernel.sched import Scheduler

    from .physmem import PhysicalMemory

__all__ = [
    "ClockPolicy",
    "FifoPolicy",
    "FileLru",
    "LruPolicy",
    "Lruvec",
    "MruPolicy",
    "OptPolicy",
    "PagePolicy",
    "RandomPolicy",
    "ReferencedFn",
    "TwoListPolicy",
    "UnoptPolicy",
    "charge_lru_lock",
    "lru_cache_add",
    "lru_cache_add_many",
    "lru_del",
    "lru_note_cost",
    "make_policy",
    "mark_page_lazyfree",
    "page_is_lazyfree",
]

ReferencedFn = Callable[[int], bool]


class PagePolicy(ABC):
    """What reclaim asks of a replacement policy."""

    name: ClassVar[str]
    # Movements between the active and inactive lists, for pgactivate/pgdeactivate/pgrefill;
    # only the two-list policy has lists to move between.
    nr_scanned: int = 0  # inactive pages looked at by reclaim (victims and second chances)
    nr_activated: int = 0
    nr_deactivated: int = 0
    nr_refilled: int = 0

    @abstractmethod
    def insert(self, key: int) -> None:
        """*key* became resident (it was just used)."""

    def insert_active(self, key: int) -> None:
        """*key* became resident and belongs to the workingset (a refault close enough to
        its eviction): the active list where there is one."""
        self.insert(key)

    @property
    def nr_active(self) -> int:
        """Pages on the active list (0 for a policy without one)."""
        return 0

    def insert_many(self, keys: list[int]) -> None:
        """The batch form of insert, in order (keys distinct and not resident)."""
        for key in keys:
            self.insert(key)

    def access(self, key: int) -> None:  # noqa: B027 - most policies learn recency from the accessed bit
        """A resident *key* was used; only exact-recency policies do work here."""

    def access_many(self, keys: npt.NDArray[np.int64]) -> None:
        """The batch form of access, in order."""
        for key in keys.tolist():
            self.access(key)

    @abstractmethod
    def remove(self, key: int) -> None:
        """*key* left memory for another reason (munmap, exit)."""

    @abstractmethod
    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        """Pick a victim, stop tracking it and return it; None when nothing is tracked."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, key: object) -> bool: ...

    @abstractmethod
    def snapshot(self) -> dict[str, list[int]]:
        """The lists, coldest first, for reports and tests."""


class _OrderedPolicy(PagePolicy):
    """Shared bookkeeping of the policies kept as one ordered list (coldest first)."""

    def __init__(self) -> None:
        self._queue: OrderedDict[int, None] = OrderedDict()

    def insert(self, key: int) -> None:
        if key in self._queue:
            raise KernelBug(f"{self.name}: key {key} is already resident")
        self._queue[key] = None

    def insert_many(self, keys: list[int]) -> None:
        queue = self._queue
        before = len(queue)
        queue.update(dict.fromkeys(keys))
        if len(queue) != before + len(keys):
            raise KernelBug(f"{self.name}: a key of the batch was already resident")

    def remove(self, key: int) -> None:
        try:
            del self._queue[key]
        except KeyError:
            raise KernelBug(f"{self.name}: key {key} is not resident") from None

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, key: object) -> bool:
        return key in self._queue

    def snapshot(self) -> dict[str, list[int]]:
        return {"queue": list(self._queue)}


class FifoPolicy(_OrderedPolicy):
    """First in, first out: the oldest resident page goes, used or not."""

    name = "fifo"

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        if not self._queue:
            return None
        return self._queue.popitem(last=False)[0]


class LruPolicy(_OrderedPolicy):
    """Exact least recently used: every access moves the page to the hot end."""

    name = "lru"

    # A mapped page on the file lists (page cache, lazyfree anon) is not this policy's: its
    # accesses are the file LRU's business (the accessed bit).
    def access(self, key: int) -> None:
        if key in self._queue:
            self._queue.move_to_end(key)

    def access_many(self, keys: npt.NDArray[np.int64]) -> None:
        queue = self._queue
        for key in keys.tolist():
            if key in queue:
                queue.move_to_end(key)

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        if not self._queue:
            return None
        return self._queue.popitem(last=False)[0]


class MruPolicy(LruPolicy):
    """Most recently used: the hot end goes first (right for a loop bigger than memory)."""

    name = "mru"

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        if not self._queue:
            return None
        return self._queue.popitem(last=True)[0]


class ClockPolicy(_OrderedPolicy):
    """One-handed clock: the hand points at the oldest page; a referenced page gets a second chance.

    The ring is the ordered list with the hand at its front: passing a referenced page
    clears its bit and moves it behind the hand; new pages enter just behind the hand.
    """

    name = "clock"

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        queue = self._queue
        for _ in range(len(queue) + 1):
            if not queue:
                return None
            key = next(iter(queue))
            if referenced(key):
                queue.move_to_end(key)
                continue
            del queue[key]
            return key
        return queue.popitem(last=False)[0] if queue else None


class RandomPolicy(PagePolicy):
    """A uniformly random resident page, from a seeded generator."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._keys: list[int] = []
        self._index: dict[int, int] = {}

    def insert(self, key: int) -> None:
        if key in self._index:
            raise KernelBug(f"random: key {key} is already resident")
        self._index[key] = len(self._keys)
        self._keys.append(key)

    def remove(self, key: int) -> None:
        position = self._index.pop(key, None)
        if position is None:
            raise KernelBug(f"random: key {key} is not resident")
        last = self._keys.pop()
        if last != key:
            self._keys[position] = last
            self._index[last] = position

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        if not self._keys:
            return None
        key = self._keys[self._random.randrange(len(self._keys))]
        self.remove(key)
        return key

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def snapshot(self) -> dict[str, list[int]]:
        return {"resident": sorted(self._keys)}


class TwoListPolicy(PagePolicy):
    """Linux's active/inactive lists with second chance on the accessed bit.

    New anonymous pages start on the inactive list (lru_cache_add, Linux 5.9+ workingset
    rules); a refault the workingset rules keep goes to the active list (insert_active).
    When the inactive list is smaller than the active one, pages move from the active tail
    to the inactive head with their accessed bits cleared (shrink_active_list deactivates
    anonymous pages whether referenced or not). Reclaim scans the inactive tail as
    folio_check_references does: every mapped page starts with the accessed bit of the fault
    that mapped it, so a first reference only marks the page (PG_referenced) and rotates it
    for another trip; a page referenced again on that trip is activated; an unreferenced
    one is the victim.
    """

    name = "linux"
    # When every inactive page kept being referenced through a whole scan, choose_victim
    # still takes the coldest (True) or finds no victim this pass (False).
    TAKE_COLDEST_WHEN_ALL_REFERENCED: ClassVar[bool] = True

    def __init__(self) -> None:
        self.active: OrderedDict[int, None] = OrderedDict()  # coldest first
        self.inactive: OrderedDict[int, None] = OrderedDict()
        self.nr_scanned = 0
        self.nr_activated = 0
        self.nr_deactivated = 0
        self.nr_refilled = 0  # active pages scanned (all are deactivated: anon ignores references)
        self.marked: set[int] = set()  # PG_referenced: referenced once on the inactive list

    def insert(self, key: int) -> None:
        if key in self.active or key in self.inactive:
            raise KernelBug(f"linux: key {key} is already on an LRU list")
        self.inactive[key] = None

    def insert_active(self, key: int) -> None:
        if key in self.active or key in self.inactive:
            raise KernelBug(f"linux: key {key} is already on an LRU list")
        self.active[key] = None

    @property
    def nr_active(self) -> int:
        return len(self.active)

    def insert_many(self, keys: list[int]) -> None:
        """lru_cache_add of a batch (one pagevec drain): all onto the inactive list, in order."""
        inactive = self.inactive
        before = len(inactive)
        if self.active and not self.active.keys().isdisjoint(keys):
            raise KernelBug("linux: a key of the batch is already on the active list")
        inactive.update(dict.fromkeys(keys))
        if len(inactive) != before + len(keys):
            raise KernelBug("linux: a key of the batch was already on the inactive list")

    def remove(self, key: int) -> None:
        if key in self.inactive:
            del self.inactive[key]
        elif key in self.active:
            del self.active[key]
        else:
            raise KernelBug(f"linux: key {key} is on no LRU list")
        self.marked.discard(key)

    def _activate(self, key: int) -> None:
        """A page referenced again on its inactive trip joins the active list (its mark
        stays, so a page deactivated but still used comes back quickly)."""
        self.active[key] = None
        self.nr_activated += 1

    def _age_active(self, referenced: ReferencedFn) -> None:
        """shrink_active_list: move the coldest active pages to the inactive list."""
        nr_to_move = max(1, (len(self.active) - len(self.inactive) + 1) // 2)
        for _ in range(min(nr_to_move, len(self.active))):
            key = self.active.popitem(last=False)[0]
            referenced(key)
            self.inactive[key] = None
            self.nr_refilled += 1
            self.nr_deactivated += 1

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        for _ in range(2 * len(self) + 2):
            if not self.inactive or len(self.inactive) < len(self.active):
                self._age_active(referenced)
            if not self.inactive:
                return None
            key = self.inactive.popitem(last=False)[0]
            self.nr_scanned += 1
            marked = self.marked
            if referenced(key):
                if key in marked:  # referenced on its second trip too: the workingset
                    self._activate(key)
                else:  # FOLIOREF_KEEP: marked, back at the head for another trip
                    marked.add(key)
                    self.inactive[key] = None
                continue
            marked.discard(key)
            return key
        if not self.TAKE_COLDEST_WHEN_ALL_REFERENCED:
            return None
        # Every page kept being referenced: take the coldest inactive page anyway.
        if not self.inactive:
            self._age_active(referenced)
        if not self.inactive:
            return None
        key = self.inactive.popitem(last=False)[0]
        self.marked.discard(key)
        return key

    def __len__(self) -> int:
        return len(self.active) + len(self.inactive)

    def __contains__(self, key: object) -> bool:
        return key in self.active or key in self.inactive

    def snapshot(self) -> dict[str, list[int]]:
        return {"active": list(self.active), "inactive": list(self.inactive)}


class FileLru(TwoListPolicy):
    """The file LRU lists (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE) of page cache pages.

    New pages start inactive (or active, for a refault the workingset rules keep). Reads
    and writes through read()/write() reach a page through mark_page_accessed: the first
    touch sets PG_referenced (`marked`), the second moves an inactive page to the active
    list. Reclaim scans the inactive tail as folio_check_references does for file pages: a
    page a PTE referenced is activated if it was referenced before (PG_referenced) and
    otherwise marked and rotated; a page no PTE referenced is reclaimed, PG_referenced or
    not (FOLIOREF_RECLAIM_CLEAN: a page used once through read() is not kept for it).
    The active list is aged as the anon one, when the inactive list is smaller than it
    (inactive_is_low with inactive_ratio 1 below 1 GiB).
    """

    name = "file"
    TAKE_COLDEST_WHEN_ALL_REFERENCED = False  # all referenced: nothing reclaimed this pass

    def __init__(self) -> None:
        super().__init__()
        self.workingset: set[int] = set()  # PG_workingset: pages that have been active

    def insert_active(self, key: int) -> None:
        super().insert_active(key)
        self.workingset.add(key)

    def remove(self, key: int) -> None:
        super().remove(key)
        self.workingset.discard(key)

    def mark_page_accessed(self, key: int) -> bool:
        """folio_mark_accessed: returns whether the page moved to the active list."""
        marked = self.marked
        if key not in marked:
            marked.add(key)
            return False
        if key in self.inactive:
            del self.inactive[key]
            self._activate(key)
            return True
        return False

    def _activate(self, key: int) -> None:
        """Activated, a file page is PG_workingset and loses PG_referenced (folio_activate)."""
        super()._activate(key)
        self.workingset.add(key)
        self.marked.discard(key)

    def rotate_reclaimable(self, key: int) -> None:
        """folio_rotate_reclaimable: a page reclaim took off the lists (a dirty victim)
        goes back at the tail of the inactive list, the next to be reclaimed."""
        if key in self.active or key in self.inactive:
            raise KernelBug(f"file: key {key} is already on an LRU list")
        self.inactive[key] = None
        self.inactive.move_to_end(key, last=False)

    def evicted(self, key: int) -> bool:
        """A victim choose_victim returned leaves memory: whether it was PG_workingset."""
        if key in self.workingset:
            self.workingset.discard(key)
            return True
        return False


class OptPolicy(PagePolicy):
    """Belady's optimal policy: evict the page whose next use is furthest away.

    Built from the whole reference string; the replay calls `advance(position)` before
    each reference so the policy knows where in the future it stands.
    """

    name = "opt"
    NEVER = 1 << 62

    _SIGN: ClassVar[int] = -1  # heap order: the furthest next use first

    def __init__(self, future: Sequence[int]) -> None:
        trace = list(future)
        self._next_use = [self.NEVER] * len(trace)
        last_seen: dict[int, int] = {}
        for position in range(len(trace) - 1, -1, -1):
            self._next_use[position] = last_seen.get(trace[position], self.NEVER)
            last_seen[trace[position]] = position
        self._position = 0
        self._resident: dict[int, int] = {}  # key -> its next use
        self._heap: list[tuple[int, int]] = []  # (+-next use, key), stale entries skipped

    def advance(self, position: int) -> None:
        """The next reference is trace[position]."""
        self._position = position

    def _touch(self, key: int) -> None:
        next_use = (
            self._next_use[self._position] if self._position < len(self._next_use) else self.NEVER
        )
        self._resident[key] = next_use
        heapq.heappush(self._heap, (self._SIGN * next_use, key))

    def insert(self, key: int) -> None:
        if key in self._resident:
            raise KernelBug(f"opt: key {key} is already resident")
        self._touch(key)

    def access(self, key: int) -> None:
        self._touch(key)

    def remove(self, key: int) -> None:
        if self._resident.pop(key, None) is None:
            raise KernelBug(f"opt: key {key} is not resident")

    def choose_victim(self, referenced: ReferencedFn) -> int | None:
        while self._heap:
            signed_next, key = heapq.heappop(self._heap)
            if self._resident.get(key) == self._SIGN * signed_next:
                del self._resident[key]
                return key
        return None

    def __len__(self) -> int:
        return len(self._resident)

    def __contains__(self, key: object) -> bool:
        return key in self._resident

    def snapshot(self) -> dict[str, list[int]]:
        return {"resident": sorted(self._resident)}


class UnoptPolicy(OptPolicy):
    """UNOPT: evict the page used soonest (pages never used again go last), OSTEP's worst case."""

    name = "unopt"
    _SIGN = 1  # heap order: the soonest next use first


def make_policy(
    policy: ReplacementPolicy, *, seed: int = 0, future: Sequence[int] | None = None
) -> PagePolicy:
    """The policy object for a configuration value."""
    if policy is ReplacementPolicy.LINUX:
        return TwoListPolicy()
    if policy is ReplacementPolicy.FIFO:
        return FifoPolicy()
    if policy is ReplacementPolicy.LRU:
        return LruPolicy()
    if policy is ReplacementPolicy.CLOCK:
        return ClockPolicy()
    if policy is ReplacementPolicy.RANDOM:
        return RandomPolicy(seed)
    if policy is ReplacementPolicy.MRU:
        return MruPolicy()
    if future is None:
        raise InvalidArgument(
            "policy",
            f"{policy.value} needs the future reference string: use trace replay",
            "linux, fifo, lru, mru, clock, random",
        )
    return UnoptPolicy(future) if policy is ReplacementPolicy.UNOPT else OptPolicy(future)


class Lruvec:
    """lruvec: the node's LRU lists, their lock, and the list movements reclaim reports.

    The lists are the replacement policy's (Linux's two lists, or a textbook policy), and so
    are the movement counters (nr_scanned, nr_activated, ...) that vmstat's pgscan,
    pgactivate, pgdeactivate and pgrefill come from.

    Attributes:
        policy: the lists, coldest first, and their counters.
        lru_lock: &lruvec->lru_lock.
        tracks_access: whether the policy must hear of every access (exact LRU), not only
            see the accessed bits when reclaim scans.
        sched: the scheduler whose current thread pays for list work.
        nonresident_age: lruvec->nonresident_age, the clock of the workingset rules
            (mm/workingset.c): it ticks once per page evicted and once per refault
            activated, and a page's refault distance is how far it ticked while the page
            was out.
        file: the file LRU lists (page cache pages), beside the anon ones of *policy*.
        anon_cost, file_cost: lruvec->anon_cost/file_cost, what reclaiming each kind has
            cost lately (pages written by reclaim, file pages that refaulted while in the
            workingset): get_scan_count's balance, halved as they grow (lru_note_cost).
        bucket_order: log2 of the pages per shadow-entry timestamp (workingset.py).
        scan_credit: the file weight carried between victims, so each pass takes anon and
            file victims in get_scan_count's proportion (a Bresenham split of the stream).
        refaults_file: workingset_activate_file when reclaim last finished
            (target_lruvec->refaults): a change since means file pages are refaulting, so
            the cache is not trimmed alone (cache_trim_mode off).
    """

    def __init__(
        self, policy: PagePolicy, lru_lock: SimLock, sched: Scheduler, *, tracks_access: bool
    ) -> None:
        self.policy = policy
        self.lru_lock = lru_lock
        self.sched = sched
        self.tracks_access = tracks_access
        self.nonresident_age = 0
        self.file = FileLru()
        self.anon_cost = 0
        self.file_cost = 0
        self.refaults_file = 0
        self.scan_credit = 0  # get_scan_count's split, carried from victim to victim
        self.bucket_order = 0  # workingset timestamps' granularity (boot sets it from RAM)


def lru_note_cost(lruvec: Lruvec, file: bool, nr_pages: int) -> None:
    """lru_note_cost: reclaiming *nr_pages* of one kind cost I/O (a page written, or a
    workingset page that came back); the costs decay by half once they pass a quarter of
    the LRU pages, so get_scan_count follows what reclaim costs now."""
    if file:
        lruvec.file_cost += nr_pages
    else:
        lruvec.anon_cost += nr_pages
    lru_size = len(lruvec.policy) + len(lruvec.file)
    if lruvec.anon_cost + lruvec.file_cost > lru_size // 4:
        lruvec.anon_cost //= 2
        lruvec.file_cost //= 2


def charge_lru_lock(lruvec: Lruvec, nr_pages: int, per_page_ns: int) -> None:
    """LRU list work on *nr_pages* under the LRU lock (lruvec->lru_lock)."""
    lruvec.lru_lock.charge(lruvec.sched.current, per_page_ns * nr_pages)


def lru_cache_add(lruvec: Lruvec, pfn: int, *, active: bool = False) -> None:
    """lru_cache_add: a new resident page goes on the lists (the active one for a refault
    workingset_refault activated), under the LRU lock."""
    if active:
        lruvec.policy.insert_active(pfn)
    else:
        lruvec.policy.insert(pfn)
    charge_lru_lock(lruvec, 1, lruvec.sched.costs.lru_update_ns)


def lru_cache_add_many(lruvec: Lruvec, pfns: list[int]) -> None:
    """lru_cache_add of a batch of new resident pages, in order, in one hold of the LRU lock."""
    lruvec.policy.insert_many(pfns)
    if pfns:
        charge_lru_lock(lruvec, len(pfns), lruvec.sched.costs.lru_update_ns)


_LAZYFREE_MASK: Final = int(PageFlag.ANON | PageFlag.SWAPBACKED)


def page_is_lazyfree(page_flags: int) -> bool:
    """An anonymous page that is not swap-backed: MADV_FREE made it (folio_is_file_lru of
    an anon folio), so it sits on the file lists and reclaim may discard it while clean."""
    return page_flags & _LAZYFREE_MASK == PageFlag.ANON


def lru_del(lruvec: Lruvec, pfn: int, page_flags: int) -> None:
    """lruvec_del_folio: take a page off whichever list holds it (the file lists for page
    cache and lazyfree pages, else the anon policy's)."""
    if pfn in lruvec.file:
        lruvec.file.remove(pfn)
    elif page_is_lazyfree(page_flags):
        raise KernelBug(f"lazyfree pfn {pfn} is on no file list")
    else:
        lruvec.policy.remove(pfn)


def mark_page_lazyfree(lruvec: Lruvec, physmem: PhysicalMemory, pfn: int) -> bool:
    """mark_page_lazyfree (lru_lazyfree_fn): a swap-backed anonymous page on the anon lists
    leaves them for the head of the inactive file list, without PG_swapbacked (and without
    the referenced mark of its old list); returns whether it moved (pglazyfree). A page in
    the swap cache or mlocked is left where it is, as is one already lazyfree."""
    page_flags = physmem.flags.item(pfn)
    if page_flags & (PageFlag.SWAPCACHE | PageFlag.MLOCKED) or page_is_lazyfree(page_flags):
        return False
    if page_flags & _LAZYFREE_MASK != _LAZYFREE_MASK or pfn not in lruvec.policy:
        return False
    lruvec.policy.remove(pfn)
    physmem.flags[pfn] = page_flags & ~int(PageFlag.SWAPBACKED)
    lruvec.file.insert(pfn)
    charge_lru_lock(lruvec, 1, lruvec.sched.costs.lru_update_ns)
    return True
