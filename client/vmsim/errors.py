"""Client exceptions mirroring the kernel's error tree, rebuilt from gRPC status details.

VmsimError                                  (message, code, metadata)
├── InvalidArgument (field, allowed)        INVALID_ARGUMENT
│   └── BadFileDescriptor                   reason BadFileDescriptor (EBADF)
├── OutOfRange (field, allowed)             OUT_OF_RANGE
│   ├── FileTooLarge                        reason FileTooLarge (EFBIG)
│   └── BadAddress                          reason BadAddress (EFAULT: mremap's old range)
├── OutOfMemory                             RESOURCE_EXHAUSTED with ErrorInfo reason OutOfMemory
├── LimitExceeded                           RESOURCE_EXHAUSTED otherwise (a server limit)
│   └── NoSpaceOnDevice                     reason NoSpaceOnDevice (ENOSPC)
├── NoSuchProcess (pid)                     NOT_FOUND
├── NoSuchObject (name)                     NOT_FOUND with reason NoSuchObject (a shm name)
│   ├── FileNotFound                        reason FileNotFound (ENOENT: a file's name)
│   └── NoSuchSwapArea                      reason NoSuchSwapArea (swapoff of an area not on)
├── AlreadyExists (name)                    ALREADY_EXISTS (a shm name is taken)
│   ├── FileExists                          reason FileExists (EEXIST: O_CREAT|O_EXCL)
│   └── SwapAreaActive                      reason SwapAreaActive (EBUSY: swapon of an area on)
├── PermissionDenied                        PERMISSION_DENIED
│   └── AccessDenied                        reason AccessDenied (EACCES: a file's mode)
├── Unauthenticated                         UNAUTHENTICATED
├── Unavailable                             UNAVAILABLE (no server, or it is shutting down)
├── DeadlineExceeded                        DEADLINE_EXCEEDED (the call's timeout passed; the
│                                           server stopped it at a quantum boundary)
├── Cancelled                               CANCELLED (the call was cancelled)
├── LabClosed                               FAILED_PRECONDITION with reason LabClosed (deadline, attempts)
├── KernelOops                              FAILED_PRECONDITION with reason KernelOops (a kernel-mode
│                                           access the MMU refused: `Kernel.read` of an unmapped page)
├── AtomicContextViolation                  FAILED_PRECONDITION with reason AtomicContextViolation
├── GeneralProtectionFault                  FAILED_PRECONDITION with reason GeneralProtectionFault (a
│                                           logical address a segment refuses: #GP)
├── SwapIoError                             DATA_LOSS (EIO: swapoff met a swap slot it cannot read
│                                           back; the area stays on)
└── ProcessKilled (pid, signal, address, reason)   FAILED_PRECONDITION
    ├── SegmentationFault                   SIGSEGV
    └── OomKilled                           SIGKILL from the OOM killer

The class comes from ErrorInfo.reason (the kernel error's class name) when the status
carries one, else from the status code; ErrorInfo.metadata supplies the attributes (`errno`:
Linux's name for the error, e.g. "EBADF").

grpc, grpc_status and the google.rpc messages are imported when a failure is read, not with
this module: every command imports the error classes, and a command that succeeds (or needs
no server) never reads a status.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc
    from google.rpc import status_pb2

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "AtomicContextViolation",
    "BadAddress",
    "BadFileDescriptor",
    "Cancelled",
    "DeadlineExceeded",
    "FileExists",
    "FileNotFound",
    "FileTooLarge",
    "GeneralProtectionFault",
    "InvalidArgument",
    "KernelOops",
    "LabClosed",
    "LimitExceeded",
    "NoSpaceOnDevice",
    "NoSuchObject",
    "NoSuchProcess",
    "NoSuchSwapArea",
    "OomKilled",
    "OutOfMemory",
    "OutOfRange",
    "PermissionDenied",
    "ProcessKilled",
    "SegmentationFault",
    "SwapAreaActive",
    "SwapIoError",
    "Unauthenticated",
    "Unavailable",
    "VmsimError",
]  # the exceptions, which `vmsim` exports as they are; error_from_rpc and error_from_status
# are the client's own reading of a failed call, for its modules


class VmsimError(Exception):
    """Base of every client error; `code` is the gRPC status code name."""

    def __init__(
        self, message: str, code: str = "UNKNOWN", metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.metadata = metadata or {}

    @property
    def errno(self) -> str:
        """The kernel's errno name (EINVAL, ENOMEM ...), when the server sent one."""
        return self.metadata.get("errno", "")


