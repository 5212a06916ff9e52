"""Does a command import only what it uses (issue 23, CLI start-up)?

`vmsim ps` needs grpc, the messages and the table printer: not typer, numpy, the asyncio
client, pydantic or any server-side package. `vmsim lab question` offline needs the one
generator and the kernel it drives: not grpc, typer, the server, its worker processes or the
other generators. Both pin the packages they load beyond the interpreter's (or grpc's) own.
The subprocess tests read `sys.modules` of a fresh `vmsim` process, never its times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import typer
from tests.fresh_python import run_fresh_python
from tests.service.conftest import StartServer
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param
from typer.core import TyperOption

import vmsim
import vmsim.cli
from vmsim import offline
from vmsim.cli import COMMANDS
from vmsim.lab import Exercises

# The `vmsim` console script, run in a child with sys.modules written to a file at exit.
_RUN_CLI = """
import atexit, json, sys
modules_file, *arguments = sys.argv[1:]

def record():
    with open(modules_file, "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(record)
sys.argv = ["vmsim", *arguments]
from vmsim.cli import main
main()
"""

# What no /proc-reading command may import.
NOT_FOR_PS = (
    "numpy",
    "vmsim.aio",
    "pydantic",
    "typer._adapters",
    "vmsim_kernel",
    "vmsim_server",
    "vmsim_lab",
    "vmsim_teach",
    "vmsim.lab",
    "vmsim.load",
    "rich.live",
    # read only when a call fails: the error mapping and its googleapis messages
    "grpc_status",
    "google.rpc.error_details_pb2",  # (status_pb2 is a message of process.proto)
    # the stubs and messages of services these commands never call
    "vmsim_proto.v1.lab_pb2",
    "vmsim_proto.v1.kernel_pb2",
    "vmsim_proto.v1.process_pb2_grpc",
    "vmsim_proto.v1.admin_pb2_grpc",
    "html",  # the standard library's, for notebooks' _repr_html_ only
)


def modules_of_command(tmp_path: Path, *arguments: str) -> tuple[str, set[str]]:
    """(stdout, the modules loaded) of `vmsim ARGUMENTS` in a fresh interpreter."""
    modules_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN_CLI, str(modules_file), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, set(json.loads(modules_file.read_text()))


def loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(f"{package}."))


def packages_beyond(modules: set[str], code: str) -> set[str]:
    """The top-level packages outside the standard library in *modules* that a fresh
    `python -c CODE` does not load (the interpreter's own start-up, or grpc's, say)."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    baseline = {name.partition(".")[0] for name in done.stdout.split()}
    return {name.partition(".")[0] for name in modules} - baseline - set(sys.stdlib_module_names)


# The only packages beyond `import grpc` that `vmsim ps` may load: the messages (protobuf),
# the table printer, and its own. Not typer, click or pydantic (the argparse front end runs
# it: cli/fast.py), nor numpy, structlog or the server's.
PS_PACKAGES = {"google", "rich", "vmsim", "vmsim_proto"}
# The only packages `vmsim lab question` (offline) may load: the generator and the kernel's
# constants, and the in-process entry point of the server package that answers with plain
# records. Not protobuf (google), grpc or numpy: translate models its machine
# (vmsim_lab/translate.py) rather than boot one, and the questions arrive as plain data
# (vmsim_proto.questions), as OSTEP's generator script prints its own (issue 23).
LAB_QUESTION_PACKAGES = {"vmsim", "vmsim_kernel", "vmsim_lab", "vmsim_proto", "vmsim_server"}
# Standard modules that cost the offline question a large part of OSTEP's whole run: the
# dataclass machinery (inspect, ast, dis: a third of it), importlib.metadata.
NOT_FOR_THE_OFFLINE_QUESTION = ("dataclasses", "inspect", "importlib.metadata")


@pytest.mark.subprocess
def test_ps_imports_no_numpy_asyncio_client_pydantic_or_server(
    tmp_path: Path, server_address: str
) -> None:
    out, modules = modules_of_command(tmp_path, "ps", "--addr", server_address)
    assert "PID" in out
    assert "grpc" in modules and "vmsim.cli.ps" in modules  # it did its work
    for package in (*NOT_FOR_PS, "typer"):
        assert not loaded(modules, package), package
    assert packages_beyond(modules, "import grpc") == PS_PACKAGES
    assert "argparse" in modules and "vmsim.cli.group" not in modules  # the fast front end


@pytest.mark.subprocess
def test_free_and_meminfo_import_no_numpy_asyncio_client_pydantic_or_server(
    tmp_path: Path, server_address: str
) -> None:
    for command in (["free"], ["stat", "meminfo"], ["vmstat", "1", "1"]):
        _, modules = modules_of_command(tmp_path, *command, "--addr", server_address)
        for package in (*NOT_FOR_PS, "rich"):  # plain text: no table printer either
            assert not loaded(modules, package), (command, package)


@pytest.mark.subprocess
def test_lab_question_offline_imports_its_generator_and_no_server(tmp_path: Path) -> None:
    out, modules = modules_of_command(
        tmp_path, "lab", "question", "translate", "--seed", "7", "--answers"
    )
    assert "--- translate question 1 ---" in out and "Working:" in out
    assert "vmsim_lab.translate" in modules
    # not the other generators, the server, its worker processes or the asyncio client
    for absent in (
        "vmsim_lab.allocators",
        "vmsim_lab.paging",
        "vmsim_lab.replacement",
        "vmsim_teach",
    ):
        assert not loaded(modules, absent), absent
    assert loaded(modules, "vmsim_server") == ["vmsim_server", "vmsim_server.in_process"]
    # nor the replay side of the one `calls` entry point
    for absent in ("vmsim_server.replay_rpc", "vmsim_teach"):
        assert not loaded(modules, absent), absent
    not_for_lab = (
        *("vmsim.aio", "vmsim.client", "vmsim.practice", "multiprocessing", "asyncio"),
        *("typer", "rich", "vmsim_proto.v1", "vmsim_proto.answers"),
        *NOT_FOR_THE_OFFLINE_QUESTION,
    )
    for absent in not_for_lab:
        assert not loaded(modules, absent), absent
    assert packages_beyond(modules, "pass") == LAB_QUESTION_PACKAGES


def test_import_vmsim_loads_names_on_first_use() -> None:
    script = (
        "import sys, vmsim\n"
        "before = sorted(m for m in sys.modules if m.startswith(('vmsim.', 'numpy', 'grpc')))\n"
        "assert vmsim.connect.__module__ == 'vmsim.client'\n"
        "print(before, 'numpy' in sys.modules, 'vmsim.aio' in sys.modules)"
    )
    done = run_fresh_python(script)
    # the constants and the exceptions (light, and every command raises or catches them)
    assert done.stdout.split() == ["['vmsim.constants',", "'vmsim.errors']", "False", "False"]


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in vmsim.__all__:
        assert getattr(vmsim, name) is not None, name
    assert set(vmsim.__all__) <= set(dir(vmsim))
    with pytest.raises(AttributeError):
        _ = vmsim.NoSuchName  # type: ignore[attr-defined]


def test_every_command_of_each_app_is_in_the_lazy_table() -> None:
    by_source: dict[object, set[str]] = {}
    for name, source in COMMANDS.items():
        by_source.setdefault(source, set()).add(name)
    for source, names in by_source.items():
        app = source.load()  # type: ignore[attr-defined]
        built = typer.main.get_group(app)
        if source.whole_app:  # type: ignore[attr-defined]
            assert len(names) == 1, names
        else:
            assert set(built.commands) == names, app


def test_lazy_group_lists_and_builds_every_command_in_help_order() -> None:
    group = typer.main.get_command(vmsim.cli.app)
    assert list(group.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    for name in COMMANDS:
        command = group.commands[name]  # type: ignore[attr-defined]
        assert command.name == name


def _probe_options() -> dict[str, TyperOption]:
    """Options of each plain kind, as typer builds them: i int, f float, s str, b bool, r 1..10."""
    probe = typer.Typer()

    @probe.command()
    def options(
        i: int = 0,
        f: float = 0.0,
        s: str = "",
        b: bool = False,
        r: Annotated[int, typer.Option(min=1, max=10)] = 1,
    ) -> None:
        """Never run."""

    command = typer.main.get_command(probe)
    return {param.name: param for param in command.params if isinstance(param, TyperOption)}


def _outcome(runtime: object, option: TyperOption, given: object) -> object:
    try:
        return runtime._coerce_value(given, param=option, ctx=None)  # type: ignore[attr-defined]
    except BadParameter as error:
        return ("error", error.message)


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("i", "3"),
        ("i", "-12"),
        ("i", "+7"),
        ("i", 5),
        ("i", "0x10"),
        ("i", "1.5"),
        ("i", " 3"),
        ("i", "٣"),
        ("i", "abc"),
        ("f", "2"),
        ("f", "0.5"),
        ("f", ".5"),
        ("f", "1e3"),
        ("f", 2.5),
        ("f", "inf"),
        ("f", "x"),
        ("s", "text"),
        ("s", ""),
        ("b", True),
        ("b", False),
        ("b", "yes"),
        ("r", "5"),
        ("r", "0"),
        ("r", "11"),
        ("r", "ten"),
    ],
)
def test_plain_conversion_gives_typers_value_or_its_error(name: str, given: object) -> None:
    """The pydantic-free conversion of cli/base.py answers as typer's own does, error included."""
    option = _probe_options()[name]
    ours = sys.modules["vmsim.cli.base"]._runtime_param(option)
    assert type(ours).__name__ == "_PlainRuntimeParam"
    theirs = build_runtime_param(option.type_descriptor)
    assert _outcome(ours, option, given) == _outcome(theirs, option, given)


