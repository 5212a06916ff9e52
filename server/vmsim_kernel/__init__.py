"""vmsim_kernel: the simulated Linux virtual-memory system of a 32-bit x86 machine.

A plain library: no network, no wall-clock reads. Same configuration, seed and calls give
the same state. The gRPC server (vmsim_server) wraps `Machine`; tests and benchmarks use
it directly.

    machine = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=128 * MiB))
    pid = machine.spawn("demo")
    addr = machine.mmap(pid, 0, 1 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    machine.touch(pid, addr, write=True)      # FaultResult.MINOR

Importing the package is cheap: a public name's module loads on first use (PEP 562), so
`from vmsim_kernel import replay` loads the replay code and not the whole machine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vmsim_kernel.arch.x86.constants import (
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

if TYPE_CHECKING:
    from vmsim_kernel.arch.x86.segmentation import GeneralProtectionFault
    from vmsim_kernel.kernel.locks import LOCK_CLASSES, LockKind
    from vmsim_kernel.kernel.time import CallCost, CostModel, CpuTimes
    from vmsim_kernel.mm.highmem import AtomicContextViolation, KernelOops
    from vmsim_teach.replay import parse_trace, replay

    from .config import MachineConfig, OvercommitMode, ReplacementPolicy
    from .errors import (
        AccessDenied,
        AlreadyExists,
        BadFileDescriptor,
        FileExists,
        FileNotFound,
        FileTooLarge,
        InvalidArgument,
        KernelBug,
        KernelError,
        LimitExceeded,
        NoSpaceOnDevice,
        NoSuchObject,
        NoSuchProcess,
        OomKilled,
        OutOfMemory,
        OutOfRange,
        PermissionDenied,
        ProcessKilled,
        SegmentationFault,
    )
    from .fs.vfs import MsyncFlag, OpenFlag, Whence
    from .journal import replay_journal
    from .machine import EventListener, Machine
    from .results import (
        Event,
        EventKind,
        FaultResult,
        FileInfo,
        OpenFileInfo,
        ProcessInfo,
        ProcessState,
        ReplayResult,
        ReplayStep,
        TouchSummary,
        Translation,
        VmaInfo,
        ZoneInfo,
    )

# public name -> the module that defines it (relative to this package unless absolute);
# loaded by __getattr__ on first use. replay and parse_trace come from the teaching tools,
# which this package re-exports but never imports eagerly.
_LAZY: dict[str, str] = {
    "parse_trace": "vmsim_teach.replay",
    "replay": "vmsim_teach.replay",
    "MachineConfig": ".config",
    "OvercommitMode": ".config",
    "ReplacementPolicy": ".config",
    "InvalidArgument": ".errors",
    "KernelBug": ".errors",
    "KernelError": ".errors",
    "LimitExceeded": ".errors",
    "NoSuchProcess": ".errors",
    "NoSuchObject": ".errors",
    "AlreadyExists": ".errors",
    "AccessDenied": ".errors",
    "BadFileDescriptor": ".errors",
    "FileExists": ".errors",
    "FileNotFound": ".errors",
    "FileTooLarge": ".errors",
    "NoSpaceOnDevice": ".errors",
    "OpenFlag": ".fs.vfs",
    "MsyncFlag": ".fs.vfs",
    "Whence": ".fs.vfs",
    "FileInfo": ".results",
    "OpenFileInfo": ".results",
    "OomKilled": ".errors",
    "OutOfMemory": ".errors",
    "OutOfRange": ".errors",
    "PermissionDenied": ".errors",
    "ProcessKilled": ".errors",
    "SegmentationFault": ".errors",
    "AtomicContextViolation": ".mm.highmem",
    "KernelOops": ".mm.highmem",
    "replay_journal": ".journal",
    "LOCK_CLASSES": ".kernel.locks",
    "LockKind": ".kernel.locks",
    "EventListener": ".machine",
    "Machine": ".machine",
    "Event": ".results",
    "EventKind": ".results",
    "FaultResult": ".results",
    "ProcessInfo": ".results",
    "ProcessState": ".results",
    "ReplayResult": ".results",
    "ReplayStep": ".results",
    "TouchSummary": ".results",
    "Translation": ".results",
    "VmaInfo": ".results",
    "ZoneInfo": ".results",
    "GeneralProtectionFault": ".arch.x86.segmentation",
    "CallCost": ".kernel.time",
    "CostModel": ".kernel.time",
    "CpuTimes": ".kernel.time",
}

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
    "AccessDenied",
    "AlreadyExists",
    "AtomicContextViolation",
    "BadFileDescriptor",
    "CallCost",
    "CostModel",
    "CpuTimes",
    "Event",
    "EventKind",
    "EventListener",
    "FaultResult",
    "FileExists",
    "FileInfo",
    "FileNotFound",
    "FileTooLarge",
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
    "MsyncFlag",
    "NoSpaceOnDevice",
    "NoSuchObject",
    "NoSuchProcess",
    "OomKilled",
    "OpenFileInfo",
    "OpenFlag",
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
    "Whence",
    "ZoneInfo",
    "ZoneType",
    "parse_trace",
    "replay",
    "replay_journal",
]


if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name

    def __getattr__(name: str) -> object:
        """Load the module defining public *name* on first use and keep the name bound here."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
