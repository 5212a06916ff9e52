"""Per-client limits: who a client is, and how much of the server one client may hold.

Like the per-user limits of kernel/fork.c (RLIMIT_NPROC counts a user's processes, not a
process's): a client identity is something a client cannot choose. It is the name in its
TLS client certificate, else the student of the graded-lab token it sends, else its network
address (the host, never the port). The x-vmsim-client name a client gives itself is only a
label in logs and metrics: counting by it let one peer under 8 names take 256 of 256 slots.

Limits: live processes per identity, threads per process, open Run streams and WatchEvents
streams per identity, request bytes being handled per identity, and the rate of the costly
calls (heavy.py). The last process slots and streams are kept for identities that hold none,
so one client cannot take the last ones. Exceeding one is LimitExceeded (RESOURCE_EXHAUSTED)
naming the limit and its flag.
"""

from __future__ import annotations

import contextlib
import enum
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

from vmsim_kernel import LimitExceeded

from .call_metadata import call_metadata
from .errors import Unauthenticated
from .lab_service import LAB_TOKEN_METADATA_KEY
from .settings import ServerSettings

__all__ = [
    "INFLIGHT_ACCOUNTING_BYTES",
    "ClientLimits",
    "RpcsInFlight",
    "StreamKind",
    "counting_request_bytes",
    "peer_host",
    "requests_stay_small",
]

# Smaller requests are not counted in flight: max_concurrent_rpcs already bounds them to a
# few hundred MiB in all, and skipping them keeps the common call free of the bookkeeping.
INFLIGHT_ACCOUNTING_BYTES: Final = 64 * 1024
# Identities remembered per connection (peer string) and per lab token; past that the cache
# is emptied and refilled, so a client opening connection after connection costs no memory.
IDENTITIES_CACHED: Final = 4096


class StreamKind(enum.Enum):
    """A long-lived call that holds one of the server's concurrent RPCs while it is open."""

    RUN = ("client_max_streams", "--client-max-streams", "Run")  # a process's op stream
    WATCH = ("client_max_watchers", "--client-max-watchers", "WatchEvents")  # the event feed

    def __init__(self, setting: str, flag: str, method: str) -> None:
        self.setting = setting
        self.flag = flag
        self.method = method


def peer_host(peer: str) -> str:
    """The host part of a gRPC peer string: 'ipv4:127.0.0.1:5000' -> '127.0.0.1'."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host = rest.rsplit(":", 1)[0]
        return host.strip("[]")
    return peer


# A limit as the error names it: the setting, its value and the server flag that sets it.
LimitSetting = tuple[str, int, str]


def _at_limit(holder: str, held: str, limit: LimitSetting) -> LimitExceeded:
    """The error of *holder* ("client X", "process 7") asking for one more of what it holds
    *limit*'s worth of already (*held*: "3 threads")."""
    setting, value, flag = limit
    return LimitExceeded(f"{holder} already has {held} ({setting}={value}, {flag})", setting)


def _in_reserve(holder: str, left: str, reserve: LimitSetting) -> LimitExceeded:
    """The error of a client that holds some (*holder*: "client X has 2 live processes") when
    only *left* remain, the reserve kept for clients that hold none."""
    setting, value, flag = reserve
    return LimitExceeded(
        f"{holder} and only {left} are left, kept for clients that have none "
        f"({setting}={value}, {flag})",
        setting,
    )


class RpcsInFlight:
    """The calls being handled, streams included, against --max-concurrent-rpcs.

    RpcObserver's wrapping of every method counts each call in and out and refuses one past
    the limit with `refusal()` (RESOURCE_EXHAUSTED). grpc.aio's own maximum_concurrent_rpcs
    refuses nothing: it stops taking calls off the connections, and costs every call an
    asyncio.Condition round and a task of its own to count it back out, some 10 us of the
    ~80 us a burst's Touch spent beyond a plain grpc.aio server's empty call (issue 23).
    """

    __slots__ = ("count", "limit")

    def __init__(self, limit: int) -> None:
        self.count = 0
        self.limit = limit

    def refusal(self) -> LimitExceeded:
        """The error of a call that finds *limit* calls in flight."""
        return LimitExceeded(
            f"{self.count} RPCs are being handled, as many as the server takes at once "
            f"(max_concurrent_rpcs={self.limit}, --max-concurrent-rpcs): retry when one ends",
            "max_concurrent_rpcs",
        )


