"""The client library against a real server: every call, errors as exceptions, streams, asyncio, many clients."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from tests.api_doc import documented_names
from tests.service.conftest import address_with_no_server

import vmsim
from vmsim import calls
from vmsim.errors import error_from_rpc
from vmsim_proto.v1 import process_pb2

ROOT = Path(__file__).resolve().parents[2]
StartServer = Callable[..., Any]  # the conftest factory: start_server(**settings) -> server


def test_every_process_call(server_address: str) -> None:
    with vmsim.connect(server_address, name="lib") as proc:
        addr = proc.mmap(16 * vmsim.MiB)
        assert proc.write(addr + 4094, b"hi there") == 8
        assert proc.read(addr + 4094, 8) == b"hi there"
        assert proc.touch(addr) is vmsim.FaultKind.HIT
        assert proc.touch(addr + 8 * vmsim.PAGE_SIZE, write=True) == "minor"
        summary = proc.touch_many(
            np.arange(addr, addr + vmsim.MiB, vmsim.PAGE_SIZE, dtype=np.uint32)
        )
        assert summary == vmsim.TouchSummary(touched=256, hits=3, minor=253, major=0)
        walk = proc.translate(addr)
        assert walk.present and walk.physical == (walk.pfn or 0) * vmsim.PAGE_SIZE
        assert walk.pde_index == addr >> 22 and walk.vma is not None and "PDE" in walk.text
        proc.mprotect(addr, vmsim.PAGE_SIZE, vmsim.PROT_READ)
        assert [v.perms for v in proc.maps().items][:2] == ["r--p", "rw-p"]
        proc.madvise(addr + vmsim.PAGE_SIZE, vmsim.PAGE_SIZE, vmsim.MADV_DONTNEED)
        assert proc.read(addr + vmsim.PAGE_SIZE, 2) == b"\0\0"
        start = proc.brk()
        assert proc.brk(start + 3 * vmsim.PAGE_SIZE) == start + 3 * vmsim.PAGE_SIZE
        smaps = proc.smaps()
        assert "Rss:" in smaps.text and sum(v.rss for v in smaps.items) == proc.status().vm_rss
        proc.munmap(addr, 16 * vmsim.MiB)
        assert "[heap]" in proc.maps().text
        status = proc.status()
        assert status.name == "lib" and status.minor_faults >= 256 and status.vm_rss == 0
        assert "Name:\tlib" in status.text and "VmRSS:" in status.text


def test_closing_a_process_leaves_a_zombie_and_frees_its_memory(server_address: str) -> None:
    with vmsim.inspect(server_address) as inspector:
        free_before = inspector.free_kb()
        with vmsim.connect(server_address, name="brief") as proc:
            addr = proc.mmap(vmsim.MiB)
            proc.touch_many(range(addr, addr + vmsim.MiB, vmsim.PAGE_SIZE), write=True)
            assert inspector.free_kb() <= free_before - 1024
        assert inspector.status(proc.pid).state == "Z"
        assert inspector.free_kb() == free_before


def test_errors_arrive_as_the_kernels_exceptions(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        with pytest.raises(vmsim.InvalidArgument) as bad:
            proc.mmap(0)
        assert bad.value.field == "length" and bad.value.allowed and bad.value.errno == "EINVAL"
        with pytest.raises(vmsim.OutOfRange) as outside:
            proc.mmap(
                4096,
                flags=vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS | vmsim.MAP_FIXED,
                addr=0xC0000000,
            )
        assert not isinstance(outside.value, vmsim.InvalidArgument)  # siblings, as in the kernel
        with pytest.raises(vmsim.SegmentationFault) as segv:
            proc.touch(0xDEAD000)
        assert segv.value.address == 0xDEAD000 and "no VMA" in segv.value.reason
        assert segv.value.pid == proc.pid and segv.value.code == "FAILED_PRECONDITION"
        with pytest.raises(vmsim.ProcessKilled) as dead:
            proc.mmap(4096)
        assert dead.value.signal == "SIGSEGV" and dead.value.address == 0xDEAD000
    with vmsim.inspect(server_address) as inspector, pytest.raises(vmsim.NoSuchProcess) as gone:
        inspector.maps(99999)
    assert gone.value.pid == 99999 and gone.value.code == "NOT_FOUND"


def test_overcommit_refusal_is_out_of_memory(start_server: StartServer) -> None:
    server = start_server(overcommit_memory=2)
    with (
        vmsim.connect(server.address) as proc,
        pytest.raises(vmsim.OutOfMemory, match="CommitLimit"),
    ):
        proc.mmap(1 * vmsim.GiB)


def test_exhausting_ram_and_swap_is_an_oom_kill(start_server: StartServer) -> None:
    server = start_server(ram_bytes=8 << 20, swap_bytes=4 << 20, overcommit_memory=1)
    with vmsim.connect(server.address, name="glutton") as proc:
        addr = proc.mmap(32 * vmsim.MiB)
        with pytest.raises(vmsim.OomKilled) as killed:
            proc.touch_many(range(addr, addr + 32 * vmsim.MiB, vmsim.PAGE_SIZE), write=True)
        assert killed.value.signal == "SIGKILL" and "Out of memory" in killed.value.reason


def test_a_server_limit_is_limit_exceeded(start_server: StartServer) -> None:
    server = start_server(max_io_bytes=4096)
    with vmsim.connect(server.address) as proc:
        addr = proc.mmap(vmsim.MiB)
        with pytest.raises(vmsim.LimitExceeded, match="max_io_bytes"):
            proc.read(addr, 8192)
        assert proc.read(addr, 4096) == bytes(4096)


def test_forged_pid_is_permission_denied(server_address: str) -> None:
    with vmsim.connect(server_address) as victim, vmsim.connect(server_address) as attacker:
        own = attacker.pid
        attacker.pid = victim.pid  # the token stays the attacker's
        with pytest.raises(vmsim.PermissionDenied, match=f"pid {own}"):
            attacker.read(0x40000000, 4)
        attacker.pid = own


def test_forged_token_is_unauthenticated(server_address: str) -> None:
    with vmsim.connect(server_address) as proc, grpc.insecure_channel(server_address) as channel:
        brk = channel.unary_unary(
            "/vmsim.v1.ProcessService/Brk",
            request_serializer=process_pb2.BrkRequest.SerializeToString,
            response_deserializer=process_pb2.BrkResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as refused:
            brk(
                process_pb2.BrkRequest(pid=proc.pid),
                metadata=(("x-vmsim-token", "forged"),),
                timeout=10,
            )
        assert isinstance(error_from_rpc(refused.value), vmsim.Unauthenticated)


def test_no_server_is_unavailable() -> None:
    with (
        vmsim.Inspector(address_with_no_server(), timeout=5) as inspector,
        pytest.raises(vmsim.Unavailable),
    ):
        inspector.meminfo()


@pytest.mark.timing
def test_keepalive_outlives_the_lease_and_silence_does_not(start_server: StartServer) -> None:
    server = start_server(lease_seconds=1.0)
    with (
        vmsim.connect(server.address, name="kept") as kept,
        vmsim.connect(server.address, name="silent", keepalive=False) as silent,
    ):
        time.sleep(2.5)  # more than twice the lease without a call of our own
        assert kept.brk() > 0
        with pytest.raises(vmsim.ProcessKilled, match="lease expired"):
            silent.brk()


def test_operation_stream_runs_in_order(server_address: str) -> None:
    proc = vmsim.connect(server_address)
    with proc.stream() as stream:
        addr = stream.run([calls.mmap(proc.pid, 64 * vmsim.PAGE_SIZE)])[0]
        pages = range(addr, addr + 64 * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE)
        outcomes = stream.run(
            [
                calls.touch_many(proc.pid, pages, True),
                calls.write(proc.pid, addr, b"stream"),
                calls.read(proc.pid, addr, 6),
                calls.mmap(proc.pid, 0),
                calls.touch(proc.pid, addr),
            ]
        )
        ids = [stream.send(calls.translate(proc.pid, page)) for page in pages[:3]]
        assert stream.in_flight == 3 and ids == sorted(ids)
        walks = [stream.receive() for _ in ids]
    assert outcomes[0].minor == 64 and outcomes[1] == 6 and outcomes[2] == b"stream"
    assert isinstance(outcomes[3], vmsim.InvalidArgument) and outcomes[4] == "hit"
    assert [w.linear for w in walks] == list(pages[:3])
    with vmsim.Inspector(server_address) as inspector:
        assert inspector.status(proc.pid).state == "Z"  # the stream took the process with it
    proc.close()


def test_both_stream_flavours_refuse_a_receive_or_a_run_out_of_turn(server_address: str) -> None:
    with vmsim.connect(server_address) as proc, proc.stream() as stream:
        with pytest.raises(RuntimeError, match="no operation in flight"):
            stream.receive()
        stream.send(calls.brk(proc.pid))
        with pytest.raises(RuntimeError, match="run\\(\\) with 1 operations still to receive"):
            stream.run([calls.brk(proc.pid)])
        assert stream.receive() > 0 and stream.in_flight == 0

    async def scenario() -> None:
        async with vmsim.aio.connect(server_address) as proc, proc.stream() as stream:
            with pytest.raises(RuntimeError, match="no operation in flight"):
                await stream.receive()
            await stream.send(calls.brk(proc.pid))
            with pytest.raises(RuntimeError, match="run\\(\\) with 1 operations still"):
                await stream.run([calls.brk(proc.pid)])
            assert await stream.receive() > 0 and stream.in_flight == 0

    asyncio.run(scenario())


def test_process_run_keeps_one_stream_until_close(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        (addr,) = proc.run([calls.mmap(proc.pid, vmsim.MiB)])
        first = proc.run([calls.write(proc.pid, addr, b"one"), calls.touch(proc.pid, 0x10)])
        assert first[0] == 3 and isinstance(first[1], vmsim.SegmentationFault)
        assert isinstance(proc.run([calls.read(proc.pid, addr, 3)])[0], vmsim.ProcessKilled)


def test_inspector_reports_and_replay(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        assert inspector.meminfo()["MemTotal"] > 0
        assert "pgfault" in inspector.vmstat().values
        zones = inspector.zoneinfo().items
        assert [z.name for z in zones] == ["DMA", "Normal", "HighMem"]
        assert all(z.min < z.low < z.high for z in zones if z.managed)
        dma, normal = zones[0], zones[1]
        assert dma.protection[1] == normal.managed // 256 and len(dma.protection) == 4
        # the per-cpu lists of the (16 MiB: only) DMA zone, as zoneinfo's pagesets print them
        dma_text = inspector.zoneinfo().text.split("zone      DMA")[1].split("Node 0")[0]
        counts = [int(line.split()[-1]) for line in dma_text.splitlines() if "count:" in line]
        assert len(counts) == 2 and dma.pcp_count == sum(counts)  # one list per CPU
        assert f"high:  {dma.pcp_high}" in dma_text and dma.pcp_high == max(dma.low // 2, 4)
        assert f"batch: {dma.pcp_batch}" in dma_text and dma.pcp_batch == 1
        assert inspector.buddyinfo().text.startswith("Node 0, zone")
        layout = inspector.layout()
        assert layout["VMALLOC_START"] < layout["VMALLOC_END"] < layout["PKMAP_BASE"]
        assert "virtual kernel memory layout:" in layout.text
        assert inspector.swaps().items[0].size_kb == 64 * 1024 - 4
        result = inspector.replay(
            [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1], 3, "fifo"
        )
        assert (result.misses, result.victims[:3]) == (15, (7, 0, 1))
        assert result.hit_ratio == pytest.approx(5 / 20)


def test_inspector_follows_events(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        feed = inspector.events(kinds=["process_spawn"], timeout=10)
        threading.Timer(0.5, lambda: vmsim.connect(server_address, name="seen").close()).start()
        event = next(feed)
        feed.close()
    assert (event.kind, event.detail) == ("process_spawn", "seen")


@pytest.mark.slow
def test_swapped_page_translates_to_its_swap_entry(start_server: StartServer) -> None:
    server = start_server(ram_bytes=8 << 20, swap_bytes=32 << 20)
    with vmsim.connect(server.address) as proc:
        size = 16 * vmsim.MiB
        addr = proc.mmap(size)
        proc.write(addr, b"first page")
        proc.touch_many(range(addr, addr + size, vmsim.PAGE_SIZE), write=True)
        walk = proc.translate(addr)
        assert not walk.present and walk.swap_offset is not None and walk.physical is None
        assert proc.read(addr, 10) == b"first page"


def test_asyncio_flavour(server_address: str) -> None:
    async def scenario() -> None:
        async with vmsim.aio.connect(server_address, name="async") as proc:
            addr = await proc.mmap(vmsim.MiB)
            assert await proc.write(addr, b"async") == 5
            assert await proc.read(addr, 5) == b"async"
            assert await proc.touch(addr + vmsim.PAGE_SIZE) is vmsim.FaultKind.MINOR
            assert (await proc.touch_many([addr, addr + 2 * vmsim.PAGE_SIZE])).minor == 1
            assert (await proc.translate(addr)).present
            assert (await proc.status()).minor_faults == 3
            assert "async" not in (await proc.maps()).text
            outcomes = await proc.run([calls.read(proc.pid, addr, 5), calls.mmap(proc.pid, 0)])
            assert outcomes[0] == b"async" and isinstance(outcomes[1], vmsim.InvalidArgument)
        async with vmsim.aio.inspect(server_address) as inspector:
            assert (await inspector.status(proc.pid)).state == "Z"
            assert (await inspector.meminfo())["MemTotal"] > 0
            assert (await inspector.replay([1, 2, 1], 1, "lru")).misses == 3
        async with vmsim.aio.connect(server_address) as doomed:
            with pytest.raises(vmsim.SegmentationFault) as segv:
                await doomed.touch(0x1234)
            assert segv.value.address == 0x1234
        streamed = vmsim.aio.connect(server_address)
        await streamed.start()
        async with streamed.stream() as stream:
            await stream.send(calls.mmap(streamed.pid, vmsim.PAGE_SIZE))
            addr = await stream.receive()
            assert (await stream.run([calls.touch(streamed.pid, addr, True)])) == ["minor"]
        await streamed.close()

    asyncio.run(scenario())


def test_asyncio_processes_run_concurrently(server_address: str) -> None:
    async def worker(n: int) -> bytes:
        async with vmsim.aio.connect(server_address, name=f"a{n}") as proc:
            addr = await proc.mmap(16 * vmsim.PAGE_SIZE)
            await proc.write(addr + n, bytes([n]) * 8)
            await asyncio.sleep(0)
            return await proc.read(addr + n, 8)

    async def all_workers() -> list[bytes]:
        return await asyncio.gather(*(worker(n) for n in range(20)))

    assert asyncio.run(all_workers()) == [bytes([n]) * 8 for n in range(20)]


@pytest.mark.slow
def test_fifty_concurrent_processes_swap_and_read_back_their_bytes(
    start_server: StartServer,
) -> None:
    server = start_server(ram_bytes=16 << 20, swap_bytes=128 << 20)
    clients = 50
    size = 120 * vmsim.PAGE_SIZE  # 480 KiB each > 16 MiB / 50; 24 MiB in all > RAM
    all_written = threading.Barrier(clients, timeout=60)

    def worker(n: int) -> bool:
        pattern = random.Random(n).randbytes(size)
        with vmsim.connect(server.address, name=f"w{n}") as proc:
            addr = proc.mmap(size)
            proc.write(addr, pattern)
            all_written.wait()  # every pattern is in memory (or swap) before anyone reads
            return proc.read(addr, size) == pattern

    with ThreadPoolExecutor(max_workers=clients) as pool:
        assert all(pool.map(worker, range(clients)))
    with vmsim.Inspector(server.address) as inspector:
        vmstat = inspector.vmstat()
        assert vmstat["pswpout"] > 0 and vmstat["pswpin"] > 0


@pytest.mark.subprocess
def test_a_client_killed_mid_way_has_its_memory_freed(start_server: StartServer) -> None:
    server = start_server(lease_seconds=1.0)
    script = (
        "import sys, time, vmsim\n"
        "p = vmsim.connect(sys.argv[1], name='doomed')\n"
        "a = p.mmap(4 * vmsim.MiB)\n"
        "p.touch_many(range(a, a + 4 * vmsim.MiB, vmsim.PAGE_SIZE), write=True)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'server'}:{ROOT / 'client'}")
    with vmsim.Inspector(server.address) as inspector:
        free_before = inspector.free_kb()
        client = subprocess.Popen(
            [sys.executable, "-c", script, server.address],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert client.stdout is not None
        pid = int(client.stdout.readline())
        assert inspector.free_kb() < free_before - 4000
        client.send_signal(signal.SIGKILL)
        client.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and inspector.status(pid).state != "Z":
            time.sleep(0.2)
        status = inspector.status(pid)
        assert status.state == "Z" and "lease expired" in (status.kill_reason or "")
        assert inspector.free_kb() == free_before


def test_admin_kill_needs_the_admin_token(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        with (
            vmsim.Admin(server_address, "wrong") as impostor,
            pytest.raises(vmsim.PermissionDenied),
        ):
            impostor.kill(proc.pid)
        with vmsim.Admin(server_address, "admin-secret") as admin:
            admin.kill(proc.pid, "test says so")
        with pytest.raises(vmsim.ProcessKilled, match="test says so"):
            proc.touch(0)


def test_public_names_are_pinned() -> None:
    # The pin is docs/api.md: a name added or removed must be added or removed there too.
    for package in (vmsim, vmsim.aio):
        documented = documented_names(package.__name__)
        assert len(documented) == len(set(documented)), "a name listed twice in docs/api.md"
        assert sorted(package.__all__) == sorted(documented)
    assert (vmsim.KiB, vmsim.MiB, vmsim.GiB, vmsim.PAGE_SIZE) == (1 << 10, 1 << 20, 1 << 30, 4096)
    assert (vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS, vmsim.PROT_READ | vmsim.PROT_WRITE) == (
        0x22,
        3,
    )
