"""The `vmsim` help and usage vocabulary, as click and the procps tools print it.

Typer labels every value with its Python type (`--addr <str>`, `--help <bool>`), wraps a
required argument in braces (`vmsim pmap [OPTIONS] {pid}`) and reports a bad number in
pydantic's words. The classes here give click's conventions instead: `--addr HOST:PORT`,
flags with no label, `vmsim pmap [OPTIONS] PID`, and "'x' is not a number".
`Group` applies them to every command below it, including groups built elsewhere (lab).
`LazyGroup` builds a command only when it is named, so `vmsim ps` imports the ps module and
not the lab's, the load generator's or the dashboard's; and plain text and numbers are
converted without pydantic (see `_PlainRuntimeParam`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
from typer._click.core import Command as ClickCommand
from typer._click.core import Context
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer.core import (
    TyperArgument,
    TyperCommand,
    TyperGroup,
    TyperOption,
    _TyperParameter,  # the base of both: _PlainParameter overrides its conversion
)
from typer.models import CommandInfo

from .spec import ADDRESS, JSON, OPTIONAL_ADDRESS, REQUIRED, CommandSpec, Param, plain_value

__all__ = [
    "Address",
    "AdminToken",
    "App",
    "Command",
    "CommandSource",
    "Group",
    "JsonFlag",
    "LazyGroup",
    "OptionalAddress",
    "Pid",
    "parameter_info",
    "typer_annotation",
    "typer_command",
    "version_callback",
]

# click's names for value types, as `--count INTEGER` reads in any click program's help
_TYPE_LABELS: dict[Any, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}
_TYPE_WORDS: dict[Any, str] = {
    int: "a whole number (e.g. 3)",
    float: "a number (e.g. 2 or 0.5)",
}


def _plain_value_error(param: _PlainParameter, value: Any, error: BadParameter) -> None:
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


@dataclass(frozen=True)
class _PlainRuntimeParam(RuntimeParam):
    """Text, whole numbers, numbers and flags converted without pydantic, as click's types did.

    typer converts every value through a pydantic TypeAdapter: importing pydantic and
    building the adapters costs a short command (`vmsim ps`) more than its own work. A value
    this cannot take exactly as pydantic would (another spelling, out of range) goes to
    typer's conversion, so answers and error messages stay what they were.
    """

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        converted = plain_value(self.annotation, value)
        info = self.parameter_info
        in_range = converted is not None and (
            self.annotation in (str, bool)
            or (
                (info.min is None or converted >= info.min)
                and (info.max is None or converted <= info.max)
            )
        )
        if in_range:
            return converted
        return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)


def _runtime_param(param: _TyperParameter) -> RuntimeParam:
    """The plain conversion when the parameter is one str, int, float or bool, else typer's."""
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    plain = (
        descriptor.annotation in (str, int, float, bool)
        and info.parser is None
        and not info.clamp
        and not descriptor.is_path
        and param.nargs == 1
        and not param.multiple
    )
    if plain:
        return _PlainRuntimeParam(info, descriptor.annotation, descriptor)
    return build_runtime_param(descriptor)


