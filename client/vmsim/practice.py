"""Practice questions from the client: seeded questions, answers and checks, on any server
or answered in this process (vmsim.offline).

with vmsim.Exercises("127.0.0.1:50051") as exercises:    # or vmsim.offline.exercises()
    for q in exercises.questions("replace", seed=7, count=2):
        print(q.text)
    result = exercises.check("replace", 7, 2, {"1a": "miss"})

Apart from the graded labs (lab.py, which re-exports these names): `vmsim lab question` loads
only this half, whose few dataclasses are a good part of what the command costs (issue 23).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from google.rpc import status_pb2

from vmsim_proto.answers import ItemResult
from vmsim_proto.v1 import lab_pb2

from .call import Call, ClosedOnExit
from .constants import DEFAULT_TIMEOUT
from .errors import VmsimError, error_from_status

if TYPE_CHECKING:
    from vmsim_proto.questions import QuestionRecord

    from .client import _Endpoint

__all__ = [
    "NO_LAB",
    "CheckResult",
    "Exercise",
    "Exercises",
    "Handle",
    "InProcessEndpoint",
    "Question",
    "QuestionItem",
    "channel",
    "check_result",
    "question",
    "question_record",
]

T = TypeVar("T")
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
        from .html import html_table  # a notebook's call, not a command's

        return html_table(
            ("item", "given", "right?", "expected"),
            [(i.id, i.given, "yes" if i.correct else "no", i.expected) for i in self.items],
            f"{self.correct} of {self.total} right",
        )


def question(message: lab_pb2.Question) -> Question:
    """The question from its message."""
    return Question(
        message.kind,
        message.number,
        message.text,
        tuple(QuestionItem(i.id, i.prompt, i.answer) for i in message.items),
        message.working,
    )


def question_record(asked: Question) -> QuestionRecord:
    """The question as plain data, as the offline `vmsim lab question` is given it (the field
    names are the message's, so the record is also the question's JSON)."""
    return {
        "kind": asked.kind,
        "number": asked.number,
        "text": asked.text,
        "items": [{"id": i.id, "prompt": i.prompt, "answer": i.answer} for i in asked.items],
        "working": asked.working,
    }


def check_result(message: lab_pb2.CheckResult) -> CheckResult:
    """The check from its message."""
    return CheckResult(
        tuple(ItemResult(i.id, i.correct, i.given, i.expected) for i in message.items),
        message.correct,
        message.total,
        tuple(message.working),
    )


class InProcessEndpoint:
    """An endpoint whose calls are answered by a function in this process (vmsim.offline).

    *answer* takes (service, method, request) and returns the reply, or the google.rpc.Status
    the service would have failed the call with; the reply is read as a remote one is.
    """

    def __init__(self, answer: Callable[[str, str, Any], Any]) -> None:
        self._answer = answer

    def invoke(self, call: Call[T]) -> T:
        reply = self._answer(call.service, call.method, call.request)
        if isinstance(reply, status_pb2.Status):
            raise error_from_status(reply)
        return call.read(reply)

    def close(self) -> None:
        """Nothing to close."""


def channel(address: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()) -> _Endpoint:
    """A channel to the server at *address*.

    The client module (and grpc) load here: practice answered in this process needs neither.
    """
    from .client import _Endpoint

    return _Endpoint(address, timeout, metadata)


class Handle(ClosedOnExit):
    """A client of the exercise or lab services, on a channel or answered in this process."""

    def __init__(self, endpoint: _Endpoint | InProcessEndpoint) -> None:
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


class Exercises(Handle):
    """Practice on any server: seeded questions, answers and checks (no state on the server)."""

    def __init__(self, address: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(channel(address, timeout))

    @classmethod
    def in_process(cls, answer: Callable[[str, str, Any], Any]) -> Exercises:
        """Exercises answered by *answer*(service, method, request) in this process, not over
        a channel.

        vmsim.offline.exercises() passes the server package's in-process calls.
        """
        exercises = cls.__new__(cls)
        Handle.__init__(exercises, InProcessEndpoint(answer))
        return exercises

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
            Call("exercise", "GetQuestions", request, lambda r: [question(q) for q in r.questions])
        )

    def check(self, kind: str, seed: int, count: int, answers: Mapping[str, str]) -> CheckResult:
        """Check *answers* (item id -> answer) against those questions."""
        request = lab_pb2.CheckAnswersRequest(kind=kind, seed=seed, count=count, answers=answers)
        return self._invoke(
            Call("exercise", "CheckAnswers", request, lambda r: check_result(r.result))
        )
