"""A process connected with over_stream sends the calls a Run stream carries on its stream and
every other process call (files, mlock, shm, sync) as its own RPC, in both clients; a call no
Run stream carries is refused before it is sent, and the stream stays in step."""

from __future__ import annotations

import asyncio

import pytest

import vmsim
from vmsim import O_CREAT, O_RDWR, PAGE_SIZE, calls
from vmsim.results import FaultKind


def test_calls_no_stream_carries_go_as_rpcs_over_stream(server_address: str) -> None:
    with (
        vmsim.connect(server_address, over_stream=True) as proc,
        vmsim.inspect(server_address) as inspector,
    ):
        addr = proc.mmap(4 * PAGE_SIZE)  # on the stream
        assert proc.touch(addr, write=True) is FaultKind.MINOR
        proc.mlock(addr, PAGE_SIZE)
        with proc.open("kept", O_RDWR | O_CREAT) as out:
            assert out.write(b"k" * PAGE_SIZE) == PAGE_SIZE
        proc.shm_create("/board", PAGE_SIZE)
        proc.sync()
        assert inspector.meminfo()["Dirty"] == 0
        assert inspector.meminfo()["Mlocked"] == PAGE_SIZE // 1024
        assert [o.name for o in inspector.shm()] == ["board"]
        assert proc.touch(addr + PAGE_SIZE) is FaultKind.MINOR  # the stream is still in step


def test_the_asyncio_process_sends_them_as_rpcs_too(server_address: str) -> None:
    async def scenario() -> tuple[FaultKind, int]:
        async with (
            vmsim.aio.connect(server_address, over_stream=True) as proc,
            vmsim.aio.inspect(server_address) as inspector,
        ):
            addr = await proc.mmap(PAGE_SIZE)
            async with await proc.open("log", O_RDWR | O_CREAT) as out:
                await out.write(b"a" * PAGE_SIZE)
            await proc.sync()
            return await proc.touch(addr), (await inspector.meminfo())["Dirty"]

    assert asyncio.run(scenario()) == (FaultKind.MINOR, 0)


def test_a_call_no_stream_carries_is_refused_and_the_stream_goes_on(server_address: str) -> None:
    with vmsim.connect(server_address) as proc, proc.stream() as stream:
        addr = proc.mmap(PAGE_SIZE)
        with pytest.raises(ValueError, match=r"^Sync is not an operation of a Run stream: one of"):
            stream.send(calls.sync(proc.pid))
        assert stream.run([calls.touch(proc.pid, addr, True)]) == [FaultKind.MINOR]
