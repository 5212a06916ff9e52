"""Named shared memory through the server: one client creates, an unrelated client (another
user) maps it as its mode allows; bad calls get a clear status and change nothing."""

from __future__ import annotations

import asyncio
import json

import pytest

import vmsim
from vmsim.errors import AlreadyExists, InvalidArgument, NoSuchObject, PermissionDenied
from vmsim.shell import ProcessShell


def test_an_unrelated_client_reads_what_the_creator_wrote(server_address: str) -> None:
    """Each client host is one user here (a certificate's or lab student's name with TLS or
    a lab): the mode's owner bits apply to every process from this host."""
    with vmsim.connect(server_address, name="writer") as writer:
        writer.shm_create("/board", 8192, 0o444)
        with pytest.raises(PermissionDenied, match="mode 0o444"):
            writer.shm_map("/board")  # read-write, but even the owner has r-- only
        writer.shm_unlink("/board")
        writer.shm_create("/board", 8192, 0o644)
        addr = writer.shm_map("/board")
        writer.write(addr + 4096, b"hello bob")
        with vmsim.connect(server_address, name="reader") as reader:
            at = reader.shm_map("board", vmsim.PROT_READ)
            assert reader.read(at + 4096, 9) == b"hello bob"
            (vma,) = [vma for vma in reader.maps().items if vma.start == at]
            assert (vma.name, vma.perms) == ("/dev/shm/board", "r--s")
        with vmsim.inspect(server_address) as inspector:
            (listed,) = inspector.shm()
            assert (listed.name, listed.size, listed.mode, listed.mappings) == (
                "board",
                8192,
                0o644,
                1,
            )
        writer.shm_unlink("/board")
        assert writer.read(addr + 4096, 9) == b"hello bob"  # lives while mapped


def test_bad_shm_calls_get_clear_statuses_and_change_nothing(server_address: str) -> None:
    with (
        vmsim.connect(server_address, name="caller") as proc,
        vmsim.inspect(server_address) as inspector,
    ):
        proc.shm_create("/taken", 4096)
        before = (inspector.shm(), proc.maps().text, inspector.meminfo()["MemFree"])
        with pytest.raises(AlreadyExists) as exists:
            proc.shm_create("/taken", 4096)
        assert exists.value.code == "ALREADY_EXISTS" and exists.value.name == "taken"
        with pytest.raises(NoSuchObject) as missing:
            proc.shm_map("/missing")
        assert missing.value.code == "NOT_FOUND" and "taken" in missing.value.message
        with pytest.raises(InvalidArgument, match="size"):
            proc.shm_create("/zero", 0)
        with pytest.raises(InvalidArgument, match="mode"):
            proc.shm_create("/bad-mode", 4096, 0o7777)
        taken = proc.mmap(4096)
        with pytest.raises(InvalidArgument, match="overlaps"):
            proc.shm_map("/taken", flags=vmsim.MAP_SHARED | vmsim.MAP_FIXED_NOREPLACE, addr=taken)
        proc.munmap(taken, 4096)
        assert (inspector.shm(), proc.maps().text, inspector.meminfo()["MemFree"]) == before


def test_the_asyncio_client_shares_a_named_object(server_address: str) -> None:
    async def scenario() -> bytes:
        async with vmsim.aio.connect(server_address, name="a") as first:
            await first.shm_create("/async", 4096, 0o666)
            await first.write(await first.shm_map("/async"), b"async!")
            async with vmsim.aio.connect(server_address, name="b") as second:
                return await second.read(await second.shm_map("/async"), 6)

    assert asyncio.run(scenario()) == b"async!"


def test_the_shell_creates_maps_lists_and_unlinks(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.onecmd("shm_create /lab 16k 640")
    assert "created /lab (mode 640)" in capsys.readouterr().out
    shell.onecmd("shm_map /lab rw")
    address = capsys.readouterr().out.strip()
    assert address.startswith("0x")
    shell.onecmd("shm")
    listed = capsys.readouterr().out
    assert "-rw-r-----" in listed and " 16384 " in listed and listed.endswith(" lab\n")
    shell.onecmd("shm_create /lab 16k")
    assert "ALREADY_EXISTS" in capsys.readouterr().out
    shell.onecmd("shm_map /lab x")
    assert "usage: access 'x'" in capsys.readouterr().out
    shell.onecmd("shm_unlink /lab")
    shell.onecmd("shm")
    assert "no shared memory objects" in capsys.readouterr().out


def test_vmsim_shm_lists_dev_shm_like_ls_with_the_mappers(server_address: str) -> None:
    """`vmsim shm`: each object's mode (as ls -l spells it), owner uid, size, mappers and
    name; --json the same fields; an empty /dev/shm is a total of 0."""
    from typer.testing import CliRunner

    from vmsim.cli import app

    runner = CliRunner()
    empty = runner.invoke(app, ["shm", "--addr", server_address])
    assert empty.exit_code == 0 and empty.output.splitlines()[0] == "total 0"
    with vmsim.connect(server_address, name="writer") as writer:
        writer.shm_create("/listed", 3 * 4096, 0o640)
        addr = writer.shm_map("/listed")
        writer.write(addr, b"x")
        with vmsim.connect(server_address, name="reader") as reader:
            reader.shm_map("/listed", vmsim.PROT_READ)
            text = runner.invoke(app, ["shm", "--addr", server_address])
            as_json = runner.invoke(app, ["shm", "--addr", server_address, "--json"])
        writer.shm_unlink("/listed")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "total 12"
    assert lines[1].split() == ["MODE", "UID", "SIZE", "MAPPERS", "RESIDENT", "SWAPPED", "NAME"]
    mode, uid, size, mappers, resident, swapped, name = lines[2].split()
    assert (mode, size, mappers, resident, swapped, name) == (
        "-rw-r-----",
        "12288",
        "2",
        "4096",
        "0",
        "listed",
    )
    (listed,) = json.loads(as_json.output)
    assert listed["name"] == "listed" and listed["mappings"] == 2 and listed["mode"] == 0o640
    assert str(listed["owner"]) == uid
