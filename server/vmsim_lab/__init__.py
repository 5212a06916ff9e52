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
    Question,
    check_answers,
    exercise,
    practice_questions,
    question_record,
    questions,
)

if TYPE_CHECKING:
    from vmsim_proto.answers import ItemResult, normalize_answer

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
    "practice_questions",
    "question_record",
    "questions",
    "replacement",
    "translate",
]


# the answers' rules, shared with the client: loaded on first use (their module's dataclass
# costs more than a translate question does)
_SHARED_ANSWERS = ("ItemResult", "normalize_answer")

if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name
    _load, __dir__ = lazy_names(globals(), {"format_steps": "replacement"}, _SUBMODULES)

    def __getattr__(name: str) -> object:
        if name in _SHARED_ANSWERS:
            from vmsim_proto import answers

            return getattr(answers, name)
        return _load(name)
