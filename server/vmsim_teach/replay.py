"""Trace replay: a reference string against N frames under one policy (the textbook exercise).

The same policy objects as reclaim (policies.py); the referenced bit that CLOCK and the
two-list policy test is kept here per page: set by every use, cleared by the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT
from vmsim_kernel.config import ReplacementPolicy
from vmsim_kernel.errors import InvalidArgument
from vmsim_kernel.mm.policies import ClockPolicy, OptPolicy, PagePolicy, make_policy
from vmsim_proto.parsing import parse_trace_array
from vmsim_proto.replay_results import ReplayResult, ReplayStep

from . import replay_fast

__all__ = [
    "MAX_FRAMES",
    "MAX_STEP_CELLS",
    "MAX_TRACE_LENGTH",
    "parse_trace",
    "parse_trace_bytes",
    "replay",
]

MAX_FRAMES = 1_000_000
MAX_TRACE_LENGTH = 10_000_000
MAX_STEP_CELLS = 1_000_000  # references x frames of a stepped replay: its whole table


def _policy_of(policy: ReplacementPolicy | str) -> ReplacementPolicy:
    if isinstance(policy, ReplacementPolicy):
        return policy
    try:
        return ReplacementPolicy(str(policy).lower())
    except ValueError:
        raise InvalidArgument(
            "policy", f"unknown policy {policy!r}", ", ".join(p.value for p in ReplacementPolicy)
        ) from None


def replay(
    trace: Sequence[int] | npt.NDArray[np.integer[Any]],
    frames: int,
    policy: ReplacementPolicy | str,
    *,
    seed: int = 0,
    addresses: bool = False,
    steps: bool = False,
    lists: bool = True,
) -> ReplayResult:
    """Run *trace* (page numbers, or byte addresses with *addresses*) through *frames* frames.

    With *steps* the result also holds the memory after every reference (ReplayStep);
    without *lists* it holds the counts only (no victims, no fault positions: on a long
    trace those lists cost more to build and send than the replay itself).
    """
    chosen = _policy_of(policy)
    _check_sizes(len(trace), frames, steps)
    if not steps:
        fast = replay_fast.try_replay(trace, frames, chosen, seed, addresses, lists)
        if fast is not None:  # the same answer from the fast loops (replay_fast.py)
            return fast
    checked = replay_fast.pages_of(trace, addresses)  # an array checked at once, if it can be
    if checked is not None:
        pages = checked.tolist()
    else:  # entry by entry, as Python ints (a numpy array's scalars are not int)
        pages = _checked_pages(
            trace.tolist() if isinstance(trace, np.ndarray) else trace, addresses
        )
    return _replay_pages(pages, frames, chosen, seed=seed, steps=steps, lists=lists)


def _check_sizes(references: int, frames: int, steps: bool) -> None:
    """InvalidArgument unless the frames, the trace and a stepped table are within bounds."""
    if not 1 <= frames <= MAX_FRAMES:
        raise InvalidArgument("frames", f"{frames}", f"1 .. {MAX_FRAMES}")
    if references > MAX_TRACE_LENGTH:
        raise InvalidArgument("trace", f"{references} references", f"at most {MAX_TRACE_LENGTH}")
    if steps and references * frames > MAX_STEP_CELLS:
        raise InvalidArgument(
            "steps",
            f"{references} references x {frames} frames is too large a table",
            f"references x frames at most {MAX_STEP_CELLS}; replay without steps",
        )


def _replay_pages(
    pages: list[int],
    frames: int,
    chosen: ReplacementPolicy,
    *,
    seed: int,
    steps: bool,
    lists: bool,
) -> ReplayResult:
    """The replay loop in Python: the policy objects reclaim uses, one reference at a time."""
    needs_future = chosen in (ReplacementPolicy.OPT, ReplacementPolicy.UNOPT)
    state = make_policy(chosen, seed=seed, future=pages if needs_future else None)
    opt = state if isinstance(state, OptPolicy) else None
    referenced: set[int] = set()

    def test_and_clear(page: int) -> bool:
        if page in referenced:
            referenced.discard(page)
            return True
        return False

    hits = 0
    victims: list[int] = []
    faults_at: list[int] = []
    slots: list[int] = []  # the page in each frame slot, kept only for steps
    history: list[ReplayStep] = []
    # Only CLOCK and the two-list policy read the referenced bits (and CLOCK's steps show them).
    keeps_bits = chosen in (ReplacementPolicy.CLOCK, ReplacementPolicy.LINUX)
    access, insert, choose_victim = state.access, state.insert, state.choose_victim
    for position, page in enumerate(pages):
        if opt is not None:
            opt.advance(position)
        victim: int | None = None
        hit = page in state
        if hit:
            hits += 1
            access(page)
        else:
            faults_at.append(position)
            if len(state) >= frames:
                victim = choose_victim(test_and_clear)
                assert victim is not None
                referenced.discard(victim)
                victims.append(victim)
            insert(page)
            if steps:
                if victim is None:
                    slots.append(page)
                else:
                    slots[slots.index(victim)] = page
        if keeps_bits:
            referenced.add(page)
        if steps:
            history.append(_step(state, page, hit, victim, slots, frames, referenced))
    return ReplayResult(
        policy=chosen.value,
        frames=frames,
        references=len(pages),
        hits=hits,
        misses=len(faults_at),
        victims=tuple(victims) if lists else (),
        faults_at=tuple(faults_at) if lists else (),
        steps=tuple(history),
    )


def _checked_pages(trace: Sequence[int], addresses: bool) -> list[int]:
    """The trace as page numbers, entry by entry; InvalidArgument names the first bad one."""
    limit = 1 << (32 if addresses else 20)
    pages = []
    for index, value in enumerate(trace):
        if not isinstance(value, int) or not 0 <= value < limit:
            what = "a 32-bit address" if addresses else "a page number below 2**20"
            raise InvalidArgument(
                "trace", f"entry {index} = {value!r} is not {what}", f"0 .. {limit - 1}"
            )
        pages.append(value >> PAGE_SHIFT if addresses else value)
    return pages


def _step(
    state: PagePolicy,
    page: int,
    hit: bool,
    victim: int | None,
    slots: list[int],
    frames: int,
    referenced: set[int],
) -> ReplayStep:
    """The memory after one reference: frame slots, the policy's order, CLOCK's bits and hand."""
    order = tuple(key for keys in state.snapshot().values() for key in keys)
    frame_view = tuple(slots) + (-1,) * (frames - len(slots))
    if not isinstance(state, ClockPolicy):
        return ReplayStep(page, hit, victim, frame_view, order)
    return ReplayStep(
        page,
        hit,
        victim,
        frame_view,
        order,
        use_bits=tuple(slot in referenced for slot in frame_view),
        hand=slots.index(order[0]) if order else -1,
    )


def parse_trace(text: str) -> list[int]:
    """Integers separated by whitespace or commas, decimal or 0x-hex; '#' starts a comment.

    The one trace parser (vmsim_proto.parse_trace), with its errors as InvalidArgument.
    """
    return parse_trace_bytes(text.encode()).tolist()  # type: ignore[no-any-return]


def parse_trace_bytes(data: bytes) -> npt.NDArray[np.int64]:
    """parse_trace of bytes, as an array (vmsim_proto's vectorised parser)."""
    try:
        # As far as an int64 holds: replay() checks the range it needs.
        return parse_trace_array(data, largest=(1 << 63) - 1)
    except ValueError as error:
        raise InvalidArgument(
            "trace", str(error), "non-negative decimal or 0x-hex integers"
        ) from None
