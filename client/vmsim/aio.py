"""The asyncio client: the same operations as client.py, awaited (built from the same calls.py).

Both flavours execute the call descriptions of calls.py through one endpoint base
(endpoint.py: stubs, metadata, deadline, reply). The methods that are one call description
are generated from client.py's (generated/aio_methods.py, by scripts/gen_protos.py: see
scripts/async_client.py) and mixed in; what is written here is what differs between the
flavours (start, streams, keepalive, fork, events, close). tests/service/test_client_flavours.py
fails when a method, a parameter or a default differs between the two or when a description
of calls.py is missing from either.

async with vmsim.aio.connect(addr, name="worker") as proc:
    a = await proc.mmap(16 * MiB)
    await proc.touch_many(range(a, a + 16 * MiB, PAGE_SIZE))
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import grpc

from vmsim_proto.metadata import ADMIN_TOKEN_METADATA_KEY, TOKEN_METADATA_KEY

from . import calls, results
from .calls import Call, Listing
from .channels import Tls, admin_metadata, aio_channel
from .constants import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    O_RDONLY,
)
from .endpoint import (
    AsyncClosedOnExit,
    EndpointBase,
    RunStreamBase,
    event_feed_errors,
    parameters_of,
    rides_the_stream,
)
from .errors import DeadlineExceeded, Unavailable, VmsimError, error_from_rpc
from .generated.aio_methods import (
    AsyncAdminCalls,
    AsyncFileCalls,
    AsyncInspectorCalls,
    AsyncProcessCalls,
)

__all__ = [
    "AsyncAdmin",
    "AsyncFile",
    "AsyncInspector",
    "AsyncOperationStream",
    "AsyncProcess",
    "connect",
    "inspect",
]

T = TypeVar("T")
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]  # the end-of-stream marker grpc-stubs lacks


class _AsyncEndpoint(EndpointBase):
    """An asyncio channel and its stubs; executes Call descriptions."""

    def __init__(
        self,
        address: str,
        timeout: float,
        metadata: tuple[tuple[str, str], ...] = (),
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self.channel = aio_channel(address, tls)
        super().__init__(address, timeout, self.channel, metadata, client_name)

    async def invoke(self, call: Call[T], timeout: float | None = None) -> T:
        method = getattr(self.stubs[call.service], call.method)
        try:
            reply = await method(
                call.request, timeout=self.deadline(timeout), metadata=self.metadata
            )
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        return self.finish(call, reply)

    async def close(self) -> None:
        await self.channel.close(None)


class AsyncInspector(AsyncClosedOnExit, AsyncInspectorCalls):
    """The machine's /proc over the network, awaited (no token needed)."""

    _endpoint: _AsyncEndpoint

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        timeout: float = DEFAULT_TIMEOUT,
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self._endpoint = _AsyncEndpoint(address, timeout, tls=tls, client_name=client_name)

    async def maps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/maps."""
        return await calls.whole_report_async(
            functools.partial(calls.maps, pid), self._endpoint.invoke
        )

    async def smaps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/smaps."""
        return await calls.whole_report_async(
            functools.partial(calls.smaps, pid), self._endpoint.invoke
        )

    async def free_kb(self) -> int:
        """Free memory in kB counting the per-cpu lists: MemFree plus the pages parked on the
        CPUs' lists (not in MemFree, as on Linux); what comes back when processes exit."""
        meminfo = await self._endpoint.invoke(calls.meminfo())
        zones = await self._endpoint.invoke(calls.zoneinfo())
        return results.free_kb(meminfo, zones.items)

    async def events(
        self, kinds: Sequence[str] = (), pid: int | None = None, timeout: float | None = None
    ) -> AsyncIterator[results.Event]:
        """Follow the event feed (kinds from calls.EVENT_KINDS); ends when the timeout passes."""
        stub = self._endpoint.stubs["inspect"]
        stream = stub.WatchEvents(calls.watch_request(kinds, pid), timeout=timeout)
        try:
            with event_feed_errors():
                async for message in stream:
                    yield results.event(message)
        finally:
            stream.cancel()

    async def close(self) -> None:
        """Close the channel."""
        await self._endpoint.close()


def inspect(
    address: str = DEFAULT_ADDRESS, timeout: float = DEFAULT_TIMEOUT, tls: Tls | None = None
) -> AsyncInspector:
    """`async with vmsim.aio.inspect(addr) as inspector:` reads the machine's reports."""
    return AsyncInspector(address, timeout, tls)


