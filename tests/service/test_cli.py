"""The `vmsim` command line against a real server."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import address_with_no_server
from tests.usage_text import flat
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app
from vmsim.shell import ProcessShell

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for `python -m vmsim` from a plain checkout."""
    return dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}", **extra)


@pytest.mark.slow
def test_help_everywhere() -> None:
    for command in (
        [],
        ["stat"],
        ["stat", "meminfo"],
        ["ps"],
        ["maps"],
        ["status"],
        ["translate"],
        ["events"],
        ["replay"],
        ["shell"],
        ["demo"],
        ["kill"],
        ["vmstat"],
        ["free"],
        ["pmap"],
        ["top"],
        ["dashboard"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, command


@pytest.mark.subprocess
def test_server_passes_every_argument_to_the_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "server", "--help"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert result.returncode == 0 and "vmsim-server" in result.stdout
    assert "--ram" in result.stdout and "--overcommit" in result.stdout


def test_stat_reports_as_text_and_json(server_address: str) -> None:
    text = runner.invoke(app, ["stat", "meminfo", "--addr", server_address])
    assert text.exit_code == 0 and text.output.startswith("MemTotal:")
    as_json = runner.invoke(app, ["stat", "vmstat", "--addr", server_address, "--json"])
    assert as_json.exit_code == 0 and "pgfault" in json.loads(as_json.output)
    zones = json.loads(
        runner.invoke(app, ["stat", "zoneinfo", "--addr", server_address, "--json"]).output
    )
    assert [z["name"] for z in zones] == ["DMA", "Normal", "HighMem"]
    buddy = runner.invoke(app, ["stat", "buddyinfo", "--addr", server_address])
    assert buddy.output.startswith("Node 0, zone")
    swaps = runner.invoke(app, ["stat", "swaps", "--addr", server_address])
    assert swaps.output.startswith("Filename")


def test_stat_layout_shows_the_boot_layout(server_address: str) -> None:
    text = runner.invoke(app, ["stat", "layout", "--addr", server_address])
    assert text.exit_code == 0 and "virtual kernel memory layout:" in text.output
    assert "memblock reserved:" in text.output and "Memory: " in text.output
    as_json = json.loads(
        runner.invoke(app, ["stat", "layout", "--addr", server_address, "--json"]).output
    )
    # A 16 MiB machine is too small to load the image at 16 MiB: it goes to 1 MiB.
    assert as_json["PAGE_OFFSET"] == 0xC0000000 and as_json["_text"] == 1024 * 1024


def test_ps_shows_ended_processes_only_with_all(server_address: str) -> None:
    with vmsim.connect(server_address, name="cli-ended") as proc:
        pid = proc.pid
    live = json.loads(runner.invoke(app, ["ps", "--addr", server_address, "--json"]).output)
    assert pid not in [p["pid"] for p in live]
    every = runner.invoke(app, ["ps", "--all", "--addr", server_address, "--json"]).output
    assert any(p["pid"] == pid and p["state"] == "Z" for p in json.loads(every))


def test_addr_comes_from_vmsim_addr(server_address: str) -> None:
    result = runner.invoke(app, ["stat", "meminfo"], env={"VMSIM_ADDR": server_address})
    assert result.exit_code == 0 and "MemTotal:" in result.output


@pytest.mark.slow
def test_ps_maps_status_translate(server_address: str) -> None:
    with vmsim.connect(server_address, name="cli-target") as proc:
        addr = proc.mmap(vmsim.MiB)
        proc.touch(addr, write=True)
        ps = runner.invoke(app, ["ps", "--addr", server_address, "--json"])
        assert any(p["name"] == "cli-target" and p["vm_rss"] == 4096 for p in json.loads(ps.output))
        table = runner.invoke(app, ["ps", "--addr", server_address])
        assert "cli-target" in table.output and "RSS" in table.output and "MINFLT" in table.output
        maps = runner.invoke(app, ["maps", str(proc.pid), "--addr", server_address])
        assert f"{addr:08x}-{addr + vmsim.MiB:08x} rw-p" in maps.output
        smaps = runner.invoke(app, ["maps", str(proc.pid), "--smaps", "--addr", server_address])
        assert "Rss:                   4 kB" in smaps.output
        rows = json.loads(
            runner.invoke(app, ["maps", str(proc.pid), "--json", "--addr", server_address]).output
        )
        assert any(row["start"] == addr and row["rss"] == 4096 for row in rows)
        status = runner.invoke(app, ["status", str(proc.pid), "--addr", server_address])
        assert "Name:\tcli-target" in status.output and "VmRSS:" in status.output
        status_json = runner.invoke(
            app, ["status", str(proc.pid), "--json", "--addr", server_address]
        )
        assert json.loads(status_json.output)["minor_faults"] == 1
        walk = runner.invoke(app, ["translate", str(proc.pid), hex(addr), "--addr", server_address])
        assert walk.exit_code == 0 and "PDE" in walk.output and "PTE" in walk.output
        assert "physical" in walk.output
        walk_json = json.loads(
            runner.invoke(
                app, ["translate", str(proc.pid), hex(addr), "--addr", server_address, "--json"]
            ).output
        )
        assert walk_json["present"] is True and walk_json["pde_index"] == addr >> 22
        unmapped = runner.invoke(
            app, ["translate", str(proc.pid), "0x1000", "--addr", server_address]
        )
        assert unmapped.exit_code == 0 and "0x00001000" in unmapped.output


def test_errors_are_one_line_and_exit_1(server_address: str) -> None:
    result = runner.invoke(app, ["maps", "99999", "--addr", server_address])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("vmsim: NOT_FOUND: ") and result.stderr.count("\n") == 1


@pytest.mark.subprocess
def test_no_server_is_one_line_saying_how_to_start_one() -> None:
    address = address_with_no_server()
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "ps", "--addr", address],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"vmsim: no server at {address}: start one with `vmsim server`")
    assert result.stderr.count("\n") == 1 and "UNAVAILABLE" not in result.stderr


