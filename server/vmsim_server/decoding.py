"""Requests that cannot be decoded are the caller's error: INVALID_ARGUMENT naming the method.

grpc calls a method's request deserializer before any servicer code runs; a DecodeError it
raises (a truncated message, bad UTF-8 in a string field) became UNKNOWN "Unexpected
DecodeError". The deserializer wrapped here returns an UndecodableRequest instead, and the
servicer's first look at it raises InvalidArgument, which errors.py maps like any other.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError

from vmsim_kernel import InvalidArgument

__all__ = ["UndecodableRequest", "decoding_checked"]


class UndecodableRequest:
    """Stands for a request whose bytes do not decode; any attribute read raises
    InvalidArgument, so every servicer refuses it at its first use of the request, with no
    check on the path of the requests that do decode."""

    __slots__ = ("_error",)

    def __init__(self, method: str, cause: Exception) -> None:
        object.__setattr__(
            self,
            "_error",
            InvalidArgument(
                "request",
                f"{method}: the request could not be decoded: {cause}",
                f"a serialized request message of {method}",
            ),
        )

    def __getattr__(self, name: str) -> NoReturn:
        raise object.__getattribute__(self, "_error")

    def __repr__(self) -> str:
        return "<undecodable request>"


def decoding_checked(
    path: str, handler: grpc.RpcMethodHandler[Any, Any]
) -> grpc.RpcMethodHandler[Any, Any]:
    """*handler* (of the method at *path*) whose request deserializer turns a DecodeError
    into an UndecodableRequest."""
    deserialize = handler.request_deserializer
    if deserialize is None:
        return handler
    method = path.strip("/")

    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError as error:
            return UndecodableRequest(method, error)

    # grpc's method handlers are named tuples: the same handler, one field changed.
    checked: grpc.RpcMethodHandler[Any, Any] = handler._replace(  # type: ignore[attr-defined]
        request_deserializer=tolerant
    )
    return checked
