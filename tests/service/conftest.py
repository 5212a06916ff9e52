"""A real vmsim server on a free loopback port, run on its own event loop in a thread.

Fixtures:
    server_address: "127.0.0.1:PORT" of a default test server (16 MiB RAM, 64 MiB swap).
    server: that server (a ServerThread: .address, .running, .call(fn), .stop()).
    start_server: a factory, start_server(**settings) -> ServerThread, taking ServerSettings
        fields as overrides; usable as a context manager (`with start_server(...) as s:`).
        Every server it started is stopped after the test.
    start_module_server: the same factory for servers shared by a whole test module.
    shell: `vmsim shell`'s interpreter, its process "tester" on the default test server.

Helpers:
    wait_until(condition, seconds): poll *condition* until it holds or the deadline passes,
        instead of sleeping a guessed time and hoping the server got there.
    free_port(): a loopback port nobody listens on (free a moment ago).
    address_with_no_server(): "127.0.0.1:PORT" of such a port.
    read_until_closed(controller, output): what a command wrote to its pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from vmsim_server import RunningServer, ServerSettings, serve

if TYPE_CHECKING:
    from vmsim.shell import ProcessShell

ADMIN_TOKEN = "admin-secret"
T = TypeVar("T")


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    """Whether *condition* holds within *seconds*, polled every 20 ms."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picked it for a socket now closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def address_with_no_server() -> str:
    """The address of a loopback port nobody listens on: what a client meets when no server
    runs there."""
    return f"127.0.0.1:{free_port()}"


def read_until_closed(controller: int, output: bytes = b"") -> bytes:
    """All a command writes to its pseudo-terminal (after *output*) until the terminal closes."""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command ended
            return output
        if not chunk:
            return output
        output += chunk


class ServerThread:
    """A server started with *settings* whose address is known once the constructor returns."""

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

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """host:port the server listens on."""
        assert self.running is not None, "the server is stopped"
        return self.running.address

    def call(self, function: Callable[[], T]) -> T:
        """Run *function* on the server's loop (to look at the machine between calls)."""

        async def wrapped() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(30)

    def stop(self, grace: float = 0.5) -> None:
        """Graceful shutdown; a second call does nothing."""
        if not self._thread.is_alive():
            return
        if self.running is not None:
            running, self.running = self.running, None
            asyncio.run_coroutine_threadsafe(running.stop(grace=grace), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


StartServer = Callable[..., ServerThread]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers with ServerSettings overrides; all are stopped after the test."""
    yield from _server_factory(tmp_path)


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Start servers shared by the tests of one module; all are stopped after the module."""
    yield from _server_factory(tmp_path_factory.mktemp("module-server"))


def _server_factory(tmp_path: Path) -> Iterator[StartServer]:
    swap_paths = (str(tmp_path / f"swap{n}") for n in itertools.count())
    with contextlib.ExitStack() as started:

        def factory(**overrides: Any) -> ServerThread:
            settings = ServerSettings(
                address="127.0.0.1:0",
                ram_bytes=16 << 20,
                swap_bytes=64 << 20,
                swap_path=next(swap_paths),
                admin_token=ADMIN_TOKEN,
                log_level="warning",
                log_format="json",
                grace_seconds=0.5,
            )
            return started.enter_context(ServerThread(replace(settings, **overrides)))

        yield factory


@pytest.fixture
def server(start_server: StartServer) -> ServerThread:
    """A 16 MiB machine with 64 MiB of swap and the admin token "admin-secret"."""
    return start_server()


@pytest.fixture
def server_address(server: ServerThread) -> str:
    """host:port of the default test server."""
    return server.address


@pytest.fixture
def shell(server_address: str) -> Iterator[ProcessShell]:
    """`vmsim shell`'s interpreter for a process "tester" on the default test server (no
    history file); the process exits after the test."""
    from vmsim.shell import ProcessShell  # the shell's modules load for the tests that use it

    process_shell = ProcessShell(server_address, "tester", history=None)
    yield process_shell
    process_shell.do_exit("")
