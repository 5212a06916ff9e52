"""A real vmsim server on a free loopback port, run on its own event loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vmsim_server import RunningServer, ServerSettings, serve

StartServer = Callable[..., "ServerThread"]


class ServerThread:
    """A server started with *settings* (port 0) whose address is known once it runs."""

    def __init__(self, settings: ServerSettings) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.running: RunningServer | None = None
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("server did not start in 30 s")
        if self._error is not None:
            raise self._error

    def _run(self, settings: ServerSettings) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.running = self._loop.run_until_complete(serve(settings))
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    @property
    def address(self) -> str:
        assert self.running is not None
        return self.running.address

    def call(self, function: Callable[[], Any]) -> Any:
        """Run *function* on the server's loop (for looking at the machine between calls)."""

        async def wrapped() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(30)

    def stop(self) -> None:
        if self.running is not None:
            asyncio.run_coroutine_threadsafe(self.running.stop(grace=0.5), self._loop).result(30)
            self.running = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers with setting overrides; all are stopped after the test."""
    servers: list[ServerThread] = []

    def factory(**overrides: Any) -> ServerThread:
        settings = ServerSettings(
            address="127.0.0.1:0",
            ram_bytes=16 << 20,
            swap_bytes=64 << 20,
            swap_path=str(tmp_path / f"swap{len(servers)}"),
            admin_token="admin-secret",
            log_level="warning",
            log_format="json",
            grace_seconds=0.5,
        )
        server = ServerThread(replace(settings, **overrides))
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: StartServer) -> ServerThread:
    """A 16 MiB machine with 64 MiB of swap."""
    return start_server()


@pytest.fixture
def server_address(server: ServerThread) -> str:
    """host:port of the default test server."""
    return server.address
