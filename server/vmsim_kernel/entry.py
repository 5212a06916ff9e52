"""System-call entry: a process call enters the kernel as a task of its thread on the scheduler.

Models arch/x86/entry/common.c (do_syscall_64) in spirit: the call's work runs in the
context of the calling thread, here as a sched.CallTask stepped in quanta. `syscall` marks a
call that fits in one quantum, `preemptible` a generator that yields at quantum boundaries.
Called directly (embedded use, tests, journal replay), a call is journaled, stepped alone to
completion and its cost kept in `last_cost`; `submit` queues it instead, for a caller that
interleaves quanta of many calls (the server), each step journaled by the scheduler.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .errors import InvalidArgument

if TYPE_CHECKING:
    from vmsim_kernel.kernel.sched import CallTask

    from .machine import Machine

__all__ = ["one_quantum", "preemptible", "submit", "syscall"]

P = ParamSpec("P")
R = TypeVar("R")


def syscall(method: Callable[P, R]) -> Callable[P, R]:
    """A process call that runs in one quantum (see preemptible)."""

    def steps(*args: P.args, **kwargs: P.kwargs) -> Generator[None, None, R]:
        return method(*args, **kwargs)
        yield  # a generator that never yields: the whole call is one quantum

    functools.update_wrapper(steps, method)
    wrapper = preemptible(steps)
    wrapper.once = method  # type: ignore[attr-defined]  # for Scheduler.run_alone (one_quantum)
    return wrapper


def preemptible(method: Callable[P, Generator[None, None, R]]) -> Callable[P, R]:
    """A process call run as a task of its thread on the scheduler (sched.py).

    The method is a generator that yields at quantum boundaries. The wrapped method's first
    two arguments are (machine, pid); `tid=` picks a thread of that process (default: its
    main thread).
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        machine: Machine = args[0]  # type: ignore[assignment]
        pid: int = args[1]  # type: ignore[assignment]
        tid = kwargs.get("tid")
        assert tid is None or isinstance(tid, int)
        if machine.journal is not None:
            machine.journal.append((method.__name__, args[1:], dict(kwargs), tid))
        thread = machine.kernel.thread_of(pid, tid)
        task = machine.sched.submit(method.__name__, thread, method(*args, **kwargs))
        sched, journal, sched.journal = machine.sched, machine.sched.journal, None
        try:
            sched.run_to_completion(task)  # journaled above as one call, not step by step
        finally:
            sched.journal = journal
            machine.last_cost = task.cost
        return task.outcome()  # type: ignore[no-any-return]

    wrapper.steps = method  # type: ignore[attr-defined]
    return wrapper


def one_quantum(machine: Machine, name: str) -> Callable[..., Any] | None:
    """Process call *name* of *machine* as a plain function, f(machine, pid, *args), if it is
    one quantum by construction (`syscall`), for Scheduler.run_alone; else None (a call set
    on the instance, as a test's stub, is always submitted)."""
    entry = getattr(machine, name, None)
    if not hasattr(entry, "__self__"):
        return None
    return getattr(entry, "once", None)


def submit(machine: Machine, name: str, pid: int, *args: Any, tid: int | None = None) -> CallTask:
    """Queue process call *name* of *machine* as a task (journaled for replay).

    Raises:
        InvalidArgument: *name* is not a process call, or *tid* is not a thread of *pid*.
    """
    entry = getattr(machine, name, None)
    steps = getattr(entry, "steps", None)
    if steps is None:
        raise InvalidArgument("name", f"{name!r} is not a process call", "mmap, touch_many ...")
    if machine.journal is not None:
        machine.journal.append(("__submit__", (name, pid, *args), {"tid": tid}, tid))
    thread = machine.kernel.thread_of(pid, tid)
    method_of_class = hasattr(entry, "__self__")  # else set on the instance (a test's stub)
    work = steps(machine, pid, *args, tid=tid) if method_of_class else steps(pid, *args, tid=tid)
    return machine.sched.submit(name, thread, work)
