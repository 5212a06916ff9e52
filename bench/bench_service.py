"""Service benchmarks: RPC overhead, end-to-end batches, swap I/O, 1,000 connected processes.

Each function starts what it measures side by side in one run and returns numbers; run_all.py
prints them and writes results.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "client")]
# Server subprocesses import the same checkout, installed or not.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "server"), str(ROOT / "client"), os.environ.get("PYTHONPATH", "")]
)

import vmsim  # noqa: E402
from vmsim.demo import start_server_process  # noqa: E402
from vmsim.v1 import process_pb2, process_pb2_grpc  # noqa: E402
from vmsim_kernel import Machine, MachineConfig  # noqa: E402

RW = vmsim.PROT_READ | vmsim.PROT_WRITE
ANON = vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS


async def _rate(call: object, concurrency: int, seconds: float) -> float:
    """Calls per second with *concurrency* callers in flight for *seconds*."""
    stop = time.perf_counter() + seconds
    count = 0

    async def caller() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await call()  # type: ignore[operator]
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return count / (time.perf_counter() - began)


def rpc_overhead(concurrency: int = 32, seconds: float = 3.0) -> dict[str, float]:
    """Touch RPC (resident page) vs health Check on the same server at the same concurrency."""

    async def measure(address: str) -> tuple[float, float]:
        async with grpc.aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            process = process_pb2_grpc.ProcessServiceStub(channel)
            spawned = await process.Spawn(process_pb2.SpawnRequest(name="bench"), timeout=10)
            token = (("x-vmsim-token", spawned.token),)
            mapped = await process.Mmap(
                process_pb2.MmapRequest(
                    pid=spawned.pid, length=vmsim.PAGE_SIZE, prot=RW, flags=ANON
                ),
                metadata=token,
                timeout=10,
            )
            touch = process_pb2.TouchRequest(pid=spawned.pid, addr=mapped.addr)
            await process.Touch(touch, metadata=token, timeout=10)
            empty = health_pb2.HealthCheckRequest()
            empty_rate = await _rate(lambda: health.Check(empty, timeout=10), concurrency, seconds)
            touch_rate = await _rate(
                lambda: process.Touch(touch, metadata=token, timeout=10), concurrency, seconds
            )
            return empty_rate, touch_rate

    with start_server_process("--log-level", "warning") as address:
        empty_rate, touch_rate = asyncio.run(measure(address))
    return {
        "empty_rpc_per_s": empty_rate,
        "touch_rpc_per_s": touch_rate,
        "touch_vs_empty": touch_rate / empty_rate,
    }


def batched_touches(pages: int = 4096, batch: int = 200_000, rounds: int = 5) -> dict[str, float]:
    """Resident touches per second: TouchMany over the network vs the embedded kernel."""
    rng = np.random.default_rng(0)
    with (
        start_server_process("--log-level", "warning", "--ram", "256M") as address,
        vmsim.connect(address) as proc,
    ):
        addr = proc.mmap(pages * vmsim.PAGE_SIZE)
        proc.touch_many(
            np.arange(addr, addr + pages * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE, dtype=np.uint64),
            write=True,
        )
        addrs = (addr + rng.integers(0, pages * vmsim.PAGE_SIZE, batch)).astype(np.uint32)
        began = time.perf_counter()
        for _ in range(rounds):
            proc.touch_many(addrs)
        remote = rounds * batch / (time.perf_counter() - began)
    with tempfile.TemporaryDirectory() as directory:
        machine = Machine(
            MachineConfig(ram_bytes=256 << 20, swap_bytes=64 << 20, swap_path=f"{directory}/swap")
        )
        pid = machine.spawn()
        base = machine.mmap(pid, 0, pages * vmsim.PAGE_SIZE, RW, ANON)
        machine.touch_many(
            pid,
            np.arange(
                base, base + pages * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE, dtype=np.uint64
            ).astype(np.uint32),
            True,
        )
        local_addrs = (base + rng.integers(0, pages * vmsim.PAGE_SIZE, batch)).astype(np.uint32)
        began = time.perf_counter()
        for _ in range(rounds):
            machine.touch_many(pid, local_addrs)
        embedded = rounds * batch / (time.perf_counter() - began)
        machine.close()
    return {
        "remote_touches_per_s": remote,
        "embedded_touches_per_s": embedded,
        "remote_vs_embedded": remote / embedded,
    }


def swap_throughput(pages: int = 6000) -> dict[str, float]:
    """Pages swapped out+in per second by the kernel vs raw 4 KiB pwrite/pread on the same file."""
    with tempfile.TemporaryDirectory() as directory:
        swap_path = f"{directory}/swap"
        machine = Machine(
            MachineConfig(ram_bytes=8 << 20, swap_bytes=64 << 20, swap_path=swap_path)
        )
        pid = machine.spawn()
        base = machine.mmap(pid, 0, pages * vmsim.PAGE_SIZE, RW, ANON | vmsim.MAP_NORESERVE)
        addrs = np.arange(
            base, base + pages * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE, dtype=np.uint64
        ).astype(np.uint32)
        machine.touch_many(pid, addrs, write=True)
        before = machine.vmstat()
        began = time.perf_counter()
        for _ in range(3):
            machine.touch_many(pid, addrs, write=True)
        elapsed = time.perf_counter() - began
        after = machine.vmstat()
        moved = (after["pswpout"] - before["pswpout"]) + (after["pswpin"] - before["pswpin"])
        kernel_rate = moved / elapsed
        machine.close()
        fd = os.open(swap_path, os.O_RDWR | os.O_CREAT)
        block = os.urandom(vmsim.PAGE_SIZE)
        began = time.perf_counter()
        for slot in range(moved // 2):
            os.pwrite(fd, block, (1 + slot % 16000) * vmsim.PAGE_SIZE)
        for slot in range(moved - moved // 2):
            os.pread(fd, vmsim.PAGE_SIZE, (1 + slot % 16000) * vmsim.PAGE_SIZE)
        raw_rate = moved / (time.perf_counter() - began)
        os.close(fd)
    return {
        "kernel_swap_pages_per_s": kernel_rate,
        "raw_pwrite_pread_per_s": raw_rate,
        "kernel_vs_raw": kernel_rate / raw_rate,
    }


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _server_pid(address: str) -> int:
    port = address.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"vmsim_server" in cmdline and b"127.0.0.1:0" in cmdline:
                return int(entry.name)
    raise RuntimeError(f"no server process for {address} (port {port})")


def many_processes(count: int = 1000, pages_each: int = 4) -> dict[str, float]:
    """*count* connected processes: p99 of a touch while all are connected, errors, server RSS per process."""
    with start_server_process("--log-level", "warning", "--ram", "256M") as address:
        server_pid = _server_pid(address)
        rss_before = _rss_kb(server_pid)

        async def scenario() -> tuple[list[float], list[float], int, int]:
            errors = 0
            procs = []
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
            rss_connected = _rss_kb(server_pid)
            # Responsiveness: one probe process touching while every other process stays connected.
            probe, probe_addr = procs[0], addrs[0]
            latencies: list[float] = []
            for _ in range(300):
                began = time.perf_counter()
                try:
                    await probe.touch(probe_addr)
                except vmsim.VmsimError:
                    errors += 1
                latencies.append(time.perf_counter() - began)
            # Then every process touches at once: 1,000 calls in flight.
            burst: list[float] = []

            async def one(p: vmsim.aio.AsyncProcess, a: int) -> None:
                nonlocal errors
                began = time.perf_counter()
                try:
                    await p.touch(a)
                except vmsim.VmsimError:
                    errors += 1
                burst.append(time.perf_counter() - began)

            await asyncio.gather(*(one(p, a) for p, a in zip(procs, addrs, strict=True)))
            await asyncio.gather(*(p.close() for p in procs))
            return latencies, burst, errors, rss_connected

        latencies, burst, errors, rss_connected = asyncio.run(scenario())
    values = np.asarray(latencies) * 1000
    burst_values = np.asarray(burst) * 1000
    return {
        "processes": count,
        "touch_p50_ms": float(np.percentile(values, 50)),
        "touch_p99_ms": float(np.percentile(values, 99)),
        "burst_p99_ms": float(np.percentile(burst_values, 99)),
        "errors": errors,
        "server_rss_per_process_kb": (rss_connected - rss_before) / count,
    }
