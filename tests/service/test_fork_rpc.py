"""ProcessService.Fork through the clients: the child is a copy-on-write copy with a token of
its own, usable from another connection; the per-client process limit applies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import vmsim
from vmsim.aio import AsyncProcess
from vmsim.errors import LimitExceeded, Unauthenticated
from vmsim.shell import ProcessShell


def test_the_child_shares_pages_until_one_side_writes(server_address: str) -> None:
    with vmsim.connect(server_address, name="parent") as parent:
        addr = parent.mmap(64 << 10)
        parent.write(addr, b"from the parent")
        with parent.fork() as child:
            assert child.pid != parent.pid
            assert child.read(addr, 15) == b"from the parent"
            (vma,) = [vma for vma in child.smaps().items if vma.start == addr]
            assert vma.shared_dirty == 4096 and vma.pss == 2048
            child.write(addr, b"from the child!")
            assert parent.read(addr, 15) == b"from the parent"
            assert child.read(addr, 15) == b"from the child!"
            assert child.status().minor_faults == 1  # the copy; the read before it was a hit


def test_another_connection_attaches_to_the_child_with_its_token(server_address: str) -> None:
    with vmsim.connect(server_address, name="parent") as parent:
        addr = parent.mmap(4096)
        parent.write(addr, b"handed over")
        child = parent.fork()
        with vmsim.Process.attach(child.pid, child.token, server_address) as elsewhere:
            assert elsewhere.read(addr, 11) == b"handed over"
        with pytest.raises(Unauthenticated):
            vmsim.Process.attach(child.pid, "not-a-token", server_address)
        child.close()


def test_fork_past_the_per_client_process_limit_is_refused_and_changes_nothing(
    start_server: Callable[..., Any],
) -> None:
    server = start_server(client_max_processes=1)
    with (
        vmsim.connect(server.address, name="only") as parent,
        vmsim.inspect(server.address) as inspector,
    ):
        before = inspector.meminfo().values["MemFree"]
        with pytest.raises(LimitExceeded, match="client_max_processes"):
            parent.fork()
        assert [status.pid for status in inspector.processes()] == [parent.pid]
        assert inspector.meminfo().values["MemFree"] == before


def test_the_asyncio_client_forks_too(server_address: str) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        async with vmsim.aio.connect(server_address, name="parent") as parent:
            addr = await parent.mmap(4096)
            await parent.write(addr, b"async")
            child = await parent.fork()
            async with child:
                await child.write(addr, b"CHILD")
                attached = await AsyncProcess.attach(child.pid, child.token, server_address)
                async with attached:
                    return await parent.read(addr, 5), await attached.read(addr, 5)

    assert asyncio.run(scenario()) == (b"async", b"CHILD")


def test_the_shell_forks_and_switches_between_parent_and_child(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = shell.process.pid
    shell.onecmd("mmap 4k")
    address = capsys.readouterr().out.strip()
    shell.onecmd(f"write {address} parent")
    shell.onecmd("fork")
    said = capsys.readouterr().out
    child = next(pid for pid in shell.others)
    assert f"child pid {child}" in said
    shell.onecmd(f"switch {child}")
    assert shell.process.pid == child
    shell.onecmd(f"write {address} child!")
    shell.onecmd(f"switch {parent}")
    capsys.readouterr()
    assert shell.process.read(int(address, 0), 6) == b"parent"
    shell.onecmd("switch 99999")
    assert "is not a process of this shell" in capsys.readouterr().out


@pytest.mark.slow
def test_xv6_cowtest_through_the_server(server_address: str) -> None:
    """A process using more than half of the server's 16 MiB forks; both write everything
    (swap takes what RAM cannot hold); each reads its own bytes back; after both exit the
    free memory (with the per-cpu lists) is what it was."""
    chunk = 1 << 20
    with vmsim.inspect(server_address) as inspector:
        free_before = inspector.free_kb()
        size = inspector.meminfo()["MemTotal"] * 1024 * 6 // 10 // chunk * chunk
        with vmsim.connect(server_address, name="cowtest") as parent:
            addr = parent.mmap(size)
            parent.touch_many(range(addr, addr + size, 4096), write=True)
            with parent.fork() as child:
                for proc, tag in ((child, b"c"), (parent, b"p")):
                    for offset in range(0, size, chunk):
                        proc.write(addr + offset, tag * chunk)
                for proc, tag in ((parent, b"p"), (child, b"c")):
                    for offset in range(0, size, chunk):
                        assert proc.read(addr + offset, chunk) == tag * chunk
        free_after = inspector.free_kb()
        assert free_after == free_before
