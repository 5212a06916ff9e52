"""Fast trace replay: the textbook reference-string loops and the trace parser, compiled with
numba, and the FIFO/LRU/CLOCK loops again in CPython for processes that have not loaded numba.

The fast twin of replay.py, whose Python policies (policies.py) stay the reference: replay()
hands a trace here first and gets the identical ReplayResult (same hits, misses, victims and
fault positions; RANDOM draws from the same Mersenne Twister stream as random.Random(seed)).
Anything the fast loops do not cover (another policy, a bad entry, a trace token the fast
parser does not know) returns None and the Python path answers, errors included.

Also the whole LRU miss-ratio curve in one pass: Mattson, Gecsei, Slutz and Traiger (1970)
stack distances counted with a Fenwick tree, O(n log n) for every frame count at once.

numba is imported on first use only (the server and the kernel do not pay for it), and its
compiled code is cached on disk (cache=True) so a later process loads rather than compiles.
Even so its first use costs a process about half a second (the import, LLVM's start-up, the
cache load, and ~80,000 objects the collector then scans, at exit too): what the CPython
loops take for about COMPILE_FROM_REFERENCES references. So a process that has not loaded
numba replays shorter traces with the CPython loops (worth_compiling; the same lists kept in
OrderedDict, deque and set, whose operations are C) and reads plain decimal trace files with
numpy (parse_trace_bytes). This is what makes a short replay's whole process as cheap as a
C simulator's (bench/bench_replay.py against libCacheSim).
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT
from vmsim_kernel.config import ReplacementPolicy
from vmsim_proto.replay_results import MissRatioCurve, ReplayResult

__all__ = [
    "COMPILE_FROM_REFERENCES",
    "MissRatioCurve",
    "compiled",
    "load_trace",
    "loaded",
    "lru_miss_curve",
    "pages_of",
    "parse_trace_bytes",
    "try_replay",
    "worth_compiling",
]

Int64Array = npt.NDArray[np.int64]

_MT_N: Final = 624
_MT_M: Final = 397
_U32: Final = 0xFFFFFFFF
_PAGE_LIMIT: Final = 1 << 20  # page numbers of a 32-bit address space
_KEY_BITS: Final = 21  # OPT heap keys: next use << 21 | (2**21 - 1 - page)
# Measured in CPU time of whole processes on a 2-core box (bench_replay.py's zipf traces,
# 1000 frames, LRU and FIFO, min of 3): numba's import and first cached call cost ~0.45 s
# more than the CPython loops at 1M references (0.84-0.96 s vs 0.37-0.44 s); the CPython
# path then costs ~0.3 us a further reference (parse, loop, result), the compiled ~0.15 us.
# They break even near 4 million: 3M 1.04-1.17 s CPython vs 1.13-1.28 s numba, 4M 1.42-1.61
# vs 1.56-1.59 s, 6M 2.04-2.48 vs 1.66-1.86 s.
COMPILE_FROM_REFERENCES: Final = 4_000_000


# ---- the loops (plain Python here; numba compiles them on first use) --------------------------
def _lru(pages: Int64Array, frames: int, nr_pages: int) -> tuple[Int64Array, Int64Array]:
    # A doubly linked list over page numbers: head is the coldest page, tail the hottest.
    previous = np.full(nr_pages, -1, np.int64)
    following = np.full(nr_pages, -1, np.int64)
    resident = np.zeros(nr_pages, np.bool_)
    head = -1
    tail = -1
    count = 0
    faults_at = np.empty(len(pages), np.int64)
    victims = np.empty(len(pages), np.int64)
    nr_faults = 0
    nr_victims = 0
    for position in range(len(pages)):
        page = pages[position]
        if resident[page]:
            if page == tail:
                continue
            before = previous[page]
            after = following[page]
            if before >= 0:
                following[before] = after
            else:
                head = after
            previous[after] = before
        else:
            faults_at[nr_faults] = position
            nr_faults += 1
            if count >= frames:
                victim = head
                head = following[victim]
                if head >= 0:
                    previous[head] = -1
                else:
                    tail = -1
                resident[victim] = False
                count -= 1
                victims[nr_victims] = victim
                nr_victims += 1
            resident[page] = True
            count += 1
        previous[page] = tail
        following[page] = -1
        if tail >= 0:
            following[tail] = page
        else:
            head = page
        tail = page
    return faults_at[:nr_faults], victims[:nr_victims]


def _ring(
    pages: Int64Array, frames: int, nr_pages: int, second_chance: bool
) -> tuple[Int64Array, Int64Array]:
    # FIFO, and CLOCK with second_chance: the ring with the hand at its front; a second
    # chance moves a referenced page to the back. FIFO is CLOCK whose bits are never set.
    resident = np.zeros(nr_pages, np.bool_)
    referenced = np.zeros(nr_pages, np.bool_)
    ring = np.empty(frames, np.int64)
    head = 0
    count = 0
    faults_at = np.empty(len(pages), np.int64)
    victims = np.empty(len(pages), np.int64)
    nr_faults = 0
    nr_victims = 0
    for position in range(len(pages)):
        page = pages[position]
        if not resident[page]:
            faults_at[nr_faults] = position
            nr_faults += 1
            if count >= frames:
                while True:
                    candidate = ring[head]
                    head = (head + 1) % frames
                    if referenced[candidate]:
                        referenced[candidate] = False
                        ring[(head + count - 1) % frames] = candidate
                        continue
                    break
                count -= 1
                resident[candidate] = False
                victims[nr_victims] = candidate
                nr_victims += 1
            ring[(head + count) % frames] = page
            count += 1
            resident[page] = True
        if second_chance:
            referenced[page] = True
    return faults_at[:nr_faults], victims[:nr_victims]


# ---- the same loops for CPython, for processes that have not loaded numba --------------------
# Indexing numpy arrays from Python costs ~0.4 us a reference; CPython's C containers
# (OrderedDict's move_to_end/popitem, set, deque) keep the same lists at ~0.1-0.2 us.
def _lru_in_python(pages: list[int], frames: int) -> tuple[list[int], list[int]]:
    """_lru with an OrderedDict as the list (coldest first), as LruPolicy keeps it."""
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
            evict(popitem(False)[0])
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


def _mt_next(state: Int64Array, cursor: npt.NDArray[np.int64]) -> int:
    """genrand_uint32 of CPython's _randommodule.c, on a copy of its state."""
    if cursor[0] >= _MT_N:
        for k in range(_MT_N):
            y = (state[k] & 0x80000000) | (state[(k + 1) % _MT_N] & 0x7FFFFFFF)
            value = state[(k + _MT_M) % _MT_N] ^ (y >> 1)
            if y & 1:
                value ^= 0x9908B0DF
            state[k] = value
        cursor[0] = 0
    y = state[cursor[0]]
    cursor[0] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return int(y & _U32)


