"""Item 1: a client that dies or cancels with Run-stream replies unread never takes the server
down (it was a SIGSEGV: the stream's teardown logged the process's exit and the log line read
the peer from the finished call's context)."""

from __future__ import annotations

import subprocess

import pytest
from tests.hostile.conftest import Bystander, StartServerProcess, client_command, client_env
from tests.service.conftest import wait_until

# Kill and cancel at several points of the server's writing: just after the first reply, and
# while it is blocked on a full flow-control window with replies queued.
DELAYS = ("0", "0.3", "0.6", "1.0")


def bystander_touches(address: str, seconds: float) -> list[float]:
    """A well-behaved client touching one resident page for *seconds*, then exiting."""
    bystander = Bystander(address)
    try:
        return bystander.touches(seconds, pause=0.02)
    finally:
        bystander.close()


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_clients_dying_or_cancelling_mid_stream_leave_the_server_serving(
    event_loop: str, start_server_process: StartServerProcess
) -> None:
    server = start_server_process("--event-loop", event_loop)
    clients = [
        subprocess.Popen(
            client_command("hostile_stream_client.py", server.address, mode, delay),
            env=client_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("kill", "cancel")
        for delay in DELAYS
    ]
    latencies = bystander_touches(server.address, 4.0)
    for client in clients:
        out, err = client.communicate(timeout=60)
        assert "received one" in out, err
    # Every hostile stream's teardown ends its process (and the bystander has exited): wait
    # for all of them, not a guessed time.
    exits = len(clients) + 1
    assert wait_until(lambda: server.log().count('"process exited"') >= exits, 30), server.log()
    assert server.alive(), server.log()
    assert latencies and max(latencies) < 5.0
    # Every hostile process ended with its stream, and the server still answers a newcomer.
    assert len(bystander_touches(server.address, 0.1)) >= 1
    log = server.log()
    assert log.count('"process exited"') >= len(clients) + 1, log
    assert "Segmentation fault" not in log and "Fatal Python error" not in log
    assert server.stop() == 0
