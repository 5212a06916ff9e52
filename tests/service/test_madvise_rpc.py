"""MADV_FREE through the server, both clients and the shell; refused advice is
INVALID_ARGUMENT and changes nothing."""

from __future__ import annotations

import asyncio

import pytest

import vmsim
from vmsim.shell import ProcessShell


def _lazyfree_kb(smaps_text: str) -> int:
    return sum(
        int(line.split()[1]) for line in smaps_text.splitlines() if line.startswith("LazyFree:")
    )


def test_madv_free_marks_the_pages_lazyfree_and_keeps_their_bytes(server_address: str) -> None:
    with (
        vmsim.connect(server_address, name="lazy") as proc,
        vmsim.inspect(server_address) as inspector,
    ):
        addr = proc.mmap(16 * vmsim.PAGE_SIZE)
        proc.write(addr, b"still here")
        proc.touch_many(range(addr, addr + 16 * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE), write=True)
        before = inspector.vmstat()["pglazyfree"]
        proc.madvise(addr, 16 * vmsim.PAGE_SIZE, vmsim.MADV_FREE)
        assert inspector.vmstat()["pglazyfree"] - before == 16
        assert _lazyfree_kb(proc.smaps().text) == 64
        assert proc.read(addr, 10) == b"still here"


def test_madv_free_on_shared_memory_is_invalid_argument_and_changes_nothing(
    server_address: str,
) -> None:
    with vmsim.connect(server_address, name="shared") as proc:
        addr = proc.mmap(4 * vmsim.PAGE_SIZE, flags=vmsim.MAP_SHARED | vmsim.MAP_ANONYMOUS)
        proc.write(addr, b"shared")
        before = proc.smaps().text
        with pytest.raises(vmsim.InvalidArgument, match="MADV_FREE on a shared") as raised:
            proc.madvise(addr, 4 * vmsim.PAGE_SIZE, vmsim.MADV_FREE)
        assert raised.value.code == "INVALID_ARGUMENT"
        assert raised.value.errno == "EINVAL"
        assert proc.smaps().text == before
        with pytest.raises(vmsim.InvalidArgument, match="FREE 8"):
            proc.madvise(addr, vmsim.PAGE_SIZE, 9)


def test_the_asyncio_client_and_the_shell_free_lazily_too(
    server_address: str, shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> str:
        async with vmsim.aio.connect(server_address, name="a") as proc:
            addr = await proc.mmap(8 * vmsim.PAGE_SIZE)
            await proc.write(addr, b"x")
            await proc.madvise(addr, 8 * vmsim.PAGE_SIZE, vmsim.MADV_FREE)
            return (await proc.smaps()).text

    assert _lazyfree_kb(asyncio.run(scenario())) == 4
    shell.onecmd("mmap 16k")
    address = capsys.readouterr().out.strip()
    shell.onecmd(f"write {address} hello")
    capsys.readouterr()
    shell.onecmd(f"madvise {address} 16k free")
    assert capsys.readouterr().out == ""
    assert _lazyfree_kb(shell.process.smaps().text) == 4
    shell.onecmd(f"madvise {address} 16k gone")
    assert "free" in capsys.readouterr().out
