"""Kernel error values: one tree, raised by the kernel, mapped once to gRPC status by the server.

    KernelError                      something a caller asked for cannot be done (state unchanged)
    ├── InvalidArgument  (EINVAL)     a bad address, length, flag or value; says what is allowed
    │   └── BadFileDescriptor (EBADF) no such open file, or not open for that access
    ├── OutOfRange       (ENOMEM)     an address range outside user space or the simulated RAM
    │   ├── FileTooLarge (EFBIG)      a file offset past what the disk can hold
    │   └── BadAddress   (EFAULT)     a user range that is not (wholly) inside one mapping (mremap)
    ├── OutOfMemory      (ENOMEM)     commit refused, no frame, no swap slot
    ├── NoSuchProcess    (ESRCH)      no process with that pid
    ├── PermissionDenied (EPERM)      a caller acting on what it does not own
    │   └── AccessDenied (EACCES)     a file's mode refuses the access
    ├── NoSuchObject     (ENOENT)     no shared memory object with that name
    │   ├── FileNotFound (ENOENT)     no file with that name (fs/)
    │   └── NoSuchSwapArea (ENOENT)   swapoff of a name no active swap area has
    ├── AlreadyExists    (EEXIST)     a shared memory object with that name exists already
    │   ├── FileExists   (EEXIST)     O_CREAT|O_EXCL on a file that exists
    │   └── SwapAreaActive (EBUSY)    swapon of a name an active swap area has
    ├── LimitExceeded    (EAGAIN)     a configured limit (processes, batch) reached; names the limit
    │   └── NoSpaceOnDevice (ENOSPC)  the file system's disk has no free block
    ├── SwapIoError      (EIO)        a swap read or write failed or came back wrong (swap.py);
    │                                 handled inside the kernel: never reaches a caller
    ├── KernelOops       (EFAULT)     kernel-mode access to an unmapped kernel address (highmem.py)
    ├── AtomicContextViolation        kmap_atomic misuse: wrong order, unbalanced, sleeping (highmem.py)
    ├── GeneralProtectionFault        a segment limit or privilege violation, #GP (segmentation.py)
    └── ProcessKilled                 the process is dead: signal, address and reason
        ├── SegmentationFault         SIGSEGV from a bad access
        └── OomKilled                 SIGKILL from the OOM killer
    KernelBug                         an internal invariant broke (xv6 panic); never caught

InvalidArgument and OutOfRange share ArgumentError, their base: a *field* and what is *allowed*.

Models the errno values returned by mm/mmap.c and friends and the siginfo of a fatal signal.
"""

from __future__ import annotations

from vmsim_kernel.arch.x86.constants import Signal

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "ArgumentError",
    "BadAddress",
    "BadFileDescriptor",
    "FileExists",
    "FileNotFound",
    "FileTooLarge",
    "InvalidArgument",
    "KernelBug",
    "KernelError",
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
]


class KernelError(Exception):
    """A request the kernel refused; nothing was changed."""

    errno_name = "EIO"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ArgumentError(KernelError):
    """A refusal about one argument: *field* was wrong; *allowed* says what would be accepted.

    The base of the two errors whose status carries a BadRequest field violation.
    """

    def __init__(self, field: str, message: str, allowed: str = "") -> None:
        text = f"{field}: {message}" + (f" (allowed: {allowed})" if allowed else "")
        super().__init__(text)
        self.field = field
        self.allowed = allowed


class InvalidArgument(ArgumentError):
    """EINVAL: *field* was wrong; *allowed* says what would be accepted."""

    errno_name = "EINVAL"


class OutOfRange(ArgumentError):
    """An address or range outside what the caller may use."""

    errno_name = "ENOMEM"


class OutOfMemory(KernelError):
    """ENOMEM: no memory (commit limit, frames or swap) for the request."""

    errno_name = "ENOMEM"


class NoSuchProcess(KernelError):
    """ESRCH: no live or recently ended process with this pid."""

    errno_name = "ESRCH"

    def __init__(self, pid: int, why: str = "") -> None:
        super().__init__(f"no process with pid {pid}" + (f" ({why})" if why else ""))
        self.pid = pid


class PermissionDenied(KernelError):
    """EPERM: the caller may not do this."""

    errno_name = "EPERM"


