"""Fast paths over the wire: packed TouchMany addresses, the LRU miss-ratio curve, touches on a Run stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

import vmsim
from vmsim import calls
from vmsim.cli import app
from vmsim.endpoint import stub_class
from vmsim_proto.v1 import process_pb2, process_pb2_grpc

PAGE = vmsim.PAGE_SIZE
RW = vmsim.PROT_READ | vmsim.PROT_WRITE
ANON = vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS


def _spawned(
    channel: grpc.Channel,
) -> tuple[process_pb2_grpc.ProcessServiceStub, int, tuple[tuple[str, str]], int]:
    stub = stub_class("process")(channel)
    spawned = stub.Spawn(process_pb2.SpawnRequest(name="packed"), timeout=10)
    token = (("x-vmsim-token", spawned.token),)
    mapped = stub.Mmap(
        process_pb2.MmapRequest(pid=spawned.pid, length=8 * PAGE, prot=RW, flags=ANON),
        metadata=token,
        timeout=10,
    )
    return stub, spawned.pid, token, mapped.addr


def test_touch_many_reads_packed_bytes_after_the_repeated_field(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub, pid, token, base = _spawned(channel)
        packed = np.asarray([base + PAGE, base + 2 * PAGE, base + PAGE], dtype="<u4").tobytes()
        reply = stub.TouchMany(
            process_pb2.TouchManyRequest(pid=pid, addrs=[base], packed_addrs=packed, write=True),
            metadata=token,
            timeout=10,
        )
        # base, base+1p, base+2p are first touches; the second base+1p is a hit
        assert (reply.touched, reply.minor, reply.hits) == (4, 3, 1)


def test_packed_bytes_that_are_not_whole_addresses_are_refused(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub, pid, token, _base = _spawned(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.TouchMany(
                process_pb2.TouchManyRequest(pid=pid, packed_addrs=b"\x00\x10\x00"),
                metadata=token,
                timeout=10,
            )
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "packed_addrs" in (caught.value.details() or "")


def test_a_packed_batch_longer_than_max_batch_is_resource_exhausted(start_server) -> None:  # type: ignore[no-untyped-def]
    with start_server(max_batch=4) as server, vmsim.connect(server.address) as proc:
        base = proc.mmap(8 * PAGE)
        with pytest.raises(vmsim.LimitExceeded):
            proc.touch_many(np.arange(base, base + 5 * PAGE, PAGE, dtype=np.uint32))
        assert proc.touch_many(range(base, base + 4 * PAGE, PAGE)).minor == 4


def test_the_client_packs_arrays_and_ranges_without_a_list() -> None:
    from_range = calls.touch_many(1, range(0x1000, 0x5000, 0x1000)).request
    from_array = calls.touch_many(1, np.arange(0x1000, 0x5000, 0x1000, dtype=np.uint64)).request
    from_list = calls.touch_many(1, [0x1000, 0x2000]).request
    expected = np.asarray([0x1000, 0x2000, 0x3000, 0x4000], dtype="<u4").tobytes()
    assert from_range.packed_addrs == from_array.packed_addrs == expected
    assert not from_range.addrs and not from_array.addrs
    assert list(from_list.addrs) == [0x1000, 0x2000] and not from_list.packed_addrs


def test_touch_many_over_the_wire_counts_like_the_kernel(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        base = proc.mmap(64 * PAGE)
        first = proc.touch_many(np.arange(base, base + 64 * PAGE, PAGE, dtype=np.uint32), True)
        again = proc.touch_many(range(base, base + 64 * PAGE, 512))
        assert (first.minor, first.hits) == (64, 0)
        assert (again.touched, again.hits) == (512, 512)


def test_miss_ratio_curve_from_the_server_matches_lru_replays(server_address: str) -> None:
    trace = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    with vmsim.Inspector(server_address) as inspector:
        curve = inspector.miss_ratio_curve(trace)
        assert curve.distinct_pages == 6 and curve.references == 20
        for frames in range(1, 8):
            assert curve.misses_with(frames) == inspector.replay(trace, frames, "lru").misses


def test_replay_mrc_on_the_command_line(server_address: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("1 2 3 1 2 3 4 1\n")
    runner = CliRunner()
    result = runner.invoke(app, ["replay", str(trace), "--mrc", "--json", "--addr", server_address])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["misses"] == [8, 8, 5, 4]
    text = runner.invoke(app, ["replay", str(trace), "--mrc", "--addr", server_address])
    assert "distinct pages" in text.output and "0.625" in text.output  # 5 misses with 3 frames


def test_miss_ratio_curve_refuses_page_numbers_beyond_the_address_space(
    server_address: str,
) -> None:
    with vmsim.Inspector(server_address) as inspector, pytest.raises(vmsim.InvalidArgument):
        inspector.miss_ratio_curve([1, 1 << 20])


def test_process_calls_over_the_open_run_stream_behave_like_rpcs(start_server) -> None:  # type: ignore[no-untyped-def]
    with start_server() as server:

        async def scenario() -> None:
            async with vmsim.aio.connect(server.address, over_stream=True) as proc:
                base = await proc.mmap(4 * PAGE)
                assert await proc.touch(base, write=True) is vmsim.FaultKind.MINOR
                summary = await proc.touch_many(range(base, base + 4 * PAGE, PAGE))
                assert (summary.hits, summary.minor) == (1, 3)
                await proc.write(base + 10, b"stream")
                assert await proc.read(base + 10, 6) == b"stream"
                # every one of those went on the stream: the server saw no unary Touch
                rpcs = server.running.registry.get_sample_value(
                    "vmsim_rpcs_total", {"method": "Touch", "code": "OK"}
                )
                assert rpcs is None
                with pytest.raises(vmsim.SegmentationFault):
                    await proc.touch(0x1000)
            # closing the stream ended the process
            assert server.call(lambda: server.running.machine.process(proc.pid).state.name) in (
                "ZOMBIE",
                "DEAD",
            )

        asyncio.run(scenario())


def test_load_runs_over_streams(server_address: str) -> None:
    from vmsim.load import LoadConfig, run_load
    from vmsim.workloads import Workload

    report = run_load(
        LoadConfig(
            server_address,
            Workload(pattern="zipf", region_pages=256, batch=64),
            clients=3,
            duration=None,
            operations=10,
            over_stream=True,
        )
    )
    assert report.operations == 30 and report.errors == {} and report.touches == 30 * 64
