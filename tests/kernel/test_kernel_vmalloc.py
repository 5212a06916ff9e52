"""vmalloc/vfree: contiguous virtual areas over scattered frames, guard pages, first fit, vmallocinfo."""

from __future__ import annotations

import re

import pytest
from tests.kernel.conftest import MachineFactory, free_with_pcp

from vmsim_kernel import InvalidArgument, Machine, MiB, OutOfMemory, PermissionDenied
from vmsim_kernel.arch.x86.constants import PAGE_SIZE, VMALLOC_END, ZoneType, vmalloc_start
from vmsim_kernel.mm.highmem import KernelOops, kernel_read, kernel_write, nr_kernel_pagetable_pages
from vmsim_kernel.mm.physmem import PageFlag
from vmsim_kernel.mm.vmalloc import VmallocSpace


def test_vmalloc_of_100_pages_takes_highmem_frames_under_a_contiguous_range(
    gib_machine: Machine,
) -> None:
    zones = gib_machine.kernel.allocator.zones
    init_mm = gib_machine.kernel.init_mm
    high_before = free_with_pcp(zones[ZoneType.HIGHMEM])
    normal_before = free_with_pcp(zones[ZoneType.NORMAL])
    tables_before = nr_kernel_pagetable_pages(init_mm)
    vmalloc = gib_machine.kernel.vmalloc_space
    boot_areas = vmalloc.areas()
    addr = vmalloc.vmalloc(100 * PAGE_SIZE)
    # Boot's areas start 8 MiB above the end of low memory, which a 6.1 kernel puts at MAXMEM
    # (875 MiB); the first fit is right after the last one's guard page.
    layout = gib_machine.kernel.virtual_layout
    assert boot_areas[0].addr == vmalloc_start(init_mm.nr_lowmem_frames) == layout.vmalloc_start
    assert addr == boot_areas[-1].end
    area = vmalloc.area_containing(addr)
    assert area is not None and area.addr == addr
    assert len(area.pages) == 100 and len(set(area.pages)) == 100
    assert all(
        gib_machine.kernel.allocator.zone_of(pfn).zone_type is ZoneType.HIGHMEM
        for pfn in area.pages
    )
    assert all(gib_machine.kernel.physmem.test_flags(pfn, PageFlag.VMALLOC) for pfn in area.pages)
    # The whole range is virtually contiguous and maps page i to frame i of the area.
    walks = vmalloc.page_table_dump(addr, 100)
    assert [w.linear for w in walks] == [addr + i * PAGE_SIZE for i in range(100)]
    assert [w.pfn for w in walks] == list(area.pages)
    assert all(w.present and not w.user and w.writable for w in walks)
    # Free pages dropped by exactly the area's pages, plus one kernel page table from NORMAL
    # for each 4 MiB the area touches that boot's areas had not (none: they end in the same
    # 4 MiB, 0xf7400000..., as Linux's do).
    pdes_before = {(a.addr + i * PAGE_SIZE) >> 22 for a in boot_areas for i in range(a.nr_pages)}
    nr_tables = len({(addr + i * PAGE_SIZE) >> 22 for i in range(100)} - pdes_before)
    assert high_before - free_with_pcp(zones[ZoneType.HIGHMEM]) == 100
    assert normal_before - free_with_pcp(zones[ZoneType.NORMAL]) == nr_tables
    assert nr_kernel_pagetable_pages(init_mm) - tables_before == nr_tables
    vmalloc.check_invariants()


