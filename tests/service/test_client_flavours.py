"""The sync and asyncio clients are one API in two flavours: the same public names, methods,
properties and instance attributes, the same parameters (names, kinds, defaults, types), each
asyncio method awaited where its sync twin returns; what only one flavour has is listed with why."""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from tests.service.conftest import ADMIN_TOKEN

import vmsim
import vmsim.aio
import vmsim.client
from vmsim import PAGE_SIZE, MiB, calls


def twin_name(sync_name: str) -> str:
    """The asyncio flavour's name for a public name of the sync client: AsyncX for class X,
    the same name for a module function (vmsim.connect -> vmsim.aio.connect)."""
    return f"Async{sync_name}" if isinstance(getattr(vmsim, sync_name), type) else sync_name


# Each public class of the sync client and its asyncio twin, from the two modules' __all__.
TWINS: list[tuple[type, type]] = [
    (getattr(vmsim.client, name), getattr(vmsim.aio, twin_name(name)))
    for name in vmsim.client.__all__
    if isinstance(getattr(vmsim.client, name), type)
]
# What only one flavour may have, and why. Nothing else may differ.
ONE_FLAVOUR_ONLY = {
    # AsyncProcess spawns when awaited (`await proc.start()` or `async with`): its __init__
    # cannot await, where Process.__init__ spawns at once.
    (vmsim.aio.AsyncProcess, "start"),
}
# Methods of the asyncio flavour that return at once instead of being awaited: they make a
# handle and send nothing (stream() opens its call object; the first send writes).
NOT_AWAITED = {"stream"}


def public_members(cls: type) -> dict[str, Any]:
    """Public methods and properties of *cls*, as defined (a classmethod stays one); the
    context-manager dunders differ by design and have a test of their own."""
    return {
        name: inspect.getattr_static(cls, name)
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }


def parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any, str]]:
    """(name, kind, default, annotation) of every parameter: what a caller relies on. The
    annotation is read with a class's Async prefix dropped, so `AsyncProcess` is `Process`."""
    return [
        (p.name, p.kind, p.default, re.sub(r"\bAsync(?=[A-Z])", "", str(p.annotation)))
        for p in inspect.signature(function).parameters.values()
    ]


def shape(member: Any) -> tuple[str, str]:
    """How a member is defined (a property, a classmethod, a method) and how a caller takes
    its result: it returns, yields, is awaited or is iterated with `async for`."""
    if isinstance(member, property):
        return "property", "read"
    defined = "classmethod" if isinstance(member, classmethod) else "method"
    function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    if inspect.isasyncgenfunction(function):
        return defined, "async for"
    if inspect.isgeneratorfunction(function):
        return defined, "for"
    if inspect.iscoroutinefunction(function):
        return defined, "await"
    return defined, "return"


def test_every_public_name_of_the_sync_client_has_its_asyncio_twin() -> None:
    assert sorted(twin_name(name) for name in vmsim.client.__all__) == sorted(vmsim.aio.__all__)


# The handles of `vmsim` with no asyncio twin, and why: each is used from one script at a time
# and waits for its answer anyway, so an awaited copy would only be a second API to keep.
SYNC_ONLY = {
    "Kernel": "a kernel session: a teaching tool driven step by step, from a script or the CLI",
    "Exercises": "practice questions: one student, one question at a time (or vmsim.offline)",
    "Lab": "a student's graded lab: join, read questions, submit, by hand or in a notebook",
}


def test_every_handle_of_vmsim_has_an_asyncio_twin_or_a_reason_not_to() -> None:
    """A handle is a public class that closes (a channel, a process, a session)."""
    handles = {
        name
        for name in vmsim.__all__
        if isinstance(getattr(vmsim, name), type) and hasattr(getattr(vmsim, name), "close")
    }
    twinned = {name for name in handles if twin_name(name) in vmsim.aio.__all__}
    assert sorted(handles - twinned) == sorted(SYNC_ONLY)


