"""Graded labs: the instructor's lab file, per-student seeds, and the SQLite store of answers.

The lab file (TOML) names the exercises, their counts and weights, and a deadline:

    title = "Paging lab"
    deadline = 2030-06-01T12:00:00Z     # optional; a time without zone is UTC
    [[exercise]]
    kind = "translate"
    count = 2          # questions (default 1)
    weight = 2.0       # share of the total (default 1)
    attempts = 1       # submissions allowed (default 1)

Each student's questions come from `student_seed(secret, name, kind)`, an HMAC of the
server's secret: the secret never leaves the server, so no student can compute another's
questions. The secret and every submission live in one SQLite file, so a restarted server
grades the same questions and keeps the scoreboard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import secrets
import sqlite3
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmsim_kernel import InvalidArgument, KernelError, PermissionDenied

from .exercise import EXERCISES, MAX_QUESTIONS, CheckResult, Question, check_answers, questions

__all__ = [
    "LabClosed",
    "LabConfig",
    "LabExercise",
    "LabStore",
    "StudentScore",
    "student_seed",
]

MAX_NAME = 64
MAX_ANSWER = 200  # characters in one answer


class LabClosed(KernelError):
    """A submission the lab no longer accepts: past the deadline, or no attempt left."""

    errno_name = "EACCES"


@dataclass(frozen=True)
class LabExercise:
    """One exercise of a lab."""

    kind: str
    count: int = 1
    weight: float = 1.0
    attempts: int = 1


@dataclass(frozen=True)
class LabConfig:
    """A lab as the instructor's file describes it."""

    title: str
    exercises: tuple[LabExercise, ...]
    deadline: dt.datetime | None = None

    @classmethod
    def from_toml(cls, path: str | Path) -> LabConfig:
        """Read and check a lab file.

        Raises:
            ValueError: unreadable file, bad TOML, or a value saying what is allowed.
        """
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise ValueError(f"lab file {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"lab file {path}: {error}") from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], where: str = "lab") -> LabConfig:
        """Check the parsed TOML (see the module docstring for the keys)."""
        unknown = set(data) - {"title", "deadline", "exercise"}
        if unknown:
            raise ValueError(
                f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: title, deadline, [[exercise]])"
            )
        raw_exercises = data.get("exercise")
        if not isinstance(raw_exercises, list) or not raw_exercises:
            raise ValueError(f"{where}: needs at least one [[exercise]] table")
        exercises = []
        for number, entry in enumerate(raw_exercises, start=1):
            exercises.append(_lab_exercise(entry, f"{where}: exercise {number}"))
        if not math.isfinite(sum(exercise.weight for exercise in exercises)):
            raise ValueError(
                f"{where}: the weights sum to infinity "
                f"({', '.join(f'{e.kind} {e.weight:g}' for e in exercises)}); use smaller weights"
            )
        kinds = [exercise.kind for exercise in exercises]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"{where}: an exercise kind is listed twice ({', '.join(kinds)})")
        deadline = data.get("deadline")
        if deadline is not None:
            if not isinstance(deadline, dt.datetime):
                raise ValueError(
                    f"{where}: deadline must be a TOML date-time such as 2030-06-01T12:00:00Z"
                )
            if deadline.tzinfo is None:
                deadline = deadline.replace(tzinfo=dt.UTC)
        return cls(str(data.get("title", "vmsim lab")), tuple(exercises), deadline)

    def exercise(self, kind: str) -> LabExercise:
        """The lab's exercise of *kind*.

        Raises:
            InvalidArgument: the lab has no such exercise.
        """
        for entry in self.exercises:
            if entry.kind == kind:
                return entry
        raise InvalidArgument(
            "kind",
            f"this lab has no exercise {kind!r}",
            ", ".join(entry.kind for entry in self.exercises),
        )

    def check_open(self, now: dt.datetime) -> None:
        """Raise LabClosed after the deadline."""
        if self.deadline is not None and now > self.deadline:
            raise LabClosed(
                f"the lab closed at {self.deadline.isoformat()}: submissions are no longer accepted"
            )


def _lab_exercise(entry: object, where: str) -> LabExercise:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be a table")
    unknown = set(entry) - {"kind", "count", "weight", "attempts"}
    if unknown:
        raise ValueError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: kind, count, weight, attempts)"
        )
    kind = entry.get("kind")
    if kind not in EXERCISES:
        raise ValueError(f"{where}: kind {kind!r} is not one of {', '.join(sorted(EXERCISES))}")
    where = f"{where} ({kind})"
    count, weight, attempts = (
        entry.get("count", 1),
        entry.get("weight", 1.0),
        entry.get("attempts", 1),
    )
    if not isinstance(count, int) or not 1 <= count <= MAX_QUESTIONS:
        raise ValueError(f"{where}: count {count!r} must be an integer 1..{MAX_QUESTIONS}")
    if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
        raise ValueError(f"{where}: weight {weight!r} must be a finite number >= 0")
    if not isinstance(attempts, int) or not 1 <= attempts <= 100:
        raise ValueError(f"{where}: attempts {attempts!r} must be an integer 1..100")
    return LabExercise(str(kind), count, float(weight), attempts)


