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

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from vmsim_proto.answers import ItemResult, parse_answers
from vmsim_proto.metadata import LAB_TOKEN_METADATA_KEY
from vmsim_proto.v1 import lab_pb2

from .call import Call
from .constants import DEFAULT_TIMEOUT
from .html import html_table
from .practice import (
    CheckResult,
    Exercise,
    Exercises,
    Handle,
    Question,
    QuestionItem,
    channel,
    check_result,
    question,
)

__all__ = [
    "LAB_TOKEN_METADATA_KEY",
    "CheckResult",
    "Exercise",
    "ExerciseResult",
    "Exercises",
    "ItemResult",
    "Lab",
    "LabResults",
    "LabTerms",
    "Question",
    "QuestionItem",
    "Scoreboard",
    "StudentResult",
    "Submission",
    "formula_safe",
    "lab_results",
    "parse_answers",
    "scoreboard",
]

T = TypeVar("T")


def _when(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class LabTerms:
    """The rules a student works under (what join, fetch and submit show)."""

    policy: str = "best"
    deadline_unix: int = 0
    extended: bool = False
    late_penalty: float = -1.0  # negative: late submissions are refused
    close_unix: int = 0

    def describe(self) -> str:
        """One line for people: which attempt counts, the deadline, late work."""
        counts = "your best attempt counts" if self.policy == "best" else "your last attempt counts"
        if not self.deadline_unix:
            return f"{counts}; no deadline"
        deadline = f"deadline {_when(self.deadline_unix)}" + (
            " (your extension)" if self.extended else ""
        )
        if self.late_penalty < 0:
            late = "late submissions refused"
        else:
            late = f"late submissions lose {self.late_penalty:.0%}" + (
                f", accepted until {_when(self.close_unix)}" if self.close_unix else ""
            )
        return f"{counts}; {deadline}; {late}"


def _terms(message: lab_pb2.LabTerms) -> LabTerms:
    return LabTerms(
        message.policy or "best",
        message.deadline_unix,
        message.extended,
        message.late_penalty,
        message.close_unix,
    )


@dataclass(frozen=True)
class Submission:
    """A submission: its check, which attempt it was, and the score.

    A dry run (*dry_run*) is only checked: nothing is stored, no attempt is used, the
    result holds no marks, and *unanswered* lists the items the answers leave out.
    """

    result: CheckResult
    attempt: int
    attempts: int
    score: float
    dry_run: bool = False
    late: bool = False
    unanswered: tuple[str, ...] = ()
    terms: LabTerms = field(default_factory=LabTerms)


def _submission(message: lab_pb2.SubmitLabAnswersResponse) -> Submission:
    return Submission(
        check_result(message.result),
        message.attempt,
        message.attempts,
        message.score,
        message.dry_run,
        message.late,
        tuple(message.unanswered),
        _terms(message.terms),
    )


@dataclass(frozen=True)
class ExerciseResult:
    """A student's exercise: the attempt that counts under the lab's policy."""

    score: float
    attempt: int
    attempts_used: int
    submitted_unix: int
    late: bool
    items: tuple[tuple[str, bool], ...]  # (item id, right), in order
    submitted_at: str = ""  # submitted_unix in ISO 8601 UTC, for people and spreadsheets


@dataclass(frozen=True)
class StudentResult:
    """A scoreboard line (scores and exercises hold only the kinds submitted)."""

    name: str
    scores: dict[str, float]
    total: float
    possible: float
    submissions: int
    percent: float = 0.0
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)


NOT_SUBMITTED = "-"


