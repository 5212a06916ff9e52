"""The per-call path: a lone call needs no hand-off to the stepping loop, a longer one still
gets it, a Touch on an idle scheduler skips the other calls' chain, the token is read from the
metadata grpc already converted (and never from another call's), and a log line written during
an RPC names that RPC."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import numpy as np
import pytest
import structlog
from prometheus_client import CollectorRegistry

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    FaultResult,
    Machine,
    MachineConfig,
    MiB,
    PermissionDenied,
)
from vmsim_kernel.kernel.sched import MIN_QUANTUM_ADDRESSES
from vmsim_proto.v1 import common_pb2, process_pb2, process_pb2_grpc
from vmsim_server import ServerSettings, observability
from vmsim_server.call_metadata import current_call, remember_call_metadata
from vmsim_server.limits import ClientLimits
from vmsim_server.main import _ServiceTable, per_call_wrapping
from vmsim_server.observability import RpcMetrics, RpcObserver
from vmsim_server.process_service import ProcessService, token_of
from vmsim_server.runner import TaskRunner
from vmsim_server.sessions import SessionTable

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def _machine_with_resident_pages(pages: int) -> tuple[Machine, int, int]:
    machine = Machine(MachineConfig(ram_bytes=16 * MiB))
    pid = machine.spawn("probe")
    base = machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON)
    addrs = np.arange(base, base + pages * PAGE_SIZE, PAGE_SIZE, dtype=np.uint32)
    machine.touch_many(pid, addrs, True)
    return machine, pid, base


def test_a_call_alone_on_the_run_queue_is_answered_without_the_stepping_loop() -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    runner = TaskRunner(machine)  # never started: nothing steps the run queue

    async def touch() -> Any:
        return await asyncio.wait_for(
            runner.call("touch", pid, base, False, tid=None, timeout=5), 2
        )

    task = asyncio.run(touch())
    assert task.result is FaultResult.HIT
    assert task.nr_quanta == 1
    assert machine.sched.nr_running == 0


def test_a_lone_touch_runs_at_once_without_a_task_and_reports_its_own_cost() -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    runner = TaskRunner(machine)  # never started
    untouched = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    hit = runner.run_alone("touch", pid, base, False, tid=None, timeout=5)
    fault = runner.run_alone("touch", pid, untouched, True, tid=None, timeout=None)
    assert hit is not None and fault is not None
    assert hit[0] is FaultResult.HIT and fault[0] is FaultResult.MINOR
    assert 0 < hit[1][0] < fault[1][0]  # a first touch costs more than a resident one
    assert machine.sched.nr_running == 0 and machine.sched.nr_finished >= 2


def test_a_touch_is_not_run_at_once_behind_a_queued_call_or_past_its_deadline() -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    runner = TaskRunner(machine)
    assert runner.run_alone("touch", pid, base, False, tid=None, timeout=0) is None
    assert runner.run_alone("touch_many", pid, [base], False, tid=None, timeout=5) is None
    machine.submit("touch", pid, base, False)  # someone else is already on the run queue
    assert runner.run_alone("touch", pid, base, False, tid=None, timeout=5) is None


def test_a_call_behind_another_waits_for_the_stepping_loop() -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    runner = TaskRunner(machine)  # not started: a queued call cannot finish
    machine.submit("touch", pid, base, False)  # someone else is already on the run queue

    async def touch() -> None:
        await asyncio.wait_for(runner.call("touch", pid, base, False, tid=None, timeout=5), 0.3)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(touch())


def test_a_call_of_many_quanta_runs_its_first_at_once_and_the_rest_on_the_loop() -> None:
    pages = 64
    machine, pid, base = _machine_with_resident_pages(pages)
    many = base + (np.arange(8 * MIN_QUANTUM_ADDRESSES, dtype=np.uint32) % pages) * PAGE_SIZE

    async def touch_many() -> Any:
        runner = TaskRunner(machine)
        runner.start()
        try:
            return await runner.call("touch_many", pid, many, False, tid=None, timeout=5)
        finally:
            await runner.stop()

    task = asyncio.run(touch_many())
    assert task.result.nr_hits == len(many)
    assert task.nr_quanta > 1


class _Request:
    pid = 7


def test_a_line_logged_during_an_rpc_names_its_request_method_peer_and_pid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.configure_logging("json", "info")
    # The peer is captured when the call starts (never read from a context that may be gone).
    call = ("abc", 1, "Touch", "ipv4:127.0.0.1:4242", _Request(), _Context(()), None)
    token = current_call.set(call)
    try:
        structlog.get_logger("vmsim.server").info("inside a call")
    finally:
        current_call.reset(token)
    structlog.get_logger("vmsim.server").info("outside any call")
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["request_id"] == "abc000001"  # the server's prefix, the call number in hex
    assert inside["method"] == "Touch"
    assert inside["peer"] == "ipv4:127.0.0.1:4242"
    assert inside["pid"] == 7
    assert "request_id" not in outside


def test_rpc_durations_land_in_the_first_bucket_whose_bound_is_not_below_them() -> None:
    registry = CollectorRegistry()
    metrics = observability.RpcMetrics()
    registry.register(metrics)
    for seconds in (0.005, 0.3, 100.0):
        metrics.record("Touch", grpc.StatusCode.OK, seconds)
    metrics.record("Touch", grpc.StatusCode.CANCELLED, 0.0)

    def bucket(le: str) -> float | None:
        return registry.get_sample_value(
            "vmsim_rpc_duration_seconds_bucket", {"method": "Touch", "le": le}
        )

    assert bucket("0.005") == 2  # 0.0 and 0.005: a bound holds the durations equal to it
    assert bucket("0.25") == 2
    assert bucket("0.5") == 3
    assert bucket("10.0") == 3
    assert bucket("+Inf") == 4
    total = registry.get_sample_value("vmsim_rpc_duration_seconds_sum", {"method": "Touch"})
    assert total == pytest.approx(100.305)
    calls = {"method": "Touch", "code": "OK"}
    assert registry.get_sample_value("vmsim_rpcs_total", calls) == 3
    assert registry.get_sample_value("vmsim_rpcs_total", {**calls, "code": "CANCELLED"}) == 1


class _Context:
    """The parts of a grpc.aio servicer context the process calls read."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata
        self.metadata_reads = 0

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        self.metadata_reads += 1
        return self.metadata

    def time_remaining(self) -> float:
        return 5.0

    def peer(self) -> str:
        return "ipv4:127.0.0.1:4242"


