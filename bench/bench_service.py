"""Service benchmarks: per-call cost, batches over the wire, 1,000 clients at once.

The anchor for every RPC number is a plain grpc.aio server (plain_server.py: one empty
unary RPC, no interceptors, no vmsim code) running as its own process next to the vmsim
server, driven by the same client code at the same concurrency, interleaved.

python bench/bench_service.py [--quick] [--repeats N] [--section rpc|touch-many|burst]
(run_all.py takes rows(), every section)
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import numpy as np
from common import (
    ANON,
    RW,
    Row,
    cpu_seconds,
    every_section,
    plain_server,
    ratio_at_least,
    ratio_at_most,
    repeats,
    rss_kb,
    run_sections_as_script,
    value_at_least,
    vmsim_server,
)

import vmsim
from vmsim.calls import CHANNEL_OPTIONS
from vmsim_proto.v1 import process_pb2, process_pb2_grpc

EMPTY_METHOD = "/bench.Plain/Empty"
TOUCH_METHOD = "/vmsim.v1.ProcessService/Touch"


def _identity(data: bytes) -> bytes:
    return data


def empty_rpc(channel: grpc.aio.Channel) -> Callable[[], Awaitable[bytes]]:
    """A caller of the plain server's empty RPC (raw bytes, no protobuf)."""
    call = channel.unary_unary(
        EMPTY_METHOD, request_serializer=_identity, response_deserializer=_identity
    )
    return lambda: call(b"", timeout=10)


async def _rate(call: Callable[[], Awaitable[object]], concurrency: int, seconds: float) -> float:
    """Calls per second with *concurrency* callers in flight for *seconds*."""
    stop = time.perf_counter() + seconds
    count = 0

    async def caller() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await call()
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return count / (time.perf_counter() - began)


async def _process_with_resident_page(
    channel: grpc.aio.Channel,
) -> tuple[process_pb2.TouchRequest, tuple[tuple[str, str], ...]]:
    """A fresh process with one written (resident) page: (a Touch of that page, the call
    metadata that carries the process's token)."""
    process = process_pb2_grpc.ProcessServiceStub(channel)
    spawned = await process.Spawn(process_pb2.SpawnRequest(name="bench"), timeout=30)
    token = (("x-vmsim-token", spawned.token),)
    mapped = await process.Mmap(
        process_pb2.MmapRequest(pid=spawned.pid, length=vmsim.PAGE_SIZE, prot=RW, flags=ANON),
        metadata=token,
        timeout=30,
    )
    written = process_pb2.TouchRequest(pid=spawned.pid, addr=mapped.addr, write=True)
    await process.Touch(written, metadata=token, timeout=30)
    return process_pb2.TouchRequest(pid=spawned.pid, addr=mapped.addr), token


async def _resident_touch(channel: grpc.aio.Channel) -> Callable[[], Awaitable[object]]:
    """A caller of one Touch RPC (generated stub) on a resident page of a fresh process."""
    touch, token = await _process_with_resident_page(channel)
    process = process_pb2_grpc.ProcessServiceStub(channel)
    return lambda: process.Touch(touch, metadata=token, timeout=10)  # type: ignore[no-any-return]


async def raw_touchers(
    address: str, count: int
) -> tuple[list[grpc.aio.Channel], list[Callable[[], Awaitable[bytes]]]]:
    """*count* processes, each on a channel of its own with one resident page: (the channels,
    a caller of one Touch RPC of each page).

    A caller sends the request's bytes, serialized once, and keeps the reply's bytes, as
    empty_rpc does with the plain server: the client does the same work for both servers,
    so a burst's ratio is the servers' alone (AsyncProcess.touch costs the client more).
    """
    channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(count)]
    callers: list[Callable[[], Awaitable[bytes]]] = []
    for start in range(0, count, 100):  # 100 at a time, as _connected_processes starts them
        batch = channels[start : start + 100]
        made = await asyncio.gather(*(_process_with_resident_page(c) for c in batch))
        callers += (_raw_touch(c, *m) for c, m in zip(batch, made, strict=True))
    return channels, callers


