"""The layering of DESIGN.md section 2: the kernel knows no network, the client knows no kernel."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_roots(package: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        if "v1" in path.relative_to(package).parts:
            continue
        roots: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = roots
    return found


def test_kernel_imports_no_network_and_no_clock() -> None:
    for path, roots in imported_roots(ROOT / "server" / "vmsim_kernel").items():
        assert not roots & {
            "grpc",
            "vmsim",
            "vmsim_server",
            "time",
            "datetime",
            "socket",
            "asyncio",
        }, path


def test_client_never_imports_the_kernel_or_the_server() -> None:
    for path, roots in imported_roots(ROOT / "client" / "vmsim").items():
        assert not roots & {"vmsim_kernel", "vmsim_server"}, path


def test_only_the_server_package_imports_grpc_on_the_server_side() -> None:
    server_roots = imported_roots(ROOT / "server" / "vmsim_server")
    assert any("grpc" in roots for roots in server_roots.values())
