"""Every command of every lab in docs/labs runs, in order, and every auto-check passes.

Blocks marked `sh lab` run line by line: `vmsim ...` in this process through the CLI
(optionally `> FILE`), anything else through bash. Blocks marked `python lab` run in one
namespace per lab. A page's `<!-- lab-server [NAME]: FLAGS -->` comments start servers on
free loopback ports: VMSIM_ADDR is the first, VMSIM_ADDR_<NAME> each named one.
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


def test_there_are_five_labs_each_with_goals_steps_questions_and_an_auto_check() -> None:
    assert len(LABS) == 5
    for lab in LABS:
        text = lab.read_text()
        for heading in ("**Goals.**", "## Steps", "## Questions", "## Auto-check"):
            assert heading in text, (lab.name, heading)
        assert "python lab" in text and "sh lab" in text, lab.name


def run_shell_line(line: str, cwd: Path, env: dict[str, str]) -> None:
    words = shlex.split(os.path.expandvars(line), comments=True)
    if not words:
        return
    if words[0] != "vmsim":
        completed = subprocess.run(
            ["bash", "-c", line], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True
        )
        assert completed.returncode == 0, (line, completed.stderr)
        return
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


@pytest.mark.subprocess
@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_command_of_the_lab_runs(
    lab: Path, start_server: StartServer, tmp_path: Path
) -> None:
    text = lab.read_text()
    env = {"VMSIM_ADMIN_TOKEN": ADMIN_TOKEN}
    for number, (name, flags) in enumerate(SERVER.findall(text)):
        settings = parse_settings(shlex.split(flags))
        server = start_server(
            ram_bytes=settings.ram_bytes,
            swap_bytes=settings.swap_bytes,
            lock_kinds=settings.lock_kinds,
            swap_path=str(tmp_path / f"swap-{number}") if settings.swap_bytes else None,
        )
        env[f"VMSIM_ADDR_{name.upper()}" if name else "VMSIM_ADDR"] = server.address
        env.setdefault("VMSIM_ADDR", server.address)
    blocks = BLOCK.findall(text)
    assert blocks, lab.name
    namespace: dict[str, Any] = {"__name__": f"lab_{lab.stem}"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        for language, body in blocks:
            if language == "python":
                exec(compile(body, f"{lab.name}", "exec"), namespace)
            else:
                for line in body.splitlines():
                    run_shell_line(line, tmp_path, env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
