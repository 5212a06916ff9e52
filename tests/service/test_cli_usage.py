"""The command line speaks like a Unix tool: its help, its version, its errors, and --json on
every command that prints data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import typer
from tests.service.conftest import ADMIN_TOKEN, address_with_no_server
from tests.usage_text import flat
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
# Typer's type labels, which click programs never print
PLACEHOLDER = re.compile(r"<(str|bool|int|float|path|Path)[^>]*>")
# Commands that print no data (or start something that is not a report): no --json for them.
NOT_DATA = {
    "server",
    "demo",
    "shell",
    "load",  # has --json: a report of the run (tested in test_load.py)
    "dashboard",
    "kill",
    "experiment locks",  # has --json, runs in a child process (tested in the kernel tests)
    "kernel session",
    "kernel close",
    "kernel kmalloc",
    "kernel kfree",
    "kernel vmalloc",
    "kernel vfree",
    "kernel kmap",
    "kernel kunmap",
    "kernel pa",
    "kernel va",
    "events",  # --json is one object per line while following (test_cli.py)
}


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", {})
    if not subcommands:
        yield path, command
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


def _every_command(with_lab: bool = False) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command; the lab group (lab_cli's, with JSON of its own) only on request."""
    return [
        (path, command)
        for path, command in _commands(typer.main.get_command(app))
        if with_lab or path[0] != "lab"
    ]


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"vmsim {version('vmsim')}\n"


@pytest.mark.slow
def test_help_has_no_type_placeholders_and_usage_names_arguments_in_capitals() -> None:
    groups = [(), ("stat",), ("kernel",), ("experiment",), ("lab",)]
    for path in [*groups, *(p for p, _ in _every_command(with_lab=True))]:
        if path == ("server",):  # every argument goes to vmsim-server (its own help)
            continue
        result = runner.invoke(app, [*path, "--help"], env=WIDE)
        assert result.exit_code == 0, (path, result.output)
        assert not PLACEHOLDER.search(result.output), (path, result.output)
        usage = next(line for line in result.output.splitlines() if "Usage:" in line)
        assert "{" not in usage, (path, usage)
    pmap = runner.invoke(app, ["pmap", "--help"], env=WIDE, prog_name="vmsim").output
    assert "Usage: vmsim pmap [OPTIONS] PID" in pmap and "--addr" in pmap and "HOST:PORT" in pmap
    vmstat = runner.invoke(app, ["vmstat", "--help"], env=WIDE, prog_name="vmsim").output
    assert "Usage: vmsim vmstat [OPTIONS] [DELAY] [COUNT]" in vmstat


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        (["vmstat", "x"], "Invalid value for 'DELAY': 'x' is not a number"),
        (["vmstat", "1", "two"], "Invalid value for 'COUNT': 'two' is not a whole number"),
        (["vmstat", "0"], "0.0 is not a positive number of seconds"),
        (["pmap", "self"], "Invalid value for 'PID': 'self' is not a whole number"),
        (["top", "-d", "soon"], "Invalid value for '--delay' / '-d': 'soon' is not a number"),
        (["replay", "--frames", "0", "-"], "0 is not in the range 1<=x<=1000000"),
        (["replay", "--frames", "few", "-"], "'few' is not a whole number"),
        (["free", "-m", "-g"], "-m and -g together: give at most one of -b, -k, -m, -g, -h"),
    ],
)
def test_a_bad_value_is_a_usage_error_in_the_command_lines_words(
    command: list[str], complaint: str
) -> None:
    result = runner.invoke(app, [*command, "--addr", "127.0.0.1:1"], env=WIDE)
    said = flat(result.output)
    assert result.exit_code == 2, said
    assert complaint in said and "Input should" not in said and "Traceback" not in said


@pytest.mark.slow
def test_no_server_names_the_address_prints_no_header_and_exits_1() -> None:
    address = address_with_no_server()
    for command in (["vmstat", "1", "2"], ["ps"], ["free"], ["top", "-n", "1"]):
        result = runner.invoke(app, [*command, "--addr", address])
        assert result.exit_code == 1 and result.stdout == "", (command, result.stdout)
        assert result.stderr == (
            f"vmsim: no server at {address}: start one with `vmsim server` "
            "(or give --addr / VMSIM_ADDR; a TLS server needs --tls-ca)\n"
        )


