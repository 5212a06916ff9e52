"""The scheduler: simulated CPUs with their own clocks, a run queue, calls run as tasks in quanta.

Models kernel/sched/core.c and kernel/sched/fair.c in miniature. Every system call of a
simulated thread becomes a CallTask on the run queue; `nr_cpus` CPUs run tasks one quantum
(a bounded slice of the call's work) at a time. The next task is the one that can start
earliest in simulated time (global time order) and, among those runnable when a CPU frees
up, the one whose process has had the least CPU time (CFS's vruntime, placed at the queue's
minimum when it wakes, as place_entity() does), so a process with one short call is served
after about one quantum of a hog. Simulated-time order alone could starve a task in real
time: a thread whose clock ran ahead (it slept through seconds of swap I/O) would wait until
every busy thread caught up with it, however many quanta that took. Two real-time bounds
model what CFS guarantees instead: a new call of a thread whose clock is past every free CPU's
runs after at most WAKEUP_WAIT_QUANTA quanta of others, as a task woken from sleep preempts
the running one (check_preempt_wakeup); and no task waits more than
MAX_RUNQUEUE_WAIT_QUANTA quanta (the scheduling latency), the longest waiting first. Both
apply where clients wait in real time (a server: MachineConfig.realtime_clients); a closed
simulation such as the lock experiment keeps simulated-time order alone. A task goes back
to the CPU it last ran on when that CPU is free by the time the task is ready (cache
affinity), else to the CPU that frees up first; a CPU that switches to another thread charges
the incoming one a context switch.

Time: each CPU has a clock, the time until which it is busy. A quantum starts at
max(CPU clock, thread clock); the thread's clock then runs through the quantum's work,
lock waits and I/O waits; the CPU's clock advances only by the CPU time the quantum used
(user + system, spinning included), because a thread asleep on I/O or on a sleeping lock
leaves its CPU to others. A call's cost is the sum of its quanta (running time plus the
lock and swap-queue waits inside them), never the time it sat on the run queue.

A task's work is a generator that yields at quantum boundaries. Cancelling a task closes its
generator at such a boundary, so the machine is never left half-way through a step: the
pages an interrupted TouchMany touched stay touched, and nothing else happened. A call of
one quantum by construction on an idle scheduler may skip the task and the generator
(run_alone): the same accounting, in plain numbers.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, TypeVar

from vmsim_kernel.errors import KernelBug, KernelError

from .time import CallCost, CostModel, SimThread

__all__ = [
    "MAX_QUANTUM_ADDRESSES",
    "MAX_RUNQUEUE_WAIT_QUANTA",
    "MIN_QUANTUM_ADDRESSES",
    "QUANTUM_COPY_BYTES",
    "QUANTUM_FAULTS",
    "QUANTUM_RECLAIM_FAULTS",
    "QUANTUM_ZAP_PAGES",
    "RESIDENT_WINDOW_GROWTH",
    "WAKEUP_WAIT_QUANTA",
    "CallTask",
    "CostNumbers",
    "JournalHook",
    "QuantumRun",
    "Scheduler",
    "SimCpu",
    "TaskState",
    "as_kernel_bug",
    "next_quantum_length",
]

# Quantum sizes: a TouchMany quantum is at most MAX_QUANTUM_ADDRESSES resident accesses
# and at most QUANTUM_FAULTS faults (a fault costs the host ~1000x a resident access), so no
# quantum holds the host for more than a few milliseconds. Deterministic, so replayable.
# The bound is a few milliseconds of host work at the embedded resident rate (bench/
# bench_kernel.py measures it): each quantum ends in a breather of the event loop (about a
# millisecond with gRPC's wake-ups), so a smaller bound spends a large batch's time in
# breathers, a larger one makes everyone else wait longer.
MAX_QUANTUM_ADDRESSES: Final = 65_536
MIN_QUANTUM_ADDRESSES: Final = 1_024
# A quantum that hit in its whole window: the next window is this many times longer (1,024,
# 16,384, then the bound), so a resident batch reaches full quanta after two small ones.
RESIDENT_WINDOW_GROWTH: Final = 16
QUANTUM_FAULTS: Final = 4
# A fault that reclaims directly costs the host ~30x a plain one (a SWAP_CLUSTER_MAX batch of
# pageouts): after a quantum that reclaimed, the next takes at most this many faults.
QUANTUM_RECLAIM_FAULTS: Final = 1
QUANTUM_COPY_BYTES: Final = 128 * 1024  # a Read/Write copies this much per quantum
# munmap, exit and MADV_DONTNEED tear down at most this many PTEs per quantum. zap_range
# frees runs of plain anonymous pages with array operations (a few microseconds a page), so a
# quantum stays within a few milliseconds; a smaller slice pays the per-quantum overhead of
# the runner and the walk for each slice (bench/bench_linux.py --section teardown).
QUANTUM_ZAP_PAGES: Final = 512

# A runnable task waits at most this many quanta of others before it runs (sched_latency 6 ms
# over sched_min_granularity 0.75 ms: CFS runs every task of a full queue within 8 slices).
# Counted over all CPUs: the quanta of the simulated CPUs run one after another in real time,
# and real time is what the waiting client feels.
MAX_RUNQUEUE_WAIT_QUANTA: Final = 8
# A new call whose thread's clock is past every free CPU's waits at most this many quanta of
# others: a woken task preempts at the next tick (check_preempt_wakeup), it does not wait for
# the busy threads to catch up with its clock.
WAKEUP_WAIT_QUANTA: Final = 1

Steps = Generator[None, None, Any]
# A call's cost as plain numbers (ns): total, user, system, iowait, lock wait (CallCost's fields).
CostNumbers = tuple[int, int, int, int, int]
R = TypeVar("R")


def as_kernel_bug(error: Exception) -> KernelBug:
    """A defect in a quantum as its caller sees it: a KernelBug (another exception's repr)."""
    return error if isinstance(error, KernelBug) else KernelBug(f"{error!r}")


def next_quantum_length(length: int, nr_touched: int) -> int:
    """How many addresses the next TouchMany quantum looks at, from how far the last one got.

    A quantum that ran out of faults gets a window a few times what it managed (the bulk
    resident check is redone after each fault over the window, up to one bulk chunk of
    memory.touch_many, so a window much longer than the quantum wastes host time); one that
    finished its window gets one RESIDENT_WINDOW_GROWTH times longer.
    """
    if nr_touched < length:
        return max(MIN_QUANTUM_ADDRESSES, min(MAX_QUANTUM_ADDRESSES, 4 * nr_touched))
    return min(MAX_QUANTUM_ADDRESSES, RESIDENT_WINDOW_GROWTH * length)


class TaskState(Enum):
    """Where a call is in its life."""

    RUNNABLE = "runnable"  # on the run queue, more quanta to go
    DONE = "done"  # returned a result or raised a kernel error
    CANCELLED = "cancelled"  # stopped at a quantum boundary by its caller


@dataclass(eq=False, slots=True)
class SimCpu:
    """One simulated CPU (slots: every quantum reads and writes its fields)."""

    cpu: int
    now_ns: int = 0  # the CPU is busy until this simulated time
    busy_ns: int = 0
    idle_ns: int = 0
    nr_quanta: int = 0
    nr_switches: int = 0
    last_thread: SimThread | None = None


@dataclass(eq=False)
class CallTask:
    """One system call of one simulated thread, run by the scheduler quantum by quantum."""

    task_id: int
    name: str
    thread: SimThread
    steps: Steps
    state: TaskState = TaskState.RUNNABLE
    result: Any = None
    error: Exception | None = None  # a KernelError, or KernelBug for a defect
    nr_quanta: int = 0
    running_ns: int = 0  # sum of the quanta's simulated lengths: the call's total cost
    runqueue_wait_ns: int = 0  # ready but no CPU free (not part of the cost)
    last_cpu: int | None = None
    ready_since_quantum: int = 0  # the scheduler's quantum count when it last became runnable
    _times_before: tuple[int, int, int, int, int] = field(default=(0, 0, 0, 0, 0))
    _final_cost: CallCost | None = None  # fixed when the task ends

    @property
    def done(self) -> bool:
        """No more quanta will run."""
        return self.state is not TaskState.RUNNABLE

    @property
    def cost(self) -> CallCost:
        """What the quanta run so far cost the thread (fixed once the task has ended)."""
        if self._final_cost is not None:
            return self._final_cost
        _now, user, system, iowait, wait = self.thread.snapshot()
        before = self._times_before
        return CallCost(
            self.running_ns,
            user - before[1],
            system - before[2],
            iowait - before[3],
            wait - before[4],
        )

    def outcome(self) -> Any:
        """The call's result, or its error raised."""
        if self.error is not None:
            raise self.error
        if self.state is not TaskState.DONE:
            raise KernelBug(f"task {self.task_id} ({self.name}) has not finished")
        return self.result


class JournalHook:
    """Where every journal entry of a machine is written (entry.py's calls and this
    scheduler's steps), so a recorded run can be replayed exactly."""

    def __init__(self, journal: list[tuple[str, tuple[Any, ...], dict[str, Any], int | None]]):
        self.journal = journal

    def record(
        self,
        kind: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None = None,
        tid: int | None = None,
    ) -> None:
        """Append one entry: a call's name or __submit__/__step__/__cancel__, its arguments."""
        self.journal.append((kind, args, dict(kwargs or {}), tid))


@dataclass(slots=True)
class QuantumRun:
    """What the last quantum run by Scheduler.run_quantum took (rewritten by each quantum)."""

    cpu: int = 0
    start_ns: int = 0  # when it began on its CPU
    ran_ns: int = 0  # its simulated length, waits included
    user_ns: int = 0
    system_ns: int = 0


class Scheduler:
    """The run queue and the CPUs of one machine."""

    def __init__(
        self, nr_cpus: int, costs: CostModel, current: SimThread, realtime_clients: bool = False
    ) -> None:
        self.cpus = [SimCpu(cpu) for cpu in range(nr_cpus)]
        self.costs = costs
        self.current = current  # the thread whose code runs right now (kernel code reads it)
        self.current_cpu = 0  # the CPU it runs on (smp_processor_id: per-cpu page lists)
        self.now_ns = 0  # the latest simulated time any thread has reached
        # A kernel thread's turns (the kernel sets kswapd's here): while it is woken
        # (background_due), it is owed as much simulated time as the tasks' quanta ran since,
        # as CFS shares one CPU between two runnable threads, and takes it in turns of its own
        # (between_calls returns how long a turn ran) after the quantum that earned it, so
        # no call carries its work in its latency. Quanta, not calls, earn the turns: one
        # long call and many short ones doing the same work give it the same time.
        self.between_calls: Callable[[], int] | None = None
        self.background_due: Callable[[], bool] = lambda: True  # whether any is owed now
        self.background_pending = False
        self.background_credit_ns = 0  # simulated time the woken kernel thread is owed
        self.run_queue: list[CallTask] = []
        self.vruntime_ns: dict[int, int] = {}  # per process (pid): CPU time it received
        self.run_time_ns: dict[int, int] = {}  # per process: simulated time its quanta ran
        self.nr_quanta_of: dict[int, int] = {}
        self.journal: JournalHook | None = None
        self._ids = itertools.count(1)
        self.nr_quanta = 0  # quanta run on every CPU: the clock of the real-time wait bounds
        # Whether the bounds apply: calls come from clients waiting in real time (a server),
        # not from a closed simulation that only simulated time orders (MachineConfig).
        self.realtime_clients = realtime_clients
        self.nr_cancelled = 0
        self.nr_finished = 0
        self.last_quantum = QuantumRun()

    @contextlib.contextmanager
    def unjournaled(self) -> Iterator[None]:
        """Steps taken inside are not journaled (a call journaled whole, see entry.call)."""
        journal, self.journal = self.journal, None
        try:
            yield
        finally:
            self.journal = journal

    # ---- the run queue -----------------------------------------------------------------------
    def submit(self, name: str, thread: SimThread, steps: Steps) -> CallTask:
        """Put a call on the run queue (it runs when step() picks it)."""
        task = CallTask(next(self._ids), name, thread, steps)
        task._times_before = thread.snapshot()
        task.ready_since_quantum = self.nr_quanta
        if self.run_queue:
            # place_entity(): a process that slept does not bank CPU time to spend in one go.
            vruntime = self.vruntime_ns
            floor = min(vruntime.get(t.thread.pid, 0) for t in self.run_queue)
            pid = thread.pid
            if vruntime.get(pid, 0) < floor:
                vruntime[pid] = floor
        self.run_queue.append(task)
        return task

    def pick_next(self) -> CallTask | None:
        """The task that can start earliest in simulated time; among those runnable as soon as
        a CPU frees up, the one whose process has had the least CPU time (oldest on ties).

        A task whose thread is still asleep (its clock is past every CPU's, e.g. after a
        swap-in) waits for its wake-up time instead of idling a CPU that others could use.
        Inside a call that sleep is the kernel's (an I/O or a sleeping lock) and is kept; a
        new call whose thread's clock ran ahead in earlier calls waits only WAKEUP_WAIT_QUANTA
        quanta: its client has woken it and waits in real time. And any task passed over
        for MAX_RUNQUEUE_WAIT_QUANTA quanta goes first, the longest waiting first.
        """
        if not self.run_queue:
            return None
        cpu_free_at = min(cpu.now_ns for cpu in self.cpus)
        if self.realtime_clients:
            now = self.nr_quanta
            starved = [
                task
                for task in self.run_queue
                if (waited := now - task.ready_since_quantum) >= MAX_RUNQUEUE_WAIT_QUANTA
                or (
                    waited >= WAKEUP_WAIT_QUANTA
                    and not task.nr_quanta
                    and task.thread.now_ns > cpu_free_at
                )
            ]
            if starved:
                return min(starved, key=lambda task: task.ready_since_quantum)
        vruntime = self.vruntime_ns
        return min(
            self.run_queue,
            key=lambda t: (
                max(t.thread.now_ns, cpu_free_at),
                vruntime.get(t.thread.pid, 0),
                t.task_id,
            ),
        )

    @property
    def nr_running(self) -> int:
        """Tasks on the run queue."""
        return len(self.run_queue)

    def _place(self, thread: SimThread, last_cpu: int | None) -> SimCpu:
        """The CPU *thread*'s task runs its next quantum on (*last_cpu*: where it ran the last)."""
        ready = thread.now_ns
        if last_cpu is not None and self.cpus[last_cpu].now_ns <= ready:
            return self.cpus[last_cpu]
        first_free = None
        for cpu in self.cpus:
            if cpu.now_ns <= ready:
                if cpu.last_thread is thread:
                    return cpu
                if first_free is None:
                    first_free = cpu
        if first_free is not None:
            return first_free
        return min(self.cpus, key=lambda cpu: (cpu.now_ns, cpu.cpu))

    # ---- running ------------------------------------------------------------------------------
    def step(self, task: CallTask | None = None) -> CallTask | None:
        """Run one quantum of *task* (default: the one pick_next chooses); returns it.

        When a call ended in the previous step and background work is owed (kswapd's turn),
        this step runs that instead and *task* stays as it was: callers step until done.
        """
        if task is None:
            task = self.pick_next()
            if task is None:
                return None
        if task.state is not TaskState.RUNNABLE:
            raise KernelBug(f"task {task.task_id} ({task.name}) already finished")
        if self.journal is not None:
            self.journal.record("__step__", (task.task_id,))
        if self.background_pending:
            self.run_background()
            return task
        ready = task.thread.now_ns
        try:
            self.run_quantum(task.thread, task.last_cpu, next, (task.steps,))
        except StopIteration as stop:
            task.result = stop.value
            task.state = TaskState.DONE
        except KernelError as error:
            task.error = error
            task.state = TaskState.DONE
        except Exception as error:  # a defect: the call is over, the caller sees the bug
            task.error = as_kernel_bug(error)
            task.state = TaskState.DONE
            raise
        finally:
            quantum = self.last_quantum
            if task.nr_quanta:
                task.runqueue_wait_ns += quantum.start_ns - ready
            task.last_cpu = quantum.cpu
            task.nr_quanta += 1
            task.running_ns += quantum.ran_ns
            task.ready_since_quantum = self.nr_quanta
            if task.state is not TaskState.RUNNABLE:
                task._final_cost = task.cost
                self.run_queue.remove(task)
                self.nr_finished += 1
        self._earn_background(self.last_quantum.ran_ns)
        return task

    def _earn_background(self, ran_ns: int) -> None:
        """A quantum of *ran_ns* ran: the woken kernel thread is owed as much, in a turn next."""
        if self.between_calls is not None and self.background_due():
            self.background_credit_ns += ran_ns
            self.background_pending = True

    def run_quantum(
        self, thread: SimThread, last_cpu: int | None, work: Callable[..., R], args: tuple[Any, ...]
    ) -> R:
        """Run work(*args) as one quantum of *thread* on a CPU (*last_cpu*: where it ran the
        last): the CPU placement, context switch, clocks, CPU times and vruntime, charged even
        when *work* raises; what the quantum took is left in `last_quantum`.

        The one place a quantum is accounted: step() and run_alone() both come here. Written
        out in one function, in plain attribute arithmetic with no snapshots: every process
        call pays it (a resident Touch's whole kernel path is a few microseconds).
        """
        times = thread.times
        user0, system0 = times.user_ns, times.system_ns
        cpu = self._place(thread, last_cpu)
        # The CPU idles until the thread is ready; one that last ran another thread charges
        # this one a context switch.
        cpu_now = cpu.now_ns
        start = thread.now_ns
        if cpu_now > start:
            start = thread.now_ns = cpu_now
        else:
            cpu.idle_ns += start - cpu_now
        last_thread = cpu.last_thread
        if last_thread is not thread and last_thread is not None:
            thread.run(self.costs.context_switch_ns)
            cpu.nr_switches += 1
        previous, self.current = self.current, thread
        previous_cpu, self.current_cpu = self.current_cpu, cpu.cpu
        try:
            return work(*args)
        finally:
            self.current, self.current_cpu = previous, previous_cpu
            user = times.user_ns - user0
            system = times.system_ns - system0
            used = user + system
            end = thread.now_ns
            ran = end - start  # its simulated length, lock and I/O waits included
            # The CPU is busy only for the CPU time used: a thread asleep on I/O leaves it.
            cpu.now_ns = start + used
            cpu.busy_ns += used
            cpu.nr_quanta += 1
            cpu.last_thread = thread
            self.nr_quanta += 1
            pid = thread.pid
            vruntime, run_time, nr_quanta_of = self.vruntime_ns, self.run_time_ns, self.nr_quanta_of
            vruntime[pid] = vruntime.get(pid, 0) + used
            run_time[pid] = run_time.get(pid, 0) + ran
            nr_quanta_of[pid] = nr_quanta_of.get(pid, 0) + 1
            if end > self.now_ns:
                self.now_ns = end
            quantum = self.last_quantum
            quantum.cpu = cpu.cpu
            quantum.start_ns = start
            quantum.ran_ns = ran
            quantum.user_ns = user
            quantum.system_ns = system

    @property
    def idle(self) -> bool:
        """Nothing queued, no background work owed and no journal: run_alone may run a call."""
        return not self.run_queue and not self.background_pending and self.journal is None

    def run_alone(
        self, thread: SimThread, work: Callable[..., Any], *args: Any
    ) -> tuple[Any, CostNumbers]:
        """Run a call of one quantum by construction of *thread* at once, while the scheduler
        is `idle`: returns (result, cost) or raises the call's KernelError.

        Exactly what submit() and one step() would do (the task id drawn, the quantum, kswapd's
        turn owed), with plain numbers instead of a CallTask, a generator and CallCost
        objects. The cost is (total, user, system, iowait, lock wait) in ns, as CallCost's.

        Raises:
            KernelError: the call failed (its quantum ran: the time it took is charged).
            Exception: any other is a defect, raised as it came after its quantum is
                charged (as step() does).
        """
        next(self._ids)
        times = thread.times
        iowait0, wait0 = times.iowait_ns, times.lock_wait_ns
        result: Any = None
        error: KernelError | None = None
        try:
            result = self.run_quantum(thread, None, work, args)
        except KernelError as refused:
            error = refused
        finally:  # a defect too ends the call, as step() does
            self.nr_finished += 1
        quantum = self.last_quantum
        self._earn_background(quantum.ran_ns)
        if error is not None:
            raise error
        return result, (
            quantum.ran_ns,
            quantum.user_ns,
            quantum.system_ns,
            times.iowait_ns - iowait0,
            times.lock_wait_ns - wait0,
        )

    def run_background(self) -> None:
        """The kernel thread's turns owed since the last quanta (kswapd's), if any: turns
        while it is still woken and owed time (at least one), each a quantum of its own."""
        if not self.background_pending:
            return
        self.background_pending = False
        turn = self.between_calls
        if turn is None:
            return
        while self.background_credit_ns > 0 and self.background_due():
            ran = turn()
            if ran <= 0:
                break
            self.background_credit_ns -= ran
        if not self.background_due():
            self.background_credit_ns = 0  # asleep: a new wake-up starts owed nothing

    def run_to_completion(self, task: CallTask) -> CallTask:
        """Step *task* alone until it finishes, then run the background work it owes (the
        embedded, one-call-at-a-time use: kswapd balances right after the call that woke it)."""
        while not task.done:
            self.step(task)
        self.run_background()
        return task

    def cancel(self, task: CallTask, error: KernelError) -> None:
        """Stop *task* at its quantum boundary: what its quanta did stays done, nothing more runs."""
        if task.done:
            return
        if self.journal is not None:
            self.journal.record("__cancel__", (task.task_id,))
        task.steps.close()
        task._final_cost = task.cost
        task.error = error
        task.state = TaskState.CANCELLED
        self.run_queue.remove(task)
        self.nr_cancelled += 1

    # ---- reports -----------------------------------------------------------------------------
    def schedstat(self) -> str:
        """Per-CPU and per-process scheduling numbers, in the spirit of /proc/schedstat.

        cpuN: busy ns, idle ns, quanta run, context switches, clock ns.
        pid: CPU time (vruntime) ns, run time ns, quanta.
        """
        lines = [
            "version 15",
            f"clock {self.now_ns}",
            f"run_queue {self.nr_running} finished {self.nr_finished} cancelled {self.nr_cancelled}",
        ]
        for cpu in self.cpus:
            lines.append(
                f"cpu{cpu.cpu} {cpu.busy_ns} {cpu.idle_ns} {cpu.nr_quanta} {cpu.nr_switches} {cpu.now_ns}"
            )
        for pid in sorted(self.nr_quanta_of):
            lines.append(
                f"pid {pid} {self.vruntime_ns.get(pid, 0)} {self.run_time_ns.get(pid, 0)} "
                f"{self.nr_quanta_of[pid]}"
            )
        return "\n".join(lines) + "\n"
