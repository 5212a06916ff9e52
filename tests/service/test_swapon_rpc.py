"""Swap areas over the network: AdminService.SwapOn/SwapOff, both clients, `vmsim swapon/swapoff`."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable

import pytest
from tests.service.conftest import ADMIN_TOKEN, StartServer
from typer.testing import CliRunner

import vmsim
from vmsim.aio import AsyncAdmin, AsyncInspector
from vmsim.cli import app

pytestmark = pytest.mark.fast

runner = CliRunner()
MiB = 1 << 20
PAGE = 4096
CHUNK = 1 * MiB  # bytes per write/read call


def stamps(first_page: int, nr_bytes: int) -> bytes:
    return b"".join(
        struct.pack("<I", page) * (PAGE // 4)
        for page in range(first_page, first_page + nr_bytes // PAGE)
    )


def write_stamps(process: vmsim.Process, nr_bytes: int) -> int:
    """Map *nr_bytes*, write a stamp into every page; returns the address."""
    base = process.mmap(nr_bytes)
    for offset in range(0, nr_bytes, CHUNK):
        process.write(base + offset, stamps(offset // PAGE, CHUNK))
    return base


def assert_stamps(process: vmsim.Process, base: int, nr_bytes: int) -> None:
    for offset in range(0, nr_bytes, CHUNK):
        assert process.read(base + offset, CHUNK) == stamps(offset // PAGE, CHUNK), offset


def used_kb(inspector: vmsim.Inspector) -> dict[str, int]:
    return {area.filename: area.used_kb for area in inspector.swaps().items}


def test_pages_go_to_the_higher_priority_area_and_swapoff_brings_them_back(
    server_address: str,
) -> None:
    with (
        vmsim.Inspector(server_address) as inspector,
        vmsim.Admin(server_address, ADMIN_TOKEN) as admin,
        vmsim.connect(server_address) as process,
    ):
        total = inspector.meminfo()["SwapTotal"]
        area = admin.swapon("fast", 32 * MiB, 10)
        assert (area.filename, area.size_kb, area.used_kb, area.priority) == (
            "/swap/fast",
            32 * 1024 - 4,
            0,
            10,
        )
        assert inspector.meminfo()["SwapTotal"] == total + area.size_kb
        base = write_stamps(process, 20 * MiB)  # RAM is 16 MiB
        used = used_kb(inspector)
        boot = next(name for name in used if name != "/swap/fast")
        assert used["/swap/fast"] > 4 * MiB // 1024 and used[boot] == 0
        assert "/swap/fast" in inspector.swaps().text
        admin.swapoff("/swap/fast")
        assert list(used_kb(inspector)) == [boot]
        assert inspector.meminfo()["SwapTotal"] == total
        assert_stamps(process, base, 20 * MiB)


def test_swapoff_that_cannot_fit_is_resource_exhausted_and_the_area_stays(
    start_server: StartServer,
) -> None:
    address = start_server(swap_bytes=1 * MiB).address
    with (
        vmsim.Inspector(address) as inspector,
        vmsim.Admin(address, ADMIN_TOKEN) as admin,
        vmsim.connect(address) as process,
    ):
        admin.swapon("fast", 32 * MiB, 10)
        base = write_stamps(process, 20 * MiB)
        before = inspector.swaps().text
        with pytest.raises(vmsim.OutOfMemory, match="do not fit") as refused:
            admin.swapoff("fast")
        assert refused.value.errno == "ENOMEM"
        assert inspector.swaps().text == before
        assert_stamps(process, base, 20 * MiB)


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda a: a.swapon("bad/name", MiB), vmsim.InvalidArgument, "without '/'"),
        (lambda a: a.swapon("zero", 0), vmsim.InvalidArgument, "8192"),
        (lambda a: a.swapon("tiny", PAGE), vmsim.InvalidArgument, "the header and one slot"),
        (lambda a: a.swapon("odd", MiB + 1), vmsim.InvalidArgument, "a multiple of 4096"),
        (lambda a: a.swapon("huge", 2048 * MiB), vmsim.InvalidArgument, "swapon_budget_bytes"),
        (lambda a: a.swapon("p", MiB, 32768), vmsim.InvalidArgument, "0..32767"),
        (lambda a: a.swapon("p", MiB, -2), vmsim.InvalidArgument, "0..32767"),
        (lambda a: a.swapon("one", MiB), vmsim.AlreadyExists, "/swap/one is an active"),
        (lambda a: a.swapoff("nope"), vmsim.NoSuchObject, "no active swap area named 'nope'"),
    ],
)
def test_bad_input_is_refused_naming_the_limit_and_changes_nothing(
    server_address: str,
    call: Callable[[vmsim.Admin], object],
    error: type[Exception],
    names: str,
) -> None:
    with (
        vmsim.Inspector(server_address) as inspector,
        vmsim.Admin(server_address, ADMIN_TOKEN) as admin,
    ):
        admin.swapon("one", MiB)
        before = (inspector.swaps().text, inspector.meminfo()["SwapTotal"])
        with pytest.raises(error, match=names):
            call(admin)
        assert (inspector.swaps().text, inspector.meminfo()["SwapTotal"]) == before


def test_only_the_admin_may_swapon_or_swapoff(server_address: str) -> None:
    with (
        vmsim.Inspector(server_address) as inspector,
        vmsim.Admin(server_address, "wrong") as impostor,
    ):
        before = inspector.swaps().text
        with pytest.raises(vmsim.PermissionDenied):
            impostor.swapon("mine", MiB)
        with pytest.raises(vmsim.PermissionDenied):
            impostor.swapoff(inspector.swaps().items[0].filename)
        assert inspector.swaps().text == before


def test_the_asyncio_client_swaps_on_and_off_too(server_address: str) -> None:
    async def main() -> tuple[vmsim.SwapArea, list[str]]:
        async with (
            AsyncInspector(server_address) as inspector,
            AsyncAdmin(server_address, ADMIN_TOKEN) as admin,
        ):
            area = await admin.swapon("async", 4 * MiB)
            await admin.swapoff("async")
            return area, [a.filename for a in (await inspector.swaps()).items]

    area, left = asyncio.run(main())
    assert area.filename == "/swap/async" and area.priority == -3  # after the boot area's -2
    assert "/swap/async" not in left and len(left) == 1


def test_the_cli_swaps_on_and_off_like_swapon_and_swapoff(server_address: str) -> None:
    token = {"VMSIM_ADMIN_TOKEN": ADMIN_TOKEN}
    on = runner.invoke(
        app, ["swapon", "extra", "--size", "4M", "-p", "3", "--addr", server_address], env=token
    )
    assert on.exit_code == 0, on.stderr
    line = next(line for line in on.stdout.splitlines() if line.startswith("/swap/extra"))
    assert line.split()[1:] == ["file", "4092", "0", "3"]
    shown = runner.invoke(
        app, ["swapon", "json", "-s", "8k", "--json", "--addr", server_address], env=token
    )
    assert shown.exit_code == 0 and json.loads(shown.stdout)["filename"] == "/swap/json"
    refused = runner.invoke(
        app, ["swapon", "x", "--size", "4M", "-p", "40000", "--addr", server_address], env=token
    )
    assert refused.exit_code == 1 and "INVALID_ARGUMENT" in refused.stderr
    assert "0..32767" in refused.stderr
    not_admin = runner.invoke(
        app, ["swapoff", "extra", "--addr", server_address, "--admin-token", "no"]
    )
    assert not_admin.exit_code == 1 and "PERMISSION_DENIED" in not_admin.stderr
    off = runner.invoke(app, ["swapoff", "extra", "--addr", server_address], env=token)
    assert off.exit_code == 0 and "/swap/extra" not in off.stdout
    assert "/swap/json" in off.stdout
    bad_size = runner.invoke(
        app, ["swapon", "y", "--size", "lots", "--addr", server_address], env=token
    )
    assert bad_size.exit_code == 2
