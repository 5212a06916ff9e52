"""The vm sysctls at run time (kernel/sysctl.py): limits, side effects, reserves at boot."""

from __future__ import annotations

import pytest
from tests.kernel import linux32
from tests.kernel.conftest import ANON, RW, MachineFactory
from tests.kernel.linux32_run import booted

from vmsim_kernel import (
    PAGE_SIZE,
    InvalidArgument,
    Machine,
    MiB,
    OutOfMemory,
)

RESERVE_TOLERANCE = 0.02  # the reserves are 1/32 of the memory free at boot, which is 1.4% off


def zone_marks(machine: Machine) -> list[tuple[int, int, int, tuple[int, ...]]]:
    return [
        (zone.watermark_min, zone.watermark_low, zone.watermark_high, tuple(zone.lowmem_reserve))
        for zone in machine.kernel.allocator.zones
    ]


def test_every_vm_sysctl_reads_and_the_proc_report_lists_them(machine: Machine) -> None:
    values = machine.sysctl()
    assert values["vm.swappiness"] == "60" and values["vm.page-cluster"] == "3"
    assert values["vm.lowmem_reserve_ratio"] == "256\t32\t0"
    assert values["vm.overcommit_memory"] == "0" and values["vm.overcommit_ratio"] == "50"
    assert int(values["vm.min_free_kbytes"]) == machine.kernel.allocator.min_free_kbytes
    report = machine.report("sys_vm")
    assert report.splitlines() == [f"{name} = {value}" for name, value in values.items()]
    assert (
        machine.sysctl("swappiness") == machine.sysctl("vm/swappiness") == {"vm.swappiness": "60"}
    )


def test_min_free_kbytes_moves_every_watermark_at_once(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=64 * MiB)
    normal = machine.kernel.allocator.zones[1]
    before = normal.watermark_min
    default_kb = machine.kernel.allocator.min_free_kbytes
    assert machine.set_sysctl("vm.min_free_kbytes", str(4 * default_kb)) == str(4 * default_kb)
    assert normal.watermark_min >= 4 * before - 4  # the zone's share grows with the total
    assert normal.watermark_min < normal.watermark_low < normal.watermark_high
    machine.check_invariants()


def test_watermark_scale_factor_widens_the_gaps_between_marks(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1024 * MiB, swap_bytes=0)
    high = machine.kernel.allocator.zones[2]
    gap_before = high.watermark_low - high.watermark_min
    machine.set_sysctl("vm.watermark_scale_factor", "1000")
    # 10% of the zone's managed pages between min and low, 100 times the default 0.1%
    assert high.watermark_low - high.watermark_min == high.managed_pages * 1000 // 10000
    assert high.watermark_low - high.watermark_min > 50 * gap_before


def test_lowmem_reserve_ratio_recomputes_the_protection(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1024 * MiB, swap_bytes=0)
    dma, normal, high = machine.kernel.allocator.zones
    machine.set_sysctl("vm.lowmem_reserve_ratio", "128 16 0")
    assert dma.lowmem_reserve[1] == normal.managed_pages // 128
    assert normal.lowmem_reserve[2] == high.managed_pages // 16
    assert machine.sysctl("vm.lowmem_reserve_ratio") == {"vm.lowmem_reserve_ratio": "128\t16\t0"}


@pytest.mark.parametrize(
    ("name", "value", "limit"),
    [
        ("vm.swappiness", "201", "0..200"),
        ("vm.overcommit_memory", "3", "0..2"),
        ("vm.watermark_scale_factor", "0", "1..3000"),
        ("vm.min_free_kbytes", "-1", "0..2147483647"),
        ("vm.page-cluster", "32", "0..31"),
        ("vm.lowmem_reserve_ratio", "256 32", "3 integer(s)"),
        ("vm.swappiness", "sixty", "integer"),
        ("vm.no_such_thing", "1", "vm.swappiness"),
    ],
)
def test_a_value_out_of_the_kernels_limits_is_refused_and_changes_nothing(
    machine: Machine, name: str, value: str, limit: str
) -> None:
    values, marks = machine.sysctl(), zone_marks(machine)
    with pytest.raises(InvalidArgument) as refused:
        machine.set_sysctl(name, value)
    assert limit in str(refused.value)
    assert (machine.sysctl(), zone_marks(machine)) == (values, marks)


