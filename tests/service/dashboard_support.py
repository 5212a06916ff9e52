"""Helpers of the dashboard tests: uvicorn serving the dashboard in a thread, HTTP reads."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import IO, Any

from vmsim.dashboard import DashboardState, create_app


class DashboardThread:
    """uvicorn serving the dashboard on a free loopback port, in a thread; *options* go to
    DashboardState."""

    def __init__(self, address: str, admin_token: str = "", **options: Any) -> None:
        import uvicorn

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        options.setdefault("interval", 0.2)
        self.app = create_app(DashboardState(address, admin_token=admin_token, **options))
        self.state = self.app.state.dashboard
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    @property
    def scoreboard_url(self) -> str:
        """The URL an instructor opens once to see the scoreboard."""
        return f"{self.url}?key={self.app.state.viewer_key}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET (an HTTP error status is an answer, not a raise)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for_snapshot(url: str, field: str, timeout: float = 20.0, **query: str) -> dict[str, Any]:
    """The first /api/snapshot of the dashboard at *url* (with *query*) that has *field*."""
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    deadline = time.monotonic() + timeout
    snapshot: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status, _headers, body = get(f"{url}api/snapshot{suffix}")
        except OSError:
            status, body = 0, b"{}"
        if status == 200:
            snapshot = json.loads(body)
            if field in snapshot:
                return snapshot
        time.sleep(0.1)
    raise AssertionError(f"no snapshot with {field!r} in {timeout} s; last: {snapshot}")


def stdout_lines(stream: IO[str]) -> queue.Queue[str]:
    """The lines of *stream*, read by a thread so a test can wait with a deadline."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} in {timeout} s; got {seen}")
