"""`vmsim lab`: seeded practice questions (offline by default) and graded labs on a server.

vmsim lab list
vmsim lab question replace --seed 7 -n 2 [--answers]
vmsim lab check replace --seed 7 -n 2 answers.txt        # or piped, or typed at prompts
vmsim lab join ada --addr HOST:PORT                        # graded: prints the token
vmsim lab fetch translate --token T --addr HOST:PORT
vmsim lab submit translate answers.txt --dry-run --token T --addr HOST:PORT
vmsim lab submit translate answers.txt --token T --addr HOST:PORT
vmsim --admin-token-file F lab results [--csv | --json] --addr HOST:PORT     # the instructor's
vmsim --admin-token-file F lab export [--json] [-o FILE] --addr HOST:PORT
vmsim --admin-token-file F lab regrade --addr HOST:PORT
vmsim --admin-token-file F lab reset-token NAME --addr HOST:PORT
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from .cli.base import AdminToken, JsonFlag, OptionalAddress, parameter_info, typer_command
from .cli.lab_question import practice, print_questions
from .cli.spec import COUNT, KIND, LAB_QUESTION, SEED
from .cli_common import emit_json, guarded
from .constants import DEFAULT_ADDRESS
from .lab import (
    CheckResult,
    Exercises,
    Lab,
    LabResults,
    Question,
    Scoreboard,
    formula_safe,
    parse_answers,
)
from .practice import question_record

__all__ = ["lab_app"]

T = TypeVar("T")

lab_app = typer.Typer(
    help="Lab exercises: seeded questions with answers (offline by default) and graded labs.",
    no_args_is_help=True,
)

Seed = Annotated[int, parameter_info(SEED)]
Count = Annotated[int, parameter_info(COUNT)]
Kind = Annotated[str, parameter_info(KIND)]
ServerAddress = Annotated[str, typer.Option("--addr", envvar="VMSIM_ADDR", help="server host:port")]
Token = Annotated[
    str,
    typer.Option("--token", envvar="VMSIM_LAB_TOKEN", help="the token `vmsim lab join` printed"),
]
AnswersFile = Annotated[
    str | None,
    typer.Argument(help="answers, one 'ID: answer' per line; '-' for stdin; omit to type them"),
]


def _read_answers(source: str | None, questions: list[Question] | None) -> dict[str, str]:
    """From a file, stdin, or typed at one prompt per item (needs the questions)."""
    if source is None and not sys.stdin.isatty():
        source = "-"
    if source is not None:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
            return parse_answers(text)
        except OSError as error:
            raise typer.BadParameter(f"cannot read {source}: {error.strerror}") from None
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    assert questions is not None
    answers = {}
    for question in questions:
        print(question.text)
        for item in question.items:
            answers[item.id] = typer.prompt(
                f"{item.id}) {item.prompt}", default="", show_default=False
            )
    return answers


def _print_check(result: CheckResult) -> None:
    for item in result.items:
        mark = "right" if item.correct else "WRONG"
        expected = "" if item.correct or not item.expected else f"   (expected: {item.expected})"
        print(f"{item.id:>4}) {mark}  {item.given or '(no answer)'}{expected}")
    print(f"{result.correct} of {result.total} right")
    if result.working:
        print("\nWorking:")
        for working in result.working:
            print(working)


@lab_app.command("list")
def lab_list(addr: OptionalAddress = None, as_json: JsonFlag = False) -> None:
    """The exercise kinds."""

    kinds = practice(addr, lambda exercises: exercises.kinds())
    if as_json:
        emit_json(kinds)
        return
    for entry in kinds:
        print(f"{entry.kind:<10} {entry.title}\n{'':<10} answers: {entry.answer_format}")


lab_app.command("question")(typer_command(LAB_QUESTION))


@lab_app.command("check")
def lab_check(
    kind: Kind,
    source: AnswersFile = None,
    seed: Seed = 0,
    count: Count = 1,
    addr: OptionalAddress = None,
    as_json: JsonFlag = False,
) -> None:
    """Check answers to `vmsim lab question KIND --seed S -n N`; exit 1 unless all are right."""

    def check(exercises: Exercises) -> CheckResult:
        shown = (
            None
            if source is not None or not sys.stdin.isatty()
            else exercises.questions(kind, seed, count)
        )
        return exercises.check(kind, seed, count, _read_answers(source, shown))

    result = practice(addr, check)
    if as_json:
        emit_json(result)
    else:
        _print_check(result)
    if result.correct != result.total:
        raise typer.Exit(1)


@lab_app.command("join")
def lab_join(
    name: Annotated[str, typer.Argument(help="your name in the lab")],
    token: Annotated[str, typer.Option(help="rejoin with the token of your first join")] = "",
    addr: ServerAddress = DEFAULT_ADDRESS,
) -> None:
    """Join the server's graded lab; prints your token (keep it: export VMSIM_LAB_TOKEN=...)."""
    with guarded(lambda: Lab(addr, name, token)) as lab:
        print(lab.token)
        print(f"lab: {lab.title}", file=sys.stderr)
        print(f"  {lab.terms.describe()}", file=sys.stderr)
        for kind, (count, weight, attempts) in lab.exercises.items():
            print(
                f"  {kind}: {count} question(s), weight {weight:g}, {attempts} attempt(s)",
                file=sys.stderr,
            )


def _student(addr: str, token: str) -> Lab:
    if not token:
        raise typer.BadParameter(
            "needs --token (or VMSIM_LAB_TOKEN): run `vmsim lab join NAME` first"
        )
    return guarded(lambda: Lab(addr, token=token))


