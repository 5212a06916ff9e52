"""`vmsim lab` and `vmsim replay` from the command line: offline by default, or on a server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.service.conftest import ADMIN_TOKEN, StartServer, read_until_closed
from typer.testing import CliRunner

from vmsim.cli import app

runner = CliRunner()


def test_replay_works_offline_and_prints_every_step_with_the_clock_hand(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("1 2 3 1 4\n")
    result = runner.invoke(
        app, ["replay", str(trace), "--policy", "clock", "--steps"], env={"VMSIM_ADDR": ""}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "policy clock, 3 frames, 5 references"
    assert "access      1  hit" in lines[4] and "[>1* 2* 3*]" in lines[4]
    assert "miss evict 1" in lines[5] and "[4* >2  3 ]" in lines[5]
    assert "hits 1  misses 4" in result.output


@pytest.mark.slow
def test_replay_offline_and_on_a_server_agree(server_address: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1\n")
    outputs = [
        json.loads(
            runner.invoke(
                app,
                ["replay", str(trace), "--policy", policy, "--json", *where],
                env={"VMSIM_ADDR": ""},
            ).output
        )
        for policy in ("unopt", "mru")
        for where in ([], ["--addr", server_address])
    ]
    assert outputs[0] == outputs[1] and outputs[2] == outputs[3]
    assert outputs[0]["misses"] == 20 and outputs[2]["misses"] == 16


def test_lab_question_is_reproducible_and_answers_add_the_working() -> None:
    plain = runner.invoke(app, ["lab", "question", "translate", "--seed", "9", "-n", "2"])
    again = runner.invoke(app, ["lab", "question", "translate", "--seed", "9", "-n", "2"])
    answered = runner.invoke(
        app, ["lab", "question", "translate", "--seed", "9", "-n", "2", "--answers"]
    )
    assert plain.exit_code == again.exit_code == answered.exit_code == 0
    assert plain.output == again.output and "CR3 = 0x" in plain.output
    assert "Working:" not in plain.output and "Working:" in answered.output
    assert answered.output.startswith(plain.output.split("\n\n")[0])


def test_lab_check_marks_items_and_shows_the_working_after_the_attempt(tmp_path: Path) -> None:
    key = runner.invoke(app, ["lab", "question", "replace", "--seed", "4", "--key"]).output
    answers = dict(line.split(": ", 1) for line in key.splitlines())
    first = next(iter(answers))
    right = runner.invoke(app, ["lab", "check", "replace", "--seed", "4"], input=key)
    assert right.exit_code == 0 and f"{len(answers)} of {len(answers)} right" in right.output
    wrong_file = tmp_path / "answers.txt"
    wrong_file.write_text(f"{first}: miss 99\n")
    wrong = runner.invoke(app, ["lab", "check", "replace", "--seed", "4", str(wrong_file)])
    assert wrong.exit_code == 1
    assert f"{first}) WRONG  miss 99   (expected: {answers[first]})" in wrong.output
    assert "Working:" in wrong.output and "(no answer)" in wrong.output


def test_lab_errors_are_one_line(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["lab", "question", "paging"])
    assert unknown.exit_code == 1 and "no exercise 'paging'" in unknown.output
    bad = tmp_path / "bad.txt"
    bad.write_text("1a\n")
    malformed = runner.invoke(app, ["lab", "check", "replace", str(bad)])
    assert malformed.exit_code == 2 and "is not 'ID: answer'" in malformed.output
    bad.write_text("9z: hit\n")
    no_such_item = runner.invoke(app, ["lab", "check", "replace", str(bad)])
    assert no_such_item.exit_code == 1 and "no item 9z" in no_such_item.output


@pytest.mark.slow
def test_graded_lab_from_the_command_line(start_server: StartServer, tmp_path: Path) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text('title = "CLI lab"\n[[exercise]]\nkind = "kmap"\n')
    server = start_server(lab_path=str(lab_file))
    where = ["--addr", server.address]
    joined = runner.invoke(app, ["lab", "join", "ada", *where])
    assert joined.exit_code == 0, joined.output
    token = joined.stdout.splitlines()[0]
    fetched = runner.invoke(app, ["lab", "fetch", "kmap", "--token", token, *where])
    assert fetched.exit_code == 0 and "kmap question 1" in fetched.output
    assert server.running is not None and server.running.lab is not None
    (question,) = server.running.lab.questions_of("ada", "kmap")
    answers = tmp_path / "answers.txt"
    answers.write_text("".join(f"{item.id}: {item.answer}\n" for item in question.items))
    submitted = runner.invoke(
        app, ["lab", "submit", "kmap", str(answers), "--token", token, *where]
    )
    assert submitted.exit_code == 0 and "attempt 1 of 1, score 1" in submitted.output
    board = runner.invoke(app, ["lab", "results", "--csv", "--admin-token", ADMIN_TOKEN, *where])
    assert list(csv.reader(io.StringIO(board.output))) == [
        ["name", "kmap", "total", "possible", "percent", "submissions"],
        ["ada", "1", "1", "1", "100.0", "1"],
    ]
    as_json = json.loads(
        runner.invoke(
            app, ["lab", "results", "--json", "--admin-token", ADMIN_TOKEN, *where]
        ).output
    )
    assert as_json["students"][0]["name"] == "ada"
    denied = runner.invoke(app, ["lab", "results", "--admin-token", "nope", *where])
    assert denied.exit_code == 1 and "PERMISSION_DENIED" in denied.output


@pytest.mark.subprocess
def test_a_student_can_type_answers_at_prompts(tmp_path: Path) -> None:
    """On a terminal `vmsim lab check` shows the questions and asks for each item in turn."""
    import os
    import pty
    import subprocess
    import sys

    key = runner.invoke(app, ["lab", "question", "replace", "--seed", "4", "--key"]).output
    answers = [line.split(": ", 1)[1] for line in key.splitlines()]
    controller, terminal = pty.openpty()
    root = Path(__file__).resolve().parents[2]
    check = subprocess.Popen(
        [sys.executable, "-m", "vmsim", "lab", "check", "replace", "--seed", "4"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=dict(os.environ, PYTHONPATH=f"{root / 'server'}:{root / 'client'}", VMSIM_ADDR=""),
    )
    os.close(terminal)
    os.write(controller, "".join(f"{answer}\n" for answer in answers).encode())
    output = read_until_closed(controller)
    assert check.wait(60) == 0, output.decode()
    text = output.decode()
    assert "1a) access" in text and f"{len(answers)} of {len(answers)} right" in text
