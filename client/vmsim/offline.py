"""Offline use: `vmsim lab` and `vmsim replay` answered on this machine when no --addr is given.

The client package never imports the server. The server package registers two things under
the `vmsim.embedded` entry point group (pyproject.toml), and this module looks them up by name:

- `server` (`vmsim_server.embedded:embedded_server`): a context manager that starts a
  grpc.aio server on a free loopback port in a background thread and yields its address;
- `calls` (`vmsim_server.in_process:call_in_process`): the server's own functions for the
  pure computations (Replay, GetMissRatioCurve, ExerciseService), called in this process with
  (service, method, request) and answering the reply message or the google.rpc.Status of the
  error. A replay or a practice question then costs its own code, not a server.

Either way an offline answer goes through the same messages and the same server code as a
remote server's.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import pkgutil
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import VmsimError
from .practice import Exercises, InProcessEndpoint

if TYPE_CHECKING:
    from .calls import Call

__all__ = [
    "ENTRY_POINT_GROUP",
    "OfflineUnavailable",
    "call_in_process",
    "embedded_address",
    "exercises",
    "server_address",
]

T = TypeVar("T")

ENTRY_POINT_GROUP = "vmsim.embedded"


class OfflineUnavailable(VmsimError):
    """No embedded server is installed (the client was installed without the server)."""


def _entry_point(name: str) -> str | None:
    """The object reference ("module:attribute") that an installed distribution registers as
    *name* in ENTRY_POINT_GROUP, or None; the first found along sys.path, as Python's own
    lookup takes the first distribution of a name.

    Read straight from the distributions' entry_points.txt (an INI file, the format of the
    packaging specification): `importlib.metadata.entry_points` reads the same files but
    imports email, zipfile and csv to do it, some 40 ms of CPU, as much as the whole of
    `vmsim lab question` now spends (issue 23).
    """
    for directory in sys.path:
        try:
            entries = sorted(os.scandir(directory or "."), key=lambda entry: entry.name)
        except OSError:  # not a directory (a zip file), or gone
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            points = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            points.optionxform = str  # type: ignore[assignment,method-assign]  # names keep their case
            try:
                points.read(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8")
            except configparser.Error:
                continue  # a broken distribution's metadata is not ours to read
            if points.has_option(ENTRY_POINT_GROUP, name):
                return points.get(ENTRY_POINT_GROUP, name)
    return None


def _embedded(name: str) -> Any:
    """The object the installed server package registers as *name*, or None."""
    reference = _entry_point(name)
    return None if reference is None else pkgutil.resolve_name(reference.strip())


def _required(name: str) -> Any:
    """The object the installed server registers as *name*; OfflineUnavailable without it."""
    found = _embedded(name)
    if found is None:
        raise OfflineUnavailable(
            "offline use needs the vmsim server package installed (pip install vmsim); "
            "or pass --addr HOST:PORT to use a running server",
            "UNAVAILABLE",
        )
    return found


def call_in_process(call: Call[T]) -> T:
    """*call* (calls.replay or calls.miss_ratio_curve) answered by the installed server's code
    in this process, with no server started: the reply read as from a server, an error
    raised as from a server's status."""
    return InProcessEndpoint(_required("calls")).invoke(call)


@contextlib.contextmanager
def embedded_address() -> Iterator[str]:
    """Start the installed embedded server; yield its host:port; stop it after."""
    start = _required("server")
    with start() as address:
        yield str(address)


@contextlib.contextmanager
def exercises() -> Iterator[Exercises]:
    """Practice questions and checks answered in this process, with no server.

    An installation whose metadata lacks the `calls` entry point gets them from the embedded
    server instead: the same answers, at the cost of starting it.
    """
    answer = _embedded("calls")
    if answer is not None:
        with Exercises.in_process(answer) as practice:
            yield practice
        return
    with embedded_address() as address, Exercises(address) as practice:
        yield practice


@contextlib.contextmanager
def server_address(addr: str | None) -> Iterator[str]:
    """*addr* when given, else an embedded server's address for the duration."""
    if addr:
        yield addr
        return
    with embedded_address() as address:
        yield address
