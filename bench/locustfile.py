"""Locust load test for vmsim: each Locust user is one simulated process running a workload.

    locust -f bench/locustfile.py --headless -u 50 -r 10 -t 60s --host 127.0.0.1:50051 \\
        --vmsim-workload zipf                    # pages per user: sized from the server
    locust -f bench/locustfile.py ... --vmsim-workload trace --vmsim-trace trace.txt
    # distributed: one master, N workers (on as many machines as needed)
    locust -f bench/locustfile.py --master --host SERVER:50051
    locust -f bench/locustfile.py --worker --master-host MASTER

The workloads are vmsim.workloads, the same as `vmsim load`.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from pathlib import Path
from typing import Any

import gevent
import grpc
import grpc.experimental.gevent as grpc_gevent
import numpy as np
from locust import User, events, task
from locust.env import Environment

from vmsim.constants import (
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
)
from vmsim.workloads import WORKLOADS, Workload, page_batches
from vmsim_proto import parse_trace
from vmsim_proto.metadata import TOKEN_METADATA_KEY
from vmsim_proto.v1 import inspect_pb2, inspect_pb2_grpc, process_pb2, process_pb2_grpc

MAX_AUTO_PAGES = 1024  # the most pages a user maps when --vmsim-pages is left to the server
MEMORY_SHARE = 0.5  # of RAM + free swap, shared among the users when sizing automatically

grpc_gevent.init_gevent()  # grpc's own threads must cooperate with Locust's gevent loop

_MAIN_GREENLET = gevent.getcurrent()  # Locust imports its locustfile from its main greenlet


def _interrupt_main_greenlet() -> None:
    """Ctrl-C as Locust's main greenlet expects it (it catches KeyboardInterrupt, quits the run
    and shuts down cleanly). Python's own handler raises it in whichever greenlet runs when the
    signal lands: on a busy worker a user's, which then dies printing a traceback."""
    _MAIN_GREENLET.throw(KeyboardInterrupt)


gevent.signal_handler(signal.SIGINT, _interrupt_main_greenlet)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--vmsim-workload", choices=WORKLOADS, default="random", help="access pattern"
    )
    parser.add_argument(
        "--vmsim-pages",
        type=int,
        default=0,
        help="pages each user maps (0: half the server's RAM + free swap shared among the -u "
        f"users, at most {MAX_AUTO_PAGES}, so every user fits)",
    )
    parser.add_argument(
        "--vmsim-trace", default="", help="trace file (page numbers) of --vmsim-workload trace"
    )
    parser.add_argument("--vmsim-batch", type=int, default=256, help="addresses per TouchMany")
    parser.add_argument(
        "--vmsim-write-ratio", type=float, default=0.3, help="fraction of batches that write"
    )


class RpcFailure(Exception):
    """A failed call as Locust groups it: by status code and message with numbers (pids,
    addresses) masked, so 100 killed users make one row, not 100."""

    def __init__(self, error: grpc.RpcError) -> None:
        details = re.sub(r"0x[0-9a-f]+|\d+", "N", error.details() or "")
        super().__init__(f"{error.code().name}: {details}")


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Reports every unary call to Locust as a request event (name = the RPC)."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    def intercept_unary_unary(self, continuation: Any, call_details: Any, request: Any) -> Any:
        began = time.perf_counter()
        response = continuation(call_details, request)
        exception = None
        length = 0
        try:
            length = response.result().ByteSize()
        except grpc.RpcError as error:
            exception = RpcFailure(error)
        self._environment.events.request.fire(
            request_type="grpc",
            name=call_details.method.rsplit("/", 1)[-1],
            response_time=(time.perf_counter() - began) * 1000,
            response_length=length,
            response=response,
            context=None,
            exception=exception,
        )
        return response


def _pages_per_user(channel: grpc.Channel, users: int | None) -> int:
    """Half of the server's RAM + free swap shared among *users* (at most MAX_AUTO_PAGES)."""
    stub = inspect_pb2_grpc.InspectServiceStub(channel)
    values = {
        e.name: e.value
        for e in stub.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=30).entries
    }
    room_pages = (values["MemTotal"] + values["SwapFree"]) // 4 * MEMORY_SHARE
    return max(1, min(MAX_AUTO_PAGES, int(room_pages // max(1, users or 1))))


_traces: dict[str, list[int]] = {}


def _trace(path: str) -> list[int]:
    """The page numbers of a trace file (read once per Locust process)."""
    if not path:
        return []
    if path not in _traces:
        _traces[path] = parse_trace(Path(path).read_text())
    return _traces[path]


@events.test_start.add_listener
def _check_options(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None or options.vmsim_workload != "trace":
        return
    try:
        if not _trace(options.vmsim_trace):
            raise ValueError("--vmsim-workload trace needs --vmsim-trace FILE (page numbers)")
    except (OSError, ValueError) as error:
        raise SystemExit(f"vmsim locustfile: {error}") from None


class VmsimUser(User):
    """One simulated process: spawn, map a region, then TouchMany batches of the workload."""

    def on_start(self) -> None:
        options = self.environment.parsed_options
        plain = self._channel = grpc.insecure_channel(self.host)
        self._workload = Workload(
            pattern=options.vmsim_workload,
            region_pages=options.vmsim_pages or _pages_per_user(plain, options.num_users),
            batch=options.vmsim_batch,
            write_ratio=options.vmsim_write_ratio,
            trace=_trace(options.vmsim_trace),
        )
        channel = grpc.intercept_channel(plain, LocustInterceptor(self.environment))
        self._stub = process_pb2_grpc.ProcessServiceStub(channel)
        self._start_process()

    def _start_process(self) -> None:
        spawned = self._stub.Spawn(process_pb2.SpawnRequest(name="locust"), timeout=30)
        self._pid = spawned.pid
        self._metadata = ((TOKEN_METADATA_KEY, spawned.token),)
        request = process_pb2.MmapRequest(
            pid=self._pid,
            length=self._workload.region_pages * PAGE_SIZE,
            prot=PROT_READ | PROT_WRITE,
            flags=MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
        )
        self._region = self._stub.Mmap(request, metadata=self._metadata, timeout=30).addr
        self._batches = page_batches(self._workload, seed=self._pid)

    @task
    def touch_batch(self) -> None:
        indexes, write = next(self._batches)
        addrs = (self._region + indexes * PAGE_SIZE).astype(np.uint32).tolist()
        try:
            self._stub.TouchMany(
                process_pb2.TouchManyRequest(pid=self._pid, addrs=addrs, write=write),
                metadata=self._metadata,
                timeout=30,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:  # killed (e.g. OOM): start over
                self._start_process()

    def on_stop(self) -> None:
        with contextlib.suppress(grpc.RpcError):  # already dead
            self._stub.Exit(
                process_pb2.ExitRequest(pid=self._pid), metadata=self._metadata, timeout=10
            )
        # Closed here, not by the garbage collector at exit: there gevent may already be
        # finalizing the greenlet, and grpc's __del__ then prints a traceback on Ctrl-C.
        self._channel.close()
