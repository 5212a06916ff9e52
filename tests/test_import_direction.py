"""The layering of DESIGN.md section 2: the kernel knows no network, the client knows no kernel.

The lab exercises (server/vmsim_lab) sit beside the kernel: they use it, never grpc or the
client. The client's offline commands reach an in-process server only through the
`vmsim.embedded` entry point, never by importing (or naming) a server-side package.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "client" / "vmsim"
KERNEL = ROOT / "server" / "vmsim_kernel"
SERVER = ROOT / "server" / "vmsim_server"
LAB = ROOT / "server" / "vmsim_lab"
SERVER_SIDE = {"vmsim_kernel", "vmsim_server", "vmsim_lab", "vmsim_teach"}


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The syntax tree of *path*, parsed once for every test of the file (the sources do not
    change during a run; re-parsing all of them in each test cost seconds of the fast tier)."""
    return ast.parse(path.read_text(), filename=str(path))


@functools.cache
def imported_roots(path: Path) -> frozenset[str]:
    """Top-level packages that *path* imports (absolute imports only, at any depth in the file)."""
    roots: set[str] = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return frozenset(roots)


def modules(package: Path) -> list[Path]:
    found = sorted(package.rglob("*.py"))
    assert found, f"no modules under {package}"
    return found


def test_kernel_imports_no_network_no_client_and_no_clock() -> None:
    forbidden = {"grpc", "vmsim", "vmsim_server", "time", "datetime", "socket", "asyncio"}
    for path in modules(KERNEL):
        assert not imported_roots(path) & forbidden, path.relative_to(ROOT)


def test_client_never_imports_the_kernel_or_the_server() -> None:
    for path in modules(CLIENT):
        assert not imported_roots(path) & SERVER_SIDE, path.relative_to(ROOT)


def _below_own_package(target: ast.expr) -> bool:
    """An f-string that starts with `{__name__}.`: a submodule of the importing package."""
    if not isinstance(target, ast.JoinedStr) or len(target.values) < 2:
        return False
    head, dot = target.values[0], target.values[1]
    return (
        isinstance(head, ast.FormattedValue)
        and isinstance(head.value, ast.Name)
        and head.value.id == "__name__"
        and isinstance(dot, ast.Constant)
        and str(dot.value).startswith(".")
    )


def test_client_does_not_import_a_server_package_dynamically() -> None:
    """importlib.import_module("vmsim_server...") would dodge the import check.

    (Naming the server module to run it as a separate process, `python -m vmsim_server`, is
    not an import and stays allowed.)
    """
    for path in modules(CLIENT):
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "__import__") and node.args:
                target = node.args[0]
                if _below_own_package(target):
                    continue  # vmsim/__init__.py's lazy names: f"{__name__}.{module}"
                assert isinstance(target, ast.Constant), (path.relative_to(ROOT), "computed import")
                assert str(target.value).split(".")[0] not in SERVER_SIDE, path.relative_to(ROOT)


def test_the_offline_path_is_the_embedded_entry_point_into_the_server() -> None:
    from importlib.metadata import entry_points

    from vmsim.offline import ENTRY_POINT_GROUP

    # a whole server; the pure calls (replay, exercises) answered in-process, and the practice
    # questions as plain records (no protobuf, for `vmsim lab question`): nothing else
    found = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(found) == {"server", "calls", "questions"}
    assert all(value.split(".")[0] == "vmsim_server" for value in found.values())


def test_lab_uses_the_kernel_but_no_network_and_no_client() -> None:
    forbidden = {"grpc", "vmsim", "vmsim_server", "time", "socket", "asyncio"}
    for path in modules(LAB):
        assert not imported_roots(path) & forbidden, path.relative_to(ROOT)
    assert any("vmsim_kernel" in imported_roots(path) for path in modules(LAB))


def test_generated_code_imports_only_protobuf_grpc_and_itself() -> None:
    for path in modules(COMMON / "v1"):
        assert imported_roots(path) <= {
            "google",
            "grpc",
            "vmsim_proto",
            "__future__",
            "warnings",
        }, path.relative_to(ROOT)


def test_grpc_stays_in_the_server_package_on_the_server_side() -> None:
    assert any("grpc" in imported_roots(path) for path in modules(SERVER))
    assert not any("grpc" in imported_roots(path) for path in modules(KERNEL))


COMMON = ROOT / "common" / "vmsim_proto"


def test_the_shared_parsers_import_neither_side_nor_the_network() -> None:
    for path in modules(COMMON):
        if "v1" in path.relative_to(COMMON).parts:
            continue  # the generated code imports protobuf and grpc
        assert not imported_roots(path) & {"vmsim", "vmsim_kernel", "vmsim_server", "grpc"}, (
            path.relative_to(ROOT)
        )


def module_name(path: Path) -> str:
    """The dotted name of the module at *path* under server/ (a package is its __init__)."""
    parts = path.relative_to(ROOT / "server").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (annotations only: no import at run time)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                hidden |= {id(inner) for inner in ast.walk(statement)}
    return hidden


@functools.cache
def imported_modules(path: Path, *, at_run_time: bool) -> frozenset[str]:
    """The dotted names *path* imports, relative imports resolved; `from package import name`
    counts package.name too, since name may be a submodule. *at_run_time*: leave out what
    only `if TYPE_CHECKING:` imports."""
    tree = parsed(path)
    hidden = type_checking_only(tree) if at_run_time else set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names |= {f"{target}.{alias.name}" for alias in node.names}
    return frozenset(names)


