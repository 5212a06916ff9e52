"""vmsim_lab: seeded exercises whose answers come from the simulated kernel, and graded labs.

A library beside vmsim_kernel (it imports the kernel, never grpc or the client):

    from vmsim_lab import questions, check_answers
    qs = questions("replace", seed=7, count=2)        # the same on every machine
    result = check_answers("replace", 7, 2, {"1a": "miss"})

`grading` holds the instructor's side: the lab file (TOML), per-student seeds derived
from a server secret, and the SQLite store of submissions.
"""

from . import allocators, paging, replacement
from .exercise import (
    EXERCISES,
    MAX_QUESTIONS,
    CheckResult,
    Exercise,
    Item,
    ItemResult,
    Question,
    check_answers,
    exercise,
    normalize_answer,
    questions,
)
from .replacement import format_steps

__all__ = [
    "EXERCISES",
    "MAX_QUESTIONS",
    "CheckResult",
    "Exercise",
    "Item",
    "ItemResult",
    "Question",
    "allocators",
    "check_answers",
    "exercise",
    "format_steps",
    "normalize_answer",
    "paging",
    "questions",
    "replacement",
]
