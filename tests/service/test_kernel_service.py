"""KernelService and `vmsim kernel` against a real server (issue: kernel space)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from tests.service.conftest import ADMIN_TOKEN, wait_until
from typer.testing import CliRunner

import vmsim
from vmsim.cli import app


def test_kernel_calls_need_the_admin_token(server_address: str) -> None:
    with pytest.raises(vmsim.PermissionDenied):
        vmsim.Kernel(server_address, "wrong")


def test_kmalloc_vmalloc_and_session_end_frees_everything(server_address: str) -> None:
    with vmsim.Inspector(server_address) as inspector:
        before = inspector.meminfo()
        free_kb_before = inspector.free_kb()
        tables_before = inspector.frame_map().counts()["page_table"]
        kernel = vmsim.Kernel(server_address, ADMIN_TOKEN)
        objects = [kernel.kmalloc(64) for _ in range(100)]
        area = kernel.vmalloc(20 * vmsim.PAGE_SIZE)
        during = inspector.meminfo()
        assert (
            during["Slab"] > before["Slab"] and during["VmallocUsed"] == before["VmallocUsed"] + 80
        )
        kernel.write(area + 100, b"module data")
        assert kernel.read(area + 100, 11) == b"module data"
        assert kernel.pa(objects[0]) == objects[0] - 0xC0000000
        assert kernel.va(kernel.pa(objects[0])) == objects[0]
        assert "kmalloc-64" in kernel.slabinfo() and "vmsim_vmalloc" in kernel.vmallocinfo()
        guard = kernel.page_table(area, 21)
        assert all(e.present for e in guard[:20]) and not guard[20].present
        kernel.close()  # like a module unload
        after = inspector.meminfo()
        assert after["Slab"] == before["Slab"] and after["VmallocUsed"] == before["VmallocUsed"]
        # the kernel page tables stay (frames the frame map shows, which PageTables leaves out
        # as Linux 6.1 does: pte_alloc_one_kernel is not NR_PAGETABLE); every other page is
        # free again, in MemFree or on a per-cpu list
        new_tables = inspector.frame_map().counts()["page_table"] - tables_before
        assert new_tables >= 1 and after["PageTables"] == before["PageTables"]
        assert inspector.free_kb() == free_kb_before - new_tables * vmsim.PAGE_SIZE // 1024


def test_an_explicit_zero_timeout_has_passed_before_a_kmap_is_sent(server_address: str) -> None:
    """As for a process call: timeout=0 is a deadline already gone, not the connection's."""
    with vmsim.Kernel(server_address, ADMIN_TOKEN, timeout=30) as kernel:
        pfn = kernel.pa(kernel.kmalloc(64)) // vmsim.PAGE_SIZE
        with pytest.raises(vmsim.DeadlineExceeded, match="timeout=0"):
            kernel.kmap(pfn, timeout=0)
        assert kernel.kmap(pfn) >= 0xC0000000  # still usable, with the connection's deadline


def test_kernel_errors_have_clear_statuses(server_address: str) -> None:
    with vmsim.Kernel(server_address, ADMIN_TOKEN) as kernel:
        with pytest.raises(vmsim.InvalidArgument):
            kernel.kfree(0xC0001234)
        with pytest.raises(vmsim.InvalidArgument, match="paddr"):
            kernel.va(0x7FFFFFFF)
        with pytest.raises(vmsim.VmsimError) as oops:
            kernel.read(0xFF000000, 4)
        assert oops.value.code == "FAILED_PRECONDITION" and "unable to handle" in oops.value.message
        page = kernel.pa(kernel.kmalloc(16)) // vmsim.PAGE_SIZE
        first = kernel.kmap_atomic(page, cpu=0)
        second = kernel.kmap_atomic(page + 1, cpu=0)
        with pytest.raises(vmsim.VmsimError, match="wrong order"):
            kernel.kunmap_atomic(first, cpu=0)
        kernel.kunmap_atomic(second, cpu=0)
        kernel.kunmap_atomic(first, cpu=0)


