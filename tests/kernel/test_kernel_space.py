"""Kernel space: the direct map (__pa/__va), kernel page tables, kernel-mode access, and page accounting."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.kernel.conftest import free_with_pcp

from vmsim_kernel import InvalidArgument, Machine, MiB, OutOfRange
from vmsim_kernel.arch.x86.constants import PAGE_OFFSET, PAGE_SIZE, Gfp, ZoneType, high_memory
from vmsim_kernel.mm.highmem import (
    KernelOops,
    kernel_pte_word,
    kernel_read,
    kernel_region,
    kernel_walk,
    kernel_write,
    nr_kernel_pagetable_pages,
    pa,
    va,
)
from vmsim_kernel.mm.page_alloc import alloc_page, free_page
from vmsim_kernel.mm.physmem import PageFlag
from vmsim_kernel.mm.slab import SlabAllocator
from vmsim_kernel.mm.vmalloc import VmallocSpace

MachineFactory = Callable[..., Machine]  # the make_machine fixture of conftest.py

GIB_MACHINE = {"ram_bytes": 1024 * MiB, "swap_bytes": 0}
LOWMEM_896M = 896 * MiB // PAGE_SIZE


# ---- __pa / __va ---------------------------------------------------------------------------------
@pytest.mark.parametrize("paddr", [0, 0x1234, 16 * MiB, 896 * MiB - 1])
def test_pa_of_va_gives_back_the_physical_address(paddr: int) -> None:
    vaddr = va(paddr, LOWMEM_896M)
    assert vaddr == paddr + PAGE_OFFSET
    assert pa(vaddr, LOWMEM_896M) == paddr


def test_direct_map_ends_at_high_memory_0xf8000000_with_896_mib_of_low_memory() -> None:
    assert high_memory(LOWMEM_896M) == 0xF8000000
    assert pa(0xF7FFFFFF, LOWMEM_896M) == 896 * MiB - 1
    with pytest.raises(InvalidArgument, match="not in the direct map"):
        pa(0xF8000000, LOWMEM_896M)


def test_va_of_a_high_page_is_refused_with_a_hint_to_kmap_it() -> None:
    nr_frames = 1024 * MiB // PAGE_SIZE
    with pytest.raises(
        InvalidArgument, match="high memory has no permanent kernel mapping: kmap it"
    ):
        va(900 * MiB, LOWMEM_896M, nr_frames)


def test_va_of_an_address_beyond_ram_is_not_called_high_memory() -> None:
    with pytest.raises(InvalidArgument, match="not a physical address of RAM"):
        va(2048 * MiB, LOWMEM_896M, 1024 * MiB // PAGE_SIZE)


@pytest.mark.parametrize(
    ("vaddr", "region"),
    [(0x08048000, "user space"), (0xF8800000, "the vmalloc area"), (0xFF800000, "the pkmap area")],
)
def test_pa_refuses_addresses_outside_the_direct_map_and_names_their_region(
    vaddr: int, region: str
) -> None:
    assert kernel_region(vaddr, LOWMEM_896M).startswith(region)
    with pytest.raises(InvalidArgument, match=region):
        pa(vaddr, LOWMEM_896M)


def test_small_machine_direct_map_ends_where_its_ram_ends(make_machine: MachineFactory) -> None:
    machine = make_machine()  # 16 MiB: all of its usable RAM is low memory
    ram_end = machine.kernel.max_pfn * PAGE_SIZE  # the BIOS keeps the top 128 KiB
    assert (
        ram_end == 16 * MiB - 128 * 1024
        and machine.kernel.nr_lowmem_frames == machine.kernel.max_pfn
    )
    assert pa(PAGE_OFFSET + ram_end - 1, machine.kernel.nr_lowmem_frames) == ram_end - 1
    with pytest.raises(InvalidArgument):
        pa(PAGE_OFFSET + ram_end, machine.kernel.nr_lowmem_frames)


# ---- kernel page walk and kernel-mode access -------------------------------------------------------
def test_kernel_walk_of_the_direct_map_finds_a_global_supervisor_pte(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine()
    walk = kernel_walk(machine.kernel.init_mm, PAGE_OFFSET + 0x5123)
    assert walk.present and walk.fault is None
    assert walk.pfn == 5 and walk.physical == 0x5123
    assert walk.cr3 == machine.kernel.swapper_pg_dir * PAGE_SIZE
    assert walk.pde_index == 768 and walk.pte_index == 5
    assert not walk.user and walk.writable
    assert walk.pte is not None and walk.pte & 0x100  # G


def test_kernel_write_through_the_direct_map_lands_in_the_frame(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine()
    pfn = alloc_page(machine.kernel.pgdat, Gfp.KERNEL, None)
    vaddr = va(pfn * PAGE_SIZE, machine.kernel.nr_lowmem_frames)
    kernel_write(machine.kernel.init_mm, vaddr + 100, b"direct map")
    assert bytes(machine.kernel.physmem.frame_view(pfn)[100:110]) == b"direct map"
    assert kernel_read(machine.kernel.init_mm, vaddr + 100, 10) == b"direct map"
    free_page(machine.kernel.pgdat, pfn)


@pytest.mark.parametrize("vaddr", [0x0, 0x08048000, 0xF9000000, 0xFF800000])
def test_kernel_access_to_an_unmapped_address_oopses(
    make_machine: MachineFactory, vaddr: int
) -> None:
    machine = make_machine()
    with pytest.raises(
        KernelOops, match=r"unable to handle page fault for address: 0x.* \(not present\)"
    ):
        kernel_read(machine.kernel.init_mm, vaddr, 4)


def test_kernel_write_that_would_oops_part_way_stores_nothing(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine()
    vmalloc = VmallocSpace(machine.kernel.init_mm)
    addr = vmalloc.vmalloc(PAGE_SIZE, zero=True)
    with pytest.raises(KernelOops):
        kernel_write(
            machine.kernel.init_mm, addr + PAGE_SIZE - 2, b"abcd"
        )  # runs into the guard page
    assert kernel_read(machine.kernel.init_mm, addr + PAGE_SIZE - 2, 2) == b"\0\0"


def test_kernel_access_beyond_4_gib_is_out_of_range(make_machine: MachineFactory) -> None:
    machine = make_machine()
    with pytest.raises(OutOfRange):
        kernel_read(machine.kernel.init_mm, 0xFFFFFFFF, 2)


def test_new_kernel_page_table_is_synced_into_process_directories(
    make_machine: MachineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = make_machine()
    synced: list[int] = []
    monkeypatch.setattr(machine.kernel.init_mm, "sync_global_pgds", synced.append)
    vaddr = 0xF0000000
    assert kernel_pte_word(machine.kernel.init_mm, vaddr, allocate=False) is None
    word = kernel_pte_word(machine.kernel.init_mm, vaddr, allocate=True)
    assert word is not None
    assert synced == [vaddr >> 22]
    # A second lookup finds the same table and syncs nothing.
    assert kernel_pte_word(machine.kernel.init_mm, vaddr + PAGE_SIZE, allocate=True) == word + 1
    assert synced == [vaddr >> 22]
    table_pfn = kernel_walk(machine.kernel.init_mm, vaddr).pde >> 12
    assert machine.kernel.physmem.test_flags(table_pfn, PageFlag.PAGETABLE)
    assert nr_kernel_pagetable_pages(machine.kernel.init_mm) == 1


def test_kernel_pte_word_refuses_user_addresses(make_machine: MachineFactory) -> None:
    machine = make_machine()
    with pytest.raises(InvalidArgument):
        kernel_pte_word(machine.kernel.init_mm, 0x1000, allocate=True)


# ---- accounting -------------------------------------------------------------------------------------
def test_every_kernel_page_is_accounted_free_plus_kernel_equals_managed(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(**GIB_MACHINE)
    # what the kernel itself allocated at boot (its slabs, kernel stacks) is not free either
    free_at_boot = free_with_pcp(machine.kernel.allocator)
    tables_at_boot = nr_kernel_pagetable_pages(machine.kernel.init_mm)  # boot's vmalloc areas'
    slab = SlabAllocator(machine.kernel.init_mm, machine.config.nr_cpus)
    vmalloc = machine.kernel.vmalloc_space
    vmalloc_pages_at_boot = vmalloc.nr_vmalloc_pages
    for size in (8, 100, 3000, 8192, 20000, 1 * MiB):
        slab.kmalloc(size, owner=1)
    slab.kmalloc(64, Gfp.DMA, owner=1)
    vmalloc.vmalloc(100 * PAGE_SIZE, owner=1)
    vmalloc.vmalloc(3 * PAGE_SIZE, owner=2)
    nr_tables = nr_kernel_pagetable_pages(machine.kernel.init_mm) - tables_at_boot

    def kernel_pages() -> int:
        return (
            slab.nr_slab_pages
            + slab.nr_large_kmalloc_pages
            + vmalloc.nr_vmalloc_pages
            - vmalloc_pages_at_boot
            + nr_kernel_pagetable_pages(machine.kernel.init_mm)
            - tables_at_boot
        )

    assert free_with_pcp(machine.kernel.allocator) + kernel_pages() == free_at_boot
    slab.release_owner(1)
    vmalloc.release_owner(1)
    vmalloc.release_owner(2)
    assert (
        kernel_pages()
        == nr_kernel_pagetable_pages(machine.kernel.init_mm) - tables_at_boot
        == nr_tables
    )  # tables stay, as in Linux
    assert free_with_pcp(machine.kernel.allocator) + nr_tables == free_at_boot
    machine.kernel.allocator.check_invariants()
    slab.check_invariants()
    vmalloc.check_invariants()


def test_highmem_machine_keeps_kmalloc_out_of_highmem(make_machine: MachineFactory) -> None:
    machine = make_machine(**GIB_MACHINE)
    slab = SlabAllocator(machine.kernel.init_mm, machine.config.nr_cpus)
    high_free = free_with_pcp(machine.kernel.allocator.zones[ZoneType.HIGHMEM])
    for _ in range(50):
        slab.kmalloc(4096)
    slab.kmalloc(2 * MiB)
    assert free_with_pcp(machine.kernel.allocator.zones[ZoneType.HIGHMEM]) == high_free
