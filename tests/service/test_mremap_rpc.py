"""mremap over the wire: both clients, a Run stream and the shell move a mapping with its
bytes; every bad call gets its status and errno and changes nothing."""

from __future__ import annotations

import asyncio

import pytest
from tests.mremap_refusals import Refusal, each_mremap_refusal

import vmsim
from vmsim import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    calls,
)
from vmsim.errors import (
    BadAddress,
    InvalidArgument,
    OutOfMemory,
    PermissionDenied,
    VmsimError,
)
from vmsim.shell import ProcessShell

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def _written(proc: vmsim.Process, nr_pages: int) -> int:
    addr = proc.mmap(nr_pages * P)
    for page in range(nr_pages):
        proc.write(addr + page * P, f"page {page}".encode())
    proc.mmap(P, RW, ANON | MAP_FIXED, addr + nr_pages * P)  # no room to grow in place
    return addr


def test_a_moved_mapping_keeps_its_bytes_without_faulting(server_address: str) -> None:
    with vmsim.connect(server_address, name="mover") as proc:
        addr = _written(proc, 4)
        faults = proc.status().minor_faults
        moved = proc.mremap(addr, 4 * P, 8 * P, MREMAP_MAYMOVE)
        assert moved != addr
        assert [proc.read(moved + page * P, 6) for page in range(4)] == [
            f"page {page}".encode() for page in range(4)
        ]
        assert proc.status().minor_faults == faults  # the pages moved, resident
        maps = {(vma.start, vma.end) for vma in proc.maps().items}
        assert (moved, moved + 8 * P) in maps
        assert proc.mremap(moved, 8 * P, 2 * P) == moved  # a shrink stays in place
        assert (moved, moved + 2 * P) in {(vma.start, vma.end) for vma in proc.maps().items}


def test_the_asyncio_client_and_a_run_stream_remap_too(server_address: str) -> None:
    async def asyncio_flavour() -> bytes:
        async with vmsim.aio.connect(server_address, name="async mover") as proc:
            addr = await proc.mmap(2 * P)
            await proc.write(addr, b"async")
            moved = await proc.mremap(addr, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x50000000)
            assert moved == 0x50000000
            return await proc.read(moved, 5)

    assert asyncio.run(asyncio_flavour()) == b"async"
    with vmsim.connect(server_address, name="streamer") as proc:
        addr = _written(proc, 2)
        moved, data = proc.run(
            [
                calls.mremap(
                    proc.pid, addr, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x60000000
                ),
                calls.read(proc.pid, 0x60000000 + P, 6),
            ]
        )
        assert (moved, data) == (0x60000000, b"page 1")


def test_the_shell_moves_a_mapping_and_refuses_an_unknown_flag(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.onecmd("mmap 8k")
    addr = int(capsys.readouterr().out, 16)
    shell.onecmd(f"write {addr:#x} hello")
    shell.onecmd(f"mremap {addr:#x} 8k 8k maymove,fixed 0x50000000")
    capsys.readouterr()
    shell.onecmd("read 0x50000000 5")
    assert "hello" in capsys.readouterr().out
    shell.onecmd("mremap 0x50000000 8k 16k maymove,sideways")
    assert "mremap flag 'sideways'" in capsys.readouterr().out


# The client's error of each errno mremap refuses with.
CLIENT_ERROR: dict[str, type[VmsimError]] = {
    "EINVAL": InvalidArgument,
    "EFAULT": BadAddress,
    "EPERM": PermissionDenied,
    "ENOMEM": OutOfMemory,
}


@each_mremap_refusal
def test_a_bad_mremap_gets_its_status_and_changes_nothing(
    server_address: str, refusal: Refusal
) -> None:
    with vmsim.connect(server_address, name="bad") as proc:
        addr = _written(proc, 4)
        maps = proc.maps().items
        with pytest.raises(CLIENT_ERROR[refusal.errno]) as refused:
            proc.mremap(*refusal.args(addr))
        assert refused.value.errno == refusal.errno, refusal.what
        assert proc.maps().items == maps
