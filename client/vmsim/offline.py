"""Offline use: an in-process server for `vmsim lab` and `vmsim replay` when no --addr is given.

The client package never imports the server. The server package registers a context
manager under the `vmsim.embedded` entry point (`vmsim_server.embedded:embedded_server`);
this module looks it up by that name, starts it (a grpc.aio server on a free loopback port
in a background thread) and hands back its address, so every offline answer goes through
the same wire contract and the same code as a remote server's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

from .errors import VmsimError

__all__ = ["ENTRY_POINT_GROUP", "OfflineUnavailable", "embedded_address", "server_address"]

ENTRY_POINT_GROUP = "vmsim.embedded"


class OfflineUnavailable(VmsimError):
    """No embedded server is installed (the client was installed without the server)."""


@contextlib.contextmanager
def embedded_address() -> Iterator[str]:
    """Start the installed embedded server; yield its host:port; stop it after."""
    found = entry_points(group=ENTRY_POINT_GROUP, name="server")
    if not found:
        raise OfflineUnavailable(
            "offline use needs the vmsim server package installed (pip install vmsim); "
            "or pass --addr HOST:PORT to use a running server",
            "UNAVAILABLE",
        )
    start: Any = next(iter(found)).load()
    with start() as address:
        yield str(address)


@contextlib.contextmanager
def server_address(addr: str | None) -> Iterator[str]:
    """*addr* when given, else an embedded server's address for the duration."""
    if addr:
        yield addr
        return
    with embedded_address() as address:
        yield address
