"""The two shapes every endpoint shares, in a module that loads no messages: one unary call
as data (`Call`, built by calls.py and lab.py) and a handle closed when its `with` ends.

lab.py's practice questions need only these; calls.py and endpoint.py load every service's
messages, more than `vmsim lab question` offline spends in all (issue 23).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

__all__ = ["AsyncClosedOnExit", "Call", "ClosedOnExit"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One unary RPC: service ("process", "inspect", "admin"), method, request, reply reader."""

    service: str
    method: str
    request: Any
    read: Callable[[Any], T]


class ClosedOnExit:
    """`with handle:` closes the handle (its channel, its process) when the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClosedOnExit:
    """`async with handle:` closes the handle when the block ends."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
