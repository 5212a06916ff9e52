"""The `vmsim` command line against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import vmsim
from vmsim.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_help_everywhere() -> None:
    for command in (
        [],
        ["stat"],
        ["ps"],
        ["maps"],
        ["translate"],
        ["events"],
        ["replay"],
        ["shell"],
        ["demo"],
        ["kill"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_stat_reports_as_text_and_json(server_address: str) -> None:
    text = runner.invoke(app, ["stat", "meminfo", "--addr", server_address])
    assert text.exit_code == 0 and text.output.startswith("MemTotal:")
    as_json = runner.invoke(app, ["stat", "vmstat", "--addr", server_address, "--json"])
    assert as_json.exit_code == 0 and "pgfault" in json.loads(as_json.output)
    for report in ("zoneinfo", "buddyinfo", "swaps"):
        assert runner.invoke(app, ["stat", report, "--addr", server_address]).exit_code == 0


def test_ps_maps_status_translate(server_address: str) -> None:
    with vmsim.connect(server_address, name="cli-target") as proc:
        addr = proc.mmap(vmsim.MiB)
        proc.touch(addr, write=True)
        ps = runner.invoke(app, ["ps", "--addr", server_address, "--json"])
        assert any(p["name"] == "cli-target" for p in json.loads(ps.output))
        maps = runner.invoke(app, ["maps", str(proc.pid), "--addr", server_address])
        assert f"{addr:08x}-" in maps.output
        status = runner.invoke(app, ["status", str(proc.pid), "--addr", server_address])
        assert "Name:\tcli-target" in status.output
        walk = runner.invoke(app, ["translate", str(proc.pid), hex(addr), "--addr", server_address])
        assert walk.exit_code == 0 and "PDE" in walk.output and "physical" in walk.output
        walk_json = json.loads(
            runner.invoke(
                app, ["translate", str(proc.pid), hex(addr), "--addr", server_address, "--json"]
            ).output
        )
        assert walk_json["present"] is True


def test_errors_are_one_line_and_exit_1(server_address: str) -> None:
    result = runner.invoke(app, ["maps", "99999", "--addr", server_address])
    assert (
        result.exit_code == 1 and "NOT_FOUND" in result.output and "Traceback" not in result.output
    )


def test_replay_prints_hits_misses_and_victims(server_address: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("# Silberschatz\n7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1\n")
    result = runner.invoke(
        app,
        [
            "replay",
            str(trace),
            "--policy",
            "opt",
            "--frames",
            "3",
            "--addr",
            server_address,
            "--json",
        ],
    )
    data = json.loads(result.output)
    assert (data["misses"], data["hits"]) == (9, 11)
    text = runner.invoke(
        app, ["replay", str(trace), "--policy", "fifo", "--frames", "3", "--addr", server_address]
    )
    assert "misses 15" in text.output and "victims 7 0 1" in text.output


def test_events_follows_the_feed(server_address: str) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}")
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vmsim",
            "events",
            "--addr",
            server_address,
            "--kind",
            "process_spawn",
            "--count",
            "1",
            "--json",
            "--seconds",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    import time

    time.sleep(1.5)
    with vmsim.connect(server_address, name="watched"):
        pass
    out, _ = follower.communicate(timeout=30)
    event = json.loads(out.splitlines()[0])
    assert event["kind"] == "process_spawn" and event["detail"] == "watched"


def test_kill_needs_and_uses_the_admin_token(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        refused = runner.invoke(
            app, ["kill", str(proc.pid), "--addr", server_address, "--admin-token", "nope"]
        )
        assert refused.exit_code == 1 and "PERMISSION_DENIED" in refused.output
        done = runner.invoke(
            app, ["kill", str(proc.pid), "--addr", server_address, "--admin-token", "admin-secret"]
        )
        assert done.exit_code == 0


def test_shell_session(server_address: str) -> None:
    env = dict(
        os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}", HOME=str(ROOT / "tests")
    )
    script = "mmap 64k rw\nmaps\ntouch 0x10\nexit\n"
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "shell", "--addr", server_address],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "rw-p" in result.stdout and "the process died" in result.stdout


def test_demo_runs_against_its_own_server() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}")
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RSS 12 kB after 3 minor faults" in result.stdout and "identical" in result.stdout