def _randbelow(state: Int64Array, cursor: npt.NDArray[np.int64], n: int) -> int:
    """random.Random.randrange(n): getrandbits(n.bit_length()) until below n."""
    bits = 0
    while (1 << bits) <= n:
        bits += 1
    value = _mt_next(state, cursor) >> (32 - bits)
    while value >= n:
        value = _mt_next(state, cursor) >> (32 - bits)
    return value


def _random(
    pages: Int64Array,
    frames: int,
    nr_pages: int,
    state: Int64Array,
    cursor: npt.NDArray[np.int64],
) -> tuple[Int64Array, Int64Array]:
    # RandomPolicy exactly: a list of keys, swap-with-last removal, randrange(len) victims.
    index = np.full(nr_pages, -1, np.int64)
    keys = np.empty(frames + 1, np.int64)
    count = 0
    faults_at = np.empty(len(pages), np.int64)
    victims = np.empty(len(pages), np.int64)
    nr_faults = 0
    nr_victims = 0
    for position in range(len(pages)):
        page = pages[position]
        if index[page] >= 0:
            continue
        faults_at[nr_faults] = position
        nr_faults += 1
        if count >= frames:
            victim = keys[_randbelow(state, cursor, count)]
            slot = index[victim]
            index[victim] = -1
            count -= 1
            last = keys[count]
            if last != victim:
                keys[slot] = last
                index[last] = slot
            victims[nr_victims] = victim
            nr_victims += 1
        index[page] = count
        keys[count] = page
        count += 1
    return faults_at[:nr_faults], victims[:nr_victims]


