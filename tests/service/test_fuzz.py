"""A time-bounded fuzzer over every RPC of every service, with boundary values.

Requests are generated from the message descriptors themselves (every field of every
request type, nested messages and oneofs included), so a new RPC or field is fuzzed without
touching this file. Fields with a meaning get values that reach deep: pids of the fuzzer's
own process and of a bystander, addresses inside and around its mapping, sizes around page
and message boundaries. After every call: no INTERNAL or UNKNOWN status, the server still
answers; every few calls: the kernel's invariants hold and the bystander's bytes are intact.
The status counts are printed at the end (run with -s to see them).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from tests.service.conftest import ADMIN_TOKEN

from vmsim.endpoint import stub_class
from vmsim_kernel import ProcessState
from vmsim_proto.v1 import (
    admin_pb2,
    inspect_pb2,
    kernel_pb2,
    process_pb2,
)

FUZZ_EXAMPLES = 1000
FUZZ_BUDGET_SECONDS = 16.0  # the whole fuzz run, whatever the machine's speed
CHECK_EVERY = 25
CALL_TIMEOUT = 3.0
PAGE = 4096
REGION_PAGES = 64
Field = pb_descriptor.FieldDescriptor

U32 = [0, 1, 2, 4095, 4096, 4097, 0x7FFFFFFF, 0x80000000, 0xBFFFF000, 0xC0000000, 0xFFFFFFFF]
I32 = [0, 1, -1, -1000, 1000, 1001, -(1 << 31), (1 << 31) - 1]
U64 = [0, 1, (1 << 32) - 1, 1 << 32, (1 << 63) - 1, (1 << 64) - 1]
I64 = [0, -1, 1, -(1 << 63), (1 << 63) - 1]
STRINGS = [
    "",
    "x",
    "linux",
    "lru",
    "opt",
    "meminfo",
    "__KERNEL_DS:0xc0100000",
    "0x7b:0xb7000000",
    "0x10:0xffffffff",
    "\x00\x01",
    "é" * 20,
    "a" * 5000,
]

# The client's name of each service (vmsim.endpoint.stub_class's) -> the service's descriptor.
SERVICES: dict[str, Any] = {
    "process": process_pb2.DESCRIPTOR.services_by_name["ProcessService"],
    "inspect": inspect_pb2.DESCRIPTOR.services_by_name["InspectService"],
    "admin": admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
    "kernel": kernel_pb2.DESCRIPTOR.services_by_name["KernelService"],
}
METHODS = [(service, method) for service in SERVICES.values() for method in service.methods]


def service_stubs(channel: grpc.Channel) -> dict[str, Any]:
    """A stub of every fuzzed service on *channel*, by the service's proto name."""
    return {service.name: stub_class(name)(channel) for name, service in SERVICES.items()}


@dataclass
class Target:
    """The fuzzed server, the fuzzer's own process and a bystander it must never affect."""

    server: Any  # conftest.ServerThread
    channel: grpc.Channel
    stubs: dict[str, Any]
    pid: int = 0
    token: str = ""
    region: int = 0
    tid: int = 0
    session: int = 0
    bystander: int = 0
    bystander_addr: int = 0
    kernel_object: int = 0  # a kmalloc'ed page that fuzzed kernel writes are confined to
    examples: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def machine(self) -> Any:
        assert self.server.running is not None
        return self.server.running.machine

    def spawn_own(self) -> None:
        process = self.stubs["ProcessService"]
        reply = process.Spawn(process_pb2.SpawnRequest(name="fuzz"), timeout=CALL_TIMEOUT)
        self.pid, self.token = reply.pid, reply.token
        meta = (("x-vmsim-token", self.token),)
        request = process_pb2.MmapRequest(pid=self.pid, length=REGION_PAGES * PAGE, prot=3)
        request.flags = 0x22
        self.region = process.Mmap(request, metadata=meta, timeout=CALL_TIMEOUT).addr
        self.tid = process.SpawnThread(
            process_pb2.SpawnThreadRequest(pid=self.pid), metadata=meta, timeout=CALL_TIMEOUT
        ).tid

    def own_alive(self) -> bool:
        def alive() -> bool:
            task = self.machine.tasks.get(self.pid)
            return task is not None and task.state is ProcessState.RUNNING

        return bool(self.server.call(alive))

    def metadata_for(self, service: str, method: str) -> tuple[tuple[str, str], ...]:
        meta: tuple[tuple[str, str], ...] = (("x-vmsim-token", self.token),)
        if service == "KernelService" or (service, method) == ("AdminService", "ResetLockStat"):
            meta += (("x-vmsim-admin-token", ADMIN_TOKEN),)
        return meta


