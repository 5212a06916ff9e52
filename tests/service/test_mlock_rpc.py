"""mlock/munlock through the server, the clients and the shell."""

from __future__ import annotations

import asyncio

import pytest

import vmsim
from vmsim.errors import OutOfMemory
from vmsim.shell import ProcessShell


def test_mlock_faults_in_and_locks_then_munlock_releases(server_address: str) -> None:
    with (
        vmsim.connect(server_address, name="locker") as proc,
        vmsim.inspect(server_address) as inspector,
    ):
        addr = proc.mmap(64 * 4096)
        proc.mlock(addr, 64 * 4096)
        assert proc.last_cost is not None and proc.last_cost.total_ns > 0
        assert proc.status().minor_faults == 64
        assert inspector.meminfo()["Mlocked"] == 256
        proc.munlock(addr, 32 * 4096)
        assert inspector.meminfo()["Mlocked"] == 128
        with pytest.raises(OutOfMemory, match="ENOMEM"):
            proc.mlock(addr, 128 * 4096)  # half of it is in no mapping
        assert inspector.meminfo()["Mlocked"] == 128


def test_the_asyncio_client_and_the_shell_lock_too(
    server_address: str, shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> int:
        async with vmsim.aio.connect(server_address, name="a") as proc:
            addr = await proc.mmap(8 * 4096)
            await proc.mlock(addr, 8 * 4096)
            async with vmsim.aio.inspect(server_address) as inspector:
                return (await inspector.meminfo())["Mlocked"]

    assert asyncio.run(scenario()) == 32
    shell.onecmd("mmap 16k")
    address = capsys.readouterr().out.strip()
    shell.onecmd(f"mlock {address} 16k")
    assert capsys.readouterr().out == ""
    assert "Locked:               16 kB" in shell.process.smaps().text
    shell.onecmd(f"munlock {address} 16k")
    shell.onecmd("mlock")
    assert "usage: mlock ADDR LEN" in capsys.readouterr().out