def student_seed(secret: bytes, name: str, kind: str) -> int:
    """The seed of *name*'s questions of *kind*: HMAC-SHA256 of the server secret, 64 bits."""
    digest = hmac.new(secret, f"{name}\0{kind}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class StudentScore:
    """One line of the scoreboard."""

    name: str
    scores: dict[str, float] = field(default_factory=dict)  # kind -> score of the latest attempt
    submissions: int = 0

    @property
    def total(self) -> float:
        """Sum of the exercise scores."""
        return sum(self.scores.values())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS students (
    name TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, joined_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL REFERENCES students(name),
    kind TEXT NOT NULL, attempt INTEGER NOT NULL,
    correct INTEGER NOT NULL, total INTEGER NOT NULL, score REAL NOT NULL,
    answers TEXT NOT NULL, submitted_at TEXT NOT NULL,
    UNIQUE (name, kind, attempt));
"""


class LabStore:
    """Students, the server secret and the submissions, in one SQLite database."""

    def __init__(self, path: str | Path, lab: LabConfig) -> None:
        self.lab = lab
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', ?)", (secrets.token_bytes(32),)
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        self._secret = bytes(row[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def join(self, name: str, token: str, now: dt.datetime) -> str:
        """Add *name* (returns a new token) or let it rejoin with its *token*.

        Raises:
            InvalidArgument: the name is empty, too long or not printable.
            PermissionDenied: the name has joined already and *token* is not its token.
        """
        if not name or len(name) > MAX_NAME or not name.isprintable() or name != name.strip():
            raise InvalidArgument(
                "name", f"{name!r}", f"1..{MAX_NAME} printable characters, no outer spaces"
            )
        row = self._db.execute("SELECT token FROM students WHERE name = ?", (name,)).fetchone()
        if row is not None:
            if token and hmac.compare_digest(token.encode(), str(row[0]).encode()):
                return str(row[0])
            raise PermissionDenied(
                f"{name!r} has joined already: rejoin with the token the first join returned"
            )
        issued = secrets.token_urlsafe(16)
        self._db.execute(
            "INSERT INTO students (name, token, joined_at) VALUES (?, ?, ?)",
            (name, issued, now.isoformat()),
        )
        return issued

    def student(self, token: str) -> str | None:
        """The name that holds *token*, or None."""
        row = self._db.execute("SELECT name FROM students WHERE token = ?", (token,)).fetchone()
        return None if row is None else str(row[0])

    def seed(self, name: str, kind: str) -> int:
        """The seed of *name*'s questions of *kind*."""
        return student_seed(self._secret, name, kind)

    def questions_of(self, name: str, kind: str) -> list[Question]:
        """*name*'s questions of the lab exercise *kind* (InvalidArgument if the lab lacks it)."""
        entry = self.lab.exercise(kind)
        return questions(kind, self.seed(name, kind), entry.count)

    def submit(
        self, name: str, kind: str, answers: Mapping[str, str], now: dt.datetime
    ) -> tuple[CheckResult, int, float]:
        """Check and store one attempt; returns (check, attempt number, score).

        Raises:
            InvalidArgument: the lab has no such exercise, no answer, an answer too long, or
                an answer that names no item (nothing is stored, no attempt is used).
            LabClosed: after the deadline, or every attempt is used.
        """
        entry = self.lab.exercise(kind)
        self.lab.check_open(now)
        if not answers:
            raise InvalidArgument(
                "answers", "the submission holds no answer", "item id -> answer, e.g. 1a: 0x1000"
            )
        too_long = sorted(item for item, answer in answers.items() if len(answer) > MAX_ANSWER)
        if too_long:
            raise InvalidArgument(
                "answers",
                f"the answer to {too_long[0]} is too long",
                f"at most {MAX_ANSWER} characters",
            )
        (done,) = self._db.execute(
            "SELECT COUNT(*) FROM submissions WHERE name = ? AND kind = ?", (name, kind)
        ).fetchone()
        if done >= entry.attempts:
            raise LabClosed(f"no attempt left: {kind} allows {entry.attempts} submission(s)")
        result = check_answers(kind, self.seed(name, kind), entry.count, answers)
        score = entry.weight * result.correct / result.total if result.total else 0.0
        self._db.execute(
            "INSERT INTO submissions (name, kind, attempt, correct, total, score, answers, "
            "submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                kind,
                done + 1,
                result.correct,
                result.total,
                score,
                json.dumps(dict(answers), sort_keys=True),
                now.isoformat(),
            ),
        )
        return result, done + 1, score

    def scoreboard(self) -> list[StudentScore]:
        """Every student by name with the score of their latest attempt per exercise."""
        board = {
            str(name): StudentScore(str(name))
            for (name,) in self._db.execute("SELECT name FROM students ORDER BY name")
        }
        for name, kind, score, count in self._db.execute(
            "SELECT name, kind, score, (SELECT COUNT(*) FROM submissions s2 WHERE s2.name = s.name) "
            "FROM submissions s WHERE attempt = (SELECT MAX(attempt) FROM submissions s3 "
            "WHERE s3.name = s.name AND s3.kind = s.kind) ORDER BY name, kind"
        ):
            line = board[str(name)]
            line.scores[str(kind)] = float(score)
            board[str(name)] = StudentScore(line.name, line.scores, int(count))
        return list(board.values())
