"""AdminService: privileged calls (kernel/signal.c kill, sysctl -w, swapon/swapoff), allowed
only with the admin token; reading a sysctl is allowed to anyone."""

from __future__ import annotations

import hmac
from typing import Any

import grpc

from vmsim_kernel import InvalidArgument, Machine, PermissionDenied, Signal
from vmsim_proto.v1 import admin_pb2, admin_pb2_grpc

from . import convert
from .call_metadata import call_metadata
from .sessions import ADMIN_TOKEN_METADATA_KEY

__all__ = ["AdminService", "require_admin"]

Context = grpc.aio.ServicerContext[Any, Any]
MAX_KILL_REASON = 256  # characters of a KillProcess reason


def require_admin(context: Context, admin_token: str) -> None:
    """PermissionDenied unless the call carries the admin token (compared in constant time)."""
    for key, value in call_metadata(context):
        given = value if isinstance(value, str) else value.decode()
        if (
            key == ADMIN_TOKEN_METADATA_KEY
            and admin_token
            and hmac.compare_digest(given.encode(), admin_token.encode())
        ):
            return
    raise PermissionDenied(
        f"this call needs the server's admin token in {ADMIN_TOKEN_METADATA_KEY} metadata"
    )


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    """Killing processes, clearing lock_stat, the vm sysctls, swap areas."""

    def __init__(self, machine: Machine, admin_token: str) -> None:
        self._machine = machine
        self._admin_token = admin_token

    async def KillProcess(
        self, request: admin_pb2.KillProcessRequest, context: Context
    ) -> admin_pb2.KillProcessResponse:
        require_admin(context, self._admin_token)
        if len(request.reason) > MAX_KILL_REASON:  # it is logged and told to the process's client
            raise InvalidArgument(
                "reason",
                f"{len(request.reason.encode())} bytes is too long",
                f"at most {MAX_KILL_REASON} characters",
            )
        self._machine.kill(request.pid, Signal.SIGKILL, request.reason or "killed by admin")
        return admin_pb2.KillProcessResponse()

    async def ResetLockStat(
        self, request: admin_pb2.ResetLockStatRequest, context: Context
    ) -> admin_pb2.ResetLockStatResponse:
        require_admin(context, self._admin_token)
        self._machine.reset_lock_stat()
        return admin_pb2.ResetLockStatResponse()

    async def GetSysctl(
        self, request: admin_pb2.GetSysctlRequest, context: Context
    ) -> admin_pb2.GetSysctlResponse:
        values = self._machine.sysctl(request.name)
        return admin_pb2.GetSysctlResponse(
            sysctls=[admin_pb2.Sysctl(name=name, value=value) for name, value in values.items()]
        )

    async def SetSysctl(
        self, request: admin_pb2.SetSysctlRequest, context: Context
    ) -> admin_pb2.SetSysctlResponse:
        require_admin(context, self._admin_token)
        name = request.name
        value = self._machine.set_sysctl(name, request.value)
        return admin_pb2.SetSysctlResponse(
            sysctl=admin_pb2.Sysctl(name=next(iter(self._machine.sysctl(name))), value=value)
        )

    async def SwapOn(
        self, request: admin_pb2.SwapOnRequest, context: Context
    ) -> admin_pb2.SwapOnResponse:
        require_admin(context, self._admin_token)
        priority = request.priority if request.HasField("priority") else -1
        area = self._machine.swapon(request.name, request.size_bytes, priority)
        return admin_pb2.SwapOnResponse(area=convert.swap_area(area))

    async def SwapOff(
        self, request: admin_pb2.SwapOffRequest, context: Context
    ) -> admin_pb2.SwapOffResponse:
        require_admin(context, self._admin_token)
        self._machine.swapoff(request.name)
        return admin_pb2.SwapOffResponse()
