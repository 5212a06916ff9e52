"""The kernel's public names are pinned."""

from __future__ import annotations

import vmsim_kernel


def test_public_names_are_pinned() -> None:
    assert sorted(vmsim_kernel.__all__) == sorted(
        [
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
            "Event",
            "EventKind",
            "EventListener",
            "FaultResult",
            "GiB",
            "InvalidArgument",
            "KernelBug",
            "KernelError",
            "KiB",
            "LimitExceeded",
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
            "SegmentationFault",
            "Signal",
            "TouchSummary",
            "Translation",
            "VmaInfo",
            "ZoneInfo",
            "ZoneType",
            "parse_trace",
            "replay",
            "LOCK_CLASSES",
            "CallCost",
            "CostModel",
            "CpuTimes",
            "LockKind",
            "replay_journal",
            "AtomicContextViolation",
            "GeneralProtectionFault",
            "KernelOops",
            "Gfp",
        ]
    )
    for name in vmsim_kernel.__all__:
        assert hasattr(vmsim_kernel, name)