@pytest.mark.parametrize(("sync", "aio"), TWINS, ids=lambda cls: cls.__name__)
def test_every_public_member_exists_in_both_flavours(sync: type, aio: type) -> None:
    sync_names = set(public_members(sync)) - {n for c, n in ONE_FLAVOUR_ONLY if c is sync}
    aio_names = set(public_members(aio)) - {n for c, n in ONE_FLAVOUR_ONLY if c is aio}
    assert sorted(sync_names - aio_names) == [], f"missing on {aio.__name__}"
    assert sorted(aio_names - sync_names) == [], f"missing on {sync.__name__}"


@pytest.mark.parametrize(("sync", "aio"), TWINS, ids=lambda cls: cls.__name__)
def test_twin_members_take_the_same_parameters(sync: type, aio: type) -> None:
    sync_members, aio_members = public_members(sync), public_members(aio)
    differing = {}
    for name in ["__init__", *sorted(set(sync_members) & set(aio_members))]:
        one, other = getattr(sync, name), getattr(aio, name)
        if isinstance(one, property) != isinstance(other, property):
            differing[name] = "a property in one flavour only"
        elif not isinstance(one, property) and parameters(one) != parameters(other):
            differing[name] = f"{parameters(one)} != {parameters(other)}"
    assert differing == {}


# How the asyncio twin of a sync member is taken: what returns is awaited, what yields is
# iterated with `async for`, a property is read (NOT_AWAITED return in both).
ASYNC_USE = {"return": "await", "for": "async for", "read": "read"}


@pytest.mark.parametrize(("sync", "aio"), TWINS, ids=lambda cls: cls.__name__)
def test_twin_members_are_defined_alike_and_the_asyncio_one_is_awaited(
    sync: type, aio: type
) -> None:
    sync_members, aio_members = public_members(sync), public_members(aio)
    differing = {}
    for name in sorted(set(sync_members) & set(aio_members)):
        defined, use = shape(sync_members[name])
        expected = (defined, use if name in NOT_AWAITED else ASYNC_USE[use])
        if shape(aio_members[name]) != expected:
            differing[name] = f"{shape(sync_members[name])} / {shape(aio_members[name])}"
    assert differing == {}


@pytest.mark.parametrize(("sync", "aio"), TWINS, ids=lambda cls: cls.__name__)
def test_each_flavour_closes_in_its_own_with_statement(sync: type, aio: type) -> None:
    """The one difference the flavours must have: `with` for the sync, `async with` for the
    asyncio twin, never the other."""
    assert hasattr(sync, "__enter__") and hasattr(sync, "__exit__")
    assert not hasattr(sync, "__aenter__")
    assert inspect.iscoroutinefunction(aio.__aenter__)
    assert inspect.iscoroutinefunction(aio.__aexit__)
    assert not hasattr(aio, "__enter__")


def public_attributes(handle: object) -> set[str]:
    """The public attributes an instance sets (pid, token ...), beside its class's members."""
    return {name for name in vars(handle) if not name.startswith("_")}


def test_live_twins_carry_the_same_public_attributes(server_address: str) -> None:
    """What a script reads off a handle (proc.pid, proc.token ...) is the same in both."""
    with (
        vmsim.connect(server_address) as proc,
        vmsim.inspect(server_address) as inspector,
        vmsim.Admin(server_address, ADMIN_TOKEN) as admin,
        proc.fork() as child,
        child.stream() as stream,
    ):
        sync = [public_attributes(h) for h in (proc, inspector, admin, stream)]

    async def asyncio_flavour() -> list[set[str]]:
        async with (
            vmsim.aio.connect(server_address) as proc,
            vmsim.aio.inspect(server_address) as inspector,
            vmsim.aio.AsyncAdmin(server_address, ADMIN_TOKEN) as admin,
            await proc.fork() as child,
            child.stream() as stream,
        ):
            return [public_attributes(h) for h in (proc, inspector, admin, stream)]

    assert sync == asyncio.run(asyncio_flavour())
    assert "pid" in sync[0] and "token" in sync[0]


