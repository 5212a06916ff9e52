"""Per-client limits: who a client is, and how much of the server one client may hold.

Like the per-user limits of kernel/fork.c (RLIMIT_NPROC counts a user's processes, not a
process's): a client identity is the name in its TLS certificate, the x-vmsim-client name
it sends, or its network address, as configured. Limits: live processes per identity,
threads per process, open WatchEvents streams per identity, and request bytes being
handled per identity. Exceeding one is LimitExceeded (RESOURCE_EXHAUSTED) naming the limit.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

from vmsim_kernel import LimitExceeded

from .errors import Unauthenticated
from .settings import ServerSettings

__all__ = [
    "CLIENT_METADATA_KEY",
    "INFLIGHT_ACCOUNTING_BYTES",
    "ClientLimits",
    "counting_request_bytes",
    "peer_host",
    "requests_stay_small",
]

CLIENT_METADATA_KEY: Final = "x-vmsim-client"
# Smaller requests are not counted in flight: max_concurrent_rpcs already bounds them to a
# few hundred MiB in all, and skipping them keeps the common call free of the bookkeeping.
INFLIGHT_ACCOUNTING_BYTES: Final = 64 * 1024


def peer_host(peer: str) -> str:
    """The host part of a gRPC peer string: 'ipv4:127.0.0.1:5000' -> '127.0.0.1'."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host = rest.rsplit(":", 1)[0]
        return host.strip("[]")
    return peer


class ClientLimits:
    """The configured limits and the per-identity counts that are not kept elsewhere."""

    def __init__(self, settings: ServerSettings) -> None:
        self.mode = settings.client_identity
        self.uses_tls = bool(settings.tls_client_ca)
        self.max_processes = settings.client_max_processes
        self.max_threads = settings.max_threads
        self.max_watchers = settings.client_max_watchers
        self.max_inflight_bytes = settings.client_max_inflight_bytes
        self.watchers: Counter[str] = Counter()
        self.inflight_bytes: Counter[str] = Counter()

    def identity(self, context: Any) -> str:
        """Who is calling, as "cert:NAME", "name:NAME" or "peer:HOST".

        Raises:
            Unauthenticated: identities are certificates and the call presented none.
        """
        if self.uses_tls and self.mode in ("auto", "cert"):
            auth = context.auth_context() or {}
            names = auth.get("x509_common_name") or auth.get("x509_subject_alternative_name")
            if names:
                name = names[0]
                return "cert:" + (name.decode() if isinstance(name, bytes) else str(name))
            if self.mode == "cert":
                raise Unauthenticated("this server tells clients apart by certificate: send one")
        if self.mode in ("auto", "name"):
            for key, value in context.invocation_metadata() or ():
                if key == CLIENT_METADATA_KEY and value:
                    return "name:" + (value if isinstance(value, str) else value.decode())
        return "peer:" + peer_host(context.peer() or "")

    def check_processes(self, identity: str, live: int) -> None:
        """LimitExceeded if *identity* already holds client_max_processes live processes."""
        if live >= self.max_processes:
            raise LimitExceeded(
                f"client {identity} already has {live} live processes "
                f"(client_max_processes={self.max_processes}, --client-max-processes)",
                "client_max_processes",
            )

    def check_threads(self, pid: int, nr_threads: int) -> None:
        """LimitExceeded if process *pid* already has max_threads threads."""
        if nr_threads >= self.max_threads:
            raise LimitExceeded(
                f"process {pid} already has {nr_threads} threads "
                f"(max_threads={self.max_threads}, --max-threads)",
                "max_threads",
            )

    @contextlib.contextmanager
    def watching(self, identity: str) -> Iterator[None]:
        """Hold one of *identity*'s WatchEvents slots for the block."""
        if self.watchers[identity] >= self.max_watchers:
            raise LimitExceeded(
                f"client {identity} already has {self.watchers[identity]} open WatchEvents "
                f"streams (client_max_watchers={self.max_watchers}, --client-max-watchers)",
                "client_max_watchers",
            )
        self.watchers[identity] += 1
        try:
            yield
        finally:
            self.watchers[identity] -= 1
            if not self.watchers[identity]:
                del self.watchers[identity]

    @contextlib.contextmanager
    def in_flight(self, identity: str, nbytes: int) -> Iterator[None]:
        """Count *nbytes* of *identity*'s requests as being handled during the block."""
        held = self.inflight_bytes[identity]
        if held + nbytes > self.max_inflight_bytes:
            raise LimitExceeded(
                f"client {identity} has {held} request bytes in flight and sent {nbytes} more "
                f"(client_max_inflight_bytes={self.max_inflight_bytes}, --client-max-inflight)",
                "client_max_inflight_bytes",
            )
        self.inflight_bytes[identity] = held + nbytes
        try:
            yield
        finally:
            self.inflight_bytes[identity] -= nbytes
            if not self.inflight_bytes[identity]:
                del self.inflight_bytes[identity]


def counting_request_bytes(
    limits: ClientLimits, path: str, handler: grpc.RpcMethodHandler[Any, Any]
) -> Any:
    """*handler* (of the method at *path*) with its large requests counted in flight per
    client identity (ClientLimits.in_flight). Applied once per method, inside RpcObserver's
    wrapping, whose error mapping turns a LimitExceeded into RESOURCE_EXHAUSTED. A method
    whose requests can never be large (a Touch) is left as it is: nothing to count, and no
    wrapper for every call to pass through."""
    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if requests_stay_small(path):
        return handler
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _counted_unary(limits, handler.unary_unary), **options
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            _counted_stream_requests(limits, handler.stream_stream), **options
        )
    return handler


def requests_stay_small(path: str) -> bool:
    """Whether the request message of the method at *path* ("/vmsim.v1.ProcessService/Touch")
    has only scalar fields (no repeated, string, bytes or message field): a few dozen bytes
    at most, never INFLIGHT_ACCOUNTING_BYTES. False for a method the descriptor pool lacks."""
    try:
        method = descriptor_pool.Default().FindMethodByName(path.strip("/").replace("/", "."))
    except KeyError:
        return False
    unbounded = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
    return not any(
        field.is_repeated or field.message_type is not None or field.type in unbounded
        for field in method.input_type.fields
    )


def _counted_unary(limits: ClientLimits, behaviour: Any) -> Any:
    async def wrapper(request: Any, context: Any) -> Any:
        size = request.ByteSize()
        if size < INFLIGHT_ACCOUNTING_BYTES:
            return await behaviour(request, context)
        with limits.in_flight(limits.identity(context), size):
            return await behaviour(request, context)

    return wrapper


def _counted_stream_requests(limits: ClientLimits, behaviour: Any) -> Any:
    async def counted(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        identity: str | None = None
        async for request in requests:
            size = request.ByteSize()
            if size < INFLIGHT_ACCOUNTING_BYTES:
                yield request
                continue
            identity = identity or limits.identity(context)
            with limits.in_flight(identity, size):
                yield request  # held until the handler asks for the next message

    def wrapper(requests: AsyncIterator[Any], context: Any) -> Any:
        return behaviour(counted(requests, context), context)

    return wrapper
