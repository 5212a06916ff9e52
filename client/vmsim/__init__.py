"""vmsim: the client of a simulated 32-bit x86 Linux virtual-memory system.

    import vmsim
    with vmsim.connect("127.0.0.1:50051", name="demo") as proc:
        a = proc.mmap(16 * vmsim.MiB)
        proc.write(a, b"hi")
        assert proc.read(a, 2) == b"hi"
        assert proc.touch(a + vmsim.PAGE_SIZE) is vmsim.FaultKind.MINOR

`vmsim.inspect(addr)` reads the machine's /proc, `vmsim.Admin` kills, `vmsim.calls`
builds operations for `proc.run([...])` / `proc.stream()`, `vmsim.aio` has the asyncio flavour.

Importing the package is cheap: constants and the exceptions load at once, every other
public name (and the submodules aio, calls, lab, offline) on first use (PEP 562), so a command that only reads
/proc pays for neither numpy nor asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmsim_proto.lazy import lazy_names

from . import errors
from .constants import (
    MADV_DONTNEED,
    MADV_FREE,
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    MS_ASYNC,
    MS_INVALIDATE,
    MS_SYNC,
    O_APPEND,
    O_CREAT,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
    GiB,
    KiB,
    MiB,
)
from .errors import *  # noqa: F403  (the exceptions, light: every command loads them)

if TYPE_CHECKING:
    from . import aio, calls, lab, offline
    from .calls import Listing
    from .channels import Tls
    from .client import Admin, File, Inspector, OperationStream, Process, connect, inspect
    from .kernel import Kernel
    from .lab import Exercises, Lab
    from .results import (
        Event,
        FaultKind,
        FileInfo,
        OpenFileInfo,
        ProcessStatus,
        ReplayResult,
        ReplayStep,
        Report,
        SwapArea,
        TouchSummary,
        Translation,
        Vma,
        Zone,
    )

_SUBMODULES = ("aio", "calls", "lab", "offline")
# public name -> the submodule that defines it; loaded by __getattr__ on first use
_LAZY: dict[str, str] = {
    "Listing": "calls",
    "Tls": "channels",
    **dict.fromkeys(
        ("Admin", "File", "Inspector", "OperationStream", "Process", "connect", "inspect"),
        "client",
    ),
    "Kernel": "kernel",
    "Exercises": "lab",
    "Lab": "lab",
    **dict.fromkeys(
        (
            "Event",
            "FaultKind",
            "FileInfo",
            "OpenFileInfo",
            "ProcessStatus",
            "ReplayResult",
            "ReplayStep",
            "Report",
            "SwapArea",
            "TouchSummary",
            "Translation",
            "Vma",
            "Zone",
        ),
        "results",
    ),
}

__all__ = [
    "MADV_DONTNEED",
    "MADV_FREE",
    "MADV_NORMAL",
    "MADV_RANDOM",
    "MADV_SEQUENTIAL",
    "MADV_WILLNEED",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_FIXED_NOREPLACE",
    "MAP_NORESERVE",
    "MAP_POPULATE",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "MREMAP_DONTUNMAP",
    "MREMAP_FIXED",
    "MREMAP_MAYMOVE",
    "MS_ASYNC",
    "MS_INVALIDATE",
    "MS_SYNC",
    "O_APPEND",
    "O_CREAT",
    "O_EXCL",
    "O_RDONLY",
    "O_RDWR",
    "O_TRUNC",
    "O_WRONLY",
    "PAGE_SIZE",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "SEEK_CUR",
    "SEEK_END",
    "SEEK_SET",
    "Admin",
    "Event",
    "Exercises",
    "FaultKind",
    "File",
    "FileInfo",
    "GiB",
    "Inspector",
    "Kernel",
    "KiB",
    "Lab",
    "Listing",
    "MiB",
    "OpenFileInfo",
    "OperationStream",
    "Process",
    "ProcessStatus",
    "ReplayResult",
    "ReplayStep",
    "Report",
    "SwapArea",
    "Tls",
    "TouchSummary",
    "Translation",
    "Vma",
    "Zone",
    "aio",
    "calls",
    "connect",
    "inspect",
    "lab",
    "offline",
]
__all__ += errors.__all__  # the exceptions, listed once: in errors.py


if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name
    __getattr__, __dir__ = lazy_names(globals(), _LAZY, _SUBMODULES)