class _ArgumentError(VmsimError):
    """An error about one request field (kept out of the public tree)."""

    @property
    def field(self) -> str:
        """Which argument was wrong."""
        return self.metadata.get("field", "")

    @property
    def allowed(self) -> str:
        """What would have been accepted."""
        return self.metadata.get("allowed", "")


class InvalidArgument(_ArgumentError):
    """EINVAL: a bad address, length, flag or value."""


class OutOfRange(_ArgumentError):
    """An address or range outside user space (or the simulated RAM)."""


class OutOfMemory(VmsimError):
    """ENOMEM: commit refused, or no memory left."""


class LimitExceeded(VmsimError):
    """A server limit (batch length, message size, processes, concurrent RPCs)."""


class NoSuchProcess(VmsimError):
    """No process with that pid."""

    @property
    def pid(self) -> int | None:
        """The pid asked for."""
        value = self.metadata.get("pid")
        return int(value) if value else None


class PermissionDenied(VmsimError):
    """The token may not act on that process, or an admin token is needed."""


class Unauthenticated(VmsimError):
    """No token, or a token the server does not know."""


class Unavailable(VmsimError):
    """The server cannot be reached (or did not answer in time)."""


class _AboutAName(VmsimError):
    """An error about a name (of a shared memory object or a file): which name it was."""

    @property
    def name(self) -> str:
        """The name asked for."""
        return self.metadata.get("name", "")


class NoSuchObject(_AboutAName):
    """No shared memory object (or active swap area) has this name (ENOENT)."""


class AlreadyExists(_AboutAName):
    """A shared memory object (or active swap area) has this name already (EEXIST)."""


class FileNotFound(NoSuchObject):
    """No file has this name (ENOENT; open it with O_CREAT to create it)."""


class FileExists(AlreadyExists):
    """O_CREAT|O_EXCL on a name that exists (EEXIST)."""


class NoSuchSwapArea(NoSuchObject):
    """swapoff named no active swap area (`name`; the message lists the active ones)."""


class SwapAreaActive(AlreadyExists):
    """EBUSY: swapon of a name that is an active swap area already."""


class AccessDenied(PermissionDenied):
    """The file's mode refuses this user the access, or the descriptor's access mode refuses
    the mapping (EACCES)."""


class BadFileDescriptor(InvalidArgument):
    """The descriptor is not open, or not open for this access (EBADF)."""


class FileTooLarge(OutOfRange):
    """Past the largest file the disk holds (EFBIG)."""


class BadAddress(OutOfRange):
    """A range the call needs inside one mapping is not (mremap's old range; EFAULT)."""


class NoSpaceOnDevice(LimitExceeded):
    """The disk has no free block (ENOSPC)."""


class DeadlineExceeded(VmsimError):
    """The call's timeout passed before it finished. The server stopped it between two quanta:
    what it did so far stays done (e.g. the pages a TouchMany already touched)."""


class Cancelled(VmsimError):
    """The call was cancelled before it finished (stopped between two quanta, as above)."""


class LabClosed(VmsimError):
    """A graded lab refused a submission: past its deadline, or no attempt left."""


class KernelOops(VmsimError):
    """A kernel-mode access the MMU refused (an unmapped or read-only kernel page): Linux's
    oops. Nothing died: the kernel session goes on."""


