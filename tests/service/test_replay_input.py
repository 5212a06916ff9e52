"""Item 13: `vmsim replay` refuses what is not a trace with a usage error that says where and
what is allowed (an entry beyond 32 bits, a bad --frames, a binary or UTF-16 file, an endless
/dev/zero), reading at most --max-trace-size bytes; the Replay RPC refuses the same values
with INVALID_ARGUMENT."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from tests.usage_text import flat
from typer.testing import CliRunner

from vmsim.cli import app
from vmsim.endpoint import stub_class
from vmsim_proto import read_trace
from vmsim_proto.v1 import inspect_pb2

runner = CliRunner()
OFFLINE = "offline"


def usage_error(args: list[str], where: str, stdin: bytes | None = None) -> str:
    """Run `vmsim replay ARGS` offline or against the server at *where*: its one-line error."""
    address = [] if where == OFFLINE else ["--addr", where]
    result = runner.invoke(app, ["replay", *args, *address], input=stdin)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return flat(result.output)


@pytest.fixture(params=[OFFLINE, "server"])
def where(request: pytest.FixtureRequest) -> str:
    if request.param == OFFLINE:
        return OFFLINE
    return str(request.getfixturevalue("server_address"))


def test_an_entry_beyond_32_bits_names_its_line(where: str, tmp_path: Path) -> None:
    trace = tmp_path / "huge.trace"
    trace.write_text(f"1 2\n3 {2**64}\n")
    message = usage_error([str(trace), "--addresses"], where)
    assert f"line 2: '{2**64}' is too large (allowed: 0 .. 0xffffffff" in message


def test_a_page_number_beyond_the_address_space_names_its_line(where: str, tmp_path: Path) -> None:
    trace = tmp_path / "pages.trace"
    trace.write_text("1\n0x100000\n")
    message = usage_error([str(trace)], where)
    assert "line 2: '0x100000' is too large (allowed: 0 .. 0xfffff, the largest page number)" in (
        message
    )


@pytest.mark.parametrize("frames", ["-1", "0", "1000001", str(2**64)])
def test_frames_outside_one_to_a_million_are_refused(
    frames: str, where: str, tmp_path: Path
) -> None:
    trace = tmp_path / "ok.trace"
    trace.write_text("1 2 3\n")
    message = " ".join(usage_error([str(trace), "--frames", frames], where).split())
    assert "Invalid value for '--frames'" in message
    assert f"{frames} is not in the range 1<=x<=1000000" in message


def test_a_binary_file_names_its_first_byte_that_is_not_text(where: str, tmp_path: Path) -> None:
    trace = tmp_path / "a.out"
    trace.write_bytes(b"1 2 3\n" + bytes(range(256)))
    message = usage_error([str(trace)], where)
    assert "byte 6: 0x00 is not trace text" in message and "UTF-16" in message


def test_a_utf16_file_is_refused_at_its_byte_order_mark(where: str, tmp_path: Path) -> None:
    trace = tmp_path / "utf16.trace"
    trace.write_text("1 2 3\n", encoding="utf-16")
    assert "byte 0: 0xff is not trace text" in usage_error([str(trace)], where)


def test_dev_zero_is_refused_after_its_first_chunk() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("vmsim")), "replay", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "byte 0: 0x00 is not trace text" in flat(done.stderr)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr


def test_a_trace_larger_than_max_trace_size_is_refused_reading_stdin(where: str) -> None:
    endless = b"1 2 3 4\n" * 100_000  # 800 kB of good references
    message = usage_error(["-", "--max-trace-size", "64k"], where, stdin=endless)
    assert "more than 65536 bytes (allowed: at most 65536)" in message


def test_an_endless_pipe_of_good_references_stops_at_the_limit() -> None:
    endless = subprocess.Popen(["yes", "1"], stdout=subprocess.PIPE)
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("vmsim")), "replay", "-", "--max-trace-size", "1M"],
            stdin=endless.stdout,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        endless.kill()
        endless.wait()
    assert done.returncode == 2, done.stderr
    assert "more than 1048576 bytes" in flat(done.stderr)


def test_a_trace_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    trace = tmp_path / "ok.trace"
    trace.write_bytes(b"# two pages\r\n0x1000,\t0x2fff\n")
    read = read_trace(str(trace), addresses=True, max_bytes=trace.stat().st_size)
    assert read.tolist() == [0x1000, 0x2FFF]


def test_the_replay_rpcs_refuse_bad_frames_and_pages(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub = stub_class("inspect")(channel)
        for request, field in [
            (inspect_pb2.ReplayRequest(trace=[1, 2], frames=0, policy="lru"), "frames"),
            (inspect_pb2.ReplayRequest(trace=[1, 2], frames=2_000_000, policy="lru"), "frames"),
            (inspect_pb2.ReplayRequest(trace=[1, 1 << 20], frames=2, policy="lru"), "trace"),
        ]:
            with pytest.raises(grpc.RpcError) as refused:
                stub.Replay(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in (refused.value.details() or "")
        curve = inspect_pb2.GetMissRatioCurveRequest(trace=[1, 1 << 20])
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetMissRatioCurve(curve, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page numbers below 2**20" in (refused.value.details() or "")


def test_the_packed_trace_is_read_as_little_endian_uint32(server_address: str) -> None:
    classic = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    packed = b"".join(page.to_bytes(4, "little") for page in classic)
    with grpc.insecure_channel(server_address) as channel:
        stub = stub_class("inspect")(channel)
        listed = stub.Replay(
            inspect_pb2.ReplayRequest(trace=classic, frames=3, policy="fifo"), timeout=10
        )
        compact = stub.Replay(
            inspect_pb2.ReplayRequest(packed_trace=packed, frames=3, policy="fifo"), timeout=10
        )
        assert compact == listed and listed.misses == 15 and len(listed.victims) == 12
        counts = stub.Replay(
            inspect_pb2.ReplayRequest(
                packed_trace=packed, frames=3, policy="fifo", counts_only=True
            ),
            timeout=10,
        )
        assert (counts.hits, counts.misses, list(counts.victims), list(counts.faults_at)) == (
            5,
            15,
            [],
            [],
        )
        curve = stub.GetMissRatioCurve(
            inspect_pb2.GetMissRatioCurveRequest(packed_trace=packed), timeout=10
        )
        assert curve == stub.GetMissRatioCurve(
            inspect_pb2.GetMissRatioCurveRequest(trace=classic), timeout=10
        )


def test_a_packed_trace_of_broken_values_or_beside_a_list_is_refused(server_address: str) -> None:
    replay = inspect_pb2.ReplayRequest
    with grpc.insecure_channel(server_address) as channel:
        stub = stub_class("inspect")(channel)
        for method, request, expected in [
            (
                stub.Replay,
                replay(packed_trace=b"\x01\x00\x00", frames=2, policy="lru"),
                "3 bytes are not whole uint32 values (allowed: a multiple of 4 bytes",
            ),
            (
                stub.Replay,
                replay(trace=[1], packed_trace=b"\x01\x00\x00\x00", frames=2, policy="lru"),
                "both trace and packed_trace are set (allowed: one of the two)",
            ),
            (
                stub.GetMissRatioCurve,
                inspect_pb2.GetMissRatioCurveRequest(packed_trace=b"\x01\x00\x00\x00\x00"),
                "5 bytes are not whole uint32 values",
            ),
        ]:
            with pytest.raises(grpc.RpcError) as refused:
                method(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert expected in (refused.value.details() or "")
