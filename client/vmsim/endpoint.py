"""What the sync and asyncio endpoints share: the stubs, the metadata, the deadline, the reply.

A flavour adds only how it waits for a reply (client.py blocks, aio.py awaits); everything
decided about a call is here, once, so the two flavours cannot drift apart.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import calls, results
from .call import AsyncClosedOnExit, Call, ClosedOnExit
from .channels import client_metadata
from .errors import DeadlineExceeded, error_from_rpc, error_from_status

if TYPE_CHECKING:
    import grpc

__all__ = [
    "AsyncClosedOnExit",
    "ClosedOnExit",
    "EndpointBase",
    "RunStreamBase",
    "event_feed_errors",
    "parameters_of",
    "rides_the_stream",
    "stub_class",
]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def stub_class(service: str) -> Any:
    """The generated stub class of *service* (Call.service), its module imported on first use:
    `vmsim ps` loads InspectService's stubs only, not the other services' messages.

    Raises:
        KeyError: no such service.
    """
    if service == "inspect":
        from vmsim_proto.v1 import inspect_pb2_grpc

        return inspect_pb2_grpc.InspectServiceStub
    if service == "process":
        from vmsim_proto.v1 import process_pb2_grpc

        return process_pb2_grpc.ProcessServiceStub
    if service == "admin":
        from vmsim_proto.v1 import admin_pb2_grpc

        return admin_pb2_grpc.AdminServiceStub
    if service == "kernel":
        from vmsim_proto.v1 import kernel_pb2_grpc

        return kernel_pb2_grpc.KernelServiceStub
    from vmsim_proto.v1 import lab_pb2_grpc

    lab_stubs = {"exercise": lab_pb2_grpc.ExerciseServiceStub, "lab": lab_pb2_grpc.LabServiceStub}
    return lab_stubs[service]


class _Stubs(dict[str, Any]):
    """Service name -> the stub of that service on one channel, made on first lookup."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        super().__init__()
        self._channel = channel

    def __missing__(self, service: str) -> Any:
        stub = self[service] = stub_class(service)(self._channel)
        return stub


@functools.cache
def _reports_cost(reply_descriptor: Any) -> bool:
    """Does a reply of this message type (its Descriptor) report what the call cost its thread?"""
    return "cost" in reply_descriptor.fields_by_name


class EndpointBase:
    """A channel's stubs, the metadata sent with every call and the default deadline."""

    def __init__(
        self,
        address: str,
        timeout: float,
        channel: grpc.Channel | grpc.aio.Channel,
        metadata: tuple[tuple[str, str], ...] = (),
        client_name: str | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.identity = client_metadata(client_name)  # sent with every call
        self.metadata = (*self.identity, *metadata)
        self._last_cost: Any = None  # the CallCost message of the latest timed process call
        self.stubs: dict[str, Any] = _Stubs(channel)

    @property
    def last_cost(self) -> results.CallCost | None:
        """The simulated cost of the latest timed process call, None before the first."""
        # Converted when asked for, not per call: most callers never look at it.
        return None if self._last_cost is None else results.call_cost(self._last_cost)

    def deadline(self, timeout: float | None) -> float:
        """The call's own *timeout* when given, else the connection's.

        Raises:
            DeadlineExceeded: *timeout* is 0 or less. gRPC would race such a deadline against
                a fast reply; it has passed before the call starts, so the call is not sent.
        """
        if timeout is None:
            return self.timeout
        if timeout <= 0:
            raise DeadlineExceeded(
                f"timeout={timeout}: the deadline passed before the call was sent "
                "(give a positive number of seconds, or None for the connection's)",
                "DEADLINE_EXCEEDED",
            )
        return timeout

    def finish(self, call: Call[T], reply: Any) -> T:
        """Read *reply* for *call*, keeping the cost a timed process call reports."""
        if _reports_cost(reply.DESCRIPTOR):
            self._last_cost = reply.cost
        return call.read(reply)


class RunStreamBase:
    """What the sync and asyncio Run streams share: operation ids, the operations in flight
    (the server answers them in the order sent) and the reading of one reply. A flavour adds
    only how it writes a request and waits for a reply."""

    def __init__(self, endpoint: EndpointBase) -> None:
        self._endpoint = endpoint
        self._ids = itertools.count(1)
        self._pending: collections.deque[Call[Any]] = collections.deque()
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Operations sent whose results have not been received yet."""
        return len(self._pending)

    def _next_request(self, call: Call[Any]) -> tuple[int, Any]:
        """Give *call* the next id and count it in flight: (its id, its RunRequest)."""
        op_id = next(self._ids)
        request = calls.run_request(op_id, call)  # a call no stream carries is refused first
        self._pending.append(call)
        return op_id, request

    def _oldest(self) -> Call[Any]:
        """The operation the next reply answers, no longer in flight.

        Raises:
            RuntimeError: no operation is in flight.
        """
        if not self._pending:
            raise RuntimeError("receive() with no operation in flight")
        return self._pending.popleft()

    def _result(self, call: Call[Any], reply: Any) -> Any:
        """*call*'s result from its RunResponse *reply*; raises the error the reply holds."""
        which = reply.WhichOneof("result")
        if which == "error":
            raise error_from_status(reply.error)
        return self._endpoint.finish(call, getattr(reply, which))

    def _check_nothing_in_flight(self) -> None:
        """run() collects its own results only: refuse it while others are still owed."""
        if self._pending:
            raise RuntimeError(f"run() with {len(self._pending)} operations still to receive()")


def rides_the_stream(over_stream: bool, call: Call[Any], timeout: float | None) -> bool:
    """Whether a process call goes on its process's open Run stream (over_stream) rather than
    as its own RPC: a call with its own *timeout* is an RPC, so its deadline is the server's
    too, and so is a call no Run stream carries (mlock, files, shm, sync ...)."""
    return over_stream and timeout is None and call.method in calls.RUN_OPERATIONS


def parameters_of(
    target: Callable[P, Any],
) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give the decorated factory *target*'s parameters, for type checkers and
    inspect.signature (help(), the flavour test) alike: a factory such as `connect` that passes
    its arguments on to a class then lists them once, in the class."""

    def give(factory: Callable[..., R]) -> Callable[P, R]:
        returns = inspect.signature(factory).return_annotation
        factory.__signature__ = inspect.signature(target).replace(  # type: ignore[attr-defined]
            return_annotation=returns
        )
        return factory

    return give


@contextlib.contextmanager
def event_feed_errors() -> Iterator[None]:
    """How an event feed (WatchEvents) ends, in either flavour: its timeout passing ends it
    quietly, as the caller's way to stop following; any other failure is the client's error."""
    import grpc

    try:
        yield
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise error_from_rpc(error) from None
