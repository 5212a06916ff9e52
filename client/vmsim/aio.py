"""The asyncio client: the same operations as client.py, awaited (built from the same calls.py).

Both flavours execute the call descriptions of calls.py through one endpoint base
(endpoint.py: stubs, metadata, deadline, reply); each method here is the await of its sync
twin, and tests/service/test_client_flavours.py fails when a method, a parameter or a default
differs between the two or when a description of calls.py is missing from either.

async with vmsim.aio.connect(addr, name="worker") as proc:
    a = await proc.mmap(16 * MiB)
    await proc.touch_many(range(a, a + 16 * MiB, PAGE_SIZE))
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from . import calls, results
from .calls import Call, Listing
from .channels import Tls, admin_metadata, aio_channel
from .constants import (
    ADMIN_TOKEN_METADATA_KEY,
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    O_RDONLY,
    PROT_READ,
    PROT_WRITE,
    SEEK_SET,
    TOKEN_METADATA_KEY,
)
from .endpoint import AsyncClosedOnExit, EndpointBase, RunStreamBase, parameters_of
from .errors import DeadlineExceeded, Unavailable, VmsimError, error_from_rpc

if TYPE_CHECKING:
    import numpy.typing as npt

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


class AsyncInspector(AsyncClosedOnExit):
    """The machine's /proc over the network, awaited (no token needed)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        timeout: float = DEFAULT_TIMEOUT,
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self._endpoint = _AsyncEndpoint(address, timeout, tls=tls, client_name=client_name)

    async def meminfo(self) -> results.Report:
        """/proc/meminfo (values in kB)."""
        return await self._endpoint.invoke(calls.meminfo())

    async def vmstat(self) -> results.Report:
        """/proc/vmstat."""
        return await self._endpoint.invoke(calls.vmstat())

    async def layout(self) -> results.Report:
        """The boot layout: virtual kernel memory layout, memblock reservations."""
        return await self._endpoint.invoke(calls.layout())

    async def sysctl(self, name: str = "") -> dict[str, str]:
        """vm sysctls by full name: *name*'s ("vm.swappiness"), or all when empty."""
        return await self._endpoint.invoke(calls.sysctl(name))

    async def zoneinfo(self) -> Listing[results.Zone]:
        """/proc/zoneinfo."""
        return await self._endpoint.invoke(calls.zoneinfo())

    async def buddyinfo(self) -> Listing[results.Zone]:
        """/proc/buddyinfo."""
        return await self._endpoint.invoke(calls.buddyinfo())

    async def pagetypeinfo(self) -> Listing[results.ZonePageTypes]:
        """/proc/pagetypeinfo."""
        return await self._endpoint.invoke(calls.pagetypeinfo())

    async def swaps(self) -> Listing[results.SwapArea]:
        """/proc/swaps."""
        return await self._endpoint.invoke(calls.swaps())

    async def processes(self, all: bool = False) -> list[results.ProcessStatus]:
        """The live processes by pid; *all* adds the ended ones (zombies)."""
        return await self._endpoint.invoke(calls.processes(all))

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

    async def smaps_rollup(self, pid: int) -> results.Report:
        """/proc/<pid>/smaps_rollup (kB by name; its Linux text in .text)."""
        return await self._endpoint.invoke(calls.smaps_rollup(pid))

    async def status(self, pid: int) -> results.ProcessStatus:
        """/proc/<pid>/status (its Linux text in .text)."""
        return await self._endpoint.invoke(calls.status(pid))

    async def translation(self, pid: int, addr: int, logical: str = "") -> results.Translation:
        """The page walk of *addr*, or of "selector:offset" via the GDT, in any process (nothing faults)."""
        return await self._endpoint.invoke(calls.translation(pid, addr, logical))

    async def shm(self) -> list[results.ShmObject]:
        """The named shared memory objects (ls -l /dev/shm)."""
        return await self._endpoint.invoke(calls.shm())

    async def lock_stat(self) -> Listing[results.LockClass]:
        """/proc/lock_stat."""
        return await self._endpoint.invoke(calls.lock_stat())

    async def free_kb(self) -> int:
        """Free memory in kB counting the per-cpu lists: MemFree plus the pages parked on the
        CPUs' lists (not in MemFree, as on Linux); what comes back when processes exit."""
        meminfo = await self._endpoint.invoke(calls.meminfo())
        zones = await self._endpoint.invoke(calls.zoneinfo())
        return results.free_kb(meminfo, zones.items)

    async def files(self) -> list[results.FileInfo]:
        """The files of the machine's file system (ls -l plus their page cache pages)."""
        return await self._endpoint.invoke(calls.files())

    async def open_files(self, pid: int) -> list[results.OpenFileInfo]:
        """Process *pid*'s open descriptors (/proc/PID/fdinfo)."""
        return await self._endpoint.invoke(calls.open_files(pid))

    async def cpu_times(self) -> results.CpuTimes:
        """Machine-wide simulated CPU time."""
        return await self._endpoint.invoke(calls.cpu_times())

    async def frame_map(self) -> results.FrameMap:
        """Every physical frame's use, owner and flags."""
        return await self._endpoint.invoke(calls.frame_map())

    async def replay(
        self,
        trace: Sequence[int] | npt.NDArray[Any],
        frames: int,
        policy: str = "lru",
        seed: int = 0,
        addresses: bool = False,
        steps: bool = False,
        counts_only: bool = False,
    ) -> results.ReplayResult:
        """Replay a reference string against *frames* frames under *policy* on the server.

        With *steps* the result holds the memory after every reference (`result.steps`);
        with *counts_only* it holds no victims or fault positions (a long trace's lists cost
        more to send than the replay).
        """
        return await self._endpoint.invoke(
            calls.replay(trace, frames, policy, seed, addresses, steps, counts_only)
        )

    async def miss_ratio_curve(
        self, trace: Sequence[int] | npt.NDArray[Any], addresses: bool = False
    ) -> results.MissRatioCurve:
        """LRU misses for every number of frames at once, computed by the server in one pass."""
        return await self._endpoint.invoke(calls.miss_ratio_curve(trace, addresses))

    async def events(
        self, kinds: Sequence[str] = (), pid: int | None = None, timeout: float | None = None
    ) -> AsyncIterator[results.Event]:
        """Follow the event feed (kinds from calls.EVENT_KINDS); ends when the timeout passes."""
        stub = self._endpoint.stubs["inspect"]
        stream = stub.WatchEvents(calls.watch_request(kinds, pid), timeout=timeout)
        try:
            async for message in stream:
                yield results.event(message)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise error_from_rpc(error) from None
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