@lab_app.command("fetch")
def lab_fetch(kind: Kind, token: Token = "", addr: ServerAddress = DEFAULT_ADDRESS) -> None:
    """Your questions of one exercise of the graded lab, with your deadline and attempts."""
    with _student(addr, token) as lab:
        questions = guarded(lambda: lab.questions(kind))
        print(
            f"{lab.terms.describe()}; {kind}: attempt {lab.attempts_used} of "
            f"{lab.attempts_allowed} used\n"
        )
        print_questions([question_record(q) for q in questions], with_answers=False)


@lab_app.command("submit")
def lab_submit(
    kind: Kind,
    source: AnswersFile = None,
    token: Token = "",
    addr: ServerAddress = DEFAULT_ADDRESS,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="only check the answers' form (item ids, attempts left, deadline): "
            "no attempt is used, nothing is graded",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="submit a partial answer file without asking"),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Submit answers to one exercise of the graded lab; the server checks and stores them.

    Answers that leave items out are confirmed first (at a prompt, or with --yes): an
    attempt spent on them cannot be taken back.
    """
    with _student(addr, token) as lab:
        from_terminal = source is None and sys.stdin.isatty()
        shown = guarded(lambda: lab.questions(kind)) if from_terminal else None
        answers = _read_answers(source, shown)
        checked = guarded(lambda: lab.submit(kind, answers, dry_run=True))
        if dry_run:
            if as_json:
                emit_json(checked)
                return
            _print_dry_run(kind, checked.attempt, checked.attempts, checked.unanswered)
            print(checked.terms.describe() + ("; this one would be LATE" if checked.late else ""))
            return
        if checked.unanswered and not yes:
            _confirm_partial(
                checked.unanswered, checked.result.total, checked.attempt, checked.attempts
            )
        submission = guarded(lambda: lab.submit(kind, answers))
    if as_json:
        emit_json(submission)
        return
    _print_check(submission.result)
    late = ", LATE" if submission.late else ""
    print(
        f"attempt {submission.attempt} of {submission.attempts}{late}, "
        f"score {submission.score:g}; {submission.terms.describe()}"
    )


def _print_dry_run(kind: str, attempt: int, attempts: int, unanswered: tuple[str, ...]) -> None:
    left = f"unanswered: {', '.join(unanswered)}" if unanswered else "every item answered"
    print(f"dry run: {kind} would be attempt {attempt} of {attempts}; {left}")


def _confirm_partial(unanswered: tuple[str, ...], total: int, attempt: int, attempts: int) -> None:
    question = (
        f"{len(unanswered)} of {total} item(s) unanswered ({', '.join(unanswered)}): they count "
        f"as wrong. Use attempt {attempt} of {attempts} anyway?"
    )
    if not sys.stdin.isatty():  # no one to ask: the answers came on stdin, or a script runs
        typer.echo(f"vmsim: {question} Not submitted: pass --yes to submit it.", err=True)
        raise typer.Exit(1)
    if not typer.confirm(question, default=False, err=True):
        typer.echo("not submitted", err=True)
        raise typer.Exit(1)


def _board(addr: str, admin_token: str) -> Scoreboard:
    return guarded(lambda: Scoreboard(addr, admin_token))


def _results(addr: str, admin_token: str) -> LabResults:
    with _board(addr, admin_token) as board:
        results: LabResults = guarded(board.results)
    return results


@lab_app.command("results")
def lab_results(
    addr: ServerAddress = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The scoreboard of the graded lab (needs the admin token); `-`: never submitted."""
    board = _results(addr, admin_token)
    if as_json:
        emit_json(dataclasses.asdict(board))
        return
    if as_csv:
        csv.writer(sys.stdout).writerows(_safe(board.rows(missing="")))
        return
    rows = board.rows()
    print(f"{board.title} ({board.policy} attempt counts)")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _safe(rows: list[list[str]]) -> list[list[str]]:
    return [[formula_safe(cell) for cell in row] for row in rows]


@lab_app.command("export")
def lab_export(
    addr: ServerAddress = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    as_json: JsonFlag = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
    ] = None,
) -> None:
    """The gradebook (needs the admin token): per exercise the counted attempt's score,
    attempts, submission time, late flag and per-item marks; total and percent. CSV cells
    that a spreadsheet would run as a formula are quoted."""
    board = _results(addr, admin_token)
    stream = io.StringIO()
    if as_json:
        json.dump(dataclasses.asdict(board), stream, indent=2)
        stream.write("\n")
    else:
        csv.writer(stream).writerows(board.export_rows())
    if output is None:
        sys.stdout.write(stream.getvalue())
    else:
        output.write_text(stream.getvalue())


@lab_app.command("regrade")
def lab_regrade(addr: ServerAddress = DEFAULT_ADDRESS, admin_token: AdminToken = "") -> None:
    """Check every stored answer again against the lab file's questions (needs the admin
    token). Weights, policy and deadlines apply without it: scores are computed when read."""
    with _board(addr, admin_token) as board:
        checked, changed = guarded(board.regrade)
    print(f"regraded {checked} submission(s): {changed} changed")


@lab_app.command("reset-token")
def lab_reset_token(
    name: Annotated[str, typer.Argument(help="the student's name (letter case does not matter)")],
    addr: ServerAddress = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
) -> None:
    """A new token for a student who lost theirs (needs the admin token); the old one stops
    working. Prints the token: hand it to the student only."""
    with _board(addr, admin_token) as board:
        stored, token = guarded(lambda: board.reset_token(name))
    print(token)
    print(f"new token for {stored!r}: the old one no longer works", file=sys.stderr)