# Where each call description of vmsim.calls is a method: (sync class, its method, whether the
# method supplies the process's own pid). An empty list: no method, and why.
PROCESS_CALLS = [
    "mlock",
    "munlock",
    "shm_create",
    "shm_map",
    "shm_unlink",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "brk",
    "madvise",
    "touch",
    "touch_many",
    "read",
    "write",
    "translate",
    "status",
    "maps",
    "smaps",
    "smaps_rollup",
    "spawn_thread",
    "exit_thread",
    "unlink",
    "msync",
    "sync",
]
INSPECTOR_CALLS = [
    "shm",
    "files",
    "open_files",
    "meminfo",
    "vmstat",
    "layout",
    "zoneinfo",
    "buddyinfo",
    "pagetypeinfo",
    "swaps",
    "processes",
    "maps",
    "smaps",
    "smaps_rollup",
    "status",
    "translation",
    "lock_stat",
    "cpu_times",
    "frame_map",
    "replay",
    "miss_ratio_curve",
]
CALL_METHODS: dict[str, list[tuple[type, str, bool]]] = {
    "spawn": [],  # made by connect() / AsyncProcess.start
    "heartbeat": [],  # made by the keepalive
    "on_thread": [],  # wraps another description, for Process.call
    "exit_process": [(vmsim.Process, "exit", True)],
    "fork": [(vmsim.Process, "fork", True)],
    "kill": [(vmsim.Admin, "kill", False)],
    "reset_lock_stat": [(vmsim.Admin, "reset_lock_stat", False)],
    "set_sysctl": [(vmsim.Admin, "set_sysctl", False)],
    "swapon": [(vmsim.Admin, "swapon", False)],
    "swapoff": [(vmsim.Admin, "swapoff", False)],
    "sysctl": [(vmsim.Inspector, "sysctl", False)],
    "open_file": [(vmsim.Process, "open", True)],
}
# The calls on a descriptor: methods of the open File (its process's pid and its fd are its own).
FILE_CALLS = {
    "read_file": ["read", "pread"],
    "write_file": ["write", "pwrite"],
    "lseek": ["lseek"],
    "ftruncate": ["ftruncate"],
    "fsync": ["fsync"],
    "mmap_file": ["mmap"],
    "close_file": ["close"],
}
for _name in FILE_CALLS:
    CALL_METHODS[_name] = []  # checked by test_a_file_call_is_a_method_of_both_file_flavours
for _name in PROCESS_CALLS:
    CALL_METHODS.setdefault(_name, []).append((vmsim.Process, _name, True))
for _name in INSPECTOR_CALLS:
    CALL_METHODS.setdefault(_name, []).append((vmsim.Inspector, _name, False))
ASYNC_TWIN = dict(TWINS)


def call_descriptions() -> dict[str, Callable[..., Any]]:
    """The functions of vmsim.calls that build one Call."""
    return {
        name: function
        for name, function in inspect.getmembers(calls, inspect.isfunction)
        if str(inspect.signature(function).return_annotation).startswith("Call[")
    }


def test_every_call_description_has_its_place_in_the_table() -> None:
    assert sorted(call_descriptions()) == sorted(CALL_METHODS)


@pytest.mark.parametrize(("name", "method"), [(n, m) for n, ms in FILE_CALLS.items() for m in ms])
def test_a_file_call_is_a_method_of_both_file_flavours(name: str, method: str) -> None:
    """File.read(length) is calls.read_file(pid, fd, length); pread adds the offset read
    leaves out (None: from f_pos)."""
    described = [
        p.name
        for p in inspect.signature(call_descriptions()[name]).parameters.values()
        if p.name not in ("pid", "fd")
    ]
    for cls in (vmsim.File, vmsim.aio.AsyncFile):
        taken = [p.name for p in inspect.signature(getattr(cls, method)).parameters.values()]
        assert taken[1:] in (described, [d for d in described if d != "offset"]), cls.__name__


@pytest.mark.parametrize(
    ("name", "place"),
    [(name, place) for name, places in sorted(CALL_METHODS.items()) for place in places],
    ids=lambda value: value if isinstance(value, str) else f"{value[0].__name__}.{value[1]}",
)
def test_a_call_description_is_a_method_of_both_flavours_with_its_parameters(
    name: str, place: tuple[type, str, bool]
) -> None:
    sync, method, own_pid = place
    described = [
        p.name
        for p in inspect.signature(call_descriptions()[name]).parameters.values()
        # A report's paging cursor is the client's own business: maps/smaps read every part.
        if p.name != "start_addr"
    ]
    if own_pid:  # Process.mmap(length, ...) is calls.mmap(pid, length, ...) for its own pid
        described.remove("pid")
    for cls in (sync, ASYNC_TWIN[sync]):
        taken = [p.name for p in inspect.signature(getattr(cls, method)).parameters.values()]
        # The method may add a per-call timeout after the description's parameters.
        assert taken[1:] in (described, [*described, "timeout"]), cls.__name__


