"""vmsim-server's command line: one settings table, Typer help for every flag, the operations
guide's table (docs/operations.md)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.usage_text import flat, settings_usage_error
from typer.testing import CliRunner

from vmsim_server.settings import Flag, ServerSettings, command_line, parse_settings

ROOT = Path(__file__).resolve().parent.parent
FLAGS: list[Flag] = [f.metadata["flag"] for f in dataclasses.fields(ServerSettings)]


def test_every_setting_has_a_flag_a_variable_and_help_shown_by_help() -> None:
    result = CliRunner().invoke(
        command_line(lambda _settings: None), ["--help"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0
    text = flat(result.output)
    for flag in FLAGS:
        assert flag.help and flag.names[0].startswith("--")
        assert flag.names[0] in text and f"env var: {flag.envvar}" in text, flag.names
    assert "[default: 64M]" in text  # sizes are shown as people write them


def test_the_operations_table_lists_each_flag_with_its_variable() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide.split("## Server configuration", 1)[1].split("\n## ", 1)[0]
    cells = [re.split(r"(?<!\\)\|", row) for row in section.splitlines() if row.startswith("| `--")]
    rows = {
        name: re.findall(r"VMSIM_\w+", c[2])
        for c in cells
        for name in re.findall(r"--[a-z-]+", c[1])
    }
    for flag in FLAGS:
        assert flag.envvar in rows.get(flag.names[0], ()), (
            f"docs/operations.md lacks {flag.names[0]}"
        )
    assert set(rows) == {name for flag in FLAGS for name in flag.names}


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--ram", "64Mi"], "ram_bytes", 64 << 20),
        (["--ram", "0x4000000"], "ram_bytes", 64 << 20),
        (["--ram", "64M", "--swap", "0"], "swap_bytes", 0),
        (
            ["--lock-kind", "zone=sleep,mmap=spin", "--lock-kind", "lru=spin"],
            "lock_kinds",
            (("zone", "sleep"), ("mmap", "spin"), ("lru", "spin")),
        ),
        (["--swap-file-overwrite", "--policy", "clock"], "policy", "clock"),
        (["--textbook-split"], "textbook_split", True),
        (["--swapon-budget", "256M"], "swapon_budget_bytes", 256 << 20),
    ],
)
def test_flags_become_settings(argv: list[str], field: str, value: object) -> None:
    assert getattr(parse_settings(argv), field) == value


def test_the_textbook_split_reaches_the_machine_config() -> None:
    assert parse_settings(["--textbook-split"]).machine_config().textbook_split
    assert not parse_settings([]).machine_config().textbook_split  # Linux 6.1's MAXMEM


def test_the_swapon_budget_reaches_the_machine_config_and_is_checked_there() -> None:
    assert parse_settings(["--swapon-budget", "64M"]).machine_config().swapon_budget_bytes == (
        64 << 20
    )


def test_environment_values_are_parsed_like_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMSIM_RAM", "0x8000000")
    monkeypatch.setenv("VMSIM_LOCK_KINDS", "zone=sleep,mmap=spin")
    monkeypatch.setenv("VMSIM_DIRECT_MAP_PSE", "yes")
    settings = parse_settings([])
    assert settings.ram_bytes == 128 << 20 and settings.direct_map_pse
    assert settings.lock_kinds == (("zone", "sleep"), ("mmap", "spin"))


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--ram", "lots"], "'lots' is not a size"),
        (["--swapon-budget", "17G"], "(allowed: 0 .. 16 GiB)"),
        (["--policy", "opt"], "--policy"),
        (["--lock-kind", "zone=nap"], "lock kind zone=nap"),
        (["--tls-cert", "c.pem"], "tls_cert and tls_key go together"),
        (["--no-such-flag"], "No such option"),
    ],
)
def test_bad_flags_are_usage_errors_that_say_why(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert complaint in settings_usage_error(argv, capsys)


@pytest.mark.subprocess
def test_vmsim_server_and_the_vmsim_server_command_are_one_command_line() -> None:
    scripts = Path(sys.executable).parent
    outputs = [
        subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
        )
        for command in (
            [scripts / "vmsim", "server", "--help"],
            [scripts / "vmsim-server", "--help"],
        )
    ]
    assert outputs[0].returncode == outputs[1].returncode == 0
    assert outputs[0].stdout == outputs[1].stdout
    assert "Usage: vmsim-server [OPTIONS]" in outputs[1].stdout


def test_every_command_option_and_argument_of_both_programs_has_help() -> None:
    import typer

    from vmsim.cli import app

    def missing(command: Any, path: str) -> Iterator[str]:
        if not (command.help or "").strip():
            yield path
        for param in command.params:
            if not getattr(param, "help", None):
                yield f"{path} {param.name}"
        for name, sub in getattr(command, "commands", {}).items():
            yield from missing(sub, f"{path} {name}")

    server = typer.main.get_command(command_line(lambda _settings: None))
    assert [*missing(typer.main.get_command(app), "vmsim"), *missing(server, "vmsim-server")] == []


@pytest.mark.parametrize(
    ("field", "allowed"),
    [
        ("policy", "linux, fifo"),
        ("client_identity", "auto, cert, peer"),
        ("log_format", "auto, json, console"),
        ("log_level", "debug, info, warning, error"),
        ("event_loop", "uvloop, asyncio"),
    ],
)
def test_a_setting_outside_its_choices_is_refused_naming_them(field: str, allowed: str) -> None:
    # Settings built in Python skip the command line's own check of the choices.
    with pytest.raises(ValueError, match=f"^{field} 'nope': one of {allowed}"):
        ServerSettings(**{field: "nope"})
