"""Fast trace replay: the textbook reference-string loops in C (_replay_loops.c, built at
install), and the FIFO/LRU/MRU/CLOCK loops again in CPython for an install without a compiler.

The fast twin of replay.py, whose Python policies (policies.py) stay the reference: replay()
hands a trace here first and gets the identical ReplayResult (same hits, misses, victims and
fault positions; RANDOM draws from the same Mersenne Twister stream as random.Random(seed)).
Anything the fast loops do not cover (another policy, a bad entry) returns None and the
Python path answers, errors included.

Also the whole LRU miss-ratio curve in one pass: Mattson, Gecsei, Slutz and Traiger (1970)
stack distances counted with a Fenwick tree, O(n log n) for every frame count at once.

The C loops replaced numba (issue 23): numba's import and its cache load cost a process
about half a second and 200 MB of install, the C module loads in a millisecond, and the
loops run at the same speed.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT
from vmsim_kernel.config import ReplacementPolicy
from vmsim_proto.replay_results import MissRatioCurve, ReplayResult

__all__ = [
    "MissRatioCurve",
    "compiled",
    "load_trace",
    "lru_miss_curve",
    "pages_of",
    "runs_in_c",
    "try_replay",
]

Int64Array = npt.NDArray[np.int64]

_MT_N: Final = 624
try:
    from . import _replay_loops as _loops
except ImportError:  # pragma: no cover - an install that could not compile the C file
    _loops = None  # type: ignore[assignment]


def compiled() -> bool:
    """Whether the C loops were built at install (else the CPython loops answer)."""
    return _loops is not None


# ---- the same loops for CPython, for an install without the C module ------------------------
# Indexing numpy arrays from Python costs ~0.4 us a reference; CPython's C containers
# (OrderedDict's move_to_end/popitem, set, deque) keep the same lists at ~0.1-0.2 us.
def _lru_in_python(
    pages: list[int], frames: int, hottest_first: bool = False
) -> tuple[list[int], list[int]]:
    """LRU (MRU with *hottest_first*) with an OrderedDict as the list (coldest first), as
    LruPolicy and MruPolicy keep it."""
    queue: OrderedDict[int, None] = OrderedDict()
    move_to_end, popitem = queue.move_to_end, queue.popitem
    faults_at: list[int] = []
    victims: list[int] = []
    fault, evict = faults_at.append, victims.append
    count = 0
    for position, page in enumerate(pages):
        if page in queue:
            move_to_end(page)
            continue
        fault(position)
        if count >= frames:
            evict(popitem(hottest_first)[0])
        else:
            count += 1
        queue[page] = None
    return faults_at, victims


def _ring_in_python(
    pages: list[int], frames: int, second_chance: bool
) -> tuple[list[int], list[int]]:
    """_ring with a deque as the ring (the hand at its left end) and sets for the bits."""
    resident: set[int] = set()
    referenced: set[int] = set()
    ring: deque[int] = deque()
    push, pop_front = ring.append, ring.popleft
    faults_at: list[int] = []
    victims: list[int] = []
    fault, evict = faults_at.append, victims.append
    count = 0
    for position, page in enumerate(pages):
        if page not in resident:
            fault(position)
            if count >= frames:
                candidate = pop_front()
                while candidate in referenced:  # a second chance: cleared, to the back
                    referenced.remove(candidate)
                    push(candidate)
                    candidate = pop_front()
                resident.remove(candidate)
                evict(candidate)
            else:
                count += 1
            resident.add(page)
            push(page)
        if second_chance:
            referenced.add(page)
    return faults_at, victims


def _stack_distance_misses_in_python(pages: list[int], nr_pages: int) -> tuple[list[int], int]:
    """(LRU misses for 1 .. distinct frames, distinct pages), Mattson's one pass (the C
    stack_distance_misses, for an install without it)."""
    total = len(pages)
    last = [-1] * nr_pages
    tree = [0] * (total + 1)  # Fenwick tree over positions 1..total
    histogram = [0] * (total + 2)  # reuses by stack distance (1-based)
    distinct = 0
    for position in range(total):
        page = pages[position]
        before = last[page]
        if before >= 0:
            # distinct pages used strictly between the two uses: their last uses lie there
            inside = 0
            index = position  # prefix sum over 1..position (times 0..position-1)
            while index > 0:
                inside += tree[index]
                index -= index & -index
            index = before + 1  # minus the prefix over times 0..before
            while index > 0:
                inside -= tree[index]
                index -= index & -index
            histogram[inside + 1] += 1
            index = before + 1
            while index <= total:
                tree[index] -= 1
                index += index & -index
        else:
            distinct += 1
        index = position + 1
        while index <= total:
            tree[index] += 1
            index += index & -index
        last[page] = position
    misses = []
    hits = 0
    for frames in range(1, distinct + 1):
        hits += histogram[frames]
        misses.append(total - hits)
    return misses, distinct


def load_trace(path: str | Path) -> Int64Array:
    """Read a trace file into an array of integers (vmsim_proto's vectorised parser).

    Raises:
        InvalidArgument: a token is not a number (the message names its line).
    """
    from .replay import parse_trace_bytes

    return parse_trace_bytes(Path(path).read_bytes())


def pages_of(trace: Any, addresses: bool) -> Int64Array | None:
    """The trace as page numbers, or None if any entry is not a valid one (Python explains)."""
    array = np.asarray(trace)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        return None
    limit = 1 << (32 if addresses else 20)
    if array.size and (int(array.min()) < 0 or int(array.max()) >= limit):
        return None
    pages = array.astype(np.int64)
    return pages >> PAGE_SHIFT if addresses else pages


def _mersenne_state(seed: int) -> tuple[Int64Array, int]:
    """random.Random(seed)'s generator state (624 words and the cursor), as the C loop takes it."""
    _version, internal, _gauss = random.Random(seed).getstate()
    return np.asarray(internal[:_MT_N], dtype=np.int64), int(internal[_MT_N])


_RANDOM_MATCHES_PYTHON: bool | None = None


def _random_matches_python() -> bool:
    """Whether the C randrange draws what this Python's random.Random draws."""
    global _RANDOM_MATCHES_PYTHON
    if _RANDOM_MATCHES_PYTHON is None:
        assert _loops is not None
        reference = random.Random(12345)
        state, cursor = _mersenne_state(12345)
        bounds = np.asarray([1, 2, 3, 7, 64, 100, 1000, 65_537, 999_999] * 100, dtype=np.int64)
        draws = np.empty_like(bounds)
        _loops.random_draws(state, cursor, bounds, draws)
        _RANDOM_MATCHES_PYTHON = draws.tolist() == [reference.randrange(n) for n in bounds]
    return _RANDOM_MATCHES_PYTHON


# Every policy but the two-list one (linux) has a C loop; FIFO, LRU, MRU and CLOCK also have
# CPython loops, and the others without C take replay()'s path.
_COMPILED_POLICIES: Final = frozenset(
    {
        ReplacementPolicy.FIFO,
        ReplacementPolicy.LRU,
        ReplacementPolicy.MRU,
        ReplacementPolicy.CLOCK,
        ReplacementPolicy.OPT,
        ReplacementPolicy.UNOPT,
        ReplacementPolicy.RANDOM,
    }
)
_INTERPRETED_POLICIES: Final = frozenset(
    {ReplacementPolicy.FIFO, ReplacementPolicy.LRU, ReplacementPolicy.MRU, ReplacementPolicy.CLOCK}
)


def runs_in_c(policy: ReplacementPolicy) -> bool:
    """Whether a replay under *policy* (without steps) runs in the C loops, which release
    the GIL: the whole replay then holds it for a few milliseconds at most."""
    return _loops is not None and policy in _COMPILED_POLICIES


def try_replay(
    trace: Any,
    frames: int,
    policy: ReplacementPolicy,
    seed: int,
    addresses: bool,
    lists: bool = True,
) -> ReplayResult | None:
    """replay()'s answer from the fast loops, or None when the Python policies must answer.

    The C loops when they were built, else the CPython loops for FIFO, LRU, MRU and CLOCK.
    *frames* and the trace length are already checked by replay(); entries are checked here
    and a bad one returns None so that replay() names it. Without *lists* the result
    carries the counts only (no victims, no fault positions).
    """
    if policy not in (_COMPILED_POLICIES if _loops is not None else _INTERPRETED_POLICIES):
        return None  # linux (and without C opt, unopt, random): the Python policies answer
    pages = pages_of(trace, addresses)
    if pages is None:
        return None
    if _loops is None:
        listed = pages.tolist()
        if policy in (ReplacementPolicy.LRU, ReplacementPolicy.MRU):
            faults, evicted = _lru_in_python(listed, frames, policy is ReplacementPolicy.MRU)
        else:
            faults, evicted = _ring_in_python(listed, frames, policy is ReplacementPolicy.CLOCK)
        return _result(policy, frames, len(listed), faults, evicted, lists)
    if policy is ReplacementPolicy.RANDOM and not _random_matches_python():
        return None
    nr_pages = int(pages.max()) + 1 if pages.size else 1
    faults_at = np.empty(pages.size, np.int64)
    victims = np.empty(pages.size, np.int64)
    if policy in (ReplacementPolicy.FIFO, ReplacementPolicy.CLOCK):
        second_chance = policy is ReplacementPolicy.CLOCK
        counts = _loops.ring(pages, frames, nr_pages, second_chance, faults_at, victims)
    elif policy is ReplacementPolicy.LRU:
        counts = _loops.lru(pages, frames, nr_pages, faults_at, victims)
    elif policy is ReplacementPolicy.MRU:
        counts = _loops.mru(pages, frames, nr_pages, faults_at, victims)
    elif policy is ReplacementPolicy.OPT:
        counts = _loops.opt(pages, frames, nr_pages, faults_at, victims)
    elif policy is ReplacementPolicy.UNOPT:
        counts = _loops.unopt(pages, frames, nr_pages, faults_at, victims)
    else:  # RANDOM
        state, cursor = _mersenne_state(seed)
        counts = _loops.random(pages, frames, nr_pages, state, cursor, faults_at, victims)
    nr_faults, nr_victims = counts
    if not lists:
        return _counts(policy, frames, pages.size, nr_faults)
    return _result(
        policy,
        frames,
        pages.size,
        faults_at[:nr_faults].tolist(),
        victims[:nr_victims].tolist(),
        lists,
    )


def _counts(policy: ReplacementPolicy, frames: int, references: int, misses: int) -> ReplayResult:
    return ReplayResult(
        policy=policy.value,
        frames=frames,
        references=references,
        hits=references - misses,
        misses=misses,
        victims=(),
    )


def _result(
    policy: ReplacementPolicy,
    frames: int,
    references: int,
    faults_at: list[int],
    victims: list[int],
    lists: bool,
) -> ReplayResult:
    if not lists:
        return _counts(policy, frames, references, len(faults_at))
    return ReplayResult(
        policy=policy.value,
        frames=frames,
        references=references,
        hits=references - len(faults_at),
        misses=len(faults_at),
        victims=tuple(victims),
        faults_at=tuple(faults_at),
    )


def lru_miss_curve(trace: Any, *, addresses: bool = False) -> MissRatioCurve:
    """LRU misses for every frame count at once (Mattson stack distances).

    Raises:
        InvalidArgument: an entry is not a page number below 2**20 (or a 32-bit address).
    """
    from vmsim_kernel.errors import InvalidArgument

    from .replay import MAX_TRACE_LENGTH

    if len(trace) > MAX_TRACE_LENGTH:
        raise InvalidArgument("trace", f"{len(trace)} references", f"at most {MAX_TRACE_LENGTH}")
    pages = pages_of(trace, addresses)
    if pages is None:
        limit = 1 << (32 if addresses else 20)
        what = "32-bit addresses" if addresses else "page numbers below 2**20"
        raise InvalidArgument("trace", f"the trace must hold {what}", f"0 .. {limit - 1}")
    nr_pages = int(pages.max()) + 1 if pages.size else 1
    if _loops is None:
        listed, distinct = _stack_distance_misses_in_python(pages.tolist(), nr_pages)
        return MissRatioCurve(pages.size, distinct, tuple(listed))
    misses = np.empty(max(pages.size, 1), np.int64)
    distinct = _loops.stack_distance_misses(pages, nr_pages, misses)
    return MissRatioCurve(pages.size, distinct, tuple(misses[:distinct].tolist()))
