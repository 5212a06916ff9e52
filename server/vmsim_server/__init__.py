"""vmsim_server: the gRPC service around one simulated machine (a thin adapter over vmsim_kernel).

The names below load on first use (PEP 562), so that a process needing one light module of
the server (replay_rpc, for the client's offline `vmsim replay`) does not import all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .main import RunningServer, main, serve
    from .settings import ServerSettings, parse_settings

__all__ = ["RunningServer", "ServerSettings", "main", "parse_settings", "serve"]

_HOMES = {
    "RunningServer": ".main",
    "main": ".main",
    "serve": ".main",
    "ServerSettings": ".settings",
    "parse_settings": ".settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home, __name__)
    # Every name of that module at once: importing .main set the attribute `main` to the
    # module, and the function must win, as it did with a plain `from .main import main`.
    globals().update({each: getattr(module, each) for each, at in _HOMES.items() if at == home})
    return globals()[name]