def kernel_import_graph(*, at_run_time: bool) -> dict[str, set[str]]:
    """Each vmsim_kernel module -> the vmsim_kernel modules it imports."""
    paths = {module_name(path): path for path in modules(KERNEL)}
    return {
        name: {
            target
            for target in imported_modules(path, at_run_time=at_run_time)
            if target in paths and target != name
        }
        for name, path in paths.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds a cycle."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                lowlink[node] = min(lowlink[node], lowlink[target])
            elif target in stack:
                lowlink[node] = min(lowlink[node], index[target])
        if lowlink[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle_and_passes_a_chain() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_among_kernel_modules() -> None:
    """A layer imports only what lies below it (memory -> vmscan -> oom_kill -> exit -> unmap):
    a module that imports, even inside a function, a module that imports it back is a cycle.
    Imports for annotations only (`if TYPE_CHECKING:`) are not imports at run time."""
    graph = kernel_import_graph(at_run_time=True)
    assert {"vmsim_kernel.mm.memory", "vmsim_kernel.kernel.exit"} <= set(graph)
    assert import_cycles(graph) == []


# The kernel as the services see it: Machine and the value types it hands out (machine.py's
# __all__), the results, the errors, the configuration and the package root.
MACHINE_SURFACE = {
    "vmsim_kernel",
    "vmsim_kernel.machine",
    "vmsim_kernel.results",
    "vmsim_kernel.errors",
    "vmsim_kernel.config",
}


def test_the_services_use_the_kernel_only_through_the_machine_surface() -> None:
    for path in modules(SERVER):
        kernel_imports = {
            name
            for name in imported_modules(path, at_run_time=False)
            if name.split(".")[0] == "vmsim_kernel"
        }
        # `from vmsim_kernel import Machine` also lists vmsim_kernel.Machine: a name, not a module
        reached = {
            name for name in kernel_imports if name.rpartition(".")[0] not in MACHINE_SURFACE
        }
        assert reached <= MACHINE_SURFACE, (path.relative_to(ROOT), reached - MACHINE_SURFACE)
        assert ".kernel." not in path.read_text().replace("vmsim_kernel.", ""), (
            path.relative_to(ROOT),
            "reads machine.kernel: use a Machine method",
        )


# The syscall surface (machine.py, entered through entry.py) and what drives it from outside:
# a journal replays calls on a Machine, the package exports it.
SYSCALL_SURFACE_USERS = {
    "machine.py",
    "entry.py",
    "journal.py",
    "__init__.py",
}


def test_the_kernel_state_and_the_mm_code_never_reach_up_into_the_syscall_surface() -> None:
    """A fault travels down (Machine -> memory -> page_alloc / vmscan -> swap): every kernel
    module but the syscall surface and its drivers takes a Kernel (init/main.py), never a
    Machine."""
    below = [
        path
        for path in modules(KERNEL)
        if path.name not in SYSCALL_SURFACE_USERS or path.parent != KERNEL
    ]
    assert {"memory.py", "vmscan.py", "swap.py", "page_alloc.py", "main.py"} <= {
        path.name for path in below
    }
    for path in below:
        assert "vmsim_kernel.machine" not in imported_modules(path, at_run_time=False), (
            path.relative_to(ROOT)
        )
        assert "Machine" not in {
            node.id for node in ast.walk(parsed(path)) if isinstance(node, ast.Name)
        }, path.relative_to(ROOT)


def test_the_kernel_never_imports_the_teaching_tools() -> None:
    """They build on it (the package root names replay for the public API, loaded lazily)."""
    for path in modules(KERNEL):
        imported = imported_modules(path, at_run_time=True)
        assert not any(name.split(".")[0] == "vmsim_teach" for name in imported), path


def test_the_server_side_never_imports_the_client_package() -> None:
    """The generated code lives in the neutral vmsim_proto, not in the client's package."""
    for package in (SERVER, KERNEL, LAB):
        for path in modules(package):
            assert "vmsim" not in imported_roots(path), path.relative_to(ROOT)
    assert (COMMON / "v1" / "process_pb2.py").exists()
    assert not (CLIENT / "v1").exists()


def _client_module_name(path: Path) -> str:
    parts = path.relative_to(CLIENT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of *tree* outside `if TYPE_CHECKING:` blocks (imports for annotations only
    never run, so they make no import-time cycle)."""
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for child in ast.walk(statement)
    }
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def _client_imports(path: Path, known: set[str]) -> set[str]:
    """The client modules *path* imports (relative or absolute), at any depth in the file,
    outside `if TYPE_CHECKING:` blocks."""
    name = _client_module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(parsed(path)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # `from . import calls` names a module (its package's __init__ runs first, as for
            # any submodule: not an edge); `from .cli_common import guarded` names a value.
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found |= submodules or ({target} & known)
    return found - {name}


def test_client_modules_import_each_other_without_a_cycle() -> None:
    """The client's layers only call down (STYLE.md 13): cli -> lab_cli -> cli was a cycle."""
    import graphlib

    paths = modules(CLIENT)
    known = {_client_module_name(path) for path in paths}
    graph = {_client_module_name(path): _client_imports(path, known) for path in paths}
    assert "vmsim.lab_cli" in graph["vmsim.cli.group"]  # the graph sees the imports
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle
