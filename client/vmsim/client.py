"""The synchronous client: a process on a vmsim server, the inspector and the admin handle.

with vmsim.connect("127.0.0.1:50051", name="demo") as proc:
    a = proc.mmap(16 * MiB)
    proc.write(a, b"hi")
    assert proc.read(a, 2) == b"hi"
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from vmsim_proto.metadata import ADMIN_TOKEN_METADATA_KEY, TOKEN_METADATA_KEY
from vmsim_proto.v1 import process_pb2

from . import calls, results
from .calls import Call, Listing
from .channels import Tls, admin_metadata, open_channel
from .constants import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    O_RDONLY,
    PROT_READ,
    PROT_WRITE,
    SEEK_SET,
)
from .endpoint import (
    ClosedOnExit,
    EndpointBase,
    RunStreamBase,
    event_feed_errors,
    parameters_of,
    rides_the_stream,
)
from .errors import DeadlineExceeded, Unavailable, VmsimError, error_from_rpc

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["Admin", "File", "Inspector", "OperationStream", "Process", "connect", "inspect"]

T = TypeVar("T")


class _Endpoint(EndpointBase):
    """A blocking channel and its stubs; executes Call descriptions."""

    def __init__(
        self,
        address: str,
        timeout: float,
        metadata: tuple[tuple[str, str], ...] = (),
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self.channel = open_channel(address, tls)
        super().__init__(address, timeout, self.channel, metadata, client_name)

    def invoke(self, call: Call[T], timeout: float | None = None) -> T:
        method = getattr(self.stubs[call.service], call.method)
        try:
            reply = method(call.request, timeout=self.deadline(timeout), metadata=self.metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        return self.finish(call, reply)

    def close(self) -> None:
        self.channel.close()


class Inspector(ClosedOnExit):
    """The machine's /proc over the network (no token needed)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        timeout: float = DEFAULT_TIMEOUT,
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self._endpoint = _Endpoint(address, timeout, tls=tls, client_name=client_name)

    def meminfo(self) -> results.Report:
        """/proc/meminfo (values in kB)."""
        return self._endpoint.invoke(calls.meminfo())

    def vmstat(self) -> results.Report:
        """/proc/vmstat."""
        return self._endpoint.invoke(calls.vmstat())

    def layout(self) -> results.Report:
        """The boot layout: virtual kernel memory layout, memblock reservations."""
        return self._endpoint.invoke(calls.layout())

    def sysctl(self, name: str = "") -> dict[str, str]:
        """vm sysctls by full name: *name*'s ("vm.swappiness"), or all when empty."""
        return self._endpoint.invoke(calls.sysctl(name))

    def zoneinfo(self) -> Listing[results.Zone]:
        """/proc/zoneinfo."""
        return self._endpoint.invoke(calls.zoneinfo())

    def buddyinfo(self) -> Listing[results.Zone]:
        """/proc/buddyinfo."""
        return self._endpoint.invoke(calls.buddyinfo())

    def pagetypeinfo(self) -> Listing[results.ZonePageTypes]:
        """/proc/pagetypeinfo."""
        return self._endpoint.invoke(calls.pagetypeinfo())

    def swaps(self) -> Listing[results.SwapArea]:
        """/proc/swaps."""
        return self._endpoint.invoke(calls.swaps())

    def processes(self, all: bool = False) -> list[results.ProcessStatus]:
        """The live processes by pid; *all* adds the ended ones (zombies)."""
        return self._endpoint.invoke(calls.processes(all))

    def maps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/maps."""
        return calls.whole_report(functools.partial(calls.maps, pid), self._endpoint.invoke)

    def smaps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/smaps."""
        return calls.whole_report(functools.partial(calls.smaps, pid), self._endpoint.invoke)

    def smaps_rollup(self, pid: int) -> results.Report:
        """/proc/<pid>/smaps_rollup (kB by name; its Linux text in .text)."""
        return self._endpoint.invoke(calls.smaps_rollup(pid))

    def status(self, pid: int) -> results.ProcessStatus:
        """/proc/<pid>/status (its Linux text in .text)."""
        return self._endpoint.invoke(calls.status(pid))

    def translation(self, pid: int, addr: int, logical: str = "") -> results.Translation:
        """The page walk of *addr*, or of "selector:offset" via the GDT, in any process (nothing faults)."""
        return self._endpoint.invoke(calls.translation(pid, addr, logical))

    def shm(self) -> list[results.ShmObject]:
        """The named shared memory objects (ls -l /dev/shm)."""
        return self._endpoint.invoke(calls.shm())

    def lock_stat(self) -> Listing[results.LockClass]:
        """/proc/lock_stat: contentions, waits and hold times per lock class."""
        return self._endpoint.invoke(calls.lock_stat())

    def free_kb(self) -> int:
        """Free memory in kB counting the per-cpu lists: MemFree plus the pages parked on the
        CPUs' lists (not in MemFree, as on Linux); what comes back when processes exit."""
        meminfo = self._endpoint.invoke(calls.meminfo())
        zones = self._endpoint.invoke(calls.zoneinfo())
        return results.free_kb(meminfo, zones.items)

    def files(self) -> list[results.FileInfo]:
        """The files of the machine's file system (ls -l plus their page cache pages)."""
        return self._endpoint.invoke(calls.files())

    def open_files(self, pid: int) -> list[results.OpenFileInfo]:
        """Process *pid*'s open descriptors (/proc/PID/fdinfo)."""
        return self._endpoint.invoke(calls.open_files(pid))

    def cpu_times(self) -> results.CpuTimes:
        """Machine-wide simulated CPU time."""
        return self._endpoint.invoke(calls.cpu_times())

    def frame_map(self) -> results.FrameMap:
        """Every physical frame's use, owner and flags."""
        return self._endpoint.invoke(calls.frame_map())

    def replay(
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
        return self._endpoint.invoke(
            calls.replay(trace, frames, policy, seed, addresses, steps, counts_only)
        )

    def miss_ratio_curve(
        self, trace: Sequence[int] | npt.NDArray[Any], addresses: bool = False
    ) -> results.MissRatioCurve:
        """LRU misses for every number of frames at once, computed by the server in one pass."""
        return self._endpoint.invoke(calls.miss_ratio_curve(trace, addresses))

    def events(
        self, kinds: Sequence[str] = (), pid: int | None = None, timeout: float | None = None
    ) -> Generator[results.Event, None, None]:
        """Follow the event feed (kinds from calls.EVENT_KINDS); ends when the timeout passes."""
        stub = self._endpoint.stubs["inspect"]
        stream = stub.WatchEvents(calls.watch_request(kinds, pid), timeout=timeout)
        try:
            with event_feed_errors():
                for message in stream:
                    yield results.event(message)
        finally:
            stream.cancel()

    def close(self) -> None:
        """Close the channel."""
        self._endpoint.close()


def inspect(
    address: str = DEFAULT_ADDRESS, timeout: float = DEFAULT_TIMEOUT, tls: Tls | None = None
) -> Inspector:
    """An Inspector for the server at *address* (use it as a context manager)."""
    return Inspector(address, timeout, tls)


class Admin(ClosedOnExit):
    """Privileged calls; needs the server's admin token (from its token file).

    An empty *admin_token* is read from VMSIM_ADMIN_TOKEN or the file VMSIM_ADMIN_TOKEN_FILE.
    """

    def __init__(
        self,
        address: str,
        admin_token: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self._endpoint = _Endpoint(address, timeout, admin_metadata(admin_token), tls, client_name)

    def reset_lock_stat(self) -> None:
        """Clear /proc/lock_stat."""
        self._endpoint.invoke(calls.reset_lock_stat())

    def set_sysctl(self, name: str, value: str | int) -> str:
        """sysctl -w vm.NAME=VALUE; returns the value now in effect."""
        return self._endpoint.invoke(calls.set_sysctl(name, value))

    def swapon(self, name: str, size: int, priority: int = -1) -> results.SwapArea:
        """mkswap + swapon of /swap/NAME; returns the area as /proc/swaps shows it."""
        return self._endpoint.invoke(calls.swapon(name, size, priority))

    def swapoff(self, name: str) -> None:
        """swapoff of an area (NAME, /swap/NAME or its /proc/swaps filename)."""
        self._endpoint.invoke(calls.swapoff(name))

    def kill(self, pid: int, reason: str = "") -> None:
        """SIGKILL a process."""
        self._endpoint.invoke(calls.kill(pid, reason))

    def close(self) -> None:
        """Close the channel."""
        self._endpoint.close()


class OperationStream(RunStreamBase, ClosedOnExit):
    """A Run stream: many operations in flight on one call, results in the order sent.

    Operations are the process calls of `vmsim.calls` (e.g. `calls.touch_many(pid, addrs)`).
    The stream owns the process's lifetime: when it closes, the server ends the process.
    One thread at a time may use a stream.

        with proc.stream() as stream:
            for chunk in chunks:
                stream.send(calls.touch_many(proc.pid, chunk))
            summaries = [stream.receive() for _ in chunks]
    """

    _END = object()

    def __init__(self, process: Process) -> None:
        super().__init__(process._endpoint)
        self._process = process
        self._outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stub = process._endpoint.stubs["process"]
        self._replies = stub.Run(self._requests(), metadata=process._endpoint.metadata)

    def _requests(self) -> Iterator[process_pb2.RunRequest]:
        while (item := self._outgoing.get()) is not self._END:
            yield item

    def send(self, call: Call[Any]) -> int:
        """Queue one operation without waiting for its result; returns its id."""
        op_id, request = self._next_request(call)
        self._outgoing.put(request)
        return op_id

    def receive(self) -> Any:
        """The result of the oldest operation in flight; raises that operation's error."""
        call = self._oldest()
        try:
            reply = next(self._replies)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        except StopIteration:
            raise Unavailable("the server ended the Run stream", "UNAVAILABLE") from None
        return self._result(call, reply)

    def run(self, operations: Sequence[Call[Any]]) -> list[Any]:
        """Send every operation, then collect the results in order (an error is returned as its VmsimError)."""
        self._check_nothing_in_flight()
        for operation in operations:
            self.send(operation)
        outcomes: list[Any] = []
        for _ in operations:
            try:
                outcomes.append(self.receive())
            except VmsimError as error:
                outcomes.append(error)
        return outcomes

    def close(self) -> None:
        """End the stream; the server ends the process with it."""
        if self._closed:
            return
        self._closed = True
        self._outgoing.put(self._END)
        with contextlib.suppress(grpc.RpcError):
            for _ in self._replies:
                pass
        self._process._stream_closed()


class Process(ClosedOnExit):
    """One simulated process; create it with `connect`.

    A daemon thread renews the server's lease every lease_seconds/3 until the process
    exits, so an idle but living client keeps its process; a client that dies stops
    renewing and the server reclaims the memory. With over_stream the open Run stream holds
    the lease instead, and the process calls travel on it.
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
        self._endpoint = _Endpoint(address, timeout, privileged, tls, client_name)
        try:
            spawned = self._endpoint.invoke(calls.spawn(name, oom_score_adj))
        except VmsimError:
            self._endpoint.close()
            raise
        self._tls, self._client_name = tls, client_name
        self._start(spawned.pid, spawned.token, spawned.lease_seconds, keepalive, over_stream)

    def _start(
        self, pid: int, token: str, lease_seconds: int, keepalive: bool, over_stream: bool
    ) -> None:
        """Act on process *pid* with *token* from now on (a spawned or an attached one)."""
        self.pid: int = pid
        self.token: str = token  # what `attach` needs to act on this process elsewhere
        self.lease_seconds: int = lease_seconds
        self._endpoint.metadata = (*self._endpoint.identity, (TOKEN_METADATA_KEY, token))
        self._closed = threading.Event()
        self._run_stream: OperationStream | None = None
        self._keepalive: threading.Thread | None = None
        # Process calls over one Run stream opened now, instead of one RPC each: many
        # clients then cost the server a message per call rather than a whole RPC.
        self._over_stream = over_stream
        self._stream_lock = threading.Lock()
        if over_stream:
            self._run_stream = OperationStream(self)  # the open stream holds the lease
        elif keepalive:
            self._keepalive = threading.Thread(
                target=self._heartbeat, name=f"vmsim-keepalive-{self.pid}", daemon=True
            )
            self._keepalive.start()

    def __repr__(self) -> str:
        return f"<vmsim.Process pid={self.pid} at {self._endpoint.address}>"

    @classmethod
    def attach(
        cls,
        pid: int,
        token: str,
        address: str = DEFAULT_ADDRESS,
        timeout: float = DEFAULT_TIMEOUT,
        keepalive: bool = True,
        tls: Tls | None = None,
        client_name: str | None = None,
        over_stream: bool = False,
    ) -> Process:
        """A handle on a process that exists already, from its pid and token (a child from
        `fork`, handed to another script): its own connection, heartbeats and lease.

        Raises:
            Unauthenticated, PermissionDenied: the token is unknown, or not *pid*'s.
            ProcessKilled, NoSuchProcess: the process has ended.
        """
        self = cls.__new__(cls)
        self._endpoint = _Endpoint(
            address, timeout, ((TOKEN_METADATA_KEY, token),), tls, client_name
        )
        self._tls, self._client_name = tls, client_name
        try:
            lease_seconds = self._endpoint.invoke(calls.heartbeat(pid))
        except VmsimError:
            self._endpoint.close()
            raise
        self._start(pid, token, lease_seconds, keepalive, over_stream)
        return self

    def mlock(self, addr: int, length: int) -> None:
        """mlock(2): fault [addr, addr+length) in now and keep it in RAM (Mlocked)."""
        self._invoke(calls.mlock(self.pid, addr, length))

    def munlock(self, addr: int, length: int) -> None:
        """munlock(2): the range evictable again."""
        self._invoke(calls.munlock(self.pid, addr, length))

    def shm_create(self, name: str, size: int, mode: int = 0o600) -> None:
        """shm_open(O_CREAT|O_EXCL) + ftruncate: a named shared memory object of *size*
        bytes, owned by this process's user, with permission *mode*."""
        self._invoke(calls.shm_create(self.pid, name, size, mode))

    def shm_map(
        self, name: str, prot: int = PROT_READ | PROT_WRITE, flags: int = MAP_SHARED, addr: int = 0
    ) -> int:
        """shm_open + mmap(MAP_SHARED) of a whole named object (of any process's, if its mode
        lets this user in); returns the address."""
        return self._invoke(calls.shm_map(self.pid, name, prot, flags, addr))

    def shm_unlink(self, name: str) -> None:
        """shm_unlink: the name goes now, the object with its last mapping."""
        self._invoke(calls.shm_unlink(self.pid, name))

    def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> File:
        """open(2) (O_CREAT creates it with *mode*, owned by this process's user): the open
        file, which reads, writes, seeks, maps and closes as Linux's calls on its fd do."""
        return File(self, self._invoke(calls.open_file(self.pid, path, flags, mode)), path)

    def unlink(self, path: str) -> None:
        """unlink(2): the name goes now, the file with its last descriptor and mapping."""
        self._invoke(calls.unlink(self.pid, path))

    def msync(self, addr: int, length: int, flags: int) -> None:
        """msync(2) of a range of file mappings (MS_SYNC, MS_ASYNC, MS_INVALIDATE)."""
        self._invoke(calls.msync(self.pid, addr, length, flags))

    def sync(self) -> None:
        """sync(2): every file's dirty pages written back, not only this process's files."""
        self._invoke(calls.sync(self.pid))

    def fork(self) -> Process:
        """fork(2): the child process, a copy-on-write copy of this one, on a connection of
        its own; its `pid` and `token` let another script `attach` to it."""
        reply = self._endpoint.invoke(calls.fork(self.pid))
        child = self.__class__.__new__(self.__class__)
        child._endpoint = _Endpoint(
            self._endpoint.address, self._endpoint.timeout, (), self._tls, self._client_name
        )
        child._tls, child._client_name = self._tls, self._client_name
        child._start(reply.pid, reply.token, reply.lease_seconds, True, self._over_stream)
        return child

    def _heartbeat(self) -> None:
        while not self._closed.wait(max(0.2, self.lease_seconds / 3)):
            try:
                self._endpoint.invoke(calls.heartbeat(self.pid))
            except (Unavailable, DeadlineExceeded):
                continue  # a blip: the lease outlasts several periods, so try again next time
            except (VmsimError, ValueError):
                return  # the process is gone (or the channel closed); the next real call says so

    @property
    def last_cost(self) -> results.CallCost | None:
        """The simulated cost of this process's latest timed call (mmap, touch, read ...)."""
        return self._endpoint.last_cost

    def call(self, call: Call[T], timeout: float | None = None) -> T:
        """Make one call description (e.g. calls.on_thread(calls.touch(pid, a), tid)).

        *timeout* (seconds) overrides the connection's for this call; past it the server
        stops the call between two quanta and DeadlineExceeded is raised.
        """
        return self._endpoint.invoke(call, timeout)

    def spawn_thread(self) -> int:
        """A thread sharing this address space with its own clock; returns its tid."""
        return self._endpoint.invoke(calls.spawn_thread(self.pid))

    def exit_thread(self, tid: int) -> None:
        """End a thread from spawn_thread."""
        self._endpoint.invoke(calls.exit_thread(self.pid, tid))

    def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
        addr: int = 0,
    ) -> int:
        """mmap(2); returns the address."""
        return self._invoke(calls.mmap(self.pid, length, prot, flags, addr))

    def munmap(self, addr: int, length: int) -> None:
        """munmap(2)."""
        self._invoke(calls.munmap(self.pid, addr, length))

    def mremap(
        self, old_address: int, old_size: int, new_size: int, flags: int = 0, new_address: int = 0
    ) -> int:
        """mremap(2): shrink or grow [old_address, old_address+old_size) to new_size bytes;
        with MREMAP_MAYMOVE it may move (pages and bytes with it), MREMAP_FIXED to exactly
        *new_address*, MREMAP_DONTUNMAP leaving the old range empty. Returns where the
        mapping is now."""
        return self._invoke(
            calls.mremap(self.pid, old_address, old_size, new_size, flags, new_address)
        )

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2)."""
        self._invoke(calls.mprotect(self.pid, addr, length, prot))

    def brk(self, addr: int = 0) -> int:
        """brk(2): 0 queries; returns the break."""
        return self._invoke(calls.brk(self.pid, addr))

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """madvise(2)."""
        self._invoke(calls.madvise(self.pid, addr, length, advice))

    def touch(self, addr: int, write: bool = False) -> results.FaultKind:
        """One access; what it cost: FaultKind.HIT, MINOR or MAJOR."""
        return self._invoke(calls.touch(self.pid, addr, write))

    def touch_many(
        self,
        addrs: Sequence[int] | npt.NDArray[Any],
        write: bool = False,
        timeout: float | None = None,
    ) -> results.TouchSummary:
        """Many accesses in one message (*timeout*: see `call`)."""
        return self._invoke(calls.touch_many(self.pid, addrs, write), timeout)

    def read(self, addr: int, length: int) -> bytes:
        """Read the process's memory."""
        return self._invoke(calls.read(self.pid, addr, length))

    def write(self, addr: int, data: bytes) -> int:
        """Write the process's memory; returns bytes written."""
        return self._invoke(calls.write(self.pid, addr, data))

    def translate(self, addr: int) -> results.Translation:
        """The page walk of *addr*."""
        return self._invoke(calls.translate(self.pid, addr))

    def status(self) -> results.ProcessStatus:
        """This process's /proc status."""
        return self._endpoint.invoke(calls.status(self.pid))

    def maps(self) -> Listing[results.Vma]:
        """This process's maps."""
        return calls.whole_report(functools.partial(calls.maps, self.pid), self._endpoint.invoke)

    def smaps(self) -> Listing[results.Vma]:
        """This process's smaps."""
        return calls.whole_report(functools.partial(calls.smaps, self.pid), self._endpoint.invoke)

    def smaps_rollup(self) -> results.Report:
        """This process's smaps_rollup."""
        return self._endpoint.invoke(calls.smaps_rollup(self.pid))

    def _invoke(self, call: Call[T], timeout: float | None = None) -> T:
        """One process call: a message on the open Run stream when it rides it
        (rides_the_stream), else a unary RPC."""
        stream = self._run_stream
        if stream is None or not rides_the_stream(self._over_stream, call, timeout):
            return self._endpoint.invoke(call, timeout)
        with self._stream_lock:  # one operation at a time keeps replies in step
            stream.send(call)
            return stream.receive()  # type: ignore[no-any-return]

    def stream(self) -> OperationStream:
        """A Run stream for high rates; closing it ends the process."""
        return OperationStream(self)

    def run(self, operations: Sequence[Call[Any]]) -> list[Any]:
        """Run process calls (from `vmsim.calls`) on one Run stream; results in order.

        The stream opens on first use and stays open until `close`, which ends the
        process anyway. A failed operation's place holds its VmsimError.
        """
        if self._run_stream is None:
            self._run_stream = OperationStream(self)
        with self._stream_lock:  # over_stream calls share this stream
            return self._run_stream.run(operations)

    def _stream_closed(self) -> None:
        # The server ended the process with its stream: nothing left to renew or exit.
        self._closed.set()

    def exit(self) -> None:
        """exit(2): free everything the process holds."""
        self._closed.set()
        self._endpoint.invoke(calls.exit_process(self.pid))

    def close(self) -> None:
        """Exit (if still alive) and close the channel."""
        if self._run_stream is not None:
            self._run_stream.close()
        if not self._closed.is_set():
            with contextlib.suppress(VmsimError):  # already dead or already gone
                self.exit()
        self._endpoint.close()


