"""Kernel space through the Machine facade: accounting, shared kernel half, logical addresses."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import ANON, RW

from vmsim_kernel import (
    PAGE_SIZE,
    GiB,
    InvalidArgument,
    Machine,
    SegmentationFault,
)
from vmsim_kernel.arch.x86.segmentation import GeneralProtectionFault
from vmsim_kernel.mm.highmem import KernelOops


def test_kmalloc_and_vmalloc_show_in_meminfo_and_keep_every_frame_accounted(
    machine: Machine,
) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 16 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, range(addr, addr + 16 * PAGE_SIZE, PAGE_SIZE), write=True)
    before = machine.meminfo()
    objects = [machine.kmalloc(100, owner=7) for _ in range(50)]
    area = machine.vmalloc(10 * PAGE_SIZE, owner=7)
    after = machine.meminfo()
    assert after["Slab"] > before["Slab"]  # kmalloc slabs are unreclaimable
    assert after["SUnreclaim"] - before["SUnreclaim"] == after["Slab"] - before["Slab"]
    assert after["VmallocUsed"] == before["VmallocUsed"] + 40
    machine.check_invariants()
    machine.kernel_write(area + 5, b"kernel data")
    assert machine.kernel_read(area + 5, 11) == b"kernel data"
    assert machine.kernel_read(objects[0], 4) is not None
    assert machine.release_kernel_owner(7) >= 51
    assert (
        machine.meminfo()["Slab"] == before["Slab"]
        and machine.meminfo()["VmallocUsed"] == before["VmallocUsed"]
    )
    machine.check_invariants()


def test_a_process_sees_kernel_mappings_made_after_it_was_spawned_but_cannot_touch_them(
    machine: Machine,
) -> None:
    pid = machine.spawn()
    area = machine.vmalloc(4 * PAGE_SIZE)
    machine.kernel_write(area, b"x")
    walk = machine.translate(pid, area)
    kernel = machine.kernel_translate(area)
    assert walk.pde == kernel.pde != 0 and walk.present and not walk.user
    with pytest.raises(SegmentationFault, match="kernel space"):
        machine.touch(pid, area)


def test_direct_map_helpers_and_high_memory(make_machine: object) -> None:
    machine: Machine = make_machine(ram_bytes=1 * GiB)  # type: ignore[operator]
    assert machine.pa(0xC0100000) == 0x100000 and machine.va(0x100000) == 0xC0100000
    with pytest.raises(InvalidArgument, match="kmap"):
        machine.va(960 << 20)
    high_pfn = (960 << 20) // PAGE_SIZE
    addr = machine.kmap(high_pfn, owner=1)
    assert addr is not None and addr >= 0xFF800000
    machine.kernel_write(addr, b"through kmap")
    assert machine.kernel_read(addr, 12) == b"through kmap"
    machine.kunmap(high_pfn, owner=1)


def test_logical_addresses_go_through_the_gdt(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch(pid, addr, write=True)
    segment, walk = machine.translate_logical(f"0x7b:{addr:#x}", pid)
    assert segment.linear == addr and walk.present and walk.physical is not None
    with pytest.raises(GeneralProtectionFault):
        machine.translate_logical(f"0x68:{addr:#x}", pid)  # __KERNEL_DS from user mode
    kernel_segment, kernel_walk = machine.translate_logical("__KERNEL_DS:0xc0100000")
    assert kernel_segment.linear == 0xC0100000 and kernel_walk.physical == 0x100000


def test_a_kernel_access_to_an_unmapped_address_oopses_without_killing_anything(
    machine: Machine,
) -> None:
    pid = machine.spawn()
    with pytest.raises(KernelOops, match="unable to handle"):
        machine.kernel_read(0xFF000000, 4)
    assert machine.process(pid).state.value == "R"


@pytest.mark.parametrize("ram_mib", [64, 1024, 66])
def test_direct_map_with_4_mib_pse_pages(make_machine: object, ram_mib: int) -> None:
    machine: Machine = make_machine(ram_bytes=ram_mib << 20, direct_map_pse=True)  # type: ignore[operator]
    info = machine.meminfo()
    lowmem_kb = machine.kernel.nr_lowmem_frames * PAGE_SIZE // 1024
    assert info["DirectMap4M"] == lowmem_kb // 4096 * 4096
    assert info["DirectMap4M"] + info["DirectMap4k"] == lowmem_kb
    walk = machine.kernel_translate(0xC0100000 + 0x1234)
    assert walk.present and walk.pte is None and walk.pde & 0x80 and walk.physical == 0x101234
    machine.kernel_write(0xC0200000, b"pse")
    assert machine.kernel_read(0xC0200000, 3) == b"pse"
    tail = 0xC0000000 + (lowmem_kb << 10) - PAGE_SIZE
    assert machine.kernel_translate(tail).physical == (lowmem_kb << 10) - PAGE_SIZE
    pid = machine.spawn()
    assert machine.translate(pid, 0xC0100000).pde == walk.pde
    machine.check_invariants()