@pytest.mark.parametrize("name", ["connect", "inspect"])
def test_module_functions_take_the_same_parameters(name: str) -> None:
    assert parameters(getattr(vmsim, name)) == parameters(getattr(vmsim.aio, name))


def test_explicit_zero_timeout_expires_at_once_in_the_sync_flavour(server_address: str) -> None:
    with vmsim.connect(server_address, timeout=30) as proc:
        a = proc.mmap(MiB)
        with pytest.raises(vmsim.DeadlineExceeded):
            proc.touch_many(range(a, a + MiB, PAGE_SIZE), timeout=0)
        with pytest.raises(vmsim.DeadlineExceeded):
            proc.call(calls.touch(proc.pid, a), timeout=0)
        assert proc.touch(a) in (vmsim.FaultKind.HIT, vmsim.FaultKind.MINOR)  # still usable


def test_explicit_zero_timeout_expires_at_once_in_the_asyncio_flavour(server_address: str) -> None:
    async def scenario() -> None:
        async with vmsim.aio.connect(server_address, timeout=30) as proc:
            a = await proc.mmap(MiB)
            with pytest.raises(vmsim.DeadlineExceeded):
                await proc.touch_many(range(a, a + MiB, PAGE_SIZE), timeout=0)
            with pytest.raises(vmsim.DeadlineExceeded):
                await proc.call(calls.touch(proc.pid, a), timeout=0)
            assert await proc.touch(a) in (vmsim.FaultKind.HIT, vmsim.FaultKind.MINOR)

    asyncio.run(scenario())


def test_asyncio_threads_costs_layout_and_lock_stat_reset(server_address: str) -> None:
    async def scenario() -> None:
        async with vmsim.aio.connect(server_address, name="threads") as proc:
            assert proc.last_cost is None
            a = await proc.mmap(MiB)
            await proc.touch(a, write=True)
            assert proc.last_cost is not None and proc.last_cost.system_ns > 0  # a minor fault
            tid = await proc.spawn_thread()
            assert tid != proc.pid
            assert await proc.call(calls.on_thread(calls.touch(proc.pid, a), tid)) == "hit"
            assert (await proc.status()).nr_threads == 2
            await proc.exit_thread(tid)
            assert (await proc.status()).nr_threads == 1
            async with vmsim.aio.inspect(server_address) as inspector:
                layout = await inspector.layout()
                assert layout["VMALLOC_START"] < layout["VMALLOC_END"]
                walk = await inspector.translation(proc.pid, 0, logical=f"0x7b:{a:#x}")
                assert walk.linear == a and "__USER_DS" in walk.text
                assert sum(c.acquisitions for c in (await inspector.lock_stat()).items) > 0
                async with vmsim.aio.AsyncAdmin(server_address, ADMIN_TOKEN) as admin:
                    await admin.reset_lock_stat()
                assert sum(c.acquisitions for c in (await inspector.lock_stat()).items) == 0

    asyncio.run(scenario())


def test_sync_process_over_stream_carries_its_calls_on_one_run_stream(
    server_address: str,
) -> None:
    with vmsim.connect(server_address, name="streamed", over_stream=True) as proc:
        a = proc.mmap(MiB)
        assert proc.write(a, b"over") == 4
        assert proc.read(a, 4) == b"over"
        assert proc.touch_many(range(a, a + MiB, PAGE_SIZE)).touched == MiB // PAGE_SIZE
        assert proc.last_cost is not None  # read from the stream's replies too
        pid = proc.pid
    with vmsim.inspect(server_address) as inspector:
        assert pid not in [p.pid for p in inspector.processes()]  # closing ended it