def _raw_touch(
    channel: grpc.aio.Channel, touch: process_pb2.TouchRequest, token: tuple[tuple[str, str], ...]
) -> Callable[[], Awaitable[bytes]]:
    """A caller of Touch *touch* on *channel*: its bytes serialized once, the reply's kept."""
    call = channel.unary_unary(
        TOUCH_METHOD, request_serializer=_identity, response_deserializer=_identity
    )
    request = touch.SerializeToString()
    return lambda: call(request, metadata=token, timeout=10)


async def _streamed_touches(address: str, count: int) -> list[tuple[vmsim.aio.AsyncProcess, int]]:
    """*count* processes whose calls travel on their open Run streams, each with a resident page."""
    procs = await asyncio.gather(
        *(vmsim.aio.AsyncProcess(address, f"s{i}", over_stream=True).start() for i in range(count))
    )
    addrs = await asyncio.gather(*(p.mmap(vmsim.PAGE_SIZE) for p in procs))
    await asyncio.gather(*(p.touch(a, True) for p, a in zip(procs, addrs, strict=True)))
    return list(zip(procs, addrs, strict=True))


async def _rate_each(pairs: list[tuple[vmsim.aio.AsyncProcess, int]], seconds: float) -> float:
    """Touches per second with every process touching its page in a loop."""
    stop = time.perf_counter() + seconds
    count = 0

    async def caller(proc: vmsim.aio.AsyncProcess, addr: int) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await proc.touch(addr)
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller(p, a) for p, a in pairs))
    return count / (time.perf_counter() - began)


def rpc_rows(quick: bool) -> list[Row]:
    """Touch RPC at 32 in flight against the plain server's empty RPC, interleaved."""
    seconds = 1.0 if quick else 3.0
    with plain_server() as (plain_address, plain_pid), vmsim_server() as (address, server_pid):

        async def measure() -> tuple[list[float], list[float], list[float], list[float]]:
            async with (
                grpc.aio.insecure_channel(plain_address, options=CHANNEL_OPTIONS) as plain,
                grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel,
            ):
                empty = empty_rpc(plain)
                touch = await _resident_touch(channel)
                streamed = await _streamed_touches(address, 32)
                anchor, ours, anchor_cpu, our_cpu = [], [], [], []
                for _ in range(repeats()):
                    on_streams.append(await _rate_each(streamed, seconds))
                    cpu = cpu_seconds(plain_pid)
                    began = time.perf_counter()
                    anchor.append(await _rate(empty, 32, seconds))
                    calls = anchor[-1] * (time.perf_counter() - began)
                    anchor_cpu.append((cpu_seconds(plain_pid) - cpu) / calls * 1e6)
                    cpu = cpu_seconds(server_pid)
                    began = time.perf_counter()
                    ours.append(await _rate(touch, 32, seconds))
                    calls = ours[-1] * (time.perf_counter() - began)
                    our_cpu.append((cpu_seconds(server_pid) - cpu) / calls * 1e6)
                for proc, _ in streamed:
                    await proc.close()
                return anchor, ours, anchor_cpu, our_cpu

        on_streams: list[float] = []
        anchor, ours, anchor_cpu, our_cpu = asyncio.run(measure())
    return [
        Row(
            "Touch RPC, 32 in flight",
            "calls/s",
            ours,
            "empty RPC on a plain grpc.aio server",
            anchor,
            higher_is_better=True,
            goal=">= 0.9x",
            goal_met=ratio_at_least(0.9),
        ),
        Row(
            "Touch over open Run streams, 32 clients (over_stream)",
            "calls/s",
            on_streams,
            "empty RPC on a plain grpc.aio server (same run)",
            anchor,
            higher_is_better=True,
        ),
        Row(
            "server CPU per call (Touch vs plain empty RPC)",
            "us/call",
            our_cpu,
            "plain grpc.aio server, empty RPC",
            anchor_cpu,
        ),
    ]


