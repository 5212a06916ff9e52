"""Recorded runs: the journal of a machine's calls, replayed on a fresh machine.

A machine booted with MachineConfig(record=True) appends every call to `machine.journal`;
because the kernel reads no clock and draws randomness only from its seed, replaying the
journal on a machine with the same configuration reaches the same state and charges the
same simulated costs, call for call.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from .config import MachineConfig
from .errors import KernelError
from .machine import Machine
from .timing import CallCost

__all__ = ["JournalEntry", "replay_journal"]

JournalEntry = tuple[str, tuple[Any, ...], dict[str, Any], int | None]
_TIMED = {"mmap", "munmap", "mprotect", "brk", "madvise", "touch", "touch_many", "read", "write"}


def replay_journal(config: MachineConfig, journal: list[JournalEntry]) -> list[CallCost | None]:
    """Run *journal* on a new machine; the cost of each timed call (None for the others)."""
    machine = Machine(replace(config, record=False, swap_path=None))
    costs: list[CallCost | None] = []
    try:
        for name, args, kwargs, _tid in journal:
            with contextlib.suppress(KernelError):  # it failed the same way when it was recorded
                getattr(machine, name)(*args, **kwargs)
            costs.append(machine.last_cost if name in _TIMED else None)
    finally:
        machine.close()
    return costs
