"""The asyncio client: the same operations as client.py, awaited.

async with vmsim.aio.connect(addr) as proc:
    a = await proc.mmap(16 * MiB)
    await proc.touch_many(range(a, a + 16 * MiB, PAGE_SIZE))
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import grpc
import numpy.typing as npt

from . import calls, results
from .calls import CHANNEL_OPTIONS, Call, Listing
from .constants import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    TOKEN_METADATA_KEY,
)
from .errors import VmsimError, error_from_rpc
from .v1 import admin_pb2_grpc, inspect_pb2_grpc, process_pb2_grpc

__all__ = ["AsyncInspector", "AsyncProcess", "connect"]

T = TypeVar("T")


class _AsyncEndpoint:
    def __init__(self, address: str, timeout: float) -> None:
        self.timeout = timeout
        self.metadata: tuple[tuple[str, str], ...] = ()
        self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stubs: dict[str, Any] = {
            "process": process_pb2_grpc.ProcessServiceStub(self.channel),
            "inspect": inspect_pb2_grpc.InspectServiceStub(self.channel),
            "admin": admin_pb2_grpc.AdminServiceStub(self.channel),
        }

    async def invoke(self, call: Call[T]) -> T:
        method = getattr(self.stubs[call.service], call.method)
        try:
            reply = await method(call.request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        return call.read(reply)


class AsyncInspector:
    """The machine's /proc, awaited."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._endpoint = _AsyncEndpoint(address, timeout)

    async def meminfo(self) -> results.Report:
        """/proc/meminfo (values in kB)."""
        return await self._endpoint.invoke(calls.meminfo())

    async def vmstat(self) -> results.Report:
        """/proc/vmstat."""
        return await self._endpoint.invoke(calls.vmstat())

    async def processes(self) -> list[results.ProcessStatus]:
        """Every process."""
        return await self._endpoint.invoke(calls.processes())

    async def maps(self, pid: int) -> Listing[results.Vma]:
        """/proc/<pid>/maps."""
        return await self._endpoint.invoke(calls.maps(pid))

    async def events(
        self, kinds: Sequence[str] = (), pid: int | None = None
    ) -> AsyncIterator[results.Event]:
        """Follow the event feed until the caller stops iterating."""
        stream = self._endpoint.stubs["inspect"].WatchEvents(calls.watch_request(kinds, pid))
        try:
            async for message in stream:
                yield results.event(message)
        finally:
            stream.cancel()

    async def close(self) -> None:
        """Close the channel."""
        await self._endpoint.channel.close(None)


class AsyncProcess:
    """One simulated process, awaited; create it with `connect`."""

    def __init__(
        self, address: str, name: str = "", oom_score_adj: int = 0, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._endpoint = _AsyncEndpoint(address, timeout)
        self._name = name
        self._oom_score_adj = oom_score_adj
        self.pid = 0
        self.lease_seconds = 0
        self._keepalive: asyncio.Task[None] | None = None

    async def start(self) -> AsyncProcess:
        """Spawn the process and start its keepalive."""
        spawned = await self._endpoint.invoke(calls.spawn(self._name, self._oom_score_adj))
        self.pid, self.lease_seconds = spawned.pid, spawned.lease_seconds
        self._endpoint.metadata = ((TOKEN_METADATA_KEY, spawned.token),)
        if self.lease_seconds:
            self._keepalive = asyncio.get_running_loop().create_task(self._heartbeat())
        return self

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.lease_seconds / 3))
            try:
                await self._endpoint.invoke(calls.heartbeat(self.pid))
            except VmsimError:
                return

    async def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
        addr: int = 0,
    ) -> int:
        """mmap(2)."""
        return await self._endpoint.invoke(calls.mmap(self.pid, length, prot, flags, addr))

    async def munmap(self, addr: int, length: int) -> None:
        """munmap(2)."""
        await self._endpoint.invoke(calls.munmap(self.pid, addr, length))

    async def mprotect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2)."""
        await self._endpoint.invoke(calls.mprotect(self.pid, addr, length, prot))

    async def brk(self, addr: int = 0) -> int:
        """brk(2)."""
        return await self._endpoint.invoke(calls.brk(self.pid, addr))

    async def madvise(self, addr: int, length: int, advice: int) -> None:
        """madvise(2)."""
        await self._endpoint.invoke(calls.madvise(self.pid, addr, length, advice))

    async def touch(self, addr: int, write: bool = False) -> str:
        """One access: "hit", "minor" or "major"."""
        return await self._endpoint.invoke(calls.touch(self.pid, addr, write))

    async def touch_many(
        self, addrs: Sequence[int] | npt.NDArray[Any], write: bool = False
    ) -> results.TouchSummary:
        """Many accesses in one message."""
        return await self._endpoint.invoke(calls.touch_many(self.pid, addrs, write))

    async def read(self, addr: int, length: int) -> bytes:
        """Read memory."""
        return await self._endpoint.invoke(calls.read(self.pid, addr, length))

    async def write(self, addr: int, data: bytes) -> int:
        """Write memory."""
        return await self._endpoint.invoke(calls.write(self.pid, addr, data))

    async def translate(self, addr: int) -> results.Translation:
        """The page walk of *addr*."""
        return await self._endpoint.invoke(calls.translate(self.pid, addr))

    async def status(self) -> results.ProcessStatus:
        """This process's status."""
        return (await self._endpoint.invoke(calls.status(self.pid)))[0]

    async def exit(self) -> None:
        """exit(2)."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        await self._endpoint.invoke(calls.exit_process(self.pid))

    async def close(self) -> None:
        """Exit if alive and close the channel."""
        with contextlib.suppress(VmsimError):
            await self.exit()
        await self._endpoint.channel.close(None)

    async def __aenter__(self) -> AsyncProcess:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def connect(
    address: str = DEFAULT_ADDRESS,
    name: str = "",
    oom_score_adj: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncProcess:
    """`async with vmsim.aio.connect(addr) as proc:` spawns a process for the block."""
    return AsyncProcess(address, name, oom_score_adj, timeout)