class File(ClosedOnExit):
    """An open file of a process (from `Process.open`): Linux's calls on its descriptor `fd`.

    with proc.open("/data", vmsim.O_RDWR | vmsim.O_CREAT) as f:
        f.write(b"hello")
        f.lseek(0)
        assert f.read(5) == b"hello"
    """

    def __init__(self, process: Process, fd: int, path: str) -> None:
        self.process, self.fd, self.path = process, fd, path
        self.closed = False

    def __repr__(self) -> str:
        return f"<vmsim.File fd={self.fd} {self.path!r} of pid {self.process.pid}>"

    def read(self, length: int) -> bytes:
        """read(2): up to *length* bytes from the file position, which advances."""
        return self.process._invoke(calls.read_file(self.process.pid, self.fd, length))

    def write(self, data: bytes) -> int:
        """write(2) at the file position (the end under O_APPEND); returns bytes written."""
        return self.process._invoke(calls.write_file(self.process.pid, self.fd, data))

    def pread(self, length: int, offset: int) -> bytes:
        """pread(2): read at *offset*; the file position stays."""
        return self.process._invoke(calls.read_file(self.process.pid, self.fd, length, offset))

    def pwrite(self, data: bytes, offset: int) -> int:
        """pwrite(2): write at *offset*; the file position stays."""
        return self.process._invoke(calls.write_file(self.process.pid, self.fd, data, offset))

    def lseek(self, offset: int, whence: int = SEEK_SET) -> int:
        """lseek(2); returns the new position."""
        return self.process._invoke(calls.lseek(self.process.pid, self.fd, offset, whence))

    def ftruncate(self, length: int) -> None:
        """ftruncate(2): the file becomes *length* bytes."""
        self.process._invoke(calls.ftruncate(self.process.pid, self.fd, length))

    def fsync(self) -> None:
        """fsync(2): the file's dirty pages written back."""
        self.process._invoke(calls.fsync(self.process.pid, self.fd))

    def mmap(
        self,
        length: int,
        prot: int = PROT_READ,
        flags: int = MAP_SHARED,
        offset: int = 0,
        addr: int = 0,
    ) -> int:
        """mmap(2) of this file from byte *offset* (MAP_SHARED or MAP_PRIVATE); the address."""
        return self.process._invoke(
            calls.mmap_file(self.process.pid, self.fd, length, prot, flags, offset, addr)
        )

    def close(self) -> None:
        """close(2) (a second close does nothing; the mappings stay)."""
        if not self.closed:
            self.closed = True
            self.process._invoke(calls.close_file(self.process.pid, self.fd))


@parameters_of(Process)
def connect(*args: Any, **kwargs: Any) -> Process:
    """Spawn a process on the server at *address*; use it as a context manager.

    *tls* (default: VMSIM_TLS_* from the environment) secures the channel; *client_name*
    (default VMSIM_CLIENT_NAME) is who the server counts per-client limits against;
    *admin_token* is needed only for an oom_score_adj below 0. With *over_stream*, the
    process calls (mmap, touch, touch_many, read, write ...) travel on one Run stream opened
    at connect; closing the process closes the stream.
    """
    return Process(*args, **kwargs)
