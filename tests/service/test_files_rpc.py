"""Files and the page cache through the server: open/creat, read/write, pread/pwrite, lseek,
ftruncate, fsync, unlink, mmap of a descriptor (shared and private) and msync, in both clients;
the page cache shows in Inspector.files() and /proc/meminfo; bad calls get a clear status and
change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import vmsim
from vmsim import (
    MAP_PRIVATE,
    MAP_SHARED,
    MS_SYNC,
    O_APPEND,
    O_CREAT,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    SEEK_END,
)
from vmsim.errors import (
    AccessDenied,
    BadFileDescriptor,
    FileExists,
    FileNotFound,
    InvalidArgument,
    LimitExceeded,
    VmsimError,
)
from vmsim.shell import ProcessShell


def file_named(inspector: vmsim.Inspector, name: str) -> vmsim.FileInfo:
    (found,) = [f for f in inspector.files() if f.name == name]
    return found


def test_what_one_process_writes_another_reads_through_the_page_cache(
    server_address: str,
) -> None:
    with (
        vmsim.connect(server_address, name="writer") as writer,
        vmsim.connect(server_address, name="reader") as reader,
        vmsim.inspect(server_address) as inspector,
    ):
        cached_before = inspector.meminfo()["Cached"]
        with writer.open("/notes", O_RDWR | O_CREAT, 0o640) as out:
            assert out.fd == 3
            assert out.write(b"A" * PAGE_SIZE + b"hello") == PAGE_SIZE + 5
            assert out.lseek(0, SEEK_END) == PAGE_SIZE + 5
            assert out.pwrite(b"J", PAGE_SIZE) == 1  # f_pos stays at the end
            assert out.write(b"!") == 1
            assert [(o.fd, o.name, o.pos) for o in inspector.open_files(writer.pid)] == [
                (3, "notes", PAGE_SIZE + 6)
            ]
            info = file_named(inspector, "notes")
            assert (info.size, info.mode, info.nlink, info.open_count) == (
                PAGE_SIZE + 6,
                0o640,
                1,
                1,
            )
            assert info.cached == info.dirty == 2 * PAGE_SIZE  # write() dirties, no writeback yet
            assert inspector.meminfo()["Cached"] - cached_before == 8
            assert inspector.meminfo()["Dirty"] >= 8
            out.fsync()
            assert file_named(inspector, "notes").dirty == 0
        assert inspector.open_files(writer.pid) == []
        with reader.open("notes") as inp:
            assert inp.pread(6, PAGE_SIZE) == b"Jello!"
            assert inp.read(3) == b"AAA"
            assert inp.read(10 * PAGE_SIZE) == b"A" * (PAGE_SIZE - 3) + b"Jello!"
            assert inp.read(1) == b""  # the end of the file
        assert writer.status().minor_faults == 0  # read() and write() never fault


def test_a_shared_mapping_writes_the_file_and_a_private_one_copies(server_address: str) -> None:
    with (
        vmsim.connect(server_address, name="mapper") as proc,
        vmsim.inspect(server_address) as inspector,
    ):
        with proc.open("/mapped", O_RDWR | O_CREAT) as f:
            f.write(bytes(2 * PAGE_SIZE))
            shared = f.mmap(2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED)
            private = f.mmap(2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE)
        proc.write(shared, b"through the mapping")
        proc.msync(shared, 2 * PAGE_SIZE, MS_SYNC)
        assert file_named(inspector, "mapped").dirty == 0
        proc.write(private, b"only mine")
        with proc.open("mapped") as again:
            assert again.read(19) == b"through the mapping"
        assert proc.read(private, 9) == b"only mine"
        (vma,) = [vma for vma in proc.maps().items if vma.start == shared]
        assert vma.name.endswith("mapped") and vma.perms == "rw-s"
        proc.unlink("mapped")
        assert [f.name for f in inspector.files()] == []  # the name is gone ...
        assert proc.read(shared, 7) == b"through"  # ... the file lives on while mapped
        proc.munmap(shared, 2 * PAGE_SIZE)
        proc.munmap(private, 2 * PAGE_SIZE)


@pytest.mark.parametrize(
    ("attempt", "error", "errno", "message"),
    [
        (lambda p: p.open("/none"), FileNotFound, "ENOENT", "none"),
        (lambda p: p.open("/taken", O_CREAT | O_EXCL | O_WRONLY), FileExists, "EEXIST", "taken"),
        (lambda p: p.open("/readonly", O_RDWR), AccessDenied, "EACCES", "mode"),
        (lambda p: p.open("a/b", O_CREAT | O_WRONLY), InvalidArgument, "EINVAL", "name"),
        (lambda p: p.open("/x", O_CREAT | O_WRONLY, 0o7777), InvalidArgument, "EINVAL", "mode"),
        (lambda p: vmsim.File(p, 42, "?").read(1), BadFileDescriptor, "EBADF", "42"),
        (lambda p: vmsim.File(p, 42, "?").close(), BadFileDescriptor, "EBADF", "42"),
        (lambda p: p.open("/taken").write(b"x"), BadFileDescriptor, "EBADF", "writing"),
        (lambda p: p.open("/taken").pread(1, -1), InvalidArgument, "EINVAL", "offset"),
        (lambda p: p.open("/taken").lseek(-1), InvalidArgument, "EINVAL", "position"),
        (lambda p: p.open("/taken").read(1 << 40), LimitExceeded, "EAGAIN", "max_io_bytes"),
        (lambda p: p.open("/taken").mmap(4096, offset=1), InvalidArgument, "EINVAL", "offset"),
        (lambda p: p.unlink("/none"), FileNotFound, "ENOENT", "none"),
    ],
    ids=[
        "unknown-name",
        "exclusive-on-a-taken-name",
        "mode-refuses-write",
        "bad-name",
        "mode-beyond-0o777",
        "unknown-fd-read",
        "unknown-fd-close",
        "read-only-fd-write",
        "negative-offset",
        "negative-position",
        "past-max-io-bytes",
        "unaligned-mmap-offset",
        "unlink-unknown",
    ],
)
def test_bad_file_calls_are_refused_clearly_and_change_nothing(
    start_server: Callable[..., Any],
    attempt: Callable[[vmsim.Process], Any],
    error: type[VmsimError],
    errno: str,
    message: str,
) -> None:
    server = start_server()
    with (
        vmsim.connect(server.address, name="victim") as proc,
        vmsim.inspect(server.address) as inspector,
    ):
        with proc.open("/taken", O_WRONLY | O_CREAT) as f:
            f.write(b"kept")
        proc.open("/readonly", O_WRONLY | O_CREAT, 0o444).close()
        files_before = inspector.files()
        fds_before = inspector.open_files(proc.pid)
        with pytest.raises(error, match=message) as refused:
            attempt(proc)
        assert refused.value.errno == errno
        assert [(f.name, f.size, f.mode) for f in inspector.files()] == [
            (f.name, f.size, f.mode) for f in files_before
        ]
        still_open = {o.fd for o in inspector.open_files(proc.pid)} - {o.fd for o in fds_before}
        for fd in still_open:  # the lambda's own open succeeded before the refused call
            vmsim.File(proc, fd, "?").close()
        with proc.open("/taken") as f:
            assert f.read(10) == b"kept"


def test_the_asyncio_client_opens_writes_appends_and_reads(server_address: str) -> None:
    async def scenario() -> tuple[bytes, int]:
        async with vmsim.aio.connect(server_address, name="async") as proc:
            async with await proc.open("/log", O_WRONLY | O_CREAT | O_APPEND) as log:
                await log.write(b"one ")
                await log.lseek(0)
                await log.write(b"two")  # O_APPEND: at the end whatever the position
            f = await proc.open("/log", O_RDONLY)
            async with f:
                data = await f.read(100)
            async with vmsim.aio.inspect(server_address) as inspector:
                (info,) = [i for i in await inspector.files() if i.name == "log"]
            await proc.unlink("/log")
            return data, info.size

    assert asyncio.run(scenario()) == (b"one two", 7)


def test_msync_writes_back_a_page_of_a_file_extended_by_ftruncate(server_address: str) -> None:
    with vmsim.connect(server_address, name="holes") as proc:
        with proc.open("/sparse", O_RDWR | O_CREAT) as f:
            f.ftruncate(PAGE_SIZE)
            addr = f.mmap(PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED)
        proc.write(addr, b"into the hole")
        proc.msync(addr, PAGE_SIZE, MS_SYNC)
        with proc.open("/sparse") as again:
            assert again.read(13) == b"into the hole"


def test_the_shell_opens_writes_seeks_reads_maps_and_lists_files(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.onecmd("open /lab rw,creat,excl 600")
    assert capsys.readouterr().out.strip() == "fd 3"
    shell.onecmd("fwrite 3 hello file")
    assert "10 bytes written" in capsys.readouterr().out
    shell.onecmd("lseek 3 -4 end")
    assert capsys.readouterr().out.strip() == "position 6"
    shell.onecmd("fread 3 4")
    assert "file" in capsys.readouterr().out
    shell.onecmd("fread 3 5 0")  # pread
    assert "hello" in capsys.readouterr().out
    shell.onecmd("mmapfile 3 4k rw shared")
    address = capsys.readouterr().out.strip()
    shell.onecmd(f"write {address} HELLO")
    shell.onecmd(f"msync {address} 4k sync")
    assert capsys.readouterr().out == "5 bytes written\n"
    shell.onecmd("files")
    listed = capsys.readouterr().out
    assert "-rw-------" in listed and listed.splitlines()[2].endswith(" lab")
    assert "fd 3: lab at 10" in listed
    shell.onecmd("fread 3 5 0")
    assert "HELLO" in capsys.readouterr().out
    shell.onecmd("open /lab rw,creat,excl")
    assert "ALREADY_EXISTS" in capsys.readouterr().out
    shell.onecmd("open /lab rw,sideways")
    assert "usage: open flag 'sideways': one of creat, excl, trunc, append" in (
        capsys.readouterr().out
    )
    shell.onecmd("close 3")
    shell.onecmd("close 3")
    assert "INVALID_ARGUMENT" in capsys.readouterr().out
    shell.onecmd("unlink /lab")
    shell.onecmd("files")
    assert capsys.readouterr().out.splitlines()[2:] == []


def test_vmsim_files_lists_the_page_cache_and_meminfo_shows_it(server_address: str) -> None:
    import json

    from typer.testing import CliRunner

    from vmsim.cli import app

    runner = CliRunner()
    with vmsim.connect(server_address, name="writer") as proc:
        with proc.open("/report", O_WRONLY | O_CREAT, 0o604) as f:
            f.write(b"x" * (3 * PAGE_SIZE))
        text = runner.invoke(app, ["files", "--addr", server_address])
        as_json = runner.invoke(app, ["files", "--addr", server_address, "--json"])
        meminfo = runner.invoke(app, ["stat", "meminfo", "--addr", server_address])
        proc.unlink("/report")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "total 12"
    assert lines[2].split() == [
        "-rw----r--",
        "1",
        lines[2].split()[2],
        "12288",
        "12288",
        "12288",
        "0",
        "report",
    ]
    (listed,) = json.loads(as_json.output)
    assert (listed["name"], listed["cached"], listed["dirty"]) == ("report", 12288, 12288)
    for field in ("Cached:", "Dirty:", "Writeback:", "Active(file):", "Inactive(file):"):
        assert field in meminfo.output
