"""Hardening over the wire: disk faults, per-client limits, secrets, TLS, shutdown order."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import stat
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
import trustme
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import generate_latest
from tests.given_back import held_kb
from tests.service.conftest import ADMIN_TOKEN, ServerThread, StartServer, wait_until
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app
from vmsim.endpoint import stub_class
from vmsim_kernel import InvalidArgument as KernelInvalidArgument
from vmsim_kernel import ProcessState
from vmsim_kernel.mm.swap import SwapIo
from vmsim_proto.v1 import (
    inspect_pb2,
    kernel_pb2,
    process_pb2,
)
from vmsim_server import parse_settings
from vmsim_server.limits import requests_stay_small
from vmsim_server.observability import configure_logging

PAGE = vmsim.PAGE_SIZE
FAULT_CODES = {"INTERNAL", "UNKNOWN"}


class FullDisk(SwapIo):
    """Every swap write fails as on a full filesystem."""

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def stamp(pid: int, index: int) -> bytes:
    return struct.pack("<II", pid, index) * (PAGE // 8)


def code_of(action: Callable[[], object]) -> str:
    """OK, or the status code name of the VmsimError *action* raises."""
    try:
        action()
    except vmsim.VmsimError as error:
        return error.code
    return "OK"


# ---- disk faults ------------------------------------------------------------------------------
def assert_all_given_back(server: ServerThread, boot: dict[str, int]) -> None:
    """Once every process has exited, the machine is consistent and holds what it did at boot
    (*boot*: held_kb then)."""
    running = server.running
    assert running is not None
    server.call(running.machine.check_invariants)
    machine = running.machine
    assert server.call(lambda: held_kb(machine.meminfo(), machine.zoneinfo())) == boot


@pytest.mark.slow
def test_a_full_disk_ends_with_no_internal_error_and_every_process_can_exit(
    start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server()
    running = server.running
    assert running is not None
    machine = running.machine
    boot = server.call(lambda: held_kb(machine.meminfo(), machine.zoneinfo()))
    server.call(lambda: setattr(machine.swap, "io", FullDisk()))
    codes: Counter[str] = Counter()
    procs = [vmsim.connect(server.address, name=f"hog{i}") for i in range(4)]
    chunk = 64  # pages per Write
    for proc in procs:
        addr = proc.mmap(8 * vmsim.MiB)
        for first in range(0, 2048, chunk):  # 8 MiB each, 32 MiB in 16 MiB of RAM
            data = b"".join(stamp(proc.pid, i) for i in range(first, first + chunk))
            code = code_of(lambda a=addr + first * PAGE, d=data, p=proc: p.write(a, d))
            codes[code] += 1
            if code != "OK":
                break
    # An unrelated client arriving now is served (or refused for memory), never INTERNAL.
    late = code_of(lambda: vmsim.connect(server.address, name="late").close())
    assert late in ("OK", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION")
    assert not FAULT_CODES & set(codes), codes
    # Memory did run out with nothing writable to swap: ENOMEM or OOM kills.
    assert set(codes) - {"OK"} or server.call(machine.vmstat)["oom_kill"] > 0, codes
    for proc in procs:
        assert code_of(proc.exit) in ("OK", "FAILED_PRECONDITION")  # killed ones say why
        proc.close()
    assert_all_given_back(server, boot)
    assert not running.reaper.done()
    assert machine.swap is not None and machine.swap.nr_write_errors > 0
    assert "Write-error on swap-device" in capsys.readouterr().err
    metrics = server.call(lambda: generate_latest(running.registry)).decode()
    written = f'vmsim_swap_io_errors_total{{direction="write"}} {machine.swap.nr_write_errors}.0'
    assert written in metrics


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs (needs the right to mount, as root has): a disk that really fills."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.slow
def test_the_issues_full_disk_scenario_on_a_real_2_mib_tmpfs(
    start_server: StartServer, tiny_tmpfs: Path
) -> None:
    """--swap 64M --ram 16M with the swap file on a 2 MiB tmpfs: ENOSPC for real."""
    server = start_server(swap_path=str(tiny_tmpfs / "swap"), swap_bytes=64 << 20)
    running = server.running
    assert running is not None
    machine = running.machine
    boot = server.call(lambda: held_kb(machine.meminfo(), machine.zoneinfo()))
    codes: Counter[str] = Counter()
    procs = [vmsim.connect(server.address, name=f"hog{i}") for i in range(3)]
    addrs = {}
    for proc in procs:
        addr = addrs[proc.pid] = proc.mmap(12 * vmsim.MiB)
        for first in range(0, 3072, 64):
            data = b"".join(stamp(proc.pid, i) for i in range(first, first + 64))
            code = code_of(lambda a=addr + first * PAGE, d=data, p=proc: p.write(a, d))
            codes[code] += 1
            if code != "OK":
                break
    assert not FAULT_CODES & set(codes), codes
    assert code_of(lambda: vmsim.connect(server.address, name="late").close()) != "INTERNAL"
    assert machine.swap is not None and machine.swap.nr_write_errors > 0
    for proc in procs:  # the survivors' bytes are right, then everyone can exit
        if code_of(proc.status) == "OK" and proc.status().state == "R":
            assert proc.read(addrs[proc.pid], PAGE) == stamp(proc.pid, 0)
        assert code_of(proc.exit) in ("OK", "FAILED_PRECONDITION")
        proc.close()
    assert_all_given_back(server, boot)
    assert not running.reaper.done()


@pytest.mark.slow
def test_a_truncated_swap_file_is_sigbus_for_its_owner_over_grpc(start_server: StartServer) -> None:
    server = start_server(ram_bytes=8 << 20)
    machine = server.running.machine if server.running else None
    assert machine is not None and machine.swap is not None
    with vmsim.connect(server.address, name="a") as owner, vmsim.connect(server.address) as other:
        owner_addr = owner.mmap(4 * vmsim.MiB)
        owner.write(owner_addr, b"".join(stamp(owner.pid, i) for i in range(1024)))
        other_addr = other.mmap(6 * vmsim.MiB)
        for first in (0, 768):  # max_io_bytes is 4 MiB
            data = b"".join(stamp(other.pid, i) for i in range(first, first + 768))
            other.write(other_addr + first * PAGE, data)
        os.truncate(machine.swap.path, 0)
        wrong = 0
        with pytest.raises(vmsim.ProcessKilled) as killed:
            for index in range(1024):
                wrong += owner.read(owner_addr + index * PAGE, PAGE) != stamp(owner.pid, index)
        assert wrong == 0
        assert killed.value.signal == "SIGBUS"
        assert other.status().state == "R"  # untouched unless it needs its own lost pages
    server.call(machine.check_invariants)


# ---- per-client limits ------------------------------------------------------------------------
def test_processes_are_limited_per_client_address_whatever_name_it_gives(
    start_server: StartServer,
) -> None:
    server = start_server(client_max_processes=2)
    first = vmsim.connect(server.address, client_name="alice")
    second = vmsim.connect(server.address, client_name="alice")
    with pytest.raises(vmsim.LimitExceeded, match="client_max_processes") as refused:
        vmsim.connect(server.address, client_name="alice")
    assert refused.value.code == "RESOURCE_EXHAUSTED"
    assert refused.value.metadata["limit"] == "client_max_processes"
    assert "peer:127.0.0.1" in str(refused.value)  # counted by address, not by name
    with pytest.raises(vmsim.LimitExceeded, match="client_max_processes"):
        vmsim.connect(server.address, client_name="bob")  # another name is the same client
    first.close()
    vmsim.connect(server.address, client_name="alice").close()  # a slot was freed
    second.close()


def test_a_killed_process_does_not_count_against_its_client(start_server: StartServer) -> None:
    server = start_server(client_max_processes=1)
    proc = vmsim.connect(server.address, client_name="carol")
    with pytest.raises(vmsim.LimitExceeded, match="client_max_processes"):
        vmsim.connect(server.address, client_name="carol")  # the limit holds while it lives
    with vmsim.Admin(server.address, ADMIN_TOKEN) as admin:
        admin.kill(proc.pid)
    with vmsim.connect(server.address, client_name="carol") as second:
        assert second.pid != proc.pid
    with pytest.raises(vmsim.ProcessKilled, match="killed by admin"):
        proc.brk()  # the first one really is dead, not merely uncounted
    proc.close()


def test_threads_are_limited_per_process_and_dead_threads_are_not_kept(
    start_server: StartServer,
) -> None:
    server = start_server(max_threads=3)
    machine = server.running.machine if server.running else None
    assert machine is not None
    with vmsim.connect(server.address) as proc:
        tids = [proc.spawn_thread(), proc.spawn_thread()]
        with pytest.raises(vmsim.LimitExceeded, match="max_threads=3"):
            proc.spawn_thread()
        proc.exit_thread(tids[0])
        proc.spawn_thread()  # an exited thread frees its place
        addr = proc.mmap(PAGE)
        proc.touch(addr, write=True)
        before = proc.status()
        with vmsim.Admin(server.address, ADMIN_TOKEN) as admin:
            admin.kill(proc.pid)
        pid = proc.pid
    task = server.call(lambda: machine.tasks[pid])
    assert task.state is ProcessState.ZOMBIE and list(task.threads) == [pid]
    with vmsim.Inspector(server.address) as inspector:
        after = inspector.status(pid)
    assert after.system_ns >= before.system_ns  # the folded threads' time is kept


def test_event_watchers_are_limited_per_client(start_server: StartServer) -> None:
    server = start_server(client_max_watchers=2)
    channel = grpc.insecure_channel(server.address)
    stub = stub_class("inspect")(channel)
    metadata = (("x-vmsim-client", "dave"),)
    streams = [
        stub.WatchEvents(inspect_pb2.WatchEventsRequest(), metadata=metadata, timeout=30)
        for _ in range(2)
    ]
    hub = server.running.events if server.running else None
    assert hub is not None
    assert wait_until(lambda: server.call(lambda: len(hub)) == 2), "both streams open on the server"
    third = stub.WatchEvents(inspect_pb2.WatchEventsRequest(), metadata=metadata, timeout=30)
    with pytest.raises(grpc.RpcError) as refused:
        next(third)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "client_max_watchers" in (refused.value.details() or "")
    status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
    assert status is not None
    quota = error_details_pb2.QuotaFailure()
    assert any(detail.Unpack(quota) for detail in status.details)
    assert quota.violations[0].subject == "client_max_watchers"
    other = stub.WatchEvents(
        inspect_pb2.WatchEventsRequest(), metadata=(("x-vmsim-client", "erin"),), timeout=5
    )
    with pytest.raises(grpc.RpcError) as renamed:
        next(other)
    assert renamed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # a new name is no help
    streams[0].cancel()
    assert wait_until(lambda: server.call(lambda: len(hub)) == 1), "the cancelled stream gone"
    again = stub.WatchEvents(inspect_pb2.WatchEventsRequest(), metadata=metadata, timeout=0.3)
    with pytest.raises(grpc.RpcError) as admitted:
        next(again)
    assert admitted.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    streams[1].cancel()
    channel.close()


@pytest.mark.timing
def test_request_bytes_in_flight_are_limited_per_client(start_server: StartServer) -> None:
    server = start_server(client_max_inflight_bytes=300 << 10, realtime_factor=200)
    with vmsim.connect(server.address) as proc:
        addr = proc.mmap(4 * vmsim.MiB)
        with pytest.raises(vmsim.LimitExceeded, match="client_max_inflight_bytes"):
            proc.write(addr, bytes(400 << 10))  # alone over the limit
        results: list[str] = []

        def write() -> None:
            results.append(code_of(lambda: proc.write(addr, bytes(200 << 10))))

        writers = [threading.Thread(target=write) for _ in range(3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        # Paced replies hold their bytes: only one 200 KiB write fits in 300 KiB at a time.
        assert "OK" in results and "RESOURCE_EXHAUSTED" in results, results
        assert proc.write(addr, bytes(200 << 10)) == 200 << 10  # all released afterwards


@pytest.mark.parametrize(
    ("method", "counted"),
    [
        ("vmsim.v1.ProcessService/Touch", False),  # pid, addr, write, tid: a few bytes
        ("vmsim.v1.ProcessService/Mmap", False),
        ("vmsim.v1.ProcessService/TouchMany", True),  # repeated and bytes addresses
        ("vmsim.v1.ProcessService/Write", True),  # bytes
        ("vmsim.v1.ProcessService/Run", True),  # operations, a TouchMany among them
        ("vmsim.v1.ProcessService/Spawn", True),  # a name of any length
        ("vmsim.v1.NoSuchService/Touch", True),  # unknown: counted, to be safe
    ],
)
def test_only_requests_that_can_grow_large_are_counted_in_flight(
    method: str, counted: bool
) -> None:
    assert requests_stay_small(f"/{method}") is not counted


def test_raising_priority_needs_the_admin_token(server_address: str) -> None:
    with pytest.raises(vmsim.PermissionDenied, match="admin token"):
        vmsim.connect(server_address, oom_score_adj=-1000)
    vmsim.connect(server_address, oom_score_adj=500).close()  # lowering it is anyone's right
    with vmsim.connect(server_address, oom_score_adj=-1000, admin_token=ADMIN_TOKEN) as proc:
        assert proc.status().oom_score_adj == -1000


# ---- secrets and settings ---------------------------------------------------------------------
def test_the_admin_token_comes_from_a_file(start_server: StartServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    server = start_server(admin_token="", admin_token_file=str(token_file))
    with vmsim.Admin(server.address, "from-a-file") as admin:
        admin.reset_lock_stat()
    with pytest.raises(vmsim.PermissionDenied), vmsim.Admin(server.address, "wrong") as admin:
        admin.reset_lock_stat()


def test_a_missing_token_file_is_created_private_with_a_new_token(
    start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "new-token"
    server = start_server(admin_token="", admin_token_file=str(token_file))
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 24
    monkeypatch.setenv("VMSIM_ADMIN_TOKEN_FILE", str(token_file))
    monkeypatch.delenv("VMSIM_ADMIN_TOKEN", raising=False)
    with vmsim.Admin(server.address) as admin:  # the client reads the same file
        admin.reset_lock_stat()


def test_new_flags_parse_and_bad_combinations_are_refused() -> None:
    settings = parse_settings(
        [
            *("--admin-token-file", "/run/t", "--swap-file-overwrite"),
            *("--client-max-processes", "8", "--max-threads", "4"),
            *("--client-max-watchers", "2", "--client-max-inflight", "1M"),
            *("--client-identity", "peer", "--client-max-streams", "3"),
            *("--client-reserve-processes", "2", "--client-reserve-streams", "5"),
            *("--max-map-count", "100", "--client-heavy-rate", "0.5"),
        ]
    )
    assert settings.admin_token_file == "/run/t" and settings.swap_file_overwrite
    assert (settings.client_max_processes, settings.max_threads) == (8, 4)
    assert (settings.client_max_watchers, settings.client_max_inflight_bytes) == (2, 1 << 20)
    assert (settings.client_max_streams, settings.client_heavy_calls_per_second) == (3, 0.5)
    assert (settings.client_reserve_processes, settings.client_reserve_streams) == (2, 5)
    assert settings.machine_config().swap_file_overwrite
    assert settings.machine_config().max_map_count == 100
    for bad in (
        ["--tls-cert", "c.pem"],
        ["--client-identity", "cert"],
        ["--client-identity", "name"],  # a name a client chooses is no identity
        ["--max-threads", "0"],
        ["--client-reserve-streams", "-1"],
        ["--max-map-count", "0"],
    ):
        with pytest.raises(SystemExit):
            parse_settings(bad)


def test_an_existing_non_swap_file_stops_the_server(
    start_server: StartServer, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    with pytest.raises(KernelInvalidArgument, match="no swap signature"):
        start_server(swap_path=str(precious))
    assert precious.read_text() == "keep me"
    link = tmp_path / "link"
    link.symlink_to(precious)
    with pytest.raises(KernelInvalidArgument, match="symbolic link"):
        start_server(swap_path=str(link))
    assert precious.read_text() == "keep me"


# ---- TLS ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A test CA, a server certificate for 127.0.0.1 and two client certificates (PEM files)."""
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    files: dict[str, str] = {}

    def save(name: str, blob: trustme.Blob) -> None:
        path = directory / name
        blob.write_to_path(str(path))
        files[name] = str(path)

    save("ca.pem", ca.cert_pem)
    server = ca.issue_cert("127.0.0.1", "localhost")
    save("server.pem", server.cert_chain_pems[0])
    save("server.key", server.private_key_pem)
    for who in ("alice", "bob"):
        cert = ca.issue_cert(f"{who}@example.org", common_name=who)
        save(f"{who}.pem", cert.cert_chain_pems[0])
        save(f"{who}.key", cert.private_key_pem)
    other = trustme.CA()  # a CA the server does not trust
    stranger = other.issue_cert("mallory@example.org", common_name="mallory")
    save("mallory.pem", stranger.cert_chain_pems[0])
    save("mallory.key", stranger.private_key_pem)
    return files


