"""The RPC being handled: one record per call, with its log fields and the metadata grpc
already converted to Python.

grpc.aio converts a call's metadata to a tuple to find its handler (HandlerCallDetails), and
converts it again every time a servicer asks its context (invocation_metadata(): ~5 us of a
Touch in a 1,000-client burst, measured with bench/bench_service.py). The service table
(main.py) remembers the first tuple (remember_call_metadata); RpcObserver's wrapping then
opens the call's record (`current_call`), which ties that tuple to the call's servicer context;
call_metadata reads it from there. A reader holding any other context (a task or thread the
call started, reading a call of its own; a servicer called outside the table) asks that
context, so one call never reads another's token.

The record names the call's context, never its task: a task holds its context variables, and a
task inside them was a reference cycle per call (Task -> Context -> tuple -> Task) that only the
garbage collector freed: ~6 objects a call, twice a plain server's young collections in a burst.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "CALL_CONTEXT",
    "CALL_METADATA",
    "CallRecord",
    "Metadata",
    "call_metadata",
    "current_call",
    "found_metadata",
    "remember_call_metadata",
]

Metadata = tuple[tuple[str, str | bytes], ...]
# (request id prefix, call number, method, peer, request, servicer context, metadata found
# with the handler or None): a plain tuple, the cheapest record to build on every call.
CallRecord = tuple[str, int, str, str, Any, Any, Metadata | None]
CALL_CONTEXT: Final = 5
CALL_METADATA: Final = 6

# Each RPC runs in a task of its own, hence in its own copy of the context variables.
_found: contextvars.ContextVar[Metadata | None] = contextvars.ContextVar(
    "vmsim_found_metadata", default=None
)
# Set by RpcObserver's wrapping while the call's handler runs.
current_call: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "vmsim_current_call", default=None
)

# Keep HandlerCallDetails.invocation_metadata as the metadata of the call being looked up
# (called on the event loop, in the call's task, by grpc while it finds the handler). The
# context variable's own method: no Python frame on every call.
remember_call_metadata: Callable[[Metadata], object] = _found.set
# The metadata remembered in this task, if any (RpcObserver puts it in the call's record).
found_metadata: Callable[[], Metadata | None] = _found.get


def call_metadata(context: Any) -> Metadata:
    """The metadata of the call *context* belongs to: the tuple in the record of the call
    being handled when *context* is that call's, else the context's own."""
    call = current_call.get()
    if call is not None and call[CALL_CONTEXT] is context:
        metadata = call[CALL_METADATA]
        if metadata is not None:
            return metadata
    return context.invocation_metadata() or ()
