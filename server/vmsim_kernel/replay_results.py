"""Values a trace replay hands back (re-exported by results.py with the kernel's other values).

Apart from results.py so that a process that only replays a trace (replay.py, replay_fast.py)
does not build the machine's other result classes: dataclass creation compiles code, and a
short replay's whole process is measured against a C simulator (bench/bench_replay.py).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReplayResult", "ReplayStep"]


@dataclass(frozen=True)
class ReplayStep:
    """Memory after one reference of a replay (the rows of OSTEP's `paging-policy.py -c`).

    Attributes:
        page: the page referenced.
        hit: whether it was resident.
        victim: the page evicted to make room, or None.
        frames: the page in each frame slot after the reference (-1: empty); a new page
            takes its victim's slot.
        order: the resident pages in the policy's own list order: FIFO oldest first,
            LRU/MRU least recent first, CLOCK the ring from the hand, the others sorted.
        use_bits: CLOCK only: the use (referenced) bit of each frame slot.
        hand: CLOCK only: the frame slot the hand points at, -1 when memory is empty.
    """

    page: int
    hit: bool
    victim: int | None
    frames: tuple[int, ...]
    order: tuple[int, ...]
    use_bits: tuple[bool, ...] = ()
    hand: int = -1


@dataclass(frozen=True)
class ReplayResult:
    """Outcome of replaying a page trace against N frames under one policy."""

    policy: str
    frames: int
    references: int
    hits: int
    misses: int
    victims: tuple[int, ...]  # evicted page numbers in eviction order
    faults_at: tuple[int, ...] = ()  # indexes into the trace that missed
    steps: tuple[ReplayStep, ...] = ()  # memory after each reference, when asked for

    @property
    def hit_ratio(self) -> float:
        """Fraction of references that hit."""
        return self.hits / self.references if self.references else 0.0
