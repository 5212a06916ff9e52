"""Structured logs, Prometheus metrics and the server interceptor that ties them to each RPC.

The interceptor is also where kernel errors raised by a servicer become statuses
(errors.status_of): the servicers themselves never touch status codes.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import structlog
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vmsim_kernel import KernelError, Machine

from .errors import grpc_code_of, status_of

__all__ = ["MachineCollector", "RpcInterceptor", "configure_logging", "make_registry"]

log = structlog.get_logger("vmsim.server")


def configure_logging(log_format: str, level: str) -> None:
    """structlog as JSON lines (production) or coloured console lines (a terminal)."""
    console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class MachineCollector(Collector):
    """Reads the machine's counters at scrape time (no per-fault bookkeeping)."""

    def __init__(self, machine: Machine) -> None:
        self._machine = machine

    def collect(self) -> Iterator[Any]:
        stats = self._machine.vmstat()
        faults = CounterMetricFamily("vmsim_page_faults", "Page faults handled", labels=["kind"])
        faults.add_metric(["minor"], stats["pgfault"] - stats["pgmajfault"])
        faults.add_metric(["major"], stats["pgmajfault"])
        yield faults
        swap = CounterMetricFamily(
            "vmsim_swap_pages", "Pages moved to or from swap", labels=["direction"]
        )
        swap.add_metric(["out"], stats["pswpout"])
        swap.add_metric(["in"], stats["pswpin"])
        yield swap
        yield CounterMetricFamily(
            "vmsim_oom_kills", "Processes killed by the OOM killer", value=stats["oom_kill"]
        )
        info = self._machine.meminfo()
        memory = GaugeMetricFamily("vmsim_memory_bytes", "Simulated memory", labels=["kind"])
        for key in ("MemTotal", "MemFree", "SwapTotal", "SwapFree", "AnonPages", "PageTables"):
            memory.add_metric([key], info[key] * 1024)
        yield memory
        alive = sum(1 for p in self._machine.processes() if p.state.value == "R")
        yield GaugeMetricFamily("vmsim_processes", "Live simulated processes", value=alive)


def make_registry(machine: Machine) -> tuple[CollectorRegistry, Counter, Histogram]:
    """A registry with the machine collector and the RPC metrics."""
    registry = CollectorRegistry()
    registry.register(MachineCollector(machine))
    rpcs = Counter("vmsim_rpcs", "RPCs handled", ["method", "code"], registry=registry)
    latency = Histogram(
        "vmsim_rpc_duration_seconds", "RPC handling time", ["method"], registry=registry
    )
    return registry, rpcs, latency


class RpcInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Per RPC: a request id in the log context, kernel errors -> statuses, metrics."""

    def __init__(self, rpcs: Counter, latency: Histogram) -> None:
        self._rpcs = rpcs
        self._latency = latency

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(method, handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _begin(self, method: str) -> float:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex[:12], method=method)
        return time.perf_counter()

    def _end(self, method: str, started: float, code: grpc.StatusCode) -> None:
        elapsed = time.perf_counter() - started
        self._rpcs.labels(method, code.name).inc()
        self._latency.labels(method).observe(elapsed)
        log.debug("rpc", code=code.name, duration_ms=round(elapsed * 1000, 3))

    def _wrap_unary(self, method: str, behaviour: Any) -> Any:
        async def wrapper(request: Any, context: Any) -> Any:
            started = self._begin(method)
            code = grpc.StatusCode.OK
            try:
                return await behaviour(request, context)
            except KernelError as error:
                code = grpc_code_of(error)
                await context.abort_with_status(rpc_status.to_status(status_of(error)))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                self._end(method, started, code)

        return wrapper

    def _wrap_stream(self, method: str, behaviour: Any) -> Any:
        async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
            started = self._begin(method)
            code = grpc.StatusCode.OK
            try:
                async for item in behaviour(request, context):
                    yield item
            except KernelError as error:
                code = grpc_code_of(error)
                await context.abort_with_status(rpc_status.to_status(status_of(error)))
            finally:
                self._end(method, started, code)

        return wrapper
