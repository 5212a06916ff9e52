"""ExerciseService's messages, and the service answered in the caller's process.

The servicer (lab_service.py) and `exercise_call` build the same messages with the functions
here. `exercise_call` is what the client's offline `vmsim lab list/question/check` reach
through the `vmsim.embedded` entry point (name `exercises`): the request and reply are the
wire's messages and an error is the google.rpc.Status the servicer would abort with, but no
server, event loop or worker process is started, and only the generator of the kind asked
for is imported.
"""

from __future__ import annotations

from google.protobuf.message import Message
from google.rpc import status_pb2

from vmsim_kernel import InvalidArgument, KernelError
from vmsim_lab import EXERCISES, CheckResult, Question, check_answers, questions
from vmsim_proto.v1 import lab_pb2

from .errors import status_of

__all__ = [
    "check_message",
    "check_response",
    "exercise_call",
    "exercises_response",
    "question_message",
    "questions_response",
]


def question_message(question: Question, with_answers: bool) -> lab_pb2.Question:
    """A question on the wire, answers and working only when asked for."""
    return lab_pb2.Question(
        kind=question.kind,
        number=question.number,
        text=question.text,
        items=[
            lab_pb2.QuestionItem(
                id=item.id, prompt=item.prompt, answer=item.answer if with_answers else ""
            )
            for item in question.items
        ],
        working=question.working if with_answers else "",
    )


def check_message(result: CheckResult, reveal: bool) -> lab_pb2.CheckResult:
    """A check on the wire; the right answers and working only when *reveal*."""
    return lab_pb2.CheckResult(
        items=[
            lab_pb2.ItemResult(
                id=item.id,
                correct=item.correct,
                given=item.given,
                expected=item.expected if reveal else "",
            )
            for item in result.items
        ],
        correct=result.correct,
        total=result.total,
        working=list(result.working) if reveal else [],
    )


def exercises_response() -> lab_pb2.ListExercisesResponse:
    """ListExercises: every kind (imports every generator, for the titles)."""
    return lab_pb2.ListExercisesResponse(
        exercises=[
            lab_pb2.Exercise(kind=e.kind, title=e.title, answer_format=e.answer_format)
            for e in EXERCISES.values()
        ]
    )


def questions_response(
    request: lab_pb2.GetQuestionsRequest, generated: list[Question]
) -> lab_pb2.GetQuestionsResponse:
    """GetQuestions' reply for *request*, of the questions generated for it."""
    return lab_pb2.GetQuestionsResponse(
        questions=[question_message(q, request.with_answers) for q in generated]
    )


def check_response(result: CheckResult) -> lab_pb2.CheckAnswersResponse:
    """CheckAnswers' reply: practice reveals the right answers and the working."""
    return lab_pb2.CheckAnswersResponse(result=check_message(result, reveal=True))


def exercise_call(method: str, request: Message) -> Message | status_pb2.Status:
    """ExerciseService's *method* answered here: its reply, or the status it would fail with.

    Raises:
        InvalidArgument: *method* is not one of ExerciseService's (a defect of the caller).
    """
    try:
        if method == "ListExercises":
            return exercises_response()
        if isinstance(request, lab_pb2.GetQuestionsRequest):
            count = request.count or 1
            return questions_response(request, questions(request.kind, request.seed, count))
        if isinstance(request, lab_pb2.CheckAnswersRequest):
            count = request.count or 1
            answers = dict(request.answers)
            return check_response(check_answers(request.kind, request.seed, count, answers))
    except KernelError as error:
        return status_of(error)
    raise InvalidArgument("method", method, "ListExercises, GetQuestions, CheckAnswers")
