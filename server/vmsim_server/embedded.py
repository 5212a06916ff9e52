"""An in-process server for the client's offline commands (`vmsim lab`, `vmsim replay`).

The client library never imports the server; it finds `embedded_server` through the
`vmsim.embedded` entry point (pyproject.toml) and talks to it over loopback gRPC exactly as
to a remote server, so offline and online answers come from the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from .main import serve
from .settings import ServerSettings

__all__ = ["EMBEDDED_SETTINGS", "embedded_server"]

# Small and quiet: the offline commands use the exercise generators and trace replay,
# which build their own machines; the served machine only has to exist.
EMBEDDED_SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    ram_bytes=16 << 20,
    swap_bytes=0,
    log_level="error",
    log_format="json",
    grace_seconds=1,
)


@contextlib.contextmanager
def embedded_server(settings: ServerSettings = EMBEDDED_SETTINGS) -> Iterator[str]:
    """Serve on a free loopback port from a background thread; yield host:port; stop after."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="vmsim-embedded", daemon=True)
    thread.start()
    try:
        running = asyncio.run_coroutine_threadsafe(serve(settings), loop).result()
        try:
            yield running.address
        finally:
            asyncio.run_coroutine_threadsafe(running.stop(0), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