def touch_many_rows(quick: bool) -> list[Row]:
    """Resident TouchMany over gRPC: addresses per second end to end (numpy in, summary out)."""
    pages = 4096
    batch = 200_000
    rounds = 2 if quick else 5
    rng = np.random.default_rng(0)
    samples = []
    with vmsim_server("--ram", "256M") as (address, _pid), vmsim.connect(address) as proc:
        addr = proc.mmap(pages * vmsim.PAGE_SIZE)
        proc.touch_many(range(addr, addr + pages * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE), write=True)
        addrs = (addr + rng.integers(0, pages * vmsim.PAGE_SIZE, batch)).astype(np.uint32)
        proc.touch_many(addrs)  # warm
        for _ in range(repeats()):
            began = time.perf_counter()
            for _ in range(rounds):
                summary = proc.touch_many(addrs)
                assert summary.hits == batch, summary
            samples.append(rounds * batch / (time.perf_counter() - began))
    return [
        Row(
            "TouchMany over gRPC, resident",
            "addr/s",
            samples,
            higher_is_better=True,
            goal=">= 10M/s",
            goal_met=value_at_least(10e6),
        )
    ]


async def _burst(calls: list[Callable[[], Awaitable[object]]]) -> tuple[list[float], int]:
    """Every call at once; (latencies in ms, errors)."""
    latencies: list[float] = []
    errors = 0

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        nonlocal errors
        began = time.perf_counter()
        try:
            await call()
        except (vmsim.VmsimError, grpc.RpcError):
            errors += 1
        latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(one(c) for c in calls))
    return latencies, errors


@dataclass
class _ManyClients:
    """What the many-clients scenario measured: latencies in ms, RSS in kB."""

    probe_ms: list[float] = field(default_factory=list)
    anchor_p99: list[float] = field(default_factory=list)
    raw_p99: list[float] = field(default_factory=list)  # the same client code as the anchor's
    vmsim_p99: list[float] = field(default_factory=list)  # through vmsim.aio's AsyncProcess
    stream_p99: list[float] = field(default_factory=list)
    anchor_cpu: list[float] = field(default_factory=list)  # server CPU per call, us
    raw_cpu: list[float] = field(default_factory=list)
    errors: int = 0
    rss_kb: float = 0.0


async def _connected_processes(
    address: str, count: int, pages_each: int
) -> tuple[list[vmsim.aio.AsyncProcess], list[int]]:
    """*count* processes (started 100 at a time), each with *pages_each* resident pages:
    (processes, their mappings' addresses)."""
    procs: list[vmsim.aio.AsyncProcess] = []
    for start in range(0, count, 100):
        procs += await asyncio.gather(
            *(
                vmsim.aio.AsyncProcess(address, f"c{i}").start()
                for i in range(start, min(count, start + 100))
            )
        )
    addrs = await asyncio.gather(*(p.mmap(pages_each * vmsim.PAGE_SIZE) for p in procs))
    await asyncio.gather(
        *(
            p.touch_many(range(a, a + pages_each * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE), True)
            for p, a in zip(procs, addrs, strict=True)
        )
    )
    return procs, list(addrs)


async def _probe_touches(
    probe: vmsim.aio.AsyncProcess, addr: int, found: _ManyClients, nr_touches: int = 300
) -> None:
    """One process touching its resident page *nr_touches* times, one after another."""
    for _ in range(nr_touches):
        began = time.perf_counter()
        try:
            await probe.touch(addr)
        except vmsim.VmsimError:
            found.errors += 1
        found.probe_ms.append((time.perf_counter() - began) * 1000)


