"""vmsim_kernel: the simulated Linux virtual-memory system of a 32-bit x86 machine.

A plain library: no network, no wall-clock reads. Same configuration, seed and calls give
the same state. The gRPC server (vmsim_server) wraps `Machine`; tests and benchmarks use
it directly.

    machine = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=128 * MiB))
    pid = machine.spawn("demo")
    addr = machine.mmap(pid, 0, 1 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    machine.touch(pid, addr, write=True)      # FaultResult.MINOR
"""

from .config import MachineConfig, OvercommitMode, ReplacementPolicy
from .constants import (
    PAGE_OFFSET,
    PAGE_SIZE,
    TASK_SIZE,
    Gfp,
    GiB,
    KiB,
    Madvise,
    MapFlag,
    MiB,
    Prot,
    Signal,
    ZoneType,
)
from .errors import (
    InvalidArgument,
    KernelBug,
    KernelError,
    LimitExceeded,
    NoSuchProcess,
    OomKilled,
    OutOfMemory,
    OutOfRange,
    PermissionDenied,
    ProcessKilled,
    SegmentationFault,
)
from .highmem import AtomicContextViolation, KernelOops
from .journal import replay_journal
from .locks import LOCK_CLASSES, LockKind
from .machine import EventListener, Machine
from .replay import parse_trace, replay
from .results import (
    Event,
    EventKind,
    FaultResult,
    ProcessInfo,
    ProcessState,
    ReplayResult,
    ReplayStep,
    TouchSummary,
    Translation,
    VmaInfo,
    ZoneInfo,
)
from .segmentation import GeneralProtectionFault
from .timing import CallCost, CostModel, CpuTimes

PROT_NONE = Prot.NONE
PROT_READ = Prot.READ
PROT_WRITE = Prot.WRITE
PROT_EXEC = Prot.EXEC
MAP_SHARED = MapFlag.SHARED
MAP_PRIVATE = MapFlag.PRIVATE
MAP_FIXED = MapFlag.FIXED
MAP_ANONYMOUS = MapFlag.ANONYMOUS
MAP_NORESERVE = MapFlag.NORESERVE
MAP_POPULATE = MapFlag.POPULATE
MAP_FIXED_NOREPLACE = MapFlag.FIXED_NOREPLACE

__all__ = [
    "LOCK_CLASSES",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_FIXED_NOREPLACE",
    "MAP_NORESERVE",
    "MAP_POPULATE",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "PAGE_OFFSET",
    "PAGE_SIZE",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "TASK_SIZE",
    "AtomicContextViolation",
    "CallCost",
    "CostModel",
    "CpuTimes",
    "Event",
    "EventKind",
    "EventListener",
    "FaultResult",
    "GeneralProtectionFault",
    "Gfp",
    "GiB",
    "InvalidArgument",
    "KernelBug",
    "KernelError",
    "KernelOops",
    "KiB",
    "LimitExceeded",
    "LockKind",
    "Machine",
    "MachineConfig",
    "Madvise",
    "MapFlag",
    "MiB",
    "NoSuchProcess",
    "OomKilled",
    "OutOfMemory",
    "OutOfRange",
    "OvercommitMode",
    "PermissionDenied",
    "ProcessInfo",
    "ProcessKilled",
    "ProcessState",
    "Prot",
    "ReplacementPolicy",
    "ReplayResult",
    "ReplayStep",
    "SegmentationFault",
    "Signal",
    "TouchSummary",
    "Translation",
    "VmaInfo",
    "ZoneInfo",
    "ZoneType",
    "parse_trace",
    "replay",
    "replay_journal",
]
