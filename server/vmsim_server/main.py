"""Start, run and stop the server: one grpc.aio event loop around one Machine."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from vmsim.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    inspect_pb2,
    inspect_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
)
from vmsim_kernel import KernelError, Machine, NoSuchProcess, Signal

from .admin_service import AdminService
from .events import EventHub
from .inspect_service import InspectService
from .observability import RpcInterceptor, configure_logging, make_registry
from .process_service import ProcessService
from .sessions import SessionTable
from .settings import ServerSettings, parse_settings

__all__ = ["RunningServer", "main", "serve"]

log = structlog.get_logger("vmsim.server")

SERVICE_NAMES = (
    process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name,
    inspect_pb2.DESCRIPTOR.services_by_name["InspectService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)


@dataclass
class RunningServer:
    """A started server: where it listens and how to stop it."""

    server: grpc.aio.Server
    machine: Machine
    settings: ServerSettings
    address: str
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped)
    sessions: SessionTable
    reaper: asyncio.Task[None]

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: NOT_SERVING, finish calls within the grace period, free the machine."""
        await self.health.enter_graceful_shutdown()
        self.reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reaper
        await self.server.stop(self.settings.grace_seconds if grace is None else grace)
        self.machine.close()
        log.info("server stopped", address=self.address)


async def _reap_expired_leases(machine: Machine, sessions: SessionTable) -> None:
    """Kill the processes of clients that went silent; forget sessions of reaped processes."""
    period = max(0.05, min(1.0, sessions.lease_seconds / 4))
    while True:
        await asyncio.sleep(period)
        for pid in sessions.expired():
            try:
                machine.kill(pid, Signal.SIGKILL, "lease expired: the client went away")
                log.info("process killed", pid=pid, signal="SIGKILL", reason="lease expired")
            except NoSuchProcess:
                sessions.close(pid)
            except KernelError:
                pass  # already dead; its record keeps the reason
            sessions.end_lease(pid)


async def serve(settings: ServerSettings) -> RunningServer:
    """Boot the machine and start serving; returns once the port is bound."""
    configure_logging(settings.log_format, settings.log_level)
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
    sessions = SessionTable(settings.lease_seconds)
    process_pb2_grpc.add_ProcessServiceServicer_to_server(
        ProcessService(machine, sessions, settings), server
    )
    inspect_pb2_grpc.add_InspectServiceServicer_to_server(
        InspectService(machine, EventHub(machine)), server
    )
    admin_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminService(machine, sessions, settings.admin_token), server
    )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(settings.address)
    if port == 0:
        machine.close()
        raise OSError(f"cannot listen on {settings.address}")
    host = settings.address.rsplit(":", 1)[0]
    address = f"{host}:{port}"
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=registry)
    reaper = asyncio.get_running_loop().create_task(_reap_expired_leases(machine, sessions))
    config = settings.machine_config()
    log.info(
        "server started",
        address=address,
        ram=config.ram_bytes,
        swap=config.swap_bytes,
        swap_file=machine.swap.path if machine.swap else None,
        policy=config.policy.value,
        overcommit=int(config.overcommit_memory),
        seed=config.seed,
        lease_seconds=settings.lease_seconds,
        admin_token=settings.admin_token,
        metrics_port=settings.metrics_port,
    )
    return RunningServer(server, machine, settings, address, health_servicer, sessions, reaper)


async def _run_until_signalled(settings: ServerSettings) -> None:
    running = await serve(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down", grace_seconds=settings.grace_seconds)
    await running.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """vmsim-server: parse flags and environment, serve until SIGTERM/SIGINT."""
    settings = parse_settings(argv)
    try:
        asyncio.run(_run_until_signalled(settings))
    except (KernelError, OSError) as error:
        configure_logging(settings.log_format, settings.log_level)
        log.error("server failed to start", error=str(error))
        raise SystemExit(1) from None
