"""Do the argparse front end (cli/fast.py) and typer's command line agree on the commands
declared once in cli/spec.py: the same options and defaults, the same values given to the
command for the same arguments, the same output; and does the front end leave to typer
everything it should (help, usage errors, odd spellings, options before the command)?
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from tests.usage_text import flat
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app, fast
from vmsim.cli.spec import FAST_COMMANDS, LAB_QUESTION, PS, REQUIRED, CommandSpec, Param

runner = CliRunner()


def _typer_command(spec: CommandSpec) -> Any:
    command = typer.main.get_command(app)
    for word in spec.path:
        command = command.commands[word]  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize("spec", list(FAST_COMMANDS.values()), ids=lambda s: " ".join(s.path))
def test_typer_declares_each_fast_command_with_the_specs_options_and_defaults(
    spec: CommandSpec,
) -> None:
    command = _typer_command(spec)
    declared = {param.name: param for param in command.params if param.name != "help"}
    assert list(declared) == [param.name for param in spec.params]
    parser = fast._parser(spec)
    read = {action.dest: action for action in parser._actions}
    assert set(read) == set(declared)
    for param in spec.params:
        theirs, ours = declared[param.name], read[param.name]
        if param.flags:
            assert isinstance(theirs, TyperOption)
            assert set(theirs.opts) == set(ours.option_strings) == set(param.flags)
            assert theirs.is_flag == (param.type is bool) == (ours.nargs == 0)
            assert theirs.envvar == param.envvar
            assert theirs.default == param.default
        else:
            assert isinstance(theirs, TyperArgument)
            assert theirs.required and param.default is REQUIRED
            assert ours.option_strings == [] and ours.required
        assert theirs.help == param.help


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The values each front end gives to ps and lab question (which then do nothing)."""
    calls: list[dict[str, Any]] = []

    def record(**values: Any) -> None:
        calls.append(values)

    monkeypatch.setattr("vmsim.cli.ps.ps", record)
    monkeypatch.setattr("vmsim.cli.lab_question.lab_question", record)
    monkeypatch.delenv("VMSIM_ADDR", raising=False)
    yield calls


SAME_VALUES = [
    ["ps"],
    ["ps", "--addr", "h:1", "--json", "-a"],
    ["ps", "--all", "--addr=h:2"],
    ["lab", "question", "translate"],
    ["lab", "question", "replace", "--seed", "7", "-n", "3", "--answers"],
    ["lab", "question", "-s", "4", "lazy", "-c", "--key", "--json"],
    ["lab", "question", "--count=2", "buddy", "--addr", "h:3", "-s+5"],
    ["lab", "question", "translate", "-cs", "9"],
    [
        "lab",
        "question",
        "translate",
        "--seed",
        "0",
    ],  # given, though falsy (a count of 0 is out of range)
    ["ps", "--addr", ""],
]


