"""Field-exact /proc text: names, order, widths and units as Linux's seq_printf formats.

Two references: the files of a real Debian 6.1 686 kernel (tests/kernel/data/linux32-1g-*,
from linux32/out/base-1g-4k.log beside DESIGN.md) and the host's own /proc, where it has
the same file. Shapes are compared, not values: digits become a placeholder, widths stay.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.kernel.conftest import ANON, RW, MachineFactory, field_shape, pages

from vmsim_kernel import Machine
from vmsim_kernel.arch.x86.constants import PAGE_SIZE, GiB, MiB
from vmsim_kernel.arch.x86.layout import (
    e820_table,
    format_layout_block,
    memblock_memory,
    plan_boot,
    virtual_layout,
)
from vmsim_kernel.mm.vmstat import VMSTAT_EVENT_NAMES, VmEvents

DATA = Path(__file__).parent / "data"


def golden(name: str) -> list[str]:
    return (DATA / f"linux32-1g-{name}.txt").read_text().splitlines()


def shape(line: str) -> str:
    """A line with each number replaced by '#' of the same width (digits and signs)."""
    return re.sub(r"\d+", lambda match: "#" * len(match.group()), line)


def fits(line: str) -> bool:
    """Whether every number of the line fits in the 8 columns Linux pads to."""
    return all(len(number) <= 8 for number in re.findall(r"\d+", line))


def host_lines(path: str) -> list[str]:
    file = Path(path)
    if not file.exists():
        pytest.skip(f"the host has no {path}")
    return file.read_text().splitlines()


@pytest.fixture
def busy_1g(make_machine: MachineFactory) -> Machine:
    """A 1 GiB machine with a process that has used some memory."""
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=16 * MiB)
    pid = machine.spawn("busy")
    addr = machine.mmap(pid, 0, 4 * MiB, RW, ANON)
    machine.touch_many(pid, pages(addr, 4 * MiB // PAGE_SIZE), True)
    return machine


# ---- meminfo -----------------------------------------------------------------------------------
def test_meminfo_has_the_lines_and_widths_of_a_real_i386_kernel(busy_1g: Machine) -> None:
    ours = busy_1g.report("meminfo").splitlines()
    reference = golden("meminfo")
    assert [line.split(":")[0] for line in ours] == [line.split(":")[0] for line in reference]
    # Every line ends in the same column (show_val_kb pads the number to 8).
    assert [len(line) for line in ours] == [len(line) for line in reference]


def test_meminfo_lines_are_formatted_like_the_hosts(busy_1g: Machine) -> None:
    host = {line.split(":")[0]: line for line in host_lines("/proc/meminfo")}
    ours = {line.split(":")[0]: line for line in busy_1g.report("meminfo").splitlines()}
    common = sorted(name for name in set(host) & set(ours) if fits(host[name]))
    assert len(common) > 40
    for name in common:
        assert field_shape(ours[name]) == field_shape(host[name]), name


# ---- vmstat ------------------------------------------------------------------------------------
def test_vmstat_prints_what_a_6_1_i386_kernel_prints_in_its_order(busy_1g: Machine) -> None:
    names = [line.split()[0] for line in busy_1g.report("vmstat").splitlines()]
    assert names == [line.split()[0] for line in golden("vmstat")]
    assert all(
        re.fullmatch(r"[a-z0-9_]+ \d+", line) for line in busy_1g.report("vmstat").splitlines()
    )


def test_every_counter_the_kernel_keeps_is_a_vmstat_line() -> None:
    assert set(VmEvents().as_dict()) <= set(VMSTAT_EVENT_NAMES)
    assert "kswapd_wakeups" not in VMSTAT_EVENT_NAMES and "allocstall" not in VMSTAT_EVENT_NAMES


def test_vmstat_names_shared_with_the_host_come_in_the_hosts_order(busy_1g: Machine) -> None:
    host = [line.split()[0] for line in host_lines("/proc/vmstat")]
    ours = [line.split()[0] for line in busy_1g.report("vmstat").splitlines()]
    # Compare the event counters (pgpgin on); a few moved to the node stats in later kernels.
    host_events = host[host.index("pgpgin") :]
    our_events = ours[ours.index("pgpgin") :]
    moved = set(host[: host.index("pgpgin")]) | set(ours[: ours.index("pgpgin")])
    common = [name for name in our_events if name in set(host_events) and name not in moved]
    assert len(common) > 60
    assert common == [name for name in host_events if name in set(common)]


# ---- zoneinfo ----------------------------------------------------------------------------------
def test_zoneinfo_has_the_shape_of_a_real_i386_kernel(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1 * GiB, swap_bytes=0, nr_cpus=1)
    ours = [shape(line) for line in machine.report("zoneinfo").splitlines()]
    reference = [shape(line) for line in golden("zoneinfo")]
    # Same lines in the same order; only the widths of the numbers may differ.
    assert [re.sub("#+", "#", line) for line in ours] == [
        re.sub("#+", "#", line) for line in reference
    ]


def test_zoneinfo_lines_use_the_hosts_formats(busy_1g: Machine) -> None:
    lines = host_lines("/proc/zoneinfo")
    host = {re.sub("#+", "#", shape(line)) for line in lines}
    host_names = {line.split()[0] for line in lines if line.strip()}
    checked = 0
    for line in busy_1g.report("zoneinfo").splitlines():
        generic = re.sub("#+", "#", shape(line))
        first = line.split()[0]
        if "HighMem" in generic or "protection" in generic or first not in host_names:
            continue  # x86-64 has no HighMem, 5 protection columns, and newer counters
        if first in ("count:", "high:", "batch:"):
            continue  # 6.8+ pads the pageset lines for its new high_min/high_max
        assert generic in host, line
        checked += 1
    assert checked > 40


# ---- per-process files -------------------------------------------------------------------------
def test_smaps_fields_are_formatted_like_the_hosts(busy_1g: Machine) -> None:
    host: dict[str, str] = {}
    for line in host_lines("/proc/self/smaps"):
        if ":" in line and "-" not in line.split(":")[0]:
            host.setdefault(line.split(":")[0], line)
    pid = next(iter(busy_1g.tasks))
    checked = 0
    for line in busy_1g.report("smaps", pid).splitlines():
        name = line.split(":")[0]
        # Kernels after 6.1 pad THPeligible like a size; 6.1 prints it unpadded (see
        # test_proc_linux61.py, which compares with the real 6.1 kernel's smaps).
        if name in host and name not in ("VmFlags", "THPeligible"):
            assert field_shape(line) == field_shape(host[name]), line
            checked += 1
        elif name == "VmFlags":
            assert line.endswith(" ") and host[name].endswith(" ")
    assert checked >= 20


def test_status_memory_lines_are_formatted_like_the_hosts(busy_1g: Machine) -> None:
    host = {line.split(":")[0]: line for line in host_lines("/proc/self/status")}
    pid = next(iter(busy_1g.tasks))
    checked = 0
    for line in busy_1g.report("status", pid).splitlines():
        name = line.split(":")[0]
        if name.startswith(("Vm", "Rss")) and name in host:
            assert field_shape(line) == field_shape(host[name]), line
            checked += 1
    assert checked >= 12


# ---- the boot layout -----------------------------------------------------------------------------
def test_the_layout_for_32_cpus_is_the_one_a_real_6_1_kernel_printed() -> None:
    """linux32 base-1g: NR_CPUS=32, usable RAM up to 0x3ffdf000 (262112 frames)."""
    layout = virtual_layout(32, 262112)
    boot = plan_boot(memblock_memory(e820_table(1 * GiB)), layout.max_low_pfn, 0, 1)
    block = format_layout_block(layout, boot.image)
    assert block[:5] == [
        "virtual kernel memory layout:",
        "    fixmap  : 0xffdb8000 - 0xfffff000   (2332 kB)",
        "    pkmap   : 0xfec00000 - 0xff000000   (4096 kB)",
        "    vmalloc : 0xf73fe000 - 0xfebfe000   ( 120 MB)",
        "    lowmem  : 0xc0000000 - 0xf6bfe000   ( 875 MB)",
    ]
    assert block[6].startswith("      .text : 0xc1000000 - ")  # loaded at 16 MiB
    assert layout.cpu_entry_area_base == 0xFF400000 and layout.ldt_base == 0xFF000000
    assert layout.max_low_pfn == 0x36BFE
    small = virtual_layout(32, 0x0FFE0000 // PAGE_SIZE)  # base-256m: all RAM is low
    assert (small.high_memory, small.vmalloc_start) == (0xCFFE0000, 0xD07E0000)


def test_fewer_cpus_shrink_the_fixmap_and_grow_lowmem() -> None:
    one, two, sixty_four = (virtual_layout(n, 1 << 20) for n in (1, 2, 64))
    assert one.fixaddr_start > two.fixaddr_start > sixty_four.fixaddr_start
    assert two.maxmem >= one.maxmem - 0 and two.maxmem > sixty_four.maxmem
    assert two.fixaddr_top - two.fixaddr_start == (68 + 16 * 2 + 3) * PAGE_SIZE


def test_the_image_sits_at_16_mib_and_dma_stays_managed(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=64 * MiB)
    image = machine.kernel.boot.image
    assert image.text_pfn << 12 == 16 * MiB
    dma = machine.kernel.allocator.zones[0]
    assert dma.managed_pages == 3840  # all but the first 1 MiB, as on the linux32 box
    assert image.text_pfn <= machine.kernel.swapper_pg_dir < image.end_pfn
    assert image.text_pfn <= machine.kernel.zero_pfn < image.end_pfn
    text = machine.report("layout")
    assert "virtual kernel memory layout:" in text and "memblock reserved:" in text
    assert "[mem 0x01000000-" in text and "kernel image" in text
    assert "derives it for NR_CPUS=32" in text  # Debian's build, whatever the machine's CPUs
    assert machine.layout()["_text"] == 16 * MiB


def test_a_machine_too_small_for_16_mib_loads_the_image_at_1_mib(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=8 * MiB)
    assert machine.kernel.boot.image.text_pfn << 12 == 1 * MiB
    machine.check_invariants()


def test_swaps_and_maps_lines_are_laid_out_as_on_the_real_i386_kernel(
    make_machine: MachineFactory,
) -> None:
    """linux32: "/dev/vda<pad to 40>partition\\t262140\\t\\t0\\t\\t-2" (a file's type is "file\\t");
    maps names at column 49."""
    machine = make_machine(swap_bytes=256 * MiB)
    header, line = machine.report("swaps").splitlines()
    assert header == "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"
    assert re.fullmatch(r"\S+ +file\t\t262140\t\t0\t\t-2", line) and line.index("file") >= 40
    pid = machine.spawn()
    machine.brk(pid, machine.brk(pid, 0) + 2 * PAGE_SIZE)
    anon = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    lines = machine.report("maps", pid).splitlines()
    assert f"{anon:08x}-{anon + 4 * PAGE_SIZE:08x} rw-p 00000000 00:00 0 " in lines  # no name
    for name in ("[heap]", "[stack]"):
        (named,) = [entry for entry in lines if entry.endswith(name)]
        assert named.index(name) == 49
