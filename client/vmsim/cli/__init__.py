"""The `vmsim` command line, one module per command group.

stat (machine-wide /proc reports), process (ps, maps, status, translate, events, kill),
procps (vmstat, free, pmap, top), kernel (kernel space), tools (server, demo, shell, replay,
load, dashboard, experiments) and lab (lab_cli). They share cli_common; none imports this one.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..lab_cli import lab_app
from .app import App, version_callback
from .kernel import kernel_app
from .process import process_app
from .procps import procps_app
from .stat import stat_app
from .tools import experiment_app, tools_app

__all__ = ["app", "main"]

app = App(
    help="vmsim: a networked simulator of the Linux virtual-memory system of a 32-bit x86 machine."
)


@app.callback()
def connection_options(
    tls_ca: Annotated[
        str | None,
        typer.Option(
            envvar="VMSIM_TLS_CA",
            metavar="FILE",
            help="PEM CA of the server's certificate: use TLS",
        ),
    ] = None,
    tls_cert: Annotated[
        str | None,
        typer.Option(
            envvar="VMSIM_TLS_CERT", metavar="FILE", help="PEM client certificate (mutual TLS)"
        ),
    ] = None,
    tls_key: Annotated[
        str | None,
        typer.Option(envvar="VMSIM_TLS_KEY", metavar="FILE", help="PEM key of --tls-cert"),
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
            envvar="VMSIM_ADMIN_TOKEN_FILE", metavar="FILE", help="file holding the admin token"
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


# The order of `vmsim --help`: running things first, then the reports.
app.add_typer(tools_app)
app.add_typer(process_app)
app.add_typer(procps_app)
app.add_typer(stat_app, name="stat")
app.add_typer(kernel_app, name="kernel")
app.add_typer(experiment_app, name="experiment")
app.add_typer(lab_app, name="lab")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="vmsim")