def test_overcommit_set_at_run_time_governs_the_next_mmap(machine: Machine) -> None:
    pid = machine.spawn()
    assert machine.mmap(pid, 0, 40 * MiB, RW, ANON)  # mode 0: less than RAM + swap
    machine.set_sysctl("vm.overcommit_memory", "2")
    machine.set_sysctl("vm.overcommit_kbytes", "1024")
    assert machine.sysctl("vm.overcommit_ratio") == {"vm.overcommit_ratio": "0"}
    info = machine.meminfo()
    assert info["CommitLimit"] == 1024 + info["SwapTotal"]
    with pytest.raises(OutOfMemory, match="CommitLimit"):
        machine.mmap(pid, 0, 64 * MiB, RW, ANON)
    machine.set_sysctl("vm.overcommit_ratio", "50")  # the ratio takes over again
    assert machine.sysctl("vm.overcommit_kbytes") == {"vm.overcommit_kbytes": "0"}
    machine.set_sysctl("vm.overcommit_memory", "1")
    assert machine.mmap(pid, 0, 1024 * MiB, RW, ANON)


def test_the_admin_reserve_is_what_root_keeps_in_mode_2(machine: Machine) -> None:
    machine.set_sysctl("vm.overcommit_memory", "2")
    pid = machine.spawn()
    info = machine.meminfo()
    room_kb = info["CommitLimit"] - info["Committed_AS"]
    admin_kb = int(machine.sysctl("vm.admin_reserve_kbytes")["vm.admin_reserve_kbytes"])
    with pytest.raises(OutOfMemory):
        machine.mmap(pid, 0, (room_kb - admin_kb) * 1024, RW, ANON)
    machine.set_sysctl("vm.admin_reserve_kbytes", "0")
    machine.set_sysctl("vm.user_reserve_kbytes", "0")
    assert machine.mmap(pid, 0, (room_kb - admin_kb) * 1024 - PAGE_SIZE, RW, ANON)


@pytest.mark.parametrize("name", ["d-256m-swap-4k", "d-1g-4k"])
def test_the_reserves_at_boot_are_3_percent_of_free_memory_as_linux_sizes_them(name: str) -> None:
    capture = linux32.load(name)
    with booted(capture) as machine:
        values = machine.sysctl()
    for key in ("admin_reserve_kbytes", "user_reserve_kbytes"):
        ours, linux = int(values[f"vm.{key}"]), capture.sysctl[key]
        assert abs(ours - linux) <= RESERVE_TOLERANCE * linux, (key, ours, linux)


@pytest.mark.slow
@pytest.mark.parametrize("page_cluster", [0, 3])
def test_page_cluster_written_at_run_time_sets_the_next_swap_ins_readahead(
    machine: Machine, page_cluster: int
) -> None:
    nr_pages = 6144  # 24 MiB on a 16 MiB machine: most of the first pages go to swap
    pid = machine.spawn()
    base = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, [base + i * PAGE_SIZE for i in range(nr_pages)], True)
    # The first 65 pages found in swap are all the test reads; a walk (translate) costs the
    # VMA's smaps each, so walking all 6144 pages took seconds.
    swapped: list[int] = []
    for addr in range(base, base + nr_pages * PAGE_SIZE, PAGE_SIZE):
        if machine.translate(pid, addr).swap_offset is not None:
            swapped.append(addr)
            if len(swapped) > 64:
                break
    assert len(swapped) > 64
    machine.set_sysctl("vm.page-cluster", str(page_cluster))
    before = machine.vmstat()
    machine.touch(pid, swapped[32], False)
    after = machine.vmstat()
    read_ahead = after["swap_ra"] - before["swap_ra"]
    assert after["pswpin"] - before["pswpin"] == 1 + read_ahead
    if page_cluster == 0:
        assert read_ahead == 0  # no readahead at all, as Linux with page-cluster 0
    else:
        assert 0 < read_ahead < 1 << page_cluster  # the rest of the aligned cluster of 8
    machine.check_invariants()
