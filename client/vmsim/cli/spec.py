"""Commands declared once for both command lines: typer's, and the argparse front end.

`vmsim ps` and `vmsim lab question` are what users run most and feel the start-up of:
importing typer (with its click and pydantic) costs more than `ps` does. Their options are
declared here, in plain data, and two front ends are made from the one declaration:
typer's command (cli/base.py, `typer_command`), which `vmsim --help`, help, usage errors and
every other command use; and the argparse parser of cli/fast.py, which runs these commands
when their arguments parse plainly. Both call the same function with the same values.

This module imports only the standard library: the fast front end reads it before anything.
Its records are NamedTuples, not dataclasses: a dataclass costs ~2 ms to create.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from ..constants import DEFAULT_ADDRESS

__all__ = [
    "ADDRESS",
    "COUNT",
    "FAST_COMMANDS",
    "JSON",
    "KIND",
    "LAB_QUESTION",
    "OPTIONAL_ADDRESS",
    "PS",
    "REQUIRED",
    "SEED",
    "CommandSpec",
    "Param",
    "plain_value",
]


REQUIRED: Any = ...  # the default of a required argument (typer's own marker)


class Param(NamedTuple):
    """One parameter of a command.

    Attributes:
        name: the keyword the command's function takes.
        type: str, int or bool (a bool is a flag).
        default: the value when it is not given; REQUIRED for a required argument.
        help: the help text.
        flags: the option's names ("--seed", "-s"); none for a positional argument.
        metavar: the value's label in the help (`--addr HOST:PORT`).
        envvar: the environment variable read when the option is not given.
        min, max: the range an int must fall in (what the wire's field holds), or None.
    """

    name: str
    type: type[str] | type[int] | type[bool]
    default: Any
    help: str
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    envvar: str | None = None
    min: int | None = None
    max: int | None = None

    def in_range(self, value: Any) -> bool:
        """Whether *value* is within min..max (always, for a parameter without a range)."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


# VMSIM_ADDR: the one variable of the address, here and in vmsim-server's settings.
ADDRESS = Param(
    "addr",
    str,
    DEFAULT_ADDRESS,
    "server host:port",
    ("--addr",),
    metavar="HOST:PORT",
    envvar="VMSIM_ADDR",
)
OPTIONAL_ADDRESS = Param(
    "addr",
    str,
    None,
    "server host:port (default: an in-process server, offline)",
    ("--addr",),
    metavar="HOST:PORT",
    envvar="VMSIM_ADDR",
)
JSON = Param("as_json", bool, False, "print JSON for machines", ("--json",))
# a practice question set (`vmsim lab question` and `vmsim lab check`)
KIND = Param("kind", str, REQUIRED, "exercise kind (see `vmsim lab list`)")
# The ranges the wire's uint64 and uint32 hold: outside them, a usage error, not a traceback.
SEED = Param(
    "seed", int, 0, "the seed: same seed, same questions", ("--seed", "-s"), min=0, max=2**64 - 1
)
COUNT = Param("count", int, 1, "number of questions", ("--count", "-n"), min=1, max=2**32 - 1)


class CommandSpec(NamedTuple):
    """A command of both front ends.

    Attributes:
        path: the words that name it after `vmsim` (("lab", "question")).
        help: its help text (the first line is its line in the group's help).
        params: its parameters, in the order of its help.
        load: imports the function that runs it and returns it; it takes the parameters
            by name and prints what the command prints.
    """

    path: tuple[str, ...]
    help: str
    params: tuple[Param, ...]
    load: Callable[[], Callable[..., None]]


def _ps() -> Callable[..., None]:
    from .ps import ps

    return ps


def _lab_question() -> Callable[..., None]:
    from .lab_question import lab_question

    return lab_question


PS = CommandSpec(
    ("ps",),
    "Live processes with their memory (kB) and fault counts.",
    (
        ADDRESS,
        JSON,
        Param(
            "show_all", bool, False, "also the processes that have ended (zombies)", ("--all", "-a")
        ),
    ),
    _ps,
)

LAB_QUESTION = CommandSpec(
    ("lab", "question"),
    "Print COUNT questions of KIND from SEED (with --answers: the answers and how to get them).",
    (
        KIND,
        SEED,
        COUNT,
        Param(
            "answers", bool, False, "also print the answers and the working", ("--answers", "-c")
        ),
        Param(
            "key",
            bool,
            False,
            "print only the answer key, in the format `vmsim lab check` reads",
            ("--key",),
        ),
        OPTIONAL_ADDRESS,
        JSON,
    ),
    _lab_question,
)

# The commands the argparse front end runs (cli/fast.py), by their words after `vmsim`.
FAST_COMMANDS: dict[tuple[str, ...], CommandSpec] = {spec.path: spec for spec in (PS, LAB_QUESTION)}


# The spellings Python and pydantic read alike; any other goes to typer's own conversion.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def plain_value(annotation: Any, value: Any) -> Any:
    """*value* as *annotation* (str, int, float or bool), or None if it is not plainly one.

    "Plainly": the way typer (through pydantic) would read it too. Anything else (another
    spelling of a number, "yes" for a flag) is for typer to convert or refuse.
    """
    if annotation is bool:  # a flag's value is a bool already; "yes" and such go to typer
        return value if isinstance(value, bool) else None
    if annotation is str:
        return value if isinstance(value, str) else None
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(value) if isinstance(value, str) and _INTEGER.fullmatch(value) else None
    if isinstance(value, float):
        return value
    return float(value) if isinstance(value, str) and _DECIMAL.fullmatch(value) else None
