"""The kernel's public names are pinned."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
            "AlreadyExists",
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
            "NoSuchObject",
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


def test_dir_lists_every_public_name_before_it_is_loaded() -> None:
    assert set(vmsim_kernel.__all__) <= set(dir(vmsim_kernel))
    assert not hasattr(vmsim_kernel, "NoSuchName")


@pytest.mark.subprocess
def test_replay_loads_the_replay_code_and_not_the_machine() -> None:
    # A fresh interpreter: this one has long imported everything.
    script = (
        "import sys\n"
        "import vmsim_teach.replay\n"
        "from vmsim_kernel import replay\n"
        "print(callable(replay), sorted(m for m in sys.modules if m.startswith('vmsim_kernel.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    is_function, modules = done.stdout.split(" ", 1)
    assert is_function == "True"  # the function, not its submodule of the same name
    assert "vmsim_kernel.machine" not in modules
    assert "vmsim_kernel.arch.x86.layout" not in modules
