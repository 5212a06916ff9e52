"""vm sysctls over the network: AdminService.GetSysctl/SetSysctl, both clients, `vmsim sysctl`."""

from __future__ import annotations

import asyncio
import json

import pytest
from tests.service.conftest import ADMIN_TOKEN
from typer.testing import CliRunner

import vmsim
from vmsim.aio import AsyncAdmin, AsyncInspector
from vmsim.cli import app

runner = CliRunner()


def test_anyone_reads_and_only_the_admin_writes(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        every = inspector.sysctl()
        assert every["vm.swappiness"] == "60" and "vm.min_free_kbytes" in every
        assert inspector.sysctl("swappiness") == {"vm.swappiness": "60"}
        with (
            vmsim.Admin(server_address, "wrong") as impostor,
            pytest.raises(vmsim.PermissionDenied),
        ):
            impostor.set_sysctl("vm.swappiness", 10)
        assert inspector.sysctl("vm.swappiness") == {"vm.swappiness": "60"}
        with vmsim.Admin(server_address, ADMIN_TOKEN) as admin:
            assert admin.set_sysctl("vm.swappiness", 10) == "10"
        assert inspector.sysctl("vm.swappiness") == {"vm.swappiness": "10"}


def test_min_free_kbytes_moves_the_watermarks_zoneinfo_shows(server_address: str) -> None:
    with (
        vmsim.Inspector(server_address) as inspector,
        vmsim.Admin(server_address, ADMIN_TOKEN) as admin,
    ):
        before = {zone.name: zone.min for zone in inspector.zoneinfo().items if zone.managed}
        default_kb = int(inspector.sysctl("vm.min_free_kbytes")["vm.min_free_kbytes"])
        admin.set_sysctl("vm.min_free_kbytes", 2 * default_kb)
        after = {zone.name: zone.min for zone in inspector.zoneinfo().items if zone.managed}
    assert after["DMA"] > before["DMA"]  # the 16 MiB machine's one zone


def test_a_value_out_of_the_limits_is_invalid_argument_naming_it_and_changes_nothing(
    server_address: str,
) -> None:
    with (
        vmsim.Inspector(server_address) as inspector,
        vmsim.Admin(server_address, ADMIN_TOKEN) as admin,
    ):
        before = inspector.sysctl()
        with pytest.raises(vmsim.InvalidArgument, match=r"0\.\.200"):
            admin.set_sysctl("vm.swappiness", 500)
        with pytest.raises(vmsim.InvalidArgument, match=r"vm\.swappiness"):
            inspector.sysctl("vm.swapiness")  # misspelt: the error lists the names
        assert inspector.sysctl() == before


def test_the_asyncio_client_reads_and_writes_too(server_address: str) -> None:
    async def main() -> tuple[dict[str, str], str]:
        async with (
            AsyncInspector(server_address) as inspector,
            AsyncAdmin(server_address, ADMIN_TOKEN) as admin,
        ):
            written = await admin.set_sysctl("vm.page-cluster", "0")
            return await inspector.sysctl("vm.page-cluster"), written

    assert asyncio.run(main()) == ({"vm.page-cluster": "0"}, "0")


def test_the_cli_reads_writes_and_lists_like_sysctl(server_address: str) -> None:
    read = runner.invoke(app, ["sysctl", "vm.overcommit_memory", "--addr", server_address])
    assert read.exit_code == 0 and read.stdout == "vm.overcommit_memory = 0\n"
    refused = runner.invoke(
        app, ["sysctl", "vm.overcommit_memory=2", "--addr", server_address, "--admin-token", "no"]
    )
    assert refused.exit_code == 1 and "PERMISSION_DENIED" in refused.stderr
    written = runner.invoke(
        app,
        ["sysctl", "vm.overcommit_memory=2", "--addr", server_address],
        env={"VMSIM_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    assert written.exit_code == 0 and written.stdout == "vm.overcommit_memory = 2\n"
    out_of_range = runner.invoke(
        app,
        ["sysctl", "vm.overcommit_memory=7", "--addr", server_address],
        env={"VMSIM_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    assert out_of_range.exit_code == 1 and "0..2" in out_of_range.stderr
    every = runner.invoke(app, ["sysctl", "-a", "--json", "--addr", server_address])
    assert every.exit_code == 0 and json.loads(every.stdout)["vm.overcommit_memory"] == "2"
    neither = runner.invoke(app, ["sysctl", "--addr", server_address])
    assert neither.exit_code == 2