Behaviour = Callable[[Any, Any], Awaitable[Any]]


def _as_grpc_calls(behaviour: Behaviour, metadata: Any, context: _Context) -> Any:
    """What grpc.aio does with one call, in a task of its own: the service table remembers
    the metadata it found the handler with, then the handler (RpcObserver's wrapping of
    *behaviour*) runs with the call's context."""
    handler = RpcObserver(RpcMetrics()).wrap(
        "/vmsim.v1.ProcessService/Touch", grpc.unary_unary_rpc_method_handler(behaviour)
    )

    async def call() -> Any:
        remember_call_metadata(metadata)
        return await handler.unary_unary(_Request(), context)

    return asyncio.run(call())


def test_the_token_is_read_from_the_metadata_grpc_converted_to_find_the_handler() -> None:
    async def behaviour(request: Any, context: Any) -> str | None:
        return token_of(context)

    context = _Context((("x-vmsim-token", "never read"),))
    found = (("x-vmsim-token", "token-of-this-call"),)
    assert _as_grpc_calls(behaviour, found, context) == "token-of-this-call"
    assert context.metadata_reads == 0  # not converted a second time


def test_a_task_started_by_a_call_reads_its_own_context_not_the_calls_metadata() -> None:
    async def behaviour(request: Any, context: Any) -> tuple[str | None, ...]:
        async def other() -> str | None:
            # A task copies the context variables of the one that made it: the call's
            # metadata must not pass for another call's.
            return token_of(_Context((("x-vmsim-token", "token-of-the-other"),)))

        beside = token_of(_Context((("x-vmsim-token", "token-of-a-context-beside"),)))
        return token_of(context), await asyncio.create_task(other()), beside

    found = (("x-vmsim-token", "token-of-the-call"),)
    assert _as_grpc_calls(behaviour, found, _Context(())) == (
        "token-of-the-call",
        "token-of-the-other",
        "token-of-a-context-beside",
    )


