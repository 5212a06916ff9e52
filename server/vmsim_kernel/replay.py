"""Trace replay: a reference string against N frames under one policy (the textbook exercise).

The same policy objects as reclaim (policies.py); the referenced bit that CLOCK and the
two-list policy test is kept here per page: set by every use, cleared by the test.
"""

from __future__ import annotations

from collections.abc import Sequence

from vmsim_proto import parse_trace as parse_trace_text

from .config import ReplacementPolicy
from .constants import PAGE_SHIFT
from .errors import InvalidArgument
from .policies import OptPolicy, make_policy
from .results import ReplayResult

__all__ = ["MAX_FRAMES", "MAX_TRACE_LENGTH", "parse_trace", "replay"]

MAX_FRAMES = 1_000_000
MAX_TRACE_LENGTH = 10_000_000


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
    trace: Sequence[int],
    frames: int,
    policy: ReplacementPolicy | str,
    *,
    seed: int = 0,
    addresses: bool = False,
) -> ReplayResult:
    """Run *trace* (page numbers, or byte addresses with *addresses*) through *frames* frames."""
    chosen = _policy_of(policy)
    if not 1 <= frames <= MAX_FRAMES:
        raise InvalidArgument("frames", f"{frames}", f"1 .. {MAX_FRAMES}")
    if len(trace) > MAX_TRACE_LENGTH:
        raise InvalidArgument("trace", f"{len(trace)} references", f"at most {MAX_TRACE_LENGTH}")
    limit = 1 << (32 if addresses else 20)
    pages = []
    for index, value in enumerate(trace):
        if not isinstance(value, int) or not 0 <= value < limit:
            what = "a 32-bit address" if addresses else "a page number below 2**20"
            raise InvalidArgument(
                "trace", f"entry {index} = {value!r} is not {what}", f"0 .. {limit - 1}"
            )
        pages.append(value >> PAGE_SHIFT if addresses else value)
    state = make_policy(
        chosen, seed=seed, future=pages if chosen is ReplacementPolicy.OPT else None
    )
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
    for position, page in enumerate(pages):
        if opt is not None:
            opt.advance(position)
        if page in state:
            hits += 1
            state.access(page)
        else:
            faults_at.append(position)
            if len(state) >= frames:
                victim = state.choose_victim(test_and_clear)
                assert victim is not None
                referenced.discard(victim)
                victims.append(victim)
            state.insert(page)
        referenced.add(page)
    return ReplayResult(
        policy=chosen.value,
        frames=frames,
        references=len(pages),
        hits=hits,
        misses=len(faults_at),
        victims=tuple(victims),
        faults_at=tuple(faults_at),
    )


def parse_trace(text: str) -> list[int]:
    """Integers separated by whitespace or commas, decimal or 0x-hex; '#' starts a comment.

    The one trace parser (vmsim_proto.parse_trace), with its errors as InvalidArgument.
    """
    try:
        return parse_trace_text(text)
    except ValueError as error:
        raise InvalidArgument(
            "trace", str(error), "non-negative decimal or 0x-hex integers"
        ) from None
