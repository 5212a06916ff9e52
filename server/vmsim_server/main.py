"""Start, run and stop the server: one grpc.aio event loop around one Machine (init/main.c).

vmsim-server --ram 256M --swap 512M          # or: python -m vmsim_server
running = await serve(ServerSettings(address="127.0.0.1:0"))   # in-process (tests)
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from vmsim.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    inspect_pb2,
    inspect_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
)
from vmsim_kernel import KernelError, Machine, NoSuchProcess, Signal

from .admin_service import AdminService
from .events import EventHub
from .inspect_service import InspectService
from .kernel_service import KernelService, KernelSessions
from .observability import (
    LIFECYCLE_EVENTS,
    MetricsServer,
    RpcInterceptor,
    configure_logging,
    log_process_lifecycle,
    make_registry,
    start_metrics_server,
)
from .process_service import ProcessService
from .sessions import SessionTable
from .settings import ServerSettings, parse_settings

__all__ = ["SERVICE_NAMES", "RunningServer", "main", "serve"]

log = structlog.get_logger("vmsim.server")

SERVICE_NAMES = (
    process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name,
    inspect_pb2.DESCRIPTOR.services_by_name["InspectService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    kernel_pb2.DESCRIPTOR.services_by_name["KernelService"].full_name,
)
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
        metrics_server: the /metrics HTTP server, when metrics_port is set.
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
    metrics_server: MetricsServer | None = None

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: NOT_SERVING, let calls finish within the grace period, free the machine.

        The end of each open Run stream exits its process; machine.close() then frees the
        rest and removes a temporary swap file.
        """
        await self.health.enter_graceful_shutdown()
        self.events.end_all()
        self.reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reaper
        await self.server.stop(self.settings.grace_seconds if grace is None else grace)
        if self.metrics_server is not None:
            self.metrics_server.close()
            await self.metrics_server.wait_closed()
        self.machine.close()
        log.info("server stopped", address=self.address)


async def _reap_expired_leases(
    machine: Machine, sessions: SessionTable, kernel_sessions: KernelSessions
) -> None:
    """Kill the processes of clients that went silent, end silent kernel sessions, and forget
    sessions the kernel forgot."""
    period = max(0.05, min(1.0, sessions.lease_seconds / 4))
    while True:
        await asyncio.sleep(period)
        kernel_sessions.reap_expired()
        for pid in sessions.expired():
            with contextlib.suppress(KernelError):  # already dead or reaped: nothing to free
                machine.kill(pid, Signal.SIGKILL, LEASE_EXPIRED)
            sessions.end_lease(pid)
        for pid in sessions.dead():
            try:
                machine.process(pid)
            except NoSuchProcess:  # the zombie record is gone, so is the explanation
                sessions.close(pid)


def _listen(server: grpc.aio.Server, address: str) -> str:
    """Bind *address* (port 0 picks a free one); returns host:port actually bound."""
    try:
        port = server.add_insecure_port(address)
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
    generated_token = not settings.admin_token
    if generated_token:
        settings = replace(settings, admin_token=secrets.token_urlsafe(16))
    machine = Machine(settings.machine_config())
    registry, rpcs, latency = make_registry(machine)
    server = grpc.aio.server(
        interceptors=[RpcInterceptor(rpcs, latency)],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    try:
        address = _listen(server, settings.address)
        host = address.rsplit(":", 1)[0].strip("[]")
        metrics_server = (
            await start_metrics_server(registry, host, settings.metrics_port)
            if settings.metrics_port
            else None
        )
    except BaseException:
        machine.close()
        raise
    machine.add_event_listener(log_process_lifecycle, LIFECYCLE_EVENTS)
    sessions = SessionTable(settings.lease_seconds)
    events = EventHub(machine)
    kernel_sessions = KernelSessions(machine, settings.lease_seconds)
    health_servicer = _add_services(server, machine, sessions, kernel_sessions, events, settings)
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reaper = asyncio.get_running_loop().create_task(
        _reap_expired_leases(machine, sessions, kernel_sessions)
    )
    config = machine.config
    log.info(
        "server started",
        address=address,
        ram=config.ram_bytes,
        swap=config.swap_bytes,
        swap_file=machine.swap.path if machine.swap else None,
        policy=config.policy.value,
        overcommit=int(config.overcommit_memory),
        overcommit_ratio=config.overcommit_ratio,
        seed=config.seed,
        lease_seconds=settings.lease_seconds,
        max_processes=config.max_processes,
        max_batch=settings.max_batch,
        max_io_bytes=settings.max_io_bytes,
        metrics_port=settings.metrics_port,
        # A configured token is the operator's secret; only a generated one must be shown.
        admin_token=settings.admin_token if generated_token else "(configured)",
    )
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
        metrics_server,
    )


def _add_services(
    server: grpc.aio.Server,
    machine: Machine,
    sessions: SessionTable,
    kernel_sessions: KernelSessions,
    events: EventHub,
    settings: ServerSettings,
) -> Any:
    """Register the vmsim services, health and reflection; returns the health servicer."""
    kernel_pb2_grpc.add_KernelServiceServicer_to_server(
        KernelService(machine, kernel_sessions, settings.admin_token), server
    )
    process_pb2_grpc.add_ProcessServiceServicer_to_server(
        ProcessService(machine, sessions, settings), server
    )
    inspect_pb2_grpc.add_InspectServiceServicer_to_server(
        InspectService(machine, events, settings.max_batch), server
    )
    admin_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminService(machine, settings.admin_token), server
    )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return health_servicer


async def _run_until_signalled(settings: ServerSettings) -> None:
    # Handlers first: a SIGTERM that arrives while booting still means a clean shutdown.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await serve(settings)
    await stop.wait()
    log.info("shutting down", grace_seconds=settings.grace_seconds)
    await running.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """vmsim-server: parse flags and environment, serve until SIGTERM/SIGINT, exit 0."""
    settings = parse_settings(argv)
    try:
        asyncio.run(_run_until_signalled(settings))
    except (KernelError, OSError, ValueError) as error:
        configure_logging(settings.log_format, settings.log_level)
        log.error("server failed to start", error=str(error))
        raise SystemExit(1) from None
