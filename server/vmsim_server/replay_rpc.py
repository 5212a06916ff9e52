"""Replay and GetMissRatioCurve as pure functions of their messages (vmsim_teach's replay).

One decoder, one kernel call and one encoder for both ways a replay is asked for: the
InspectService runs these functions (in its worker process, or a thread), and the client's
offline `vmsim replay` calls them in this process through in_process.call_in_process (the
`vmsim.embedded` entry point `calls`), so an offline answer is the server's answer, message
for message, without starting a server. This module imports neither grpc nor the rest of the server.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.config import ReplacementPolicy
from vmsim_kernel.errors import InvalidArgument
from vmsim_proto.v1 import inspect_pb2
from vmsim_teach.replay import replay
from vmsim_teach.replay_fast import lru_miss_curve, runs_in_c

from .generated import messages

__all__ = [
    "holds_the_gil_briefly",
    "miss_ratio_curve_response",
    "replay_response",
    "request_trace",
    "trace_length",
]

TraceRequest = inspect_pb2.ReplayRequest | inspect_pb2.GetMissRatioCurveRequest
_PACKED_ENTRY_BYTES: Final = 4  # little-endian uint32


def trace_length(request: TraceRequest) -> int:
    """References in the request's trace, whichever form it came in (before decoding it)."""
    return len(request.packed_trace) // _PACKED_ENTRY_BYTES or len(request.trace)


def request_trace(request: TraceRequest) -> npt.NDArray[np.uint32]:
    """The request's trace as an array: `packed_trace` read in place, or the repeated `trace`.

    Raises:
        InvalidArgument: both forms are set, or the packed bytes are not whole uint32 values.
    """
    if request.packed_trace and len(request.trace):
        raise InvalidArgument(
            "packed_trace", "both trace and packed_trace are set", "one of the two"
        )
    if len(request.packed_trace) % _PACKED_ENTRY_BYTES:
        raise InvalidArgument(
            "packed_trace",
            f"{len(request.packed_trace)} bytes are not whole uint32 values",
            "a multiple of 4 bytes: little-endian uint32 values",
        )
    if request.packed_trace:
        return np.frombuffer(request.packed_trace, dtype="<u4")
    return np.asarray(request.trace, dtype=np.uint32)


def holds_the_gil_briefly(request: inspect_pb2.ReplayRequest) -> bool:
    """Whether replay_response(request) holds the GIL for a few milliseconds only: the counts
    of a replay in C (the victims and fault positions of a long trace would be millions of
    Python ints, and the Python policies hold the GIL throughout)."""
    try:
        policy = ReplacementPolicy(request.policy.lower())
    except ValueError:
        return False  # refused with its message wherever it runs
    return request.counts_only and not request.steps and runs_in_c(policy)


def replay_response(request: inspect_pb2.ReplayRequest) -> inspect_pb2.ReplayResponse:
    """Replay the request's trace.

    Raises:
        InvalidArgument: a bad trace, frame count or policy.
    """
    result = replay(
        request_trace(request),
        request.frames,
        request.policy,
        seed=request.seed,
        addresses=request.addresses,
        steps=request.steps,
        lists=not request.counts_only,
    )
    return messages.replay(result)


def miss_ratio_curve_response(
    request: inspect_pb2.GetMissRatioCurveRequest,
) -> inspect_pb2.GetMissRatioCurveResponse:
    """The LRU miss-ratio curve of the request's trace.

    Raises:
        InvalidArgument: a bad trace.
    """
    curve = lru_miss_curve(request_trace(request), addresses=request.addresses)
    return inspect_pb2.GetMissRatioCurveResponse(
        references=curve.references, distinct_pages=curve.distinct_pages, misses=curve.misses
    )
