"""Booting machines of many sizes, and the /proc reports they print."""

from __future__ import annotations

import re
import resource

import pytest
from tests.kernel.conftest import ANON, RW

from vmsim_kernel import (
    PAGE_SIZE,
    EventKind,
    GiB,
    Machine,
    MiB,
)


@pytest.mark.parametrize("ram", [4 * MiB, 16 * MiB, 64 * MiB, 1 * GiB, 4 * GiB])
def test_machines_boot_from_a_few_mib_to_4_gib(make_machine: object, ram: int) -> None:
    machine: Machine = make_machine(ram_bytes=ram, swap_bytes=8 * MiB)  # type: ignore[operator]
    info = machine.meminfo()
    assert 0 < info["MemFree"] <= info["MemTotal"] < ram // 1024
    # the kernel image, mem_map and direct-map page tables are reserved, as on Linux
    assert ram // 1024 - info["MemTotal"] >= 256
    assert (info["HighTotal"] > 0) == (ram > machine.kernel.virtual_layout.maxmem)
    machine.check_invariants()


def test_booting_4_gib_costs_host_memory_only_for_what_is_used(make_machine: object) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    machine: Machine = make_machine(ram_bytes=4 * GiB, swap_bytes=8 * MiB)  # type: ignore[operator]
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 256 * 1024  # far below the 4 GiB simulated
    assert machine.meminfo()["HighTotal"] > 3 * 1024 * 1024


def test_user_pages_prefer_highmem(make_machine: object) -> None:
    machine: Machine = make_machine(ram_bytes=1 * GiB, swap_bytes=8 * MiB)  # type: ignore[operator]
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch(pid, addr, write=True)
    walk = machine.translate(pid, addr)
    assert walk.physical is not None
    assert walk.physical >= machine.kernel.nr_lowmem_frames * PAGE_SIZE


def test_kernel_half_of_every_page_directory_is_shared(machine: Machine) -> None:
    a, b = machine.spawn(), machine.spawn()
    walk_a = machine.translate(a, 0xC0100000)
    walk_b = machine.translate(b, 0xC0100000)
    assert walk_a.pde == walk_b.pde != 0
    assert walk_a.pfn == walk_b.pfn == 0x100
    assert not walk_a.user


def test_meminfo_text_looks_like_linux(machine: Machine) -> None:
    text = machine.report("meminfo")
    first = text.splitlines()[0]
    assert re.fullmatch(r"MemTotal:\s+\d+ kB", first)
    assert len(first.split(" kB")[0]) == 24
    for key in ("MemFree:", "SwapTotal:", "Committed_AS:", "PageTables:", "HighTotal:"):
        assert key in text


def test_counters_add_up_after_work(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 4 * MiB, RW, ANON)
    machine.touch_many(pid, range(addr, addr + 4 * MiB, PAGE_SIZE), write=True)
    info = machine.meminfo()
    used = info["MemTotal"] - info["MemFree"]
    # what the kernel allocated at boot (slabs, kernel stacks) plus the process's pages and
    # its page directory, which PageTables leaves out as Linux 6.1 does (pgd_alloc is not
    # NR_PAGETABLE: base-256m's 24 kB are the PTE pages of sh and cat alone)
    boot = info["Slab"] + info["KernelStack"]
    assert boot > 0
    page_directory_kb = PAGE_SIZE // 1024
    assert info["PageTables"] == 4  # the one PTE page of the 4 MiB written
    assert used == boot + info["AnonPages"] + info["PageTables"] + page_directory_kb
    assert info["AnonPages"] * 1024 == machine.process(pid).vm_rss


def test_vmstat_buddyinfo_zoneinfo_swaps_reports(machine: Machine) -> None:
    vmstat = machine.report("vmstat")
    assert re.search(r"^pgfault \d+$", vmstat, re.M)
    buddy = machine.report("buddyinfo")
    assert buddy.startswith("Node 0, zone ")
    zoneinfo = machine.report("zoneinfo")
    assert "Node 0, zone      DMA" in zoneinfo and "        min      " in zoneinfo
    swaps = machine.report("swaps")
    assert swaps.splitlines()[0].split() == ["Filename", "Type", "Size", "Used", "Priority"]
    zones = machine.zoneinfo()
    assert [z.name for z in zones] == ["DMA", "Normal", "HighMem"]
    assert all(z.min < z.low < z.high for z in zones if z.managed)


def test_maps_smaps_status_of_a_process(machine: Machine) -> None:
    pid = machine.spawn("reporter")
    addr = machine.mmap(pid, 0, 8 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, [addr, addr + PAGE_SIZE], write=True)
    maps = machine.report("maps", pid)
    line = next(ln for ln in maps.splitlines() if ln.startswith(f"{addr:08x}"))
    assert line.startswith(f"{addr:08x}-{addr + 8 * PAGE_SIZE:08x} rw-p 00000000 00:00 0")
    stack_line = next(ln for ln in maps.splitlines() if ln.endswith("[stack]"))
    assert stack_line.index("[stack]") == 49
    smaps = machine.report("smaps", pid)
    block = smaps.split(f"{addr:08x}-")[1]
    assert re.search(r"Rss:\s+8 kB", block) and re.search(r"Private_Dirty:\s+8 kB", block)
    status = machine.report("status", pid)
    assert "Name:\treporter" in status and re.search(r"VmRSS:\s+8 kB", status)


def test_event_listener_sees_faults_and_process_life(machine: Machine) -> None:
    events = []
    machine.add_event_listener(events.append)
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch(pid, addr)
    machine.exit(pid)
    kinds = [e.kind for e in events]
    assert kinds == [EventKind.PROCESS_SPAWN, EventKind.MINOR_FAULT, EventKind.PROCESS_EXIT]
    assert [e.seq for e in events] == sorted(e.seq for e in events)


@pytest.mark.slow
def test_same_config_and_calls_reach_the_same_state(make_machine: object) -> None:
    def run() -> tuple[dict[str, int], dict[str, int], list[object]]:
        machine: Machine = make_machine(ram_bytes=8 * MiB, swap_bytes=16 * MiB, seed=5)  # type: ignore[operator]
        pid = machine.spawn()
        addr = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
        machine.touch_many(pid, range(addr, addr + 12 * MiB, PAGE_SIZE), write=True)
        machine.touch_many(pid, range(addr, addr + 12 * MiB, 3 * PAGE_SIZE))
        walks = [machine.translate(pid, addr + i * PAGE_SIZE) for i in range(0, 3000, 97)]
        return machine.meminfo(), machine.vmstat(), walks

    assert run() == run()
