"""vmsim_server: the gRPC service around one simulated machine (a thin adapter over vmsim_kernel).

Importing the package is cheap: the names below load on first use (PEP 562), so a module of
it used alone (embedded.py's in-process exercises for the client's offline commands) does
not start by importing the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .main import RunningServer, main, serve
    from .settings import ServerSettings, parse_settings

__all__ = ["RunningServer", "ServerSettings", "main", "parse_settings", "serve"]

# public name -> the module that defines it
_LAZY = {
    "RunningServer": ".main",
    "main": ".main",
    "serve": ".main",
    "ServerSettings": ".settings",
    "parse_settings": ".settings",
}

if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name

    def __getattr__(name: str) -> object:
        """Load the module defining public *name* on first use and keep the name bound here."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
