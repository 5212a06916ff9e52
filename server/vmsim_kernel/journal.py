"""Recorded runs: the journal of a machine's calls, replayed on a fresh machine.

A machine booted with MachineConfig(record=True) appends every call to `machine.journal`;
because the kernel reads no clock and draws randomness only from its seed, replaying the
journal on a machine with the same configuration reaches the same state and charges the
same simulated costs, call for call. Calls a server interleaved on the scheduler appear as
`__submit__` (the call queued), `__step__` (one quantum of task n, in submission order) and
`__cancel__` entries, so the interleaving itself is replayed.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from vmsim_kernel.kernel.sched import CallTask
from vmsim_kernel.kernel.time import CallCost

from .config import MachineConfig
from .entry import SYSCALL_TABLE
from .errors import KernelError
from .machine import Machine

__all__ = ["JournalEntry", "replay_journal"]

JournalEntry = tuple[str, tuple[Any, ...], dict[str, Any], int | None]


def replay_journal(config: MachineConfig, journal: list[JournalEntry]) -> list[CallCost | None]:
    """Run *journal* on a new machine; the cost of each process call (an entry of
    SYSCALL_TABLE, each charged to its thread), None for the others (spawn, kernel space)."""
    machine = Machine(replace(config, record=False, swap_path=None))
    costs: list[CallCost | None] = []
    tasks: dict[int, tuple[CallTask, int]] = {}  # task id -> (task, index of its submit entry)
    try:
        for name, args, kwargs, _tid in journal:
            costs.append(None)
            if name == "__submit__":
                with contextlib.suppress(KernelError):  # refused the same way when recorded
                    task = machine.submit(*args, **kwargs)
                    tasks[task.task_id] = (task, len(costs) - 1)
            elif name in ("__step__", "__cancel__"):
                task, index = tasks[args[0]]
                if name == "__step__":
                    machine.sched.step(task)
                else:
                    machine.sched.cancel(task, KernelError("cancelled"))
                if task.done:  # a submitted task is a process call: it has a cost
                    costs[index] = task.cost
            else:
                with contextlib.suppress(KernelError):  # it failed the same way when recorded
                    getattr(machine, name)(*args, **kwargs)
                if name in SYSCALL_TABLE:
                    costs[-1] = machine.last_cost
    finally:
        machine.close()
    return costs
