"""vmsim_server: the gRPC service around one simulated machine (a thin adapter over vmsim_kernel).

Importing the package is cheap: the names below load on first use (PEP 562), so a module of
it used alone (exercises.py and replay_rpc.py, for the client's offline `vmsim lab` and
`vmsim replay`) does not start by importing the whole server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmsim_proto.lazy import lazy_names

if TYPE_CHECKING:
    from .main import RunningServer, main, serve
    from .settings import ServerSettings, parse_settings

__all__ = ["RunningServer", "ServerSettings", "main", "parse_settings", "serve"]

# public name -> the module that defines it
_LAZY = {
    "RunningServer": "main",
    "main": "main",
    "serve": "main",
    "ServerSettings": "settings",
    "parse_settings": "settings",
}

if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name
    __getattr__, __dir__ = lazy_names(globals(), _LAZY)
