"""The command-line round trip every exercise kind's tests make: the key, then the check."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vmsim.cli import app
from vmsim_lab import Question, questions

__all__ = ["checked_key"]


def checked_key(kind: str, seed: int, answers: Path) -> Question:
    """`vmsim lab question KIND --seed SEED --key` prints one `id: answer` line per item of the
    question, and `vmsim lab check` of that key, written to *answers*, takes every item as
    right. Returns the question."""
    runner = CliRunner()
    key = runner.invoke(app, ["lab", "question", kind, "--seed", str(seed), "--key"])
    assert key.exit_code == 0, key.output
    (question,) = questions(kind, seed, 1)
    assert key.stdout.splitlines() == [f"{item.id}: {item.answer}" for item in question.items]
    answers.write_text(key.stdout)
    checked = runner.invoke(app, ["lab", "check", kind, "--seed", str(seed), str(answers)])
    assert checked.exit_code == 0 and f"{len(question.items)} of" in checked.stdout
    return question