class AsyncAdmin(AsyncClosedOnExit):
    """Privileged calls, awaited; needs the server's admin token (from its token file)."""

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

    async def reset_lock_stat(self) -> None:
        """Clear /proc/lock_stat."""
        await self._endpoint.invoke(calls.reset_lock_stat())

    async def set_sysctl(self, name: str, value: str | int) -> str:
        """sysctl -w vm.NAME=VALUE; returns the value now in effect."""
        return await self._endpoint.invoke(calls.set_sysctl(name, value))

    async def kill(self, pid: int, reason: str = "") -> None:
        """SIGKILL a process."""
        await self._endpoint.invoke(calls.kill(pid, reason))

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


class AsyncProcess(AsyncClosedOnExit):
    """One simulated process, awaited; create it with `connect` and `async with`.

    A task renews the server's lease every lease_seconds/3 until the process exits.
    """

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

    async def mlock(self, addr: int, length: int) -> None:
        """mlock(2): fault [addr, addr+length) in now and keep it in RAM (Mlocked)."""
        await self._invoke(calls.mlock(self.pid, addr, length))

    async def munlock(self, addr: int, length: int) -> None:
        """munlock(2): the range evictable again."""
        await self._invoke(calls.munlock(self.pid, addr, length))

    async def shm_create(self, name: str, size: int, mode: int = 0o600) -> None:
        """shm_open(O_CREAT|O_EXCL) + ftruncate: a named shared memory object of *size*
        bytes, owned by this process's user, with permission *mode*."""
        await self._invoke(calls.shm_create(self.pid, name, size, mode))

    async def shm_map(
        self, name: str, prot: int = PROT_READ | PROT_WRITE, flags: int = MAP_SHARED, addr: int = 0
    ) -> int:
        """shm_open + mmap(MAP_SHARED) of a whole named object (of any process's, if its mode
        lets this user in); returns the address."""
        return await self._invoke(calls.shm_map(self.pid, name, prot, flags, addr))

    async def shm_unlink(self, name: str) -> None:
        """shm_unlink: the name goes now, the object with its last mapping."""
        await self._invoke(calls.shm_unlink(self.pid, name))

    async def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> AsyncFile:
        """open(2) (O_CREAT creates it with *mode*, owned by this process's user): the open
        file, which reads, writes, seeks, maps and closes as Linux's calls on its fd do."""
        fd = await self._invoke(calls.open_file(self.pid, path, flags, mode))
        return AsyncFile(self, fd, path)

    async def unlink(self, path: str) -> None:
        """unlink(2): the name goes now, the file with its last descriptor and mapping."""
        await self._invoke(calls.unlink(self.pid, path))

    async def msync(self, addr: int, length: int, flags: int) -> None:
        """msync(2) of a range of file mappings (MS_SYNC, MS_ASYNC, MS_INVALIDATE)."""
        await self._invoke(calls.msync(self.pid, addr, length, flags))

    async def sync(self) -> None:
        """sync(2): every file's dirty pages written back, not only this process's files."""
        await self._invoke(calls.sync(self.pid))

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

    async def call(self, call: Call[T], timeout: float | None = None) -> T:
        """Make one call description (e.g. calls.on_thread(calls.touch(pid, a), tid)).

        *timeout* (seconds) overrides the connection's for this call; past it the server
        stops the call between two quanta and DeadlineExceeded is raised.
        """
        return await self._endpoint.invoke(call, timeout)

    async def spawn_thread(self) -> int:
        """A thread sharing this address space with its own clock; returns its tid."""
        return await self._endpoint.invoke(calls.spawn_thread(self.pid))

    async def exit_thread(self, tid: int) -> None:
        """End a thread from spawn_thread."""
        await self._endpoint.invoke(calls.exit_thread(self.pid, tid))

    async def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
        addr: int = 0,
    ) -> int:
        """mmap(2); returns the address."""
        return await self._invoke(calls.mmap(self.pid, length, prot, flags, addr))

    async def munmap(self, addr: int, length: int) -> None:
        """munmap(2)."""
        await self._invoke(calls.munmap(self.pid, addr, length))

    async def mprotect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2)."""
        await self._invoke(calls.mprotect(self.pid, addr, length, prot))

    async def brk(self, addr: int = 0) -> int:
        """brk(2): 0 queries; returns the break."""
        return await self._invoke(calls.brk(self.pid, addr))

    async def madvise(self, addr: int, length: int, advice: int) -> None:
        """madvise(2)."""
        await self._invoke(calls.madvise(self.pid, addr, length, advice))

    async def touch(self, addr: int, write: bool = False) -> results.FaultKind:
        """One access; what it cost: FaultKind.HIT, MINOR or MAJOR."""
        return await self._invoke(calls.touch(self.pid, addr, write))

    async def touch_many(
        self,
        addrs: Sequence[int] | npt.NDArray[Any],
        write: bool = False,
        timeout: float | None = None,
    ) -> results.TouchSummary:
        """Many accesses in one message (*timeout*: see `call`)."""
        return await self._invoke(calls.touch_many(self.pid, addrs, write), timeout)

    async def read(self, addr: int, length: int) -> bytes:
        """Read the process's memory."""
        return await self._invoke(calls.read(self.pid, addr, length))

    async def write(self, addr: int, data: bytes) -> int:
        """Write the process's memory; returns bytes written."""
        return await self._invoke(calls.write(self.pid, addr, data))

    async def translate(self, addr: int) -> results.Translation:
        """The page walk of *addr*."""
        return await self._invoke(calls.translate(self.pid, addr))

    async def status(self) -> results.ProcessStatus:
        """This process's /proc status."""
        return await self._endpoint.invoke(calls.status(self.pid))

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

    async def smaps_rollup(self) -> results.Report:
        """This process's smaps_rollup."""
        return await self._endpoint.invoke(calls.smaps_rollup(self.pid))

    async def _invoke(self, call: Call[T], timeout: float | None = None) -> T:
        """One process call: a unary RPC, or a message on the open Run stream (over_stream);
        a call with its own *timeout* is always an RPC, so its deadline is the server's too."""
        if self._run_stream is None or not self._over_stream or timeout is not None:
            return await self._endpoint.invoke(call, timeout)
        async with self._stream_lock:  # one operation at a time keeps replies in step
            await self._run_stream.send(call)
            return await self._run_stream.receive()  # type: ignore[no-any-return]

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