# What each twin method is given in the test below: every parameter, none left at its
# default, so a twin that drops or swaps one sends a different request.
SAMPLE_ARGUMENTS: dict[str, Any] = {
    "priority": 3,
    "addr": 0x40001000,
    "length": 3 * PAGE_SIZE,
    "prot": 1,
    "flags": 0x22,
    "advice": 4,
    "write": True,
    "addrs": [0x40001000, 0x40002000],
    "data": b"twin",
    "name": "/board",
    "size": 2 * PAGE_SIZE,
    "mode": 0o640,
    "tid": 3,
    "pid": 7,
    "logical": "0x7b:0x1000",
    "all": True,
    "trace": [1, 2, 3, 1],
    "frames": 2,
    "policy": "fifo",
    "seed": 5,
    "addresses": True,
    "steps": True,
    "counts_only": True,
    "value": "10",
    "reason": "twin test",
    "timeout": 2.5,
    "call": calls.touch(7, 0x40001000),
    "path": "/data",
    "offset": 2 * PAGE_SIZE,
    "whence": 2,
    "old_address": 0x40000000,
    "old_size": 2 * PAGE_SIZE,
    "new_size": 4 * PAGE_SIZE,
    "new_address": 0x50000000,
}
# Members that are not one or more unary calls of the handle's endpoint, and why.
NOT_UNARY = {
    "attach": "opens a connection of its own",
    "fork": "opens the child's connection",
    "stream": "opens a Run stream",
    "run": "runs on a Run stream",
    "events": "a server-streaming call",
    "close": "closes the channel",
    "send": "writes on a Run stream",
    "receive": "reads a Run stream",
    "free_kb": "sums two reports' figures (the recording endpoint returns none to sum)",
}


class RecordingEndpoint:
    """Stands in for a handle's endpoint: records each call it is asked to make."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str, Any, float | None]] = []

    def invoke(self, call: Any, timeout: float | None = None) -> Any:
        self.made.append((call.service, call.method, call.request, timeout))
        return vmsim.Listing([], "")  # the last (only) part of a report; ignored by the rest

    async def close(self) -> None:
        """Nothing to close."""


class AwaitedRecordingEndpoint(RecordingEndpoint):
    async def invoke(self, call: Any, timeout: float | None = None) -> Any:  # type: ignore[override]
        return super().invoke(call, timeout)


def handle_of_process_7(cls: type, endpoint: RecordingEndpoint) -> Any:
    """A handle of class *cls* for process 7 whose calls go to *endpoint*; a File is
    descriptor 4 of that process's handle in the same flavour."""
    if cls in (vmsim.File, vmsim.aio.AsyncFile):
        owner = vmsim.Process if cls is vmsim.File else vmsim.aio.AsyncProcess
        handle = cls.__new__(cls)
        handle.process, handle.fd, handle.path = handle_of_process_7(owner, endpoint), 4, "/data"
        handle.closed = False
        return handle
    handle = cls.__new__(cls)
    handle._endpoint = endpoint
    handle.pid, handle._run_stream, handle._over_stream = 7, None, False
    handle._closed = threading.Event()  # the sync Process's exit sets it
    handle._keepalive = None  # the asyncio one's exit stops it
    return handle


def calls_made(cls: type, name: str, endpoint: RecordingEndpoint) -> list[Any]:
    """The calls `cls(...).name(SAMPLE_ARGUMENTS...)` makes, on a handle of process 7."""
    method = getattr(handle_of_process_7(cls, endpoint), name)
    arguments = {
        p.name: SAMPLE_ARGUMENTS[p.name] for p in inspect.signature(method).parameters.values()
    }
    outcome = method(**arguments)
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)
    return endpoint.made


@pytest.mark.parametrize(
    ("sync", "aio", "name"),
    [
        (sync, aio, name)
        for sync, aio in TWINS
        if sync is not vmsim.OperationStream  # its calls are a Run stream's messages
        for name, member in sorted(public_members(sync).items())
        if name not in NOT_UNARY and not isinstance(member, property)
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_twin_methods_make_the_same_calls_with_the_same_requests(
    sync: type, aio: type, name: str
) -> None:
    made = calls_made(sync, name, RecordingEndpoint())
    assert made, f"{sync.__name__}.{name} made no call"
    assert calls_made(aio, name, AwaitedRecordingEndpoint()) == made
