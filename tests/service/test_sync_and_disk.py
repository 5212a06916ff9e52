"""sync(2) over gRPC (both clients and the shell) and the server's --disk-bytes: sync writes
back every file's dirty pages whoever dirtied them; the disk the flag sizes bounds the files."""

from __future__ import annotations

import asyncio

import pytest
from tests.service.conftest import StartServer

import vmsim
from vmsim import O_CREAT, O_RDWR, PAGE_SIZE
from vmsim.errors import FileTooLarge, ProcessKilled
from vmsim.shell import ProcessShell
from vmsim_server import ServerSettings
from vmsim_server.settings import parse_settings

PAGE_KB = PAGE_SIZE // 1024


def dirty_a_file(proc: vmsim.Process, path: str, nr_pages: int) -> None:
    """Write *nr_pages* pages of *path* into the page cache (dirty: no writeback yet)."""
    with proc.open(path, O_RDWR | O_CREAT) as out:
        out.write(b"d" * (nr_pages * PAGE_SIZE))


def test_sync_writes_back_the_dirty_pages_of_every_process(server_address: str) -> None:
    with (
        vmsim.connect(server_address, name="one") as one,
        vmsim.connect(server_address, name="two") as two,
        vmsim.connect(server_address, name="syncer") as syncer,
        vmsim.inspect(server_address) as inspector,
    ):
        dirty_a_file(one, "one", 3)
        dirty_a_file(two, "two", 5)
        assert inspector.meminfo()["Dirty"] == 8 * PAGE_KB
        pgpgout_before = inspector.vmstat()["pgpgout"]
        syncer.sync()  # a process that dirtied nothing cleans everyone's files
        assert inspector.meminfo()["Dirty"] == 0
        assert inspector.vmstat()["pgpgout"] - pgpgout_before == 8 * PAGE_KB
        assert [(f.name, f.dirty) for f in inspector.files()] == [("one", 0), ("two", 0)]
        syncer.sync()  # nothing left to write
        assert inspector.vmstat()["pgpgout"] - pgpgout_before == 8 * PAGE_KB


def test_the_asyncio_process_syncs_too(server_address: str) -> None:
    async def scenario() -> tuple[int, int, int]:
        async with (
            vmsim.aio.connect(server_address, name="async") as proc,
            vmsim.aio.inspect(server_address) as inspector,
        ):
            async with await proc.open("log", O_RDWR | O_CREAT) as out:
                await out.write(b"x" * (2 * PAGE_SIZE))
            dirty_before = (await inspector.meminfo())["Dirty"]
            pgpgout_before = (await inspector.vmstat())["pgpgout"]
            await proc.sync()
            return (
                dirty_before,
                (await inspector.meminfo())["Dirty"],
                (await inspector.vmstat())["pgpgout"] - pgpgout_before,
            )

    assert asyncio.run(scenario()) == (2 * PAGE_KB, 0, 2 * PAGE_KB)


def test_a_dead_process_cannot_sync_and_the_pages_stay_dirty(server_address: str) -> None:
    with (
        vmsim.connect(server_address, name="writer") as writer,
        vmsim.connect(server_address, name="victim") as victim,
        vmsim.inspect(server_address) as inspector,
    ):
        dirty_a_file(writer, "kept", 2)
        with pytest.raises(ProcessKilled):
            victim.touch(0)  # SIGSEGV: no mapping at 0
        with pytest.raises(ProcessKilled, match="SIGSEGV"):
            victim.sync()
        assert inspector.meminfo()["Dirty"] == 2 * PAGE_KB


def test_the_shell_syncs_and_refuses_arguments(
    server_address: str, shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    with vmsim.inspect(server_address) as inspector:
        shell.onecmd("open /notes rw,creat")
        shell.onecmd("fwrite 3 some words")
        capsys.readouterr()
        shell.onecmd("sync /notes")
        assert capsys.readouterr().out == (
            "usage: sync takes no arguments (fsync FD writes back one file)\n"
        )
        assert inspector.meminfo()["Dirty"] == PAGE_KB
        shell.onecmd("sync")
        assert capsys.readouterr().out == ""  # as sync(1): silent
        assert inspector.meminfo()["Dirty"] == 0


def test_disk_bytes_sizes_the_disk_under_the_files(start_server: StartServer) -> None:
    # 64 KiB: the superblock page and 15 blocks, so no file grows past 15 pages.
    with (
        start_server(disk_bytes=64 << 10) as server,
        vmsim.connect(server.address) as proc,
        proc.open("big", O_RDWR | O_CREAT) as out,
    ):
        assert server.running is not None
        assert server.running.machine.config.disk_bytes == 64 << 10
        assert out.write(b"b" * (15 * PAGE_SIZE)) == 15 * PAGE_SIZE
        with pytest.raises(FileTooLarge, match="past the largest file"):
            out.write(b"b")
        assert out.lseek(0, vmsim.SEEK_END) == 15 * PAGE_SIZE  # the refused write changed nothing


def test_disk_bytes_is_a_flag_and_a_variable_checked_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert parse_settings(["--disk-bytes", "1G"]).machine_config().disk_bytes == 1 << 30
    monkeypatch.setenv("VMSIM_DISK_BYTES", "2M")
    assert parse_settings([]).disk_bytes == 2 << 20
    assert ServerSettings().machine_config().disk_bytes == 512 << 20  # the kernel's default
    for refused in (5000, 4096, 32 << 30):
        with pytest.raises(ValueError, match=rf"^--disk-bytes: {refused} is not a usable disk"):
            ServerSettings(disk_bytes=refused)
    with pytest.raises(ValueError, match=r"allowed: 8 KiB \.\. 16 GiB, a multiple of 4096"):
        ServerSettings(disk_bytes=5000)
