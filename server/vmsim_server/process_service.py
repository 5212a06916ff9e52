"""ProcessService: the system calls of a client's process (kernel/fork.c, mm/mmap.c, mm/memory.c).

Each method decodes, authorizes through the session table, makes one kernel call and encodes.
A timed call runs as a task of the kernel's scheduler (runner.py), in quanta, so it never
holds the event loop for long, and stops at a quantum boundary when cancelled or late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import grpc
import numpy as np

from vmsim_kernel import (
    InvalidArgument,
    KernelError,
    LimitExceeded,
    Machine,
    MapFlag,
    NoSuchProcess,
    ProcessInfo,
    ProcessKilled,
    ProcessState,
)
from vmsim_kernel.machine import CallCost, CallTask, CostNumbers
from vmsim_proto.v1 import process_pb2, process_pb2_grpc

from . import convert
from .admin_service import require_admin
from .call_metadata import call_metadata
from .errors import status_of
from .limits import ClientLimits, StreamKind
from .runner import TaskRunner
from .sessions import TOKEN_METADATA_KEY, Session, SessionTable, check_owner
from .settings import ServerSettings

__all__ = ["ProcessService", "death_of", "token_of"]

Context = grpc.aio.ServicerContext[Any, Any]
# Operations whose replies carry a CallCost (the others take no simulated time).
TIMED_OPERATIONS = frozenset(
    {
        "mmap",
        "munmap",
        "mremap",
        "mprotect",
        "brk",
        "madvise",
        "touch",
        "touch_many",
        "read",
        "write",
    }
)
TOUCH_REPLIES_KEPT = 1024  # distinct Touch replies kept for reuse (then forgotten at once)
# A reply, and the cost of the scheduler task that produced it (None: not a timed call).
Performed = tuple[Any, CallCost | None]
# One operation: (request, timeout) -> Performed.
Operation = Callable[[Any, float | None], Awaitable[Performed]]


def token_of(context: Context) -> str | None:
    """The x-vmsim-token metadata value, if any."""
    for key, value in call_metadata(context):
        if key == TOKEN_METADATA_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


class ProcessService(process_pb2_grpc.ProcessServiceServicer):
    """One simulated process per client session."""

    def __init__(
        self,
        machine: Machine,
        sessions: SessionTable,
        settings: ServerSettings,
        runner: TaskRunner,
        limits: ClientLimits | None = None,
    ) -> None:
        self._machine = machine
        self._sessions = sessions
        self._settings = settings
        self._runner = runner
        self._limits = limits or ClientLimits(settings)
        # Touch replies by (result, cost): built once, then shared (read only: grpc serializes
        # them, a Run stream copies them into its RunResponse). Saves ~3 us a call.
        self._touch_replies: dict[tuple[Any, CostNumbers], process_pb2.TouchResponse] = {}
        # Whole seconds on the wire; a sub-second test lease reads as 0.
        self._lease_seconds = int(sessions.lease_seconds)
        # The operations a Run stream may carry, by oneof field name; the unary methods use them too.
        self._operations: dict[str, Operation] = {
            "mmap": self._mmap,
            "munmap": self._munmap,
            "mremap": self._mremap,
            "mprotect": self._mprotect,
            "brk": self._brk,
            "madvise": self._madvise,
            "touch": self._touch,
            "touch_many": self._touch_many,
            "read": self._read,
            "write": self._write,
            "translate": self._translate,
        }

    async def _perform(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        """One operation; a timed one's reply carries what it cost its thread."""
        response, cost = await operation(request, timeout)
        if cost is not None:
            response.cost.CopyFrom(convert.call_cost(cost))
        return response

    async def _pace(self, response: Any) -> None:
        """Real-time mode (realtime_factor set): hold the reply for the simulated cost times
        the factor.

        Only this call waits; the event loop serves every other client meanwhile.
        """
        if response.HasField("cost"):
            await asyncio.sleep(response.cost.total_ns * self._settings.realtime_factor / 1e9)

    def _authorize(self, context: Context, pid: int) -> Session:
        return self._sessions.authorize(token_of(context), pid)

    def _task(
        self, name: str, r: Any, timeout: float | None, *args: Any
    ) -> Coroutine[Any, Any, CallTask]:
        """Run kernel call *name* for request *r* as a scheduler task (in quanta): await it.

        The runner's own coroutine, not one around it: one frame less on every call.
        """
        return self._runner.call(name, r.pid, *args, tid=r.tid or None, timeout=timeout)

    # ---- operations -----------------------------------------------------------------------------
    async def _mmap(self, r: process_pb2.MmapRequest, timeout: float | None) -> Performed:
        task = await self._task("mmap", r, timeout, r.addr, r.length, r.prot, r.flags)
        return process_pb2.MmapResponse(addr=task.result), task.cost

    async def _munmap(self, r: process_pb2.MunmapRequest, timeout: float | None) -> Performed:
        task = await self._task("munmap", r, timeout, r.addr, r.length)
        return process_pb2.MunmapResponse(), task.cost

    async def _mremap(self, r: process_pb2.MremapRequest, timeout: float | None) -> Performed:
        task = await self._task(
            "mremap", r, timeout, r.old_address, r.old_size, r.new_size, r.flags, r.new_address
        )
        return process_pb2.MremapResponse(addr=task.result), task.cost

    async def _mprotect(self, r: process_pb2.MprotectRequest, timeout: float | None) -> Performed:
        task = await self._task("mprotect", r, timeout, r.addr, r.length, r.prot)
        return process_pb2.MprotectResponse(), task.cost

    async def _brk(self, r: process_pb2.BrkRequest, timeout: float | None) -> Performed:
        task = await self._task("brk", r, timeout, r.addr)
        return process_pb2.BrkResponse(brk=task.result), task.cost

    async def _madvise(self, r: process_pb2.MadviseRequest, timeout: float | None) -> Performed:
        task = await self._task("madvise", r, timeout, r.addr, r.length, r.advice)
        return process_pb2.MadviseResponse(), task.cost

    async def _touch(self, r: process_pb2.TouchRequest, timeout: float | None) -> Performed:
        response = self._touch_at_once(r, timeout)
        if response is not None:
            return response, None  # its cost is in it already
        return await self._touch_queued(r, timeout)

    async def _touch_queued(self, r: process_pb2.TouchRequest, timeout: float | None) -> Performed:
        """The Touch as a scheduler task, behind the calls queued before it."""
        task = await self._task("touch", r, timeout, r.addr, r.write)
        return process_pb2.TouchResponse(result=convert.FAULT_TO_PROTO[task.result]), task.cost

    def _touch_at_once(
        self, r: process_pb2.TouchRequest, timeout: float | None
    ) -> process_pb2.TouchResponse | None:
        """The Touch run at once when the scheduler is idle (TaskRunner.run_alone), its reply
        with its cost; None when it must be queued."""
        done = self._runner.run_alone(
            "touch", r.pid, r.addr, r.write, tid=r.tid or None, timeout=timeout
        )
        if done is None:
            return None
        reply = self._touch_replies.get(done)
        if reply is None:  # few distinct (result, cost) pairs: a resident touch costs the same
            if len(self._touch_replies) >= TOUCH_REPLIES_KEPT:
                self._touch_replies.clear()
            result, cost = done
            reply = self._touch_replies[done] = process_pb2.TouchResponse(
                result=convert.FAULT_TO_PROTO[result], cost=convert.call_cost(cost)
            )
        return reply

    async def _touch_many(
        self, r: process_pb2.TouchManyRequest, timeout: float | None
    ) -> Performed:
        packed = r.packed_addrs
        if len(packed) % 4:
            raise InvalidArgument(
                "packed_addrs",
                f"{len(packed)} bytes is not a whole number of addresses",
                "little-endian uint32 addresses, 4 bytes each",
            )
        count = len(r.addrs) + len(packed) // 4
        if count > self._settings.max_batch:
            raise LimitExceeded(
                f"a batch of {count} addresses exceeds max_batch={self._settings.max_batch}",
                "max_batch",
            )
        addrs = np.frombuffer(packed, dtype="<u4")
        if len(r.addrs):
            addrs = np.concatenate((np.asarray(r.addrs, dtype=np.uint32), addrs))
        task = await self._task("touch_many", r, timeout, addrs, r.write)
        summary = task.result
        return process_pb2.TouchManyResponse(
            touched=summary.nr_touched,
            hits=summary.nr_hits,
            minor=summary.nr_minor,
            major=summary.nr_major,
        ), task.cost

    def _check_io_size(self, nr_bytes: int, what: str) -> None:
        """A read or write of memory or of a file moves at most max_io_bytes in one call."""
        if nr_bytes > self._settings.max_io_bytes:
            raise LimitExceeded(
                f"a {what} of {nr_bytes} bytes exceeds max_io_bytes={self._settings.max_io_bytes}",
                "max_io_bytes",
            )

    async def _read(self, r: process_pb2.ReadRequest, timeout: float | None) -> Performed:
        self._check_io_size(r.length, "read")
        task = await self._task("read", r, timeout, r.addr, r.length)
        return process_pb2.ReadResponse(data=task.result), task.cost

    async def _write(self, r: process_pb2.WriteRequest, timeout: float | None) -> Performed:
        self._check_io_size(len(r.data), "write")
        task = await self._task("write", r, timeout, r.addr, r.data)
        return process_pb2.WriteResponse(written=len(r.data)), task.cost

    async def _translate(self, r: process_pb2.TranslateRequest, timeout: float | None) -> Performed:
        walk = self._machine.translate(r.pid, r.addr)
        return process_pb2.TranslateResponse(
            translation=convert.translation(walk), text=convert.format_translation(walk)
        ), None

    # ---- RPCs ----------------------------------------------------------------------------------
    async def Spawn(
        self, request: process_pb2.SpawnRequest, context: Context
    ) -> process_pb2.SpawnResponse:
        if request.oom_score_adj < 0:  # raising priority needs privilege (CAP_SYS_RESOURCE)
            require_admin(context, self._settings.admin_token)
        identity = self._limits.identity(context)
        live_on_machine = sum(1 for task in self._machine.tasks.values() if task.alive)
        self._limits.check_processes(identity, self._live_processes(identity), live_on_machine)
        pid = self._machine.spawn(
            request.name, request.oom_score_adj, self._sessions.uid_of(identity)
        )
        return process_pb2.SpawnResponse(
            pid=pid,
            token=self._sessions.open(pid, identity).token,
            lease_seconds=self._lease_seconds,
        )

    def _live_processes(self, identity: str) -> int:
        tasks = self._machine.tasks
        return sum(
            1
            for pid in self._sessions.pids_of(identity)
            if (task := tasks.get(pid)) is not None and task.alive
        )

    async def Heartbeat(
        self, request: process_pb2.HeartbeatRequest, context: Context
    ) -> process_pb2.HeartbeatResponse:
        self._authorize(context, request.pid)
        self._check_alive(request.pid)
        return process_pb2.HeartbeatResponse(lease_seconds=self._lease_seconds)

    def _check_alive(self, pid: int) -> None:
        """Refuse a call that the kernel makes for no task of *pid* when *pid* is dead."""
        info = self._machine.process(pid)
        if info.state is ProcessState.ZOMBIE:
            raise death_of(info)

    async def _unary(
        self, operation: Operation, request: Any, context: Context, session: Session | None = None
    ) -> Any:
        """One operation as a unary RPC (*session*: already authorized)."""
        session = session or self._authorize(context, request.pid)
        with self._sessions.call_in_flight(session):  # a queued or running call holds the lease
            response = await self._perform(operation, request, context.time_remaining())
        if self._settings.realtime_factor:
            await self._pace(response)
        return response

    async def Mmap(
        self, request: process_pb2.MmapRequest, context: Context
    ) -> process_pb2.MmapResponse:
        return await self._unary(self._mmap, request, context)  # type: ignore[no-any-return]

    async def Munmap(
        self, request: process_pb2.MunmapRequest, context: Context
    ) -> process_pb2.MunmapResponse:
        return await self._unary(self._munmap, request, context)  # type: ignore[no-any-return]

    async def Mremap(
        self, request: process_pb2.MremapRequest, context: Context
    ) -> process_pb2.MremapResponse:
        return await self._unary(self._mremap, request, context)  # type: ignore[no-any-return]

    async def Mprotect(
        self, request: process_pb2.MprotectRequest, context: Context
    ) -> process_pb2.MprotectResponse:
        return await self._unary(self._mprotect, request, context)  # type: ignore[no-any-return]

    async def Brk(
        self, request: process_pb2.BrkRequest, context: Context
    ) -> process_pb2.BrkResponse:
        return await self._unary(self._brk, request, context)  # type: ignore[no-any-return]

    async def Madvise(
        self, request: process_pb2.MadviseRequest, context: Context
    ) -> process_pb2.MadviseResponse:
        return await self._unary(self._madvise, request, context)  # type: ignore[no-any-return]

    async def Touch(
        self, request: process_pb2.TouchRequest, context: Context
    ) -> process_pb2.TouchResponse:
        # The common call, answered here when it runs at once (_touch_at_once: an idle
        # scheduler): no await between the authorization and the reply, so no lease bookkeeping
        # (call_in_flight) is needed and no coroutine of _unary's chain is made. A Touch that
        # must be queued, or paced in real-time mode, takes the way of every other call.
        session = self._sessions.authorize(token_of(context), request.pid)  # as _authorize
        if self._settings.realtime_factor:
            return await self._unary(self._touch, request, context, session)  # type: ignore[no-any-return]
        reply = self._touch_at_once(request, context.time_remaining())
        if reply is not None:
            return reply
        # Tried at once already: queue it, without a second attempt.
        return await self._unary(self._touch_queued, request, context, session)  # type: ignore[no-any-return]

    async def TouchMany(
        self, request: process_pb2.TouchManyRequest, context: Context
    ) -> process_pb2.TouchManyResponse:
        return await self._unary(self._touch_many, request, context)  # type: ignore[no-any-return]

    async def Read(
        self, request: process_pb2.ReadRequest, context: Context
    ) -> process_pb2.ReadResponse:
        return await self._unary(self._read, request, context)  # type: ignore[no-any-return]

    async def Write(
        self, request: process_pb2.WriteRequest, context: Context
    ) -> process_pb2.WriteResponse:
        return await self._unary(self._write, request, context)  # type: ignore[no-any-return]

    async def Translate(
        self, request: process_pb2.TranslateRequest, context: Context
    ) -> process_pb2.TranslateResponse:
        return await self._unary(self._translate, request, context)  # type: ignore[no-any-return]

    async def Exit(
        self, request: process_pb2.ExitRequest, context: Context
    ) -> process_pb2.ExitResponse:
        session = self._authorize(context, request.pid)
        with self._sessions.call_in_flight(session):  # exit_mmap runs in quanta (runner.py)
            await self._runner.call("exit", request.pid, tid=None, timeout=context.time_remaining())
        self._sessions.close(request.pid)
        return process_pb2.ExitResponse()

    async def SpawnThread(
        self, request: process_pb2.SpawnThreadRequest, context: Context
    ) -> process_pb2.SpawnThreadResponse:
        self._authorize(context, request.pid)
        self._limits.check_threads(request.pid, self._machine.process(request.pid).nr_threads)
        return process_pb2.SpawnThreadResponse(tid=self._machine.spawn_thread(request.pid))

    async def ExitThread(
        self, request: process_pb2.ExitThreadRequest, context: Context
    ) -> process_pb2.ExitThreadResponse:
        self._authorize(context, request.pid)
        self._machine.exit_thread(request.pid, request.tid)
        return process_pb2.ExitThreadResponse()

    async def Run(
        self, request_iterator: AsyncIterator[process_pb2.RunRequest], context: Context
    ) -> AsyncIterator[process_pb2.RunResponse]:
        # The stream holds the process from its first moment: an idle stream keeps the
        # lease, and its end (close, cancel or disconnect) is the process's exit.
        session = self._sessions.session_of(token_of(context))
        # Refused before it holds anything (RESOURCE_EXHAUSTED naming the limit): the process
        # lives on, an idle stream must not take the server's last concurrent RPCs.
        with self._limits.streaming(session.identity, StreamKind.RUN):
            session.open_streams += 1
            try:
                async for op in request_iterator:
                    reply = await self._run_one(session, op, context.time_remaining())
                    which = reply.WhichOneof("result")
                    if which in TIMED_OPERATIONS and self._settings.realtime_factor:
                        await self._pace(getattr(reply, which))
                    yield reply
            finally:
                session.open_streams -= 1
                # A closed session's process was already ended (by Exit, or by the shutdown,
                # which may close the machine before a cut stream gets here).
                if session.open_streams == 0 and not session.closed:
                    self._end_process(session.pid)

    async def _run_one(
        self, session: Session, op: process_pb2.RunRequest, timeout: float | None
    ) -> process_pb2.RunResponse:
        """One operation of a Run stream; its error becomes its result."""
        which = op.WhichOneof("op")
        try:
            if which is None:
                raise InvalidArgument("op", "the operation is empty", ", ".join(self._operations))
            inner = getattr(op, which)
            check_owner(session, inner.pid)
            result = await self._perform(self._operations[which], inner, timeout)
        except KernelError as error:
            return process_pb2.RunResponse(id=op.id, error=status_of(error))
        return process_pb2.RunResponse(id=op.id, **{which: result})

    async def Fork(
        self, request: process_pb2.ForkRequest, context: Context
    ) -> process_pb2.ForkResponse:
        session = self._authorize(context, request.pid)
        identity = session.identity
        live_on_machine = sum(1 for task in self._machine.tasks.values() if task.alive)
        self._limits.check_processes(identity, self._live_processes(identity), live_on_machine)
        with self._sessions.call_in_flight(session):
            task = await self._runner.call(
                "fork", request.pid, tid=request.tid or None, timeout=context.time_remaining()
            )
        child: int = task.result
        return process_pb2.ForkResponse(
            pid=child,
            token=self._sessions.open(child, identity).token,
            lease_seconds=self._lease_seconds,
            cost=convert.call_cost(task.cost),
        )

    async def _shm_create(
        self, r: process_pb2.ShmCreateRequest, timeout: float | None
    ) -> Performed:
        await self._task("shm_create", r, timeout, r.name, r.size, r.mode or 0o600)
        return process_pb2.ShmCreateResponse(), None

    async def _shm_map(self, r: process_pb2.ShmMapRequest, timeout: float | None) -> Performed:
        flags = r.flags or int(MapFlag.SHARED)
        task = await self._task("shm_map", r, timeout, r.name, r.prot, flags, r.addr)
        return process_pb2.ShmMapResponse(addr=task.result), task.cost

    async def _shm_unlink(
        self, r: process_pb2.ShmUnlinkRequest, timeout: float | None
    ) -> Performed:
        await self._task("shm_unlink", r, timeout, r.name)
        return process_pb2.ShmUnlinkResponse(), None

    async def ShmCreate(
        self, request: process_pb2.ShmCreateRequest, context: Context
    ) -> process_pb2.ShmCreateResponse:
        return await self._unary(self._shm_create, request, context)  # type: ignore[no-any-return]

    async def ShmMap(
        self, request: process_pb2.ShmMapRequest, context: Context
    ) -> process_pb2.ShmMapResponse:
        return await self._unary(self._shm_map, request, context)  # type: ignore[no-any-return]

    async def ShmUnlink(
        self, request: process_pb2.ShmUnlinkRequest, context: Context
    ) -> process_pb2.ShmUnlinkResponse:
        return await self._unary(self._shm_unlink, request, context)  # type: ignore[no-any-return]

    async def _mlock(self, r: process_pb2.MlockRequest, timeout: float | None) -> Performed:
        task = await self._task("mlock", r, timeout, r.addr, r.length)
        return process_pb2.MlockResponse(), task.cost

    async def _munlock(self, r: process_pb2.MunlockRequest, timeout: float | None) -> Performed:
        task = await self._task("munlock", r, timeout, r.addr, r.length)
        return process_pb2.MunlockResponse(), task.cost

    async def Mlock(
        self, request: process_pb2.MlockRequest, context: Context
    ) -> process_pb2.MlockResponse:
        return await self._unary(self._mlock, request, context)  # type: ignore[no-any-return]

    async def Munlock(
        self, request: process_pb2.MunlockRequest, context: Context
    ) -> process_pb2.MunlockResponse:
        return await self._unary(self._munlock, request, context)  # type: ignore[no-any-return]

    # ---- files (fs/open.c, fs/read_write.c, mm/filemap.c, mm/msync.c) ---------------------------
    async def _open_file(self, r: process_pb2.OpenFileRequest, timeout: float | None) -> Performed:
        task = await self._task("open_file", r, timeout, r.path, r.flags, r.mode or 0o644)
        return process_pb2.OpenFileResponse(fd=task.result), None

    async def _close_file(
        self, r: process_pb2.CloseFileRequest, timeout: float | None
    ) -> Performed:
        await self._task("close_file", r, timeout, r.fd)
        return process_pb2.CloseFileResponse(), None

    async def _read_file(self, r: process_pb2.ReadFileRequest, timeout: float | None) -> Performed:
        self._check_io_size(r.length, "file read")
        if r.HasField("offset"):
            task = await self._task("pread_file", r, timeout, r.fd, r.length, r.offset)
        else:
            task = await self._task("read_file", r, timeout, r.fd, r.length)
        return process_pb2.ReadFileResponse(data=task.result), task.cost

    async def _write_file(
        self, r: process_pb2.WriteFileRequest, timeout: float | None
    ) -> Performed:
        self._check_io_size(len(r.data), "file write")
        if r.HasField("offset"):
            task = await self._task("pwrite_file", r, timeout, r.fd, r.data, r.offset)
        else:
            task = await self._task("write_file", r, timeout, r.fd, r.data)
        return process_pb2.WriteFileResponse(written=task.result), task.cost

    async def _lseek(self, r: process_pb2.LseekRequest, timeout: float | None) -> Performed:
        task = await self._task("lseek", r, timeout, r.fd, r.offset, r.whence)
        return process_pb2.LseekResponse(offset=task.result), None

    async def _ftruncate(self, r: process_pb2.FtruncateRequest, timeout: float | None) -> Performed:
        await self._task("ftruncate", r, timeout, r.fd, r.length)
        return process_pb2.FtruncateResponse(), None

    async def _fsync(self, r: process_pb2.FsyncRequest, timeout: float | None) -> Performed:
        await self._task("fsync", r, timeout, r.fd)
        return process_pb2.FsyncResponse(), None

    async def _unlink_file(
        self, r: process_pb2.UnlinkFileRequest, timeout: float | None
    ) -> Performed:
        await self._task("unlink", r, timeout, r.path)
        return process_pb2.UnlinkFileResponse(), None

    async def _mmap_file(self, r: process_pb2.MmapFileRequest, timeout: float | None) -> Performed:
        task = await self._task(
            "mmap_file", r, timeout, r.fd, r.addr, r.length, r.prot, r.flags, r.offset
        )
        return process_pb2.MmapFileResponse(addr=task.result), task.cost

    async def _msync(self, r: process_pb2.MsyncRequest, timeout: float | None) -> Performed:
        await self._task("msync", r, timeout, r.addr, r.length, r.flags)
        return process_pb2.MsyncResponse(), None

    async def _sync(self, r: process_pb2.SyncRequest, timeout: float | None) -> Performed:
        # sync(2) acts on the whole page cache, not on the caller's memory: the kernel runs it
        # on its own thread (Machine.sync), so the process only has to be alive to ask.
        self._check_alive(r.pid)
        self._machine.sync()
        return process_pb2.SyncResponse(), None

    async def OpenFile(
        self, request: process_pb2.OpenFileRequest, context: Context
    ) -> process_pb2.OpenFileResponse:
        return await self._unary(self._open_file, request, context)  # type: ignore[no-any-return]

    async def CloseFile(
        self, request: process_pb2.CloseFileRequest, context: Context
    ) -> process_pb2.CloseFileResponse:
        return await self._unary(self._close_file, request, context)  # type: ignore[no-any-return]

    async def ReadFile(
        self, request: process_pb2.ReadFileRequest, context: Context
    ) -> process_pb2.ReadFileResponse:
        return await self._unary(self._read_file, request, context)  # type: ignore[no-any-return]

    async def WriteFile(
        self, request: process_pb2.WriteFileRequest, context: Context
    ) -> process_pb2.WriteFileResponse:
        return await self._unary(self._write_file, request, context)  # type: ignore[no-any-return]

    async def Lseek(
        self, request: process_pb2.LseekRequest, context: Context
    ) -> process_pb2.LseekResponse:
        return await self._unary(self._lseek, request, context)  # type: ignore[no-any-return]

    async def Ftruncate(
        self, request: process_pb2.FtruncateRequest, context: Context
    ) -> process_pb2.FtruncateResponse:
        return await self._unary(self._ftruncate, request, context)  # type: ignore[no-any-return]

    async def Fsync(
        self, request: process_pb2.FsyncRequest, context: Context
    ) -> process_pb2.FsyncResponse:
        return await self._unary(self._fsync, request, context)  # type: ignore[no-any-return]

    async def UnlinkFile(
        self, request: process_pb2.UnlinkFileRequest, context: Context
    ) -> process_pb2.UnlinkFileResponse:
        return await self._unary(self._unlink_file, request, context)  # type: ignore[no-any-return]

    async def MmapFile(
        self, request: process_pb2.MmapFileRequest, context: Context
    ) -> process_pb2.MmapFileResponse:
        return await self._unary(self._mmap_file, request, context)  # type: ignore[no-any-return]

    async def Msync(
        self, request: process_pb2.MsyncRequest, context: Context
    ) -> process_pb2.MsyncResponse:
        return await self._unary(self._msync, request, context)  # type: ignore[no-any-return]

    async def Sync(
        self, request: process_pb2.SyncRequest, context: Context
    ) -> process_pb2.SyncResponse:
        return await self._unary(self._sync, request, context)  # type: ignore[no-any-return]

    def _end_process(self, pid: int) -> None:
        """The client is gone: its process exits and its memory is freed."""
        with contextlib.suppress(KernelError):  # already dead: its record says why
            self._machine.exit(pid)
        self._sessions.close(pid)


def death_of(info: ProcessInfo) -> ProcessKilled | NoSuchProcess:
    """The error a call for a dead process meets, rebuilt from its record: ProcessKilled only
    when something killed it, ESRCH when it exited."""
    if info.killed_by is None:
        return NoSuchProcess(info.pid, "it has exited")
    return ProcessKilled(info.pid, info.killed_by, info.kill_address, info.kill_reason or "killed")
