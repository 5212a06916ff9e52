"""ExerciseService's messages, and the service's methods answered in the caller's process.

The servicer (lab_service.py) and the per-method functions at the end build the same
messages with the functions here; a question's message is its plain record
(vmsim_lab.question_record), which the offline `vmsim lab question` prints with no message. Those functions are what the client's offline
`vmsim lab list/question/check` reach through in_process.call_in_process (the
`vmsim.embedded` entry point `calls`); only the generator of the kind asked for is imported.
"""

from __future__ import annotations

from vmsim_lab import EXERCISES, CheckResult, Question, check_answers, question_record, questions
from vmsim_proto.v1 import lab_pb2

__all__ = [
    "check_message",
    "check_practice_answers",
    "check_response",
    "exercises_response",
    "get_questions",
    "list_exercises",
    "question_message",
    "questions_response",
]


def question_message(question: Question, with_answers: bool) -> lab_pb2.Question:
    """A question on the wire, answers and working only when asked for: its plain record
    (vmsim_lab.question_record, what the offline client prints), field for field."""
    record = question_record(question, with_answers)
    return lab_pb2.Question(
        kind=record["kind"],
        number=record["number"],
        text=record["text"],
        items=[lab_pb2.QuestionItem(**item) for item in record["items"]],
        working=record["working"],
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


def list_exercises(request: lab_pb2.ListExercisesRequest) -> lab_pb2.ListExercisesResponse:
    """ListExercises answered in this process (in_process.call_in_process)."""
    return exercises_response()


def get_questions(request: lab_pb2.GetQuestionsRequest) -> lab_pb2.GetQuestionsResponse:
    """GetQuestions answered in this process: only the generator of the kind is imported.

    Raises:
        InvalidArgument: an unknown kind, or a count or seed out of range.
    """
    return questions_response(request, questions(request.kind, request.seed, request.count or 1))


def check_practice_answers(request: lab_pb2.CheckAnswersRequest) -> lab_pb2.CheckAnswersResponse:
    """CheckAnswers answered in this process.

    Raises:
        InvalidArgument: an unknown kind, or a count or seed out of range.
    """
    count = request.count or 1
    return check_response(check_answers(request.kind, request.seed, count, dict(request.answers)))
