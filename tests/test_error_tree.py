"""The client's error tree mirrors the kernel's: every error a server sends comes back as the
client class of the same name (or, for the server's own, the one its status code names)."""

from __future__ import annotations

import pytest

import vmsim
import vmsim_kernel as kernel
from vmsim.errors import error_from_status
from vmsim_kernel.errors import ArgumentError, BadAddress, SwapIoError
from vmsim_lab.grading import LabClosed
from vmsim_server.errors import (
    CallCancelled,
    DeadlineExceeded,
    ShuttingDown,
    Unauthenticated,
    status_of,
)

# One error of each class a client may receive, the kernel's and the server's.
SENT: list[kernel.KernelError] = [
    kernel.InvalidArgument("length", "0 bytes", "1 .. 3 GiB"),
    kernel.BadFileDescriptor("fd", "7 is not open"),
    kernel.OutOfRange("addr", "0xc0000000 is kernel space"),
    kernel.FileTooLarge("offset", "past 4 GiB"),
    BadAddress("old_address", "not inside one mapping"),
    kernel.OutOfMemory("commit limit reached"),
    kernel.LimitExceeded("max_processes reached", "max_processes"),
    kernel.NoSpaceOnDevice("the disk is full"),
    kernel.NoSuchProcess(42),
    kernel.NoSuchObject("shm"),
    kernel.FileNotFound("file"),
    kernel.AlreadyExists("shm"),
    kernel.FileExists("file"),
    kernel.PermissionDenied("not your process"),
    kernel.AccessDenied("mode 0600"),
    kernel.ProcessKilled(42, kernel.Signal.SIGKILL, None, "admin"),
    kernel.SegmentationFault(42, 0xC0000000, "kernel space"),
    kernel.OomKilled(42, "out of memory"),
    kernel.errors.NoSuchSwapArea("/swap/gone", "/swap/second"),
    kernel.errors.SwapAreaActive("/swap/second"),
    SwapIoError("Read-error on swap-device (8:0:16)", 16),
    kernel.KernelOops(0xFF000000, "not present", "read"),
    kernel.AtomicContextViolation("kunmap_atomic out of order"),
    kernel.GeneralProtectionFault(0, "the null selector"),
    LabClosed("past the deadline"),
    Unauthenticated("no token"),
    DeadlineExceeded("deadline passed"),
]
# The server's errors a client knows by their status code, under the name of its own.
READ_BY_CODE = {CallCancelled: vmsim.Cancelled, ShuttingDown: vmsim.Unavailable}
# Never sent: ArgumentError is only the base of InvalidArgument and OutOfRange.
NEVER_SENT = {ArgumentError}


def _classes(root: type[kernel.KernelError]) -> set[type[kernel.KernelError]]:
    found = set()
    for sub in root.__subclasses__():
        found |= {sub, *_classes(sub)}
    return found


def test_every_error_class_a_client_may_receive_is_checked_here() -> None:
    assert _classes(kernel.KernelError) - NEVER_SENT == {type(e) for e in SENT} | set(READ_BY_CODE)


@pytest.mark.parametrize("error", SENT, ids=lambda error: type(error).__name__)
def test_an_error_comes_back_as_the_client_class_of_its_name(error: kernel.KernelError) -> None:
    received = error_from_status(status_of(error))
    assert type(received).__name__ == type(error).__name__
    assert isinstance(received, vmsim.VmsimError) and received.message == error.message


@pytest.mark.parametrize("kind", READ_BY_CODE, ids=lambda kind: kind.__name__)
def test_a_server_error_comes_back_as_the_class_its_code_names(
    kind: type[kernel.KernelError],
) -> None:
    assert type(error_from_status(status_of(kind("stopped")))) is READ_BY_CODE[kind]


def test_a_kernel_oops_is_not_a_dead_process() -> None:
    received = error_from_status(status_of(kernel.KernelOops(0xFF000000, "not present", "read")))
    assert not isinstance(received, vmsim.ProcessKilled)