def _opt(pages: Int64Array, frames: int, nr_pages: int) -> tuple[Int64Array, Int64Array]:
    # Belady: the resident page used furthest ahead goes; ties (never used again) go to the
    # smallest page, as OptPolicy's heap of (-next use, page) does. Stale heap entries skipped.
    total = len(pages)
    never = total  # beyond every position, like OptPolicy.NEVER
    next_use = np.empty(total, np.int64)
    seen = np.full(nr_pages, never, np.int64)
    for position in range(total - 1, -1, -1):
        next_use[position] = seen[pages[position]]
        seen[pages[position]] = position
    resident_next = np.full(nr_pages, -1, np.int64)
    heap = np.empty(total + 1, np.int64)
    size = 0
    count = 0
    key_mask = (1 << _KEY_BITS) - 1
    faults_at = np.empty(total, np.int64)
    victims = np.empty(total, np.int64)
    nr_faults = 0
    nr_victims = 0
    for position in range(total):
        page = pages[position]
        if resident_next[page] < 0:
            faults_at[nr_faults] = position
            nr_faults += 1
            if count >= frames:
                while True:  # pop the largest key, skipping stale entries
                    top = heap[0]
                    size -= 1
                    last = heap[size]
                    hole = 0
                    while True:
                        child = 2 * hole + 1
                        if child >= size:
                            break
                        if child + 1 < size and heap[child + 1] > heap[child]:
                            child += 1
                        if heap[child] <= last:
                            break
                        heap[hole] = heap[child]
                        hole = child
                    if size > 0:
                        heap[hole] = last
                    victim = key_mask - (top & key_mask)
                    if resident_next[victim] == top >> _KEY_BITS:
                        break
                resident_next[victim] = -1
                count -= 1
                victims[nr_victims] = victim
                nr_victims += 1
            count += 1
        resident_next[page] = next_use[position]
        key = (next_use[position] << _KEY_BITS) | (key_mask - page)
        hole = size
        size += 1
        while hole > 0:
            parent = (hole - 1) // 2
            if heap[parent] >= key:
                break
            heap[hole] = heap[parent]
            hole = parent
        heap[hole] = key
    return faults_at[:nr_faults], victims[:nr_victims]


def _stack_distance_misses(pages: Int64Array, nr_pages: int) -> tuple[Int64Array, int]:
    """(LRU misses for 1 .. distinct frames, distinct pages), Mattson's one pass."""
    total = len(pages)
    last = np.full(nr_pages, -1, np.int64)
    tree = np.zeros(total + 1, np.int64)  # Fenwick tree over positions 1..total
    histogram = np.zeros(total + 2, np.int64)  # reuses by stack distance (1-based)
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
    misses = np.empty(max(distinct, 1), np.int64)
    hits = 0
    for frames in range(1, distinct + 1):
        hits += histogram[frames]
        misses[frames - 1] = total - hits
    return misses[:distinct], distinct


_NOT_SIMPLE: Final = -1


