"""Exercises as data: a seeded generator per kind, questions with items, answers checked.

Each generator builds a real `vmsim_kernel.Machine` (or the kernel piece it asks about),
drives it, and reads the answers off the kernel: the solver is the kernel itself, never a
second implementation. Questions come from `random.Random("<kind>:<seed>:<number>")`
(string seeds go through SHA-512, so they are the same on every run and machine).

A kind's generator module is imported when the kind is first asked for (GENERATOR_MODULES),
so one question loads one generator and the kernel parts it drives, not every exercise.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    InvalidArgument,
    KernelBug,
)

if TYPE_CHECKING:
    # check_answers imports it when it runs: its ItemResult is a dataclass, whose module
    # costs `vmsim lab question` a third of OSTEP's whole run (issue 23)
    from vmsim_proto.answers import ItemResult
    from vmsim_proto.questions import QuestionRecord

__all__ = [
    "ANON",
    "EXERCISES",
    "GENERATOR_MODULES",
    "MAX_QUESTIONS",
    "RW",
    "CheckResult",
    "Exercise",
    "Item",
    "Question",
    "check_answers",
    "exercise",
    "practice_questions",
    "prompt_lines",
    "question_record",
    "questions",
    "register",
]

MAX_QUESTIONS = 50
# The records below are NamedTuples, not dataclasses: a dataclass costs ~2 ms to create (it
# compiles its methods), and `vmsim lab question` is held to OSTEP's whole run (issue 23).
# the protection and flags of the mappings the generators make: writable, private, anonymous
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


class Item(NamedTuple):
    """One answerable part of a question.

    Attributes:
        id: the question number and a letter ("1a").
        prompt: what is asked.
        answer: the right answer as a person writes it.
    """

    id: str
    prompt: str
    answer: str


class Question(NamedTuple):
    """One generated question.

    Attributes:
        kind: the exercise kind.
        number: 1-based position in its set.
        text: the setting and the questions, everything a student needs.
        items: the answerable parts.
        working: how the kernel found the answers, step by step.
    """

    kind: str
    number: int
    text: str
    items: tuple[Item, ...]
    working: str


Generator = Callable[[random.Random, int], Question]


class Exercise(NamedTuple):
    """A kind of exercise: its name, what it asks, how to answer, and its generator."""

    kind: str
    title: str
    answer_format: str
    generate: Generator


class CheckResult(NamedTuple):
    """The check of a set of answers."""

    items: tuple[ItemResult, ...]
    working: tuple[str, ...]

    @property
    def correct(self) -> int:
        """Items answered right."""
        return sum(item.correct for item in self.items)

    @property
    def total(self) -> int:
        """Items in all."""
        return len(self.items)


# kind -> the module of this package whose generator registers it, in the order of the list
GENERATOR_MODULES: dict[str, str] = {
    **dict.fromkeys(("buddy", "zone", "kmap", "oom"), "allocators"),
    "translate": "translate",
    **dict.fromkeys(("segment", "lazy"), "paging"),
    "replace": "replacement",
    "cow": "cow",
    "pagecache": "pagecache",
}


class _Exercises(Mapping[str, Exercise]):
    """Every kind of GENERATOR_MODULES; looking one up imports its module on first use."""

    def __init__(self) -> None:
        self._registered: dict[str, Exercise] = {}

    def __getitem__(self, kind: str) -> Exercise:
        if kind not in self._registered:
            module = GENERATOR_MODULES[kind]  # KeyError: no such kind
            importlib.import_module(f"{__package__}.{module}")
        return self._registered[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in GENERATOR_MODULES  # without importing the generator

    def __iter__(self) -> Iterator[str]:
        return iter(GENERATOR_MODULES)

    def __len__(self) -> int:
        return len(GENERATOR_MODULES)

    def add(self, exercise: Exercise) -> None:
        if GENERATOR_MODULES.get(exercise.kind) != exercise.generate.__module__.rpartition(".")[2]:
            raise KernelBug(f"exercise {exercise.kind!r}: name its module in GENERATOR_MODULES")
        self._registered[exercise.kind] = exercise


EXERCISES = _Exercises()


def register(kind: str, title: str, answer_format: str) -> Callable[[Generator], Generator]:
    """Decorator: add a generator to EXERCISES under *kind*."""

    def add(generate: Generator) -> Generator:
        EXERCISES.add(Exercise(kind, title, answer_format, generate))
        return generate

    return add


def exercise(kind: str) -> Exercise:
    """The exercise of *kind*.

    Raises:
        InvalidArgument: no such kind.
    """
    try:
        return EXERCISES[kind]
    except KeyError:
        raise InvalidArgument(
            "kind", f"no exercise {kind!r}", ", ".join(sorted(EXERCISES))
        ) from None


def questions(kind: str, seed: int, count: int = 1) -> list[Question]:
    """*count* questions of *kind* from *seed*: the same everywhere, every time.

    Raises:
        InvalidArgument: unknown kind, a negative seed, or count outside 1..MAX_QUESTIONS.
    """
    chosen = exercise(kind)
    if not 0 <= seed < 1 << 64:
        raise InvalidArgument("seed", f"{seed}", "0 .. 2**64 - 1")
    if not 1 <= count <= MAX_QUESTIONS:
        raise InvalidArgument("count", f"{count}", f"1 .. {MAX_QUESTIONS}")
    return [
        chosen.generate(random.Random(f"{kind}:{seed}:{number}"), number)
        for number in range(1, count + 1)
    ]


def question_record(question: Question, with_answers: bool) -> QuestionRecord:
    """*question* as a practice client is given it, as plain data (lab.proto's Question):
    the answers and the working only *with_answers*.

    The one place a question is shaped for a client: the servers' messages are these records
    (vmsim_server.exercises.question_message), the offline command prints them as they are.
    """
    return {
        "kind": question.kind,
        "number": question.number,
        "text": question.text,
        "items": [
            {"id": item.id, "prompt": item.prompt, "answer": item.answer if with_answers else ""}
            for item in question.items
        ],
        "working": question.working if with_answers else "",
    }


def practice_questions(
    kind: str, seed: int, count: int, with_answers: bool
) -> list[QuestionRecord]:
    """The practice questions of (kind, seed, count) as ExerciseService's GetQuestions answers
    them, as plain data (question_record).

    Raises:
        InvalidArgument: as questions().
    """
    return [question_record(question, with_answers) for question in questions(kind, seed, count)]


def check_answers(kind: str, seed: int, count: int, answers: Mapping[str, str]) -> CheckResult:
    """Check *answers* (item id -> answer) against the questions of (kind, seed, count).

    Item ids are compared as normalize_item_id writes them ("1A" is "1a"), answers as
    normalize_answer does.

    Raises:
        InvalidArgument: as questions(), or an answer for an item the questions do not have.
    """
    from vmsim_proto.answers import ItemResult, normalize_answer, normalize_item_id

    asked = questions(kind, seed, count)
    ids = [item.id for question in asked for item in question.items]
    answers = {normalize_item_id(item): answer for item, answer in answers.items()}
    unknown = sorted(set(answers) - set(ids))
    if unknown:
        raise InvalidArgument(
            "answers", f"no item {', '.join(unknown)}", f"item ids {ids[0]} .. {ids[-1]}"
        )
    return CheckResult(
        items=tuple(
            ItemResult(
                item.id,
                item.id in answers
                and normalize_answer(answers[item.id]) == normalize_answer(item.answer),
                answers.get(item.id, ""),
                item.answer,
            )
            for question in asked
            for item in question.items
        ),
        working=tuple(question.working for question in asked),
    )


def item_ids(number: int, count: int) -> Sequence[str]:
    """Ids of *count* items of question *number*: "1a", "1b", ..."""
    return [f"{number}{chr(ord('a') + index)}" for index in range(count)]


def prompt_lines(items: Sequence[Item], mark: str = "") -> str:
    """The items as a question lists them, one indented "1a) prompt" line each, every prompt
    followed by *mark* ("?" where the prompt is a bare noun phrase)."""
    return "\n".join(f"  {item.id}) {item.prompt}{mark}" for item in items)
