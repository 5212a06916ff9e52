"""Costly calls anyone can make: rate-limited per client identity, and run where they cannot
hold the event loop.

Question generation (each question boots its own small machine) and trace replay are pure
computations: they run in a worker process, so they neither take the GIL from the event
loop (a student looping GetLabQuestions pushed another client's Touch from p50 1.6 ms to
775 ms) nor leave their memory in the server (16 threads flooding GetQuestions took the
server from 79 MB to 1.12 GB RSS, and it stayed near 1 GB: glibc kept what the threads had
freed in its arenas). The worker is replaced after WORKER_TASKS calls, giving its memory
back. Each identity gets client_heavy_calls_per_second calls a second (a token bucket), and
at most MAX_PENDING costly calls wait in all; past either a call is LimitExceeded.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Final, TypeVar

from vmsim_kernel import KernelError, LimitExceeded

__all__ = ["MAX_PENDING", "WORKER_TASKS", "HeavyCalls"]

T = TypeVar("T")
# Costly calls queued or running at once, all clients together.
MAX_PENDING: Final = 16
# Calls a worker process serves before a fresh one replaces it (its memory returned).
WORKER_TASKS: Final = 32
# What the worker processes import before they fork, so that each one starts in milliseconds.
# (vmsim_server's __init__ loads lazily: each module a worker runs is named here.)
WORKER_PRELOAD: Final = (
    "vmsim_lab",
    "vmsim_kernel",
    "vmsim_server.heavy",
    "vmsim_server.replay_rpc",
)


class HeavyCalls:
    """The per-identity rate of costly calls, and the worker process they run in.

    Args:
        calls_per_second: each identity's rate; also its burst (at least one call).
        clock: seconds, for the token buckets (time.monotonic; a test may pass its own).
    """

    def __init__(
        self, calls_per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.calls_per_second = calls_per_second
        self._burst = max(1.0, calls_per_second)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # identity -> (tokens, when)
        self._pool: ProcessPoolExecutor | None = None
        self._nr_pool_calls = 0  # calls handed to the current pool
        self._retired: list[ProcessPoolExecutor] = []  # replaced pools finishing their calls
        self.nr_pending = 0
        # Costly work that must run on the loop (a report of the machine) goes one at a time.
        self._on_loop = asyncio.Lock()

    def admit(self, identity: str) -> None:
        """Take one of *identity*'s calls.

        Raises:
            LimitExceeded: *identity* used its rate, or MAX_PENDING costly calls are waiting.
        """
        if self.nr_pending >= MAX_PENDING:
            raise LimitExceeded(
                f"{self.nr_pending} costly calls (questions, smaps, replay, miss-ratio curve) "
                f"are already queued or running: try again shortly",
                "heavy_calls_pending",
            )
        now = self._clock()
        tokens, when = self._buckets.get(identity, (self._burst, now))
        tokens = min(self._burst, tokens + (now - when) * self.calls_per_second)
        if tokens < 1.0:
            raise LimitExceeded(
                f"client {identity} makes costly calls (questions, smaps, replay, miss-ratio "
                f"curve) faster than client_heavy_calls_per_second={self.calls_per_second} "
                f"(--client-heavy-rate)",
                "client_heavy_calls_per_second",
            )
        if len(self._buckets) >= 4096:  # full buckets only: forgetting one grants nothing
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self._burst}
        self._buckets[identity] = (tokens - 1.0, now)

    async def in_worker(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """function(*args, **kwargs) in the worker process (a pure, module-level function
        whose arguments and result pickle); its KernelError is raised here."""
        if self._pool is not None and self._nr_pool_calls >= WORKER_TASKS:
            # The worker is replaced by a new pool, not by max_tasks_per_child: on Python
            # 3.11 that option left the pool's manager thread waiting for a worker that had
            # gone, and the interpreter's exit (which joins that thread) hung after a flood.
            self._pool.shutdown(wait=False)  # its calls finish; then its worker exits
            self._retired = [pool for pool in self._retired if _busy(pool)] + [self._pool]
            self._pool = None
        if self._pool is None:
            # Workers fork from a clean process that imported the lab and the kernel once:
            # never a fork of this one (it runs grpc threads), and a fresh worker starts fast.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(WORKER_PRELOAD))
            self._pool = ProcessPoolExecutor(1, mp_context=context)
            self._nr_pool_calls = 0
        self._nr_pool_calls += 1
        call = functools.partial(_reporting_errors, function, args, kwargs)
        result, error = await self.counted(
            asyncio.get_running_loop().run_in_executor(self._pool, call)
        )
        if error is not None:
            raise _rebuilt(*error)
        return result  # type: ignore[no-any-return]

    async def counted(self, work: Any) -> Any:
        """Await *work* (a future or coroutine) counted among the pending costly calls."""
        self.nr_pending += 1
        try:
            return await work
        finally:
            self.nr_pending -= 1

    async def on_loop(self, steps: Iterator[None]) -> None:
        """Run *steps* (a generator doing a bounded piece of work per step) on the event loop,
        one costly caller at a time and on at most half the loop's time: after each step
        the loop serves everyone else for as long as the step took."""
        async with self._on_loop:
            while True:
                began = time.perf_counter()
                if next(steps, StopIteration) is StopIteration:
                    return
                await asyncio.sleep(time.perf_counter() - began)

    def close(self) -> None:
        """Stop the worker processes: calls still queued are cancelled, running ones cut."""
        pools = [*self._retired, *([self._pool] if self._pool is not None else [])]
        for pool in pools:
            for worker in list((pool._processes or {}).values()):
                worker.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._retired = None, []


def _busy(pool: ProcessPoolExecutor) -> bool:
    """Whether a retired pool still has a worker process alive (its calls not all done)."""
    return any(worker.is_alive() for worker in (pool._processes or {}).values())


ErrorState = tuple[type[KernelError], tuple[Any, ...], dict[str, Any]]


def _reporting_errors(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ErrorState | None]:
    """In the worker: the result, or the KernelError as its parts (kernel errors take their
    own constructor arguments, which pickle's default rebuilding of an exception lacks)."""
    try:
        return function(*args, **kwargs), None
    except KernelError as error:
        return None, (type(error), error.args, dict(vars(error)))


def _rebuilt(kind: type[KernelError], args: tuple[Any, ...], state: dict[str, Any]) -> KernelError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    vars(error).update(state)
    return error