class AsyncFile(AsyncClosedOnExit):
    """An open file of an AsyncProcess (from `AsyncProcess.open`), as vmsim.File."""

    def __init__(self, process: AsyncProcess, fd: int, path: str) -> None:
        self.process, self.fd, self.path = process, fd, path
        self.closed = False

    def __repr__(self) -> str:
        return f"<vmsim.aio.AsyncFile fd={self.fd} {self.path!r} of pid {self.process.pid}>"

    async def read(self, length: int) -> bytes:
        """read(2): up to *length* bytes from the file position, which advances."""
        return await self.process._invoke(calls.read_file(self.process.pid, self.fd, length))

    async def write(self, data: bytes) -> int:
        """write(2) at the file position (the end under O_APPEND); returns bytes written."""
        return await self.process._invoke(calls.write_file(self.process.pid, self.fd, data))

    async def pread(self, length: int, offset: int) -> bytes:
        """pread(2): read at *offset*; the file position stays."""
        call = calls.read_file(self.process.pid, self.fd, length, offset)
        return await self.process._invoke(call)

    async def pwrite(self, data: bytes, offset: int) -> int:
        """pwrite(2): write at *offset*; the file position stays."""
        call = calls.write_file(self.process.pid, self.fd, data, offset)
        return await self.process._invoke(call)

    async def lseek(self, offset: int, whence: int = SEEK_SET) -> int:
        """lseek(2); returns the new position."""
        call = calls.lseek(self.process.pid, self.fd, offset, whence)
        return await self.process._invoke(call)

    async def ftruncate(self, length: int) -> None:
        """ftruncate(2): the file becomes *length* bytes."""
        await self.process._invoke(calls.ftruncate(self.process.pid, self.fd, length))

    async def fsync(self) -> None:
        """fsync(2): the file's dirty pages written back."""
        await self.process._invoke(calls.fsync(self.process.pid, self.fd))

    async def mmap(
        self,
        length: int,
        prot: int = PROT_READ,
        flags: int = MAP_SHARED,
        offset: int = 0,
        addr: int = 0,
    ) -> int:
        """mmap(2) of this file from byte *offset* (MAP_SHARED or MAP_PRIVATE); the address."""
        call = calls.mmap_file(self.process.pid, self.fd, length, prot, flags, offset, addr)
        return await self.process._invoke(call)

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
