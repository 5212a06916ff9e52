"""The hostile-client suite: a vmsim server in its own process, attacked the way a client that
means harm (or a buggy one) would, over loopback only, bounded in count and time.

The server runs as `python -m vmsim_server` in a child process, so a crash is seen as the
child's exit code instead of taking the test process down with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from vmsim.endpoint import stub_class
from vmsim_proto.v1 import process_pb2

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(str(ROOT / part) for part in ("server", "client", "common"))


class ServerProcess:
    """`python -m vmsim_server` on a free loopback port with JSON logs and *flags*."""

    def __init__(self, tmp_path: Path, *flags: str) -> None:
        command = [sys.executable, "-X", "faulthandler", "-m", "vmsim_server"]
        command += ["--address", "127.0.0.1:0", "--log-format", "json", "--grace", "0.5"]
        self.log_path = tmp_path / f"server-{id(self)}.log"
        env = dict(os.environ, PYTHONPATH=PYTHONPATH, TMPDIR=str(tmp_path))
        # The log goes to a file, never a pipe, so a chatty server never blocks on it.
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*command, *flags], stderr=self._log, stdout=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + 30
        while "\n" not in (text := self.log_path.read_text()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log()}")
            time.sleep(0.05)
        self.started: dict[str, Any] = json.loads(text.partition("\n")[0])
        self.address: str = self.started["address"]

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kb(self) -> int:
        """The server process's resident memory (VmRSS of its /proc/PID/status), in kB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        )

    def stop(self) -> int:
        """SIGTERM, then the exit code. A server still running 30 s later gets SIGABRT, so
        faulthandler writes every thread's stack to its log (where it hung), then SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGABRT)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        self._log.close()
        return self.process.returncode


class Bystander:
    """A well-behaved client touching one resident page: each call's latency."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = stub_class("process")(self._channel)
        spawned = self._stub.Spawn(process_pb2.SpawnRequest(name="bystander"), timeout=10)
        self._pid = spawned.pid
        self._metadata = (("x-vmsim-token", spawned.token),)
        mapping = process_pb2.MmapRequest(pid=spawned.pid, length=4096, prot=3, flags=0x22)
        addr = self._stub.Mmap(mapping, metadata=self._metadata, timeout=10).addr
        self._touch = process_pb2.TouchRequest(pid=spawned.pid, addr=addr, write=True)

    def touches(self, seconds: float, pause: float = 0.005) -> list[float]:
        """Touch for *seconds*, *pause* apart: each call's latency in seconds."""
        latencies = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            self._stub.Touch(self._touch, metadata=self._metadata, timeout=30)
            latencies.append(time.perf_counter() - began)
            time.sleep(pause)
        return latencies

    def close(self) -> None:
        """Exit the process and close the channel."""
        exit_request = process_pb2.ExitRequest(pid=self._pid)
        self._stub.Exit(exit_request, metadata=self._metadata, timeout=10)
        self._channel.close()


StartServerProcess = Callable[..., ServerProcess]


@pytest.fixture
def start_server_process(tmp_path: Path) -> Iterator[StartServerProcess]:
    """start_server_process(*flags) -> ServerProcess; every one is stopped after the test."""
    servers: list[ServerProcess] = []

    def start(*flags: str) -> ServerProcess:
        server = ServerProcess(tmp_path, *flags)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def client_command(script: str, *args: str) -> list[str]:
    """A Python command running *script* (a file beside this one) with the project importable."""
    return [sys.executable, str(Path(__file__).with_name(script)), *args]


def client_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=PYTHONPATH)


def write_lab_file(tmp_path: Path, kind: str = "replace", count: int = 1) -> Path:
    """A graded lab of one exercise (*count* questions of *kind*), open until 2999."""
    path = tmp_path / "lab.toml"
    path.write_text(
        f'title = "Hostile"\ndeadline = 2999-01-01T00:00:00Z\n\n'
        f'[[exercise]]\nkind = "{kind}"\ncount = {count}\nweight = 1.0\n'
    )
    return path
