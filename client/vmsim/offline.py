"""Offline use: `vmsim lab` and `vmsim replay` answered on this machine when no --addr is given.

The client package never imports the server. The server package registers three things under
the `vmsim.embedded` entry point group (pyproject.toml), and this module looks them up by name:

- `server` (`vmsim_server.embedded:embedded_server`): a context manager that starts a
  grpc.aio server on a free loopback port in a background thread and yields its address;
- `calls` (`vmsim_server.in_process:call_in_process`): the server's own functions for the
  pure computations (Replay, GetMissRatioCurve, ExerciseService), called in this process with
  (service, method, request) and answering the reply message or the google.rpc.Status of the
  error. A replay or a practice question then costs its own code, not a server.
- `questions` (`vmsim_server.in_process:practice_questions_in_process`): GetQuestions' answer
  as plain data, the records the server's messages are made of (vmsim_proto.questions), for
  `vmsim lab question`, which is held to OSTEP's generator script and cannot load protobuf.

Either way an offline answer comes from the same server code as a remote server's, and the
plain records are checked equal to the messages (tests/service/test_offline_entry_points.py).
"""

from __future__ import annotations

import contextlib
import os
import pkgutil
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import VmsimError, error_from_status

if TYPE_CHECKING:
    from vmsim_proto.questions import QuestionRecord

    from .calls import Call
    from .practice import Exercises

__all__ = [
    "ENTRY_POINT_GROUP",
    "OfflineUnavailable",
    "call_in_process",
    "embedded_address",
    "exercises",
    "practice_questions",
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
    `vmsim lab question` now spends (issue 23). Only a file naming the group is read line by
    line (_entry_in): a configparser made for each of a hundred installed distributions cost
    about 25 ms.
    """
    header = f"[{ENTRY_POINT_GROUP}]"
    for directory in sys.path:
        try:
            entries = sorted(os.scandir(directory or "."), key=lambda entry: entry.name)
        except OSError:  # not a directory (a zip file), or gone
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except (OSError, UnicodeDecodeError):  # none, or not ours to read
                continue
            if header not in text:  # most distributions register nothing for vmsim
                continue
            reference = _entry_in(text, name)
            if reference is not None:
                return reference
    return None


def _entry_in(text: str, name: str) -> str | None:
    """*name*'s object reference in ENTRY_POINT_GROUP of the entry_points.txt *text*, or None.

    Read line by line as Python's own lookup reads it (importlib.metadata's Sectioned: lines
    stripped, blank and '#' lines skipped, "[group]" opens a section, "name = value" splits
    at the first '='), not with configparser, whose import and per-parser patterns cost
    `vmsim lab question` some 4 ms, a sixth of what it may spend beyond the interpreter's
    start (issue 23).
    """
    group = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line.strip("[]")
            continue
        key, equals, value = line.partition("=")
        if group == ENTRY_POINT_GROUP and equals and key.strip() == name:
            return value.strip()
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
    from .practice import InProcessEndpoint  # (loads the messages: a reply is one)

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
    from .practice import Exercises  # the messages: only practice_questions goes without

    answer = _embedded("calls")
    if answer is not None:
        with Exercises.in_process(answer) as practice:
            yield practice
        return
    with embedded_address() as address, Exercises(address) as practice:
        yield practice


def practice_questions(
    kind: str, seed: int, count: int, with_answers: bool
) -> list[QuestionRecord]:
    """The practice questions of (kind, seed, count) answered in this process as plain data,
    with no protobuf loaded unless the call fails (the server's `questions` entry point).

    An installation whose metadata lacks that entry point gets them from exercises() instead.

    Raises:
        VmsimError: as a server's GetQuestions fails (InvalidArgument for an unknown kind ...).
    """
    answer = _embedded("questions")
    if answer is None:
        from .practice import question_record

        with exercises() as practice:
            asked = practice.questions(kind, seed, count, with_answers=with_answers)
        return [question_record(question) for question in asked]
    reply = answer(kind, seed, count, with_answers)
    if isinstance(reply, list):
        return reply
    raise error_from_status(reply)  # the google.rpc.Status the server would have sent


@contextlib.contextmanager
def server_address(addr: str | None) -> Iterator[str]:
    """*addr* when given, else an embedded server's address for the duration."""
    if addr:
        yield addr
        return
    with embedded_address() as address:
        yield address