def test_a_missing_admin_token_names_the_flag_and_the_variable(server_address: str) -> None:
    no_token = {"VMSIM_ADMIN_TOKEN": "", "VMSIM_ADMIN_TOKEN_FILE": ""}
    for command in (["kill", "1"], ["kernel", "slabinfo"], ["stat", "lock_stat", "--reset"]):
        result = runner.invoke(app, [*command, "--addr", server_address], env=no_token)
        assert result.exit_code == 1, (command, result.output)
        assert "--admin-token-file" in result.stderr and "VMSIM_ADMIN_TOKEN_FILE" in result.stderr
        assert "metadata" not in result.stderr and "x-vmsim" not in result.stderr
        assert "needs the server's admin token" in result.stderr
    wrong = runner.invoke(
        app, ["kill", "1", "--addr", server_address], env={"VMSIM_ADMIN_TOKEN": "guess"}
    )
    assert wrong.exit_code == 1 and "the admin token given is not this server's" in wrong.stderr


@pytest.fixture(scope="module")
def busy_server(start_module_server: Any) -> Iterator[tuple[str, int]]:
    """A server with one process that has a mapping, and a vmalloc area in a kernel session."""
    server = start_module_server()
    with (
        vmsim.connect(server.address, name="data") as proc,
        vmsim.Kernel(server.address, ADMIN_TOKEN) as kernel,
    ):
        start = proc.mmap(64 * vmsim.KiB)
        proc.touch_many(range(start, start + 64 * vmsim.KiB, vmsim.PAGE_SIZE), write=True)
        kernel.vmalloc(3 * vmsim.PAGE_SIZE)
        yield server.address, proc.pid


def test_every_data_command_prints_json(busy_server: tuple[str, int]) -> None:
    address, pid = busy_server
    arguments = {
        "ps": [],
        "maps": [str(pid)],
        "smaps_rollup": [str(pid)],
        "status": [str(pid)],
        "translate": [str(pid), "0xb7000000"],
        "replay": ["-"],
        "vmstat": [],
        "free": [],
        "pmap": [str(pid)],
        "top": [],
        "kernel translate": ["0xc0100000"],
        "kernel slabinfo": [],
        "kernel vmallocinfo": [],
        "sysctl": ["-a"],
        "swapon": ["cli", "--size", "1M"],
        "swapoff": ["cli"],
    }
    printed: dict[str, Any] = {}
    for path, command in _every_command():
        name = " ".join(path)
        if name in NOT_DATA:
            continue
        assert any(p.name == "as_json" for p in command.params), f"`vmsim {name}` has no --json"
        args = [*path, *arguments.get(name, []), "--json", "--addr", address]
        result = runner.invoke(app, args, input="1 2 3 1\n", env={"VMSIM_ADMIN_TOKEN": ADMIN_TOKEN})
        assert result.exit_code == 0, (name, result.output)
        printed[name] = json.loads(result.stdout)
    assert set(arguments) <= set(printed)
    meminfo = printed["stat meminfo"]
    assert printed["sysctl"]["vm.overcommit_memory"] == "0"
    assert printed["free"]["Mem"]["total"] == meminfo["MemTotal"]
    assert printed["free"]["Swap"]["used"] == meminfo["SwapTotal"] - meminfo["SwapFree"]
    assert set(printed["vmstat"]) == {
        *["r", "b", "swpd", "free", "buff", "cache", "si", "so"],
        "bi",
        "bo",
    } | {*["in", "cs", "us", "sy", "id", "wa"]}
    assert printed["vmstat"]["free"] == meminfo["MemFree"]
    anon = next(m for m in printed["pmap"]["mappings"] if m["kbytes"] == 64)
    assert anon["rss"] == 64 and anon["mode"] == "rw---" and anon["mapping"] == "[ anon ]"
    assert pid in [p["pid"] for p in printed["top"]["processes"]]
    assert printed["top"]["summary"][0].startswith("vmsim top - ")
    kmalloc_32 = next(c for c in printed["kernel slabinfo"] if c["name"] == "kmalloc-32")
    assert kmalloc_32["objsize"] == 32
    (area,) = printed["kernel vmallocinfo"]
    assert area["size"] == 4 * vmsim.PAGE_SIZE and area["pages"] == 3  # with its guard page
    assert printed["replay"]["misses"] == 3 and printed["replay"]["hits"] == 1