def formula_safe(cell: str) -> str:
    """*cell* as a spreadsheet shows it, never runs it: one leading quote before = + - @,
    tab or CR (OWASP's CSV injection advice)."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


@dataclass(frozen=True)
class LabResults:
    """The scoreboard: every exercise of the lab (*kinds*), submitted or not."""

    title: str
    students: tuple[StudentResult, ...]
    kinds: tuple[str, ...] = field(default=())
    policy: str = "best"

    def rows(self, missing: str = NOT_SUBMITTED) -> list[list[str]]:
        """Header and one row per student: name, a score per exercise (*missing* for one
        never submitted), total, possible, percent, submissions."""
        header = ["name", *self.kinds, "total", "possible", "percent", "submissions"]
        body = [
            [
                s.name,
                *(f"{s.scores[kind]:g}" if kind in s.scores else missing for kind in self.kinds),
                f"{s.total:g}",
                f"{s.possible:g}",
                f"{s.percent:.1f}",
                str(s.submissions),
            ]
            for s in self.students
        ]
        return [header, *body]

    def export_rows(self) -> list[list[str]]:
        """The gradebook: per exercise its score, counted attempt, attempts used, submission
        time, late flag and one column per item (1 right, 0 wrong); empty cells for an
        exercise never submitted; every cell formula-safe."""
        items = {
            kind: sorted(
                {
                    item
                    for s in self.students
                    if kind in s.exercises
                    for item, _ in s.exercises[kind].items
                },
                key=_item_order,
            )
            for kind in self.kinds
        }
        header = ["name"]
        for kind in self.kinds:
            header += [f"{kind}", f"{kind} attempt", f"{kind} attempts used"]
            header += [f"{kind} submitted at", f"{kind} late"]
            header += [f"{kind} {item}" for item in items[kind]]
        header += ["total", "possible", "percent", "submissions"]
        body = []
        for s in self.students:
            row = [s.name]
            for kind in self.kinds:
                grade = s.exercises.get(kind)
                if grade is None:
                    row += [""] * (5 + len(items[kind]))
                    continue
                marks = dict(grade.items)
                row += [f"{grade.score:g}", str(grade.attempt), str(grade.attempts_used)]
                row += [grade.submitted_at, "yes" if grade.late else "no"]
                row += [
                    ("1" if marks[item] else "0") if item in marks else "" for item in items[kind]
                ]
            row += [f"{s.total:g}", f"{s.possible:g}", f"{s.percent:.1f}", str(s.submissions)]
            body.append([formula_safe(cell) for cell in row])
        return [[formula_safe(cell) for cell in header], *body]

    def _repr_html_(self) -> str:
        header, *body = self.rows()
        return html_table(header, body, self.title)


def _item_order(item: str) -> tuple[int, str]:
    number = item.rstrip("abcdefghijklmnopqrstuvwxyz")
    return (int(number) if number.isdigit() else 0, item)


def lab_results(message: lab_pb2.GetLabResultsResponse) -> LabResults:
    """The scoreboard from its reply."""
    return LabResults(
        message.title,
        tuple(
            StudentResult(
                s.name,
                dict(s.scores),
                s.total,
                s.possible,
                s.submissions,
                s.percent,
                {
                    kind: ExerciseResult(
                        e.score,
                        e.attempt,
                        e.attempts_used,
                        e.submitted_unix,
                        e.late,
                        tuple((i.id, i.correct) for i in e.items),
                        dt.datetime.fromtimestamp(e.submitted_unix, dt.UTC).isoformat(),
                    )
                    for kind, e in s.exercises.items()
                },
            )
            for s in message.students
        ),
        tuple(message.kinds) or tuple(sorted({k for s in message.students for k in s.scores})),
        message.policy or "best",
    )


class Lab(Handle):
    """A student in a graded lab: join with a name (or rejoin with its token), questions, submissions.

    With only a *token* (a name already joined) no join call is made.
    """

    def __init__(
        self, address: str, name: str = "", token: str = "", timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        endpoint = channel(address, timeout)
        super().__init__(endpoint)
        self.name = name
        self.token = token
        self.title = ""
        self.exercises: dict[str, tuple[int, float, int]] = {}
        self.deadline_unix = 0
        self.terms = LabTerms()
        # of the exercise whose questions were fetched last
        self.attempts_used = 0
        self.attempts_allowed = 0
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
            self.terms = _terms(joined.terms)
        endpoint.metadata = ((LAB_TOKEN_METADATA_KEY, self.token),)

    def questions(self, kind: str) -> list[Question]:
        """My questions of exercise *kind* (no answers); refreshes `terms` and the attempts."""
        reply = self._invoke(
            Call("lab", "GetLabQuestions", lab_pb2.GetLabQuestionsRequest(kind=kind), lambda r: r)
        )
        self.terms = _terms(reply.terms)
        self.attempts_used, self.attempts_allowed = reply.attempts_used, reply.attempts
        return [question(q) for q in reply.questions]

    def submit(self, kind: str, answers: Mapping[str, str], dry_run: bool = False) -> Submission:
        """Submit answers to *kind*: checked and stored on the server.

        With *dry_run* the server only checks the submission's form (known items, an attempt
        left, the lab open): no attempt is used and no marks come back.
        """
        return self._invoke(
            Call(
                "lab",
                "SubmitLabAnswers",
                lab_pb2.SubmitLabAnswersRequest(kind=kind, answers=answers, dry_run=dry_run),
                _submission,
            )
        )


class Scoreboard(Handle):
    """The instructor's view of a graded lab: the scoreboard, read with the admin token.

    One channel for many reads (the dashboard polls it); `scoreboard()` reads it once. An
    empty *admin_token* is read from VMSIM_ADMIN_TOKEN or the file VMSIM_ADMIN_TOKEN_FILE names.
    """

    def __init__(
        self, address: str, admin_token: str = "", timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        from .channels import admin_metadata  # (it imports grpc)

        super().__init__(channel(address, timeout, admin_metadata(admin_token)))

    def results(self) -> LabResults:
        """Every student's score per exercise, total and submissions.

        Raises:
            VmsimError: UNIMPLEMENTED when the server runs no lab (NO_LAB says how to start
                one); PERMISSION_DENIED or UNAUTHENTICATED for a wrong or missing token.
        """
        return self._invoke(
            Call("lab", "GetLabResults", lab_pb2.GetLabResultsRequest(), lab_results)
        )

    def regrade(self) -> tuple[int, int]:
        """Check every stored answer again; returns (submissions checked, marks changed)."""
        return self._invoke(
            Call(
                "lab",
                "RegradeLab",
                lab_pb2.RegradeLabRequest(),
                lambda r: (r.submissions, r.changed),
            )
        )

    def reset_token(self, name: str) -> tuple[str, str]:
        """A new token for student *name* (the old one stops working): (name, token)."""
        return self._invoke(
            Call(
                "lab",
                "ResetLabToken",
                lab_pb2.ResetLabTokenRequest(name=name),
                lambda r: (r.name, r.token),
            )
        )


def scoreboard(address: str, admin_token: str = "", timeout: float = DEFAULT_TIMEOUT) -> LabResults:
    """The lab's scoreboard (needs the admin token: *admin_token*, or as Scoreboard finds it)."""
    board = Scoreboard(address, admin_token, timeout)
    try:
        return board.results()
    finally:
        board.close()
