"""Does --max-concurrent-rpcs refuse the calls past it (RESOURCE_EXHAUSTED, saying which
limit), count a stream for as long as it is open, and take calls again once one ends?

The server counts calls as its service table wraps them (RpcObserver, limits.RpcsInFlight),
not with grpc.aio's maximum_concurrent_rpcs, which stops reading calls instead of refusing."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from tests.service.conftest import StartServer

from vmsim_proto.v1 import inspect_pb2, inspect_pb2_grpc, process_pb2, process_pb2_grpc

MAX_RPCS = 3


async def _refusal(stub: inspect_pb2_grpc.InspectServiceStub) -> grpc.aio.AioRpcError | None:
    try:
        await stub.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=5)
    except grpc.aio.AioRpcError as error:
        return error
    return None


@pytest.mark.slow
def test_calls_past_max_concurrent_rpcs_are_refused_until_one_ends(
    start_server: StartServer,
) -> None:
    server = start_server(max_concurrent_rpcs=MAX_RPCS, client_max_streams=MAX_RPCS)

    async def scenario() -> None:
        async with grpc.aio.insecure_channel(server.address) as channel:
            processes = process_pb2_grpc.ProcessServiceStub(channel)  # type: ignore[no-untyped-call]
            inspect = inspect_pb2_grpc.InspectServiceStub(channel)  # type: ignore[no-untyped-call]
            spawned = await processes.Spawn(process_pb2.SpawnRequest(name="holder"), timeout=5)
            metadata = (("x-vmsim-token", spawned.token),)
            streams = [processes.Run(metadata=metadata) for _ in range(MAX_RPCS)]
            for number, stream in enumerate(streams, start=1):  # each one admitted and open
                await stream.write(
                    process_pb2.RunRequest(
                        id=number, translate=process_pb2.TranslateRequest(pid=spawned.pid)
                    )
                )
                assert (await stream.read()).id == number

            refused = await _refusal(inspect)
            assert refused is not None
            assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-concurrent-rpcs" in (refused.details() or "")

            streams[0].cancel()  # one ends: a call is taken again
            deadline = time.monotonic() + 10
            while (refused := await _refusal(inspect)) is not None:
                assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                assert time.monotonic() < deadline, "the ended stream was never counted out"
                await asyncio.sleep(0.02)
            for stream in streams[1:]:
                stream.cancel()

    asyncio.run(scenario())
