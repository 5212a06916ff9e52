"""The simulated machine's CPUs driven from the event loop: one quantum, then everyone else.

Every timed process call is queued on the kernel's scheduler (vmsim_kernel/kernel/sched.py). A
call that finds the run queue otherwise empty runs its first quantum at once, in its own handler:
the scheduler would pick it anyway, and a call of one quantum (a Touch, a small TouchMany)
then costs no hand-off at all; a call of one quantum by construction (a Touch) on an idle
scheduler runs through run_alone, without even a task. Everything else is awaited: one
coroutine steps the run queue a quantum at a time and yields to the event loop between quanta,
so health checks, heartbeats, other clients and signals are served while a long TouchMany
runs. Before each quantum the runner stops the calls whose client cancelled or whose deadline
passed: they end at a quantum boundary with CANCELLED or DEADLINE_EXCEEDED, and what their
earlier quanta did stays done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import structlog

from vmsim_kernel import KernelError, Machine
from vmsim_kernel.machine import CallTask, CostNumbers, as_kernel_bug

from .errors import CallCancelled, DeadlineExceeded, ShuttingDown

__all__ = ["TaskRunner"]

log = structlog.get_logger("vmsim.server")

# The pause between two quanta (measured: 0 triples a probe's p99). Both loops time it in
# whole milliseconds: asyncio waits in epoll for at least 1 ms (0.2 ms asked: 1.2 ms slept),
# uvloop (libuv) rounds to the nearest, so anything below 0.5 ms would be no pause at all.
BREATHER_S = 0.001
# Quanta run back to back for at most this long between breathers while they end calls or
# belong to the only call queued: a queue of short calls is drained without a timer per call,
# a long call alone on the machine is not paused after each of its quanta, and the loop is
# still never held longer. Beside other queued calls a long call breathes after each quantum,
# which is what keeps a probe's touch beside busy writers within a few ms (bench_fairness).
SHORT_RUN_S = 0.002


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[CallTask]
    deadline: float | None  # time.monotonic() after which the call is stopped


class TaskRunner:
    """Runs the machine's run queue on the event loop, one quantum at a time."""

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self._waiters: dict[CallTask, _Waiter] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False
        self._sched = machine.sched

    def run_alone(
        self, name: str, pid: int, *args: Any, tid: int | None, timeout: float | None
    ) -> tuple[Any, CostNumbers] | None:
        """Process call *name* at once when it is one quantum by construction (a Touch, an
        mprotect ...) and the scheduler is idle: (result, cost numbers); None otherwise (the
        caller then queues it with call()).

        The machine ends up exactly as call() would leave it (Machine.run_at_once), minus
        the CallTask, the generator and the cost objects: the common Touch's path.

        Raises:
            KernelError: the call failed (KernelBug, logged, for a defect in it).
        """
        if self._closing or (timeout is not None and timeout <= 0):
            return None  # call() refuses it (UNAVAILABLE) or stops it (DEADLINE_EXCEEDED)
        try:
            return self._machine.run_at_once(name, pid, *args, tid=tid)
        except KernelError:
            raise
        except Exception as error:
            log.exception("quantum failed", call=name, error=repr(error))
            raise as_kernel_bug(error) from error

    def start(self) -> None:
        """Begin stepping (call once, on the server's event loop)."""
        self._loop_task = asyncio.get_running_loop().create_task(self._run_forever())

    async def call(
        self, name: str, pid: int, *args: Any, tid: int | None, timeout: float | None
    ) -> CallTask:
        """Queue process call *name*, wait for it, return the finished task (cost included).

        Raises:
            KernelError: the call failed (or was stopped: CallCancelled, DeadlineExceeded,
                ShuttingDown).
        """
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        task = self._machine.submit(name, pid, *args, tid=tid)
        if self._machine.sched.nr_running == 1 and (timeout is None or timeout > 0):
            # Alone on the run queue: its first quantum is what the stepping loop would run
            # next, so run it here; only a call with more quanta to go is handed over.
            self._step(task)
            if task.done:
                if task.error is not None:
                    raise task.error
                return task
        future: asyncio.Future[CallTask] = asyncio.get_running_loop().create_future()
        deadline = time.monotonic() + timeout if timeout is not None else None
        self._waiters[task] = _Waiter(future, deadline)
        self._wake.set()
        try:
            await future
        except asyncio.CancelledError:  # the client cancelled, or grpc gave up on the call
            self._stop(task, CallCancelled(f"{name} cancelled by the client"))
            raise
        if task.error is not None:
            raise task.error
        return task

    def _stop(self, task: CallTask, error: KernelError) -> None:
        self._machine.sched.cancel(task, error)
        self._finish(task)

    def _finish(self, task: CallTask) -> None:
        waiter = self._waiters.pop(task, None)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_result(task)

    def _step(self, task: CallTask) -> None:
        """One quantum of *task*; a kernel defect fails that call and no other."""
        try:
            self._machine.sched.step(task)
        except Exception as error:
            log.exception("quantum failed", call=task.name, error=repr(error))
            if not task.done:
                self._stop(task, KernelError(f"internal error: {error!r}"))

    def _stop_expired(self) -> None:
        now = time.monotonic()
        for task, waiter in list(self._waiters.items()):
            if waiter.deadline is not None and now >= waiter.deadline and not task.done:
                self._stop(task, DeadlineExceeded(f"{task.name} passed its deadline"))

    async def _run_forever(self) -> None:
        sched = self._machine.sched
        while True:
            await self._wake.wait()
            self._wake.clear()
            breathed = time.perf_counter()
            while sched.nr_running:
                self._stop_expired()
                task = sched.pick_next()
                if task is None:
                    break
                self._step(task)
                if task.done:
                    self._finish(task)
                if (task.done or sched.nr_running == 1) and (
                    time.perf_counter() - breathed < SHORT_RUN_S
                ):
                    # Within the budget: the next short call, or the next quantum of a call
                    # no other waits beside (a breather after each quantum would only idle).
                    continue
                # Everyone else's turn: RPCs, heartbeats, signals. A real (if tiny) sleep, not
                # sleep(0): gRPC's completion-queue threads need the GIL to hand each stage of
                # an RPC to the loop, and get it at once only while the loop blocks in select.
                await asyncio.sleep(BREATHER_S)
                breathed = time.perf_counter()

    async def stop(self) -> int:
        """Stop every queued call at its quantum boundary (UNAVAILABLE) and the stepping loop.

        Returns the number of calls stopped.
        """
        self._closing = True
        stopped = 0
        for task in list(self._waiters):
            if not task.done:
                self._stop(task, ShuttingDown("the server is shutting down"))
                stopped += 1
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        return stopped