def test_bad_arguments_are_usage_errors(server_address: str, tmp_path: Path) -> None:
    assert (
        runner.invoke(app, ["translate", "1", "nowhere", "--addr", server_address]).exit_code == 2
    )
    assert runner.invoke(app, ["events", "--kind", "nap", "--addr", server_address]).exit_code == 2
    bad = tmp_path / "bad.trace"
    bad.write_text("1 2 three\n")
    result = runner.invoke(app, ["replay", str(bad), "--addr", server_address])
    assert result.exit_code == 2 and "three" in result.output
    missing = runner.invoke(app, ["replay", str(tmp_path / "missing"), "--addr", server_address])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_replay_prints_hits_and_misses_and_the_victims_when_asked(
    server_address: str, tmp_path: Path
) -> None:
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
    assert (data["misses"], data["hits"], data["hit_ratio"]) == (9, 11, 0.55)
    assert "victims" not in data and "faults_at" not in data  # the counts only
    fifo = ["replay", str(trace), "--policy", "fifo", "--frames", "3", "--addr", server_address]
    text = runner.invoke(app, [*fifo, "--victims"])
    assert "misses 15" in text.output and "victims 7 0 1" in text.output
    assert "hit ratio 0.250" in text.output
    assert "victims" not in runner.invoke(app, fifo).output
    listed = json.loads(runner.invoke(app, [*fifo, "--victims", "--json"]).output)
    assert listed["victims"][:3] == [7, 0, 1] and len(listed["victims"]) == 12
    assert listed["faults_at"][:4] == [0, 1, 2, 3] and len(listed["faults_at"]) == 15


def test_replay_reads_addresses_from_stdin(server_address: str) -> None:
    trace = "0x1000, 0x1004\n0x2000 # a second page\n0x1ff8\n"
    result = runner.invoke(
        app,
        ["replay", "-", "--addresses", "--frames", "1", "--addr", server_address, "--json"],
        input=trace,
    )
    data = json.loads(result.output)
    assert (data["references"], data["hits"], data["misses"]) == (4, 1, 3)


@pytest.mark.subprocess
def test_events_follows_the_feed(server_address: str) -> None:
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
        env=cli_env(),
    )
    assert follower.stdout is not None
    # Spawn until the follower (whose start-up takes a moment) has seen one.
    for _ in range(100):
        if follower.poll() is not None:
            break
        with vmsim.connect(server_address, name="watched"):
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            follower.wait(0.2)
    out, _ = follower.communicate(timeout=30)
    event = json.loads(out.splitlines()[0])
    assert event["kind"] == "process_spawn" and event["detail"] == "watched"
    assert follower.returncode == 0


