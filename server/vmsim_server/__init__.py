"""vmsim_server: the gRPC service around one simulated machine (a thin adapter over vmsim_kernel).

Importing the package is cheap: the names below load on first use (PEP 562), so a module of
it used alone (exercises.py and replay_rpc.py, for the client's offline `vmsim lab` and
`vmsim replay`) does not start by importing the whole server.
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
        """Load the module defining public *name* on first use and bind its names here."""
        home = _LAZY.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = importlib.import_module(home, __name__)
        # Every public name of that module at once: importing .main bound the attribute
        # `main` to the module, and the function must win, as with `from .main import main`.
        globals().update({each: getattr(module, each) for each, at in _LAZY.items() if at == home})
        return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
