"""Start, run and stop the server: one grpc.aio event loop around one Machine (init/main.c).

vmsim-server --ram 256M --swap 512M          # or: python -m vmsim_server
running = await serve(ServerSettings(address="127.0.0.1:0"))   # in-process (tests)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc
import structlog
import typer
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from vmsim_kernel import InvalidArgument, KernelError, Machine, NoSuchProcess, Signal
from vmsim_lab.grading import LabConfig, LabStore
from vmsim_proto.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    inspect_pb2,
    inspect_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
    lab_pb2,
    lab_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
)

from .admin_service import AdminService
from .call_metadata import remember_call_metadata
from .credentials import (
    AdminToken,
    fingerprint,
    load_admin_token,
    loose_permissions,
    server_credentials,
)
from .decoding import decoding_checked
from .events import EventHub
from .heavy import HeavyCalls
from .inspect_service import InspectService
from .kernel_service import KernelService, KernelSessions
from .lab_service import ExerciseService, LabService
from .limits import ClientLimits, counting_request_bytes
from .observability import (
    LIFECYCLE_EVENTS,
    MetricsServer,
    RpcObserver,
    configure_logging,
    log_kernel_message,
    log_loop_exception,
    log_process_lifecycle,
    make_registry,
    start_metrics_server,
)
from .process_service import ProcessService
from .runner import TaskRunner
from .sessions import SessionTable
from .settings import ServerSettings, parse_settings, refused_setting

__all__ = ["SERVICE_NAMES", "RunningServer", "main", "serve"]

log = structlog.get_logger("vmsim.server")

SERVICE_NAMES = (
    process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name,
    inspect_pb2.DESCRIPTOR.services_by_name["InspectService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    kernel_pb2.DESCRIPTOR.services_by_name["KernelService"].full_name,
    lab_pb2.DESCRIPTOR.services_by_name["ExerciseService"].full_name,
)
LAB_SERVICE_NAME = lab_pb2.DESCRIPTOR.services_by_name["LabService"].full_name
LEASE_EXPIRED = "lease expired: the client went away"


@dataclass
class RunningServer:
    """A started server: where it listens, what it serves, and how to stop it.

    Attributes:
        server: the grpc.aio server.
        machine: the simulated machine it serves.
        settings: the settings it runs with (admin_token filled in when it was generated).
        address: host:port it listens on (the real port when settings asked for port 0).
        health: the grpc.health.v1 servicer.
        sessions: tokens and leases of the client processes.
        events: the WatchEvents fan-out.
        registry: the Prometheus metrics.
        reaper: the task that ends processes whose lease expired.
        runner: steps the machine's run queue, a quantum at a time.
        metrics_server: the /metrics HTTP server, when metrics_port is set.
        admin_token: where the admin token came from (a generated file is removed at stop).
        lab: the graded lab's store, when the server runs one (--lab).
        heavy: the rate and the worker process of the costly calls.
    """

    server: grpc.aio.Server
    machine: Machine
    settings: ServerSettings
    address: str
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped)
    sessions: SessionTable
    events: EventHub
    registry: CollectorRegistry
    reaper: asyncio.Task[None]
    runner: TaskRunner
    metrics_server: MetricsServer | None = None
    admin_token: AdminToken | None = None
    lab: LabStore | None = None
    heavy: HeavyCalls | None = None

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: NOT_SERVING, let calls finish within the grace period, free the machine.

        Calls keep running (in quanta) during the grace period; those still queued then are
        stopped at a quantum boundary. The end of each open Run stream exits its process;
        machine.close() then frees the rest and removes a temporary swap file.
        """
        await self.health.enter_graceful_shutdown()
        self.events.end_all()
        self.reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reaper
        grace = self.settings.grace_seconds if grace is None else grace
        stopping = asyncio.ensure_future(self.server.stop(grace))
        # Past the grace period grpc cancels the calls still running; stop their tasks too,
        # so the streams close (exiting their processes) before the machine does.
        await asyncio.wait({stopping}, timeout=grace)
        stopped = await self.runner.stop()
        await stopping
        if stopped:
            log.info("calls stopped at a quantum boundary", calls=stopped)
        # Streams the shutdown cut end their processes now, while the machine is whole:
        # their handlers' own clean-up may run only after machine.close().
        for pid in self.sessions.streaming():
            with contextlib.suppress(KernelError):
                self.machine.exit(pid)
            self.sessions.close(pid)
        if self.metrics_server is not None:
            self.metrics_server.close()
            await self.metrics_server.wait_closed()
        self.machine.close()
        if self.admin_token is not None:
            self.admin_token.remove()
        if self.lab is not None:
            self.lab.close()
        if self.heavy is not None:
            self.heavy.close()
        log.info("server stopped", address=self.address)


