"""`vmsim lab question`: seeded practice questions, offline by default; and what the other
`vmsim lab` commands (lab_cli) share with it to ask for and print questions.

It imports neither typer nor the other commands: the argparse front end (fast.py) runs it
as typer's command (lab_cli) does, from the one declaration spec.LAB_QUESTION.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..cli_common import emit_json, guarded
from ..practice import Exercises, Question

__all__ = ["lab_question", "practice", "print_questions"]

T = TypeVar("T")


def practice(addr: str | None, action: Callable[[Exercises], T]) -> T:
    """*action* on the server at *addr*, or offline: answered in this process, no server."""

    def run() -> T:
        from .. import offline  # the offline path only: it finds the server package's exercises

        with Exercises(addr) if addr else offline.exercises() as exercises:
            return action(exercises)

    return guarded(run)


def print_questions(questions: list[Question], with_answers: bool) -> None:
    """Each question's text; with *with_answers*, its answers and working too."""
    for question in questions:
        print(f"--- {question.kind} question {question.number} ---")
        print(question.text)
        if with_answers:
            print("Answers:")
            for item in question.items:
                print(f"  {item.id}) {item.answer}")
            print("Working:")
            print(question.working)
        print()


def lab_question(
    kind: str, seed: int, count: int, answers: bool, key: bool, addr: str | None, as_json: bool
) -> None:
    """`vmsim lab question` (spec.LAB_QUESTION declares its options for both front ends)."""
    questions = practice(
        addr, lambda exercises: exercises.questions(kind, seed, count, with_answers=answers or key)
    )
    if key:
        for question in questions:
            for item in question.items:
                print(f"{item.id}: {item.answer}")
    elif as_json:
        emit_json(questions)
    else:
        print_questions(questions, answers)