class AtomicContextViolation(VmsimError):
    """kmap_atomic misused: unbalanced, out of order, or sleeping while atomic."""


class GeneralProtectionFault(VmsimError):
    """A segment refused the logical address (#GP, #NP or #SS): its limit, its privilege
    level or its type. A translation's question, not a dead process."""


class SwapIoError(VmsimError):
    """EIO from the swap device where no process could take the blame: swapoff found a
    shared memory page whose slot cannot be read back, and stopped with the area still on
    (the pages it brought back before stay in memory)."""


class ProcessKilled(VmsimError):
    """The process is dead; every later call says so."""

    @property
    def pid(self) -> int:
        """The dead process."""
        return int(self.metadata.get("pid", "0"))

    @property
    def signal(self) -> str:
        """The signal's name, e.g. SIGSEGV."""
        return self.metadata.get("signal", "")

    @property
    def address(self) -> int | None:
        """The faulting address, if the signal came from an access."""
        value = self.metadata.get("address")
        return int(value, 16) if value else None

    @property
    def reason(self) -> str:
        """Why the kernel killed it."""
        return self.metadata.get("reason", "")


class SegmentationFault(ProcessKilled):
    """SIGSEGV: no VMA, kernel space, or against the mapping's protection."""

    @property
    def si_code(self) -> str:
        """siginfo's si_code: "SEGV_MAPERR" (nothing mapped) or "SEGV_ACCERR" (not allowed)."""
        return self.metadata.get("si_code", "")


class OomKilled(ProcessKilled):
    """SIGKILL from the OOM killer."""


_BY_REASON: dict[str, type[VmsimError]] = {
    cls.__name__: cls
    for cls in (
        InvalidArgument,
        OutOfRange,
        OutOfMemory,
        LimitExceeded,
        NoSuchProcess,
        NoSuchObject,
        AlreadyExists,
        PermissionDenied,
        Unauthenticated,
        LabClosed,
        ProcessKilled,
        SegmentationFault,
        OomKilled,
        FileNotFound,
        FileExists,
        AccessDenied,
        BadFileDescriptor,
        FileTooLarge,
        BadAddress,
        NoSpaceOnDevice,
        KernelOops,
        AtomicContextViolation,
        GeneralProtectionFault,
        SwapIoError,
        NoSuchSwapArea,
        SwapAreaActive,
    )
}
_BY_CODE: dict[str, type[VmsimError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "OUT_OF_RANGE": OutOfRange,
    "RESOURCE_EXHAUSTED": LimitExceeded,
    "NOT_FOUND": NoSuchProcess,
    "ALREADY_EXISTS": AlreadyExists,
    "PERMISSION_DENIED": PermissionDenied,
    "UNAUTHENTICATED": Unauthenticated,
    "FAILED_PRECONDITION": ProcessKilled,
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
    "DATA_LOSS": SwapIoError,
    "CANCELLED": Cancelled,
}


def error_from_status(status: status_pb2.Status) -> VmsimError:
    """The exception for a google.rpc.Status (as carried by a Run stream result)."""
    import grpc
    from google.rpc import error_details_pb2

    code = next((c.name for c in grpc.StatusCode if c.value[0] == status.code), "UNKNOWN")
    reason, metadata = "", {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code, VmsimError)
    return cls(status.message, code, metadata)


def error_from_rpc(error: grpc.RpcError) -> VmsimError:
    """The exception for a failed call (sync or asyncio), read from its rich status when it has one."""
    from grpc_status import rpc_status

    status = None
    if hasattr(error, "trailing_metadata"):
        # AioRpcError is not a grpc.Call but has the same synchronous accessors,
        # which is all from_call reads; a status that contradicts the call is ignored.
        with contextlib.suppress(ValueError):
            status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is not None:
        return error_from_status(status)
    code = error.code().name if hasattr(error, "code") else "UNKNOWN"
    message = error.details() if hasattr(error, "details") else str(error)
    return _BY_CODE.get(code, VmsimError)(message or code, code)
