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

from . import constants, errors
from .constants import *  # noqa: F403  (the sizes and Linux's flag values)
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
    "Admin",
    "Event",
    "Exercises",
    "FaultKind",
    "File",
    "FileInfo",
    "Inspector",
    "Kernel",
    "Lab",
    "Listing",
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
__all__ += constants.__all__  # the constants, listed once: in constants.py
__all__ += errors.__all__  # the exceptions, listed once: in errors.py


if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name
    __getattr__, __dir__ = lazy_names(globals(), _LAZY, _SUBMODULES)