def test_a_thread_the_calls_context_was_copied_to_reads_its_own_context() -> None:
    async def behaviour(request: Any, context: Any) -> str | None:
        # asyncio.to_thread copies the context variables into the worker thread.
        return await asyncio.to_thread(
            token_of, _Context((("x-vmsim-token", "token-of-the-thread"),))
        )

    found = (("x-vmsim-token", "token-of-the-call"),)
    assert _as_grpc_calls(behaviour, found, _Context(())) == "token-of-the-thread"


def test_a_servicer_called_outside_the_service_table_reads_its_context() -> None:
    context = _Context((("x-vmsim-token", "token-of-the-context"),))

    async def call() -> str | None:
        remember_call_metadata((("x-vmsim-token", "left-by-an-earlier-lookup"),))
        return token_of(context)  # no call record: this context is no call's

    assert asyncio.run(call()) == "token-of-the-context"
    assert context.metadata_reads == 1


def _process_service(machine: Machine) -> tuple[ProcessService, SessionTable, TaskRunner]:
    settings = ServerSettings(address="127.0.0.1:0")
    sessions = SessionTable(settings.lease_seconds)
    runner = TaskRunner(machine)
    return ProcessService(machine, sessions, settings, runner), sessions, runner


def test_a_touch_run_at_once_skips_the_chain_of_the_other_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    service, sessions, _runner = _process_service(machine)
    session = sessions.open(pid)
    context = _Context((("x-vmsim-token", session.token),))
    request = process_pb2.TouchRequest(pid=pid, addr=base)

    async def unary(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an idle scheduler's Touch went through _unary")

    monkeypatch.setattr(service, "_unary", unary)
    reply = asyncio.run(service.Touch(request, context))  # type: ignore[arg-type]
    assert reply.result == common_pb2.FAULT_KIND_HIT and reply.cost.total_ns > 0
    assert session.calls_in_flight == 0


def test_a_touch_behind_a_queued_call_still_waits_its_turn_and_holds_the_lease() -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    service, sessions, runner = _process_service(machine)
    session = sessions.open(pid)
    context = _Context((("x-vmsim-token", session.token),))
    request = process_pb2.TouchRequest(pid=pid, addr=base)
    machine.submit("touch", pid, base, False)  # someone else is already on the run queue

    async def touch() -> Any:
        runner.start()
        try:
            call = asyncio.create_task(service.Touch(request, context))  # type: ignore[arg-type]
            await asyncio.sleep(0)  # it is queued: its lease is held while it waits
            assert session.calls_in_flight == 1
            return await asyncio.wait_for(call, 5)
        finally:
            await runner.stop()

    reply = asyncio.run(touch())
    assert reply.result == common_pb2.FAULT_KIND_HIT
    assert session.calls_in_flight == 0


def test_a_touch_with_another_process_token_is_refused_before_it_runs() -> None:
    machine, pid, base = _machine_with_resident_pages(1)
    service, sessions, _runner = _process_service(machine)
    other = sessions.open(machine.spawn("other"))
    sessions.open(pid)
    context = _Context((("x-vmsim-token", other.token),))
    before = machine.vmstat()["pgfault"], machine.sched.nr_finished
    with pytest.raises(PermissionDenied):
        asyncio.run(service.Touch(process_pb2.TouchRequest(pid=pid, addr=base), context))  # type: ignore[arg-type]
    assert (machine.vmstat()["pgfault"], machine.sched.nr_finished) == before


class _Details:
    """grpc's HandlerCallDetails of a Touch carrying *token*."""

    method = "/vmsim.v1.ProcessService/Touch"

    def __init__(self, token: str) -> None:
        self.invocation_metadata = (("x-vmsim-token", token),)


# The server's own Python calls of a resident Touch (the handler lookup, the request's decoding
# check, the observation, the session check, the at-once run): the kernel's are counted apart.
SERVER_CALLS_PER_TOUCH = 10


def _resident_touch_call() -> Callable[[], bytes]:
    """What grpc.aio does with one Touch of a resident page on an idle scheduler: find the
    handler in the service table, decode, run, encode (the handler answers without awaiting)."""
    machine, pid, base = _machine_with_resident_pages(1)
    settings = ServerSettings(address="127.0.0.1:0")
    sessions = SessionTable(settings.lease_seconds)
    limits = ClientLimits(settings)
    table = _ServiceTable(per_call_wrapping(RpcObserver(RpcMetrics()), limits))
    service = ProcessService(machine, sessions, settings, TaskRunner(machine), limits)
    process_pb2_grpc.add_ProcessServiceServicer_to_server(service, table)
    details = _Details(sessions.open(pid).token)
    raw = process_pb2.TouchRequest(pid=pid, addr=base).SerializeToString()
    context = _Context(())

    def handle() -> bytes:
        handler = table.service(details)  # type: ignore[arg-type]
        assert handler is not None
        running = handler.unary_unary(handler.request_deserializer(raw), context)
        try:
            running.send(None)
        except StopIteration as done:  # answered without awaiting anything
            return handler.response_serializer(done.value)  # type: ignore[no-any-return]
        raise AssertionError("the Touch awaited")

    return handle


def test_a_resident_touch_costs_the_server_10_python_calls_besides_the_kernels() -> None:
    handle = _resident_touch_call()
    server: list[str] = []
    kernel: list[str] = []

    def count(frame: Any, event: str, _arg: Any) -> None:
        code = frame.f_code
        if event != "call" or code.co_filename == __file__:  # handle(), and _Context for grpc's
            return
        (kernel if "/vmsim_kernel/" in code.co_filename else server).append(code.co_name)

    async def touch() -> bytes:
        handle()  # the method's handler is wrapped at its first call
        sys.setprofile(count)
        try:
            return handle()
        finally:
            sys.setprofile(None)

    reply = process_pb2.TouchResponse.FromString(asyncio.run(touch()))
    assert reply.result == common_pb2.FAULT_KIND_HIT and reply.cost.total_ns > 0
    assert len(server) == SERVER_CALLS_PER_TOUCH, server
    assert "touch_one" in kernel


def test_a_touchs_task_is_freed_when_it_ends_not_left_to_the_garbage_collector() -> None:
    # A call's task that sits in a reference cycle outlives it until a collection finds it:
    # in a burst of 1,000 Touches that was ~6 objects a call, and twice the young
    # collections of a plain grpc.aio server (bench/bench_service.py --section burst).
    handle = _resident_touch_call()

    async def one_call() -> bytes:
        return handle()

    async def calls() -> list[Any]:
        handle()  # the method's handler is wrapped at its first call
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage
        try:
            for _ in range(20):
                await asyncio.create_task(one_call())  # a task per call, as grpc.aio runs it
            gc.collect()
            return [o for o in gc.garbage if isinstance(o, asyncio.Task)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()

    assert asyncio.run(calls()) == []


def test_a_unary_calls_log_context_ends_with_its_handler_not_with_the_task() -> None:
    seen: list[Any] = []

    async def behaviour(request: Any, context: Any) -> str:
        seen.append(current_call.get())
        return "reply"

    wrapped = RpcObserver(RpcMetrics()).wrap(
        "/vmsim.v1.ProcessService/Touch", grpc.unary_unary_rpc_method_handler(behaviour)
    )

    async def call() -> tuple[str, Any]:
        reply = await wrapped.unary_unary(_Request(), _Context(()))
        # grpc's task goes on to send the reply: the call's objects are no longer held by it
        return reply, current_call.get()

    reply, after = asyncio.run(call())
    assert reply == "reply" and after is None
    assert seen[0][2:4] == ("Touch", "ipv4:127.0.0.1:4242")  # named the call while it ran
