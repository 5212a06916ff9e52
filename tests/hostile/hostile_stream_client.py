"""A client that leaves a Run stream with replies unread: spawn, queue COUNT reads of 1 MiB,
receive one, wait DELAY seconds (the server is blocked writing by then), then die or cancel.

Usage: hostile_stream_client.py ADDRESS kill|cancel DELAY
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator

import grpc

from vmsim_proto.v1 import process_pb2, process_pb2_grpc

COUNT = 20
MiB = 1 << 20


def main() -> None:
    address, mode, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    channel = grpc.insecure_channel(address)
    stub = process_pb2_grpc.ProcessServiceStub(channel)  # type: ignore[no-untyped-call]
    spawned = stub.Spawn(process_pb2.SpawnRequest(name="hostile"), timeout=10)
    metadata = (("x-vmsim-token", spawned.token),)
    mapping = process_pb2.MmapRequest(pid=spawned.pid, length=MiB, prot=3, flags=0x22)
    addr = stub.Mmap(mapping, metadata=metadata, timeout=10).addr

    def operations() -> Iterator[process_pb2.RunRequest]:
        for number in range(COUNT):
            read = process_pb2.ReadRequest(pid=spawned.pid, addr=addr, length=MiB)
            yield process_pb2.RunRequest(id=number + 1, read=read)
        time.sleep(60)  # keep the stream open: the client goes before it closes it

    call = stub.Run(operations(), metadata=metadata)
    next(call)
    print("received one", flush=True)
    time.sleep(delay)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    call.cancel()
    channel.close()


if __name__ == "__main__":
    main()
