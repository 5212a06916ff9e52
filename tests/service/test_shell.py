"""`vmsim shell` checks its arguments, suggests commands, and tells a dead process from an empty one."""

from __future__ import annotations

import pytest

from vmsim.shell import ProcessShell


def run(shell: ProcessShell, line: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    shell.onecmd(line)
    return capsys.readouterr().out


def test_touch_refuses_an_access_letter_other_than_r_or_w(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    address = run(shell, "mmap 16k", capsys).strip()
    said = run(shell, f"touch {address} x", capsys)
    assert said == "usage: access 'x': r (read, the default) or w (write)\n"
    assert "access 'write'" in run(shell, f"touchrange {address} 16k write", capsys)
    assert shell.process.status().minor_faults == 0  # refused: nothing was touched
    assert run(shell, f"touch {address} w", capsys).strip() == "minor"
    assert run(shell, f"touch {address} r", capsys).strip() == "hit"


def test_an_unknown_command_gets_the_nearest_one(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "did you mean 'touchrange'?" in run(shell, "touchrnge 0x1000 4k", capsys)
    assert "did you mean 'mprotect'?" in run(shell, "mprotec 0x1000 4k r", capsys)
    nothing_near = run(shell, "qwzzyx", capsys)
    assert "unknown command 'qwzzyx'" in nothing_near and "did you mean" not in nothing_near


def test_maps_after_a_sigsegv_says_the_process_is_dead(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "[stack]" in run(shell, "maps", capsys)  # alive: its stack at least
    assert "the process died" in run(shell, "touch 0x10 w", capsys)
    pid = shell.process.pid
    for command in ("maps", "smaps"):
        said = run(shell, command, capsys)
        assert said.startswith(f"process {pid} is dead (killed by SIGSEGV)"), said
        assert "respawn" in said and "(no mappings)" not in said


def test_vmstat_prints_the_summary_line_and_the_full_list_on_request(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = run(shell, "vmstat", capsys).splitlines()
    assert len(summary) == 3 and summary[0].startswith("procs ---")
    assert summary[1].split()[:4] == ["r", "b", "swpd", "free"] and len(summary[2].split()) == 16
    full = run(shell, "vmstat --full", capsys).splitlines()
    assert len(full) > 100 and any(line.startswith("pgfault ") for line in full)
    assert run(shell, "vmstat -x", capsys) == "usage: vmstat [--full]\n"
