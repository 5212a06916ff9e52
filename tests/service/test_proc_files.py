"""smaps_rollup and pagetypeinfo over the wire: both clients, the CLI and the shell."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app
from vmsim.shell import ProcessShell

runner = CliRunner()
MIGRATETYPES = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"]


def pages_of(addr: int, count: int) -> np.ndarray:  # type: ignore[type-arg]
    return np.arange(addr, addr + count * vmsim.PAGE_SIZE, vmsim.PAGE_SIZE, dtype=np.uint32)


def test_smaps_rollup_sums_the_smaps_of_a_process(server_address: str) -> None:
    with vmsim.connect(server_address, name="rollup") as proc:
        private = proc.mmap(64 * vmsim.PAGE_SIZE)
        shared = proc.mmap(16 * vmsim.PAGE_SIZE, flags=vmsim.MAP_SHARED | vmsim.MAP_ANONYMOUS)
        proc.touch_many(pages_of(private, 10), write=True)
        proc.touch_many(pages_of(shared, 3), write=True)
        rollup = proc.smaps_rollup()
        smaps = proc.smaps()
        assert rollup["Rss"] == sum(v.rss for v in smaps.items) // 1024 == 52
        assert rollup["Pss_Anon"] == 40 and rollup["Pss_Shmem"] == 12
        assert sum(v.pss_dirty for v in smaps.items) // 1024 == rollup["Pss_Dirty"] == 52
        assert rollup.text.splitlines()[0].endswith(" ---p 00000000 00:00 0          [rollup]")
        with vmsim.inspect(server_address) as inspector:
            assert inspector.smaps_rollup(proc.pid) == rollup
    with vmsim.inspect(server_address) as inspector:
        gone = inspector.smaps_rollup(proc.pid)  # a zombie: no address space
        assert gone.values == {} and gone.text == ""
        with pytest.raises(vmsim.NoSuchProcess) as unknown:
            inspector.smaps_rollup(99999)
    assert unknown.value.code == "NOT_FOUND"


def test_smaps_rollup_of_many_mappings_is_summed_in_parts(server_address: str) -> None:
    with vmsim.connect(server_address, name="many") as proc:
        for n in range(80):  # alternate protections: 80 VMAs, more than one quantum's 32
            addr = proc.mmap(vmsim.PAGE_SIZE, prot=vmsim.PROT_READ | (n % 2) * vmsim.PROT_WRITE)
            proc.touch(addr, write=n % 2 == 1)
        smaps = proc.smaps()
        assert len(smaps.items) > 80
        rollup = proc.smaps_rollup()
    assert rollup["Rss"] == sum(v.rss for v in smaps.items) // 1024 > 0
    assert rollup["Referenced"] == sum(v.referenced for v in smaps.items) // 1024


def test_pagetypeinfo_lists_every_migratetype_of_each_populated_zone(
    server_address: str,
) -> None:
    with vmsim.inspect(server_address) as inspector:
        listing = inspector.pagetypeinfo()
        zones = {z.name: z for z in inspector.zoneinfo().items if z.present}
    assert [z.zone for z in listing.items] == list(zones)
    for info in listing.items:
        assert [m.migratetype for m in info.migratetypes] == MIGRATETYPES
        free_lists = [m.nr_free for m in info.migratetypes]
        free_per_order = [sum(orders) for orders in zip(*free_lists, strict=True)]
        assert free_per_order == list(zones[info.zone].free_area)
    assert listing.text.startswith("Page block order: 10\nPages per block:  1024\n")


def test_the_asyncio_client_reads_both(server_address: str) -> None:
    async def scenario() -> None:
        async with vmsim.aio.connect(server_address, name="async-rollup") as proc:
            addr = await proc.mmap(vmsim.MiB)
            await proc.touch_many(pages_of(addr, 5), write=True)
            assert (await proc.smaps_rollup())["Anonymous"] >= 20
            async with vmsim.aio.inspect(server_address) as inspector:
                assert (await inspector.smaps_rollup(proc.pid))["Private_Dirty"] >= 20
                assert "Number of blocks type" in (await inspector.pagetypeinfo()).text

    asyncio.run(scenario())


def test_the_cli_prints_both_as_text_and_json(server_address: str) -> None:
    with vmsim.connect(server_address, name="cli-rollup") as proc:
        addr = proc.mmap(vmsim.MiB)
        proc.touch_many(pages_of(addr, 4), write=True)
        text = runner.invoke(app, ["smaps_rollup", str(proc.pid), "--addr", server_address])
        assert text.exit_code == 0 and "[rollup]\nRss:" in text.output
        as_json = runner.invoke(
            app, ["smaps_rollup", str(proc.pid), "--addr", server_address, "--json"]
        )
        assert json.loads(as_json.output)["Pss_Anon"] >= 16
    types = runner.invoke(app, ["stat", "pagetypeinfo", "--addr", server_address])
    assert types.exit_code == 0 and types.output.startswith("Page block order: 10")
    zones = json.loads(
        runner.invoke(app, ["stat", "pagetypeinfo", "--addr", server_address, "--json"]).output
    )
    assert zones[0]["zone"] == "DMA" and len(zones[0]["migratetypes"]) == 5
    missing = runner.invoke(app, ["smaps_rollup", "99999", "--addr", server_address])
    assert missing.exit_code != 0


def test_the_shell_shows_smaps_rollup(
    shell: ProcessShell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    shell.onecmd("smaps_rollup")
    said = capsys.readouterr().out
    assert "[rollup]" in said and "Pss_Shmem:" in said
