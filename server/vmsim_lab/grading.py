"""Graded labs: the instructor's lab file, per-student seeds, and the SQLite store of answers.

The lab file (TOML) names the exercises, their counts and weights, and the rules:

    title = "Paging lab"
    deadline = 2030-06-01T12:00:00Z     # optional; a time without zone is UTC
    policy = "best"                     # which attempt counts: best (default) or last
    late_penalty = 0.25                 # late work loses this share; without it, refused
    close = 2030-06-08T12:00:00Z        # nothing accepted after this, late or not
    roster = ["ada", "bob"]             # only these names may join (case-insensitive)
    [extensions]
    ada = 2030-06-03T12:00:00Z          # ada's own deadline
    [[exercise]]
    kind = "translate"
    count = 2          # questions (default 1)
    weight = 2.0       # share of the total (default 1)
    attempts = 1       # submissions allowed (default 1)

Each student's questions come from `student_seed(secret, name, kind)`, an HMAC of the
server's secret: the secret never leaves the server, so no student can compute another's
questions. The secret, the students (with their tokens hashed) and every answer live in one
SQLite file, created 0600, so a restarted server grades the same questions and keeps the
scoreboard. Marks are stored per item; scores are computed from them when read, so the lab
file's current weights, policy, deadlines and extensions always apply, and `regrade` checks
the stored answers again after the questions change.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import sqlite3
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmsim_kernel import InvalidArgument, KernelError, PermissionDenied
from vmsim_proto.answers import normalize_item_id

from .exercise import EXERCISES, MAX_QUESTIONS, CheckResult, Question, check_answers, questions
from .names import MAX_NAME, display_name, name_key, skeleton

__all__ = [
    "AttemptPolicy",
    "ExerciseGrade",
    "LabClosed",
    "LabConfig",
    "LabExercise",
    "LabStore",
    "StudentGrade",
    "SubmitOutcome",
    "student_seed",
]

MAX_ANSWER = 200  # characters in one answer

log = logging.getLogger(__name__)


class LabClosed(KernelError):
    """A submission the lab no longer accepts: past the deadline, or no attempt left."""

    errno_name = "EACCES"


class AttemptPolicy(enum.StrEnum):
    """Which of a student's attempts at an exercise counts."""

    BEST = "best"  # the highest score (the earliest of equal ones): trying again never hurts
    LAST = "last"  # the latest attempt, even when it scores less


@dataclass(frozen=True)
class LabExercise:
    """One exercise of a lab."""

    kind: str
    count: int = 1
    weight: float = 1.0
    attempts: int = 1


_LAB_KEYS = ("title", "deadline", "policy", "late_penalty", "close", "roster", "extensions")


