"""The gRPC service through raw stubs: health, reflection, auth, statuses, limits, lifetime, events."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from tests.service.conftest import ADMIN_TOKEN, free_port, wait_until

from vmsim.endpoint import stub_class
from vmsim_kernel import KernelBug
from vmsim_kernel.mm import memory
from vmsim_proto.v1 import (
    admin_pb2,
    common_pb2,
    inspect_pb2,
    process_pb2,
)
from vmsim_server import ServerSettings, parse_settings
from vmsim_server.credentials import fingerprint

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_ANONYMOUS = 0x22  # MAP_PRIVATE | MAP_ANONYMOUS
READ_WRITE = 3  # PROT_READ | PROT_WRITE
Metadata = tuple[tuple[str, str], ...]
StartServer = Callable[..., Any]  # conftest: start_server(**settings) -> ServerThread


@dataclass
class Stubs:
    """Raw stubs of every service on one channel."""

    channel: grpc.Channel
    process: Any
    inspect: Any
    admin: Any

    def spawn(self, name: str = "raw") -> tuple[int, Metadata]:
        """A new process and the metadata that carries its token."""
        reply = self.process.Spawn(process_pb2.SpawnRequest(name=name), timeout=5)
        return reply.pid, (("x-vmsim-token", reply.token),)

    def mmap(self, pid: int, token: Metadata, length: int = 4096, flags: int = 0) -> int:
        """A private anonymous read-write mapping."""
        request = process_pb2.MmapRequest(
            pid=pid, length=length, prot=READ_WRITE, flags=PRIVATE_ANONYMOUS | flags
        )
        return int(self.process.Mmap(request, metadata=token, timeout=5).addr)

    def status(self, pid: int) -> Any:
        """GetStatus of *pid*."""
        return self.inspect.GetStatus(inspect_pb2.GetStatusRequest(pid=pid), timeout=5).status

    def meminfo(self) -> str:
        """The /proc/meminfo text."""
        return str(self.inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=5).text)

    def free_pages(self) -> int:
        """MemFree in pages plus the pages parked on the per-cpu lists (zoneinfo's count)."""
        zones = self.inspect.GetZoneinfo(inspect_pb2.GetZoneinfoRequest(), timeout=5).zones
        return sum(zone.free + zone.pcp_count for zone in zones)


def open_stubs(address: str) -> Stubs:
    channel = grpc.insecure_channel(address)
    return Stubs(
        channel,
        stub_class("process")(channel),
        stub_class("inspect")(channel),
        stub_class("admin")(channel),
    )


@pytest.fixture
def rpc(server_address: str) -> Iterator[Stubs]:
    stubs = open_stubs(server_address)
    yield stubs
    stubs.channel.close()


def failure(call: Callable[[], object]) -> grpc.RpcError:
    """The RpcError *call* raises."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def code_of(error: grpc.RpcError) -> grpc.StatusCode:
    return error.code()


def details_of(error: grpc.RpcError) -> str:
    return str(error.details())


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(
        d.Unpack(info) for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
    )
    return info


def test_health_is_serving_and_reflection_lists_the_services(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "vmsim.v1.ProcessService", "vmsim.v1.InspectService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {
        "vmsim.v1.ProcessService",
        "vmsim.v1.InspectService",
        "vmsim.v1.AdminService",
        "grpc.health.v1.Health",
    } <= names


def test_spawn_mmap_touch_write_read_round_trip(rpc: Stubs) -> None:
    pid, token = rpc.spawn()
    addr = rpc.mmap(pid, token, 8192)
    touched = rpc.process.Touch(
        process_pb2.TouchRequest(pid=pid, addr=addr, write=True), metadata=token, timeout=5
    )
    assert touched.result == common_pb2.FAULT_KIND_MINOR
    rpc.process.Write(
        process_pb2.WriteRequest(pid=pid, addr=addr + 4093, data=b"across"),
        metadata=token,
        timeout=5,
    )
    read = rpc.process.Read(
        process_pb2.ReadRequest(pid=pid, addr=addr + 4093, length=6), metadata=token, timeout=5
    )
    assert read.data == b"across"
    summary = rpc.process.TouchMany(
        process_pb2.TouchManyRequest(pid=pid, addrs=[addr, addr + 4096, addr], write=True),
        metadata=token,
        timeout=5,
    )
    assert (summary.touched, summary.hits, summary.minor, summary.major) == (3, 3, 0, 0)
    status = rpc.status(pid)
    assert status.vm_rss == 8192 and status.minor_faults == 2


def test_a_token_acts_only_on_its_own_process(rpc: Stubs) -> None:
    victim, victim_token = rpc.spawn()
    addr = rpc.mmap(victim, victim_token)
    _, attacker_token = rpc.spawn()
    read = process_pb2.ReadRequest(pid=victim, addr=addr, length=6)
    denied = failure(lambda: rpc.process.Read(read, metadata=attacker_token, timeout=5))
    assert code_of(denied) == grpc.StatusCode.PERMISSION_DENIED
    assert f"pid {victim}" in details_of(denied)
    anonymous = failure(lambda: rpc.process.Read(read, timeout=5))
    assert code_of(anonymous) == grpc.StatusCode.UNAUTHENTICATED
    assert "x-vmsim-token" in details_of(anonymous)
    forged = failure(
        lambda: rpc.process.Read(read, metadata=(("x-vmsim-token", "forged"),), timeout=5)
    )
    assert code_of(forged) == grpc.StatusCode.UNAUTHENTICATED


INVALID, RANGE = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (process_pb2.MmapRequest(length=0, prot=3, flags=0x22), INVALID, "length"),
        (process_pb2.MmapRequest(length=4096, prot=9, flags=0x22), INVALID, "prot"),
        (process_pb2.MmapRequest(length=4096, prot=3, flags=0x2), INVALID, "flags"),
        (process_pb2.MmapRequest(addr=0xC0000000, length=4096, prot=3, flags=0x32), RANGE, "addr"),
        (process_pb2.MmapRequest(length=1 << 33, prot=3, flags=0x22), RANGE, "length"),
        (process_pb2.MunmapRequest(addr=0x40000001, length=4096), INVALID, "addr"),
        (process_pb2.MprotectRequest(addr=0x30000000, length=4096, prot=1), RANGE, "addr"),
        (process_pb2.MremapRequest(old_address=0x40000001, new_size=4096), INVALID, "old_address"),
        (process_pb2.MremapRequest(old_address=0x30000000, new_size=8192), RANGE, "old_address"),
        (process_pb2.MadviseRequest(addr=0x40000000, length=4096, advice=77), INVALID, "advice"),
        (process_pb2.TouchRequest(addr=1 << 32), RANGE, "addr"),
        (process_pb2.ReadRequest(addr=0xFFFFFFF0, length=64), RANGE, "addr"),
        (process_pb2.BrkRequest(addr=0x1000), RANGE, "addr"),
    ],
)
def test_bad_input_gets_a_clear_status_and_changes_nothing(
    rpc: Stubs, request_: Any, code: grpc.StatusCode, field: str
) -> None:
    pid, token = rpc.spawn()
    rpc.mmap(pid, token, 8192, flags=0x8000)  # MAP_POPULATE: something to keep unchanged
    request_.pid = pid

    def observe() -> tuple[str, str]:
        maps = rpc.inspect.GetMaps(inspect_pb2.GetMapsRequest(pid=pid), timeout=5).text
        return maps, rpc.meminfo()

    before = observe()
    method = getattr(rpc.process, type(request_).__name__.removesuffix("Request"))
    failed = failure(lambda: method(request_, metadata=token, timeout=5))
    assert code_of(failed) == code
    assert field in details_of(failed) and "allowed" in details_of(failed)
    info = error_info(failed)
    assert info.domain == "vmsim.dev" and info.metadata["field"] == field
    assert observe() == before
    assert rpc.status(pid).state == "R"


def test_limits_answer_resource_exhausted_naming_the_limit(start_server: StartServer) -> None:
    server = start_server(max_batch=10, max_io_bytes=1000, max_processes=2)
    rpc = open_stubs(server.address)
    pid, token = rpc.spawn()
    batch = failure(
        lambda: rpc.process.TouchMany(
            process_pb2.TouchManyRequest(pid=pid, addrs=list(range(11))), metadata=token, timeout=5
        )
    )
    assert code_of(batch) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_batch=10" in details_of(batch)
    read = failure(
        lambda: rpc.process.Read(
            process_pb2.ReadRequest(pid=pid, addr=0, length=1001), metadata=token, timeout=5
        )
    )
    assert code_of(read) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_io_bytes=1000" in details_of(read)
    write = failure(
        lambda: rpc.process.Write(
            process_pb2.WriteRequest(pid=pid, addr=0, data=bytes(1001)), metadata=token, timeout=5
        )
    )
    assert code_of(write) == grpc.StatusCode.RESOURCE_EXHAUSTED
    trace = failure(
        lambda: rpc.inspect.Replay(
            inspect_pb2.ReplayRequest(trace=list(range(11)), frames=3, policy="fifo"), timeout=5
        )
    )
    assert code_of(trace) == grpc.StatusCode.RESOURCE_EXHAUSTED
    rpc.spawn()
    too_many = failure(rpc.spawn)
    assert code_of(too_many) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_processes" in details_of(too_many)
    assert rpc.status(pid).vm_rss == 0  # the refused calls touched nothing


def test_a_segv_is_failed_precondition_with_the_address_then_and_later(rpc: Stubs) -> None:
    pid, token = rpc.spawn()
    segv = failure(
        lambda: rpc.process.Touch(
            process_pb2.TouchRequest(pid=pid, addr=0x1234, write=True), metadata=token, timeout=5
        )
    )
    assert code_of(segv) == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(segv)
    assert info.reason == "SegmentationFault"
    assert info.metadata["address"] == "0x00001234" and info.metadata["signal"] == "SIGSEGV"
    later = failure(
        lambda: rpc.process.Brk(process_pb2.BrkRequest(pid=pid), metadata=token, timeout=5)
    )
    assert code_of(later) == grpc.StatusCode.FAILED_PRECONDITION
    assert "SIGSEGV" in details_of(later) and "0x00001234" in details_of(later)
    heartbeat = failure(
        lambda: rpc.process.Heartbeat(
            process_pb2.HeartbeatRequest(pid=pid), metadata=token, timeout=5
        )
    )
    assert code_of(heartbeat) == grpc.StatusCode.FAILED_PRECONDITION


def test_lease_expiry_kills_a_silent_client_and_frees_its_memory(
    start_server: StartServer,
) -> None:
    server = start_server(lease_seconds=0.5)
    rpc = open_stubs(server.address)
    free_before = rpc.free_pages()
    pid, token = rpc.spawn()
    rpc.mmap(pid, token, 1 << 20, flags=0x8000)  # MAP_POPULATE: 256 resident pages
    assert rpc.free_pages() < free_before - 256
    assert wait_until(lambda: rpc.status(pid).state == "Z")
    assert "lease expired" in rpc.status(pid).kill_reason
    assert rpc.free_pages() == free_before
    gone = failure(
        lambda: rpc.process.Brk(process_pb2.BrkRequest(pid=pid), metadata=token, timeout=5)
    )
    assert code_of(gone) == grpc.StatusCode.FAILED_PRECONDITION
    assert "lease expired" in details_of(gone)


def run_ops(pid: int) -> list[process_pb2.RunRequest]:
    return [
        process_pb2.RunRequest(
            id=1, mmap=process_pb2.MmapRequest(pid=pid, length=4096, prot=3, flags=0x22)
        ),
        process_pb2.RunRequest(id=2, touch=process_pb2.TouchRequest(pid=pid + 1, addr=0x10)),
        process_pb2.RunRequest(id=3),
        process_pb2.RunRequest(id=4, touch=process_pb2.TouchRequest(pid=pid, addr=0x10)),
        process_pb2.RunRequest(id=5, brk=process_pb2.BrkRequest(pid=pid)),
    ]


def test_a_run_stream_answers_each_operation_and_its_end_ends_the_process(rpc: Stubs) -> None:
    pid, token = rpc.spawn()
    replies = list(rpc.process.Run(iter(run_ops(pid)), metadata=token, timeout=10))
    assert [r.id for r in replies] == [1, 2, 3, 4, 5]
    assert replies[0].WhichOneof("result") == "mmap"
    codes = [r.error.code for r in replies[1:]]
    assert codes == [
        grpc.StatusCode.PERMISSION_DENIED.value[0],  # another pid: only that op fails
        grpc.StatusCode.INVALID_ARGUMENT.value[0],  # an empty operation
        grpc.StatusCode.FAILED_PRECONDITION.value[0],  # the SEGV at 0x10
        grpc.StatusCode.FAILED_PRECONDITION.value[0],  # and every op after it
    ]
    assert wait_until(lambda: rpc.status(pid).state == "Z")


def test_an_idle_run_stream_ends_its_process_when_closed(rpc: Stubs) -> None:
    pid, token = rpc.spawn()
    assert list(rpc.process.Run(iter([]), metadata=token, timeout=10)) == []
    assert wait_until(lambda: rpc.status(pid).state == "Z")
    assert rpc.status(pid).HasField("killed_by") is False


def test_a_run_stream_without_a_token_is_unauthenticated(rpc: Stubs) -> None:
    pid, _token = rpc.spawn()
    refused = failure(lambda: list(rpc.process.Run(iter(run_ops(pid)), timeout=10)))
    assert code_of(refused) == grpc.StatusCode.UNAUTHENTICATED
    assert rpc.status(pid).state == "R"


def test_watch_events_delivers_the_chosen_kind_of_the_chosen_process(rpc: Stubs) -> None:
    pid, token = rpc.spawn()
    other, other_token = rpc.spawn()
    addr = rpc.mmap(pid, token, 64 * 4096)
    other_addr = rpc.mmap(other, other_token, 64 * 4096)
    request = inspect_pb2.WatchEventsRequest(kinds=[inspect_pb2.EVENT_KIND_MINOR_FAULT], pid=pid)
    stream = rpc.inspect.WatchEvents(request, timeout=20)
    received: list[Any] = []
    arrived = threading.Event()

    def read_first() -> None:
        received.append(next(stream))
        arrived.set()

    threading.Thread(target=read_first, daemon=True).start()
    # The subscription starts when the server runs the call: fault new pages until it sees one.
    # The other process faults first each time, so a leaky pid filter would show its event.
    touched = []
    for page in range(64):
        for target, base, meta in ((other, other_addr, other_token), (pid, addr, token)):
            rpc.process.Touch(
                process_pb2.TouchRequest(pid=target, addr=base + page * 4096, write=True),
                metadata=meta,
                timeout=5,
            )
        touched.append(addr + page * 4096)
        if arrived.wait(0.05):
            break
    stream.cancel()
    assert received, "no event arrived"
    event = received[0]
    assert event.kind == inspect_pb2.EVENT_KIND_MINOR_FAULT
    assert event.pid == pid and event.address in touched and event.dropped == 0


def test_shutdown_finishes_open_event_streams_instead_of_cancelling_them(
    start_server: StartServer,
) -> None:
    server = start_server()
    rpc = open_stubs(server.address)
    stream = rpc.inspect.WatchEvents(inspect_pb2.WatchEventsRequest(), timeout=60)
    outcome: list[object] = []

    def drain() -> None:
        try:
            outcome.append(list(stream))
        except grpc.RpcError as error:
            outcome.append(code_of(error))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert wait_until(lambda: server.call(lambda: len(server.running.events)) == 1)
    server.stop(grace=60)  # an unfinished stream would hold the shutdown for the whole grace
    reader.join(10)
    assert outcome == [[]]


def test_watch_events_refuses_an_unspecified_kind(rpc: Stubs) -> None:
    request = inspect_pb2.WatchEventsRequest(kinds=[inspect_pb2.EVENT_KIND_UNSPECIFIED])
    refused = failure(lambda: next(rpc.inspect.WatchEvents(request, timeout=5)))
    assert code_of(refused) == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused).metadata["field"] == "kinds"


def test_kill_process_needs_the_admin_token_and_the_victim_learns_why(rpc: Stubs) -> None:
    pid, token = rpc.spawn()
    kill = admin_pb2.KillProcessRequest(pid=pid, reason="lab over")
    for metadata in ((), (("x-vmsim-admin-token", "guess"),), (("x-vmsim-admin-token", ""),)):
        refused = failure(lambda m=metadata: rpc.admin.KillProcess(kill, metadata=m, timeout=5))  # type: ignore[misc]
        assert code_of(refused) == grpc.StatusCode.PERMISSION_DENIED
    assert rpc.status(pid).state == "R"
    rpc.admin.KillProcess(kill, metadata=(("x-vmsim-admin-token", ADMIN_TOKEN),), timeout=5)
    later = failure(
        lambda: rpc.process.Brk(process_pb2.BrkRequest(pid=pid), metadata=token, timeout=5)
    )
    assert code_of(later) == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(later).metadata["reason"] == "lab over"


def test_a_kernel_bug_is_internal_and_the_server_keeps_serving(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rpc = open_stubs(server.address)
    pid, token = rpc.spawn()

    def broken_touch_one(*_args: object) -> None:
        raise KernelBug("invariant broken on purpose")

    # the page walk under Machine.touch, whichever path (at once or queued) runs the call
    monkeypatch.setattr(memory, "touch_one", broken_touch_one)
    touch = process_pb2.TouchRequest(pid=pid, addr=0x1000)
    bug = failure(lambda: rpc.process.Touch(touch, metadata=token, timeout=5))
    assert code_of(bug) == grpc.StatusCode.INTERNAL and "invariant broken" in details_of(bug)
    assert rpc.status(pid).state == "R"


def metrics_text(port: int) -> str:
    """The server's /metrics page, in Prometheus's text format."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(reply.read().decode())


def serve_metrics_after_three_faults(start_server: StartServer) -> tuple[Any, int]:
    """(a server exporting /metrics, its metrics port) after one process's MAP_POPULATE mmap
    of 3 pages: one Spawn, one Mmap, 3 minor faults."""
    port = free_port()
    server = start_server(metrics_port=port)
    rpc = open_stubs(server.address)
    pid, token = rpc.spawn()
    rpc.mmap(pid, token, 3 * 4096, flags=0x8000)
    return server, port


def test_metrics_count_rpcs_processes_and_faults_without_pid_labels(
    start_server: StartServer,
) -> None:
    _, port = serve_metrics_after_three_faults(start_server)
    text = metrics_text(port)
    assert 'vmsim_rpcs_total{code="OK",method="Spawn"} 1.0' in text
    assert 'vmsim_rpcs_total{code="OK",method="Mmap"} 1.0' in text
    assert "vmsim_processes 1.0" in text
    assert 'vmsim_page_faults_total{kind="minor"} 3.0' in text
    assert "pid=" not in text


def test_each_rpc_is_counted_under_its_status_code_with_its_duration(
    start_server: StartServer,
) -> None:
    server = start_server()
    rpc = open_stubs(server.address)
    pid, token = rpc.spawn()
    segv = failure(
        lambda: rpc.process.Touch(
            process_pb2.TouchRequest(pid=pid, addr=0x1000), metadata=token, timeout=5
        )
    )
    unknown = failure(
        lambda: rpc.channel.unary_unary("/vmsim.v1.ProcessService/NoSuchMethod")(b"", timeout=5)
    )
    assert code_of(unknown) == grpc.StatusCode.UNIMPLEMENTED
    registry = server.running.registry

    def sample(name: str, **labels: str) -> float | None:
        return server.call(lambda: registry.get_sample_value(name, labels))

    assert sample("vmsim_rpcs_total", method="Spawn", code="OK") == 1
    assert sample("vmsim_rpcs_total", method="Touch", code=code_of(segv).name) == 1
    assert sample("vmsim_rpcs_total", method="Touch", code="OK") is None
    assert sample("vmsim_rpc_duration_seconds_count", method="Touch") == 1
    assert sample("vmsim_rpc_duration_seconds_bucket", method="Touch", le="+Inf") == 1
    assert 0 < (sample("vmsim_rpc_duration_seconds_sum", method="Touch") or 0) < 5
    assert sample("vmsim_rpc_duration_seconds_count", method="NoSuchMethod") is None


def test_settings_come_from_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMSIM_SEED", "7")
    monkeypatch.setenv("VMSIM_RAM", "32M")
    settings = parse_settings(["--ram", "1G", "--swap", "0", "--lease", "2.5"])
    assert (settings.ram_bytes, settings.swap_bytes, settings.seed) == (1 << 30, 0, 7)
    assert settings.lease_seconds == 2.5 and settings.admin_token == ""
    assert ServerSettings().machine_config().ram_bytes == 64 << 20
    with pytest.raises(SystemExit) as bad_size:
        parse_settings(["--ram", "lots"])
    assert bad_size.value.code == 2
    monkeypatch.setenv("VMSIM_MAX_BATCH", "0")
    with pytest.raises(SystemExit):
        parse_settings([])


def server_process(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`python -m vmsim_server` with JSON logs and *flags*, its temporary files in *tmp_path*;
    returns the process and its parsed first log line."""
    command = [sys.executable, "-m", "vmsim_server", "--address", "127.0.0.1:0"]
    command += ["--log-format", "json", *flags]
    env = {
        "PYTHONPATH": f"{ROOT / 'server'}:{ROOT / 'client'}",
        "PATH": "/usr/bin:/bin",
        "TMPDIR": str(tmp_path),
    }
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert server.stderr is not None
    return server, json.loads(server.stderr.readline())


@pytest.mark.subprocess
def test_sigterm_shuts_down_gracefully_and_never_logs_the_admin_token(tmp_path: Path) -> None:
    server, started = server_process(tmp_path, "--grace", "0.5")
    assert server.stderr is not None
    assert started["event"] == "server started" and started["address"].startswith("127.0.0.1:")
    assert started["event_loop"] == "uvloop"  # the default
    assert started["swap_file"].endswith(" (deleted)")  # anonymous: nothing on disk
    token_file = Path(started["admin_token_file"])
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    token = token_file.read_text().strip()
    assert started["admin_token_fingerprint"] == fingerprint(token)
    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    rest = server.stderr.read()
    assert '"server stopped"' in rest
    assert token not in json.dumps(started) + rest
    assert not token_file.exists()
    assert list(tmp_path.iterdir()) == []  # no swap file, no token file


@pytest.mark.subprocess
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_server_runs_on_the_event_loop_its_flag_names(loop: str, tmp_path: Path) -> None:
    server, started = server_process(tmp_path, "--grace", "0.5", "--event-loop", loop)
    try:
        assert started["event"] == "server started" and started["event_loop"] == loop
        rpc = open_stubs(started["address"])
        pid, token = rpc.spawn()
        touch = process_pb2.TouchRequest(pid=pid, addr=rpc.mmap(pid, token), write=True)
        assert (
            rpc.process.Touch(touch, metadata=token, timeout=5).result
            == common_pb2.FAULT_KIND_MINOR
        )
        rpc.channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0


@pytest.mark.subprocess
def test_a_sigkilled_server_leaves_no_swap_file(tmp_path: Path) -> None:
    server, started = server_process(tmp_path, "--admin-token-file", str(tmp_path / "token"))
    assert started["admin_token_file"] == str(tmp_path / "token")
    server.kill()
    server.wait(30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]  # kept: the operator's file


@pytest.mark.subprocess
def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_metrics_show_zones_reclaim_time_and_queueing_without_created_series(
    start_server: StartServer,
) -> None:
    server, port = serve_metrics_after_three_faults(start_server)
    text = ""

    def lag_sampled() -> bool:  # the event loop's lag is sampled every LAG_PERIOD
        nonlocal text
        text = metrics_text(port)
        counts = re.findall(r"^vmsim_rpc_queue_seconds_count(?:\{.*\})? (\S+)$", text, re.M)
        return any(float(count) > 0 for count in counts)

    assert wait_until(lag_sampled), text
    free_pages = server.call(lambda: {z.name: z.free for z in server.running.machine.zoneinfo()})
    for zone, pages in free_pages.items():
        if pages:
            assert f'vmsim_zone_free_pages{{zone="{zone}"}} {float(pages)}' in text
    assert 'vmsim_pgscan_pages_total{reclaimer="kswapd"} 0.0' in text
    assert 'vmsim_pgsteal_pages_total{reclaimer="direct"} 0.0' in text
    assert 'vmsim_lru_pages{list="inactive_anon"}' in text
    assert 'vmsim_cpu_seconds_total{mode="system"}' in text
    assert 'vmsim_lock_hold_seconds_total{lock="&zone->lock"}' in text
    assert "vmsim_rpc_queue_seconds_count" in text
    assert "_created" not in text


def test_the_grafana_dashboard_and_scrape_config_name_metrics_the_server_exports(
    start_server: StartServer,
) -> None:
    port = free_port()
    server = start_server(metrics_port=port)
    open_stubs(server.address).spawn()
    exported = set(re.findall(r"^(vmsim_\w+?)(?:\{| )", metrics_text(port), re.MULTILINE))
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/vmsim.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"vmsim_\w+", target["expr"])
    }
    assert len(used) >= 12
    assert used <= exported, used - exported
    scrape = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    # The server's command, as a flow list or one item a line: the metrics port follows its flag.
    assert '"server:9100"' in scrape
    assert re.search(r'"--metrics-port"\s*(,|\n\s*-)\s*"9100"', compose), compose
    assert not compose.startswith("version") and "\nversion:" not in compose
