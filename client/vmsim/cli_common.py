"""What every `vmsim` command shares: JSON output, and the one place where a client error
becomes the command line's message.

It imports neither typer nor rich, so that the argparse front end (cli/fast.py) runs a
command with it; the typer options every command shares are in cli/base.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from .constants import DEFAULT_ADDRESS
from .errors import PermissionDenied, Unauthenticated, Unavailable, VmsimError

__all__ = [
    "cli_message",
    "console",
    "emit_json",
    "fail",
    "fast_params",
    "guarded",
    "offline_guarded",
    "parsed_argument",
]

if TYPE_CHECKING:
    from rich.console import Console

    console: Console  # made by __getattr__ on first use

T = TypeVar("T")

# The options of the command being run when the argparse front end runs it (cli/fast.py);
# when typer runs it, they are in click's context.
fast_params: ContextVar[Mapping[str, Any]] = ContextVar("fast_params")


def _param_in_use(name: str) -> str:
    """The value of option *name* of the command being run (or of a group above it), or ''."""
    given = fast_params.get(None)
    if given is not None:
        return str(given[name]) if given.get(name) else ""
    from typer._click.globals import get_current_context  # typer runs the command: loaded

    context = get_current_context(silent=True)
    while context is not None:
        if context.params.get(name):
            return str(context.params[name])
        context = context.parent
    return ""


def _admin_token_given() -> bool:
    from .channels import admin_token_from

    try:
        return bool(admin_token_from(_param_in_use("admin_token")))
    except OSError:  # an unreadable token file: as good as none
        return False


def cli_message(error: VmsimError) -> str:
    """What the command line says for a client error: the flag or variable to use, not the wire.

    The server speaks for every client (metadata keys, status codes); a person at the
    shell needs the option that fixes it.
    """
    if isinstance(error, Unavailable):
        address = _param_in_use("addr") or os.environ.get("VMSIM_ADDR") or DEFAULT_ADDRESS
        # a TLS server refuses a plaintext client the same way: say so when no CA was given
        tls = "" if os.environ.get("VMSIM_TLS_CA") else "; a TLS server needs --tls-ca"
        return (
            f"no server at {address}: start one with `vmsim server` "
            f"(or give --addr / VMSIM_ADDR{tls})"
        )
    if isinstance(error, PermissionDenied | Unauthenticated) and "admin token" in error.message:
        problem = (
            "the admin token given is not this server's"
            if _admin_token_given()
            else "this command needs the server's admin token"
        )
        return (
            f"{error.code}: {problem}: give --admin-token-file FILE (before the command) "
            "or set VMSIM_ADMIN_TOKEN_FILE"
        )
    message = " ".join(error.message.split())  # one line, whatever the server wrote
    return f"{error.code}: {message}"


def fail(error: VmsimError) -> NoReturn:
    """One line on stderr, exit 1: never a traceback for a server error."""
    print(f"vmsim: {cli_message(error)}", file=sys.stderr)
    raise SystemExit(1)


def guarded(action: Callable[[], T]) -> T:
    """Run *action*, turning client errors into the one-line failure."""
    try:
        return action()
    except VmsimError as error:
        fail(error)


def parsed_argument(parse: Callable[[str], T], text: str, hint: str) -> T:
    """*text* parsed, or a usage error naming the argument and what it accepts (exit 2)."""
    import typer  # only typer's commands parse their arguments with this

    try:
        return parse(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=hint) from None


def offline_guarded(addr: str | None, action: Callable[[str], T]) -> T:
    """Run *action* against *addr*, or against an embedded server when no address is given."""
    from .offline import server_address

    def run() -> T:
        with server_address(addr) as address:
            return action(address)

    return guarded(run)


def emit_json(value: Any) -> None:
    """Print *value* (dataclasses included) as JSON."""
    # here: the commands that print text (ps, lab question) never load them; dataclasses
    # alone costs `vmsim lab question` a third of OSTEP's whole run (issue 23)
    import dataclasses
    import json

    def default(item: Any) -> Any:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        raise TypeError(f"cannot encode {type(item).__name__}")

    print(json.dumps(value, default=default, indent=2))


if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name

    def __getattr__(name: str) -> object:
        """`console`, rich's, made on first use: the commands that print plain text (lab,
        --json) do not import rich."""
        if name != "console":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from rich.console import Console

        made = globals()["console"] = Console()
        return made
