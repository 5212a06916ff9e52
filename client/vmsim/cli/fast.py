"""The argparse front end: `vmsim ps` and `vmsim lab question` without importing typer.

`run` takes the command line's arguments. When they name a command of spec.FAST_COMMANDS
and parse plainly, it runs the command and returns True. Otherwise it returns False having
done nothing, and typer's command line (the same declaration, cli/base.py) takes them:
`--help`, any usage error, an option before the command (`vmsim --tls-ca F ps`), a value
typer would read differently. Help and errors therefore look exactly as everywhere else.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .spec import FAST_COMMANDS, CommandSpec, Param, plain_value

__all__ = ["Declined", "end_process", "parse", "run"]


class Declined(Exception):
    """The arguments are for typer's command line to read (help, an error, an odd value)."""


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=80)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Declined(message)


def _converter(param: Param) -> Any:
    def convert(text: str) -> Any:
        value = plain_value(param.type, text)
        if value is None or not param.in_range(value):
            raise ValueError(text)  # argparse calls error(): declined, typer says what is wrong
        return value

    return convert


def _parser(spec: CommandSpec) -> _Parser:
    # click reads no abbreviations (--ans for --answers): neither does this. It never prints
    # help (typer's does), so its formatter need not ask shutil for the terminal's width.
    parser = _Parser(
        prog=" ".join(("vmsim", *spec.path)),
        add_help=False,
        allow_abbrev=False,
        formatter_class=_Formatter,
    )
    for param in spec.params:
        if not param.flags:
            parser.add_argument(param.name, type=_converter(param))
        elif param.type is bool:
            parser.add_argument(
                *param.flags, dest=param.name, action="store_true", default=argparse.SUPPRESS
            )
        else:
            parser.add_argument(
                *param.flags, dest=param.name, type=_converter(param), default=argparse.SUPPRESS
            )
    return parser


def _from_environment(param: Param) -> Any:
    """The value of *param*'s variable, or None: as click, an empty variable is not set."""
    text = os.environ.get(param.envvar) if param.envvar else None
    if not text:
        return None
    value = plain_value(param.type, text)
    if value is None or not param.in_range(value):
        raise Declined(f"{param.envvar}={text!r}")
    return value


def parse(spec: CommandSpec, arguments: Sequence[str]) -> dict[str, Any]:
    """The values of *spec*'s parameters in *arguments*, by name, defaults filled in.

    Raises:
        Declined: typer's command line is to read them.
    """
    if "--help" in arguments:
        raise Declined("--help")
    given = vars(_parser(spec).parse_args(arguments))  # an option not given is absent
    values = {}
    for param in spec.params:
        if param.name in given:
            values[param.name] = given[param.name]
        else:
            from_environment = _from_environment(param)
            values[param.name] = param.default if from_environment is None else from_environment
    return values


def _command(arguments: Sequence[str]) -> tuple[CommandSpec, Sequence[str]] | None:
    for path, spec in FAST_COMMANDS.items():
        if tuple(arguments[: len(path)]) == path:
            return spec, arguments[len(path) :]
    return None


def run(arguments: Sequence[str]) -> bool:
    """Run the command *arguments* name if it is one of FAST_COMMANDS and they parse plainly.

    Returns:
        False when typer's command line is to take the arguments (nothing was run).
    """
    found = _command(arguments)
    if found is None:
        return False
    spec, rest = found
    try:
        values = parse(spec, rest)
    except Declined:
        return False
    from ..cli_common import fast_params

    given = fast_params.set(values)
    try:
        spec.load()(**values)
    except (KeyboardInterrupt, EOFError):  # as click's standalone mode ends them
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:  # `vmsim ps | head`: as click, exit 1 with no traceback
        # (the Python documentation's recipe: stdout's last flush at exit must not fail again)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    finally:
        fast_params.reset(given)  # a typer command run after it reads click's context again
    return True


def end_process() -> NoReturn:
    """End the process after a command `run` ran: exit handlers run, the interpreter's own
    teardown does not.

    Tearing the interpreter down (the dicts of some 400 modules, grpc's core) is work whose
    result nobody waits for, and it cost `vmsim ps` about a tenth of its whole time, more than
    printing its table. What must happen still does: atexit's handlers run (the library's and
    the user's; atexit has no public call for that), stdout and stderr are flushed.
    """
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        os._exit(1)
    os._exit(0)