def test_logical_translation_through_the_gdt(server_address: str) -> None:
    with vmsim.connect(server_address) as proc, vmsim.Inspector(server_address) as inspector:
        addr = proc.mmap(vmsim.PAGE_SIZE)
        proc.touch(addr, write=True)
        walk = inspector.translation(proc.pid, 0, f"0x7b:{addr:#x}")
        assert walk.present and "__USER_DS" in walk.text and "logical" in walk.text
        with pytest.raises(vmsim.VmsimError) as gp:
            inspector.translation(proc.pid, 0, f"0x68:{addr:#x}")
        assert gp.value.code == "FAILED_PRECONDITION"
    with vmsim.Kernel(server_address, ADMIN_TOKEN) as kernel:
        assert kernel.translate(logical="__KERNEL_DS:0xc0100000").translation.physical == 0x100000


@pytest.mark.slow
def test_kernel_cli(server_address: str) -> None:
    runner = CliRunner()
    base = ["--addr", server_address, "--admin-token", ADMIN_TOKEN]
    session = runner.invoke(app, ["kernel", "session", *base])
    assert session.exit_code == 0, session.output
    sid = session.output.strip()
    allocated = runner.invoke(app, ["kernel", "kmalloc", "128", *base, "--session", sid])
    assert allocated.exit_code == 0 and allocated.output.startswith("0xc")
    assert "kmalloc-128" in runner.invoke(app, ["kernel", "slabinfo", *base]).output
    area = runner.invoke(app, ["kernel", "vmalloc", "8k", *base, "--session", sid]).output.split()[
        0
    ]
    assert area in runner.invoke(app, ["kernel", "vmallocinfo", *base]).output
    assert runner.invoke(app, ["kernel", "pa", "0xc0100000", *base]).output.strip() == "0x00100000"
    walk = runner.invoke(app, ["kernel", "translate", "__KERNEL_DS:0xc0100000", *base])
    assert "physical 0x00100000" in walk.output
    freed = runner.invoke(app, ["kernel", "vfree", area, *base, "--session", sid])
    assert freed.exit_code == 0, freed.output
    assert area not in runner.invoke(app, ["kernel", "vmallocinfo", *base]).output
    kfreed = runner.invoke(
        app, ["kernel", "kfree", allocated.output.strip(), *base, "--session", sid]
    )
    assert kfreed.exit_code == 0, kfreed.output
    slabs = json.loads(runner.invoke(app, ["kernel", "slabinfo", "--json", *base]).output)
    assert any(cache["name"] == "kmalloc-128" for cache in slabs)
    one_shot = runner.invoke(app, ["kernel", "vmalloc", "4k", *base]).output
    assert "area freed again as this one-shot session ended" in one_shot
    assert runner.invoke(app, ["kernel", "close", sid, *base]).exit_code == 0
    refused = runner.invoke(app, ["kernel", "va", "0x7fffffff", *base])
    assert refused.exit_code == 1


@pytest.mark.slow
def test_kmap_waits_for_a_free_slot_until_the_deadline(start_server: Any) -> None:
    server = start_server(ram_bytes=1 << 30, swap_bytes=8 << 20)
    with vmsim.Kernel(server.address, ADMIN_TOKEN) as kernel:
        first_high = (900 << 20) // vmsim.PAGE_SIZE
        addrs = [kernel.kmap(first_high + i) for i in range(1024)]
        assert len(set(addrs)) == 1024
        with pytest.raises(vmsim.LimitExceeded, match="LAST_PKMAP"):
            kernel.kmap(first_high + 2000, timeout=1.0)
        # A kmap that blocks is resumed by another session's kunmap.
        waiter = vmsim.Kernel(server.address, ADMIN_TOKEN)
        result: list[int] = []
        blocked = threading.Thread(
            target=lambda: result.append(waiter.kmap(first_high + 2000, timeout=10))
        )
        blocked.start()
        highmem = server.running.machine.kernel.highmem
        assert wait_until(lambda: server.call(lambda: highmem.nr_waiters) == 1)  # it sleeps
        assert blocked.is_alive() and not result
        kernel.kunmap(first_high)
        blocked.join(10)
        assert result and result[0] >= 0xFF800000
        waiter.close()
    with vmsim.Inspector(server.address) as inspector:
        kmap_lock = {c.name: c for c in inspector.lock_stat().items}["kmap_lock"]
        assert kmap_lock.contentions >= 2 and kmap_lock.acquisitions >= 1026
