"""gRPC interop-style cases and a soak of connect/allocate/touch/exit cycles.

The cases follow the gRPC interop test suite's names: cancel_after_begin,
timeout_on_sleeping_server, a request just under (and just over) the message limit, and
many concurrent calls. The soak runs 1,000 cycles on the embedded kernel (the same code the
server runs) and a shorter one over gRPC; after each, MemFree (with the per-cpu lists), SwapFree and Committed_AS are
back at their boot values. The figures are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from tests.given_back import GIVEN_BACK_FIELDS, held_kb
from tests.service.conftest import wait_until

import vmsim
from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    Machine,
    MachineConfig,
    MiB,
    OomKilled,
    OutOfMemory,
    ProcessState,
)
from vmsim_proto.v1 import inspect_pb2, inspect_pb2_grpc, process_pb2, process_pb2_grpc

StartServer = Callable[..., Any]
PAGE = vmsim.PAGE_SIZE
MESSAGE_LIMIT = 1 << 20


def spawn(stub: Any, name: str = "interop") -> tuple[int, tuple[tuple[str, str], ...]]:
    reply = stub.Spawn(process_pb2.SpawnRequest(name=name), timeout=5)
    return reply.pid, (("x-vmsim-token", reply.token),)


@pytest.fixture(scope="module")
def interop(start_module_server: StartServer) -> Iterator[tuple[Any, Any]]:
    """A server with a 1 MiB message limit, and raw process/inspect stubs on one channel."""
    server = start_module_server(max_message_bytes=MESSAGE_LIMIT, max_batch=1_000_000)
    channel = grpc.insecure_channel(server.address)
    yield server, channel
    channel.close()


def requests_held_until(released: threading.Event) -> Iterator[Any]:
    """A request stream that sends nothing and stays open until *released* (10 s at most)."""
    released.wait(10)
    yield from ()


def test_cancel_after_begin_ends_the_process(interop: tuple[Any, Any]) -> None:
    server, channel = interop
    stub = process_pb2_grpc.ProcessServiceStub(channel)  # type: ignore[no-untyped-call]
    pid, token = spawn(stub)
    never = threading.Event()

    call = stub.Run(requests_held_until(never), metadata=token)
    sessions = server.running.sessions
    assert wait_until(
        lambda: server.call(lambda: sessions.session_of(token[0][1]).open_streams) == 1
    )
    call.cancel()  # the server has begun the call
    with pytest.raises(grpc.RpcError) as cancelled:
        next(call)
    assert cancelled.value.code() is grpc.StatusCode.CANCELLED
    never.set()
    machine = server.running.machine
    assert wait_until(
        lambda: server.call(lambda: machine.process(pid)).state is ProcessState.ZOMBIE
    )


def test_timeout_on_sleeping_server(interop: tuple[Any, Any]) -> None:
    server, channel = interop
    inspect = inspect_pb2_grpc.InspectServiceStub(channel)  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.RpcError) as expired:
        next(inspect.WatchEvents(inspect_pb2.WatchEventsRequest(), timeout=0.001))
    assert expired.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    stub = process_pb2_grpc.ProcessServiceStub(channel)  # type: ignore[no-untyped-call]
    pid, token = spawn(stub)
    hold = threading.Event()

    with pytest.raises(grpc.RpcError) as stream_expired:
        next(stub.Run(requests_held_until(hold), metadata=token, timeout=0.2))
    hold.set()
    assert stream_expired.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    machine = server.running.machine
    assert wait_until(
        lambda: server.call(lambda: machine.process(pid)).state is ProcessState.ZOMBIE
    )


def test_a_request_just_under_the_message_limit_is_served_and_just_over_refused(
    interop: tuple[Any, Any],
) -> None:
    _server, channel = interop
    stub = process_pb2_grpc.ProcessServiceStub(channel)  # type: ignore[no-untyped-call]
    pid, token = spawn(stub)
    mmap = process_pb2.MmapRequest(pid=pid, length=4 * MiB, prot=3, flags=0x22)
    base = stub.Mmap(mmap, metadata=token, timeout=5).addr
    pages = (base + (np.arange(300_000) % 1024) * PAGE).astype(np.uint32)

    def request(count: int) -> process_pb2.TouchManyRequest:
        return process_pb2.TouchManyRequest(pid=pid, addrs=pages[:count].tolist(), write=True)

    per_address = request(1001).ByteSize() - request(1000).ByteSize()
    count = (MESSAGE_LIMIT - 64) // per_address
    while request(count).ByteSize() > MESSAGE_LIMIT - 16:
        count -= 1
    under = request(count)
    assert MESSAGE_LIMIT - 64 <= under.ByteSize() <= MESSAGE_LIMIT
    reply = stub.TouchMany(under, metadata=token, timeout=30)
    assert reply.touched == count and reply.minor == 1024
    over = request(count + 64 // per_address + 16)
    assert over.ByteSize() > MESSAGE_LIMIT
    with pytest.raises(grpc.RpcError) as refused:
        stub.TouchMany(over, metadata=token, timeout=30)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    stub.Exit(process_pb2.ExitRequest(pid=pid), metadata=token, timeout=5)


@pytest.mark.slow
def test_a_thousand_concurrent_calls_all_succeed(interop: tuple[Any, Any]) -> None:
    server, _channel = interop

    async def main() -> Counter[str]:
        procs = [vmsim.aio.connect(server.address, name=f"c{i}") for i in range(10)]
        for proc in procs:
            await proc.start()
        bases = [await proc.mmap(256 * PAGE) for proc in procs]
        async with vmsim.aio.inspect(server.address) as inspector:

            async def one(index: int) -> str:
                proc = procs[index % 10]
                try:
                    if index % 4 == 0:
                        await inspector.meminfo()
                    else:
                        await proc.touch(bases[index % 10] + (index % 256) * PAGE, write=True)
                except vmsim.VmsimError as error:
                    return error.code
                return "OK"

            codes = Counter(await asyncio.gather(*(one(i) for i in range(1000))))
        for proc in procs:
            await proc.close()
        return codes

    started = time.monotonic()
    codes = asyncio.run(main())
    print(f"\n1000 concurrent calls in {time.monotonic() - started:.2f} s: {dict(codes)}")
    assert codes == Counter({"OK": 1000})


# ---- soak -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_thousand_cycles_on_the_embedded_kernel_give_everything_back(tmp_path: Path) -> None:
    machine = Machine(
        MachineConfig(ram_bytes=8 * MiB, swap_bytes=16 * MiB, swap_path=str(tmp_path / "swap"))
    )
    rng = random.Random(11)
    boot = held_kb(machine.meminfo(), machine.zoneinfo())
    outcomes: Counter[str] = Counter()
    peak_swap_used = 0
    started = time.monotonic()
    keep: list[int] = []  # a few processes live across cycles, so reclaim has victims
    for cycle in range(1000):
        pid = machine.spawn(f"soak{cycle}")
        # Mostly small processes; every 200th one is bigger than RAM, so it swaps.
        nr_pages = 2400 if cycle % 200 == 100 else rng.choice([1, 4, 8, 32])
        try:
            addr = machine.mmap(
                pid, 0, nr_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
            )
            pages = np.arange(addr, addr + nr_pages * PAGE, PAGE, dtype=np.uint64).astype(np.uint32)
            machine.touch_many(pid, pages, write=True)
            machine.touch_many(pid, pages[: nr_pages // 2])
            outcomes["ok"] += 1
        except (OutOfMemory, OomKilled) as error:
            outcomes[type(error).__name__] += 1
        if machine.swap is not None:
            peak_swap_used = max(peak_swap_used, machine.swap.used_kb)
        if cycle % 50 == 0 and machine.process(pid).state is ProcessState.RUNNING:
            keep.append(pid)
        elif machine.process(pid).state is ProcessState.RUNNING:
            machine.exit(pid)
        if len(keep) > 4:
            victim = keep.pop(0)
            if machine.process(victim).state is ProcessState.RUNNING:
                machine.exit(victim)
    for pid in keep:
        if machine.process(pid).state is ProcessState.RUNNING:
            machine.exit(pid)
    machine.check_invariants()
    end = held_kb(machine.meminfo(), machine.zoneinfo())
    seconds = time.monotonic() - started
    print(
        f"\nsoak (embedded): 1000 cycles in {seconds:.1f} s, outcomes {dict(outcomes)}, "
        f"peak swap used {peak_swap_used} kB, pswpout {machine.vmstat()['pswpout']}; "
        + ", ".join(f"{key} boot {boot[key]} kB end {end[key]} kB" for key in GIVEN_BACK_FIELDS)
    )
    machine.close()
    assert peak_swap_used > 0  # the soak did swap
    assert end == boot


@pytest.mark.slow
def test_grpc_cycles_give_everything_back(start_server: StartServer) -> None:
    server = start_server()
    cycles = 200
    with vmsim.Inspector(server.address) as inspector:
        boot = held_kb(inspector.meminfo(), inspector.zoneinfo().items)

        async def main() -> None:
            async def cycle(index: int) -> None:
                async with vmsim.aio.connect(server.address, name=f"soak{index}") as proc:
                    nr_pages = 64 + (index % 8) * 64
                    addr = await proc.mmap(nr_pages * PAGE)
                    await proc.touch_many(range(addr, addr + nr_pages * PAGE, PAGE), write=True)

            for first in range(0, cycles, 10):
                await asyncio.gather(*(cycle(i) for i in range(first, first + 10)))

        started = time.monotonic()
        asyncio.run(main())
        seconds = time.monotonic() - started
        end = held_kb(inspector.meminfo(), inspector.zoneinfo().items)
    print(
        f"\nsoak (gRPC): {cycles} connect/mmap/touch/exit cycles in {seconds:.1f} s; "
        + ", ".join(f"{key} boot {boot[key]} kB end {end[key]} kB" for key in GIVEN_BACK_FIELDS)
    )
    assert end == boot
    running = server.running
    assert running is not None
    server.call(running.machine.check_invariants)