async def _many_clients(
    address: str, server_pid: int, plain_address: str, plain_pid: int, count: int
) -> _ManyClients:
    """*count* connected processes and as many channels to the plain server: a probe alone,
    then bursts of every process touching at once, against bursts of empty RPCs: unary with
    the anchor's client code (raw_touchers), unary through AsyncProcess, over Run streams."""
    found = _ManyClients()
    rss_before = rss_kb(server_pid)
    procs, addrs = await _connected_processes(address, count, pages_each=4)
    found.rss_kb = (rss_kb(server_pid) - rss_before) / count
    channels = [
        grpc.aio.insecure_channel(plain_address, options=CHANNEL_OPTIONS) for _ in range(count)
    ]
    empties = [empty_rpc(c) for c in channels]
    await _burst(empties)  # connect them all before measuring
    await _probe_touches(procs[0], addrs[0], found)
    touches = [(lambda p=p, a=a: p.touch(a)) for p, a in zip(procs, addrs, strict=True)]
    raw_channels, raw_touches = await raw_touchers(address, count)
    await _burst(raw_touches)  # as the empty RPCs: every channel connected and warm
    streamed = await _streamed_touches(address, count)
    stream_touches = [(lambda p=p, a=a: p.touch(a)) for p, a in streamed]
    # This driver's own 4,000 channels and 3,000 processes are set up for good: out of
    # its collector's sight, so a full collection (measured: up to 330 ms here) does not
    # land in whichever burst happens to trigger it.
    gc.freeze()
    for _ in range(repeats()):
        cpu = cpu_seconds(plain_pid)
        latencies, _ = await _burst(empties)
        found.anchor_cpu.append((cpu_seconds(plain_pid) - cpu) / count * 1e6)
        found.anchor_p99.append(float(np.percentile(latencies, 99)))
        cpu = cpu_seconds(server_pid)
        latencies, failed = await _burst(raw_touches)  # type: ignore[arg-type]
        found.raw_cpu.append((cpu_seconds(server_pid) - cpu) / count * 1e6)
        found.raw_p99.append(float(np.percentile(latencies, 99)))
        found.errors += failed
        latencies, failed = await _burst(touches)  # type: ignore[arg-type]
        found.vmsim_p99.append(float(np.percentile(latencies, 99)))
        found.errors += failed
        latencies, failed = await _burst(stream_touches)  # type: ignore[arg-type]
        found.stream_p99.append(float(np.percentile(latencies, 99)))
        found.errors += failed
    await asyncio.gather(*(p.close() for p, _ in streamed))
    await asyncio.gather(*(c.close() for c in (*channels, *raw_channels)))
    await asyncio.gather(*(p.close() for p in procs))
    gc.unfreeze()
    return found


def many_clients_rows(quick: bool) -> list[Row]:
    """*count* connected processes: probe latency, the burst p99 against the plain server's, RSS."""
    count = 200 if quick else 1000
    with (
        plain_server() as (plain_address, plain_pid),
        vmsim_server("--ram", "256M", "--client-max-processes", "4096") as (address, server_pid),
    ):
        found = asyncio.run(_many_clients(address, server_pid, plain_address, plain_pid, count))
    burst_anchor = "the same burst of empty RPCs on a plain grpc.aio server"
    return [
        Row(
            f"{count} clients touching at once, p99 (Touch RPC, the anchor's client code)",
            "ms",
            found.raw_p99,
            burst_anchor,
            found.anchor_p99,
            goal="<= 1.05x",
            goal_met=ratio_at_most(1.05),
            note="the client sends serialized bytes to both servers: the ratio is the servers'",
        ),
        Row(
            f"server CPU per call in the burst of {count} unary Touches",
            "us/call",
            found.raw_cpu,
            "the plain server's, same burst of empty RPCs",
            found.anchor_cpu,
            note="what the p99 rests on: both servers are CPU-bound through a burst",
        ),
        Row(
            f"{count} clients touching at once through vmsim.aio (AsyncProcess.touch), p99",
            "ms",
            found.vmsim_p99,
            burst_anchor,
            found.anchor_p99,
            note="the client library's own cost per call included; the anchor's client has none",
        ),
        Row(
            f"{count} clients touching at once over their Run streams, p99",
            "ms",
            found.stream_p99,
            burst_anchor,
            found.anchor_p99,
            goal="<= 1.05x",
            goal_met=ratio_at_most(1.05),
        ),
        Row(
            f"probe touch p50 / p99 with {count} connected",
            "ms",
            [float(np.percentile(found.probe_ms, 50)), float(np.percentile(found.probe_ms, 99))],
            note="one probe process, 300 touches, the others idle",
        ),
        Row(f"errors, {count} clients", "", [float(found.errors)]),
        Row("server RSS per connected process", "kB", [found.rss_kb]),
    ]


SECTIONS: dict[str, Callable[[bool], list[Row]]] = {
    "rpc": rpc_rows,
    "touch-many": touch_many_rows,
    "burst": many_clients_rows,
}


rows = every_section(SECTIONS)


if __name__ == "__main__":
    run_sections_as_script(__doc__.splitlines()[0], SECTIONS)
