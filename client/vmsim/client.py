"""The synchronous client: a process on a vmsim server, the inspector and the admin handle.

with vmsim.connect("127.0.0.1:50051", name="demo") as proc:
    a = proc.mmap(16 * MiB)
    proc.write(a, b"hi")
    assert proc.read(a, 2) == b"hi"
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
import numpy.typing as npt

from . import calls, results
from .calls import CHANNEL_OPTIONS, Call, Listing
from .constants import (
    ADMIN_TOKEN_METADATA_KEY,
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    TOKEN_METADATA_KEY,
)
from .errors import VmsimError, error_from_rpc, error_from_status
from .v1 import admin_pb2_grpc, inspect_pb2_grpc, process_pb2, process_pb2_grpc

__all__ = ["Admin", "Inspector", "OperationStream", "Process", "connect"]

T = TypeVar("T")


class _Endpoint:
    """A channel and its stubs; executes Call descriptions."""

    def __init__(
        self, address: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.metadata = metadata
        self.channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stubs: dict[str, Any] = {
            "process": process_pb2_grpc.ProcessServiceStub(self.channel),
            "inspect": inspect_pb2_grpc.InspectServiceStub(self.channel),
            "admin": admin_pb2_grpc.AdminServiceStub(self.channel),
        }

    def invoke(self, call: Call[T]) -> T:
        method = getattr(self.stubs[call.service], call.method)
        try:
            reply = method(call.request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        return call.read(reply)

    def close(self) -> None:
        self.channel.close()


class Inspector:
    """The machine's /proc over the network (no token needed)."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._endpoint = _Endpoint(address, timeout)

    def meminfo(self) -> results.Report:
        """/proc/meminfo (values in kB)."""
        return self._endpoint.invoke(calls.meminfo())

    def vmstat(self) -> results.Report:
        """/proc/vmstat."""
        return self._endpoint.invoke(calls.vmstat())

    def zoneinfo(self) -> Listing[results.Zone]:
        """/proc/zoneinfo."""
        return self._endpoint.invoke(calls.zoneinfo())

    def buddyinfo(self) -> Listing[results.Zone]:
        """/proc/buddyinfo."""
        return self._endpoint.invoke(calls.buddyinfo())

    def swaps(self) -> Listing[results.SwapArea]:
        """/proc/swaps."""
        return self._endpoint.invoke(calls.swaps())

    def processes(self) -> list[results.ProcessStatus]:
        """Every process (live and zombie), by pid."""
        return self._endpoint.invoke(calls.processes())

    def maps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/maps."""
        return self._endpoint.invoke(calls.maps(pid))

    def smaps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/smaps."""
        return self._endpoint.invoke(calls.smaps(pid))

    def status(self, pid: int) -> tuple[results.ProcessStatus, str]:
        """/proc/<pid>/status, structured and as text."""
        return self._endpoint.invoke(calls.status(pid))

    def translation(self, pid: int, addr: int) -> results.Translation:
        """The page walk of *addr* in any process (no token needed, nothing faults)."""
        return self._endpoint.invoke(calls.translation(pid, addr))

    def replay(
        self,
        trace: Sequence[int],
        frames: int,
        policy: str = "lru",
        seed: int = 0,
        addresses: bool = False,
    ) -> results.ReplayResult:
        """Replay a reference string against *frames* frames under *policy* on the server."""
        return self._endpoint.invoke(calls.replay(trace, frames, policy, seed, addresses))

    def events(
        self, kinds: Sequence[str] = (), pid: int | None = None, timeout: float | None = None
    ) -> Iterator[results.Event]:
        """Follow the event feed (kinds from calls.EVENT_KINDS); ends when the timeout passes."""
        stub = self._endpoint.stubs["inspect"]
        stream = stub.WatchEvents(calls.watch_request(kinds, pid), timeout=timeout)
        try:
            for message in stream:
                yield results.event(message)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise error_from_rpc(error) from None
        finally:
            stream.cancel()

    def close(self) -> None:
        """Close the channel."""
        self._endpoint.close()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Admin:
    """Privileged calls; needs the admin token the server printed at start."""

    def __init__(self, address: str, admin_token: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._endpoint = _Endpoint(address, timeout, ((ADMIN_TOKEN_METADATA_KEY, admin_token),))

    def kill(self, pid: int, reason: str = "") -> None:
        """SIGKILL a process."""
        self._endpoint.invoke(calls.kill(pid, reason))

    def close(self) -> None:
        """Close the channel."""
        self._endpoint.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OperationStream:
    """A Run stream: many operations in flight on one call, results in order.

    The stream owns the process's lifetime: when it closes, the server ends the process.
    """

    _END = object()

    def __init__(self, process: Process) -> None:
        self._process = process
        self._outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        stub = process._endpoint.stubs["process"]
        self._replies = stub.Run(self._requests(), metadata=process._endpoint.metadata)

    def _requests(self) -> Iterator[process_pb2.RunRequest]:
        while (item := self._outgoing.get()) is not self._END:
            yield item

    def send(self, call: Call[Any]) -> int:
        """Queue one operation (e.g. calls.touch_many(pid, addrs)); returns its id."""
        op_id = next(self._ids)
        self._outgoing.put(calls.run_request(op_id, call))
        return op_id

    def receive(self, call: Call[T]) -> T:
        """The next result, read as *call* describes; raises the operation's error."""
        try:
            reply = next(self._replies)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        which = reply.WhichOneof("result")
        if which == "error":
            raise error_from_status(reply.error)
        return call.read(getattr(reply, which))

    def run(self, operations: Sequence[Call[Any]]) -> list[Any]:
        """Send every operation, then collect the results in order (errors as VmsimError values)."""
        for operation in operations:
            self.send(operation)
        outcomes: list[Any] = []
        for operation in operations:
            try:
                outcomes.append(self.receive(operation))
            except VmsimError as error:
                outcomes.append(error)
        return outcomes

    def close(self) -> None:
        """End the stream (and with it the process)."""
        self._outgoing.put(self._END)
        for _ in self._replies:
            pass

    def __enter__(self) -> OperationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Process:
    """One simulated process; create it with `connect`."""

    def __init__(
        self,
        address: str,
        name: str = "",
        oom_score_adj: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        keepalive: bool = True,
    ) -> None:
        self._endpoint = _Endpoint(address, timeout)
        spawned = self._endpoint.invoke(calls.spawn(name, oom_score_adj))
        self.pid: int = spawned.pid
        self.lease_seconds: int = spawned.lease_seconds
        self._endpoint.metadata = ((TOKEN_METADATA_KEY, spawned.token),)
        self._closed = threading.Event()
        self._keepalive: threading.Thread | None = None
        if keepalive and self.lease_seconds:
            self._keepalive = threading.Thread(
                target=self._heartbeat, name=f"vmsim-keepalive-{self.pid}", daemon=True
            )
            self._keepalive.start()

    def _heartbeat(self) -> None:
        while not self._closed.wait(max(0.2, self.lease_seconds / 3)):
            try:
                self._endpoint.invoke(calls.heartbeat(self.pid))
            except VmsimError:
                return  # the process is gone or the server is; the next real call will say so

    def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
        addr: int = 0,
    ) -> int:
        """mmap(2); returns the address."""
        return self._endpoint.invoke(calls.mmap(self.pid, length, prot, flags, addr))

    def munmap(self, addr: int, length: int) -> None:
        """munmap(2)."""
        self._endpoint.invoke(calls.munmap(self.pid, addr, length))

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2)."""
        self._endpoint.invoke(calls.mprotect(self.pid, addr, length, prot))

    def brk(self, addr: int = 0) -> int:
        """brk(2): 0 queries; returns the break."""
        return self._endpoint.invoke(calls.brk(self.pid, addr))

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """madvise(2)."""
        self._endpoint.invoke(calls.madvise(self.pid, addr, length, advice))

    def touch(self, addr: int, write: bool = False) -> str:
        """One access: "hit", "minor" or "major"."""
        return self._endpoint.invoke(calls.touch(self.pid, addr, write))

    def touch_many(
        self, addrs: Sequence[int] | npt.NDArray[Any], write: bool = False
    ) -> results.TouchSummary:
        """Many accesses in one message."""
        return self._endpoint.invoke(calls.touch_many(self.pid, addrs, write))

    def read(self, addr: int, length: int) -> bytes:
        """Read the process's memory."""
        return self._endpoint.invoke(calls.read(self.pid, addr, length))

    def write(self, addr: int, data: bytes) -> int:
        """Write the process's memory; returns bytes written."""
        return self._endpoint.invoke(calls.write(self.pid, addr, data))

    def translate(self, addr: int) -> results.Translation:
        """The page walk of *addr*."""
        return self._endpoint.invoke(calls.translate(self.pid, addr))

    def status(self) -> results.ProcessStatus:
        """This process's /proc status."""
        return self._endpoint.invoke(calls.status(self.pid))[0]

    def maps(self) -> Listing[results.Vma]:
        """This process's maps."""
        return self._endpoint.invoke(calls.maps(self.pid))

    def smaps(self) -> Listing[results.Vma]:
        """This process's smaps."""
        return self._endpoint.invoke(calls.smaps(self.pid))

    def stream(self) -> OperationStream:
        """A Run stream for high rates; closing it ends the process."""
        return OperationStream(self)

    def exit(self) -> None:
        """exit(2): free everything the process holds."""
        self._closed.set()
        self._endpoint.invoke(calls.exit_process(self.pid))

    def close(self) -> None:
        """Exit (if still alive) and close the channel."""
        if not self._closed.is_set():
            with contextlib.suppress(VmsimError):  # already dead or already gone
                self.exit()
        self._endpoint.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    address: str = DEFAULT_ADDRESS,
    name: str = "",
    oom_score_adj: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    keepalive: bool = True,
) -> Process:
    """Spawn a process on the server at *address*; use it as a context manager."""
    return Process(address, name, oom_score_adj, timeout, keepalive)