def test_kill_needs_and_uses_the_admin_token(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        refused = runner.invoke(
            app, ["kill", str(proc.pid), "--addr", server_address, "--admin-token", "nope"]
        )
        assert refused.exit_code == 1 and "PERMISSION_DENIED" in refused.stderr
        done = runner.invoke(
            app,
            ["kill", str(proc.pid), "--addr", server_address],
            env={"VMSIM_ADMIN_TOKEN": "admin-secret"},
        )
        assert done.exit_code == 0
        with pytest.raises(vmsim.ProcessKilled, match="killed by admin"):
            proc.brk()


SHELL_SESSION = [
    "mmap 64k rw private,fixed 0x40000000",
    "maps",
    "touchrange 0x40000000 16k w",
    "write 0x40000000 hello",
    "read 0x40000000 5",
    "translate 0x40000000",
    "frobnicate",
    "mmap lots",
    "touch 0x10",
    "status",
    "respawn",
    "brk",
    "exit",
]


def assert_the_session_printed_what_it_did(out: str) -> None:
    assert "0x40000000" in out and "rw-p" in out
    assert "4 pages: 0 hits, 4 minor faults, 0 major faults" in out
    assert "40000000  68 65 6c 6c 6f" in out and "|hello|" in out
    assert "PTE" in out and "unknown command 'frobnicate'" in out and "usage:" in out
    assert "the process died" in out and "respawn" in out and "replaced by pid" in out


@pytest.mark.subprocess
def test_shell_session(server_address: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "shell", "--addr", server_address],
        input="\n".join([*SHELL_SESSION, ""]),
        capture_output=True,
        text=True,
        env=cli_env(HOME=str(tmp_path)),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert_the_session_printed_what_it_did(result.stdout)


def test_the_shell_session_in_process_keeps_its_history_where_it_is_told(
    server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history"
    shell = ProcessShell(server_address, history=history)
    stops = [shell.onecmd(line) for line in SHELL_SESSION]
    assert stops[-1] is True and not any(stops[:-1])  # only exit ends the loop
    assert_the_session_printed_what_it_did(capsys.readouterr().out)
    assert history.exists()


@pytest.mark.subprocess
def test_demo_runs_against_its_own_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "demo"],
        capture_output=True,
        text=True,
        env=cli_env(COLUMNS="120"),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "RSS 12 kB after 4 minor faults" in out and "identical" in out
    assert "SIGSEGV" in out and "MemFree" in out and "demo finished" in out


def test_events_shows_each_gap_once_not_the_running_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vmsim.results import Event

    feed = [
        Event(seq, "swap_out", 100, 0xB7000000, 5, "", dropped)
        for seq, dropped in ((1, 0), (9, 7), (10, 7), (11, 7), (20, 15))
    ]

    class FakeInspector:
        def __init__(self, *_args: object) -> None:
            pass

        def __enter__(self) -> FakeInspector:
            return self

        def __exit__(self, *_exc: object) -> None:
            pass

        def events(self, *_args: object, **_kwargs: object) -> Iterator[Event]:
            yield from feed

    monkeypatch.setattr("vmsim.cli.process.Inspector", FakeInspector)
    result = runner.invoke(app, ["events"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.endswith("dropped before)") for line in lines] == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert lines[1].endswith("(7 dropped before)") and lines[4].endswith("(8 dropped before)")


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        (["kernel", "pa", "zzz"], "'zzz' is not an address"),
        (["kernel", "kmalloc", "lots"], "'lots' is not a size"),
        (["kernel", "kmalloc", "100", "--gfp", "highmem"], "'highmem' is not one of kernel"),
        (["kernel", "vmalloc", "1.5M"], "is not a size"),
        (["kernel", "kfree", "-"], "is not an address"),
    ],
)
def test_kernel_commands_refuse_bad_arguments_without_a_traceback(
    command: list[str], complaint: str
) -> None:
    result = runner.invoke(app, [*command, "--addr", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert complaint in flat(result.output)
    assert "Traceback" not in result.output


def test_demo_reports_an_oom_killed_hog_as_killed_not_as_swap_corruption(
    server_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from vmsim import demo
    from vmsim.client import Inspector, Process

    real_run = Process.run

    def killed_halfway(self: Process, operations: list[object]) -> list[object]:
        outcomes = real_run(self, operations)  # type: ignore[arg-type]
        # what run() returns when the OOM killer takes the process mid-stream
        outcomes[len(outcomes) // 2] = vmsim.OomKilled(
            f"process {self.pid} was killed by SIGKILL: out of memory", "FAILED_PRECONDITION"
        )
        return outcomes

    monkeypatch.setattr(Process, "run", killed_halfway)
    with Inspector(server_address) as inspector, pytest.raises(demo.DemoFailed) as failed:
        demo._swapping(server_address, inspector, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert "killed by the OOM killer" in str(failed.value)
    assert "differs" not in str(failed.value)


def test_kernel_close_of_an_unknown_or_closed_session_is_an_error(server_address: str) -> None:
    token = {"VMSIM_ADMIN_TOKEN": "admin-secret"}
    opened = runner.invoke(app, ["kernel", "session", "--addr", server_address], env=token)
    session = opened.stdout.strip()
    area = runner.invoke(
        app, ["kernel", "vmalloc", "8k", "--session", session, "--addr", server_address], env=token
    )
    assert area.exit_code == 0, area.output
    closed = runner.invoke(app, ["kernel", "close", session, "--addr", server_address], env=token)
    assert (
        closed.exit_code == 0
        and closed.stdout == f"session {session} closed: 1 allocations and mappings freed\n"
    )
    for unknown in (session, "999"):
        again = runner.invoke(
            app, ["kernel", "close", unknown, "--addr", server_address], env=token
        )
        assert again.exit_code == 1 and again.stdout == ""
        assert f"no open kernel session {unknown}" in again.stderr


def _zone(name: str, free: int, high: int, protection: tuple[int, ...]) -> Any:
    from vmsim.results import Zone

    return Zone(name, 0, free, free, free, free, 0, 0, high, (), {}, protection)


# The zones of a fresh 1 GiB vmsim server (vmsim stat zoneinfo --json): free, high, protection.
ONE_GIB_ZONES = (
    ("DMA", 3840, 24, (0, 863, 991, 991)),
    ("Normal", 220960, 1395, (0, 0, 1024, 1024)),
    ("HighMem", 32768, 100, (0, 0, 0, 0)),
)


def test_the_demo_sizes_its_hogs_to_the_machine_it_meets() -> None:
    from vmsim.demo import plan_swapping, user_room_pages

    zones = [_zone(*z) for z in ONE_GIB_ZONES]
    # each zone's free pages above high + its reserve against HighMem allocations
    room = (3840 - 24 - 991) + (220960 - 1395 - 1024) + (32768 - 100)
    assert user_room_pages(zones) == room == 254034
    plan = plan_swapping(zones, swap_free_kb=128 * 1024)
    assert plan is not None and plan.excess_pages == 4096  # 16 MiB beyond the room, no more
    assert plan.hog_bytes == (room + 4096) // 2 * 4096  # not 3/4 of RAM each (1.5 GiB in all)
    assert plan.hog_bytes // plan.stride <= 512  # stamps do not grow with the machine
    small_swap = plan_swapping(zones, swap_free_kb=6 * 1024)
    assert small_swap is not None and small_swap.excess_pages == 3 * 1024 // 4  # half the swap
    assert plan_swapping(zones, swap_free_kb=0) is None  # nothing to swap to: step skipped


@pytest.mark.slow
def test_demo_against_a_256_mib_server_finishes_in_well_under_a_minute(
    start_server: Any,
) -> None:
    server = start_server(ram_bytes=256 << 20, swap_bytes=64 << 20)
    result = subprocess.run(
        [sys.executable, "-m", "vmsim", "demo", "--addr", server.address],
        capture_output=True,
        text=True,
        env=cli_env(COLUMNS="120"),
        timeout=60,  # main: DEADLINE_EXCEEDED after the 30 s deadline of one 192 MiB TouchMany
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical" in result.stdout and "demo finished" in result.stdout
    wrote = next(line for line in result.stdout.splitlines() if "processes wrote" in line)
    assert wrote.startswith("each of 2 processes wrote 1") and "MiB of RAM" in wrote
