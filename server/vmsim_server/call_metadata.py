"""The metadata of the RPC being handled, converted to Python once per call.

grpc.aio converts a call's metadata to a tuple to find its handler (HandlerCallDetails), and
converts it again every time a servicer asks its context (invocation_metadata(): ~5 us of a
Touch in a 1,000-client burst, measured with bench/bench_service.py). The service table
(main.py) remembers the first tuple for the task that handles the call; call_metadata reads it
from there. The tuple is tied to that task: a reader in any other task, or in a call whose
handler was found elsewhere, asks its own context, so one call never reads another's token.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

__all__ = ["call_metadata", "remember_call_metadata"]

Metadata = tuple[tuple[str, str | bytes], ...]

# (the task handling the call, its metadata); each RPC runs in a task of its own, hence in
# its own copy of the context variables.
_call_metadata: contextvars.ContextVar[tuple[asyncio.Task[Any] | None, Metadata] | None] = (
    contextvars.ContextVar("vmsim_call_metadata", default=None)
)


def remember_call_metadata(metadata: Metadata | None) -> None:
    """Keep *metadata* (HandlerCallDetails.invocation_metadata) as the current task's call's
    (called on the event loop, by grpc, while it finds the call's handler)."""
    if metadata is not None:
        _call_metadata.set((asyncio.current_task(), metadata))


def call_metadata(context: Any) -> Metadata:
    """The metadata of the call *context* belongs to: the tuple remembered for this task, else
    the context's own."""
    held = _call_metadata.get()
    if held is not None and held[0] is not None:
        try:
            if held[0] is asyncio.current_task():
                return held[1]
        except RuntimeError:  # no running loop: a thread the context was copied to (to_thread)
            pass
    return context.invocation_metadata() or ()
