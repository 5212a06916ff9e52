"""Ending a task: the signals that kill it and the release of what it held.

Models kernel/signal.c (force_sig_fault: SIGSEGV with SEGV_MAPERR / SEGV_ACCERR, SIGBUS,
SIGKILL) and kernel/exit.c (do_exit: exit_mm -> exit_mmap, then the zombie kept for its
parent until release_task reaps it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmsim_kernel.arch.x86.constants import Signal
from vmsim_kernel.errors import NoSuchProcess, ProcessKilled
from vmsim_kernel.mm.truncate import fput
from vmsim_kernel.mm.unmap import exit_mmap
from vmsim_kernel.results import EventKind

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel

    from .process import Task

__all__ = ["MAX_ZOMBIES", "dead", "kill_task", "reap_zombies", "release_task", "segv", "sigbus"]

MAX_ZOMBIES = 1024  # dead tasks whose records are kept for reporting


def kill_task(
    kernel: Kernel,
    task: Task,
    signal: Signal,
    address: int | None,
    reason: str,
    si_code: str = "SEGV_MAPERR",
) -> ProcessKilled:
    """Kill *task* with *signal*: free its memory, keep its record; the error to raise."""
    death = task.record_kill(signal, address, reason, si_code)
    release_task(kernel, task)
    kernel.emit(EventKind.PROCESS_EXIT, task.pid, address, None, f"{signal.name}: {reason}")
    reap_zombies(kernel)
    return death


def release_task(kernel: Kernel, task: Task) -> None:
    """exit_mm and exit_files: every frame and swap slot of the task goes back, its files
    are closed; its threads' times are kept."""
    exit_mmap(kernel, task)
    files, task.files = task.files, {}
    for file in files.values():
        fput(kernel, file)
    kernel.mm_owner.pop(id(task.mm), None)
    if task.mmap_lock is not None:  # the zombie kept for reporting needs no lock history
        task.mmap_lock.forget_holds()
    # A zombie keeps its main thread's record only; the others' times are folded in.
    for tid in [tid for tid in task.threads if tid != task.pid]:
        task.dead_threads_times.add(task.threads.pop(tid).times)


def reap_zombies(kernel: Kernel) -> None:
    """Forget the oldest ended tasks beyond MAX_ZOMBIES."""
    zombies = [pid for pid, task in kernel.tasks.items() if not task.alive]
    for pid in zombies[: max(0, len(zombies) - MAX_ZOMBIES)]:
        del kernel.tasks[pid]


def segv(kernel: Kernel, task: Task, address: int, reason: str, si_code: str) -> ProcessKilled:
    """Kill *task* with SIGSEGV (si_code SEGV_MAPERR or SEGV_ACCERR) for a bad access and
    return the error to raise; the reason names the si_code as the kernel log would."""
    reason = f"{reason} ({si_code})"
    death = kill_task(kernel, task, Signal.SIGSEGV, address, reason, si_code)
    kernel.emit(EventKind.SEGV, task.pid, address, None, reason)
    return death


def sigbus(kernel: Kernel, task: Task, address: int, reason: str) -> ProcessKilled:
    """Kill *task* with SIGBUS (its page could not be read back) and return the error to raise."""
    return kill_task(kernel, task, Signal.SIGBUS, address, reason)


def dead(task: Task) -> ProcessKilled | NoSuchProcess:
    """The error for a call on a task that has ended: how it was killed, or, when nothing
    killed it (it exited), ESRCH, as a syscall naming an exited pid gets."""
    if task.death is None:
        return NoSuchProcess(task.pid, "it has exited")
    return task.death
