"""Oracles of LTP's mm tests, run on the simulated machine.

overcommit_memory.c (CommitLimit and which allocations each mode refuses), swapping01.c
(a process of 1.3x the available memory must not swap more than the available memory), and
oom01.c (mode 2 refuses with ENOMEM before any OOM kill; modes 0 and 1 kill the largest).
Sizes are in kB as LTP computes them from /proc/meminfo.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.kernel.conftest import ANON, RW, MachineFactory, pages

from vmsim_kernel import Machine, MiB, OomKilled, OutOfMemory, OvercommitMode
from vmsim_kernel.arch.x86.constants import PAGE_SIZE


def alloc_succeeds(machine: Machine, pid: int, size_kb: int) -> bool:
    """LTP's alloc_and_check: malloc (an anonymous mapping) of *size_kb*, then free it."""
    try:
        addr = machine.mmap(pid, 0, size_kb * 1024, RW, ANON)
    except OutOfMemory:
        return False
    machine.munmap(pid, addr, size_kb * 1024)
    return True


@pytest.mark.parametrize("ratio", [50, 80])
def test_overcommit_memory_modes_as_ltp_checks_them(
    make_machine: MachineFactory, ratio: int
) -> None:
    machines = {
        mode: make_machine(
            ram_bytes=32 * MiB, swap_bytes=16 * MiB, overcommit_memory=mode, overcommit_ratio=ratio
        )
        for mode in OvercommitMode
    }
    never = machines[OvercommitMode.NEVER]
    meminfo = never.meminfo()
    # CommitLimit = SwapTotal + MemTotal * overcommit_ratio / 100 (in pages, shown in kB).
    total_pages, swap_pages = meminfo["MemTotal"] // 4, meminfo["SwapTotal"] // 4
    assert meminfo["CommitLimit"] == (total_pages * ratio // 100 + swap_pages) * 4
    pid = never.spawn("overcommit")
    commit_left = never.meminfo()["CommitLimit"] - never.meminfo()["Committed_AS"]
    assert not alloc_succeeds(never, pid, commit_left * 2)
    assert not alloc_succeeds(never, pid, meminfo["CommitLimit"] + 64)
    assert alloc_succeeds(never, pid, commit_left // 2)

    heuristic = machines[OvercommitMode.HEURISTIC]
    info = heuristic.meminfo()
    free_total = info["MemFree"] + info["SwapFree"]
    sum_total = info["MemTotal"] + info["SwapTotal"]
    pid = heuristic.spawn("overcommit")
    assert alloc_succeeds(heuristic, pid, free_total // 2)
    assert not alloc_succeeds(heuristic, pid, sum_total * 2)

    always = machines[OvercommitMode.ALWAYS]
    pid = always.spawn("overcommit")
    for size_kb in (sum_total // 2, sum_total, sum_total * 2):
        assert alloc_succeeds(always, pid, size_kb)


@pytest.mark.slow
def test_swapping01_a_slightly_oversized_process_swaps_no_more_than_available_memory(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=32 * MiB, swap_bytes=32 * MiB)
    mem_available_kb = machine.meminfo()["MemAvailable"]
    swap_free_init_kb = machine.meminfo()["SwapFree"]
    size = (mem_available_kb + mem_available_kb * 3 // 10) * 1024  # COE_SLIGHT_OVER 0.3
    pid = machine.spawn("swapping01")
    addr = machine.mmap(pid, 0, size, RW, ANON)
    machine.touch_many(pid, np.arange(addr, addr + size, PAGE_SIZE), True)
    swapped_kb = swap_free_init_kb - machine.meminfo()["SwapFree"]
    assert 0 < swapped_kb <= mem_available_kb  # "heavy swapping detected" otherwise
    assert swapped_kb <= 32 * 1024  # and never more than RAM
    machine.check_invariants()


def _hog(machine: Machine, name: str, size: int) -> tuple[int, int]:
    pid = machine.spawn(name)
    return pid, machine.mmap(pid, 0, size, RW, ANON)


def test_oom01_mode_2_refuses_with_enomem_before_any_kill(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=16 * MiB, swap_bytes=0, overcommit_memory=OvercommitMode.NEVER)
    small, addr = _hog(machine, "small", 1 * MiB)
    machine.touch_many(small, pages(addr, 1 * MiB // PAGE_SIZE), True)
    big = machine.spawn("big")
    with pytest.raises(OutOfMemory, match="CommitLimit"):
        machine.mmap(big, 0, 32 * MiB, RW, ANON)
    assert machine.vmstat()["oom_kill"] == 0
    assert [p.pid for p in machine.processes()] == [small, big]


@pytest.mark.parametrize("mode", [OvercommitMode.HEURISTIC, OvercommitMode.ALWAYS])
def test_oom01_modes_0_and_1_kill_the_largest(
    make_machine: MachineFactory, mode: OvercommitMode
) -> None:
    machine = make_machine(ram_bytes=16 * MiB, swap_bytes=0, overcommit_memory=mode)
    small, small_addr = _hog(machine, "small", 1 * MiB)
    machine.touch_many(small, pages(small_addr, 1 * MiB // PAGE_SIZE), True)
    big, big_addr = _hog(machine, "big", 13 * MiB)  # fits mode 0, not RAM beside "small"
    with pytest.raises(OomKilled):
        machine.touch_many(big, pages(big_addr, 13 * MiB // PAGE_SIZE), True)
    assert machine.vmstat()["oom_kill"] == 1
    assert [p.pid for p in machine.processes()] == [small]
    assert machine.process(small).vm_rss == 1 * MiB
    machine.check_invariants()