def _parse(data: npt.NDArray[np.uint8]) -> tuple[Int64Array, int]:
    """Decimal and 0x-hex integers split by whitespace or commas, '#' comments to end of line.

    Returns (values, count), or (empty, -1) for anything else (then Python parses, and
    explains): other bases, signs, underscores, leading zeros, long numbers, odd bytes.
    """
    values = np.empty(len(data) // 2 + 1, np.int64)
    count = 0
    position = 0
    size = len(data)
    while position < size:
        byte = data[position]
        if byte == 32 or byte == 9 or byte == 10 or byte == 13 or byte == 44:  # ' ' \t \n \r ,
            position += 1
            continue
        if byte == 35:  # '#': skip to the end of the line
            while position < size and data[position] != 10 and data[position] != 13:
                position += 1
            continue
        start = position
        while position < size:
            byte = data[position]
            if byte == 32 or byte == 9 or byte == 10 or byte == 13 or byte == 44 or byte == 35:
                break
            position += 1
        length = position - start
        value = 0
        if length > 2 and data[start] == 48 and (data[start + 1] == 120 or data[start + 1] == 88):
            if length > 17:
                return values[:0], _NOT_SIMPLE
            for offset in range(start + 2, position):
                digit = data[offset]
                if 48 <= digit <= 57:
                    value = value * 16 + (digit - 48)
                elif 97 <= digit <= 102:
                    value = value * 16 + (digit - 87)
                elif 65 <= digit <= 70:
                    value = value * 16 + (digit - 55)
                else:
                    return values[:0], _NOT_SIMPLE
        else:
            if length > 18 or (length > 1 and data[start] == 48):
                return values[:0], _NOT_SIMPLE
            for offset in range(start, position):
                digit = data[offset]
                if not 48 <= digit <= 57:
                    return values[:0], _NOT_SIMPLE
                value = value * 10 + (digit - 48)
        values[count] = value
        count += 1
    return values[:count], count


# Loops that call other loops: those are compiled first, so the caller finds them compiled.
_CALLEES: Final = {"_random": ("_mt_next", "_randbelow"), "_randbelow": ("_mt_next",)}
_numba: Any = None
_jitted: set[str] = set()
_jit_lock = threading.Lock()  # the server computes curves in worker threads


def loaded() -> bool:
    """Whether numba is imported in this process already (its one-time cost is paid)."""
    return _numba is not None and _numba is not False


def worth_compiling(references: int) -> bool:
    """Whether replaying *references* references should use the compiled loops: numba is
    loaded already, or the trace is long enough to repay loading it."""
    return loaded() or references > COMPILE_FROM_REFERENCES


def compiled() -> bool:
    """Whether numba is there to compile the loops (imported on first call)."""
    global _numba
    if _numba is None:
        try:
            import numba
        except ImportError:
            _numba = False
        else:
            _numba = numba
    return _numba is not False


def _kernel(name: str) -> Any:
    """The compiled loop *name*: compiled on first use, or loaded from numba's disk cache."""
    namespace = globals()
    with _jit_lock:
        if name not in _jitted:
            for callee in _CALLEES.get(name, ()):
                if callee not in _jitted:
                    namespace[callee] = _numba.njit(cache=True, nogil=True)(namespace[callee])
                    _jitted.add(callee)
            namespace[name] = _numba.njit(cache=True, nogil=True)(namespace[name])
            _jitted.add(name)
    return namespace[name]


# ---- entry points ------------------------------------------------------------------------------
def parse_trace_bytes(data: bytes) -> Int64Array | None:
    """The values of a trace text (replay.parse_trace's grammar), or None when Python must parse.

    None for anything beyond plain decimal/0x-hex tokens, or bytes other than printable
    ASCII and the separators (Python's own parser then answers, with its error messages).
    Before numba is loaded, whitespace-separated decimals are read by numpy instead.
    """
    if not loaded():
        values = _parse_plain_decimal(data)
        if values is not None:
            return values
    if not compiled():
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    odd = (raw < 32) & (raw != 9) & (raw != 10) & (raw != 13)
    if raw.size and (odd.any() or (raw >= 127).any()):
        return None
    values, count = _kernel("_parse")(raw)
    return None if count == _NOT_SIMPLE else values


def _parse_plain_decimal(data: bytes) -> Int64Array | None:
    """Whitespace-separated decimal integers, read by numpy (no numba), or None for anything
    else: other separators, comments, hex, leading zeros, numbers of more than 18 digits."""
    raw = np.frombuffer(data, dtype=np.uint8)
    digit = (raw >= 48) & (raw <= 57)
    if not (digit | (raw == 32) | (raw == 9) | (raw == 10) | (raw == 13)).all():
        return None
    edges = np.flatnonzero(np.diff(digit, prepend=False, append=False))
    starts, ends = edges[0::2], edges[1::2]  # each token is raw[start:end]
    if not starts.size:
        return np.empty(0, np.int64)
    lengths = ends - starts
    if lengths.max() > 18 or ((raw[starts] == 48) & (lengths > 1)).any():
        return None
    values = np.fromstring(data, dtype=np.int64, sep=" ")
    return values if values.size == starts.size else None


def load_trace(path: str | Path) -> Int64Array:
    """Read a trace file into an array of integers (compiled parser, Python fallback).

    Raises:
        InvalidArgument: a token is not a number (the message names its line).
    """
    from .replay import parse_trace

    data = Path(path).read_bytes()
    values = parse_trace_bytes(data)
    if values is None:
        values = np.asarray(parse_trace(data.decode()), dtype=np.int64)
    return values


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


_RANDOM_MATCHES_PYTHON: bool | None = None


def _mersenne_state(seed: int) -> tuple[Int64Array, npt.NDArray[np.int64]]:
    """random.Random(seed)'s generator state, as the compiled _mt_next takes it."""
    _version, internal, _gauss = random.Random(seed).getstate()
    state = np.asarray(internal[:_MT_N], dtype=np.int64)  # 32-bit words
    return state, np.asarray([internal[_MT_N]], dtype=np.int64)


def _random_matches_python() -> bool:
    """Whether the compiled randrange draws what this Python's random.Random draws."""
    global _RANDOM_MATCHES_PYTHON
    if _RANDOM_MATCHES_PYTHON is None:
        reference = random.Random(12345)
        state, cursor = _mersenne_state(12345)
        randbelow = _kernel("_randbelow")
        bounds = [1, 2, 3, 7, 64, 100, 1000, 65_537, 999_999] * 100
        _RANDOM_MATCHES_PYTHON = all(
            randbelow(state, cursor, n) == reference.randrange(n) for n in bounds
        )
    return _RANDOM_MATCHES_PYTHON


_COMPILED_POLICIES: Final = frozenset(
    {
        ReplacementPolicy.FIFO,
        ReplacementPolicy.LRU,
        ReplacementPolicy.CLOCK,
        ReplacementPolicy.OPT,
        ReplacementPolicy.RANDOM,
    }
)


# FIFO, LRU and CLOCK also have CPython loops; OPT and RANDOM without numba take replay()'s path.
_INTERPRETED_POLICIES: Final = frozenset(
    {ReplacementPolicy.FIFO, ReplacementPolicy.LRU, ReplacementPolicy.CLOCK}
)


def try_replay(
    trace: Any, frames: int, policy: ReplacementPolicy, seed: int, addresses: bool
) -> ReplayResult | None:
    """replay()'s answer from the fast loops, or None when the Python policies must answer.

    The compiled loops when worth_compiling() says so (and numba is there), else the CPython
    loops for FIFO, LRU and CLOCK. *frames* and the trace length are already checked by
    replay(); entries are checked here and a bad one returns None so that replay() names it.
    """
    if policy not in _COMPILED_POLICIES:
        return None  # linux, mru, unopt: the Python policies answer
    interpreted = not worth_compiling(len(trace)) or not compiled()
    if interpreted and policy not in _INTERPRETED_POLICIES:
        return None
    pages = pages_of(trace, addresses)
    if pages is None:
        return None
    if interpreted:
        listed = pages.tolist()
        if policy is ReplacementPolicy.LRU:
            faults, evicted = _lru_in_python(listed, frames)
        else:
            faults, evicted = _ring_in_python(listed, frames, policy is ReplacementPolicy.CLOCK)
        return _result(policy, frames, len(listed), faults, evicted)
    nr_pages = int(pages.max()) + 1 if pages.size else 1
    if policy in (ReplacementPolicy.FIFO, ReplacementPolicy.CLOCK):
        second_chance = policy is ReplacementPolicy.CLOCK
        faults_at, victims = _kernel("_ring")(pages, frames, nr_pages, second_chance)
    elif policy is ReplacementPolicy.LRU:
        faults_at, victims = _kernel("_lru")(pages, frames, nr_pages)
    elif policy is ReplacementPolicy.OPT:
        faults_at, victims = _kernel("_opt")(pages, frames, nr_pages)
    else:  # RANDOM
        if not _random_matches_python():
            return None
        state, cursor = _mersenne_state(seed)
        faults_at, victims = _kernel("_random")(pages, frames, nr_pages, state, cursor)
    return _result(policy, frames, len(pages), faults_at.tolist(), victims.tolist())


def _result(
    policy: ReplacementPolicy,
    frames: int,
    references: int,
    faults_at: list[int],
    victims: list[int],
) -> ReplayResult:
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
    if not compiled():  # pragma: no cover - numba is a dependency; this keeps it optional
        raise RuntimeError("the miss-ratio curve needs numba: pip install numba")
    nr_pages = int(pages.max()) + 1 if pages.size else 1
    misses, distinct = _kernel("_stack_distance_misses")(pages, nr_pages)
    return MissRatioCurve(len(pages), int(distinct), tuple(misses.tolist()))