@pytest.mark.slow
def test_offline_answers_are_the_servers(start_server: StartServer) -> None:
    """In-process ExerciseService and the served one: the same questions, checks and errors
    (and the same errors from the plain-record entry point: test_lab_question_offline.py
    compares its questions)."""
    served = start_server(client_heavy_calls_per_second=1000.0)
    with offline.exercises() as here, Exercises(served.address) as there:
        assert here.kinds() == there.kinds()
        for entry in here.kinds():
            asked = here.questions(entry.kind, 11, 2, with_answers=True)
            assert asked == there.questions(entry.kind, 11, 2, with_answers=True)
            assert here.questions(entry.kind, 11, 2) == there.questions(entry.kind, 11, 2)
            answers = {item.id: item.answer for item in asked[0].items}
            assert here.check(entry.kind, 11, 2, answers) == there.check(entry.kind, 11, 2, answers)
        for bad in (("nosuch", 1, 1), ("replace", 1, 51), ("translate", 1, 99)):
            with pytest.raises(vmsim.InvalidArgument) as offline_error:
                here.questions(*bad)
            with pytest.raises(vmsim.InvalidArgument) as plain_error:  # `vmsim lab question`'s
                offline.practice_questions(*bad, False)
            with pytest.raises(vmsim.InvalidArgument) as served_error:
                there.questions(*bad)
            for error in (offline_error.value, plain_error.value):
                assert str(error) == str(served_error.value)
                assert error.field == served_error.value.field


