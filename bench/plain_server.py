"""The outside anchor for RPC costs: a plain grpc.aio server with one empty unary RPC.

No vmsim code, no interceptors, no protobuf: the handler returns empty bytes, so what a
client measures against it is grpc.aio's own floor on this machine.

python bench/plain_server.py      # prints "listening 127.0.0.1:PORT", serves until SIGTERM
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc

METHOD = "/bench.Plain/Empty"


async def _empty(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return b""


async def serve() -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        "bench.Plain", {"Empty": grpc.unary_unary_rpc_method_handler(_empty)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening 127.0.0.1:{port}", flush=True)
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(serve())
    sys.exit(0)