@pytest.mark.slow
def test_tls_serves_clients_that_trust_the_ca_and_refuses_plaintext(
    start_server: StartServer, pki: dict[str, str]
) -> None:
    server = start_server(tls_cert=pki["server.pem"], tls_key=pki["server.key"])
    tls = vmsim.Tls(ca=pki["ca.pem"])
    with vmsim.connect(server.address, tls=tls, timeout=5) as proc:
        addr = proc.mmap(PAGE)
        proc.write(addr, b"secret")
        assert proc.read(addr, 6) == b"secret"
    with vmsim.Inspector(server.address, timeout=3) as plain, pytest.raises(vmsim.VmsimError):
        plain.meminfo()
    with (
        vmsim.Inspector(server.address, timeout=3, tls=vmsim.Tls()) as untrusting,
        pytest.raises(vmsim.VmsimError),
    ):
        untrusting.meminfo()  # the system's roots do not know the test CA


def test_mutual_tls_needs_a_client_certificate_and_counts_limits_by_it(
    start_server: StartServer, pki: dict[str, str]
) -> None:
    server = start_server(
        tls_cert=pki["server.pem"],
        tls_key=pki["server.key"],
        tls_client_ca=pki["ca.pem"],
        client_max_processes=1,
    )
    alice = vmsim.Tls(ca=pki["ca.pem"], cert=pki["alice.pem"], key=pki["alice.key"])
    bob = vmsim.Tls(ca=pki["ca.pem"], cert=pki["bob.pem"], key=pki["bob.key"])
    mallory = vmsim.Tls(ca=pki["ca.pem"], cert=pki["mallory.pem"], key=pki["mallory.key"])
    with pytest.raises(vmsim.VmsimError):
        vmsim.connect(server.address, tls=vmsim.Tls(ca=pki["ca.pem"]), timeout=3)
    with pytest.raises(vmsim.VmsimError):
        vmsim.connect(server.address, tls=mallory, timeout=3)
    with vmsim.connect(server.address, tls=alice, client_name="x", timeout=5):
        # The certificate, not the name a client chooses, is who it is.
        with pytest.raises(vmsim.LimitExceeded, match="cert:alice"):
            vmsim.connect(server.address, tls=alice, client_name="y", timeout=5)
        vmsim.connect(server.address, tls=bob, timeout=5).close()


