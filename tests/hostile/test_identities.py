"""Items 3 and 4: per-client limits count by an identity a client cannot choose (certificate,
lab token, address; never its self-declared x-vmsim-client name), keep a reserve for clients
that hold nothing yet, and cap the Run and WatchEvents streams one client may hold open
before --max-concurrent-rpcs is reached."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import grpc
from tests.hostile.conftest import StartServerProcess, write_lab_file

from vmsim.endpoint import stub_class
from vmsim_proto.v1 import (
    inspect_pb2,
    lab_pb2,
    process_pb2,
)

NAMES = [f"name-{i}" for i in range(8)]


def spawn_until_refused(
    stub: Any, metadata: tuple[tuple[str, str], ...], most: int
) -> tuple[int, grpc.RpcError | None]:
    """Spawn processes (keeping them) until one is refused or *most* exist: (spawned, refusal)."""
    for spawned in range(most):
        try:
            stub.Spawn(process_pb2.SpawnRequest(name="p"), metadata=metadata, timeout=10)
        except grpc.RpcError as refusal:
            return spawned, refusal
    return most, None


def lab_token(address: str, name: str) -> str:
    with grpc.insecure_channel(address) as channel:
        lab = stub_class("lab")(channel)
        return lab.JoinLab(lab_pb2.JoinLabRequest(name=name), timeout=10).token


def test_one_peer_under_eight_names_takes_no_more_than_its_limit(
    start_server_process: StartServerProcess,
) -> None:
    server = start_server_process("--max-processes", "256", "--client-max-processes", "64")
    with grpc.insecure_channel(server.address) as channel:
        stub = stub_class("process")(channel)
        taken = 0
        for name in NAMES:
            spawned, refusal = spawn_until_refused(stub, (("x-vmsim-client", name),), 64)
            taken += spawned
        assert refusal is not None and refusal.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "client_max_processes" in (refusal.details() or "")
    # Before: 256 of 256 slots (64 under each of 4 names, the rest refused by max_processes).
    print(f"slots one peer took under {len(NAMES)} names: {taken} of 256")
    assert taken == 64


def test_naming_yourself_after_another_client_does_not_spend_its_quota(
    start_server_process: StartServerProcess, tmp_path: Path
) -> None:
    lab_file = write_lab_file(tmp_path)
    server = start_server_process("--client-max-processes", "4", "--lab", str(lab_file))
    alice = (("x-vmsim-lab-token", lab_token(server.address, "alice")), ("x-vmsim-client", "alice"))
    with grpc.insecure_channel(server.address) as channel:
        stub = stub_class("process")(channel)
        # Mallory, on the same host, calls herself alice and takes every process she may.
        spawned, refusal = spawn_until_refused(stub, (("x-vmsim-client", "alice"),), 10)
        assert spawned == 4 and refusal is not None
        assert "peer:127.0.0.1" in (refusal.details() or "")
        # Alice, known by her lab token, still has her own four.
        spawned, refusal = spawn_until_refused(stub, alice, 10)
        assert spawned == 4, refusal
        assert refusal is not None and "lab:alice" in (refusal.details() or "")
        # A made-up lab token is nobody's: it counts as the address, which is full.
        forged = (("x-vmsim-lab-token", "forged"),)
        assert spawn_until_refused(stub, forged, 1)[0] == 0


def test_the_last_process_slots_are_kept_for_clients_that_hold_none(
    start_server_process: StartServerProcess, tmp_path: Path
) -> None:
    lab_file = write_lab_file(tmp_path)
    server = start_server_process(
        *("--max-processes", "32", "--client-max-processes", "32"),
        *("--client-reserve-processes", "4", "--lab", str(lab_file)),
    )
    with grpc.insecure_channel(server.address) as channel:
        stub = stub_class("process")(channel)
        spawned, refusal = spawn_until_refused(stub, (), 32)
        assert spawned == 28 and refusal is not None
        assert "client_reserve_processes" in (refusal.details() or "")
        # Four newcomers each get one of the kept slots.
        for student in ("bob", "carol", "dave", "erin"):
            token = (("x-vmsim-lab-token", lab_token(server.address, student)),)
            assert spawn_until_refused(stub, token, 2)[0] == 1


RACED_REFUSAL = "(refused while the client was writing: the server's status was lost)"


async def open_streams(
    opens: list[grpc.aio.Call], first_reply: object, count: int
) -> tuple[list[grpc.aio.Call], list[str]]:
    """Wait for each opened stream's first reply: (the admitted ones, the refusals' details)."""
    admitted: list[grpc.aio.Call] = []
    refused: list[str] = []
    for call in opens[:count]:
        try:
            await asyncio.wait_for(first_reply(call), 10)  # type: ignore[operator]
            admitted.append(call)
        except grpc.aio.AioRpcError:
            # The call's own status. A write that raced the server's refusal fails in the
            # client's core first and that becomes the call's status (INTERNAL "Internal
            # error from Core"): counted as a refusal, its text kept as the marker below.
            code, details = await call.code(), await call.details() or ""
            if code is grpc.StatusCode.INTERNAL and "from Core" in details:
                refused.append(RACED_REFUSAL)
                continue
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, details
            refused.append(details)
    return admitted, refused


def test_watchers_under_seven_names_are_capped(
    start_server_process: StartServerProcess,
) -> None:
    server = start_server_process("--client-max-watchers", "4")

    async def attack() -> tuple[int, list[str]]:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = stub_class("inspect")(channel)
            calls = [
                stub.WatchEvents(
                    inspect_pb2.WatchEventsRequest(), metadata=(("x-vmsim-client", name),)
                )
                for name in NAMES[:7]
                for _ in range(4)
            ]

            async def first_reply(call: grpc.aio.UnaryStreamCall) -> None:  # type: ignore[type-arg]
                # An admitted watcher sends nothing until an event: it is admitted when the
                # server has not ended it by now.
                try:
                    await asyncio.wait_for(asyncio.shield(call.read()), 1.0)
                except TimeoutError:
                    return

            admitted, refused = await open_streams(calls, first_reply, len(calls))
            for call in calls:
                call.cancel()
            return len(admitted), refused

    admitted, refused = asyncio.run(attack())
    # Before: 28 of 28 (200 streams under 7 names in the issue).
    assert admitted == 4, (admitted, refused)
    assert all("client_max_watchers" in text for text in refused)


def test_idle_run_streams_of_one_token_leave_room_for_every_other_client(
    start_server_process: StartServerProcess,
) -> None:
    # The 100 idle streams at --max-concurrent-rpcs 100, scaled down to 20.
    server = start_server_process("--max-concurrent-rpcs", "20", "--client-max-streams", "8")

    async def attack() -> tuple[int, list[str], list[str]]:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = stub_class("process")(channel)
            spawned = await stub.Spawn(process_pb2.SpawnRequest(name="hog"), timeout=10)
            metadata = (("x-vmsim-token", spawned.token),)
            op = process_pb2.RunRequest(
                id=1, translate=process_pb2.TranslateRequest(pid=spawned.pid, addr=0)
            )
            # Never half-closed: each stream stays open, idle, after its first reply.
            calls = [stub.Run(metadata=metadata) for _ in range(20)]

            async def first_reply(call: grpc.aio.StreamStreamCall) -> None:  # type: ignore[type-arg]
                # A refused call may be over already: its read says how it ended.
                with contextlib.suppress(asyncio.InvalidStateError, grpc.aio.AioRpcError):
                    await call.write(op)
                reply = await call.read()
                assert reply is not grpc.aio.EOF

            admitted, refused = await open_streams(calls, first_reply, len(calls))
            # While they are open, everyone else is served.
            bystander = []
            async with grpc.aio.insecure_channel(server.address) as other:
                inspect = stub_class("inspect")(other)
                processes = stub_class("process")(other)
                for _ in range(5):
                    await inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=10)
                    new = await processes.Spawn(process_pb2.SpawnRequest(name="b"), timeout=10)
                    bystander.append(str(new.pid))
            for call in calls:
                call.cancel()
            return len(admitted), refused, bystander

    admitted, refused, bystander = asyncio.run(attack())
    assert admitted == 8, (admitted, refused)
    assert len(refused) == 12
    stated = [text for text in refused if text != RACED_REFUSAL]
    assert stated, refused  # at least one refusal came with the server's own status
    assert all("client_max_streams" in text and "--client-max-streams" in text for text in stated)
    assert len(bystander) == 5
    assert server.alive()