class ClientLimits:
    """The configured limits and the per-identity counts that are not kept elsewhere.

    Args:
        settings: the server's settings.
        lab_student: the student holding a graded-lab token, or None for a token of no one
            (None when the server runs no lab).
    """

    def __init__(
        self, settings: ServerSettings, lab_student: Callable[[str], str | None] | None = None
    ) -> None:
        self.mode = settings.client_identity
        self.uses_tls = bool(settings.tls_client_ca)
        self.max_processes = settings.client_max_processes
        self.machine_max_processes = settings.max_processes
        # A quarter at most: a small server (a few processes) still lets a client hold many.
        self.reserve_processes = min(settings.client_reserve_processes, settings.max_processes // 4)
        self.max_threads = settings.max_threads
        self.max_inflight_bytes = settings.client_max_inflight_bytes
        self.max_streams = {
            StreamKind.RUN: settings.client_max_streams,
            StreamKind.WATCH: settings.client_max_watchers,
        }
        self.max_concurrent_rpcs = settings.max_concurrent_rpcs
        self.rpcs_in_flight = RpcsInFlight(settings.max_concurrent_rpcs)
        self.reserve_streams = min(
            settings.client_reserve_streams, settings.max_concurrent_rpcs // 4
        )
        self.streams: dict[StreamKind, Counter[str]] = {kind: Counter() for kind in StreamKind}
        self.nr_open_streams = 0
        self.inflight_bytes: Counter[str] = Counter()
        self._lab_student = lab_student
        self._by_peer: dict[str, str] = {}
        self._by_lab_token: dict[str, str | None] = {}

    def identity(self, context: Any) -> str:
        """Who is calling, as "cert:NAME", "lab:STUDENT" or "peer:HOST".

        Looked up once per connection (and per lab token), then read from a cache.

        Raises:
            Unauthenticated: identities are certificates and the call presented none.
        """
        if self._lab_student is not None and not self.uses_tls and self.mode == "auto":
            for key, value in call_metadata(context):
                if key == LAB_TOKEN_METADATA_KEY:
                    student = self._lab_identity(value)
                    if student is not None:
                        return student
        peer = context.peer() or ""
        identity = self._by_peer.get(peer)
        if identity is None:
            identity = self._connection_identity(context, peer)
            if len(self._by_peer) >= IDENTITIES_CACHED:
                self._by_peer.clear()
            self._by_peer[peer] = identity
        return identity

    def _connection_identity(self, context: Any, peer: str) -> str:
        if self.uses_tls and self.mode in ("auto", "cert"):
            auth = context.auth_context() or {}
            names = auth.get("x509_common_name") or auth.get("x509_subject_alternative_name")
            if names:
                name = names[0]
                return "cert:" + (name.decode() if isinstance(name, bytes) else str(name))
            if self.mode == "cert":
                raise Unauthenticated("this server tells clients apart by certificate: send one")
        return "peer:" + peer_host(peer)

    def _lab_identity(self, token: str | bytes) -> str | None:
        """ "lab:STUDENT" for a token of the lab; None for any other (then the address counts)."""
        text = token if isinstance(token, str) else token.decode(errors="replace")
        if text in self._by_lab_token:
            return self._by_lab_token[text]
        assert self._lab_student is not None
        student = self._lab_student(text)
        identity = None if student is None else "lab:" + student
        if len(self._by_lab_token) >= IDENTITIES_CACHED:
            self._by_lab_token.clear()
        self._by_lab_token[text] = identity
        return identity

    def check_processes(self, identity: str, live: int, live_on_machine: int) -> None:
        """LimitExceeded if *identity*, holding *live* of the machine's *live_on_machine* live
        processes, may not spawn one more: it holds client_max_processes already, or it holds
        some and only the reserve kept for clients that hold none is left."""
        if live >= self.max_processes:
            raise _at_limit(
                f"client {identity}",
                f"{live} live processes",
                ("client_max_processes", self.max_processes, "--client-max-processes"),
            )
        free = self.machine_max_processes - live_on_machine
        if live and self.reserve_processes and free <= self.reserve_processes:
            raise _in_reserve(
                f"client {identity} has {live} live processes",
                f"{free} process slots",
                ("client_reserve_processes", self.reserve_processes, "--client-reserve-processes"),
            )

    def check_threads(self, pid: int, nr_threads: int) -> None:
        """LimitExceeded if process *pid* already has max_threads threads."""
        if nr_threads >= self.max_threads:
            raise _at_limit(
                f"process {pid}",
                f"{nr_threads} threads",
                ("max_threads", self.max_threads, "--max-threads"),
            )

    @contextlib.contextmanager
    def streaming(self, identity: str, kind: StreamKind) -> Iterator[None]:
        """Hold one of *identity*'s streams of *kind* for the block.

        Raises:
            LimitExceeded: *identity* holds its limit of such streams, or holds streams and
                only the reserve of max_concurrent_rpcs kept for clients that hold none is left.
        """
        counts = self.streams[kind]
        held = counts[identity]
        limit = self.max_streams[kind]
        if held >= limit:
            raise _at_limit(
                f"client {identity}",
                f"{held} open {kind.method} streams",
                (kind.setting, limit, kind.flag),
            )
        holds_any = held or any(other[identity] for other in self.streams.values())
        free = self.max_concurrent_rpcs - self.nr_open_streams
        if holds_any and self.reserve_streams and free <= self.reserve_streams:
            raise _in_reserve(
                f"client {identity} holds open streams",
                f"{free} of max_concurrent_rpcs={self.max_concurrent_rpcs}",
                ("client_reserve_streams", self.reserve_streams, "--client-reserve-streams"),
            )
        counts[identity] = held + 1
        self.nr_open_streams += 1
        try:
            yield
        finally:
            self.nr_open_streams -= 1
            counts[identity] -= 1
            if not counts[identity]:
                del counts[identity]

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
