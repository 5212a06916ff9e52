"""The OOM killer's choice of victim.

Models mm/oom_kill.c: oom_badness() = rss + swap entries + page-table pages, adjusted by
oom_score_adj in thousandths of all memory; -1000 makes a task unkillable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .process import Task

__all__ = [
    "OOM_SCORE_ADJ_MAX",
    "OOM_SCORE_ADJ_MIN",
    "oom_badness",
    "oom_score",
    "select_bad_process",
]

OOM_SCORE_ADJ_MIN: Final = -1000
OOM_SCORE_ADJ_MAX: Final = 1000


def oom_badness(task: Task, totalpages: int) -> int | None:
    """Points for *task*; None when it may not be killed (dead or oom_score_adj -1000)."""
    if not task.alive or task.oom_score_adj == OOM_SCORE_ADJ_MIN:
        return None
    mm = task.mm
    points = mm.rss + mm.swap_entries + mm.nr_ptes
    # adj *= totalpages / 1000: one thousandth of memory per point, in integer pages.
    return points + task.oom_score_adj * (totalpages // 1000)


def oom_score(task: Task, totalpages: int) -> int:
    """/proc/<pid>/oom_score: (1000 + badness * 1000 / totalpages) * 2 / 3 (proc_oom_score).

    A task with no points (dead, or oom_score_adj -1000) shows 0. The division truncates
    toward zero as C's does.
    """
    badness = oom_badness(task, totalpages)
    if badness is None or totalpages <= 0:
        return 0
    scaled = abs(badness) * 1000 // totalpages
    return max(0, (1000 + (scaled if badness >= 0 else -scaled)) * 2 // 3)


def select_bad_process(tasks: Iterable[Task], totalpages: int) -> Task | None:
    """The killable task with the most points (the lowest pid on a tie), or None."""
    chosen: Task | None = None
    chosen_points = 0
    for task in tasks:
        points = oom_badness(task, totalpages)
        if points is None or (points <= 0 and task.mm.rss == 0):
            continue
        if chosen is None or points > chosen_points:
            chosen, chosen_points = task, points
    return chosen
