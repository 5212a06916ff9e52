"""scripts/async_client.py: the asyncio client's one-line call methods are generated from the
sync client's, and the checked-in module is what the generator makes of today's client.py."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import async_client  # noqa: E402  (a script, not a package)

SYNC_CLIENT = '''
from .constants import PROT_READ, SEEK_SET


class Inspector:
    def meminfo(self) -> results.Report:
        """/proc/meminfo."""
        return self._endpoint.invoke(calls.meminfo())

    def free_kb(self) -> int:
        meminfo = self._endpoint.invoke(calls.meminfo())
        return meminfo["MemFree"]


class Admin:
    def kill(self, pid: int, reason: str = "") -> None:
        self._endpoint.invoke(calls.kill(pid, reason))


class Process:
    def munmap(
        self,
        addr: int,
        length: int,
    ) -> None:
        """munmap(2)."""
        self._invoke(calls.munmap(self.pid, addr, length))

    def _heartbeat(self) -> None:
        self._endpoint.invoke(calls.heartbeat(self.pid))

    def stream(self) -> OperationStream:
        return OperationStream(self)


class File:
    def lseek(self, offset: int, whence: int = SEEK_SET) -> int:
        """lseek(2)."""
        return self.process._invoke(calls.lseek(self.process.pid, self.fd, offset, whence))
'''


def test_a_one_line_call_method_gets_its_awaited_twin_with_the_same_signature() -> None:
    text = async_client.render_async_methods(SYNC_CLIENT)
    assert (
        "    async def munmap(\n"
        "        self,\n"
        "        addr: int,\n"
        "        length: int,\n"
        "    ) -> None:\n"
        '        """munmap(2)."""\n'
        "        await self._invoke(calls.munmap(self.pid, addr, length))\n"
    ) in text
    assert (
        "    async def meminfo(self) -> results.Report:\n"
        '        """/proc/meminfo."""\n'
        "        return await self._endpoint.invoke(calls.meminfo())\n"
    ) in text
    assert "        await self._endpoint.invoke(calls.kill(pid, reason))\n" in text  # no docstring
    assert "return await self.process._invoke(calls.lseek(" in text
    assert "from ..constants import SEEK_SET\n" in text  # a default's constant, and only it


def test_what_is_more_than_one_call_or_private_stays_hand_written() -> None:
    text = async_client.render_async_methods(SYNC_CLIENT)
    for name in ("free_kb", "_heartbeat", "stream"):
        assert f"def {name}(" not in text, name


def test_the_checked_in_twins_are_those_of_todays_client() -> None:
    source = (ROOT / async_client.CLIENT_SOURCE).read_text()
    checked_in = (ROOT / async_client.AIO_METHODS_OUTPUT).read_text()
    assert checked_in == async_client.render_async_methods(source)
