"""The `vmsim` help and usage vocabulary, as click and the procps tools print it.

Typer labels every value with its Python type (`--addr <str>`, `--help <bool>`), wraps a
required argument in braces (`vmsim pmap [OPTIONS] {pid}`) and reports a bad number in
pydantic's words. The classes here give click's conventions instead: `--addr HOST:PORT`,
flags with no label, `vmsim pmap [OPTIONS] PID`, and "'x' is not a number".
`Group` applies them to every command below it, including groups built elsewhere (lab).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer._click.core import Context
from typer._click.exceptions import BadParameter
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["App", "Command", "Group", "version_callback"]

# click's names for value types, as `--count INTEGER` reads in any click program's help
_TYPE_LABELS: dict[Any, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}
_TYPE_WORDS: dict[Any, str] = {
    int: "a whole number (e.g. 3)",
    float: "a number (e.g. 2 or 0.5)",
}


def _plain_value_error(param: TyperArgument | TyperOption, value: Any, error: BadParameter) -> None:
    """Re-raise a failed conversion in the command line's words (pydantic's are not ours)."""
    # typer converts with pydantic: its ValidationError is the cause (named, not imported:
    # pydantic is typer's dependency, not ours)
    if error.__cause__ is None or type(error.__cause__).__name__ != "ValidationError":
        raise error
    annotation = param.type_descriptor.annotation
    shown = value[0] if isinstance(value, list | tuple) and len(value) == 1 else value
    limits = param._get_number_range_help_str()
    if limits and _parses_as(annotation, shown):
        raise BadParameter(f"{shown} is not in the range {limits}", param=param) from None
    allowed = _TYPE_WORDS.get(annotation, f"a valid {_TYPE_LABELS.get(annotation, 'value')}")
    if limits:
        allowed += f" in the range {limits}"
    raise BadParameter(f"{shown!r} is not {allowed}", param=param) from None


def _parses_as(annotation: Any, value: Any) -> bool:
    try:
        annotation(value)
    except (TypeError, ValueError):
        return False
    return True


class _Argument(TyperArgument):
    """A positional argument named in capitals, bare when required: `PID`, `[DELAY]`."""

    def display_type_rich(self, ctx: Context) -> str | None:
        return None  # the name column says it already

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name

    def process_value(self, ctx: Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except BadParameter as error:
            _plain_value_error(self, value, error)


class _Option(TyperOption):
    """An option labelled by its metavar or click's type name; a flag has no label."""

    def display_type_rich(self, ctx: Context) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        return _TYPE_LABELS.get(self.type_descriptor.annotation, "TEXT")

    def process_value(self, ctx: Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except BadParameter as error:
            _plain_value_error(self, value, error)


def _adopt(command: Any) -> None:
    """Give *command*, its parameters and its subcommands the vocabulary above."""
    if isinstance(command, TyperGroup) and not isinstance(command, Group):
        command.__class__ = Group
    elif isinstance(command, TyperCommand) and not isinstance(command, Command):
        command.__class__ = Command
    for param in command.params:
        if isinstance(param, TyperArgument) and not isinstance(param, _Argument):
            param.__class__ = _Argument
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
        elif isinstance(param, TyperOption) and not isinstance(param, _Option):
            param.__class__ = _Option
    for sub in getattr(command, "commands", {}).values():
        _adopt(sub)


def _adopted_help_option(option: Any) -> Any:
    if isinstance(option, TyperOption) and not isinstance(option, _Option):
        option.__class__ = _Option
    return option


class Command(TyperCommand):
    """A command whose help follows click's conventions (see the module docstring)."""

    def get_help_option(self, ctx: Context) -> Any:
        return _adopted_help_option(super().get_help_option(ctx))


class Group(TyperGroup):
    """A command group that brings every command below it to click's conventions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adopt(self)

    def get_help_option(self, ctx: Context) -> Any:
        return _adopted_help_option(super().get_help_option(ctx))


class App(typer.Typer):
    """A typer app whose click group is a `Group` (help without type placeholders)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=Group, add_completion=False, no_args_is_help=True, **kwargs)


def version_callback(show: bool) -> None:
    """`vmsim --version`: the installed package's version, then exit."""
    if show:
        from importlib.metadata import version

        typer.echo(f"vmsim {version('vmsim')}")
        raise typer.Exit()
