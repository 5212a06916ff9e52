"""Lab exercises from the client: practice questions, graded labs, the scoreboard.

with vmsim.Exercises("127.0.0.1:50051") as exercises:    # or vmsim.offline.exercises()
    for q in exercises.questions("replace", seed=7, count=2):
        print(q.text)
    result = exercises.check("replace", 7, 2, {"1a": "miss"})

with vmsim.Lab("127.0.0.1:50051", "ada") as lab:         # a server started with --lab FILE
    questions = lab.questions("translate")
    outcome = lab.submit("translate", {"1a": "0x00a42123"})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vmsim_proto.answers import ItemResult, parse_answers
from vmsim_proto.v1 import lab_pb2

from .calls import Call
from .channels import admin_token_from
from .client import _Endpoint
from .constants import ADMIN_TOKEN_METADATA_KEY, DEFAULT_TIMEOUT
from .errors import VmsimError
from .html import html_table

__all__ = [
    "LAB_TOKEN_METADATA_KEY",
    "CheckResult",
    "Exercise",
    "Exercises",
    "ItemResult",
    "Lab",
    "LabResults",
    "Question",
    "QuestionItem",
    "Scoreboard",
    "StudentResult",
    "Submission",
    "lab_results",
    "parse_answers",
    "scoreboard",
]

T = TypeVar("T")
LAB_TOKEN_METADATA_KEY = "x-vmsim-lab-token"
NO_LAB = "this server runs no graded lab: start it with --lab FILE"


@dataclass(frozen=True)
class Exercise:
    """An exercise kind."""

    kind: str
    title: str
    answer_format: str


@dataclass(frozen=True)
class QuestionItem:
    """One answerable item (answer empty unless asked for)."""

    id: str
    prompt: str
    answer: str = ""


@dataclass(frozen=True)
class Question:
    """One question: its text, items and (when asked for) the working."""

    kind: str
    number: int
    text: str
    items: tuple[QuestionItem, ...]
    working: str = ""


@dataclass(frozen=True)
class CheckResult:
    """Per-item results and the working (when revealed)."""

    items: tuple[ItemResult, ...]
    correct: int
    total: int
    working: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        return html_table(
            ("item", "given", "right?", "expected"),
            [(i.id, i.given, "yes" if i.correct else "no", i.expected) for i in self.items],
            f"{self.correct} of {self.total} right",
        )


@dataclass(frozen=True)
class Submission:
    """A graded submission: its check, which attempt it was, and the score."""

    result: CheckResult
    attempt: int
    attempts: int
    score: float


@dataclass(frozen=True)
class StudentResult:
    """A scoreboard line."""

    name: str
    scores: dict[str, float]
    total: float
    possible: float
    submissions: int


@dataclass(frozen=True)
class LabResults:
    """The scoreboard."""

    title: str
    students: tuple[StudentResult, ...]
    kinds: tuple[str, ...] = field(default=())

    def rows(self) -> list[list[str]]:
        """Header and one row per student (name, a score per exercise, total, submissions)."""
        kinds = self.kinds or tuple(sorted({k for s in self.students for k in s.scores}))
        header = ["name", *kinds, "total", "possible", "submissions"]
        body = [
            [
                s.name,
                *(f"{s.scores.get(kind, 0.0):g}" for kind in kinds),
                f"{s.total:g}",
                f"{s.possible:g}",
                str(s.submissions),
            ]
            for s in self.students
        ]
        return [header, *body]

    def _repr_html_(self) -> str:
        header, *body = self.rows()
        return html_table(header, body, self.title)


def _question(message: lab_pb2.Question) -> Question:
    return Question(
        message.kind,
        message.number,
        message.text,
        tuple(QuestionItem(i.id, i.prompt, i.answer) for i in message.items),
        message.working,
    )


def _check(message: lab_pb2.CheckResult) -> CheckResult:
    return CheckResult(
        tuple(ItemResult(i.id, i.correct, i.given, i.expected) for i in message.items),
        message.correct,
        message.total,
        tuple(message.working),
    )


def lab_results(message: lab_pb2.GetLabResultsResponse) -> LabResults:
    """The scoreboard from its reply."""
    return LabResults(
        message.title,
        tuple(
            StudentResult(s.name, dict(s.scores), s.total, s.possible, s.submissions)
            for s in message.students
        ),
    )


class _Handle:
    def __init__(self, endpoint: _Endpoint) -> None:
        self._endpoint = endpoint

    def _invoke(self, call: Call[T]) -> T:
        try:
            return self._endpoint.invoke(call)
        except VmsimError as error:
            if error.code == "UNIMPLEMENTED" and call.service == "lab":
                raise VmsimError(NO_LAB, "UNIMPLEMENTED") from None
            raise

    def close(self) -> None:
        """Close the channel."""
        self._endpoint.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Exercises(_Handle):
    """Practice on any server: seeded questions, answers and checks (no state on the server)."""

    def __init__(self, address: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(_Endpoint(address, timeout))

    def kinds(self) -> list[Exercise]:
        """Every exercise kind."""
        return self._invoke(
            Call(
                "exercise",
                "ListExercises",
                lab_pb2.ListExercisesRequest(),
                lambda r: [Exercise(e.kind, e.title, e.answer_format) for e in r.exercises],
            )
        )

    def questions(
        self, kind: str, seed: int, count: int = 1, with_answers: bool = False
    ) -> list[Question]:
        """*count* questions of *kind* from *seed* (answers and working with *with_answers*)."""
        request = lab_pb2.GetQuestionsRequest(
            kind=kind, seed=seed, count=count, with_answers=with_answers
        )
        return self._invoke(
            Call("exercise", "GetQuestions", request, lambda r: [_question(q) for q in r.questions])
        )

    def check(self, kind: str, seed: int, count: int, answers: Mapping[str, str]) -> CheckResult:
        """Check *answers* (item id -> answer) against those questions."""
        request = lab_pb2.CheckAnswersRequest(kind=kind, seed=seed, count=count, answers=answers)
        return self._invoke(Call("exercise", "CheckAnswers", request, lambda r: _check(r.result)))


class Lab(_Handle):
    """A student in a graded lab: join with a name (or rejoin with its token), questions, submissions.

    With only a *token* (a name already joined) no join call is made.
    """

    def __init__(
        self, address: str, name: str = "", token: str = "", timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__(_Endpoint(address, timeout))
        self.name = name
        self.token = token
        self.title = ""
        self.exercises: dict[str, tuple[int, float, int]] = {}
        self.deadline_unix = 0
        if name:
            try:
                joined = self._invoke(
                    Call(
                        "lab",
                        "JoinLab",
                        lab_pb2.JoinLabRequest(name=name, token=token),
                        lambda r: r,
                    )
                )
            except BaseException:
                self.close()
                raise
            self.token = joined.token
            self.title = joined.title
            self.exercises = {e.kind: (e.count, e.weight, e.attempts) for e in joined.exercises}
            self.deadline_unix = joined.deadline_unix
        self._endpoint.metadata = ((LAB_TOKEN_METADATA_KEY, self.token),)

    def questions(self, kind: str) -> list[Question]:
        """My questions of exercise *kind* (no answers)."""
        return self._invoke(
            Call(
                "lab",
                "GetLabQuestions",
                lab_pb2.GetLabQuestionsRequest(kind=kind),
                lambda r: [_question(q) for q in r.questions],
            )
        )

    def submit(self, kind: str, answers: Mapping[str, str]) -> Submission:
        """Submit answers to *kind*: checked and stored on the server."""
        return self._invoke(
            Call(
                "lab",
                "SubmitLabAnswers",
                lab_pb2.SubmitLabAnswersRequest(kind=kind, answers=answers),
                lambda r: Submission(_check(r.result), r.attempt, r.attempts, r.score),
            )
        )


class Scoreboard(_Handle):
    """The instructor's view of a graded lab: the scoreboard, read with the admin token.

    One channel for many reads (the dashboard polls it); `scoreboard()` reads it once. An
    empty *admin_token* is read from VMSIM_ADMIN_TOKEN or the file VMSIM_ADMIN_TOKEN_FILE names.
    """

    def __init__(
        self, address: str, admin_token: str = "", timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        token = admin_token_from(admin_token)
        super().__init__(_Endpoint(address, timeout, ((ADMIN_TOKEN_METADATA_KEY, token),)))

    def results(self) -> LabResults:
        """Every student's score per exercise, total and submissions.

        Raises:
            VmsimError: UNIMPLEMENTED when the server runs no lab (NO_LAB says how to start
                one); PERMISSION_DENIED or UNAUTHENTICATED for a wrong or missing token.
        """
        return self._invoke(
            Call("lab", "GetLabResults", lab_pb2.GetLabResultsRequest(), lab_results)
        )


def scoreboard(address: str, admin_token: str = "", timeout: float = DEFAULT_TIMEOUT) -> LabResults:
    """The lab's scoreboard (needs the admin token: *admin_token*, or as Scoreboard finds it)."""
    board = Scoreboard(address, admin_token, timeout)
    try:
        return board.results()
    finally:
        board.close()
