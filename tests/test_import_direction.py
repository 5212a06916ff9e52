"""The layering of DESIGN.md section 2: the kernel knows no network, the client knows no kernel.

The lab exercises (server/vmsim_lab) sit beside the kernel: they use it, never grpc or the
client. The client's offline commands reach an in-process server only through the
`vmsim.embedded` entry point, never by importing (or naming) a server-side package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "client" / "vmsim"
KERNEL = ROOT / "server" / "vmsim_kernel"
SERVER = ROOT / "server" / "vmsim_server"
LAB = ROOT / "server" / "vmsim_lab"
SERVER_SIDE = {"vmsim_kernel", "vmsim_server", "vmsim_lab"}


def imported_roots(path: Path) -> set[str]:
    """Top-level packages that *path* imports (absolute imports only, at any depth in the file)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


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


def test_client_does_not_import_a_server_package_dynamically() -> None:
    """importlib.import_module("vmsim_server...") would dodge the import check.

    (Naming the server module to run it as a separate process, `python -m vmsim_server`, is
    not an import and stays allowed.)
    """
    for path in modules(CLIENT):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "__import__") and node.args:
                target = node.args[0]
                assert isinstance(target, ast.Constant), (path.relative_to(ROOT), "computed import")
                assert str(target.value).split(".")[0] not in SERVER_SIDE, path.relative_to(ROOT)


def test_the_offline_path_is_the_embedded_entry_point_into_the_server() -> None:
    from importlib.metadata import entry_points

    from vmsim.offline import ENTRY_POINT_GROUP

    (found,) = entry_points(group=ENTRY_POINT_GROUP, name="server")
    assert found.value.split(".")[0] == "vmsim_server"


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


def kernel_modules_imported(path: Path) -> set[str]:
    """The vmsim_kernel modules *path* imports (relative or absolute, TYPE_CHECKING included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                names.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import memory, vmscan
                names |= {alias.name for alias in node.names}
            elif node.module and node.module.startswith("vmsim_kernel."):
                names.add(node.module.split(".")[1])
    return names


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
    module but the syscall surface and its drivers takes a kernel.Kernel, never a Machine."""
    below = [path for path in modules(KERNEL) if path.name not in SYSCALL_SURFACE_USERS]
    assert {"memory.py", "vmscan.py", "swap.py", "page_alloc.py", "main.py"} <= {
        path.name for path in below
    }
    for path in below:
        assert "machine" not in kernel_modules_imported(path), path.relative_to(ROOT)
        assert "Machine" not in {
            node.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Name)
        }, path.relative_to(ROOT)


def test_the_server_side_never_imports_the_client_package() -> None:
    """The generated code lives in the neutral vmsim_proto, not in the client's package."""
    for package in (SERVER, KERNEL, LAB):
        for path in modules(package):
            assert "vmsim" not in imported_roots(path), path.relative_to(ROOT)
    assert (COMMON / "v1" / "process_pb2.py").exists()
    assert not (CLIENT / "v1").exists()
