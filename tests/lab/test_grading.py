"""Grading an instructor can trust: the attempt policy, scores computed from stored marks,
regrades, deadlines with late penalties and extensions, names, rosters and a private
database (vmsim_lab.grading, no server)."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import stat
import tomllib
from pathlib import Path

import pytest

from vmsim_kernel import InvalidArgument, PermissionDenied
from vmsim_lab.grading import LabClosed, LabConfig, LabStore

BEFORE = dt.datetime(2030, 6, 1, 11, 0, tzinfo=dt.UTC)
DEADLINE = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
AFTER = dt.datetime(2030, 6, 2, 12, 0, tzinfo=dt.UTC)


def lab(toml: str) -> LabConfig:
    return LabConfig.from_mapping(tomllib.loads(toml))


def key_of(store: LabStore, name: str, kind: str) -> dict[str, str]:
    return {item.id: item.answer for q in store.questions_of(name, kind) for item in q.items}


KMAP = '[[exercise]]\nkind = "kmap"\nweight = 2.0\nattempts = 3\n'


def store_joined_by_ada(database: Path) -> LabStore:
    """The KMAP lab's store in *database*, the student ada joined before the deadline."""
    store = LabStore(database, lab(KMAP))
    store.join("ada", "", BEFORE)
    return store


@pytest.mark.slow
def test_the_best_attempt_counts_by_default_and_the_last_when_the_lab_says_so(
    tmp_path: Path,
) -> None:
    database = tmp_path / "lab.sqlite3"
    store = store_joined_by_ada(database)
    right = key_of(store, "ada", "kmap")
    first = next(iter(right))
    store.submit("ada", "kmap", {first: right[first]}, BEFORE)  # 1 of 6 right
    store.submit("ada", "kmap", {first: "0x1"}, BEFORE)  # 0 right
    (best,) = store.grades()
    assert best.exercises["kmap"].score == pytest.approx(2 / 6)
    assert best.exercises["kmap"].attempt == 1 and best.exercises["kmap"].attempts_used == 2
    store.close()
    last = LabStore(database, lab('policy = "last"\n' + KMAP))
    (line,) = last.grades()
    assert line.exercises["kmap"].score == 0 and line.exercises["kmap"].attempt == 2


def test_a_weight_change_regrades_every_stored_attempt(tmp_path: Path) -> None:
    database = tmp_path / "lab.sqlite3"
    store = store_joined_by_ada(database)
    store.submit("ada", "kmap", key_of(store, "ada", "kmap"), BEFORE)
    assert store.grades()[0].total == pytest.approx(2.0)
    store.close()
    heavier = LabStore(database, lab(KMAP.replace("2.0", "4.0")))
    assert heavier.grades()[0].total == pytest.approx(4.0)


@pytest.mark.slow
def test_regrade_checks_the_stored_answers_again_when_the_questions_change(
    tmp_path: Path,
) -> None:
    database = tmp_path / "lab.sqlite3"
    store = store_joined_by_ada(database)
    store.submit("ada", "kmap", key_of(store, "ada", "kmap"), BEFORE)
    store.close()
    two = LabStore(database, lab(KMAP + "count = 2\n"))
    before = two.grades()[0].exercises["kmap"]
    assert before.score == pytest.approx(2.0)  # marks of one question until the regrade
    assert two.regrade() == (1, 1)
    after = two.grades()[0].exercises["kmap"]
    assert after.score == pytest.approx(1.0)  # 6 of 12 items answered
    assert [item for item, right in after.items if right] == [f"1{c}" for c in "abcdef"]
    assert two.regrade() == (1, 0)


@pytest.mark.slow
def test_late_attempts_lose_the_penalty_and_extensions_move_the_deadline(tmp_path: Path) -> None:
    config = lab(
        "deadline = 2030-06-01T12:00:00Z\nlate_penalty = 0.25\nclose = 2030-06-03T00:00:00Z\n"
        "[extensions]\nBOB = 2030-06-05T00:00:00Z\n" + KMAP
    )
    store = LabStore(tmp_path / "lab.sqlite3", config)
    for name in ("ada", "bob"):
        store.join(name, "", BEFORE)
        outcome = store.submit(name, "kmap", key_of(store, name, "kmap"), AFTER)
        assert outcome.late is (name == "ada")
    ada, bob = store.grades()
    assert ada.exercises["kmap"].late and ada.total == pytest.approx(2.0 * 0.75)
    assert not bob.exercises["kmap"].late and bob.total == pytest.approx(2.0)
    later = dt.datetime(2030, 6, 4, tzinfo=dt.UTC)
    with pytest.raises(LabClosed, match="closed at 2030-06-03"):
        store.submit("ada", "kmap", {"1a": "1"}, later)
    assert store.submit("bob", "kmap", {"1a": "1"}, later).attempt == 2  # bob's extension


def test_without_a_late_penalty_late_attempts_are_refused() -> None:
    config = lab("deadline = 2030-06-01T12:00:00Z\n" + KMAP)
    assert config.close_of("ada") == DEADLINE
    with pytest.raises(LabClosed, match="closed at 2030-06-01"):
        config.check_open("ada", AFTER)