BYSTANDER_BYTES = bytes(range(256)) * 64  # 4 pages


@pytest.fixture(scope="module")
def target(start_module_server: Callable[..., Any]) -> Iterator[Target]:
    server = start_module_server(
        swap_bytes=32 << 20, log_level="error", max_batch=100_000, max_message_bytes=4 << 20
    )
    channel = grpc.insecure_channel(server.address)
    stubs = service_stubs(channel)
    fuzz = Target(server, channel, stubs)
    fuzz.spawn_own()
    machine = fuzz.machine
    # OOM_SCORE_ADJ_MIN: the fuzzer holds the admin token, so its kmalloc/vmalloc and shm
    # objects may fill memory no process owns, and then the OOM killer may rightly pick the
    # bystander (Linux would too); the bystander is about isolation, so it is never the victim.
    fuzz.bystander = server.call(lambda: machine.spawn("bystander", oom_score_adj=-1000))
    fuzz.bystander_addr = server.call(
        lambda: machine.mmap(fuzz.bystander, 0, len(BYSTANDER_BYTES), 3, 0x22)
    )
    server.call(lambda: machine.write(fuzz.bystander, fuzz.bystander_addr, BYSTANDER_BYTES))
    fuzz.session = (
        stubs["KernelService"]
        .OpenSession(
            kernel_pb2.OpenSessionRequest(),
            metadata=(("x-vmsim-admin-token", ADMIN_TOKEN),),
            timeout=CALL_TIMEOUT,
        )
        .session
    )
    admin = (("x-vmsim-admin-token", ADMIN_TOKEN),)
    kernel = stubs["KernelService"]
    holder = kernel.OpenSession(kernel_pb2.OpenSessionRequest(), metadata=admin, timeout=5)
    fuzz.kernel_object = kernel.Kmalloc(
        kernel_pb2.KmallocRequest(session=holder.session, size=PAGE), metadata=admin, timeout=5
    ).addr
    yield fuzz
    channel.close()


# ---- request generation from descriptors --------------------------------------------------------
def _scalar(fd: Any, target: Target) -> st.SearchStrategy[Any]:
    name = fd.name
    if name in ("pid", "owner") and fd.type != Field.TYPE_STRING:
        limit = (
            (1 << 32) - 1 if fd.type in (Field.TYPE_UINT32, Field.TYPE_FIXED32) else (1 << 31) - 1
        )
        others = st.sampled_from([target.bystander, 0, 1, 99999, limit])
        return st.one_of(st.just(target.pid), st.just(target.pid), st.just(target.pid), others)
    if name == "tid":
        return st.sampled_from([0, target.tid, target.pid, target.bystander, 12345])
    if name == "session":
        return st.sampled_from([target.session, target.session, 0, 7, (1 << 31) - 1])
    if name in ("addr", "addrs", "start", "vaddr", "paddr") or name.endswith("_addr"):
        inside = st.integers(0, REGION_PAGES * PAGE - 1).map(lambda off: target.region + off)
        return st.one_of(inside, inside, st.sampled_from(U32))
    kind = fd.type
    if kind in (Field.TYPE_UINT32, Field.TYPE_FIXED32):
        return st.one_of(st.sampled_from(U32), st.integers(0, (1 << 32) - 1))
    if kind in (Field.TYPE_INT32, Field.TYPE_SINT32, Field.TYPE_SFIXED32):
        return st.one_of(st.sampled_from(I32), st.integers(-(1 << 31), (1 << 31) - 1))
    if kind in (Field.TYPE_UINT64, Field.TYPE_FIXED64):
        return st.one_of(st.sampled_from(U64 + U32), st.integers(0, (1 << 64) - 1))
    if kind in (Field.TYPE_INT64, Field.TYPE_SINT64, Field.TYPE_SFIXED64):
        return st.one_of(st.sampled_from(I64 + I32), st.integers(-(1 << 63), (1 << 63) - 1))
    if kind == Field.TYPE_BOOL:
        return st.booleans()
    if kind in (Field.TYPE_DOUBLE, Field.TYPE_FLOAT):
        return st.sampled_from([0.0, -1.0, 1e-9, 1e9, math.inf, -math.inf, math.nan])
    if kind == Field.TYPE_STRING:
        return st.one_of(st.sampled_from(STRINGS), st.text(max_size=16))
    if kind == Field.TYPE_BYTES:
        return st.one_of(
            st.binary(max_size=64), st.sampled_from([b"", bytes(PAGE + 1), b"\xff" * 70_000])
        )
    if kind == Field.TYPE_ENUM:
        values = [value.number for value in fd.enum_type.values]
        return st.sampled_from([*values, -1, 99, (1 << 31) - 1])
    raise AssertionError(f"no strategy for field {fd.full_name} of type {kind}")


