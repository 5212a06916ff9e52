"""vmsim_lab: seeded exercises whose answers come from the simulated kernel, and graded labs.

A library beside vmsim_kernel (it imports the kernel, never grpc or the client):

    from vmsim_lab import questions, check_answers
    qs = questions("replace", seed=7, count=2)        # the same on every machine
    result = check_answers("replace", 7, 2, {"1a": "miss"})

`grading` holds the instructor's side: the lab file (TOML), per-student seeds derived
from a server secret, and the SQLite store of submissions.

Importing the package is cheap: the generators' modules (and the kernel parts they drive)
load when their kind is first asked for, or when the names below are first used (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmsim_proto.lazy import lazy_names

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

if TYPE_CHECKING:
    from . import allocators, cow, pagecache, paging, replacement, translate
    from .replacement import format_steps

_SUBMODULES = ("allocators", "cow", "pagecache", "paging", "replacement", "translate")

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
    "cow",
    "exercise",
    "format_steps",
    "normalize_answer",
    "pagecache",
    "paging",
    "questions",
    "replacement",
    "translate",
]


if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name
    __getattr__, __dir__ = lazy_names(globals(), {"format_steps": "replacement"}, _SUBMODULES)
