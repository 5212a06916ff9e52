"""ProcessService: the system calls of a client's process (kernel/fork.c, mm/mmap.c, mm/memory.c).

Each method decodes, authorizes through the session table, makes one kernel call and encodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import numpy as np

from vmsim.v1 import process_pb2, process_pb2_grpc
from vmsim_kernel import (
    InvalidArgument,
    KernelError,
    LimitExceeded,
    Machine,
    ProcessInfo,
    ProcessKilled,
    ProcessState,
    Signal,
)

from . import convert
from .errors import status_of
from .sessions import TOKEN_METADATA_KEY, Session, SessionTable, check_owner
from .settings import ServerSettings

__all__ = ["ProcessService", "death_of", "token_of"]

Context = grpc.aio.ServicerContext[Any, Any]
# Operations whose replies carry a CallCost (the others take no simulated time).
TIMED_OPERATIONS = frozenset(
    {"mmap", "munmap", "mprotect", "brk", "madvise", "touch", "touch_many", "read", "write"}
)


def token_of(context: Context) -> str | None:
    """The x-vmsim-token metadata value, if any."""
    for key, value in context.invocation_metadata() or ():
        if key == TOKEN_METADATA_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


class ProcessService(process_pb2_grpc.ProcessServiceServicer):
    """One simulated process per client session."""

    def __init__(self, machine: Machine, sessions: SessionTable, settings: ServerSettings) -> None:
        self._machine = machine
        self._sessions = sessions
        self._settings = settings
        # Whole seconds on the wire; a sub-second test lease reads as 0.
        self._lease_seconds = int(sessions.lease_seconds)
        # The operations a Run stream may carry, by oneof field name; the unary methods use them too.
        self._operations: dict[str, Callable[[Any], Any]] = {
            "mmap": self._mmap,
            "munmap": self._munmap,
            "mprotect": self._mprotect,
            "brk": self._brk,
            "madvise": self._madvise,
            "touch": self._touch,
            "touch_many": self._touch_many,
            "read": self._read,
            "write": self._write,
            "translate": self._translate,
        }

    def _perform(self, operation: str, request: Any) -> Any:
        """One operation; a timed one's reply carries what it cost its thread."""
        response = self._operations[operation](request)
        if operation in TIMED_OPERATIONS:
            response.cost.CopyFrom(convert.call_cost(self._machine.last_cost))
        return response

    async def _pace(self, response: Any) -> None:
        """Real-time mode: hold the reply for the simulated cost times the factor.

        Only this call waits; the event loop serves every other client meanwhile.
        """
        factor = self._settings.realtime_factor
        if factor and response.HasField("cost"):
            await asyncio.sleep(response.cost.total_ns * factor / 1e9)

    def _authorize(self, context: Context, pid: int) -> None:
        self._sessions.authorize(token_of(context), pid)

    # ---- operations -----------------------------------------------------------------------------
    def _mmap(self, r: process_pb2.MmapRequest) -> process_pb2.MmapResponse:
        return process_pb2.MmapResponse(
            addr=self._machine.mmap(r.pid, r.addr, r.length, r.prot, r.flags, tid=r.tid or None)
        )

    def _munmap(self, r: process_pb2.MunmapRequest) -> process_pb2.MunmapResponse:
        self._machine.munmap(r.pid, r.addr, r.length, tid=r.tid or None)
        return process_pb2.MunmapResponse()

    def _mprotect(self, r: process_pb2.MprotectRequest) -> process_pb2.MprotectResponse:
        self._machine.mprotect(r.pid, r.addr, r.length, r.prot, tid=r.tid or None)
        return process_pb2.MprotectResponse()

    def _brk(self, r: process_pb2.BrkRequest) -> process_pb2.BrkResponse:
        return process_pb2.BrkResponse(brk=self._machine.brk(r.pid, r.addr, tid=r.tid or None))

    def _madvise(self, r: process_pb2.MadviseRequest) -> process_pb2.MadviseResponse:
        self._machine.madvise(r.pid, r.addr, r.length, r.advice, tid=r.tid or None)
        return process_pb2.MadviseResponse()

    def _touch(self, r: process_pb2.TouchRequest) -> process_pb2.TouchResponse:
        return process_pb2.TouchResponse(
            result=convert.FAULT_TO_PROTO[
                self._machine.touch(r.pid, r.addr, r.write, tid=r.tid or None)
            ]
        )

    def _touch_many(self, r: process_pb2.TouchManyRequest) -> process_pb2.TouchManyResponse:
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
                f"a batch of {count} addresses exceeds max_batch={self._settings.max_batch}"
            )
        addrs = np.frombuffer(packed, dtype="<u4")
        if len(r.addrs):
            addrs = np.concatenate((np.asarray(r.addrs, dtype=np.uint32), addrs))
        summary = self._machine.touch_many(r.pid, addrs, r.write, tid=r.tid or None)
        return process_pb2.TouchManyResponse(
            touched=summary.nr_touched,
            hits=summary.nr_hits,
            minor=summary.nr_minor,
            major=summary.nr_major,
        )

    def _read(self, r: process_pb2.ReadRequest) -> process_pb2.ReadResponse:
        if r.length > self._settings.max_io_bytes:
            raise LimitExceeded(
                f"a read of {r.length} bytes exceeds max_io_bytes={self._settings.max_io_bytes}"
            )
        return process_pb2.ReadResponse(
            data=self._machine.read(r.pid, r.addr, r.length, tid=r.tid or None)
        )

    def _write(self, r: process_pb2.WriteRequest) -> process_pb2.WriteResponse:
        if len(r.data) > self._settings.max_io_bytes:
            raise LimitExceeded(
                f"a write of {len(r.data)} bytes exceeds max_io_bytes={self._settings.max_io_bytes}"
            )
        self._machine.write(r.pid, r.addr, r.data, tid=r.tid or None)
        return process_pb2.WriteResponse(written=len(r.data))

    def _translate(self, r: process_pb2.TranslateRequest) -> process_pb2.TranslateResponse:
        walk = self._machine.translate(r.pid, r.addr)
        return process_pb2.TranslateResponse(
            translation=convert.translation(walk), text=convert.format_translation(walk)
        )

    # ---- RPCs ----------------------------------------------------------------------------------
    async def Spawn(
        self, request: process_pb2.SpawnRequest, context: Context
    ) -> process_pb2.SpawnResponse:
        pid = self._machine.spawn(request.name, request.oom_score_adj)
        return process_pb2.SpawnResponse(
            pid=pid, token=self._sessions.open(pid).token, lease_seconds=self._lease_seconds
        )

    async def Heartbeat(
        self, request: process_pb2.HeartbeatRequest, context: Context
    ) -> process_pb2.HeartbeatResponse:
        self._authorize(context, request.pid)
        info = self._machine.process(request.pid)
        if info.state is ProcessState.ZOMBIE:
            raise death_of(info)
        return process_pb2.HeartbeatResponse(lease_seconds=self._lease_seconds)

    async def _unary(self, operation: str, request: Any, context: Context) -> Any:
        self._authorize(context, request.pid)
        response = self._perform(operation, request)
        await self._pace(response)
        return response

    async def Mmap(
        self, request: process_pb2.MmapRequest, context: Context
    ) -> process_pb2.MmapResponse:
        return await self._unary("mmap", request, context)  # type: ignore[no-any-return]

    async def Munmap(
        self, request: process_pb2.MunmapRequest, context: Context
    ) -> process_pb2.MunmapResponse:
        return await self._unary("munmap", request, context)  # type: ignore[no-any-return]

    async def Mprotect(
        self, request: process_pb2.MprotectRequest, context: Context
    ) -> process_pb2.MprotectResponse:
        return await self._unary("mprotect", request, context)  # type: ignore[no-any-return]

    async def Brk(
        self, request: process_pb2.BrkRequest, context: Context
    ) -> process_pb2.BrkResponse:
        return await self._unary("brk", request, context)  # type: ignore[no-any-return]

    async def Madvise(
        self, request: process_pb2.MadviseRequest, context: Context
    ) -> process_pb2.MadviseResponse:
        return await self._unary("madvise", request, context)  # type: ignore[no-any-return]

    async def Touch(
        self, request: process_pb2.TouchRequest, context: Context
    ) -> process_pb2.TouchResponse:
        return await self._unary("touch", request, context)  # type: ignore[no-any-return]

    async def TouchMany(
        self, request: process_pb2.TouchManyRequest, context: Context
    ) -> process_pb2.TouchManyResponse:
        return await self._unary("touch_many", request, context)  # type: ignore[no-any-return]

    async def Read(
        self, request: process_pb2.ReadRequest, context: Context
    ) -> process_pb2.ReadResponse:
        return await self._unary("read", request, context)  # type: ignore[no-any-return]

    async def Write(
        self, request: process_pb2.WriteRequest, context: Context
    ) -> process_pb2.WriteResponse:
        return await self._unary("write", request, context)  # type: ignore[no-any-return]

    async def Translate(
        self, request: process_pb2.TranslateRequest, context: Context
    ) -> process_pb2.TranslateResponse:
        return await self._unary("translate", request, context)  # type: ignore[no-any-return]

    async def Exit(
        self, request: process_pb2.ExitRequest, context: Context
    ) -> process_pb2.ExitResponse:
        self._authorize(context, request.pid)
        self._machine.exit(request.pid)
        self._sessions.close(request.pid)
        return process_pb2.ExitResponse()

    async def SpawnThread(
        self, request: process_pb2.SpawnThreadRequest, context: Context
    ) -> process_pb2.SpawnThreadResponse:
        self._authorize(context, request.pid)
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
        session.open_streams += 1
        try:
            async for op in request_iterator:
                reply = self._run_one(session, op)
                which = reply.WhichOneof("result")
                if which in TIMED_OPERATIONS:
                    await self._pace(getattr(reply, which))
                yield reply
        finally:
            session.open_streams -= 1
            if session.open_streams == 0:
                self._end_process(session.pid)

    def _run_one(self, session: Session, op: process_pb2.RunRequest) -> process_pb2.RunResponse:
        """One operation of a Run stream; its error becomes its result."""
        which = op.WhichOneof("op")
        try:
            if which is None:
                raise InvalidArgument("op", "the operation is empty", ", ".join(self._operations))
            inner = getattr(op, which)
            check_owner(session, inner.pid)
            result = self._perform(which, inner)
        except KernelError as error:
            return process_pb2.RunResponse(id=op.id, error=status_of(error))
        return process_pb2.RunResponse(id=op.id, **{which: result})

    def _end_process(self, pid: int) -> None:
        """The client is gone: its process exits and its memory is freed."""
        with contextlib.suppress(KernelError):  # already dead: its record says why
            self._machine.exit(pid)
        self._sessions.close(pid)


def death_of(info: ProcessInfo) -> ProcessKilled:
    """The error a call for a dead process meets, rebuilt from its record."""
    return ProcessKilled(
        info.pid,
        info.killed_by or Signal.SIGTERM,
        info.kill_address,
        info.kill_reason or "process has exited",
    )
