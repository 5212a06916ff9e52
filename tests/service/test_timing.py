"""Simulated time over the wire: costs in replies, threads, lock_stat, CPU times, real-time mode."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from typer.testing import CliRunner

import vmsim
from vmsim import calls
from vmsim.cli import app


def test_every_timed_reply_carries_its_cost(server_address: str) -> None:
    with vmsim.connect(server_address) as proc:
        addr = proc.mmap(vmsim.PAGE_SIZE)
        assert proc.last_cost is not None and proc.last_cost.system_ns > 0
        proc.touch(addr, write=True)
        fault = proc.last_cost
        proc.touch(addr)
        hit = proc.last_cost
        assert fault is not None and hit is not None
        assert fault.total_ns > hit.total_ns > 0 and hit.system_ns == 0
        status = proc.status()
        assert status.system_ns >= fault.system_ns and status.user_ns > 0


def test_threads_contend_for_the_mmap_lock_and_show_in_lock_stat(server_address: str) -> None:
    with vmsim.connect(server_address) as proc, vmsim.Inspector(server_address) as inspector:
        base = proc.mmap(4 * vmsim.MiB)
        tids = [proc.spawn_thread() for _ in range(2)]
        for i in range(200):
            for n, tid in enumerate(tids):
                proc.call(
                    calls.on_thread(
                        calls.touch(proc.pid, base + (2 * i + n) * vmsim.PAGE_SIZE, True), tid
                    )
                )
            proc.call(calls.on_thread(calls.mmap(proc.pid, vmsim.PAGE_SIZE), tids[0]))
        assert proc.status().nr_threads == 3
        classes = {c.name: c for c in inspector.lock_stat().items}
        assert "&mm->mmap_lock-W" in classes and classes["&zone->lock"].acquisitions > 0
        assert sum(c.contentions for c in classes.values()) > 0
        assert "lock_stat version 0.4" in inspector.lock_stat().text
        times = inspector.cpu_times()
        assert times.system_ns > 0 and times.clock_ns > 0 and times.text.startswith("#")
        proc.exit_thread(tids[1])
        assert proc.status().nr_threads == 2


def test_real_time_mode_holds_replies_for_their_cost(start_server: Any) -> None:
    slow = start_server(realtime_factor=200.0)  # 1 simulated microsecond = 0.2 ms
    with vmsim.connect(slow.address) as proc:
        addr = proc.mmap(64 * vmsim.PAGE_SIZE)
        began = time.perf_counter()
        proc.touch_many(range(addr, addr + 64 * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE), write=True)
        elapsed = time.perf_counter() - began
        cost = proc.last_cost
        assert cost is not None and elapsed >= cost.total_ns * 200 / 1e9 * 0.9


@pytest.mark.slow
def test_lock_stat_cli_and_reset(server_address: str) -> None:
    runner = CliRunner()
    with vmsim.connect(server_address) as proc:
        proc.touch_many(
            range(proc.mmap(vmsim.MiB), proc.mmap(vmsim.MiB) + vmsim.MiB, vmsim.PAGE_SIZE)
        )
    text = runner.invoke(app, ["stat", "lock_stat", "--addr", server_address])
    assert text.exit_code == 0 and "&zone->lock:" in text.output
    reset = runner.invoke(
        app,
        [
            "stat",
            "lock_stat",
            "--addr",
            server_address,
            "--reset",
            "--admin-token",
            "admin-secret",
            "--json",
        ],
    )
    assert reset.exit_code == 0 and json.loads(reset.output) == []
    cpu = runner.invoke(app, ["stat", "cpu", "--addr", server_address, "--json"])
    assert json.loads(cpu.output)["system_ns"] > 0
    ps = runner.invoke(app, ["ps", "--addr", server_address])
    assert "SYS ms" in ps.output
