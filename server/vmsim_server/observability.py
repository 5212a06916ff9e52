"""Structured logs, Prometheus metrics and the per-RPC wrapping that ties them to each call.

That wrapping (RpcObserver) is also where errors raised by a servicer become statuses
(errors.statuses_of_errors): the servicers themselves never touch status codes.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import grpc
import structlog
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    disable_created_metrics,
    make_asgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from vmsim_kernel import Event, EventKind, Machine, ProcessState
from vmsim_kernel.machine import LogLevel, LogRecord

from .call_metadata import current_call, found_metadata
from .decoding import UndecodableRequest
from .errors import CallOutcome, statuses_of_errors
from .limits import RpcsInFlight

__all__ = [
    "LIFECYCLE_EVENTS",
    "MachineCollector",
    "MethodMetrics",
    "MetricsServer",
    "RpcMetrics",
    "RpcObserver",
    "configure_logging",
    "log_kernel_message",
    "log_loop_exception",
    "log_process_lifecycle",
    "make_registry",
    "start_metrics_server",
]

log = structlog.get_logger("vmsim.server")

# The RPC being handled by this task is call_metadata.current_call: set once per call by
# RpcObserver (one ContextVar.set), turned into log fields (the request id is the prefix and
# the number in hex) only when a line is actually logged. The peer is read from the grpc
# context when the call starts, never later: a line logged after the call ended (a Run
# stream's teardown ends its process and logs the exit) must not touch the context, whose
# C call is freed by then (context.peer() on it was a SIGSEGV that any client could cause).
_debug_enabled = False  # whether configure_logging let debug lines through


def _add_call_context(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current RPC's request id, method, peer and pid, if any."""
    call = current_call.get()
    if call is not None:
        prefix, number, method, peer, request = call[:5]
        event.setdefault("request_id", f"{prefix}{number:06x}")
        event.setdefault("method", method)
        event.setdefault("peer", peer)
        # An undecodable request (decoding.py) raises at any look: it has no pid to show.
        pid = None if isinstance(request, UndecodableRequest) else getattr(request, "pid", None)
        if isinstance(pid, int):
            event.setdefault("pid", pid)
    return event


