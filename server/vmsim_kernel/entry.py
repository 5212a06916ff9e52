"""System-call entry: the one executor every process call goes through.

Models arch/x86/entry/common.c (do_syscall_64) and the sys_call_table in spirit: each call
is an entry of SYSCALL_TABLE (filled by the `syscall` and `preemptible` decorators, as
SYSCALL_DEFINE fills Linux's table), and it runs in the context of the calling thread as
quanta on the scheduler (Scheduler.run_quantum, shared by every path):

- `call`: the embedded path (tests, journal replay, Machine's methods): journaled as one
  call, stepped alone to completion, its cost kept in `machine.last_cost`;
- `submit`: queued as a task for a caller that interleaves quanta of many calls (the
  server), each step journaled by the scheduler;
- `run_at_once`: a call of one quantum by construction on an idle scheduler, without a
  task (Scheduler.run_alone): the same accounting in plain numbers, the common Touch's path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from vmsim_kernel.kernel.sched import CostNumbers

from .errors import InvalidArgument

if TYPE_CHECKING:
    from vmsim_kernel.kernel.sched import CallTask

    from .machine import Machine

__all__ = ["SYSCALL_TABLE", "Syscall", "call", "preemptible", "run_at_once", "submit", "syscall"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Syscall:
    """One entry of SYSCALL_TABLE: how process call *name* runs."""

    name: str
    # work(machine, pid, *args, tid=...): the call's generator of quanta, or, when
    # one_quantum, a plain function doing the whole call.
    work: Callable[..., Any]
    # One quantum by construction (mprotect, brk, madvise, touch): on an idle scheduler it may
    # run without a task (run_at_once); otherwise it is a task of one quantum.
    one_quantum: bool

    def quanta(self, machine: Machine, pid: int, args: tuple[Any, ...], kwargs: Any) -> Steps:
        """The call as the scheduler steps it: a generator yielding at quantum boundaries."""
        if self.one_quantum:
            return _single_quantum(self.work, machine, pid, args, kwargs)
        return self.work(machine, pid, *args, **kwargs)  # type: ignore[no-any-return]


Steps = Generator[None, None, Any]

# process call name -> its entry; Machine's decorated methods fill it at import
SYSCALL_TABLE: dict[str, Syscall] = {}


def _single_quantum(
    work: Callable[..., Any], machine: Machine, pid: int, args: tuple[Any, ...], kwargs: Any
) -> Steps:
    return work(machine, pid, *args, **kwargs)
    yield  # a generator that never yields: the whole call is one quantum


def _register(method: Callable[..., Any], one_quantum: bool) -> Callable[..., Any]:
    entry = Syscall(method.__name__, method, one_quantum)
    SYSCALL_TABLE[entry.name] = entry

    @functools.wraps(method)
    def enter(machine: Machine, pid: int, *args: Any, **kwargs: Any) -> Any:
        return call(machine, entry.name, pid, *args, **kwargs)

    return enter


def syscall(method: Callable[P, R]) -> Callable[P, R]:
    """A process call that runs in one quantum: a plain method (machine, pid, ..., tid=)."""
    return _register(method, one_quantum=True)


def preemptible(method: Callable[P, Generator[None, None, R]]) -> Callable[P, R]:
    """A process call run in quanta: a generator method (machine, pid, ..., tid=) that yields
    at quantum boundaries; `tid=` picks a thread of that process (default: its main thread)."""
    return _register(method, one_quantum=False)


def lookup(name: str) -> Syscall:
    """The entry of process call *name*.

    Raises:
        InvalidArgument: *name* is not a process call.
    """
    entry = SYSCALL_TABLE.get(name)
    if entry is None:
        raise InvalidArgument("name", f"{name!r} is not a process call", ", ".join(SYSCALL_TABLE))
    return entry


def _queue(
    machine: Machine, entry: Syscall, pid: int, args: tuple[Any, ...], kwargs: Any
) -> CallTask:
    thread = machine.kernel.thread_of(pid, kwargs.get("tid"))
    return machine.sched.submit(entry.name, thread, entry.quanta(machine, pid, args, kwargs))


def call(machine: Machine, name: str, pid: int, *args: Any, **kwargs: Any) -> Any:
    """Run process call *name* alone to completion (the embedded path): journaled as one
    call, its cost kept in `machine.last_cost`; returns its result or raises its error."""
    entry = lookup(name)
    sched = machine.sched
    if sched.journal is not None:
        sched.journal.record(name, (pid, *args), kwargs, kwargs.get("tid"))
    task = _queue(machine, entry, pid, args, kwargs)
    try:
        with sched.unjournaled():  # journaled above as one call, not step by step
            sched.run_to_completion(task)
    finally:
        machine.last_cost = task.cost
    return task.outcome()


def submit(machine: Machine, name: str, pid: int, *args: Any, tid: int | None = None) -> CallTask:
    """Queue process call *name* as a task (journaled for replay); the scheduler steps it.

    Raises:
        InvalidArgument: *name* is not a process call, or *tid* is not a thread of *pid*.
    """
    entry = lookup(name)
    journal = machine.sched.journal
    if journal is not None:
        journal.record("__submit__", (name, pid, *args), {"tid": tid}, tid)
    return _queue(machine, entry, pid, args, {"tid": tid})


def run_at_once(
    machine: Machine, name: str, pid: int, *args: Any, tid: int | None = None
) -> tuple[Any, CostNumbers] | None:
    """Process call *name* run at once, without a task, when it is one quantum by construction
    and the scheduler is idle: (result, cost numbers); None when it must be submitted.

    The machine ends up exactly as submit() and one step would leave it (Scheduler.run_alone).

    Raises:
        KernelError: the call failed (any other exception is a defect, raised as it came).
    """
    entry = SYSCALL_TABLE.get(name)
    kernel = machine.kernel
    sched = kernel.sched
    if entry is None or not entry.one_quantum or not sched.idle:
        return None
    return sched.run_alone(kernel.thread_of(pid, tid), entry.work, machine, pid, *args)
