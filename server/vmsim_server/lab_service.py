"""ExerciseService (seeded practice questions) and LabService (graded labs): thin adapters.

The questions and their checks live in vmsim_lab (answers from the kernel itself); the
students, the secret and the submissions in vmsim_lab.grading's SQLite store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from vmsim_lab import check_answers, questions
from vmsim_lab.grading import LabStore
from vmsim_proto.metadata import LAB_TOKEN_METADATA_KEY
from vmsim_proto.v1 import lab_pb2, lab_pb2_grpc

from .admin_service import require_admin
from .call_metadata import call_metadata
from .errors import Unauthenticated
from .exercises import (
    check_message,
    check_response,
    exercises_response,
    question_message,
    questions_response,
)
from .heavy import HeavyCalls

if TYPE_CHECKING:  # limits.py reads this module's LAB_TOKEN_METADATA_KEY
    from .limits import ClientLimits

__all__ = ["LAB_TOKEN_METADATA_KEY", "ExerciseService", "LabService"]

Context = grpc.aio.ServicerContext[Any, Any]


class ExerciseService(lab_pb2_grpc.ExerciseServiceServicer):
    """Stateless practice: list, generate, check.

    Each question boots its own small machine and shares nothing with the served one, so
    generation runs in the costly calls' worker process (heavy.py), at the caller's rate.
    """

    def __init__(self, limits: ClientLimits, heavy: HeavyCalls) -> None:
        self._limits = limits
        self._heavy = heavy

    async def ListExercises(
        self, request: lab_pb2.ListExercisesRequest, context: Context
    ) -> lab_pb2.ListExercisesResponse:
        return exercises_response()

    async def GetQuestions(
        self, request: lab_pb2.GetQuestionsRequest, context: Context
    ) -> lab_pb2.GetQuestionsResponse:
        self._heavy.admit(self._limits.identity(context))
        generated = await self._heavy.in_worker(
            questions, request.kind, request.seed, request.count or 1
        )
        return questions_response(request, generated)

    async def CheckAnswers(
        self, request: lab_pb2.CheckAnswersRequest, context: Context
    ) -> lab_pb2.CheckAnswersResponse:
        self._heavy.admit(self._limits.identity(context))
        result = await self._heavy.in_worker(
            check_answers, request.kind, request.seed, request.count or 1, dict(request.answers)
        )
        return check_response(result)


class LabService(lab_pb2_grpc.LabServiceServicer):
    """A graded lab: join, questions per student, submissions, the scoreboard."""

    def __init__(
        self,
        store: LabStore,
        admin_token: str,
        limits: ClientLimits,
        heavy: HeavyCalls,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._limits = limits
        self._heavy = heavy
        self._store = store
        self._admin_token = admin_token
        self._now = now

    def _student(self, context: Context) -> str:
        for key, value in call_metadata(context):
            if key == LAB_TOKEN_METADATA_KEY:
                name = self._store.student(value if isinstance(value, str) else value.decode())
                if name is not None:
                    return name
                raise Unauthenticated(f"{LAB_TOKEN_METADATA_KEY} is not a token of this lab")
        raise Unauthenticated(f"missing {LAB_TOKEN_METADATA_KEY} metadata: join the lab first")

    def _terms(self, name: str) -> lab_pb2.LabTerms:
        lab = self._store.lab
        deadline, closes = lab.deadline_of(name), lab.close_of(name)
        return lab_pb2.LabTerms(
            policy=lab.policy.value,
            deadline_unix=_unix(deadline),
            extended=deadline != lab.deadline,
            late_penalty=-1.0 if lab.late_penalty is None else lab.late_penalty,
            close_unix=_unix(closes),
        )

    async def JoinLab(
        self, request: lab_pb2.JoinLabRequest, context: Context
    ) -> lab_pb2.JoinLabResponse:
        name, token = self._store.join(request.name, request.token, self._now())
        lab = self._store.lab
        return lab_pb2.JoinLabResponse(
            token=token,
            title=lab.title,
            exercises=[
                lab_pb2.LabExercise(
                    kind=e.kind, count=e.count, weight=e.weight, attempts=e.attempts
                )
                for e in lab.exercises
            ],
            deadline_unix=_unix(lab.deadline),
            terms=self._terms(name),
        )

    async def GetLabQuestions(
        self, request: lab_pb2.GetLabQuestionsRequest, context: Context
    ) -> lab_pb2.GetLabQuestionsResponse:
        name = self._student(context)
        self._heavy.admit(self._limits.identity(context))
        # store.questions_of's generation, in the worker process (the store stays here).
        count = self._store.lab.exercise(request.kind).count
        seed = self._store.seed(name, request.kind)
        generated = await self._heavy.in_worker(questions, request.kind, seed, count)
        return lab_pb2.GetLabQuestionsResponse(
            questions=[question_message(q, with_answers=False) for q in generated],
            terms=self._terms(name),
            attempts_used=self._store.attempts_used(name, request.kind),
            attempts=self._store.lab.exercise(request.kind).attempts,
        )

    async def SubmitLabAnswers(
        self, request: lab_pb2.SubmitLabAnswersRequest, context: Context
    ) -> lab_pb2.SubmitLabAnswersResponse:
        name = self._student(context)
        outcome = self._store.submit(
            name, request.kind, request.answers, self._now(), dry_run=request.dry_run
        )
        # A dry run grades nothing: its marks would be a free attempt.
        result = (
            lab_pb2.CheckResult(total=outcome.result.total)
            if outcome.dry_run
            else check_message(outcome.result, reveal=outcome.attempt >= outcome.attempts)
        )
        return lab_pb2.SubmitLabAnswersResponse(
            result=result,
            attempt=outcome.attempt,
            attempts=outcome.attempts,
            score=outcome.score,
            dry_run=outcome.dry_run,
            late=outcome.late,
            unanswered=outcome.unanswered,
            terms=self._terms(name),
        )

    async def GetLabResults(
        self, request: lab_pb2.GetLabResultsRequest, context: Context
    ) -> lab_pb2.GetLabResultsResponse:
        require_admin(context, self._admin_token)
        lab = self._store.lab
        possible = lab.possible
        return lab_pb2.GetLabResultsResponse(
            title=lab.title,
            kinds=[entry.kind for entry in lab.exercises],
            policy=lab.policy.value,
            students=[
                lab_pb2.StudentResult(
                    name=line.name,
                    scores={kind: grade.score for kind, grade in line.exercises.items()},
                    total=line.total,
                    possible=possible,
                    submissions=line.submissions,
                    percent=100 * line.total / possible if possible else 0.0,
                    exercises={
                        kind: lab_pb2.ExerciseResult(
                            score=grade.score,
                            attempt=grade.attempt,
                            attempts_used=grade.attempts_used,
                            submitted_unix=_unix(grade.submitted_at),
                            late=grade.late,
                            items=[
                                lab_pb2.ItemMark(id=item, correct=right)
                                for item, right in grade.items
                            ],
                        )
                        for kind, grade in line.exercises.items()
                    },
                )
                for line in self._store.grades()
            ],
        )

    async def RegradeLab(
        self, request: lab_pb2.RegradeLabRequest, context: Context
    ) -> lab_pb2.RegradeLabResponse:
        require_admin(context, self._admin_token)
        # Every stored attempt's questions are generated again: off the event loop.
        checked, changed = await asyncio.to_thread(self._store.regrade)
        return lab_pb2.RegradeLabResponse(submissions=checked, changed=changed)

    async def ResetLabToken(
        self, request: lab_pb2.ResetLabTokenRequest, context: Context
    ) -> lab_pb2.ResetLabTokenResponse:
        require_admin(context, self._admin_token)
        name, token = self._store.reset_token(request.name)
        return lab_pb2.ResetLabTokenResponse(name=name, token=token)


def _unix(when: dt.datetime | None) -> int:
    return int(when.timestamp()) if when is not None else 0
