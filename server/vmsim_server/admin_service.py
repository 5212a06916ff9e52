"""AdminService: privileged calls, allowed only with the server's admin token."""

from __future__ import annotations

import hmac
from typing import Any

import grpc
import structlog

from vmsim.v1 import admin_pb2, admin_pb2_grpc
from vmsim_kernel import Machine, PermissionDenied, Signal

from .sessions import ADMIN_TOKEN_METADATA_KEY, SessionTable

__all__ = ["AdminService", "require_admin"]

log = structlog.get_logger("vmsim.server")
Context = grpc.aio.ServicerContext[Any, Any]


def require_admin(context: Context, admin_token: str) -> None:
    """PermissionDenied unless the call carries the admin token."""
    for key, value in context.invocation_metadata() or ():
        given = value if isinstance(value, str) else value.decode()
        if key == ADMIN_TOKEN_METADATA_KEY and hmac.compare_digest(given, admin_token):
            return
    raise PermissionDenied(
        f"this call needs the server's admin token in {ADMIN_TOKEN_METADATA_KEY} metadata"
    )


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    """Killing processes."""

    def __init__(self, machine: Machine, sessions: SessionTable, admin_token: str) -> None:
        self._machine = machine
        self._sessions = sessions
        self._admin_token = admin_token

    async def KillProcess(
        self, request: admin_pb2.KillProcessRequest, context: Context
    ) -> admin_pb2.KillProcessResponse:
        require_admin(context, self._admin_token)
        reason = request.reason or "killed by admin"
        self._machine.kill(request.pid, Signal.SIGKILL, reason)
        log.info("process killed", pid=request.pid, signal="SIGKILL", reason=reason)
        return admin_pb2.KillProcessResponse()
