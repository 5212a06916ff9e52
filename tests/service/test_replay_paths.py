"""One wire contract for every path of a replay (issue 23): the offline `vmsim replay` asks the
server's own replay code in its process (vmsim.offline.call_in_process, the `calls` entry
point) and gets the messages a running server sends, errors included, without starting one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fresh_python import run_fresh_python
from typer.testing import CliRunner

from vmsim import InvalidArgument, calls
from vmsim.cli import app
from vmsim.client import Inspector
from vmsim.offline import call_in_process
from vmsim_kernel import replay as kernel_replay
from vmsim_proto.v1 import inspect_pb2
from vmsim_server import replay_rpc
from vmsim_teach import replay_fast

runner = CliRunner()


def mixed_trace(references: int, seed: int) -> np.ndarray:
    """A hot set, a loop longer than 100 frames and noise: every policy hits and evicts."""
    rng = np.random.default_rng(seed)
    hot = rng.zipf(1.3, references) % 400
    loop = 5_000 + np.arange(references) % 150
    noise = rng.integers(10_000, 20_000, references)
    kind = rng.integers(3, size=references)
    return np.choose(kind, [hot, loop, noise]).astype(np.int64)


@pytest.mark.parametrize("policy", ["lru", "fifo"])
@pytest.mark.parametrize("frames", [100, 1000])
def test_offline_and_server_answers_are_the_same(
    server_address: str, policy: str, frames: int
) -> None:
    # Below COSTLY_TRACE_REFERENCES: the server's rate of costly calls does not apply.
    trace = mixed_trace(9_000, seed=frames)
    with Inspector(server_address) as inspector:
        for counts_only in (False, True):
            call = calls.replay(trace, frames, policy, counts_only=counts_only)
            offline = call_in_process(call)
            served = inspector.replay(trace, frames, policy, counts_only=counts_only)
            assert offline == served
            assert offline.misses > frames and offline.hits > 0
            assert (len(offline.victims) == offline.misses - frames) is not counts_only
        curve = inspector.miss_ratio_curve(trace)
    assert call_in_process(calls.miss_ratio_curve(trace)) == curve
    if policy == "lru":
        assert curve.misses_with(frames) == served.misses


@pytest.mark.parametrize(
    "policy", ["fifo", "lru", "mru", "clock", "random", "opt", "unopt", "linux"]
)
def test_every_policy_of_the_help_answers_alike_on_every_path(
    server_address: str, policy: str
) -> None:
    """Offline, over the wire and on the kernel's Python policies (the reference): one answer."""
    trace = mixed_trace(3_000, seed=11)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_fast, "try_replay", lambda *args: None)
        reference = kernel_replay(trace, 50, policy, seed=4)
    offline = call_in_process(calls.replay(trace, 50, policy, seed=4))
    with Inspector(server_address) as inspector:
        served = inspector.replay(trace, 50, policy, seed=4)
    assert offline == served
    assert (offline.misses, offline.victims, offline.faults_at) == (
        reference.misses,
        reference.victims,
        reference.faults_at,
    )


def test_only_the_counts_of_a_replay_in_c_run_beside_the_event_loop() -> None:
    """A thread for what holds the GIL a few milliseconds; the worker process for the rest."""

    def request(policy: str = "lru", **fields: bool) -> inspect_pb2.ReplayRequest:
        return inspect_pb2.ReplayRequest(frames=3, policy=policy, **fields)

    assert replay_rpc.holds_the_gil_briefly(request(counts_only=True))
    assert replay_rpc.holds_the_gil_briefly(request("FIFO", counts_only=True))
    assert not replay_rpc.holds_the_gil_briefly(request())  # a million victims as ints
    assert not replay_rpc.holds_the_gil_briefly(request("linux", counts_only=True))
    assert not replay_rpc.holds_the_gil_briefly(request(counts_only=True, steps=True))
    assert not replay_rpc.holds_the_gil_briefly(request("bogus", counts_only=True))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_fast, "_loops", None)
        assert not replay_rpc.holds_the_gil_briefly(request(counts_only=True))


def test_a_long_replay_of_counts_starts_no_worker_process(start_server: Any) -> None:
    server = start_server()
    trace = mixed_trace(50_000, seed=5)
    with Inspector(server.address) as inspector:
        counted = inspector.replay(trace, 1000, "lru", counts_only=True)
        assert server.running.heavy._pool is None  # answered in a thread
        listed = inspector.replay(trace, 1000, "lru")
        assert server.running.heavy._pool is not None
    assert (counted.hits, counted.misses) == (listed.hits, listed.misses)


def test_offline_errors_are_the_servers_errors(server_address: str) -> None:
    call = calls.replay([1, 2, 3], 2, "bogus")
    with pytest.raises(InvalidArgument) as offline:
        call_in_process(call)
    with Inspector(server_address) as inspector, pytest.raises(InvalidArgument) as served:
        inspector.replay([1, 2, 3], 2, "bogus")
    assert str(offline.value) == str(served.value)
    assert "unknown policy 'bogus' (allowed: " in str(offline.value)


def test_a_trace_entry_beyond_32_bits_is_refused_before_it_is_sent() -> None:
    for trace in ([1, -1], [1, 1 << 32], [1.5]):
        with pytest.raises(ValueError, match=r"integers in 0 \.\. 4294967295"):
            calls.replay(trace, 2, "lru")  # type: ignore[arg-type]
    assert calls.packed_trace([1, 0xFFFF_FFFF]) == b"\x01\x00\x00\x00\xff\xff\xff\xff"


def test_the_cli_answers_the_same_offline_and_online(server_address: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(map(str, mixed_trace(5_000, seed=3).tolist())))
    for options in (["--json"], ["--json", "--victims"], ["--mrc", "--json"]):
        offline = runner.invoke(app, ["replay", str(trace), "--frames", "100", *options])
        served = runner.invoke(
            app, ["replay", str(trace), "--frames", "100", *options, "--addr", server_address]
        )
        assert offline.exit_code == served.exit_code == 0, offline.output
        assert json.loads(offline.output) == json.loads(served.output)


@pytest.mark.subprocess
def test_an_offline_replay_starts_no_server(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1\n")
    script = (
        "import sys\n"
        "from vmsim.cli import app\n"
        f"try:\n    app(['replay', {str(trace)!r}, '--policy', 'fifo', '--json'])\n"
        "except SystemExit as done:\n    assert not done.code, done.code\n"
        "loaded = [m for m in ('vmsim_server.main', 'vmsim_server.embedded', 'vmsim_lab')"
        " if m in sys.modules]\n"
        "print(loaded, file=sys.stderr)\n"
    )
    done = run_fresh_python(script)
    assert json.loads(done.stdout)["misses"] == 15
    assert done.stderr.strip().splitlines()[-1] == "[]"
