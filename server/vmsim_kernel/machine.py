"""The simulated machine: boot, processes and the syscall surface the server wraps.

Models init/main.c (start_kernel: zones, memblock, swapon) and the syscall
entry points of mm/mmap.c, mm/mprotect.c, mm/madvise.c and mm/memory.c.
(CONTRACT STUB: bodies are being written; signatures are fixed.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from .config import MachineConfig
from .constants import Signal
from .results import Event, FaultResult, ProcessInfo, TouchSummary, Translation, VmaInfo, ZoneInfo

EventListener = Callable[[Event], None]


class Machine:
    """One booted machine. Not thread-safe: callers serialise (the server runs one event loop)."""

    def __init__(self, config: MachineConfig | None = None) -> None:
        raise NotImplementedError

    config: MachineConfig

    def close(self) -> None:
        """Shut down: free everything, remove the swap file if it was temporary."""
        raise NotImplementedError

    # processes -------------------------------------------------------------
    def spawn(self, name: str = "", oom_score_adj: int = 0) -> int:
        """Create a process with an empty user address space (plus stack VMA); return its pid."""
        raise NotImplementedError

    def exit(self, pid: int) -> None:
        """The process exits: every frame and swap slot it holds is freed."""
        raise NotImplementedError

    def kill(self, pid: int, signal: Signal = Signal.SIGKILL, reason: str = "killed by admin") -> None:
        """Kill a live process and free its memory; later calls raise ProcessKilled."""
        raise NotImplementedError

    def process(self, pid: int) -> ProcessInfo:
        """Status of one process (live or zombie)."""
        raise NotImplementedError

    def processes(self) -> list[ProcessInfo]:
        """Status of every process, by pid."""
        raise NotImplementedError

    # syscalls ---------------------------------------------------------------
    def mmap(self, pid: int, addr: int, length: int, prot: int, flags: int) -> int:
        """mmap(2) for anonymous memory; returns the start address."""
        raise NotImplementedError

    def munmap(self, pid: int, addr: int, length: int) -> None:
        """munmap(2)."""
        raise NotImplementedError

    def mprotect(self, pid: int, addr: int, length: int, prot: int) -> None:
        """mprotect(2)."""
        raise NotImplementedError

    def brk(self, pid: int, addr: int) -> int:
        """brk(2): addr 0 queries; returns the (new) program break."""
        raise NotImplementedError

    def madvise(self, pid: int, addr: int, length: int, advice: int) -> None:
        """madvise(2) with MADV_NORMAL/RANDOM/SEQUENTIAL/WILLNEED/DONTNEED."""
        raise NotImplementedError

    def touch(self, pid: int, addr: int, write: bool = False) -> FaultResult:
        """One user-mode access through the MMU; faults are handled."""
        raise NotImplementedError

    def touch_many(
        self, pid: int, addrs: Sequence[int] | npt.NDArray[np.uint32], write: bool = False
    ) -> TouchSummary:
        """Many user-mode accesses in order; stops at (and raises) a fatal fault."""
        raise NotImplementedError

    def read(self, pid: int, addr: int, length: int) -> bytes:
        """Read user memory like the process would (faults handled)."""
        raise NotImplementedError

    def write(self, pid: int, addr: int, data: bytes) -> None:
        """Write user memory like the process would (faults handled)."""
        raise NotImplementedError

    def translate(self, pid: int, addr: int) -> Translation:
        """The page walk of *addr* in the process's page tables, without faulting."""
        raise NotImplementedError

    # reports ----------------------------------------------------------------
    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo numbers in kB, Linux key names (MemTotal, MemFree, ...)."""
        raise NotImplementedError

    def vmstat(self) -> dict[str, int]:
        """/proc/vmstat counters (nr_free_pages, pgfault, pgmajfault, pswpin, ...)."""
        raise NotImplementedError

    def zoneinfo(self) -> list[ZoneInfo]:
        """Per-zone numbers."""
        raise NotImplementedError

    def swaps(self) -> list[dict[str, str | int]]:
        """/proc/swaps rows: filename, type, size_kb, used_kb, priority."""
        raise NotImplementedError

    def maps(self, pid: int) -> list[VmaInfo]:
        """/proc/<pid>/maps rows (smaps numbers filled in)."""
        raise NotImplementedError

    def report(self, name: str, pid: int | None = None) -> str:
        """Linux text of a report: meminfo, vmstat, zoneinfo, buddyinfo, swaps, maps, smaps, status."""
        raise NotImplementedError

    # events -----------------------------------------------------------------
    def add_event_listener(self, listener: EventListener) -> None:
        """Call *listener* with every event from now on."""
        raise NotImplementedError

    def remove_event_listener(self, listener: EventListener) -> None:
        """Stop calling *listener*."""
        raise NotImplementedError