async def _reap_expired_leases(
    machine: Machine, sessions: SessionTable, kernel_sessions: KernelSessions
) -> None:
    """Kill the processes of clients that went silent, end silent kernel sessions, and forget
    sessions the kernel forgot. An error in one round is logged and the next round runs."""
    period = max(0.05, min(1.0, sessions.lease_seconds / 4))
    while True:
        await asyncio.sleep(period)
        try:
            _reap_once(machine, sessions, kernel_sessions)
        except Exception as error:  # the reaper must outlive any defect it meets
            log.exception("lease reaper round failed", error=repr(error))


def _reap_once(machine: Machine, sessions: SessionTable, kernel_sessions: KernelSessions) -> None:
    kernel_sessions.reap_expired()
    for pid in sessions.expired():
        with contextlib.suppress(KernelError):  # already dead or reaped: nothing to free
            machine.kill(pid, Signal.SIGKILL, LEASE_EXPIRED)
            log.info("lease expired", pid=pid)
        sessions.end_lease(pid)
    for pid in sessions.dead():
        try:
            machine.process(pid)
        except NoSuchProcess:  # the zombie record is gone, so is the explanation
            sessions.close(pid)


def _listen(
    server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None = None
) -> str:
    """Bind *address* (port 0 picks a free one), with TLS when *credentials* are given;
    returns host:port actually bound."""
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError as error:  # recent grpcio raises instead of returning 0
        raise OSError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return f"{address.rsplit(':', 1)[0]}:{port}"


async def serve(settings: ServerSettings) -> RunningServer:
    """Boot the machine and start serving; returns once the port is bound and SERVING.

    Raises:
        KernelError: the machine configuration is refused (e.g. InvalidArgument for the RAM size).
        OSError: the address (or the metrics port) cannot be bound.
    """
    configure_logging(settings.log_format, settings.log_level)
    credentials = (
        server_credentials(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        if settings.tls_cert and settings.tls_key
        else None
    )
    admin_token = load_admin_token(settings.admin_token, settings.admin_token_file)
    settings = replace(settings, admin_token=admin_token.token)
    lab = _open_lab(settings)
    try:
        machine = Machine(settings.machine_config())
    except BaseException:
        _release_boot(admin_token, lab)
        raise
    registry, rpc_metrics = make_registry(machine)
    limits = ClientLimits(settings, lab.student if lab is not None else None)
    heavy = HeavyCalls(settings.client_heavy_calls_per_second)
    server = _grpc_server(settings)
    try:
        address = _listen(server, settings.address, credentials)
        host = address.rsplit(":", 1)[0].strip("[]")
        metrics_server = (
            await start_metrics_server(registry, host, settings.metrics_port)
            if settings.metrics_port
            else None
        )
    except BaseException:
        _release_boot(admin_token, lab, machine)
        raise
    machine.add_event_listener(log_process_lifecycle, LIFECYCLE_EVENTS)
    machine.add_kernel_console(log_kernel_message)
    asyncio.get_running_loop().set_exception_handler(log_loop_exception)
    sessions = SessionTable(settings.lease_seconds)
    events = EventHub(machine)
    kernel_sessions = KernelSessions(machine, settings.lease_seconds)
    runner = TaskRunner(machine)
    table = _ServiceTable(
        per_call_wrapping(RpcObserver(rpc_metrics, limits.rpcs_in_flight), limits)
    )
    health_servicer = _add_services(
        table, machine, sessions, kernel_sessions, events, settings, runner, limits, heavy, lab
    )
    server.add_generic_rpc_handlers((table,))
    await server.start()
    runner.start()
    for name in ("", *SERVICE_NAMES, *((LAB_SERVICE_NAME,) if lab else ())):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reaper = asyncio.get_running_loop().create_task(
        _reap_expired_leases(machine, sessions, kernel_sessions)
    )
    _log_started(settings, machine, address, credentials is not None, admin_token)
    return RunningServer(
        server,
        machine,
        settings,
        address,
        health_servicer,
        sessions,
        events,
        registry,
        reaper,
        runner,
        metrics_server,
        admin_token,
        lab,
        heavy,
    )


def _release_boot(
    admin_token: AdminToken, lab: LabStore | None, machine: Machine | None = None
) -> None:
    """Undo what serve() had set up when booting fails half way."""
    if machine is not None:
        machine.close()
    admin_token.remove()
    if lab is not None:
        lab.close()


def _grpc_server(settings: ServerSettings) -> grpc.aio.Server:
    """The grpc.aio server with the message limits of *settings*; a port is never shared
    silently (so_reuseport 0). The calls in flight are limited by the service table's
    wrapping (RpcObserver, limits.RpcsInFlight), not by grpc's maximum_concurrent_rpcs."""
    return grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )


