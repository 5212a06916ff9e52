"""The OOM killer's choice of victim.

Models mm/oom_kill.c: oom_badness() = rss + swap entries + page-table pages, adjusted by
oom_score_adj in thousandths of all memory; -1000 makes a task unkillable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import Gfp, Signal
from vmsim_kernel.kernel import exit as task_exit
from vmsim_kernel.results import EventKind

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

__all__ = [
    "OOM_SCORE_ADJ_MAX",
    "OOM_SCORE_ADJ_MIN",
    "oom_badness",
    "oom_score",
    "out_of_memory",
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


def out_of_memory(kernel: Kernel, requester: Task | None, gfp: Gfp) -> bool:
    """out_of_memory: kill the task with the highest badness; False when nothing can be killed."""
    victim = select_bad_process(kernel.tasks.values(), kernel.oom_totalpages)
    if victim is None:
        return False
    mm = victim.mm
    reason = (
        f"Out of memory: Killed process {victim.pid} ({victim.name}) "
        f"total-vm:{mm.total_vm_pages * 4}kB, anon-rss:{mm.rss_anon * 4}kB, "
        f"shmem-rss:{mm.rss_shmem * 4}kB, "
        f"swap:{mm.swap_entries * 4}kB, pgtables:{mm.nr_ptes * 4}kB "
        f"oom_score_adj:{victim.oom_score_adj} (for a {gfp.name} allocation"
        f"{f' by pid {requester.pid}' if requester else ''})"
    )
    # The oom_kill event comes first, then the victim's exit (oom_kill_process logs, then
    # the task dies and exits).
    kernel.vm_events.oom_kill += 1
    kernel.emit(EventKind.OOM_KILL, victim.pid, None, None, reason)
    task_exit.kill_task(kernel, victim, Signal.SIGKILL, None, reason)
    return True
