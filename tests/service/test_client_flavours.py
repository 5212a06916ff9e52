"""The sync and asyncio clients are one API in two flavours: same methods, same parameters."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import vmsim
import vmsim.aio
from vmsim import PAGE_SIZE, MiB, calls

# Each sync class and its asyncio twin.
TWINS: list[tuple[type, type]] = [
    (vmsim.Process, vmsim.aio.AsyncProcess),
    (vmsim.Inspector, vmsim.aio.AsyncInspector),
    (vmsim.Admin, vmsim.aio.AsyncAdmin),
    (vmsim.OperationStream, vmsim.aio.AsyncOperationStream),
    (vmsim.File, vmsim.aio.AsyncFile),
]
# What only one flavour may have, and why.
ASYNC_ONLY = {
    "start",  # AsyncProcess spawns when awaited, not in __init__ (which cannot await)
}


def public_members(cls: type) -> dict[str, Any]:
    """Public methods and properties of *cls* (the context-manager dunders differ by design)."""
    return {
        name: value
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }


def parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """(name, kind, default) of every parameter: what a caller relies on."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(("sync", "aio"), TWINS, ids=lambda cls: cls.__name__)
def test_every_public_member_exists_in_both_flavours(sync: type, aio: type) -> None:
    sync_names = set(public_members(sync))
    aio_names = set(public_members(aio)) - ASYNC_ONLY
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
                async with vmsim.aio.AsyncAdmin(server_address, "admin-secret") as admin:
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