def message_strategy(descriptor: Any, target: Target, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of *descriptor*: any subset of fields (one member per oneof), boundary-heavy."""
    cls = GetMessageClass(descriptor)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        chosen_oneofs = {
            oneof.name: draw(st.sampled_from([None, *[f.name for f in oneof.fields]]))
            for oneof in descriptor.oneofs
        }
        for fd in descriptor.fields:
            oneof = fd.containing_oneof
            if oneof is not None and chosen_oneofs[oneof.name] != fd.name:
                continue
            # Who the call is for is mostly given, so calls get past the ownership check.
            always = fd.name in ("pid", "session")
            if oneof is None and not always and not draw(st.booleans()):
                continue
            if fd.type == Field.TYPE_MESSAGE:
                if depth >= 2:
                    continue
                inner = message_strategy(fd.message_type, target, depth + 1)
                if fd.is_repeated:
                    for item in draw(st.lists(inner, max_size=3)):
                        getattr(message, fd.name).add().CopyFrom(item)
                else:
                    getattr(message, fd.name).CopyFrom(draw(inner))
            elif fd.is_repeated:
                getattr(message, fd.name).extend(draw(st.lists(_scalar(fd, target), max_size=40)))
            else:
                setattr(message, fd.name, draw(_scalar(fd, target)))
        return message

    return build()


# ---- one call -----------------------------------------------------------------------------------
def invoke(target: Target, service: Any, method: Any, request: Message) -> list[str]:
    """Make the call; the status codes it produced (a Run stream's per-operation ones too)."""
    stub = target.stubs[service.name]
    meta = target.metadata_for(service.name, method.name)
    call = getattr(stub, method.name)
    codes = []
    try:
        if method.client_streaming:
            replies = call(iter([request]), metadata=meta, timeout=CALL_TIMEOUT)
            for reply in replies:
                if reply.WhichOneof("result") == "error":
                    codes.append(_code_name(reply.error.code))
        elif method.server_streaming:
            for _ in call(request, metadata=meta, timeout=0.2):
                pass
        else:
            call(request, metadata=meta, timeout=CALL_TIMEOUT)
        codes.append("OK")
    except grpc.RpcError as error:
        codes.append(error.code().name)
    return codes


def _code_name(value: int) -> str:
    """The name of a google.rpc.Status code number."""
    return next(code.name for code in grpc.StatusCode if code.value[0] == value)


def _own_fields(method: Any, target: Target) -> dict[str, int]:
    """The fuzzer's own pid and kernel session, for the fields a request has of them."""
    names = {fd.name for fd in method.input_type.fields}
    own = {"pid": target.pid, "session": target.session}
    return {name: value for name, value in own.items() if name in names}


def check_isolation_and_invariants(target: Target) -> None:
    machine = target.machine
    target.server.call(machine.check_invariants)
    info = target.server.call(lambda: machine.process(target.bystander))
    assert info.state is ProcessState.RUNNING, info.kill_reason
    data = target.server.call(
        lambda: machine.read(target.bystander, target.bystander_addr, len(BYSTANDER_BYTES))
    )
    assert data == BYSTANDER_BYTES


@dataclass
class Findings:
    """What one fuzz run saw: status codes per method and the calls that went wrong."""

    status_counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, call: str, service: Any, method: Any, codes: list[str]) -> None:
        self.status_counts.update(f"{service.name}.{method.name}:{code}" for code in codes)
        if {"INTERNAL", "UNKNOWN"} & set(codes):
            self.failures.append(f"{call} -> {codes}")


def fuzz_every_rpc(target: Target, findings: Findings) -> None:
    """Up to FUZZ_EXAMPLES generated calls within FUZZ_BUDGET_SECONDS.

    An INTERNAL or UNKNOWN status is collected (up to 20), not raised inside hypothesis: the
    server's state moves on between examples, so a failing example could not be replayed.
    Anything else that goes wrong (a client-side exception, a broken invariant, a harmed
    bystander) fails the example at once, with the call that led to it noted.
    """

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        # Generation only: with the server's state moving on, replaying or shrinking means nothing.
        phases=[Phase.generate],
    )
    @given(data=st.data())
    def one_call(data: st.DataObject) -> None:
        service, method = data.draw(st.sampled_from(METHODS), label="rpc")
        request = data.draw(message_strategy(method.input_type, target), label="request")
        if method.name == "KernelWrite":
            # A kernel write with the admin token can change any byte of RAM, as /dev/mem can;
            # confined to the fuzzer's own object, it cannot be blamed for what it corrupts.
            request.addr = target.kernel_object + request.addr % (PAGE - 64)
            request.data = request.data[:64]
        # Checked after the draws, so every example draws alike (hypothesis insists on it).
        if time.monotonic() - target.started > FUZZ_BUDGET_SECONDS or len(findings.failures) >= 20:
            return  # the time budget is spent (or enough found): the remaining examples are no-ops
        call = f"{service.name}.{method.name}({' '.join(str(request).split())})"
        note(f"the call: {call}")
        findings.record(call, service, method, invoke(target, service, method, request))
        target.examples += 1
        if not target.own_alive():
            target.spawn_own()  # a fuzzed touch may well have been a SIGSEGV
        if target.examples % CHECK_EVERY == 0:
            check_isolation_and_invariants(target)

    one_call()