def _log_started(
    settings: ServerSettings, machine: Machine, address: str, tls: bool, admin_token: AdminToken
) -> None:
    """The one line that says the server is up, with the configuration and seed it runs."""
    config = machine.config
    log.info(
        "server started",
        address=address,
        # the loop actually running: "uvloop" or "asyncio"
        event_loop=type(asyncio.get_running_loop()).__module__.partition(".")[0],
        ram=config.ram_bytes,
        swap=config.swap_bytes,
        swap_file=machine.swap.path if machine.swap else None,
        disk=config.disk_bytes,
        policy=config.policy.value,
        overcommit=int(config.overcommit_memory),
        overcommit_ratio=config.overcommit_ratio,
        seed=config.seed,
        cpus=config.nr_cpus,
        lease_seconds=settings.lease_seconds,
        max_processes=config.max_processes,
        max_batch=settings.max_batch,
        max_io_bytes=settings.max_io_bytes,
        metrics_port=settings.metrics_port,
        tls="mutual" if settings.tls_client_ca else "on" if tls else "off",
        client_identity=settings.client_identity,
        # The token itself is never logged: where to find it, and a fingerprint to compare.
        admin_token_file=admin_token.path,
        admin_token_fingerprint=fingerprint(admin_token.token),
        lab=settings.lab_path,
    )
    _warn_of_exposed_secrets(admin_token, settings)


def _warn_of_exposed_secrets(admin_token: AdminToken, settings: ServerSettings) -> None:
    """A warning (not a refusal: the operator may share a group on purpose) for each secret
    file that users other than its owner may read or write."""
    for kind, path in (("admin token file", admin_token.path), ("TLS key file", settings.tls_key)):
        mode = loose_permissions(path) if path else None
        if mode is not None:
            log.warning(
                "secret file readable beyond its owner: chmod 600 it",
                kind=kind,
                file=path,
                mode=mode,
            )


# (method path, its handler) -> the handler the server calls (a type alias: grpc's classes
# take type arguments only in their stubs)
MethodWrapping = Callable[
    [str, "grpc.RpcMethodHandler[Any, Any]"], "grpc.RpcMethodHandler[Any, Any]"
]


def per_call_wrapping(observer: RpcObserver, limits: ClientLimits) -> MethodWrapping:
    """What the service table wraps each method's handler in, once: the observation (log
    context, errors to statuses, metrics), the large requests' accounting, the decoding check."""
    return lambda path, handler: observer.wrap(
        path, counting_request_bytes(limits, path, decoding_checked(path, handler))
    )


