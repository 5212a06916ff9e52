"""A package's public names loaded on first use (PEP 562), for vmsim, vmsim_server and vmsim_lab.

`import package` then costs only the package's own module: a command that reads /proc, or a
module of the server used alone, does not pay for the parts of the package it never names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    namespace: MutableMapping[str, Any],
    homes: Mapping[str, str],
    submodules: Collection[str] = (),
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of the package whose globals are *namespace*.

    *homes* maps each lazily loaded public name to the submodule that defines it; the first
    use of a name imports its submodule and binds every name of that submodule in *namespace*
    at once, so later uses are plain globals, and a function named as its own submodule
    (vmsim_server.main) wins over the submodule, as with `from .main import main`. A name of
    *submodules* is that submodule, imported on first use. Only submodules of the package
    itself are imported.
    """
    package = str(namespace["__name__"])

    def load(name: str) -> object:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{home}")
        namespace.update({each: getattr(module, each) for each, at in homes.items() if at == home})
        return namespace[name]

    def names() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return load, names
