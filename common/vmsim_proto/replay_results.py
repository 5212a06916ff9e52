"""What a trace replay answers, the same values on both sides of the wire.

The kernel builds them (vmsim_teach.replay, replay_fast) and the client rebuilds them from a
Replay or GetMissRatioCurve reply, so both hand back one class with one way of printing a step:
the rows of OSTEP's `paging-policy.py -c`. The kernel may import this package (it imports
neither side); it holds no wire code, so a process that only replays a trace loads no protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MissRatioCurve", "ReplayResult", "ReplayStep"]


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

    def frames_text(self) -> str:
        """The frames as OSTEP prints them: '.' empty, '*' use bit, '>' the clock hand."""
        cells = []
        for slot, page in enumerate(self.frames):
            cell = "." if page < 0 else str(page)
            if self.use_bits:
                cell += "*" if self.use_bits[slot] else " "
            cells.append((">" if slot == self.hand else "") + cell)
        return "[" + " ".join(cells) + "]"


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


@dataclass(frozen=True)
class MissRatioCurve:
    """LRU misses for every number of frames, from one pass over the trace.

    Attributes:
        references: length of the trace.
        distinct_pages: pages referenced at least once (the cold misses; with that many
            frames or more, LRU misses only those).
        misses: misses[f - 1] is the LRU miss count with f frames, f = 1 .. distinct_pages.
    """

    references: int
    distinct_pages: int
    misses: tuple[int, ...]

    def misses_with(self, frames: int) -> int:
        """LRU misses with *frames* frames (>= 1)."""
        if frames < 1:
            raise ValueError("frames must be >= 1")
        return self.misses[frames - 1] if frames <= len(self.misses) else self.distinct_pages

    def miss_ratio(self, frames: int) -> float:
        """Misses per reference with *frames* frames."""
        return self.misses_with(frames) / self.references if self.references else 0.0