def configure_logging(log_format: str, level: str) -> None:
    """structlog as JSON lines (production) or coloured console lines (a terminal)."""
    console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    # JSON has no place for exc_info: render the traceback into an "exception" field
    # (the console renderer prints it itself).
    renderer: list[Any] = (
        [structlog.dev.ConsoleRenderer()]
        if console
        else [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    )
    global _debug_enabled
    threshold = logging.getLevelNamesMapping()[level.upper()]
    _debug_enabled = threshold <= logging.DEBUG
    structlog.configure(
        processors=[
            _add_call_context,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
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
        io_errors = CounterMetricFamily(
            "vmsim_swap_io_errors",
            "Swap slot writes and reads that failed, came back short or failed their checksum, "
            "on every swap area since boot",
            labels=["direction"],
        )
        write_errors, read_errors = self._machine.swap_io_errors()
        io_errors.add_metric(["write"], write_errors)
        io_errors.add_metric(["read"], read_errors)
        yield io_errors
        info = self._machine.meminfo()
        memory = GaugeMetricFamily("vmsim_memory_bytes", "Simulated memory", labels=["kind"])
        for key in ("MemTotal", "MemFree", "SwapTotal", "SwapFree", "AnonPages", "PageTables"):
            memory.add_metric([key], info[key] * 1024)
        yield memory
        alive = sum(1 for p in self._machine.processes() if p.state is ProcessState.RUNNING)
        yield GaugeMetricFamily("vmsim_processes", "Live simulated processes", value=alive)
        yield from self._reclaim(stats)
        yield from self._zones()
        yield from self._time()

    def _reclaim(self, stats: dict[str, int]) -> Iterator[Any]:
        """pgscan/pgsteal by reclaimer, and the LRU list sizes."""
        scanned = CounterMetricFamily(
            "vmsim_pgscan_pages", "Pages scanned by reclaim", labels=["reclaimer"]
        )
        stolen = CounterMetricFamily(
            "vmsim_pgsteal_pages", "Pages reclaimed (freed) by reclaim", labels=["reclaimer"]
        )
        for reclaimer in ("kswapd", "direct"):
            scanned.add_metric([reclaimer], stats[f"pgscan_{reclaimer}"])
            stolen.add_metric([reclaimer], stats[f"pgsteal_{reclaimer}"])
        yield scanned
        yield stolen
        lru = GaugeMetricFamily("vmsim_lru_pages", "Pages on the LRU lists", labels=["list"])
        for name in ("active_anon", "inactive_anon"):
            lru.add_metric([name], stats[f"nr_{name}"])
        yield lru

    def _zones(self) -> Iterator[Any]:
        """Free pages and watermarks per zone."""
        free = GaugeMetricFamily("vmsim_zone_free_pages", "Free pages of a zone", labels=["zone"])
        managed = GaugeMetricFamily(
            "vmsim_zone_managed_pages", "Pages the buddy allocator manages", labels=["zone"]
        )
        watermark = GaugeMetricFamily(
            "vmsim_zone_watermark_pages", "Zone watermarks", labels=["zone", "level"]
        )
        for zone in self._machine.zoneinfo():
            if not zone.present:
                continue
            free.add_metric([zone.name], zone.free)
            managed.add_metric([zone.name], zone.managed)
            for level in ("min", "low", "high"):
                watermark.add_metric([zone.name, level], getattr(zone, level))
        yield free
        yield managed
        yield watermark

    def _time(self) -> Iterator[Any]:
        """Simulated CPU time by mode and lock time by class (seconds of simulated time)."""
        times = self._machine.cpu_times()
        cpu = CounterMetricFamily(
            "vmsim_cpu_seconds", "Simulated CPU time of all threads", labels=["mode"]
        )
        for mode in ("user", "system", "iowait", "lock_wait"):
            cpu.add_metric([mode], getattr(times, f"{mode}_ns") / 1e9)
        cpu.add_metric(["kswapd"], self._machine.kswapd.times.system_ns / 1e9)
        yield cpu
        wait = CounterMetricFamily(
            "vmsim_lock_wait_seconds", "Simulated time spent waiting for a lock", labels=["lock"]
        )
        hold = CounterMetricFamily(
            "vmsim_lock_hold_seconds", "Simulated time a lock was held", labels=["lock"]
        )
        contentions = CounterMetricFamily(
            "vmsim_lock_contentions", "Acquisitions that had to wait", labels=["lock"]
        )
        for name, stats in self._machine.locks.stats().items():
            wait.add_metric([name], stats.wait_total_ns / 1e9)
            hold.add_metric([name], stats.hold_total_ns / 1e9)
            contentions.add_metric([name], stats.contentions)
        yield wait
        yield hold
        yield contentions


class MethodMetrics:
    """One method's share of RpcMetrics: calls by status code, and durations by bucket."""

    __slots__ = ("buckets", "calls", "nr_ok")

    def __init__(self, nr_buckets: int) -> None:
        # Calls that ended OK, the common case, as a plain count: grpc.StatusCode is an Enum,
        # whose hash is a Python-level call that a dict keyed by it pays twice per update.
        self.nr_ok = 0
        # every other grpc.StatusCode -> calls (the code's name is read at scrape time: an
        # enum's .name is a Python-level property, which every call would pay)
        self.calls: dict[grpc.StatusCode, int] = {}
        # calls per bucket (not cumulative), then the sum of durations
        self.buckets: list[float] = [0] * (nr_buckets + 1)

    def record(self, code: grpc.StatusCode, seconds: float) -> None:
        """One call that ended with *code* after *seconds*."""
        if code is grpc.StatusCode.OK:
            self.nr_ok += 1
        else:
            calls = self.calls
            calls[code] = calls.get(code, 0) + 1
        buckets = self.buckets
        buckets[bisect.bisect_left(RpcMetrics.BUCKETS, seconds)] += 1  # first bound >= seconds
        buckets[-1] += seconds

    def by_code(self) -> dict[grpc.StatusCode, int]:
        """Calls by status code (the codes that ended at least one call)."""
        counts = dict(self.calls)
        if self.nr_ok:
            counts[grpc.StatusCode.OK] = self.nr_ok
        return counts


class RpcMetrics(Collector):
    """vmsim_rpcs_total{method, code} and vmsim_rpc_duration_seconds{method}, per RPC.

    Kept as plain numbers and turned into metric families at scrape time: a prometheus_client
    Counter and Histogram take a lock per update and check their state, which cost every call
    ~8 us (measured). Each method's numbers (MethodMetrics) are found once, when its handler is
    wrapped, not looked up per call. Updated and read on the event loop only.
    """

    BUCKETS = Histogram.DEFAULT_BUCKETS  # upper bounds in seconds, the last +Inf

    def __init__(self) -> None:
        self._methods: dict[str, MethodMetrics] = {}

    def of(self, method: str) -> MethodMetrics:
        """The numbers of *method* (created at its first use)."""
        metrics = self._methods.get(method)
        if metrics is None:
            metrics = self._methods[method] = MethodMetrics(len(self.BUCKETS))
        return metrics

    def record(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """One call of *method* that ended with *code* after *seconds*."""
        self.of(method).record(code, seconds)

    def collect(self) -> Iterator[Any]:
        calls = CounterMetricFamily("vmsim_rpcs", "RPCs handled", labels=["method", "code"])
        durations = HistogramMetricFamily(
            "vmsim_rpc_duration_seconds", "RPC handling time", labels=["method"]
        )
        bounds = [floatToGoString(bound) for bound in self.BUCKETS]  # type: ignore[no-untyped-call]
        for method, metrics in list(self._methods.items()):
            for code, count in metrics.by_code().items():
                calls.add_metric([method, code.name], count)
            counts = list(metrics.buckets)
            cumulative = list(itertools.accumulate(counts[:-1]))
            durations.add_metric(
                [method], list(zip(bounds, cumulative, strict=True)), sum_value=counts[-1]
            )
        yield calls
        yield durations


def make_registry(machine: Machine) -> tuple[CollectorRegistry, RpcMetrics]:
    """A registry with the machine collector, the RPC metrics and the server process's
    garbage collections (python_gc_*, read at scrape time); no `_created` series."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    registry.register(MachineCollector(machine))
    GCCollector(registry)
    rpcs = RpcMetrics()
    registry.register(rpcs)
    return registry, rpcs


LAG_PERIOD = 0.1  # seconds between event-loop lag samples


class MetricsServer:
    """GET /metrics (prometheus_client's ASGI exposition) served by uvicorn on the event loop.

    Scrapes run on the loop like every RPC, so the collector reads the machine between
    kernel calls, never during one (start_http_server would read it from a thread). A
    sampler measures how late the loop runs a ready task: the queueing time every RPC
    waits before its handler runs (vmsim_rpc_queue_seconds).
    """

    def __init__(self, registry: CollectorRegistry, listener: socket.socket) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # vmsim-server's own SIGTERM/SIGINT handlers stay in charge

        self.queue_time = Histogram(
            "vmsim_rpc_queue_seconds",
            "How late the event loop runs a ready task: the time an arriving RPC queues "
            "before its handler starts",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        config = uvicorn.Config(
            make_asgi_app(registry), log_level="warning", lifespan="off", access_log=False
        )
        self._server = Server(config)
        self._listener = listener
        loop = asyncio.get_running_loop()
        self._serving = loop.create_task(self._server.serve(sockets=[listener]))
        self._sampling = loop.create_task(self._sample_lag())

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_PERIOD
            await asyncio.sleep(LAG_PERIOD)
            self.queue_time.observe(max(0.0, loop.time() - expected))

    async def started(self) -> None:
        """Wait until uvicorn accepts connections."""
        while not self._server.started and not self._serving.done():
            await asyncio.sleep(0.01)

    def close(self) -> None:
        """Ask uvicorn to stop and stop sampling."""
        self._server.should_exit = True
        self._sampling.cancel()

    async def wait_closed(self) -> None:
        """Wait for uvicorn and the sampler to end."""
        for task in (self._serving, self._sampling):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listener.close()


async def start_metrics_server(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve GET /metrics on *host*:*port* from the running event loop.

    Raises:
        OSError: the port cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    server = MetricsServer(registry, listener)
    await server.started()
    return server


def log_process_lifecycle(event: Event) -> None:
    """One info line per spawn, exit and kill (SIGSEGV, OOM, lease expiry, admin).

    Fed by the kernel's events, so kills inside a kernel call are logged too. A kill's
    detail is "SIGNAL: reason" (Machine._kill_task); a normal exit's is "exit".
    """
    if event.kind is EventKind.PROCESS_SPAWN:
        log.info("process spawned", pid=event.pid, name=event.detail)
    elif event.detail == "exit":
        log.info("process exited", pid=event.pid)
    else:
        signal, _, reason = event.detail.partition(": ")
        address = None if event.address is None else f"0x{event.address:08x}"
        log.info("process killed", pid=event.pid, signal=signal, reason=reason, address=address)


def log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's handler of last resort (a background task or callback failed): log it with
    its traceback, in the server's log format; the loop and the server go on."""
    error = context.get("exception")
    log.error(
        "background task failed",
        message=context.get("message", ""),
        error=repr(error),
        exc_info=error if isinstance(error, BaseException) else False,
    )


def log_kernel_message(record: LogRecord) -> None:
    """The server's console for the kernel log (printk): one line per record, at its level."""
    level = {LogLevel.ERR: "error", LogLevel.WARNING: "warning"}.get(record.level, "info")
    log.log(
        logging.getLevelNamesMapping()[level.upper()],
        "kernel",
        message=record.text,
        kernel_time=f"{record.time_ns / 1e9:.6f}",
    )


LIFECYCLE_EVENTS = frozenset({EventKind.PROCESS_SPAWN, EventKind.PROCESS_EXIT})


class RpcObserver:
    """Per RPC: a request id in the log context, errors -> statuses (errors.py), metrics,
    and the count of calls in flight that refuses one past --max-concurrent-rpcs.

    Wraps each method's handler once, when the server's service table first meets the
    method (main.py); no grpc interceptor runs per call. Kept slim because every call pays
    it: request ids come from a counter behind a per-server random prefix and are formatted
    only when a line is logged, the log context is one context variable expanded only then
    (_add_call_context), the metrics are plain numbers found when a method is wrapped
    (RpcMetrics.of), the per-call debug line
    is skipped unless debug is on, and the error mapping is entered only when a call raises.
    """

    def __init__(self, metrics: RpcMetrics, in_flight: RpcsInFlight | None = None) -> None:
        self._metrics = metrics
        # the calls being handled: one past its limit is refused (LimitExceeded)
        self._in_flight = in_flight or RpcsInFlight(sys.maxsize)
        self._id_prefix = uuid.uuid4().hex[:6]
        self._ids = itertools.count(1)

    def wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """*handler* (of the method at *path*) with the per-call work around its behaviour."""
        method = path.rsplit("/", 1)[-1]
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

    @staticmethod
    def _end(metrics: MethodMetrics, started: float, code: grpc.StatusCode) -> None:
        elapsed = time.perf_counter() - started
        metrics.record(code, elapsed)
        if _debug_enabled:
            log.debug("rpc", code=code.name, duration_ms=round(elapsed * 1000, 3))

    def _wrap_unary(self, method: str, behaviour: Any) -> Any:
        metrics = self._metrics.of(method)
        prefix, ids = self._id_prefix, self._ids
        ok = grpc.StatusCode.OK
        in_flight = self._in_flight

        async def wrapper(request: Any, context: Any) -> Any:
            # The call's log context. Each RPC runs in its own task, hence its own copy of the
            # context variables. Set here, not by a method: every call pays one call less.
            # Reset when the handler ends, not when grpc ends the task after sending the reply:
            # in a burst, the calls waiting to send held it (and the request) alive for the
            # garbage collector to scan (~19 young collections a burst of 1,000, 17 with it).
            call = current_call.set(
                (prefix, next(ids), method, context.peer(), request, context, found_metadata())
            )
            started = time.perf_counter()
            try:
                if in_flight.count >= in_flight.limit:
                    raise in_flight.refusal()
                in_flight.count += 1
                try:
                    response = await behaviour(request, context)
                finally:
                    in_flight.count -= 1
            except BaseException:
                # The one mapping of errors to statuses, entered only on failure: the bare
                # raise hands it the exception being handled.
                outcome = CallOutcome()
                try:
                    async with statuses_of_errors(context, outcome):
                        raise
                finally:
                    self._end(metrics, started, outcome.code)
                    current_call.reset(call)
            if _debug_enabled:
                self._end(metrics, started, ok)
            else:  # _end without its debug line: one call less on every call
                metrics.record(ok, time.perf_counter() - started)
            current_call.reset(call)
            return response

        return wrapper

    def _wrap_stream(self, method: str, behaviour: Any) -> Any:
        metrics = self._metrics.of(method)
        prefix, ids = self._id_prefix, self._ids
        in_flight = self._in_flight

        async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
            current_call.set(  # as unary
                (prefix, next(ids), method, context.peer(), request, context, found_metadata())
            )
            started = time.perf_counter()
            outcome = CallOutcome()
            try:
                async with statuses_of_errors(context, outcome):
                    if in_flight.count >= in_flight.limit:
                        raise in_flight.refusal()
                    in_flight.count += 1
                    try:
                        async for item in behaviour(request, context):
                            yield item
                    finally:
                        in_flight.count -= 1
            finally:
                self._end(metrics, started, outcome.code)

        return wrapper
