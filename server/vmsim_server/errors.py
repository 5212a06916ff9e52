"""The one place where kernel errors become gRPC statuses with rich details.

    InvalidArgument -> INVALID_ARGUMENT (+ BadRequest field violation)
    OutOfRange      -> OUT_OF_RANGE
    OutOfMemory     -> RESOURCE_EXHAUSTED
    LimitExceeded   -> RESOURCE_EXHAUSTED (+ QuotaFailure naming the limit)
    NoSuchProcess   -> NOT_FOUND
    NoSuchObject    -> NOT_FOUND (a shared memory object's name)
    AlreadyExists   -> ALREADY_EXISTS (a shared memory object's name)
    PermissionDenied-> PERMISSION_DENIED
    ProcessKilled   -> FAILED_PRECONDITION (signal, address, reason in ErrorInfo)
    Unauthenticated -> UNAUTHENTICATED (server-side: no or unknown token)
    CallCancelled   -> CANCELLED (server-side: the client cancelled; stopped between quanta)
    DeadlineExceeded-> DEADLINE_EXCEEDED (server-side: the deadline passed; stopped between quanta)
    ShuttingDown    -> UNAVAILABLE (server-side: stopped by a graceful shutdown)
    anything else   -> INTERNAL (a defect: logged with its traceback)
Every kernel status carries an ErrorInfo whose reason is the error's class name, so clients
rebuild the same exception. Every text of a status is bounded (bounded_text): an error may
echo what the client sent, and a 1 MiB item id pushed the status past grpc's 16 KiB metadata
limit (the client saw RESOURCE_EXHAUSTED "Stream removed" instead of the error). statuses_of_errors is the context manager every RPC runs in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vmsim_kernel import (
    AlreadyExists,
    AtomicContextViolation,
    GeneralProtectionFault,
    InvalidArgument,
    KernelError,
    KernelOops,
    LimitExceeded,
    NoSuchObject,
    NoSuchProcess,
    OutOfMemory,
    OutOfRange,
    PermissionDenied,
    ProcessKilled,
    SegmentationFault,
)
from vmsim_kernel.errors import ArgumentError, SwapIoError
from vmsim_lab.grading import LabClosed

__all__ = [
    "ERROR_DOMAIN",
    "CallCancelled",
    "CallOutcome",
    "DeadlineExceeded",
    "ShuttingDown",
    "Unauthenticated",
    "bounded_text",
    "grpc_code_of",
    "status_of",
    "statuses_of_errors",
]

ERROR_DOMAIN = "vmsim.dev"
# Characters of one error text sent to a client. Percent-encoded (up to 12 bytes a character)
# in grpc-message, and twice more in the details, this keeps a status well under 16 KiB.
ERROR_TEXT_CHARS = 300


class Unauthenticated(KernelError):
    """The call has no token, or a token the server never issued."""

    errno_name = "EACCES"


class CallCancelled(KernelError):
    """The client cancelled the call; it stopped at a quantum boundary."""

    errno_name = "EINTR"


class DeadlineExceeded(KernelError):
    """The call's deadline passed; it stopped at a quantum boundary."""

    errno_name = "ETIMEDOUT"


class ShuttingDown(KernelError):
    """The server is shutting down; the call stopped at a quantum boundary."""

    errno_name = "ESHUTDOWN"


_CODES: list[tuple[type[KernelError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (OutOfRange, grpc.StatusCode.OUT_OF_RANGE),
    (OutOfMemory, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NoSuchProcess, grpc.StatusCode.NOT_FOUND),
    (NoSuchObject, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (ProcessKilled, grpc.StatusCode.FAILED_PRECONDITION),
    (KernelOops, grpc.StatusCode.FAILED_PRECONDITION),
    (AtomicContextViolation, grpc.StatusCode.FAILED_PRECONDITION),
    (GeneralProtectionFault, grpc.StatusCode.FAILED_PRECONDITION),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (CallCancelled, grpc.StatusCode.CANCELLED),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (LabClosed, grpc.StatusCode.FAILED_PRECONDITION),
    (SwapIoError, grpc.StatusCode.DATA_LOSS),
]


def grpc_code_of(error: KernelError) -> grpc.StatusCode:
    """The status code for a kernel error (UNKNOWN for an unmapped class)."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.UNKNOWN


def bounded_text(text: str, limit: int = ERROR_TEXT_CHARS) -> str:
    """*text*, cut to *limit* characters with "... (N bytes)" saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text.encode(errors='replace'))} bytes)"