def test_kernel_write_then_read_across_the_whole_area(gib_machine: Machine) -> None:
    vmalloc = gib_machine.kernel.vmalloc_space
    addr = vmalloc.vmalloc(100 * PAGE_SIZE)
    area = vmalloc.area_containing(addr)
    assert area is not None
    data = bytes((i * 7 + i // 4096) & 0xFF for i in range(100 * PAGE_SIZE))
    kernel_write(gib_machine.kernel.init_mm, addr, data)
    assert kernel_read(gib_machine.kernel.init_mm, addr, len(data)) == data
    # The bytes sit in the scattered frames, page by page.
    for index, pfn in enumerate(area.pages):
        page = data[index * PAGE_SIZE : (index + 1) * PAGE_SIZE]
        assert bytes(gib_machine.kernel.physmem.frame_view(pfn)) == page
    assert all(w.dirty for w in vmalloc.page_table_dump(addr, 100))


def test_page_table_dump_shows_the_guard_page_not_present(gib_machine: Machine) -> None:
    vmalloc = gib_machine.kernel.vmalloc_space
    addr = vmalloc.vmalloc(4 * PAGE_SIZE)
    walks = vmalloc.page_table_dump(addr, 5)
    assert [w.present for w in walks] == [True, True, True, True, False]
    guard = walks[4]
    assert guard.pte == 0 and guard.fault == "not present" and guard.pfn is None
    with pytest.raises(KernelOops, match="not present"):
        kernel_read(gib_machine.kernel.init_mm, addr + 4 * PAGE_SIZE, 1)


def test_each_area_starts_after_the_previous_areas_guard_page(make_machine: MachineFactory) -> None:
    vmalloc = VmallocSpace(make_machine().kernel.init_mm)
    first = vmalloc.vmalloc(3 * PAGE_SIZE)
    second = vmalloc.vmalloc(1)
    assert second == first + 4 * PAGE_SIZE
    assert vmalloc.areas()[1].size == 2 * PAGE_SIZE


def test_vfree_unmaps_and_returns_the_pages_but_keeps_the_page_table(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine()  # a small build: boot made no vmalloc area, so no page table
    vmalloc = machine.kernel.vmalloc_space
    assert vmalloc.areas() == [] and nr_kernel_pagetable_pages(machine.kernel.init_mm) == 0
    free_before = free_with_pcp(machine.kernel.allocator)
    addr = vmalloc.vmalloc(10 * PAGE_SIZE)
    pages = vmalloc.areas()[0].pages
    vmalloc.vfree(addr)
    nr_tables = nr_kernel_pagetable_pages(machine.kernel.init_mm)
    assert nr_tables >= 1
    # the page tables stay
    assert free_with_pcp(machine.kernel.allocator) == free_before - nr_tables
    assert not any(w.present for w in vmalloc.page_table_dump(addr, 10))
    assert not any(machine.kernel.physmem.test_flags(pfn, PageFlag.VMALLOC) for pfn in pages)
    with pytest.raises(KernelOops):
        kernel_read(machine.kernel.init_mm, addr, 1)
    assert vmalloc.used_bytes == 0 and vmalloc.areas() == []
    machine.kernel.allocator.check_invariants()


def test_vfree_refuses_anything_but_the_start_of_a_live_area(make_machine: MachineFactory) -> None:
    vmalloc = VmallocSpace(make_machine().kernel.init_mm)
    addr = vmalloc.vmalloc(2 * PAGE_SIZE)
    with pytest.raises(InvalidArgument, match=r"nonexistent vm area .*inside the area"):
        vmalloc.vfree(addr + PAGE_SIZE)
    vmalloc.vfree(addr)
    with pytest.raises(InvalidArgument, match="nonexistent vm area"):
        vmalloc.vfree(addr)
    vmalloc.vfree(0)  # vfree(NULL) is allowed


def test_an_owner_cannot_vfree_another_owners_area(make_machine: MachineFactory) -> None:
    vmalloc = VmallocSpace(make_machine().kernel.init_mm)
    addr = vmalloc.vmalloc(PAGE_SIZE, owner=1)
    with pytest.raises(PermissionDenied):
        vmalloc.vfree(addr, owner=2)
    vmalloc.vfree(addr, owner=1)


def test_first_fit_reuses_a_freed_gap_and_the_gaps_show_fragmentation(
    make_machine: MachineFactory,
) -> None:
    vmalloc = VmallocSpace(make_machine().kernel.init_mm)
    a = vmalloc.vmalloc(4 * PAGE_SIZE)
    b = vmalloc.vmalloc(4 * PAGE_SIZE)
    c = vmalloc.vmalloc(4 * PAGE_SIZE)
    vmalloc.vfree(b)
    assert vmalloc.free_chunks() == [(b, c), (c + 5 * PAGE_SIZE, VMALLOC_END)]
    assert vmalloc.largest_free_chunk == VMALLOC_END - (c + 5 * PAGE_SIZE)
    small = vmalloc.vmalloc(2 * PAGE_SIZE)  # 3 pages with its guard: fits the 5-page gap
    assert small == b
    big = vmalloc.vmalloc(8 * PAGE_SIZE)  # does not fit what is left of the gap
    assert big == c + 5 * PAGE_SIZE
    assert vmalloc.free_chunks()[0] == (b + 3 * PAGE_SIZE, c)
    assert a < small < c < big


def test_vmallocinfo_lists_each_area_like_linux(make_machine: MachineFactory) -> None:
    vmalloc = VmallocSpace(make_machine().kernel.init_mm)
    first = vmalloc.vmalloc(4 * PAGE_SIZE)
    vmalloc.vmalloc(1, caller="test_driver")
    lines = vmalloc.vmallocinfo().splitlines()
    assert lines[0] == (
        f"0x{first:08x}-0x{first + 5 * PAGE_SIZE:08x}   20480 vmsim_vmalloc+0x0/0x0 pages=4 vmalloc"
    )
    assert re.fullmatch(
        r"0x[0-9a-f]{8}-0x[0-9a-f]{8}\s+8192 test_driver\+0x0/0x0 pages=1 vmalloc", lines[1]
    )
    assert vmalloc.used_bytes == 5 * PAGE_SIZE


def test_release_owner_vfrees_only_that_owners_areas(make_machine: MachineFactory) -> None:
    machine = make_machine()
    vmalloc = VmallocSpace(machine.kernel.init_mm)
    for pages in (1, 2, 3):
        vmalloc.vmalloc(pages * PAGE_SIZE, owner=5)
    kept = vmalloc.vmalloc(PAGE_SIZE, owner=6)
    assert vmalloc.release_owner(5) == 3
    assert [area.addr for area in vmalloc.areas()] == [kept]
    assert vmalloc.nr_vmalloc_pages == 1
    vmalloc.check_invariants()


def test_vmalloc_bigger_than_ram_fails_and_gives_back_every_page(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(swap_bytes=0)  # 16 MiB, nothing to reclaim
    vmalloc = VmallocSpace(machine.kernel.init_mm)
    vmalloc.vmalloc(PAGE_SIZE)  # makes the first kernel page table
    free_before = free_with_pcp(machine.kernel.allocator)
    with pytest.raises(OutOfMemory):
        vmalloc.vmalloc(64 * MiB)
    tables_made = nr_kernel_pagetable_pages(machine.kernel.init_mm) - 1
    assert free_with_pcp(machine.kernel.allocator) == free_before - tables_made
    assert len(vmalloc.areas()) == 1
    machine.kernel.allocator.check_invariants()
    vmalloc.check_invariants()


def test_vmalloc_larger_than_the_vmalloc_area_is_invalid(make_machine: MachineFactory) -> None:
    vmalloc = VmallocSpace(make_machine().kernel.init_mm)
    with pytest.raises(InvalidArgument):
        vmalloc.vmalloc(vmalloc.total_bytes)
    with pytest.raises(InvalidArgument):
        vmalloc.vmalloc(0)


def test_vzalloc_returns_zeroed_pages(make_machine: MachineFactory) -> None:
    machine = make_machine()
    vmalloc = VmallocSpace(machine.kernel.init_mm)
    addr = vmalloc.vmalloc(2 * PAGE_SIZE)
    kernel_write(machine.kernel.init_mm, addr, b"\xaa" * 2 * PAGE_SIZE)
    vmalloc.vfree(addr)
    again = vmalloc.vmalloc(2 * PAGE_SIZE, zero=True)
    assert kernel_read(machine.kernel.init_mm, again, 2 * PAGE_SIZE) == bytes(2 * PAGE_SIZE)
