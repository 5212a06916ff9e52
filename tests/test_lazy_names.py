"""vmsim_proto.lazy: the PEP 562 loader vmsim, vmsim_server and vmsim_lab share."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = """
from vmsim_proto.lazy import lazy_names

__all__ = ["Widget", "main", "parts", "make"]
__getattr__, __dir__ = lazy_names(globals(), {"Widget": "main", "main": "main", "make": "factory"}, ("parts",))
"""


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(PACKAGE)
    (root / "main.py").write_text("class Widget: ...\n\ndef main() -> str:\n    return 'main'\n")
    (root / "factory.py").write_text("def make() -> int:\n    return 7\n")
    (root / "parts.py").write_text("WHEELS = 4\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "lazypkg"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "lazypkg" or m.startswith("lazypkg.")]:
            del sys.modules[name]


def test_a_name_loads_its_module_on_first_use_with_the_names_beside_it(package: str) -> None:
    module = importlib.import_module(package)
    assert f"{package}.main" not in sys.modules and f"{package}.factory" not in sys.modules
    assert module.Widget.__name__ == "Widget"
    assert f"{package}.main" in sys.modules and f"{package}.factory" not in sys.modules
    # main, bound with Widget, is the function, not the submodule of the same name
    assert vars(module)["main"]() == "main"
    assert module.make() == 7


def test_a_submodule_loads_on_first_use_and_an_unknown_name_is_an_attribute_error(
    package: str,
) -> None:
    module = importlib.import_module(package)
    assert module.parts.WHEELS == 4
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        module.nothing  # noqa: B018
    assert {"Widget", "main", "parts", "make"} <= set(dir(module))