class _PlainParameter(_TyperParameter):
    """A parameter whose plain values are converted without pydantic (`_PlainRuntimeParam`)
    and whose failed conversion is reported in click's words (`_plain_value_error`)."""

    if TYPE_CHECKING:  # TyperArgument and TyperOption each define it, after this in the MRO

        def _get_number_range_help_str(self) -> str | None: ...

    def get_runtime_param(self) -> RuntimeParam:
        if self._runtime_param is None:
            self._runtime_param = _runtime_param(self)
        return self._runtime_param

    def process_value(self, ctx: Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except BadParameter as error:
            _plain_value_error(self, value, error)


class _Argument(_PlainParameter, TyperArgument):
    """A positional argument named in capitals, bare when required: `PID`, `[DELAY]`."""

    def display_type_rich(self, ctx: Context) -> str | None:
        return None  # the name column says it already

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name


class _Option(_PlainParameter, TyperOption):
    """An option labelled by its metavar or click's type name; a flag has no label."""

    def display_type_rich(self, ctx: Context) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        return _TYPE_LABELS.get(self.type_descriptor.annotation, "TEXT")


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


@dataclass(frozen=True)
class CommandSource:
    """Where a command of a `LazyGroup` comes from: the typer app that declares it.

    Attributes:
        load: imports the app's module and returns the app.
        whole_app: the app is the command (a group of its own, `vmsim lab ...`); otherwise
            the command is the one of that name among the app's commands (`vmsim ps`).
    """

    load: Callable[[], typer.Typer]
    whole_app: bool = False

    def command(self, name: str) -> ClickCommand:
        """The click command *name*, built from the loaded app with the vocabulary above.

        Of an app of several commands only *name* is built, as typer's get_group would build
        it: building them all (their parameters read from each signature) cost `vmsim ps`
        several milliseconds for six commands it does not run.

        Raises:
            KeyError: the app has no command *name*.
        """
        app = self.load()
        command: ClickCommand
        if self.whole_app:
            command = typer.main.get_group(app)
            command.name = name
        else:
            command = typer.main.get_command_from_info(
                _registered(app, name),
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
        _adopt(command)
        return command


def _registered(app: typer.Typer, name: str) -> CommandInfo:
    """The command of *app* that typer names *name* (its given name, or the function's)."""
    for info in app.registered_commands:
        if info.callback is not None and name == (
            info.name or typer.main.get_command_name(info.callback.__name__)
        ):
            return info
    raise KeyError(name)


class _LazyCommands(MutableMapping[str, ClickCommand]):
    """Command name -> command, each built on its first lookup from its `CommandSource`.

    The group's `commands` itself, so click's lookup, typer's "Did you mean" and the help
    listing all see every name while only the command that runs is imported.
    """

    def __init__(self, sources: Mapping[str, CommandSource]) -> None:
        self._sources = dict(sources)
        self._order = list(sources)
        self._built: dict[str, ClickCommand] = {}

    def __getitem__(self, name: str) -> ClickCommand:
        if name not in self._built:
            self._built[name] = self._sources[name].command(name)  # KeyError: no such command
        return self._built[name]

    def __setitem__(self, name: str, command: ClickCommand) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._built.pop(name, None)
        self._sources.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


class LazyGroup(Group):
    """A `Group` whose commands are imported when named (click's lazy-loading pattern).

    Subclasses set `sources`: command name -> CommandSource, in the order of the help.
    """

    sources: ClassVar[Mapping[str, CommandSource]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        eager = dict(self.commands)
        self.commands = _LazyCommands(self.sources)
        self.commands.update(eager)


class App(typer.Typer):
    """A typer app whose click group is a `Group` (help without type placeholders)."""

    def __init__(self, cls: type[Group] = Group, **kwargs: Any) -> None:
        super().__init__(cls=cls, add_completion=False, no_args_is_help=True, **kwargs)


def version_callback(show: bool) -> None:
    """`vmsim --version`: the installed package's version, then exit."""
    if show:
        from importlib.metadata import version

        typer.echo(f"vmsim {version('vmsim')}")
        raise typer.Exit()


def parameter_info(param: Param) -> Any:
    """typer's declaration of *param*: its `typer.Option(...)`, or `typer.Argument(...)`."""
    if not param.flags:
        return typer.Argument(help=param.help, metavar=param.metavar)
    return typer.Option(
        *param.flags,
        help=param.help,
        metavar=param.metavar,
        envvar=param.envvar,
        min=param.min,
        max=param.max,
    )


def typer_annotation(param: Param) -> Any:
    """*param* as typer reads a parameter: `Annotated[type, typer.Option(...)]`."""
    value_type = param.type | None if param.default is None else param.type
    return Annotated[value_type, parameter_info(param)]


def typer_command(spec: CommandSpec) -> Callable[..., None]:
    """A function for `app.command()` that declares *spec*'s parameters and runs *spec*.

    typer reads a command's parameters off its function's signature: this one's is made
    from the spec, so `vmsim ps --help` and the argparse front end (cli/fast.py) show and
    take the same options, with the same defaults, and run the same function.
    """

    def command(**values: Any) -> None:
        spec.load()(**values)

    parameters = [
        inspect.Parameter(
            param.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty if param.default is REQUIRED else param.default,
            annotation=typer_annotation(param),
        )
        for param in spec.params
    ]
    command.__name__ = spec.path[-1].replace("-", "_")
    command.__doc__ = spec.help
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return command


# The options every command shares.
Address = Annotated[str, parameter_info(ADDRESS)]
OptionalAddress = Annotated[str | None, parameter_info(OPTIONAL_ADDRESS)]
JsonFlag = Annotated[bool, parameter_info(JSON)]
Pid = Annotated[int, typer.Argument(help="process id (see `vmsim ps`)")]
AdminToken = Annotated[
    str,
    typer.Option(
        envvar="VMSIM_ADMIN_TOKEN",
        metavar="TOKEN",
        help="the server's admin token (better: --admin-token-file or VMSIM_ADMIN_TOKEN_FILE)",
    ),
]
