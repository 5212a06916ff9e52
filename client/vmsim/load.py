"""`vmsim load`: many client processes running a workload against one server, then a report.

Clients are asyncio tasks in this process, or spread over OS processes (each running
asyncio tasks) when one Python process cannot produce enough load. Every operation is a
TouchMany of one batch; latencies are measured per operation on the client, and the
machine's own counters (faults, swap traffic, OOM kills) are sampled from /proc/vmstat.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .aio import AsyncProcess
from .client import Inspector
from .constants import MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from .errors import ProcessKilled, VmsimError
from .workloads import Workload, page_batches, thrash_region_pages

__all__ = ["LoadConfig", "LoadReport", "Sample", "run_load", "write_csv", "write_plot"]

_COUNTERS = ("pgfault", "pgmajfault", "pswpin", "pswpout", "oom_kill")


@dataclass(frozen=True)
class LoadConfig:
    """One load run."""

    address: str
    workload: Workload
    clients: int = 10
    duration: float | None = 10.0
    operations: int | None = None  # per client; the run ends at whichever limit comes first
    think_time: float = 0.0
    seed: int = 0
    mode: str = "asyncio"  # or "processes"
    workers: int = 2
    sample_interval: float = 1.0
    timeout: float = 60.0
    over_stream: bool = False  # each client's calls on its open Run stream, not one RPC each

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ValueError("clients must be at least 1")
        if self.duration is None and self.operations is None:
            raise ValueError("give a duration or an operation count")
        if self.mode not in ("asyncio", "processes"):
            raise ValueError("mode is asyncio or processes")


@dataclass
class _WorkerResult:
    latencies: list[float] = field(default_factory=list)
    ops_by_second: Counter[int] = field(default_factory=Counter)
    touches: int = 0
    hits: int = 0
    minor: int = 0
    major: int = 0
    kills: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Sample:
    """Machine counters and client throughput in one interval."""

    second: float
    operations: int
    minor_faults: int
    major_faults: int
    swap_in: int
    swap_out: int


@dataclass(frozen=True)
class LoadReport:
    """What a load run measured."""

    clients: int
    workload: str
    mode: str
    seconds: float
    operations: int
    touches: int
    operations_per_second: float
    touches_per_second: float
    latency_ms: dict[str, float]
    hits: int
    minor_faults: int
    major_faults: int
    swap_in: int
    swap_out: int
    oom_kills: int
    processes_killed: int
    errors: dict[str, int]
    timeline: list[Sample]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


async def _client(
    config: LoadConfig, index: int, deadline: float, start: float, result: _WorkerResult, done: Any
) -> None:
    workload = config.workload
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE

    async def fresh() -> tuple[AsyncProcess, int]:
        proc = await AsyncProcess(
            config.address,
            name=f"load{index}",
            timeout=config.timeout,
            over_stream=config.over_stream,
        ).start()
        return proc, await proc.mmap(
            workload.region_pages * PAGE_SIZE, PROT_READ | PROT_WRITE, flags
        )

    proc, region = await fresh()
    operations = 0
    try:
        for indexes, write in page_batches(workload, config.seed * 100_003 + index):
            if time.monotonic() >= deadline or (
                config.operations and operations >= config.operations
            ):
                break
            addrs = (region + indexes * PAGE_SIZE).astype(np.uint32)
            began = time.perf_counter()
            try:
                summary = await proc.touch_many(addrs, write)
            except ProcessKilled:
                result.kills += 1
                proc, region = await fresh()
                continue
            except VmsimError as error:
                result.errors[error.code] += 1
                continue
            ended = time.perf_counter()
            result.latencies.append(ended - began)
            result.ops_by_second[int(time.monotonic() - start)] += 1
            result.touches += summary.touched
            result.hits += summary.hits
            result.minor += summary.minor
            result.major += summary.major
            operations += 1
            with done.get_lock():
                done.value += 1
            if config.think_time:
                await asyncio.sleep(config.think_time)
    finally:
        await proc.close()


_worker_done: Any = None  # the shared operation counter, inherited by worker processes


def _init_worker(done: Any) -> None:
    global _worker_done
    _worker_done = done


def _run_clients(
    config: LoadConfig, indexes: list[int], start_wall: float, done: Any = None
) -> _WorkerResult:
    """Run some of the clients on one event loop (in this process or a worker process)."""
    done = done if done is not None else _worker_done
    result = _WorkerResult()
    start = time.monotonic() - (time.time() - start_wall)
    deadline = start + config.duration if config.duration else float("inf")

    async def main() -> None:
        outcomes = await asyncio.gather(
            *(_client(config, i, deadline, start, result, done) for i in indexes),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, VmsimError):
                result.errors[outcome.code] += 1
            elif isinstance(outcome, BaseException):
                raise outcome

    asyncio.run(main())
    return result


def _sample_machine(
    address: str,
    interval: float,
    stop: threading.Event,
    into: list[tuple[float, dict[str, int]]],
    start: float,
) -> None:
    with Inspector(address) as inspector:
        while True:
            values = inspector.vmstat().values
            into.append((time.monotonic() - start, {k: values.get(k, 0) for k in _COUNTERS}))
            if stop.wait(interval):
                values = inspector.vmstat().values
                into.append((time.monotonic() - start, {k: values.get(k, 0) for k in _COUNTERS}))
                return


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    values = np.asarray(latencies) * 1000
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(values.max())}


def sized_for_server(config: LoadConfig) -> LoadConfig:
    """*config* after asking the server: the thrash workload sizes its regions from its RAM.

    Raises:
        VmsimError: the server cannot be reached (so a run never starts against nothing).
        ValueError: thrash on a machine without enough swap.
    """
    with Inspector(config.address) as inspector:
        meminfo = inspector.meminfo()
    if config.workload.pattern != "thrash":
        return config
    pages = thrash_region_pages(meminfo["MemTotal"], meminfo["SwapFree"], config.clients)
    return replace(config, workload=replace(config.workload, region_pages=pages))


def run_load(
    config: LoadConfig, progress: Callable[[int, float], None] | None = None
) -> LoadReport:
    """Run the load; *progress(operations_done, seconds)* is called about ten times a second.

    Raises:
        VmsimError: the server cannot be reached.
        ValueError: the workload does not fit the server (thrash without swap).
    """
    config = sized_for_server(config)
    start_wall = time.time()
    start = time.monotonic()
    samples: list[tuple[float, dict[str, int]]] = []
    stop = threading.Event()
    sampler = threading.Thread(
        target=_sample_machine,
        args=(config.address, config.sample_interval, stop, samples, start),
        daemon=True,
    )
    sampler.start()
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    clients = list(range(config.clients))
    results: list[_WorkerResult] = []
    if config.mode == "asyncio":
        runner = threading.Thread(
            target=lambda: results.append(_run_clients(config, clients, start_wall, done))
        )
        runner.start()
        while runner.is_alive():
            runner.join(0.1)
            if progress:
                progress(done.value, time.monotonic() - start)
    else:
        workers = max(1, min(config.workers, config.clients))
        shares = [clients[w::workers] for w in range(workers)]
        with context.Pool(workers, initializer=_init_worker, initargs=(done,)) as pool:
            pending = pool.starmap_async(
                _run_clients, [(config, share, start_wall) for share in shares]
            )
            while not pending.ready():
                pending.wait(0.1)
                if progress:
                    progress(done.value, time.monotonic() - start)
            results = pending.get()
    seconds = time.monotonic() - start
    stop.set()
    sampler.join(30)
    if progress:
        progress(done.value, seconds)
    return _report(config, results, samples, seconds)


def _report(
    config: LoadConfig,
    results: list[_WorkerResult],
    samples: list[tuple[float, dict[str, int]]],
    seconds: float,
) -> LoadReport:
    merged = _WorkerResult()
    for r in results:
        merged.latencies += r.latencies
        merged.ops_by_second.update(r.ops_by_second)
        merged.errors.update(r.errors)
        for name in ("touches", "hits", "minor", "major", "kills"):
            setattr(merged, name, getattr(merged, name) + getattr(r, name))
    nothing = dict.fromkeys(_COUNTERS, 0)  # the sampler never reached the server
    first, last = (samples[0][1], samples[-1][1]) if samples else (nothing, nothing)
    timeline = []
    for (t0, before), (t1, after) in itertools.pairwise(samples):
        ops = sum(n for s, n in merged.ops_by_second.items() if t0 <= s + 0.5 < t1)
        timeline.append(
            Sample(
                round(t1, 3),
                ops,
                (after["pgfault"] - after["pgmajfault"])
                - (before["pgfault"] - before["pgmajfault"]),
                after["pgmajfault"] - before["pgmajfault"],
                after["pswpin"] - before["pswpin"],
                after["pswpout"] - before["pswpout"],
            )
        )
    operations = len(merged.latencies)
    return LoadReport(
        clients=config.clients,
        workload=config.workload.pattern,
        mode=config.mode,
        seconds=round(seconds, 3),
        operations=operations,
        touches=merged.touches,
        operations_per_second=operations / seconds if seconds else 0.0,
        touches_per_second=merged.touches / seconds if seconds else 0.0,
        latency_ms=_percentiles(merged.latencies),
        hits=merged.hits,
        minor_faults=merged.minor,
        major_faults=merged.major,
        swap_in=last["pswpin"] - first["pswpin"],
        swap_out=last["pswpout"] - first["pswpout"],
        oom_kills=last["oom_kill"] - first["oom_kill"],
        processes_killed=merged.kills,
        errors=dict(merged.errors),
        timeline=timeline,
    )


def write_csv(report: LoadReport, path: Path) -> None:
    """The timeline as CSV: one row per sampling interval."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["second", "operations", "minor_faults", "major_faults", "swap_in", "swap_out"]
        )
        for s in report.timeline:
            writer.writerow(
                [s.second, s.operations, s.minor_faults, s.major_faults, s.swap_in, s.swap_out]
            )


def write_plot(report: LoadReport, path: Path) -> None:
    """Throughput and faults over time as a PNG (needs matplotlib: pip install 'vmsim[load]')."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    seconds = [s.second for s in report.timeline]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    top.plot(seconds, [s.operations for s in report.timeline], label="operations")
    top.set_ylabel("operations / interval")
    top.set_title(f"vmsim load: {report.clients} clients, {report.workload}")
    for name in ("minor_faults", "major_faults", "swap_in", "swap_out"):
        bottom.plot(
            seconds, [getattr(s, name) for s in report.timeline], label=name.replace("_", " ")
        )
    bottom.set_ylabel("pages / interval")
    bottom.set_xlabel("seconds")
    bottom.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