def test_an_install_without_the_calls_entry_point_practises_on_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with offline.exercises() as here:
        expected = here.questions("replace", 7, 1, with_answers=True)
    registered = offline._embedded
    monkeypatch.setattr(
        offline, "_embedded", lambda name: None if name == "calls" else registered(name)
    )
    with offline.exercises() as fallback:
        assert not isinstance(fallback._endpoint, type(here._endpoint))  # over loopback gRPC
        assert fallback.questions("replace", 7, 1, with_answers=True) == expected


@pytest.mark.subprocess
def test_replay_offline_imports_the_replay_calls_and_no_lab(tmp_path: Path) -> None:
    """One `calls` entry point for replay and lab, each method's module imported on its call."""
    trace = tmp_path / "trace.txt"
    trace.write_text("1\n2\n3\n1\n4\n1\n")
    out, modules = modules_of_command(
        tmp_path, "replay", "--policy", "lru", "--frames", "2", str(trace)
    )
    assert "misses" in out
    assert "vmsim_server.in_process" in modules and "vmsim_server.replay_rpc" in modules
    for absent in ("vmsim_server.exercises", "vmsim_lab", "vmsim_server.main"):
        assert not loaded(modules, absent), absent


def test_a_command_of_a_group_of_commands_is_built_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    build = typer.main.get_command_from_info

    def recording(command_info: typer.models.CommandInfo, **options: object) -> object:
        command = build(command_info, **options)  # type: ignore[arg-type]
        built.append(str(command.name))
        return command

    monkeypatch.setattr(typer.main, "get_command_from_info", recording)
    for name in ("ps", "smaps_rollup", "free"):
        built.clear()
        assert COMMANDS[name].command(name).name == name
        assert built == [name]
    with pytest.raises(KeyError):
        COMMANDS["ps"].command("nosuch")