def test_the_cli_speaks_tls(start_server: StartServer, pki: dict[str, str]) -> None:
    server = start_server(
        tls_cert=pki["server.pem"], tls_key=pki["server.key"], tls_client_ca=pki["ca.pem"]
    )
    env = {
        "VMSIM_TLS_CA": None,
        "VMSIM_TLS_CERT": None,
        "VMSIM_TLS_KEY": None,
        "VMSIM_TLS_SERVER_NAME": None,
        "VMSIM_CLIENT_NAME": None,
        "VMSIM_ADMIN_TOKEN_FILE": None,
    }
    tls_args = [
        "--tls-ca",
        pki["ca.pem"],
        "--tls-cert",
        pki["bob.pem"],
        "--tls-key",
        pki["bob.key"],
    ]
    result = CliRunner().invoke(
        app, [*tls_args, "stat", "meminfo", "--addr", server.address], env=env
    )
    assert result.exit_code == 0, result.output
    assert "MemTotal:" in result.output
    plain = CliRunner().invoke(app, ["stat", "meminfo", "--addr", server.address], env=env)
    assert plain.exit_code == 1
    assert "VMSIM_TLS_CA" not in os.environ


# ---- small fixes --------------------------------------------------------------------------------
def test_kmalloc_with_an_unknown_gfp_is_invalid_argument(server_address: str) -> None:
    channel = grpc.insecure_channel(server_address)
    stub = stub_class("kernel")(channel)
    admin = (("x-vmsim-admin-token", ADMIN_TOKEN),)
    session = stub.OpenSession(kernel_pb2.OpenSessionRequest(), metadata=admin, timeout=5).session
    with pytest.raises(grpc.RpcError) as refused:
        stub.Kmalloc(
            kernel_pb2.KmallocRequest(session=session, size=64, gfp=77), metadata=admin, timeout=5
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "GFP_KERNEL" in (refused.value.details() or "")
    channel.close()


def test_json_logs_keep_the_traceback_of_an_internal_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger("vmsim.server")
    try:
        raise RuntimeError("a defect")
    except RuntimeError:
        log.exception("rpc failed")
    line = capsys.readouterr().err
    assert '"exception": "Traceback' in line and "RuntimeError: a defect" in line


def test_the_lease_reaper_survives_an_exception(start_server: StartServer) -> None:
    server = start_server(lease_seconds=0.4)
    running = server.running
    assert running is not None
    sessions = running.sessions
    real_expired = sessions.expired
    calls = {"n": 0}

    def flaky() -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected defect")
        return real_expired()

    server.call(lambda: setattr(sessions, "expired", flaky))
    proc = vmsim.connect(server.address, keepalive=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.call(lambda: running.machine.process(proc.pid)).state is ProcessState.ZOMBIE:
            break
        time.sleep(0.1)
    assert calls["n"] > 1 and not running.reaper.done()
    assert server.call(lambda: running.machine.process(proc.pid)).state is ProcessState.ZOMBIE
    proc.close()


@pytest.mark.slow
def test_a_failing_background_task_is_logged_and_the_server_goes_on(
    start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server()

    async def broken() -> None:
        raise RuntimeError("a background defect")

    def start_and_forget() -> None:
        task = asyncio.get_running_loop().create_task(broken())
        task.add_done_callback(lambda _task: None)

    server.call(start_and_forget)
    err = ""

    def reported() -> bool:
        nonlocal err
        server.call(lambda: gc.collect())  # an unretrieved task error is reported when collected
        err += capsys.readouterr().err
        return '"background task failed"' in err

    assert wait_until(reported), err
    assert "RuntimeError: a background defect" in err
    with vmsim.Inspector(server.address) as inspector:
        assert inspector.meminfo()["MemTotal"] > 0


@pytest.mark.slow
def test_open_streams_end_their_processes_before_the_machine_closes(
    start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Streams whose replies the client does not read are cut by the shutdown in the middle
    of a write; their handlers' clean-up then comes late, after the grace period."""
    server = start_server()
    running = server.running
    assert running is not None
    channel = grpc.insecure_channel(server.address)
    stub = stub_class("process")(channel)
    stop_sending = threading.Event()
    pids = []
    calls = []
    for _ in range(10):
        spawned = stub.Spawn(process_pb2.SpawnRequest(name="streamer"), timeout=5)
        pids.append(spawned.pid)

        def requests(pid: int = spawned.pid) -> Iterator[Any]:
            mmap = process_pb2.MmapRequest(pid=pid, addr=0x10000000, length=16 * PAGE, prot=3)
            mmap.flags = 0x32  # MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS
            yield process_pb2.RunRequest(id=1, mmap=mmap)
            op_id = 1
            while not stop_sending.is_set():  # 16 KiB replies that nobody reads
                op_id += 1
                read = process_pb2.ReadRequest(pid=pid, addr=0x10000000, length=16 * PAGE)
                yield process_pb2.RunRequest(id=op_id, read=read)
                time.sleep(0.001)

        calls.append(stub.Run(requests(), metadata=(("x-vmsim-token", spawned.token),)))
    time.sleep(0.5)
    server.stop(grace=0.1)
    stop_sending.set()
    time.sleep(0.2)  # late clean-up of the cut streams, if any, runs now
    machine = running.machine
    # Every stream's process was ended (exited) while the machine was whole ...
    assert all(machine.tasks[pid].exited_normally for pid in pids)
    # ... and nothing ran against the closed machine.
    err = capsys.readouterr().err
    assert "released memoryview" not in err and '"rpc failed"' not in err
    for call in calls:
        call.cancel()
    channel.close()