def test_a_dry_run_checks_the_form_and_uses_no_attempt(tmp_path: Path) -> None:
    store = store_joined_by_ada(tmp_path / "lab.sqlite3")
    checked = store.submit("ada", "kmap", {"1a)": "0x1"}, BEFORE, dry_run=True)
    assert checked.dry_run and checked.attempt == 1
    assert checked.unanswered == ("1b", "1c", "1d", "1e", "1f")
    with pytest.raises(InvalidArgument, match="no item 9z"):
        store.submit("ada", "kmap", {"9z": "1"}, BEFORE, dry_run=True)
    assert store.attempts_used("ada", "kmap") == 0 and store.grades()[0].submissions == 0


def test_names_are_one_student_whatever_their_case_or_width(tmp_path: Path) -> None:
    store = LabStore(tmp_path / "lab.sqlite3", lab(KMAP))
    name, token = store.join("Ada", "", BEFORE)
    assert name == "Ada"
    for same in ("ada", "ADA", "ＡＤＡ"):
        with pytest.raises(PermissionDenied, match="'Ada' has joined already"):
            store.join(same, "", BEFORE)
        assert store.join(same, token, BEFORE) == ("Ada", token)


@pytest.mark.parametrize(
    "look_alike", ["\u0430lice", "\u0391lice", "a1ice", "alic\u0435", "ALICE\u200b"]
)
def test_look_alikes_of_a_joined_name_are_refused(tmp_path: Path, look_alike: str) -> None:
    store = LabStore(tmp_path / "lab.sqlite3", lab(KMAP))
    store.join("alice", "", BEFORE)
    with pytest.raises((PermissionDenied, InvalidArgument)):
        store.join(look_alike, "", BEFORE)
    assert [line.name for line in store.grades()] == ["alice"]


def test_a_roster_admits_its_names_only_and_a_lost_token_is_reset(tmp_path: Path) -> None:
    store = LabStore(tmp_path / "lab.sqlite3", lab('roster = ["Ada", "bob"]\n' + KMAP))
    with pytest.raises(PermissionDenied, match="not on this lab's roster"):
        store.join("eve", "", BEFORE)
    name, old = store.join("ADA", "", BEFORE)
    assert name == "Ada" and store.student(old) == "Ada"
    stored, renewed = store.reset_token("ada")
    assert stored == "Ada" and renewed != old
    assert store.student(old) is None and store.student(renewed) == "Ada"
    with pytest.raises(InvalidArgument, match="no student 'bob' has joined"):
        store.reset_token("bob")


def test_the_database_is_private_and_holds_no_token(tmp_path: Path) -> None:
    database = tmp_path / "lab.sqlite3"
    store = LabStore(database, lab(KMAP))
    _, token = store.join("ada", "", BEFORE)
    store.close()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert token.encode() not in database.read_bytes()


def test_a_database_others_can_read_is_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "lab.sqlite3"
    LabStore(database, lab(KMAP)).close()
    database.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="vmsim_lab.grading"):
        LabStore(database, lab(KMAP)).close()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert "mode 0644, readable by others: made 0600" in caplog.text


def test_a_database_of_an_older_vmsim_is_migrated_its_tokens_hashed(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    old = sqlite3.connect(database)
    old.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE students (
            name TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, joined_at TEXT NOT NULL);
        CREATE TABLE submissions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL REFERENCES students(name),
            kind TEXT NOT NULL, attempt INTEGER NOT NULL, correct INTEGER NOT NULL,
            total INTEGER NOT NULL, score REAL NOT NULL, answers TEXT NOT NULL,
            submitted_at TEXT NOT NULL, UNIQUE (name, kind, attempt));
        INSERT INTO meta VALUES ('secret', x'00112233445566778899aabbccddeeff');
        INSERT INTO students VALUES ('ada', 'plain-old-token', '2030-01-01T00:00:00+00:00');
        INSERT INTO submissions (name, kind, attempt, correct, total, score, answers,
            submitted_at) VALUES ('ada', 'kmap', 1, 3, 6, 1.0, '{}', '2030-01-01T00:00:00+00:00');
        """
    )
    old.commit()
    old.close()
    store = LabStore(database, lab(KMAP))
    assert store.student("plain-old-token") == "ada"
    (line,) = store.grades()
    assert line.total == pytest.approx(1.0) and line.exercises["kmap"].items == ()
    store.close()
    assert b"plain-old-token" not in database.read_bytes()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('policy = "first"\n' + KMAP, "policy 'first' must be 'best' or 'last'"),
        ("late_penalty = 1.5\n" + KMAP, "late_penalty 1.5 must be a number 0..1"),
        ('roster = ["ada", "ADA"]\n' + KMAP, "listed twice"),
        ('[extensions]\nada = "monday"\n' + KMAP, "extension of 'ada' must be a TOML date-time"),
    ],
)
def test_bad_grading_rules_say_what_is_wrong(toml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lab(toml)