class _ServiceTable(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Every vmsim service, as the server's one generic handler, each method wrapped once.

    The generated add_*Servicer_to_server functions are handed this table in place of the
    server. It keeps their generic handlers and skips method registration: grpc.aio's server
    keeps one pending request future per registered method and waits on all of them for
    every incoming call. A method is looked up in the services and wrapped (wrap: the
    per-call observation and limits) when it is first called; every later call of it is one
    dict lookup, and no grpc interceptor runs (measured together: ~50 us of server CPU per
    Touch at 32 in flight, of ~450; bench/bench_service.py).
    """

    def __init__(self, wrap: MethodWrapping) -> None:
        self._wrap = wrap
        self._services: list[grpc.GenericRpcHandler[Any, Any]] = []
        # method path -> its wrapped handler
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        self._services.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Not registered: the generic handler added just before serves these methods."""

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        # grpc built this tuple to ask us; the servicers read the token from it rather than
        # have the context build it again (call_metadata.py).
        remember_call_metadata(handler_call_details.invocation_metadata)
        path = handler_call_details.method
        wrapped = self._wrapped.get(path)
        if wrapped is None:
            for service in self._services:
                handler = service.service(handler_call_details)
                if handler is not None:
                    wrapped = self._wrapped[path] = self._wrap(path, handler)
                    break
        return wrapped  # None: an unknown method, which grpc answers UNIMPLEMENTED


def _open_lab(settings: ServerSettings) -> LabStore | None:
    """The graded lab of --lab FILE, its database beside it unless --lab-db says where.

    Raises:
        ValueError: the lab file is unreadable or invalid (the message says what is wrong).
        OSError: the database cannot be opened.
    """
    if settings.lab_path is None:
        return None
    config = LabConfig.from_toml(settings.lab_path)
    database = settings.lab_db or f"{settings.lab_path}.sqlite3"
    try:
        return LabStore(database, config)
    except sqlite3.Error as error:
        raise OSError(f"lab database {database}: {error}") from None


def _add_services(
    generic: _ServiceTable,
    machine: Machine,
    sessions: SessionTable,
    kernel_sessions: KernelSessions,
    events: EventHub,
    settings: ServerSettings,
    runner: TaskRunner,
    limits: ClientLimits,
    heavy: HeavyCalls,
    lab: LabStore | None,
) -> Any:
    """Put the vmsim services, health and reflection in the table; returns the health servicer."""
    kernel_pb2_grpc.add_KernelServiceServicer_to_server(
        KernelService(machine, kernel_sessions, settings.admin_token), generic
    )
    process_pb2_grpc.add_ProcessServiceServicer_to_server(
        ProcessService(machine, sessions, settings, runner, limits), generic
    )
    inspect_pb2_grpc.add_InspectServiceServicer_to_server(
        InspectService(machine, events, settings.max_batch, limits, heavy), generic
    )
    admin_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminService(machine, settings.admin_token), generic
    )
    lab_pb2_grpc.add_ExerciseServiceServicer_to_server(ExerciseService(limits, heavy), generic)
    if lab is not None:
        lab_pb2_grpc.add_LabServiceServicer_to_server(
            LabService(lab, settings.admin_token, limits, heavy), generic
        )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, generic)
    # enable_server_reflection(names, server) would register the method on the server itself
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
            (*SERVICE_NAMES, LAB_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
        ),
        generic,
    )
    return health_servicer


async def _run_until_signalled(settings: ServerSettings) -> None:
    # Handlers first: a SIGTERM that arrives while booting still means a clean shutdown.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await serve(settings)
    # What booted lives as long as the server process: out of the collector's sight from now
    # on, so a full collection in a burst of calls scans what the calls made, not the boot.
    gc.freeze()
    await stop.wait()
    log.info("shutting down", grace_seconds=settings.grace_seconds)
    await running.stop()


# Two glibc malloc habits made the server's RSS climb in steps under a long run of mixed
# calls (tests/hostile/test_soak.py), with no Python object leaking:
# - a thread that allocates while the others hold their arenas gets an arena of its own (up
#   to 8 per core), and what is freed in one is reused only there: the gRPC and worker
#   threads fragment the heap (two arenas, as MALLOC_ARENA_MAX=2 sets);
# - a block above the mmap threshold is mmapped and unmapped when freed, but freeing one
#   raises the threshold to its size (up to 32 MiB), so the next large numpy array of a
#   replay or a batch comes from the heap and stays there: a fixed threshold keeps large
#   arrays mmapped, given back when freed (as MALLOC_MMAP_THRESHOLD_ sets).
# A value in the environment wins.
MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD = 256 * 1024
_MALLOPT_PARAMETERS = {  # mallopt's parameter numbers (malloc.h)
    "MALLOC_ARENA_MAX": (-8, MALLOC_ARENAS),
    "MALLOC_MMAP_THRESHOLD_": (-3, MALLOC_MMAP_THRESHOLD),
}


def tune_malloc() -> list[str]:
    """Set glibc's malloc parameters above for the allocations to come; the names of those
    set (none with a C library without glibc's mallopt, or where the environment sets them)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return []
    return [
        name
        for name, (parameter, value) in _MALLOPT_PARAMETERS.items()
        if name not in os.environ and mallopt(parameter, value) == 1
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """vmsim-server: parse flags and environment, serve until SIGTERM/SIGINT, exit 0."""
    settings = parse_settings(argv)
    tune_malloc()
    new_loop = uvloop.new_event_loop if settings.event_loop == "uvloop" else None
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(_run_until_signalled(settings))
    except InvalidArgument as error:
        # What the host refused at boot (a --swap-file in use, a symbolic link ...) is the
        # flag's fault: a usage error, as a bad flag is.
        typer.BadParameter(refused_setting(error)).show()
        raise SystemExit(2) from None
    except (KernelError, OSError, ValueError) as error:
        configure_logging(settings.log_format, settings.log_level)
        log.error("server failed to start", error=str(error))
        raise SystemExit(1) from None
