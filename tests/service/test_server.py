"""The gRPC service through raw stubs: health, reflection, auth, statuses, limits, lifetime, events."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from vmsim.v1 import inspect_pb2, inspect_pb2_grpc, process_pb2, process_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


def stubs(
    address: str,
) -> tuple[grpc.Channel, process_pb2_grpc.ProcessServiceStub, inspect_pb2_grpc.InspectServiceStub]:
    channel = grpc.insecure_channel(address)
    return (
        channel,
        process_pb2_grpc.ProcessServiceStub(channel),
        inspect_pb2_grpc.InspectServiceStub(channel),
    )


def spawn(process: process_pb2_grpc.ProcessServiceStub) -> tuple[int, tuple[tuple[str, str]]]:
    reply = process.Spawn(process_pb2.SpawnRequest(name="raw"), timeout=10)
    return reply.pid, (("x-vmsim-token", reply.token),)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(
        d.Unpack(info) for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
    )
    return info


def test_health_is_serving_and_reflection_lists_the_services(server_address: str) -> None:
    channel = grpc.insecure_channel(server_address)
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    assert (
        health.Check(
            health_pb2.HealthCheckRequest(service="vmsim.v1.ProcessService"), timeout=5
        ).status
        == 1
    )
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"vmsim.v1.ProcessService", "vmsim.v1.InspectService", "vmsim.v1.AdminService"} <= names


def test_round_trip_through_raw_stubs(server_address: str) -> None:
    _, process, inspect = stubs(server_address)
    pid, token = spawn(process)
    addr = process.Mmap(
        process_pb2.MmapRequest(pid=pid, length=8192, prot=3, flags=0x22), metadata=token, timeout=5
    ).addr
    process.Write(
        process_pb2.WriteRequest(pid=pid, addr=addr + 4093, data=b"across"),
        metadata=token,
        timeout=5,
    )
    assert (
        process.Read(
            process_pb2.ReadRequest(pid=pid, addr=addr + 4093, length=6), metadata=token, timeout=5
        ).data
        == b"across"
    )
    summary = process.TouchMany(
        process_pb2.TouchManyRequest(pid=pid, addrs=[addr, addr + 4096, addr], write=True),
        metadata=token,
        timeout=5,
    )
    assert (summary.touched, summary.hits) == (3, 3)
    status = inspect.GetStatus(inspect_pb2.GetStatusRequest(pid=pid), timeout=5).status
    assert status.vm_rss == 8192 and status.minor_faults == 2


def test_a_token_cannot_touch_another_process(server_address: str) -> None:
    _, process, _inspect = stubs(server_address)
    victim, victim_token = spawn(process)
    addr = process.Mmap(
        process_pb2.MmapRequest(pid=victim, length=4096, prot=3, flags=0x22),
        metadata=victim_token,
        timeout=5,
    ).addr
    process.Write(
        process_pb2.WriteRequest(pid=victim, addr=addr, data=b"secret"),
        metadata=victim_token,
        timeout=5,
    )
    _, attacker_token = spawn(process)
    with pytest.raises(grpc.RpcError) as denied:
        process.Read(
            process_pb2.ReadRequest(pid=victim, addr=addr, length=6),
            metadata=attacker_token,
            timeout=5,
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"pid {victim}" in denied.value.details()
    with pytest.raises(grpc.RpcError) as anonymous:
        process.Read(process_pb2.ReadRequest(pid=victim, addr=addr, length=6), timeout=5)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (
            process_pb2.MmapRequest(length=0, prot=3, flags=0x22),
            grpc.StatusCode.INVALID_ARGUMENT,
            "length",
        ),
        (
            process_pb2.MmapRequest(length=4096, prot=9, flags=0x22),
            grpc.StatusCode.INVALID_ARGUMENT,
            "prot",
        ),
        (
            process_pb2.MmapRequest(length=4096, prot=3, flags=0x2),
            grpc.StatusCode.INVALID_ARGUMENT,
            "flags",
        ),
        (
            process_pb2.MmapRequest(addr=0xC0000000, length=4096, prot=3, flags=0x32),
            grpc.StatusCode.OUT_OF_RANGE,
            "addr",
        ),
        (
            process_pb2.MmapRequest(length=1 << 33, prot=3, flags=0x22),
            grpc.StatusCode.OUT_OF_RANGE,
            "length",
        ),
        (
            process_pb2.MunmapRequest(addr=0x40000001, length=4096),
            grpc.StatusCode.INVALID_ARGUMENT,
            "addr",
        ),
        (
            process_pb2.MprotectRequest(addr=0x30000000, length=4096, prot=1),
            grpc.StatusCode.OUT_OF_RANGE,
            "addr",
        ),
        (
            process_pb2.MadviseRequest(addr=0x40000000, length=4096, advice=77),
            grpc.StatusCode.INVALID_ARGUMENT,
            "advice",
        ),
        (process_pb2.TouchRequest(addr=1 << 32), grpc.StatusCode.OUT_OF_RANGE, "addr"),
    ],
)
def test_bad_input_gets_a_clear_status_and_changes_nothing(
    server_address: str, request_: object, code: grpc.StatusCode, field: str
) -> None:
    _, process, inspect = stubs(server_address)
    pid, token = spawn(process)
    request_.pid = pid  # type: ignore[attr-defined]
    before = (
        inspect.GetMaps(inspect_pb2.GetMapsRequest(pid=pid), timeout=5).text,
        inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=5).text,
    )
    method = {
        "MmapRequest": process.Mmap,
        "MunmapRequest": process.Munmap,
        "MprotectRequest": process.Mprotect,
        "MadviseRequest": process.Madvise,
        "TouchRequest": process.Touch,
    }[type(request_).__name__]
    with pytest.raises(grpc.RpcError) as failed:
        method(request_, metadata=token, timeout=5)
    assert failed.value.code() == code
    assert failed.value.details() and "allowed" in failed.value.details()
    assert error_info(failed.value).metadata["field"] == field
    after = (
        inspect.GetMaps(inspect_pb2.GetMapsRequest(pid=pid), timeout=5).text,
        inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=5).text,
    )
    assert after == before


def test_limits_answer_resource_exhausted(start_server: object) -> None:
    server = start_server(max_batch=10, max_io_bytes=1000, max_processes=2)  # type: ignore[operator]
    _, process, _ = stubs(server.address)
    pid, token = spawn(process)
    with pytest.raises(grpc.RpcError) as batch:
        process.TouchMany(
            process_pb2.TouchManyRequest(pid=pid, addrs=list(range(11))), metadata=token, timeout=5
        )
    assert (
        batch.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        and "max_batch=10" in batch.value.details()
    )
    with pytest.raises(grpc.RpcError) as read:
        process.Read(
            process_pb2.ReadRequest(pid=pid, addr=0, length=1001), metadata=token, timeout=5
        )
    assert read.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    spawn(process)
    with pytest.raises(grpc.RpcError) as too_many:
        spawn(process)
    assert (
        too_many.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        and "max_processes" in too_many.value.details()
    )


def test_a_segv_is_failed_precondition_with_the_address(server_address: str) -> None:
    _, process, _ = stubs(server_address)
    pid, token = spawn(process)
    with pytest.raises(grpc.RpcError) as segv:
        process.Touch(
            process_pb2.TouchRequest(pid=pid, addr=0x1234, write=True), metadata=token, timeout=5
        )
    assert segv.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(segv.value)
    assert info.reason == "SegmentationFault" and info.metadata["address"] == "0x00001234"
    with pytest.raises(grpc.RpcError) as later:
        process.Brk(process_pb2.BrkRequest(pid=pid), metadata=token, timeout=5)
    assert (
        later.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        and "SIGSEGV" in later.value.details()
    )


def test_lease_expiry_frees_the_memory_of_a_silent_client(start_server: object) -> None:
    server = start_server(lease_seconds=0.5)  # type: ignore[operator]
    _, process, inspect = stubs(server.address)
    free_before = inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=5).text
    pid, token = spawn(process)
    addr = process.Mmap(
        process_pb2.MmapRequest(pid=pid, length=1 << 20, prot=3, flags=0x8022),
        metadata=token,
        timeout=5,
    ).addr
    assert addr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = inspect.GetStatus(inspect_pb2.GetStatusRequest(pid=pid), timeout=5).status
        if status.state == "Z":
            break
        time.sleep(0.1)
    assert status.state == "Z" and "lease expired" in status.kill_reason
    assert inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=5).text == free_before


def test_the_end_of_a_run_stream_ends_the_process(server_address: str) -> None:
    _, process, inspect = stubs(server_address)
    pid, token = spawn(process)
    ops = [
        process_pb2.RunRequest(
            id=1, mmap=process_pb2.MmapRequest(pid=pid, length=4096, prot=3, flags=0x22)
        ),
        process_pb2.RunRequest(
            id=2, touch=process_pb2.TouchRequest(pid=pid, addr=0x10, write=False)
        ),
    ]
    replies = list(process.Run(iter(ops), metadata=token, timeout=10))
    assert [r.id for r in replies] == [1, 2]
    assert replies[0].WhichOneof("result") == "mmap"
    assert (
        replies[1].WhichOneof("result") == "error"
        and replies[1].error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    )
    status = inspect.GetStatus(inspect_pb2.GetStatusRequest(pid=pid), timeout=5).status
    assert status.state == "Z"


def test_watch_events_delivers_filtered_events(server_address: str) -> None:
    _, process, inspect = stubs(server_address)
    pid, token = spawn(process)
    request = inspect_pb2.WatchEventsRequest(kinds=[inspect_pb2.EVENT_KIND_MINOR_FAULT], pid=pid)
    stream = inspect.WatchEvents(request, timeout=10)
    received: list[inspect_pb2.WatchEventsResponse] = []
    reader = threading.Thread(target=lambda: received.append(next(iter(stream))))
    reader.start()
    time.sleep(0.3)
    addr = process.Mmap(
        process_pb2.MmapRequest(pid=pid, length=4096, prot=3, flags=0x22), metadata=token, timeout=5
    ).addr
    process.Touch(
        process_pb2.TouchRequest(pid=pid, addr=addr, write=True), metadata=token, timeout=5
    )
    reader.join(10)
    stream.cancel()
    assert received and received[0].kind == inspect_pb2.EVENT_KIND_MINOR_FAULT
    assert received[0].pid == pid and received[0].address == addr


def test_sigterm_shuts_down_gracefully_and_removes_the_temporary_swap_file() -> None:
    command = [
        sys.executable,
        "-m",
        "vmsim_server",
        "--address",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--grace",
        "0.5",
    ]
    env = {"PYTHONPATH": f"{ROOT / 'server'}:{ROOT / 'client'}", "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert server.stderr is not None
    started = server.stderr.readline()
    assert '"server started"' in started
    swap_file = started.split('"swap_file": "')[1].split('"')[0]
    assert Path(swap_file).exists()
    server.terminate()
    assert server.wait(30) == 0
    assert not Path(swap_file).exists()


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