@pytest.mark.parametrize("arguments", SAME_VALUES, ids=" ".join)
@pytest.mark.parametrize("addr_variable", ["", "from-env:7"])
def test_both_front_ends_give_the_command_the_same_values(
    arguments: list[str],
    addr_variable: str,
    recorded: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if addr_variable:
        monkeypatch.setenv("VMSIM_ADDR", addr_variable)
    assert fast.run(arguments)
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    fast_values, typer_values = recorded
    assert fast_values == typer_values


DECLINED = [
    ["ps", "--help"],
    ["lab", "question", "--help"],
    ["lab", "question", "translate", "--seed", "x"],  # typer's error message
    ["lab", "question", "translate", "--seed", "0x10"],  # typer's reading (or refusal)
    ["lab", "question", "translate", "--ans"],  # click takes no abbreviations
    ["lab", "question"],  # KIND missing
    ["lab", "question", "a", "b"],
    ["ps", "-h"],
    ["ps", "--bogus"],
    ["ps", "--json=yes"],
    ["--tls-ca", "ca.pem", "ps"],  # an option of `vmsim` itself
    ["lab", "check", "replace"],
    ["free"],
    [],
]


@pytest.mark.parametrize("arguments", DECLINED, ids=" ".join)
def test_the_front_end_leaves_help_errors_and_other_commands_to_typer(
    arguments: list[str], recorded: list[dict[str, Any]]
) -> None:
    assert not fast.run(arguments)
    assert recorded == []


def test_a_variable_is_read_as_click_reads_it_or_left_to_typer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed = Param("seed", int, 0, "the seed", ("--seed",), envvar="VMSIM_TEST_SEED")
    spec = CommandSpec(("probe",), "A probe.", (seed,), LAB_QUESTION.load)
    monkeypatch.setenv("VMSIM_TEST_SEED", "12")
    assert fast.parse(spec, []) == {"seed": 12}
    assert fast.parse(spec, ["--seed", "3"]) == {"seed": 3}
    monkeypatch.setenv("VMSIM_TEST_SEED", "1_2")  # int() would take it: typer decides
    with pytest.raises(fast.Declined):
        fast.parse(spec, [])
    monkeypatch.setenv("VMSIM_TEST_SEED", "")  # as click: an empty variable is not set
    assert fast.parse(spec, []) == {"seed": 0}


def _both_outputs(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(exit code, stdout, stderr) of the front end, then of typer's command line."""
    capsys.readouterr()
    try:
        assert fast.run(arguments)
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    result = runner.invoke(app, arguments)
    return (code, out, err), (result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize(
    "arguments",
    [
        ["lab", "question", "translate", "--seed", "7", "--answers"],
        ["lab", "question", "replace", "-s", "3", "-n", "2", "--key"],
        ["lab", "question", "segment", "--json"],
        ["lab", "question", "nosuch"],  # the kernel's InvalidArgument, exit 1
        ["lab", "question", "translate", "-n", "99"],
    ],
    ids=" ".join,
)
def test_lab_question_prints_the_same_by_both_front_ends(
    arguments: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VMSIM_ADDR", raising=False)
    ours, theirs = _both_outputs(arguments, capsys)
    assert ours == theirs
    assert ours[1] or ours[2]


def test_ps_prints_the_same_by_both_front_ends(
    server_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with vmsim.connect(server_address, name="[bold]x:smile:") as process:
        process.write(process.mmap(vmsim.MiB), b"data")
        for options in ([], ["--json"], ["--all"]):
            ours, theirs = _both_outputs(["ps", "--addr", server_address, *options], capsys)
            assert ours == theirs
            assert "[bold]x:smile:" in ours[1]  # a name is printed as given, not as markup


@pytest.mark.slow
def test_no_server_is_reported_alike_with_the_address_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ours, theirs = _both_outputs(["ps", "--addr", "127.0.0.1:1"], capsys)
    assert ours == theirs
    assert ours[0] == 1 and "no server at 127.0.0.1:1" in ours[2]
    # and a typer command run after it in the same process names its own address
    assert (
        "no server at 127.0.0.1:2" in runner.invoke(app, ["free", "--addr", "127.0.0.1:2"]).stderr
    )


def test_the_vmsim_help_still_lists_both_commands() -> None:
    listed = runner.invoke(app, ["--help"]).output
    assert f"{PS.path[0]} " in listed and PS.help.split(" (")[0][:20] in listed
    lab = runner.invoke(app, ["lab", "--help"]).output
    assert "question" in lab and LAB_QUESTION.help[:30] in " ".join(lab.split())


@pytest.mark.subprocess
def test_the_console_script_ends_at_once_with_its_output_flushed_and_exit_handlers_run() -> None:
    """main() ends a fast command with os._exit (cli/fast.py end_process): no output lost."""
    arguments = ["lab", "question", "replace", "--seed", "5", "-n", "50", "--answers"]
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
        f"sys.argv = ['vmsim', *{arguments!r}]\n"
        "from vmsim.cli import main\n"
        "main()\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "handler ran\n"
    expected = runner.invoke(app, arguments).stdout
    assert len(expected) > 65536  # more than a pipe holds: all of it had to be flushed
    assert done.stdout == expected


@pytest.mark.subprocess
def test_an_unreadable_tls_file_in_the_environment_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """`vmsim ps` reads VMSIM_TLS_CA only when its channel opens: main() still turns the
    error into the one-line failure (it was a traceback, and exit 0). The typer commands
    check the file with the option itself (below)."""
    missing = tmp_path / "ca.pem"
    script = "import sys\nsys.argv = ['vmsim', 'ps']\nfrom vmsim.cli import main\nmain()\n"
    env = dict(os.environ, VMSIM_TLS_CA=str(missing), VMSIM_ADDR="127.0.0.1:1")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr == (
        f"vmsim: INVALID_ARGUMENT: cannot read the --tls-ca / VMSIM_TLS_CA file {missing}: "
        "No such file or directory\n"
    )


def test_a_missing_tls_file_is_a_usage_error_for_the_typer_commands(tmp_path: Path) -> None:
    missing = str(tmp_path / "ca.pem")
    for arguments, env in (
        (["--tls-ca", missing, "ps"], {"COLUMNS": "300"}),
        (["free", "--addr", "127.0.0.1:1"], {"VMSIM_TLS_CA": missing, "COLUMNS": "300"}),
    ):
        result = runner.invoke(app, arguments, env=env)
        said = flat(result.output)
        assert (
            result.exit_code == 2
            and f"'--tls-ca' (env var: 'VMSIM_TLS_CA'): '{missing}' is not a readable file" in said
        ), said