class AsyncAdmin(AsyncClosedOnExit, AsyncAdminCalls):
    """Privileged calls, awaited; needs the server's admin token (from its token file)."""

    _endpoint: _AsyncEndpoint

    def __init__(
        self,
        address: str,
        admin_token: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self._endpoint = _AsyncEndpoint(
            address, timeout, admin_metadata(admin_token), tls, client_name
        )

    async def close(self) -> None:
        """Close the channel."""
        await self._endpoint.close()


class AsyncOperationStream(RunStreamBase, AsyncClosedOnExit):
    """A Run stream, awaited: send many operations, receive their results in order.

    The stream owns the process's lifetime: when it closes, the server ends the process.
    """

    def __init__(self, process: AsyncProcess) -> None:
        super().__init__(process._endpoint)
        self._process = process
        endpoint = process._endpoint
        self._call = endpoint.stubs["process"].Run(metadata=endpoint.metadata)

    async def send(self, call: Call[Any]) -> int:
        """Send one operation without waiting for its result; returns its id."""
        op_id, request = self._next_request(call)
        try:
            await self._call.write(request)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        return op_id

    async def receive(self) -> Any:
        """The result of the oldest operation in flight; raises that operation's error."""
        call = self._oldest()
        try:
            reply = await self._call.read()
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        if reply is _EOF:
            raise Unavailable("the server ended the Run stream", "UNAVAILABLE")
        return self._result(call, reply)

    async def run(self, operations: Sequence[Call[Any]]) -> list[Any]:
        """Send every operation, then collect the results in order (an error is returned as its VmsimError)."""
        self._check_nothing_in_flight()
        for operation in operations:
            await self.send(operation)
        outcomes: list[Any] = []
        for _ in operations:
            try:
                outcomes.append(await self.receive())
            except VmsimError as error:
                outcomes.append(error)
        return outcomes

    async def close(self) -> None:
        """End the stream; the server ends the process with it."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(grpc.RpcError):
            await self._call.done_writing()
            while await self._call.read() is not _EOF:
                pass
        self._process._stream_closed()


class AsyncProcess(AsyncClosedOnExit, AsyncProcessCalls):
    """One simulated process, awaited; create it with `connect` and `async with`.

    A task renews the server's lease every lease_seconds/3 until the process exits.
    """

    _endpoint: _AsyncEndpoint

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        name: str = "",
        oom_score_adj: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        keepalive: bool = True,
        tls: Tls | None = None,
        client_name: str | None = None,
        admin_token: str | None = None,
        over_stream: bool = False,
    ) -> None:
        # The admin token goes with Spawn only: an oom_score_adj below 0 needs it.
        privileged = ((ADMIN_TOKEN_METADATA_KEY, admin_token),) if admin_token else ()
        self._endpoint = _AsyncEndpoint(address, timeout, privileged, tls, client_name)
        # Process calls over one Run stream opened at start, instead of one RPC each: many
        # clients then cost the server a message per call rather than a whole RPC.
        self._over_stream = over_stream
        self._stream_lock = asyncio.Lock()
        self._name = name
        self._oom_score_adj = oom_score_adj
        self._want_keepalive = keepalive
        self._tls, self._client_name = tls, client_name
        self.pid = 0
        self.token = ""  # what `attach` needs to act on this process elsewhere
        self.lease_seconds = 0
        self._exited = False
        self._run_stream: AsyncOperationStream | None = None
        self._keepalive: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<vmsim.aio.AsyncProcess pid={self.pid} at {self._endpoint.address}>"

    async def start(self) -> AsyncProcess:
        """Spawn the process and start its keepalive."""
        try:
            spawned = await self._endpoint.invoke(calls.spawn(self._name, self._oom_score_adj))
        except VmsimError:
            await self._endpoint.close()
            raise
        return self._begin(spawned.pid, spawned.token, spawned.lease_seconds)

    def _begin(self, pid: int, token: str, lease_seconds: int) -> AsyncProcess:
        """Act on process *pid* with *token* from now on (a spawned or an attached one)."""
        self.pid, self.token, self.lease_seconds = pid, token, lease_seconds
        self._endpoint.metadata = (*self._endpoint.identity, (TOKEN_METADATA_KEY, token))
        if self._over_stream:
            self._run_stream = AsyncOperationStream(self)
            return self  # the open stream holds the lease: no heartbeats needed
        if self._want_keepalive:
            self._keepalive = asyncio.get_running_loop().create_task(self._heartbeat())
        return self

    @classmethod
    async def attach(
        cls,
        pid: int,
        token: str,
        address: str = DEFAULT_ADDRESS,
        timeout: float = DEFAULT_TIMEOUT,
        keepalive: bool = True,
        tls: Tls | None = None,
        client_name: str | None = None,
        over_stream: bool = False,
    ) -> AsyncProcess:
        """A handle on a process that exists already, from its pid and token (a child from
        `fork`, handed to another script): its own connection, heartbeats and lease.

        Raises:
            Unauthenticated, PermissionDenied: the token is unknown, or not *pid*'s.
            ProcessKilled, NoSuchProcess: the process has ended.
        """
        self = cls(
            address,
            timeout=timeout,
            keepalive=keepalive,
            tls=tls,
            client_name=client_name,
            over_stream=over_stream,
        )
        self._endpoint.metadata = (*self._endpoint.identity, (TOKEN_METADATA_KEY, token))
        try:
            lease_seconds = await self._endpoint.invoke(calls.heartbeat(pid))
        except VmsimError:
            await self._endpoint.close()
            raise
        return self._begin(pid, token, lease_seconds)

    async def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> AsyncFile:
        """open(2) (O_CREAT creates it with *mode*, owned by this process's user): the open
        file, which reads, writes, seeks, maps and closes as Linux's calls on its fd do."""
        fd = await self._invoke(calls.open_file(self.pid, path, flags, mode))
        return AsyncFile(self, fd, path)

    async def fork(self) -> AsyncProcess:
        """fork(2): the child process, a copy-on-write copy of this one, on a connection of
        its own; its `pid` and `token` let another script `attach` to it."""
        reply = await self._endpoint.invoke(calls.fork(self.pid))
        child = AsyncProcess(
            self._endpoint.address,
            timeout=self._endpoint.timeout,
            keepalive=self._want_keepalive,
            tls=self._tls,
            client_name=self._client_name,
            over_stream=self._over_stream,
        )
        return child._begin(reply.pid, reply.token, reply.lease_seconds)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.lease_seconds / 3))
            try:
                await self._endpoint.invoke(calls.heartbeat(self.pid))
            except (Unavailable, DeadlineExceeded):
                continue  # a blip: the lease outlasts several periods
            except VmsimError:
                return  # the process is gone; the next real call says so

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    @property
    def last_cost(self) -> results.CallCost | None:
        """The simulated cost of this process's latest timed call (mmap, touch, read ...)."""
        return self._endpoint.last_cost

    async def maps(self) -> Listing[results.Vma]:
        """This process's maps."""
        return await calls.whole_report_async(
            functools.partial(calls.maps, self.pid), self._endpoint.invoke
        )

    async def smaps(self) -> Listing[results.Vma]:
        """This process's smaps."""
        return await calls.whole_report_async(
            functools.partial(calls.smaps, self.pid), self._endpoint.invoke
        )

    async def _invoke(self, call: Call[T], timeout: float | None = None) -> T:
        """One process call: a message on the open Run stream when it rides it
        (rides_the_stream), else a unary RPC."""
        stream = self._run_stream
        if stream is None or not rides_the_stream(self._over_stream, call, timeout):
            return await self._endpoint.invoke(call, timeout)
        async with self._stream_lock:  # one operation at a time keeps replies in step
            await stream.send(call)
            return await stream.receive()  # type: ignore[no-any-return]

    def stream(self) -> AsyncOperationStream:
        """A Run stream for high rates (`async with proc.stream() as s:`); closing it ends the process."""
        return AsyncOperationStream(self)

    async def run(self, operations: Sequence[Call[Any]]) -> list[Any]:
        """Run process calls (from `vmsim.calls`) on one Run stream kept open until `close`."""
        if self._run_stream is None:
            self._run_stream = AsyncOperationStream(self)
        async with self._stream_lock:  # over_stream calls share this stream
            return await self._run_stream.run(operations)

    def _stream_closed(self) -> None:
        # The server ended the process with its stream: nothing left to renew or exit.
        self._exited = True
        self._stop_keepalive()

    async def exit(self) -> None:
        """exit(2): free everything the process holds."""
        self._exited = True
        self._stop_keepalive()
        await self._endpoint.invoke(calls.exit_process(self.pid))

    async def close(self) -> None:
        """Exit (if still alive) and close the channel."""
        if self._run_stream is not None:
            await self._run_stream.close()
        if not self._exited:
            with contextlib.suppress(VmsimError):  # already dead or already gone
                await self.exit()
        self._stop_keepalive()
        await self._endpoint.close()

    async def __aenter__(self) -> AsyncProcess:
        # A forked or attached process is running already: the block only ends it.
        return self if self.pid else await self.start()


class AsyncFile(AsyncClosedOnExit, AsyncFileCalls):
    """An open file of an AsyncProcess (from `AsyncProcess.open`), as vmsim.File."""

    process: AsyncProcess

    def __init__(self, process: AsyncProcess, fd: int, path: str) -> None:
        self.process, self.fd, self.path = process, fd, path
        self.closed = False

    def __repr__(self) -> str:
        return f"<vmsim.aio.AsyncFile fd={self.fd} {self.path!r} of pid {self.process.pid}>"

    async def close(self) -> None:
        """close(2) (a second close does nothing; the mappings stay)."""
        if not self.closed:
            self.closed = True
            await self.process._invoke(calls.close_file(self.process.pid, self.fd))


@parameters_of(AsyncProcess)
def connect(*args: Any, **kwargs: Any) -> AsyncProcess:
    """`async with vmsim.aio.connect(addr) as proc:` spawns a process for the block.

    Without `async with`, call `await proc.start()` first and `await proc.close()` after.
    *tls*, *client_name* and *admin_token* are as for vmsim.connect. With *over_stream*, the
    process calls (mmap, touch, touch_many, read, write ...) travel on one Run stream opened at
    start; closing the process closes the stream.
    """
    return AsyncProcess(*args, **kwargs)
