"""Values the kernel hands back: fault outcomes, page walks, process records and events.

These are the return values of the syscall-like calls on `Machine` and the
structured form of the /proc reports (fs/proc/task_mmu.c, fs/proc/array.c).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from vmsim_kernel.arch.x86.constants import Signal
from vmsim_proto.replay_results import ReplayResult, ReplayStep

__all__ = [
    "Event",
    "EventKind",
    "FaultResult",
    "FileInfo",
    "OpenFileInfo",
    "ProcessInfo",
    "ProcessState",
    "ReplayResult",
    "ReplayStep",
    "TouchSummary",
    "Translation",
    "VmaInfo",
    "ZoneInfo",
]


class FaultResult(IntEnum):
    """What one access did."""

    HIT = 0  # the PTE was present and allowed the access: no fault
    MINOR = 1  # fault satisfied without I/O: a zeroed frame, or a page found in the swap cache
    MAJOR = 2  # fault read the page back from the swap device


class ProcessState(StrEnum):
    """Life of a simulated process."""

    RUNNING = "R"  # alive
    ZOMBIE = "Z"  # exited or killed; its memory is freed, its record stays for reporting


@dataclass(frozen=True)
class TouchSummary:
    """Outcome of a batched touch."""

    nr_touched: int
    nr_hits: int
    nr_minor: int
    nr_major: int


@dataclass(frozen=True)
class Translation:
    """The MMU walk of one linear address, every intermediate value included.

    `pte_*` fields are None when the PDE is not present. `fault` names why the
    walk did not end in a frame the access may use, or is None.
    """

    linear: int
    pde_index: int
    pde_address: int  # physical address of the PDE (CR3 + 4 * index)
    pde: int
    pte_index: int
    pte_address: int | None
    pte: int | None
    present: bool
    pfn: int | None
    physical: int | None
    writable: bool
    user: bool
    accessed: bool
    dirty: bool
    swap_type: int | None
    swap_offset: int | None
    fault: str | None
    cr3: int = 0
    vma: VmaInfo | None = None


@dataclass(frozen=True)
class VmaInfo:
    """One line of /proc/<pid>/maps plus the smaps numbers for it (sizes in bytes)."""

    start: int
    end: int
    perms: str  # "rw-p" style
    name: str  # "[heap]", "[stack]", "" for anonymous, "/dev/zero (deleted)" for shared anon
    rss: int = 0
    swap: int = 0
    anonymous: int = 0
    referenced: int = 0
    shared_clean: int = 0
    shared_dirty: int = 0
    private_clean: int = 0
    private_dirty: int = 0
    pss: int = 0
    pss_dirty: int = 0  # the part of pss in dirty pages
    swap_pss: int = 0  # swap divided among the PTEs holding each slot (SwapPss)
    locked: bool = False  # VM_LOCKED (mlock): smaps' Locked is its Rss
    lazyfree: int = 0  # clean pages MADV_FREE made discardable (smaps' LazyFree)


@dataclass(frozen=True)
class ProcessInfo:
    """The /proc/<pid>/status view of a process (sizes in bytes)."""

    pid: int
    name: str
    state: ProcessState
    vm_size: int
    vm_rss: int
    vm_swap: int
    vm_pte: int
    vm_peak: int
    vm_hwm: int
    minor_faults: int
    major_faults: int
    oom_score_adj: int
    oom_score: int
    killed_by: Signal | None = None
    kill_address: int | None = None
    kill_reason: str | None = None
    nr_threads: int = 1
    user_ns: int = 0  # simulated CPU time in the process's own accesses
    system_ns: int = 0  # simulated kernel time, spinning on locks included
    iowait_ns: int = 0  # waiting for the swap device
    lock_wait_ns: int = 0  # asleep on sleeping locks


@dataclass(frozen=True)
class ZoneInfo:
    """Per-zone numbers for /proc/zoneinfo and /proc/buddyinfo (counts in pages)."""

    name: str
    start_pfn: int
    spanned: int
    present: int
    managed: int
    free: int
    min: int
    low: int
    high: int
    free_area: tuple[int, ...]  # nr_free per order 0..10
    counters: dict[str, int] = field(default_factory=dict)
    protection: tuple[int, ...] = ()  # lowmem_reserve per classzone DMA, Normal, HighMem, Movable
    pcp_count: int = 0  # pages on every CPU's per-cpu lists (not in free)
    pcp_high: int = 0  # a CPU's list gives a batch back at this many pages
    pcp_batch: int = 0  # pages moved between a list and the buddy lists at a time


class EventKind(StrEnum):
    """Things the event feed reports."""

    MINOR_FAULT = "minor_fault"
    MAJOR_FAULT = "major_fault"
    SWAP_OUT = "swap_out"
    SWAP_IN = "swap_in"
    OOM_KILL = "oom_kill"
    SEGV = "segv"
    PROCESS_SPAWN = "process_spawn"
    PROCESS_EXIT = "process_exit"


@dataclass(frozen=True)
class Event:
    """One event; `seq` is a machine-wide sequence number, the only clock the kernel has."""

    seq: int
    kind: EventKind
    pid: int
    address: int | None = None
    pfn: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ShmInfo:
    """One named shared memory object, as `ls -l /dev/shm` and its pages would show it."""

    name: str
    size: int  # bytes (ftruncate's length)
    mode: int  # permission bits, e.g. 0o600
    owner: int  # the creator's uid
    resident: int  # bytes in RAM
    swapped: int  # bytes in swap
    mappings: int  # VMAs of live processes that map it


@dataclass(frozen=True)
class FileInfo:
    """One file of the simulated file system: stat(2) and the page cache's view of it."""

    name: str
    ino: int
    size: int  # i_size, bytes
    mode: int  # permission bits, e.g. 0o644
    owner: int  # the creator's uid
    nlink: int  # 1 while named, 0 after unlink (kept alive by open files and mappings)
    blocks: int  # 4 KiB disk blocks allocated
    cached: int  # bytes of its pages in the page cache
    dirty: int  # bytes of those pages not yet written back
    mapped: int  # bytes of those pages some PTE maps
    open_count: int  # open file descriptions
    mappings: int  # VMAs of live processes that map it


@dataclass(frozen=True)
class OpenFileInfo:
    """One open file descriptor of a process (/proc/PID/fdinfo/N)."""

    fd: int
    name: str
    flags: int  # the open flags: access mode, O_APPEND ...
    pos: int  # f_pos
