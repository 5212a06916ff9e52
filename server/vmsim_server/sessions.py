"""Who may act on which process, and how long a silent client's process lives.

A token is issued at Spawn; every call names its pid and carries the token. A process
whose client has shown no sign of life for the lease (no call begun or ended, no heartbeat),
holds no open Run stream and has no call queued or running, is killed.
The session of a dead process is kept while the kernel keeps its record (a bounded number
of zombies), so that its client learns why. Clock readings are the server's business;
the kernel never sees them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from vmsim_kernel import PermissionDenied
from vmsim_proto.metadata import ADMIN_TOKEN_METADATA_KEY, TOKEN_METADATA_KEY

from .errors import Unauthenticated

__all__ = [
    "ADMIN_TOKEN_METADATA_KEY",
    "TOKEN_METADATA_KEY",
    "CallInFlight",
    "Session",
    "SessionTable",
    "check_owner",
]

FIRST_UID = 1000  # the first client's uid, as the first user of a Linux system


@dataclass
class Session:
    """One client's hold on one process."""

    pid: int
    token: str
    identity: str = ""  # the client identity it counts against (limits.py)
    last_seen: float = field(default_factory=time.monotonic)
    open_streams: int = 0
    calls_in_flight: int = 0  # queued or running on the scheduler: the client is waiting
    leased: bool = True  # False once the process is dead: nothing left to expire
    closed: bool = False  # forgotten by the table: its token no longer works


class SessionTable:
    """token -> session, with lease bookkeeping."""

    def __init__(self, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self._by_token: dict[str, Session] = {}
        self._by_pid: dict[int, Session] = {}
        self._by_identity: dict[str, set[int]] = {}
        self._uids: dict[str, int] = {}  # client identity -> the uid its processes run as

    def __len__(self) -> int:
        return len(self._by_pid)

    def open(self, pid: int, identity: str = "") -> Session:
        """A new session (and its token) for a freshly spawned process of client *identity*."""
        session = Session(pid, secrets.token_urlsafe(24), identity)
        self._by_token[session.token] = session
        self._by_pid[pid] = session
        self._by_identity.setdefault(identity, set()).add(pid)
        return session

    def uid_of(self, identity: str) -> int:
        """The user client *identity*'s processes run as: one uid per client, from
        FIRST_UID in the order clients first spawned (a shared memory object's mode is
        checked against it, so another client is "others")."""
        return self._uids.setdefault(identity, FIRST_UID + len(self._uids))

    def pids_of(self, identity: str) -> frozenset[int]:
        """Pids whose sessions belong to client *identity* (live or recently dead)."""
        return frozenset(self._by_identity.get(identity, ()))

    def session_of(self, token: str | None) -> Session:
        """The session *token* names; renews its lease.

        Raises:
            Unauthenticated: no token, or one this server never issued (or has forgotten).
        """
        if not token:
            raise Unauthenticated(f"missing {TOKEN_METADATA_KEY} metadata: spawn a process first")
        session = self._by_token.get(token)
        if session is None:
            raise Unauthenticated("unknown token: it was never issued or its process is gone")
        session.last_seen = time.monotonic()
        return session

    def authorize(self, token: str | None, pid: int) -> Session:
        """The session of *token*, which must own *pid*; renews the lease.

        Raises:
            Unauthenticated: see session_of.
            PermissionDenied: the token belongs to another process.
        """
        session = self._by_token.get(token) if token else None
        if session is None or session.pid != pid:  # refused: session_of or check_owner says why
            session = self.session_of(token)
            check_owner(session, pid)
        session.last_seen = time.monotonic()
        return session

    def call_in_flight(self, session: Session) -> CallInFlight:
        """A call of *session* is queued or running during the with-block: its lease cannot
        expire, and its end (the reply on its way to a client that waited) counts as a sign
        of life."""
        return CallInFlight(session)

    def close(self, pid: int) -> None:
        """Forget a process's session (its token stops working)."""
        session = self._by_pid.pop(pid, None)
        if session is not None:
            session.closed = True
            self._by_token.pop(session.token, None)
            pids = self._by_identity.get(session.identity)
            if pids is not None:
                pids.discard(pid)
                if not pids:
                    del self._by_identity[session.identity]

    def expired(self) -> list[int]:
        """Pids whose client has been silent longer than the lease, with no open stream and
        no call queued or running."""
        deadline = time.monotonic() - self.lease_seconds
        return [
            s.pid
            for s in self._by_pid.values()
            if s.leased
            and s.open_streams == 0
            and s.calls_in_flight == 0
            and s.last_seen < deadline
        ]

    def end_lease(self, pid: int) -> None:
        """The process is dead: keep its token so its client learns why, but stop the lease."""
        session = self._by_pid.get(pid)
        if session is not None:
            session.leased = False

    def streaming(self) -> list[int]:
        """Pids whose Run stream is still open (at shutdown, the server ends them itself)."""
        return [s.pid for s in self._by_pid.values() if s.open_streams > 0]

    def dead(self) -> list[int]:
        """Pids whose process is known to be dead (their sessions only explain why)."""
        return [s.pid for s in self._by_pid.values() if not s.leased]


class CallInFlight:
    """SessionTable.call_in_flight's context manager (a class: every unary call enters one,
    and contextlib's generator-based kind costs it ~2 us more)."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def __enter__(self) -> None:
        self._session.calls_in_flight += 1

    def __exit__(self, *exc_info: object) -> None:
        session = self._session
        session.calls_in_flight -= 1
        session.last_seen = time.monotonic()


def check_owner(session: Session, pid: int) -> None:
    """PermissionDenied unless *session* owns *pid*."""
    if session.pid != pid:
        raise PermissionDenied(f"this token belongs to pid {session.pid}, not pid {pid}")
