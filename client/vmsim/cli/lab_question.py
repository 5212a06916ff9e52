"""`vmsim lab question`: seeded practice questions, offline by default; and what the other
`vmsim lab` commands (lab_cli) share with it to ask for and print questions.

It imports neither typer nor the other commands: the argparse front end (fast.py) runs it
as typer's command (lab_cli) does, from the one declaration spec.LAB_QUESTION. Offline, it
loads no protobuf either: the questions arrive as plain records (vmsim_proto.questions), the
fields of the server's messages, and are printed from them whichever way they came.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from ..cli_common import emit_json, guarded

if TYPE_CHECKING:
    from vmsim_proto.questions import QuestionRecord

    from ..practice import Exercises

__all__ = ["asked_questions", "lab_question", "practice", "print_questions"]

T = TypeVar("T")


def practice(addr: str | None, action: Callable[[Exercises], T]) -> T:
    """*action* on the server at *addr*, or offline: answered in this process, no server."""

    def run() -> T:
        from .. import offline  # the offline path only: it finds the server package's exercises
        from ..practice import Exercises

        with Exercises(addr) if addr else offline.exercises() as exercises:
            return action(exercises)

    return guarded(run)


def asked_questions(
    addr: str | None, kind: str, seed: int, count: int, with_answers: bool
) -> list[QuestionRecord]:
    """The questions of (kind, seed, count) as plain records: from the server at *addr*, or
    offline, answered in this process.

    Raises:
        VmsimError: the server (or the offline answer) refused them.
    """
    if not addr:
        from .. import offline

        return offline.practice_questions(kind, seed, count, with_answers)
    from ..practice import Exercises, question_record

    with Exercises(addr) as exercises:
        asked = exercises.questions(kind, seed, count, with_answers=with_answers)
    return [question_record(question) for question in asked]


def print_questions(questions: Sequence[QuestionRecord], with_answers: bool) -> None:
    """Each question's text; with *with_answers*, its answers and working too."""
    for question in questions:
        print(f"--- {question['kind']} question {question['number']} ---")
        print(question["text"])
        if with_answers:
            print("Answers:")
            for item in question["items"]:
                print(f"  {item['id']}) {item['answer']}")
            print("Working:")
            print(question["working"])
        print()


def lab_question(
    kind: str, seed: int, count: int, answers: bool, key: bool, addr: str | None, as_json: bool
) -> None:
    """`vmsim lab question` (spec.LAB_QUESTION declares its options for both front ends)."""
    questions = guarded(lambda: asked_questions(addr, kind, seed, count, answers or key))
    if key:
        for question in questions:
            for item in question["items"]:
                print(f"{item['id']}: {item['answer']}")
    elif as_json:
        emit_json(questions)
    else:
        print_questions(questions, answers)
