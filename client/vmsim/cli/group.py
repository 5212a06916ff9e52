"""The `vmsim` command group (typer), one module per group of commands.

stat (machine-wide /proc reports), process (ps, maps, status, translate, events, kill),
procps (vmstat, free, pmap, top, sysctl, swapon, swapoff, shm, files), kernel (kernel
space), tools (server, demo, shell, replay, load, dashboard, experiments) and lab (lab_cli).
They share cli_common; none imports this one.

This module imports none of them: `VmsimGroup` loads the module of the command being run
(and all of them only for `vmsim --help`), so a command pays only for its own imports.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from .base import App, CommandSource, LazyGroup, version_callback

__all__ = ["COMMANDS", "VmsimGroup", "app"]


# One loader per app, each a plain `from ... import`: a loader computed from a module name
# would hide these imports from tests/test_import_direction.py's graph of the client's modules.
def _tools() -> typer.Typer:
    from .tools import tools_app

    return tools_app


def _process() -> typer.Typer:
    from .process import process_app

    return process_app


def _procps() -> typer.Typer:
    from .procps import procps_app

    return procps_app


def _stat() -> typer.Typer:
    from .stat import stat_app

    return stat_app


def _kernel() -> typer.Typer:
    from .kernel import kernel_app

    return kernel_app


def _experiment() -> typer.Typer:
    from .tools import experiment_app

    return experiment_app


def _lab() -> typer.Typer:
    from ..lab_cli import lab_app

    return lab_app


# Every command, in the order of `vmsim --help`: running things first, then the reports.
# (tests/service/test_cli_usage.py checks that each app's commands are all here.)
COMMANDS: dict[str, CommandSource] = {
    **dict.fromkeys(
        ("server", "demo", "shell", "replay", "load", "dashboard"), CommandSource(_tools)
    ),
    **dict.fromkeys(
        ("ps", "maps", "smaps_rollup", "status", "translate", "events", "kill"),
        CommandSource(_process),
    ),
    **dict.fromkeys(
        ("vmstat", "free", "pmap", "top", "sysctl", "swapon", "swapoff", "shm", "files"),
        CommandSource(_procps),
    ),
    "stat": CommandSource(_stat, whole_app=True),
    "kernel": CommandSource(_kernel, whole_app=True),
    "experiment": CommandSource(_experiment, whole_app=True),
    "lab": CommandSource(_lab, whole_app=True),
}


class VmsimGroup(LazyGroup):
    """The `vmsim` command: its commands load when named."""

    sources = COMMANDS


def _readable_file(value: str | None) -> str | None:
    """A TLS file option names a readable file: a missing one is a usage error (exit 2), not a
    traceback from deep in the channel set-up. (A str checked here, not a Path option: typer
    converts a Path through pydantic, whose import `vmsim free` must not pay.)"""
    if value and not (os.path.isfile(value) and os.access(value, os.R_OK)):
        raise typer.BadParameter(f"{value!r} is not a readable file")
    return value


def _tls_file_option(envvar: str, help: str) -> Any:
    """The option of one TLS file (a PEM certificate or key), also read from *envvar*."""
    return typer.Option(callback=_readable_file, envvar=envvar, metavar="FILE", help=help)


app = App(
    cls=VmsimGroup,
    help="vmsim: a networked simulator of the Linux virtual-memory system of a 32-bit x86 machine.",
)


@app.callback()
def connection_options(
    tls_ca: Annotated[
        str | None, _tls_file_option("VMSIM_TLS_CA", "PEM CA of the server's certificate: use TLS")
    ] = None,
    tls_cert: Annotated[
        str | None, _tls_file_option("VMSIM_TLS_CERT", "PEM client certificate (mutual TLS)")
    ] = None,
    tls_key: Annotated[
        str | None, _tls_file_option("VMSIM_TLS_KEY", "PEM key of --tls-cert")
    ] = None,
    tls_server_name: Annotated[
        str | None,
        typer.Option(
            envvar="VMSIM_TLS_SERVER_NAME", metavar="NAME", help="name to check the certificate for"
        ),
    ] = None,
    client_name: Annotated[
        str | None,
        typer.Option(
            envvar="VMSIM_CLIENT_NAME",
            metavar="NAME",
            help="who this client is, for per-client limits",
        ),
    ] = None,
    admin_token_file: Annotated[
        str | None,
        typer.Option(
            envvar="VMSIM_ADMIN_TOKEN_FILE",
            metavar="FILE",
            help="file holding the admin token",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Options for every command: how to reach the server (before the command name)."""
    # Every client object reads these from the environment (channels.py), so they reach the
    # demo, the shell and load-generator worker processes too.
    chosen = {
        "VMSIM_TLS_CA": tls_ca,
        "VMSIM_TLS_CERT": tls_cert,
        "VMSIM_TLS_KEY": tls_key,
        "VMSIM_TLS_SERVER_NAME": tls_server_name,
        "VMSIM_CLIENT_NAME": client_name,
        "VMSIM_ADMIN_TOKEN_FILE": admin_token_file,
    }
    for name, value in chosen.items():
        if value:
            os.environ[name] = value
