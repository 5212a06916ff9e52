"""The server's pure calls answered in the caller's process: the `vmsim.embedded` entry points
`calls` and `questions` (pyproject.toml), which the client's offline `vmsim replay` and
`vmsim lab` use.

The request and reply are the wire's messages and an error is the google.rpc.Status the
servicer would abort with (errors.status_of), so an offline answer is the server's answer,
message for message, with no server, event loop or worker process started. Each method's
module is imported on its first call: a replay does not import the lab generators, and a lab
question does not import numpy or the replay code.

`questions` (practice_questions_in_process) answers GetQuestions as plain data instead, the
records the messages are made of (vmsim_lab.question_record): `vmsim lab question` is held to
OSTEP's whole generator script (issue 23), and loading protobuf alone costs more than that.
Only a failure loads it, for the Status.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from vmsim_kernel.errors import KernelError

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from google.rpc import status_pb2

    from vmsim_proto.questions import QuestionRecord

__all__ = ["IN_PROCESS_METHODS", "call_in_process", "practice_questions_in_process"]

T = TypeVar("T")

# (service, method) as in the client's vmsim.calls.Call -> (module, function answering it)
IN_PROCESS_METHODS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("inspect", "Replay"): ("vmsim_server.replay_rpc", "replay_response"),
    ("inspect", "GetMissRatioCurve"): ("vmsim_server.replay_rpc", "miss_ratio_curve_response"),
    ("exercise", "ListExercises"): ("vmsim_server.exercises", "list_exercises"),
    ("exercise", "GetQuestions"): ("vmsim_server.exercises", "get_questions"),
    ("exercise", "CheckAnswers"): ("vmsim_server.exercises", "check_practice_answers"),
}


def _answer(service: str, method: str) -> Callable[[Any], Message]:
    module, function = IN_PROCESS_METHODS[service, method]
    answer: Callable[[Any], Message] = getattr(importlib.import_module(module), function)
    return answer


def call_in_process(service: str, method: str, request: Message) -> Message | status_pb2.Status:
    """The reply to *request*, or the google.rpc.Status the server would have sent instead.

    Raises:
        KeyError: (service, method) is not one of IN_PROCESS_METHODS (a defect of the caller).
    """
    answer = _answer(service, method)
    return _or_status(lambda: answer(request))


def _or_status(answer: Callable[[], T]) -> T | status_pb2.Status:
    """What *answer* returns, or the google.rpc.Status of the kernel error it raised."""
    try:
        return answer()
    except KernelError as error:
        from .errors import status_of  # only on failure: it loads grpc and the messages

        return status_of(error)


def practice_questions_in_process(
    kind: str, seed: int, count: int, with_answers: bool
) -> list[QuestionRecord] | status_pb2.Status:
    """GetQuestions' questions as plain data (a list of vmsim_lab.question_record's records,
    field for field the reply's), or the google.rpc.Status the server would have sent instead.
    """
    from vmsim_lab import practice_questions  # the lab, not the replay, side of this module

    return _or_status(lambda: practice_questions(kind, seed, count or 1, with_answers))