@pytest.mark.slow
def test_every_rpc_with_boundary_values_gives_no_internal_error(target: Target) -> None:
    findings = Findings()
    fuzz_every_rpc(target, findings)
    health = health_pb2_grpc.HealthStub(target.channel)  # type: ignore[no-untyped-call]
    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    for service, method in METHODS:  # a slow machine may have spent its budget early
        if not any(
            key.startswith(f"{service.name}.{method.name}:") for key in findings.status_counts
        ):
            request = GetMessageClass(method.input_type)(**_own_fields(method, target))
            call = f"{service.name}.{method.name}({request})"
            findings.record(call, service, method, invoke(target, service, method, request))
    check_isolation_and_invariants(target)
    by_code: Counter[str] = Counter()
    for key, count in findings.status_counts.items():
        by_code[key.rsplit(":", 1)[1]] += count
    methods_called = {key.rsplit(":", 1)[0] for key in findings.status_counts}
    print(f"\nfuzz: {target.examples} calls in {time.monotonic() - target.started:.1f} s")
    print("fuzz status codes: " + ", ".join(f"{c}={n}" for c, n in by_code.most_common()))
    print(f"fuzz methods reached: {len(methods_called)} of {len(METHODS)}")
    assert not findings.failures, "\n".join(findings.failures[:20])
    assert target.examples > 100
    assert "INTERNAL" not in by_code and "UNKNOWN" not in by_code
    assert len(methods_called) == len(METHODS)