def _bounded_message(error: KernelError) -> str:
    """The error's message with its middle (where an echoed input sits) bounded: a bad
    argument keeps its field and what is allowed, however long the value it quotes."""
    text = error.message
    if len(text) <= ERROR_TEXT_CHARS or not isinstance(error, ArgumentError):
        return bounded_text(text)
    head = f"{error.field}: "
    tail = f" (allowed: {error.allowed})" if error.allowed else ""
    if not (text.startswith(head) and text.endswith(tail)):
        return bounded_text(text)
    middle = text[len(head) : len(text) - len(tail)]
    return bounded_text(head) + bounded_text(middle, 200) + bounded_text(tail)


def _metadata(error: KernelError) -> dict[str, str]:
    metadata = {"errno": error.errno_name}
    if isinstance(error, ArgumentError):
        metadata |= {"field": error.field, "allowed": error.allowed}
    if isinstance(error, ProcessKilled):
        metadata |= {"pid": str(error.pid), "signal": error.signal.name, "reason": error.reason}
        if error.address is not None:
            metadata["address"] = f"0x{error.address:08x}"
        if isinstance(error, SegmentationFault):
            metadata["si_code"] = error.si_code
    if isinstance(error, NoSuchProcess):
        metadata["pid"] = str(error.pid)
    if isinstance(error, NoSuchObject | AlreadyExists):
        metadata["name"] = error.name
    if isinstance(error, LimitExceeded) and error.limit:
        metadata["limit"] = error.limit
    return {key: bounded_text(value) for key, value in metadata.items()}


def status_of(error: KernelError) -> status_pb2.Status:
    """google.rpc.Status for *error*: code, message, ErrorInfo and (for bad arguments) BadRequest."""
    details = []
    message = _bounded_message(error)
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(
            reason=type(error).__name__, domain=ERROR_DOMAIN, metadata=_metadata(error)
        )
    )
    details.append(info)
    if isinstance(error, ArgumentError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=bounded_text(error.field), description=message
        )
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        details.append(bad)
    if isinstance(error, LimitExceeded) and error.limit:
        quota = any_pb2.Any()
        quota.Pack(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=error.limit, description=message
                    )
                ]
            )
        )
        details.append(quota)
    code = grpc_code_of(error)
    return status_pb2.Status(code=code.value[0], message=message, details=details)


@dataclass
class CallOutcome:
    """The status code a call ended with (for metrics and the debug log)."""

    code: grpc.StatusCode = grpc.StatusCode.OK


@contextlib.asynccontextmanager
async def statuses_of_errors(context: Any, outcome: CallOutcome) -> AsyncIterator[None]:
    """Run an RPC body: a kernel error aborts the call with its rich status.

    Args:
        context: the call's grpc.aio.ServicerContext.
        outcome: receives the code the call ends with.
    """
    try:
        yield
    except KernelError as error:
        outcome.code = grpc_code_of(error)
        await context.abort_with_status(rpc_status.to_status(status_of(error)))
    except grpc.aio.AbortError:
        outcome.code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    except asyncio.CancelledError:
        outcome.code = grpc.StatusCode.CANCELLED
        raise
    except Exception as error:
        outcome.code = grpc.StatusCode.INTERNAL
        # imported here: structlog (and the rich console it brings) is the server's, loaded
        # by main.py; the client's offline exercises use status_of without it
        import structlog

        structlog.get_logger("vmsim.server").exception("rpc failed", error=repr(error))
        await context.abort(grpc.StatusCode.INTERNAL, bounded_text(f"internal error: {error!r}"))
