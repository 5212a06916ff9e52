"""Every command of every lab in docs/labs runs, in order, and every auto-check passes.

Blocks marked `sh lab` run line by line: `vmsim ...` in this process through the CLI
(optionally `> FILE`, or as `NAME=$(vmsim ...)`, which sets NAME for the lines after it),
anything else through bash. Blocks marked `python lab` run in one namespace per lab. A
page's `<!-- lab-server [NAME]: FLAGS -->` comments start servers on free loopback ports:
VMSIM_ADDR is the first, VMSIM_ADDR_<NAME> each named one; a page without one runs with no
server at all. The admin token reaches the commands as a reader's would: through the file
VMSIM_ADMIN_TOKEN_FILE names.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import ADMIN_TOKEN, StartServer
from typer.testing import CliRunner

from vmsim.cli import app
from vmsim_server.settings import parse_settings

LABS = sorted((Path(__file__).resolve().parents[2] / "docs" / "labs").glob("[0-9]*.md"))
BLOCK = re.compile(r"^```(sh|python) lab\n(.*?)^```", re.MULTILINE | re.DOTALL)
SERVER = re.compile(r"<!-- lab-server(?: (\w+))?: (.*?) -->")
ASSIGNMENT = re.compile(r"^(\w+)=\$\((vmsim .*)\)$")

# What a step must show, not only run: (lab, the command line, a text its output holds).
SHOWS = [
    ("04-kernel-space", "vmsim kernel vmallocinfo", "pages=100 vmalloc"),
    ("05-contention", 'vmsim ps --all --addr "$VMSIM_ADDR_SLEEP"', "contend"),
    ("06-copy-on-write", "vmsim ps", "cow-parent"),
    ("06-copy-on-write", "vmsim stat vmstat", "pgreuse 512"),
    ("07-page-cache", "vmsim files", " data"),
    ("07-page-cache", "vmsim stat meminfo", "Active(file):"),
]


def test_there_are_seven_labs_each_with_goals_steps_questions_and_an_auto_check() -> None:
    assert len(LABS) == 7
    for lab in LABS:
        text = lab.read_text()
        for heading in ("**Goals.**", "## Steps", "## Questions", "## Auto-check"):
            assert heading in text, (lab.name, heading)
        assert "python lab" in text and "sh lab" in text, lab.name


def run_shell_line(line: str, cwd: Path, env: dict[str, str]) -> str:
    """Run one line; returns what a `vmsim` command printed."""
    assignment = ASSIGNMENT.match(line.strip())
    if assignment:
        name, command = assignment.groups()
        value = run_shell_line(command, cwd, env).strip()
        env[name] = os.environ[name] = value
        return value
    words = shlex.split(os.path.expandvars(line), comments=True)
    if not words:
        return ""
    if words[0] != "vmsim":
        completed = subprocess.run(
            ["bash", "-c", line], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True
        )
        assert completed.returncode == 0, (line, completed.stderr)
        return ""
    target = None
    if len(words) > 2 and words[-2] == ">":
        target, words = cwd / words[-1], words[:-2]
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, words[1:], env=env, catch_exceptions=False)
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, (line, result.output)
    if target is not None:
        target.write_text(result.stdout)
    return result.stdout


@pytest.mark.subprocess
@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_command_of_the_lab_runs(
    lab: Path, start_server: StartServer, tmp_path: Path
) -> None:
    text = lab.read_text()
    token_file = tmp_path / "admin.token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    token_file.chmod(0o600)
    env = {"VMSIM_ADMIN_TOKEN_FILE": str(token_file), "VMSIM_ADMIN_TOKEN": "", "VMSIM_ADDR": ""}
    for number, (name, flags) in enumerate(SERVER.findall(text)):
        settings = parse_settings(shlex.split(flags))
        server = start_server(
            ram_bytes=settings.ram_bytes,
            swap_bytes=settings.swap_bytes,
            lock_kinds=settings.lock_kinds,
            swap_path=str(tmp_path / f"swap-{number}") if settings.swap_bytes else None,
        )
        env[f"VMSIM_ADDR_{name.upper()}" if name else "VMSIM_ADDR"] = server.address
        env["VMSIM_ADDR"] = env["VMSIM_ADDR"] or server.address
    blocks = BLOCK.findall(text)
    assert blocks, lab.name
    namespace: dict[str, Any] = {"__name__": f"lab_{lab.stem}"}
    shown: dict[str, str] = {}
    saved = dict(os.environ)  # the lab's variables, SESSION=$(...) ones too, end with it
    os.environ.update(env)
    try:
        for language, body in blocks:
            if language == "python":
                exec(compile(body, f"{lab.name}", "exec"), namespace)
            else:
                for line in body.splitlines():
                    shown[line] = run_shell_line(line, tmp_path, env)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for stem, line, output in SHOWS:
        if stem == lab.stem:
            assert output in shown[line], (line, shown[line])


def test_lab_3_needs_no_server() -> None:
    (page,) = [lab for lab in LABS if lab.stem.startswith("03")]
    assert not SERVER.findall(page.read_text())
    assert "127.0.0.1:50051" not in page.read_text()


def test_no_lab_text_puts_the_admin_token_on_a_command_line() -> None:
    pages = [*LABS, LABS[0].parent / "README.md", LABS[0].parent / "lab.toml"]
    for page in pages:
        assert "--admin-token " not in page.read_text().replace("--admin-token-file", ""), page
