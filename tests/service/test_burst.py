"""A burst of calls in flight at once on a real server process (`python -m vmsim_server`): every
call is answered, and /metrics shows the collections the burst cost the server's collector."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import grpc
import pytest
from tests.service.conftest import free_port

from vmsim.calls import CHANNEL_OPTIONS
from vmsim.demo import server_process
from vmsim.endpoint import stub_class
from vmsim_kernel import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from vmsim_proto.v1 import common_pb2, process_pb2

pytestmark = pytest.mark.subprocess

IN_FLIGHT = 500  # calls at once: the objects of those waiting outnumber CPython's 700


def _young_collections(metrics_port: int) -> float:
    """python_gc_collections_total{generation="0"} of the server process."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    found = re.search(r'python_gc_collections_total\{generation="0"\} (\S+)', text)
    assert found is not None, text
    return float(found.group(1))


async def _burst(address: str, metrics_port: int) -> tuple[list[int], float]:
    """IN_FLIGHT Touches of one resident page at once: (their results, the young-generation
    collections the server made meanwhile)."""
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        process = stub_class("process")(channel)
        spawned = await process.Spawn(process_pb2.SpawnRequest(name="burst"), timeout=10)
        token = (("x-vmsim-token", spawned.token),)
        mapped = await process.Mmap(
            process_pb2.MmapRequest(
                pid=spawned.pid,
                length=PAGE_SIZE,
                prot=PROT_READ | PROT_WRITE,
                flags=MAP_PRIVATE | MAP_ANONYMOUS,
            ),
            metadata=token,
            timeout=10,
        )
        touch = process_pb2.TouchRequest(pid=spawned.pid, addr=mapped.addr, write=True)
        await process.Touch(touch, metadata=token, timeout=10)
        before = await asyncio.to_thread(_young_collections, metrics_port)
        replies = await asyncio.gather(
            *(process.Touch(touch, metadata=token, timeout=30) for _ in range(IN_FLIGHT))
        )
        after = await asyncio.to_thread(_young_collections, metrics_port)
    return [reply.result for reply in replies], after - before


def test_the_collections_a_burst_costs_the_server_are_counted_on_metrics() -> None:
    metrics_port = free_port()
    with server_process("--metrics-port", str(metrics_port)) as (address, _pid):
        results, collections = asyncio.run(_burst(address, metrics_port))
    assert results == [common_pb2.FAULT_KIND_HIT] * IN_FLIGHT
    # read at scrape time from the server process's collector (9 for such a burst, measured)
    assert collections >= 1, collections
