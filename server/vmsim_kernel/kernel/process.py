"""Simulated processes: the task_struct fields the memory system needs.

Models include/linux/sched.h (task_struct: pid, comm, mm, fault counters, oom_score_adj)
and the exit bookkeeping of kernel/exit.c (a dead task keeps its record as a zombie).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmsim_kernel.arch.x86.constants import Signal
from vmsim_kernel.errors import OomKilled, ProcessKilled, SegmentationFault
from vmsim_kernel.mm.vma import MmStruct
from vmsim_kernel.results import ProcessState

from .locks import SimLock
from .time import CpuTimes, SimThread

if TYPE_CHECKING:
    from vmsim_kernel.fs.vfs import OpenFile

__all__ = ["Task"]

TASK_COMM_LEN = 16


@dataclass
class Task:
    """One simulated process."""

    pid: int
    name: str
    mm: MmStruct
    oom_score_adj: int = 0
    uid: int = 1000  # the user it runs as: a shared memory object's mode is checked against it
    state: ProcessState = ProcessState.RUNNING
    min_flt: int = 0
    maj_flt: int = 0
    death: ProcessKilled | None = None  # why it died, raised again on every later call
    exited_normally: bool = False
    threads: dict[int, SimThread] = field(
        default_factory=dict
    )  # tid -> thread; the main one has tid == pid
    mmap_lock: SimLock | None = None  # the mm's reader-writer semaphore
    dead_threads_times: CpuTimes = field(default_factory=CpuTimes)  # times of threads that exited
    files: dict[int, OpenFile] = field(default_factory=dict)  # files_struct: fd -> open file

    @property
    def main_thread(self) -> SimThread:
        """The thread whose tid is the pid."""
        return self.threads[self.pid]

    def cpu_times(self) -> CpuTimes:
        """User, system, iowait and lock-wait time of every thread, live or exited."""
        total = CpuTimes()
        total.add(self.dead_threads_times)
        for thread in self.threads.values():
            total.add(thread.times)
        return total

    @property
    def alive(self) -> bool:
        """Whether the task still runs."""
        return self.state is ProcessState.RUNNING

    def record_kill(
        self, signal: Signal, address: int | None, reason: str, si_code: str = "SEGV_MAPERR"
    ) -> ProcessKilled:
        """Remember how the task died and return the error its later calls get."""
        death: ProcessKilled
        if signal is Signal.SIGSEGV and address is not None:
            death = SegmentationFault(self.pid, address, reason, si_code)
        elif signal is Signal.SIGKILL and reason.startswith("Out of memory"):
            death = OomKilled(self.pid, reason)
        else:
            death = ProcessKilled(self.pid, signal, address, reason)
        self.death = death
        self.state = ProcessState.ZOMBIE
        return death
