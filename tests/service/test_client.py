"""The client library against a real server: every call, errors as exceptions, streams, asyncio, many clients."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import vmsim

ROOT = Path(__file__).resolve().parents[2]


def test_every_process_call(server_address: str) -> None:
    with vmsim.connect(server_address, name="lib") as proc:
        addr = proc.mmap(16 * vmsim.MiB)
        assert proc.write(addr + 4094, b"hi there") == 8
        assert proc.read(addr + 4094, 8) == b"hi there"
        assert proc.touch(addr) == "hit"
        assert proc.touch(addr + 8 * vmsim.PAGE_SIZE, write=True) == "minor"
        summary = proc.touch_many(
            np.arange(addr, addr + vmsim.MiB, vmsim.PAGE_SIZE, dtype=np.uint32)
        )
        assert summary == vmsim.TouchSummary(256, 3, 253, 0)
        walk = proc.translate(addr)
        assert walk.present and walk.physical is not None and "PDE" in walk.text
        proc.mprotect(addr, vmsim.PAGE_SIZE, vmsim.PROT_READ)
        assert [v.perms for v in proc.maps().items][:2] == ["r--p", "rw-p"]
        proc.madvise(addr + vmsim.PAGE_SIZE, vmsim.PAGE_SIZE, vmsim.MADV_DONTNEED)
        assert proc.read(addr + vmsim.PAGE_SIZE, 2) == b"\0\0"
        start = proc.brk()
        assert proc.brk(start + 3 * vmsim.PAGE_SIZE) == start + 3 * vmsim.PAGE_SIZE
        proc.munmap(addr, 16 * vmsim.MiB)
        assert "[heap]" in proc.maps().text
        status = proc.status()
        assert status.name == "lib" and status.minor_faults >= 256
        assert "Rss:" in proc.smaps().text


def test_errors_arrive_as_the_kernels_exceptions(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        with pytest.raises(vmsim.InvalidArgument) as bad:
            proc.mmap(0)
        assert bad.value.field == "length" and bad.value.allowed
        with pytest.raises(vmsim.OutOfRange):
            proc.mmap(
                4096,
                flags=vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS | vmsim.MAP_FIXED,
                addr=0xC0000000,
            )
        with pytest.raises(vmsim.SegmentationFault) as segv:
            proc.touch(0xDEAD000)
        assert segv.value.address == 0xDEAD000 and "no VMA" in segv.value.reason
        with pytest.raises(vmsim.ProcessKilled) as dead:
            proc.mmap(4096)
        assert dead.value.signal == "SIGSEGV"


def test_overcommit_refusal_is_out_of_memory(start_server: object) -> None:
    server = start_server(overcommit_memory=2)  # type: ignore[operator]
    with (
        vmsim.connect(server.address) as proc,
        pytest.raises(vmsim.OutOfMemory, match="CommitLimit"),
    ):
        proc.mmap(1 * vmsim.GiB)


def test_forged_pid_is_permission_denied(server_address: str) -> None:
    with vmsim.connect(server_address) as victim, vmsim.connect(server_address) as attacker:
        own = attacker.pid
        attacker.pid = victim.pid  # the token stays the attacker's
        with pytest.raises(vmsim.PermissionDenied):
            attacker.read(0x40000000, 4)
        attacker.pid = own


def test_operation_stream_runs_in_order(server_address: str) -> None:
    proc = vmsim.connect(server_address)
    with proc.stream() as stream:
        addr = stream.run([vmsim.calls.mmap(proc.pid, 64 * vmsim.PAGE_SIZE)])[0]
        outcomes = stream.run(
            [
                vmsim.calls.touch_many(
                    proc.pid, range(addr, addr + 64 * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE), True
                ),
                vmsim.calls.write(proc.pid, addr, b"stream"),
                vmsim.calls.read(proc.pid, addr, 6),
                vmsim.calls.mmap(proc.pid, 0),
            ]
        )
    assert outcomes[0].minor == 64 and outcomes[1] == 6 and outcomes[2] == b"stream"
    assert isinstance(outcomes[3], vmsim.InvalidArgument)
    with vmsim.Inspector(server_address) as inspector:
        assert inspector.status(proc.pid)[0].state == "Z"


def test_inspector_reports_and_replay(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        assert inspector.meminfo()["MemTotal"] > 0
        assert "pgfault" in inspector.vmstat().values
        assert [z.name for z in inspector.zoneinfo().items] == ["DMA", "Normal", "HighMem"]
        assert inspector.buddyinfo().text.startswith("Node 0, zone")
        assert inspector.swaps().items[0].size_kb == 64 * 1024 - 4
        result = inspector.replay(
            [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1], 3, "fifo"
        )
        assert (result.misses, result.victims[:3]) == (15, (7, 0, 1))


def test_asyncio_flavour(server_address: str) -> None:
    async def scenario() -> tuple[bytes, str, int]:
        async with vmsim.aio.connect(server_address, name="async") as proc:
            addr = await proc.mmap(vmsim.MiB)
            await proc.write(addr, b"async")
            data = await proc.read(addr, 5)
            kind = await proc.touch(addr + vmsim.PAGE_SIZE)
            status = await proc.status()
            return data, kind, status.minor_faults

    assert asyncio.run(scenario()) == (b"async", "minor", 2)


def test_fifty_concurrent_processes_swap_and_read_back_their_bytes(start_server: object) -> None:
    server = start_server(ram_bytes=16 << 20, swap_bytes=128 << 20)  # type: ignore[operator]
    pages = 120  # 50 x 120 pages = 24 MiB > 16 MiB of RAM

    def worker(n: int) -> bool:
        rng = random.Random(n)
        with vmsim.connect(server.address, name=f"w{n}") as proc:
            addr = proc.mmap(pages * vmsim.PAGE_SIZE)
            blobs = [rng.randbytes(64) for _ in range(pages)]
            for i, blob in enumerate(blobs):
                proc.write(addr + i * vmsim.PAGE_SIZE, blob)
            time.sleep(0.2)
            return all(
                proc.read(addr + i * vmsim.PAGE_SIZE, 64) == blob for i, blob in enumerate(blobs)
            )

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert all(pool.map(worker, range(50)))
    with vmsim.Inspector(server.address) as inspector:
        assert inspector.vmstat()["pswpout"] > 0


def test_a_client_killed_mid_way_has_its_memory_freed(start_server: object) -> None:
    server = start_server(lease_seconds=1.0)  # type: ignore[operator]
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
        free_before = inspector.meminfo()["MemFree"]
        client = subprocess.Popen(
            [sys.executable, "-c", script, server.address],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert client.stdout is not None
        pid = int(client.stdout.readline())
        assert inspector.meminfo()["MemFree"] < free_before - 4000
        client.send_signal(signal.SIGKILL)
        client.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and inspector.status(pid)[0].state != "Z":
            time.sleep(0.2)
        assert inspector.status(pid)[0].state == "Z"
        assert inspector.meminfo()["MemFree"] == free_before


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
    assert sorted(vmsim.__all__) == sorted(
        [
            "MADV_DONTNEED",
            "MADV_NORMAL",
            "MADV_RANDOM",
            "MADV_SEQUENTIAL",
            "MADV_WILLNEED",
            "MAP_ANONYMOUS",
            "MAP_FIXED",
            "MAP_FIXED_NOREPLACE",
            "MAP_NORESERVE",
            "MAP_POPULATE",
            "MAP_PRIVATE",
            "MAP_SHARED",
            "PAGE_SIZE",
            "PROT_EXEC",
            "PROT_NONE",
            "PROT_READ",
            "PROT_WRITE",
            "Admin",
            "Event",
            "GiB",
            "Inspector",
            "InvalidArgument",
            "KiB",
            "LimitExceeded",
            "Listing",
            "MiB",
            "NoSuchProcess",
            "OomKilled",
            "OperationStream",
            "OutOfMemory",
            "OutOfRange",
            "PermissionDenied",
            "Process",
            "ProcessKilled",
            "ProcessStatus",
            "ReplayResult",
            "Report",
            "SegmentationFault",
            "SwapArea",
            "TouchSummary",
            "Translation",
            "Unauthenticated",
            "Unavailable",
            "Vma",
            "VmsimError",
            "Zone",
            "aio",
            "calls",
            "connect",
        ]
    )