class NoSuchObject(KernelError):
    """ENOENT: no shared memory object has this name."""

    errno_name = "ENOENT"

    def __init__(self, name: str, known: str = "") -> None:
        super().__init__(
            f"no shared memory object named {name!r}" + (f" (there are: {known})" if known else "")
        )
        self.name = name


class AlreadyExists(KernelError):
    """EEXIST: a shared memory object has this name already (O_CREAT|O_EXCL)."""

    errno_name = "EEXIST"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"a shared memory object named {name!r} exists already (map it, or unlink it first)"
        )
        self.name = name


class LimitExceeded(KernelError):
    """EAGAIN: a configured limit was reached; *limit* names it (e.g. "max_processes")."""

    errno_name = "EAGAIN"

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class FileNotFound(NoSuchObject):
    """ENOENT: no file has this name."""

    def __init__(self, name: str) -> None:
        KernelError.__init__(self, f"no file named {name!r} (open it with O_CREAT to create it)")
        self.name = name


class FileExists(AlreadyExists):
    """EEXIST: O_CREAT|O_EXCL on a name that exists."""

    def __init__(self, name: str) -> None:
        KernelError.__init__(
            self, f"a file named {name!r} exists already (O_CREAT|O_EXCL refuses it)"
        )
        self.name = name


class NoSuchSwapArea(NoSuchObject):
    """ENOENT: swapoff names no active swap area."""

    def __init__(self, name: str, active: str) -> None:
        KernelError.__init__(
            self, f"no active swap area named {name!r} (active: {active or 'none'})"
        )
        self.name = name


class SwapAreaActive(AlreadyExists):
    """EBUSY: swapon of a file that is an active swap area already."""

    errno_name = "EBUSY"

    def __init__(self, name: str) -> None:
        KernelError.__init__(
            self, f"{name} is an active swap area already (swapoff it first, or pick a new name)"
        )
        self.name = name


class AccessDenied(PermissionDenied):
    """EACCES: a file's permission bits refuse the access asked for."""

    errno_name = "EACCES"


class BadFileDescriptor(InvalidArgument):
    """EBADF: no open file with this descriptor, or not open for the access asked for."""

    errno_name = "EBADF"


class FileTooLarge(OutOfRange):
    """EFBIG: the write or truncate would take the file past the largest size it may have."""

    errno_name = "EFBIG"


class BadAddress(OutOfRange):
    """EFAULT: a user address range that the call needs inside one mapping is not (mremap's
    old range: vma_to_resize)."""

    errno_name = "EFAULT"


class NoSpaceOnDevice(LimitExceeded):
    """ENOSPC: the file system's disk has no free block for the write."""

    errno_name = "ENOSPC"

    def __init__(self, message: str) -> None:
        super().__init__(message, "disk_bytes")


class SwapIoError(KernelError):
    """EIO: a swap slot could not be written, or read back what was written.

    The kernel handles it where it happens, as Linux does: a failed write keeps the page in
    RAM (dirty); a failed read, short read or checksum mismatch kills the page's owner with
    SIGBUS. Only swapoff of a shared memory page, which no process can take the blame for,
    fails with it (the area stays on). *offset* is the slot.
    """

    errno_name = "EIO"

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class ProcessKilled(KernelError):
    """The process has been killed; every later call for it raises this again."""

    errno_name = "ESRCH"

    def __init__(self, pid: int, signal: Signal, address: int | None, reason: str) -> None:
        where = f" at 0x{address:08x}" if address is not None else ""
        super().__init__(f"process {pid} was killed by {signal.name}{where}: {reason}")
        self.pid = pid
        self.signal = signal
        self.address = address
        self.reason = reason


class SegmentationFault(ProcessKilled):
    """SIGSEGV: an access with no VMA, to kernel space, or against the VMA's protection.

    Attributes:
        si_code: siginfo's si_code, "SEGV_MAPERR" (nothing mapped there) or "SEGV_ACCERR"
            (mapped, but the access is not allowed).
    """

    def __init__(self, pid: int, address: int, reason: str, si_code: str = "SEGV_MAPERR") -> None:
        super().__init__(pid, Signal.SIGSEGV, address, reason)
        self.si_code = si_code


class OomKilled(ProcessKilled):
    """SIGKILL from the OOM killer."""

    def __init__(self, pid: int, reason: str) -> None:
        super().__init__(pid, Signal.SIGKILL, None, reason)


class KernelBug(Exception):
    """An internal invariant is broken: a defect in the simulator, never a user error."""
