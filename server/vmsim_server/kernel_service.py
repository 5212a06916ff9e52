"""KernelService: the kernel space for privileged clients (mm/slab.c, mm/vmalloc.c, mm/highmem.c).

Every call needs the admin token. Allocations and kmaps belong to a kernel session; the
session ends on CloseSession or when its lease runs out, and then everything it holds is
freed (like unloading a module).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import grpc
import structlog

from vmsim_kernel import PAGE_SIZE, Gfp, InvalidArgument, LimitExceeded, Machine
from vmsim_proto.v1 import common_pb2, kernel_pb2, kernel_pb2_grpc

from . import convert
from .admin_service import require_admin

__all__ = ["KernelService", "KernelSessions"]

log = structlog.get_logger("vmsim.server")
Context = grpc.aio.ServicerContext[Any, Any]
_GFP = {
    kernel_pb2.GFP_UNSPECIFIED: Gfp.KERNEL,
    kernel_pb2.GFP_KERNEL: Gfp.KERNEL,
    kernel_pb2.GFP_ATOMIC: Gfp.ATOMIC,
    kernel_pb2.GFP_DMA: Gfp.DMA,
}
MAX_DUMP_PAGES = 4096
DEADLINE_MARGIN = 0.2  # seconds kept back from a waiting kmap's deadline for the reply


class KernelSessions:
    """Kernel sessions and their leases (monotonic clock: the server's business)."""

    def __init__(self, machine: Machine, lease_seconds: float) -> None:
        self._machine = machine
        self.lease_seconds = lease_seconds
        self._last_seen: dict[int, float] = {}
        self._ids = itertools.count(1)

    def open(self) -> int:
        session = next(self._ids)
        self._last_seen[session] = time.monotonic()
        return session

    def touch(self, session: int) -> None:
        if session not in self._last_seen:
            raise InvalidArgument(
                "session", f"no open kernel session {session}", "an id from OpenSession"
            )
        self._last_seen[session] = time.monotonic()

    def close(self, session: int) -> int:
        self.touch(session)
        del self._last_seen[session]
        return self._machine.release_kernel_owner(session)

    def reap_expired(self) -> None:
        deadline = time.monotonic() - self.lease_seconds
        for session in [s for s, seen in self._last_seen.items() if seen < deadline]:
            freed = self.close(session)
            log.info("kernel session expired", session=session, freed=freed)


class KernelService(kernel_pb2_grpc.KernelServiceServicer):
    """Decode, check the admin token, one kernel call, encode."""

    def __init__(self, machine: Machine, sessions: KernelSessions, admin_token: str) -> None:
        self._machine = machine
        self._sessions = sessions
        self._admin_token = admin_token
        self._slot_freed = asyncio.Condition()

    def _admit(self, context: Context, session: int | None = None) -> None:
        require_admin(context, self._admin_token)
        if session is not None:
            self._sessions.touch(session)

    async def OpenSession(
        self, request: kernel_pb2.OpenSessionRequest, context: Context
    ) -> kernel_pb2.OpenSessionResponse:
        self._admit(context)
        return kernel_pb2.OpenSessionResponse(
            session=self._sessions.open(), lease_seconds=int(self._sessions.lease_seconds)
        )

    async def CloseSession(
        self, request: kernel_pb2.CloseSessionRequest, context: Context
    ) -> kernel_pb2.CloseSessionResponse:
        self._admit(context)
        freed = self._sessions.close(request.session)
        await self._wake_kmap_waiters()
        return kernel_pb2.CloseSessionResponse(freed=freed)

    async def Kmalloc(
        self, request: kernel_pb2.KmallocRequest, context: Context
    ) -> kernel_pb2.KmallocResponse:
        self._admit(context, request.session)
        gfp = _GFP.get(request.gfp)
        if gfp is None:
            raise InvalidArgument(
                "gfp",
                f"{request.gfp} is not a GFP value",
                ", ".join(kernel_pb2.Gfp.Name(value) for value in _GFP),
            )
        return kernel_pb2.KmallocResponse(
            addr=self._machine.kmalloc(request.size, gfp, request.session)
        )

    async def Kfree(
        self, request: kernel_pb2.KfreeRequest, context: Context
    ) -> kernel_pb2.KfreeResponse:
        self._admit(context, request.session)
        self._machine.kfree(request.addr, request.session)
        return kernel_pb2.KfreeResponse()

    async def Vmalloc(
        self, request: kernel_pb2.VmallocRequest, context: Context
    ) -> kernel_pb2.VmallocResponse:
        self._admit(context, request.session)
        return kernel_pb2.VmallocResponse(addr=self._machine.vmalloc(request.size, request.session))

    async def Vfree(
        self, request: kernel_pb2.VfreeRequest, context: Context
    ) -> kernel_pb2.VfreeResponse:
        self._admit(context, request.session)
        self._machine.vfree(request.addr, request.session)
        return kernel_pb2.VfreeResponse()

    async def Kmap(
        self, request: kernel_pb2.KmapRequest, context: Context
    ) -> kernel_pb2.KmapResponse:
        """kmap sleeps while every pkmap slot is taken; the wait ends at the call's deadline."""
        self._admit(context, request.session)
        began = time.monotonic()
        waited = False
        async with self._slot_freed:
            while (addr := self._machine.kmap(request.pfn, request.session)) is None:
                waited = True
                # Answer a little before the caller's deadline so the refusal still reaches it.
                remaining = context.time_remaining()
                timeout = None if remaining is None else max(0.0, remaining - DEADLINE_MARGIN)
                try:
                    await asyncio.wait_for(self._slot_freed.wait(), timeout=timeout)
                except TimeoutError:
                    self._machine.cancel_kmap_wait(request.session)
                    raise LimitExceeded(
                        "kmap: all LAST_PKMAP=1024 slots stayed busy until the call's deadline"
                    ) from None
        return kernel_pb2.KmapResponse(
            addr=addr, waited_ms=int((time.monotonic() - began) * 1000) if waited else 0
        )

    async def _wake_kmap_waiters(self) -> None:
        async with self._slot_freed:
            self._slot_freed.notify_all()

    async def Kunmap(
        self, request: kernel_pb2.KunmapRequest, context: Context
    ) -> kernel_pb2.KunmapResponse:
        self._admit(context, request.session)
        if self._machine.kunmap(request.pfn_or_addr, request.session):
            await self._wake_kmap_waiters()
        return kernel_pb2.KunmapResponse()

    async def KmapAtomic(
        self, request: kernel_pb2.KmapAtomicRequest, context: Context
    ) -> kernel_pb2.KmapAtomicResponse:
        self._admit(context, request.session)
        return kernel_pb2.KmapAtomicResponse(
            addr=self._machine.kmap_atomic(request.pfn, request.cpu, request.session)
        )

    async def KunmapAtomic(
        self, request: kernel_pb2.KunmapAtomicRequest, context: Context
    ) -> kernel_pb2.KunmapAtomicResponse:
        self._admit(context, request.session)
        self._machine.kunmap_atomic(request.addr, request.cpu)
        return kernel_pb2.KunmapAtomicResponse()

    async def Pa(self, request: kernel_pb2.PaRequest, context: Context) -> kernel_pb2.PaResponse:
        self._admit(context)
        return kernel_pb2.PaResponse(paddr=self._machine.pa(request.vaddr))

    async def Va(self, request: kernel_pb2.VaRequest, context: Context) -> kernel_pb2.VaResponse:
        self._admit(context)
        return kernel_pb2.VaResponse(vaddr=self._machine.va(request.paddr))

    async def KernelRead(
        self, request: kernel_pb2.KernelReadRequest, context: Context
    ) -> kernel_pb2.KernelReadResponse:
        self._admit(context)
        return kernel_pb2.KernelReadResponse(
            data=self._machine.kernel_read(request.addr, request.length)
        )

    async def KernelWrite(
        self, request: kernel_pb2.KernelWriteRequest, context: Context
    ) -> kernel_pb2.KernelWriteResponse:
        self._admit(context)
        self._machine.kernel_write(request.addr, request.data)
        return kernel_pb2.KernelWriteResponse(written=len(request.data))

    async def KernelTranslate(
        self, request: kernel_pb2.KernelTranslateRequest, context: Context
    ) -> kernel_pb2.KernelTranslateResponse:
        self._admit(context)
        pid = request.pid if request.HasField("pid") else None
        if request.logical:
            segment, walk = self._machine.translate_logical(request.logical, pid)
            return kernel_pb2.KernelTranslateResponse(
                translation=convert.translation(walk),
                segment=convert.segment_step(segment),
                text=convert.format_segment(segment) + convert.format_translation(walk),
            )
        walk = (
            self._machine.translate(pid, request.addr)
            if pid is not None
            else self._machine.kernel_translate(request.addr)
        )
        return kernel_pb2.KernelTranslateResponse(
            translation=convert.translation(walk), text=convert.format_translation(walk)
        )

    async def GetSlabinfo(
        self, request: kernel_pb2.GetSlabinfoRequest, context: Context
    ) -> kernel_pb2.GetSlabinfoResponse:
        self._admit(context)
        return kernel_pb2.GetSlabinfoResponse(text=self._machine.report("slabinfo"))

    async def GetVmallocinfo(
        self, request: kernel_pb2.GetVmallocinfoRequest, context: Context
    ) -> kernel_pb2.GetVmallocinfoResponse:
        self._admit(context)
        return kernel_pb2.GetVmallocinfoResponse(
            text=self._machine.report("vmallocinfo"), **self._machine.vmalloc_usage()
        )

    async def DumpPageTable(
        self, request: kernel_pb2.DumpPageTableRequest, context: Context
    ) -> kernel_pb2.DumpPageTableResponse:
        self._admit(context)
        if not 1 <= request.pages <= MAX_DUMP_PAGES:
            raise InvalidArgument("pages", f"{request.pages}", f"1 .. {MAX_DUMP_PAGES}")
        walks = [
            self._machine.kernel_translate(request.addr + i * PAGE_SIZE)
            for i in range(request.pages)
        ]
        entries: list[common_pb2.Translation] = [convert.translation(w) for w in walks]
        lines = [
            f"0x{w.linear:08x}  PTE 0x{(w.pte or 0):08x}  "
            + (f"-> 0x{w.physical:08x}" if w.present and w.physical is not None else "not present")
            for w in walks
        ]
        return kernel_pb2.DumpPageTableResponse(entries=entries, text="\n".join(lines) + "\n")