@dataclass(frozen=True)
class LabConfig:
    """A lab as the instructor's file describes it.

    Attributes:
        late_penalty: the share of the score a late attempt loses (0..1); None refuses late
            attempts.
        close: no attempt is accepted after it, late or not (an extension past it wins).
        roster: the names that may join, as the instructor wrote them; empty lets anyone in.
        extensions: name key (see names.name_key) -> that student's own deadline.
    """

    title: str
    exercises: tuple[LabExercise, ...]
    deadline: dt.datetime | None = None
    policy: AttemptPolicy = AttemptPolicy.BEST
    late_penalty: float | None = None
    close: dt.datetime | None = None
    roster: tuple[str, ...] = ()
    extensions: Mapping[str, dt.datetime] = field(default_factory=dict)

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
        unknown = set(data) - {*_LAB_KEYS, "exercise"}
        if unknown:
            raise ValueError(
                f"{where}: unknown key {sorted(unknown)[0]!r} "
                f"(allowed: {', '.join(_LAB_KEYS)}, [[exercise]])"
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
        policy = data.get("policy", "best")
        if policy not in AttemptPolicy.__members__.values():
            raise ValueError(f"{where}: policy {policy!r} must be 'best' or 'last'")
        late_penalty = data.get("late_penalty")
        if late_penalty is not None and (
            not isinstance(late_penalty, int | float)
            or isinstance(late_penalty, bool)
            or not 0 <= late_penalty <= 1
        ):
            raise ValueError(
                f"{where}: late_penalty {late_penalty!r} must be a number 0..1 "
                "(the share of the score a late attempt loses)"
            )
        return cls(
            str(data.get("title", "vmsim lab")),
            tuple(exercises),
            _date_time(data.get("deadline"), f"{where}: deadline"),
            AttemptPolicy(str(policy)),
            None if late_penalty is None else float(late_penalty),
            _date_time(data.get("close"), f"{where}: close"),
            _roster(data.get("roster", []), where),
            _extensions(data.get("extensions", {}), where),
        )

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

    @property
    def possible(self) -> float:
        """The sum of the weights: a full score."""
        return sum(entry.weight for entry in self.exercises)

    def deadline_of(self, name: str) -> dt.datetime | None:
        """*name*'s deadline: their extension, else the lab's."""
        return self.extensions.get(name_key(name), self.deadline)

    def close_of(self, name: str) -> dt.datetime | None:
        """When *name*'s last attempt is accepted: the deadline when late work is refused,
        else `close` (or the extension, when later)."""
        deadline = self.deadline_of(name)
        if self.late_penalty is None:  # late work is refused
            return deadline
        if self.close is None:  # late work is taken, with its penalty, for good
            return None
        return self.close if deadline is None else max(self.close, deadline)

    def is_late(self, name: str, when: dt.datetime) -> bool:
        """An attempt of *name* at *when* is after their deadline."""
        deadline = self.deadline_of(name)
        return deadline is not None and when > deadline

    def check_open(self, name: str, now: dt.datetime) -> None:
        """Raise LabClosed when *name* may no longer submit."""
        closes = self.close_of(name)
        if closes is not None and now > closes:
            raise LabClosed(
                f"the lab closed at {closes.isoformat()}: submissions are no longer accepted"
            )

    def roster_name(self, name: str) -> str | None:
        """The roster's spelling of *name* (compared by key); None when it is not listed."""
        key = name_key(name)
        return next((listed for listed in self.roster if name_key(listed) == key), None)


def _date_time(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{where} must be a TOML date-time such as 2030-06-01T12:00:00Z")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _roster(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f'{where}: roster must be a list of names, e.g. ["ada", "bob"]')
    names = []
    for name in value:
        try:
            names.append(display_name(name))
        except ValueError as error:
            raise ValueError(f"{where}: roster name {name!r}: {error}") from None
    keys = [name_key(name) for name in names]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{where}: a roster name is listed twice (names ignore case)")
    return tuple(names)


def _extensions(value: object, where: str) -> dict[str, dt.datetime]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: [extensions] must be a table of name = date-time")
    extended = {}
    for name, deadline in value.items():
        when = _date_time(deadline, f"{where}: extension of {name!r}")
        assert when is not None
        extended[name_key(name)] = when
    return extended


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
class SubmitOutcome:
    """One submission checked (and, unless a dry run, stored).

    Attributes:
        result: the marks (a dry run's are not to be shown: it grades nothing).
        attempt: this attempt's number (the number it would have, for a dry run).
        attempts: attempts allowed.
        score: this attempt's score, late penalty included (0 for a dry run).
        late: after the student's deadline.
        unanswered: items the submission leaves out (they count as wrong).
        dry_run: only checked: nothing stored, no attempt used.
    """

    result: CheckResult
    attempt: int
    attempts: int
    score: float
    late: bool
    unanswered: tuple[str, ...]
    dry_run: bool = False


@dataclass(frozen=True)
class ExerciseGrade:
    """The attempt at one exercise that counts under the lab's policy."""

    score: float
    attempt: int
    attempts_used: int
    submitted_at: dt.datetime
    late: bool
    items: tuple[tuple[str, bool], ...]  # (item id, right) in order; () before a regrade


@dataclass(frozen=True)
class StudentGrade:
    """One line of the scoreboard: every exercise the student submitted."""

    name: str
    exercises: dict[str, ExerciseGrade] = field(default_factory=dict)
    submissions: int = 0

    @property
    def total(self) -> float:
        """Sum of the exercise scores."""
        return sum(grade.score for grade in self.exercises.values())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS students (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, joined_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL REFERENCES students(name),
    kind TEXT NOT NULL, attempt INTEGER NOT NULL,
    correct INTEGER NOT NULL, total INTEGER NOT NULL, score REAL NOT NULL,
    answers TEXT NOT NULL, submitted_at TEXT NOT NULL, marks TEXT NOT NULL DEFAULT '[]',
    UNIQUE (name, kind, attempt));
"""


def _private_file(path: Path) -> None:
    """Create *path* 0600, or make an existing one 0600 with a warning: it holds secrets."""
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "lab database %s was mode %04o, readable by others: made 0600 "
                "(it holds the lab secret and the students' token hashes)",
                path,
                mode,
            )
            os.chmod(path, 0o600)
    else:
        os.close(fd)


class LabStore:
    """Students, the server secret and the submissions, in one SQLite database (0600)."""

    def __init__(self, path: str | Path, lab: LabConfig) -> None:
        self.lab = lab
        if str(path) != ":memory:":
            _private_file(Path(path))
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', ?)", (secrets.token_bytes(32),)
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        self._secret = bytes(row[0])
        self._migrate()

    def _columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self._db.execute(f"PRAGMA table_info({table})")}

    def _migrate(self) -> None:
        """Bring a database of an older vmsim up to date: tokens hashed, per-item marks."""
        if "token" in self._columns("students"):  # plain-text tokens: hash them, drop them
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "CREATE TABLE students_hashed (name TEXT PRIMARY KEY, "
                "token_hash TEXT NOT NULL UNIQUE, joined_at TEXT NOT NULL)"
            )
            for name, token, joined_at in self._db.execute(
                "SELECT name, token, joined_at FROM students"
            ).fetchall():
                self._db.execute(
                    "INSERT INTO students_hashed VALUES (?, ?, ?)",
                    (name, self._token_hash(str(token)), joined_at),
                )
            self._db.execute("DROP TABLE students")
            self._db.execute("ALTER TABLE students_hashed RENAME TO students")
            self._db.execute("COMMIT")
            self._db.execute("VACUUM")  # the dropped table's pages held the plain tokens
        if "marks" not in self._columns("submissions"):
            self._db.execute("ALTER TABLE submissions ADD COLUMN marks TEXT NOT NULL DEFAULT '[]'")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _token_hash(self, token: str) -> str:
        # The "token" prefix keeps these apart from the seeds, HMACs of the same secret.
        return hmac.new(self._secret, b"token\0" + token.encode(), hashlib.sha256).hexdigest()

    def _names(self) -> list[str]:
        return [
            str(name) for (name,) in self._db.execute("SELECT name FROM students ORDER BY name")
        ]

    def _joined(self, name: str) -> str | None:
        """The stored name of the student *name* is (compared by name_key), or None."""
        key = name_key(name)
        return next((joined for joined in self._names() if name_key(joined) == key), None)

    def join(self, name: str, token: str, now: dt.datetime) -> tuple[str, str]:
        """Add *name* or let it rejoin with its *token*; returns (the name as stored, token).

        Raises:
            InvalidArgument: the name is empty, too long or not printable.
            PermissionDenied: the name has joined already and *token* is not its token; the
                lab has a roster without the name; or the name looks like a joined one.
        """
        try:
            shown = display_name(name)
        except ValueError as error:
            raise InvalidArgument("name", f"{name[:MAX_NAME]!r}", str(error)) from None
        if self.lab.roster:
            listed = self.lab.roster_name(shown)
            if listed is None:
                raise PermissionDenied(
                    f"{shown!r} is not on this lab's roster: join with your name as the "
                    "instructor listed it (letter case does not matter)"
                )
            shown = listed
        joined = self._joined(shown)
        if joined is not None:
            (stored_hash,) = self._db.execute(
                "SELECT token_hash FROM students WHERE name = ?", (joined,)
            ).fetchone()
            if token and hmac.compare_digest(self._token_hash(token), str(stored_hash)):
                return joined, token
            raise PermissionDenied(
                f"{joined!r} has joined already: rejoin with the token the first join returned "
                "(the instructor resets a lost one: vmsim lab reset-token NAME)"
            )
        if not self.lab.roster:
            look = skeleton(shown)
            for other in self._names():
                if skeleton(other) == look:
                    raise PermissionDenied(
                        f"{shown!r} looks like {other!r}, who has joined already: "
                        "choose a name that reads differently"
                    )
        issued = secrets.token_urlsafe(16)
        self._db.execute(
            "INSERT INTO students (name, token_hash, joined_at) VALUES (?, ?, ?)",
            (shown, self._token_hash(issued), now.isoformat()),
        )
        return shown, issued

    def reset_token(self, name: str) -> tuple[str, str]:
        """A new token for *name* (the old one stops working); returns (name as stored, token).

        Raises:
            InvalidArgument: no such student has joined.
        """
        joined = self._joined(name)
        if joined is None:
            raise InvalidArgument(
                "name",
                f"no student {name[:MAX_NAME]!r} has joined",
                "a name `vmsim lab results` lists",
            )
        issued = secrets.token_urlsafe(16)
        self._db.execute(
            "UPDATE students SET token_hash = ? WHERE name = ?", (self._token_hash(issued), joined)
        )
        return joined, issued

    def student(self, token: str) -> str | None:
        """The name that holds *token*, or None."""
        row = self._db.execute(
            "SELECT name FROM students WHERE token_hash = ?", (self._token_hash(token),)
        ).fetchone()
        return None if row is None else str(row[0])

    def seed(self, name: str, kind: str) -> int:
        """The seed of *name*'s questions of *kind*."""
        return student_seed(self._secret, name, kind)

    def questions_of(self, name: str, kind: str) -> list[Question]:
        """*name*'s questions of the lab exercise *kind* (InvalidArgument if the lab lacks it)."""
        entry = self.lab.exercise(kind)
        return questions(kind, self.seed(name, kind), entry.count)

    def attempts_used(self, name: str, kind: str) -> int:
        """Attempts *name* has made at *kind*."""
        (done,) = self._db.execute(
            "SELECT COUNT(*) FROM submissions WHERE name = ? AND kind = ?", (name, kind)
        ).fetchone()
        return int(done)

    def _score(self, entry: LabExercise, correct: int, total: int, late: bool) -> float:
        share = correct / total if total else 0.0
        penalty = self.lab.late_penalty if late and self.lab.late_penalty is not None else 0.0
        return entry.weight * share * (1 - penalty)

    def submit(
        self,
        name: str,
        kind: str,
        answers: Mapping[str, str],
        now: dt.datetime,
        dry_run: bool = False,
    ) -> SubmitOutcome:
        """Check and (unless *dry_run*) store one attempt.

        Raises:
            InvalidArgument: the lab has no such exercise, no answer, an answer too long, or
                an answer that names no item (nothing is stored, no attempt is used).
            LabClosed: after the student's deadline (or close), or every attempt is used.
        """
        entry = self.lab.exercise(kind)
        self.lab.check_open(name, now)
        if not answers:
            raise InvalidArgument(
                "answers", "the submission holds no answer", "item id -> answer, e.g. 1a: 0x1000"
            )
        too_long = sorted(item for item, answer in answers.items() if len(answer) > MAX_ANSWER)
        if too_long:
            raise InvalidArgument(
                "answers",
                f"the answer to {too_long[0][:16]} is too long",
                f"at most {MAX_ANSWER} characters",
            )
        done = self.attempts_used(name, kind)
        if done >= entry.attempts:
            raise LabClosed(f"no attempt left: {kind} allows {entry.attempts} submission(s)")
        result = check_answers(kind, self.seed(name, kind), entry.count, answers)
        late = self.lab.is_late(name, now)
        unanswered = tuple(item.id for item in result.items if not item.given.strip())
        if dry_run:
            return SubmitOutcome(result, done + 1, entry.attempts, 0.0, late, unanswered, True)
        score = self._score(entry, result.correct, result.total, late)
        self._db.execute(
            "INSERT INTO submissions (name, kind, attempt, correct, total, score, answers, "
            "submitted_at, marks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                kind,
                done + 1,
                result.correct,
                result.total,
                score,
                json.dumps(dict(answers), sort_keys=True),
                now.isoformat(),
                _marks_json(result),
            ),
        )
        return SubmitOutcome(result, done + 1, entry.attempts, score, late, unanswered)

    def grades(self) -> list[StudentGrade]:
        """Every student by name with the attempt that counts per exercise, as the lab file
        now says (weights, policy, deadlines, extensions and late penalty)."""
        attempts: dict[tuple[str, str], list[ExerciseGrade]] = {}
        counts = dict.fromkeys(self._names(), 0)
        weights = {entry.kind: entry for entry in self.lab.exercises}
        for name, kind, attempt, correct, total, marks, submitted_at in self._db.execute(
            "SELECT name, kind, attempt, correct, total, marks, submitted_at FROM submissions "
            "ORDER BY name, kind, attempt"
        ):
            counts[str(name)] = counts.get(str(name), 0) + 1
            entry = weights.get(str(kind))
            if entry is None:  # an exercise since removed from the lab file
                continue
            when = dt.datetime.fromisoformat(str(submitted_at))
            late = self.lab.is_late(str(name), when)
            attempts.setdefault((str(name), str(kind)), []).append(
                ExerciseGrade(
                    self._score(entry, int(correct), int(total), late),
                    int(attempt),
                    0,
                    when,
                    late,
                    tuple((str(item), bool(right)) for item, right in json.loads(str(marks))),
                )
            )
        board = {name: StudentGrade(name, {}, count) for name, count in counts.items()}
        for (name, kind), made in attempts.items():
            counted = (
                made[-1]
                if self.lab.policy is AttemptPolicy.LAST
                else max(made, key=lambda grade: (grade.score, -grade.attempt))
            )
            board[name].exercises[kind] = ExerciseGrade(
                counted.score,
                counted.attempt,
                len(made),
                counted.submitted_at,
                counted.late,
                counted.items,
            )
        return [board[name] for name in sorted(board)]

    def regrade(self) -> tuple[int, int]:
        """Check every stored answer again against the lab file's questions (after a count
        or a generator changed); returns (submissions checked, submissions whose marks changed).

        Answers to items the questions no longer have are left out.
        """
        checked = changed = 0
        rows = self._db.execute(
            "SELECT id, name, kind, correct, total, answers, marks FROM submissions"
        ).fetchall()
        kinds = {entry.kind for entry in self.lab.exercises}
        for row_id, name, kind, correct, total, answers, marks in rows:
            if kind not in kinds:
                continue
            asked = self.questions_of(str(name), str(kind))
            ids = {item.id for question in asked for item in question.items}
            given = {
                item: answer
                for item, answer in json.loads(str(answers)).items()
                if normalize_item_id(item) in ids
            }
            entry = self.lab.exercise(str(kind))
            result = check_answers(str(kind), self.seed(str(name), str(kind)), entry.count, given)
            checked += 1
            new_marks = _marks_json(result)
            if (result.correct, result.total, new_marks) != (correct, total, marks):
                changed += 1
                self._db.execute(
                    "UPDATE submissions SET correct = ?, total = ?, marks = ?, score = ? "
                    "WHERE id = ?",
                    (
                        result.correct,
                        result.total,
                        new_marks,
                        self._score(entry, result.correct, result.total, late=False),
                        row_id,
                    ),
                )
        return checked, changed


def _marks_json(result: CheckResult) -> str:
    return json.dumps([[item.id, item.correct] for item in result.items])
