"""kmap/kunmap over the 1024 pkmap slots, and per-CPU strictly nested kmap_atomic."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import MachineFactory

from vmsim_kernel import InvalidArgument, Machine, MiB
from vmsim_kernel.arch.x86.constants import (
    FIXADDR_TOP,
    LAST_PKMAP,
    PAGE_OFFSET,
    PAGE_SIZE,
    PKMAP_BASE,
    GiB,
    ZoneType,
)
from vmsim_kernel.mm.highmem import (
    KM_TYPE_NR,
    AtomicContextViolation,
    Highmem,
    kernel_read,
    kernel_walk,
    kernel_write,
    nr_kernel_pagetable_pages,
)


def first_high_pfn(machine: Machine) -> int:
    return machine.kernel.nr_lowmem_frames


# ---- kmap ------------------------------------------------------------------------------------------
def test_kmap_of_a_low_page_returns_its_direct_map_address_and_uses_no_slot(
    gib_machine: Machine,
) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    assert highmem.kmap(0x1234) == PAGE_OFFSET + 0x1234 * PAGE_SIZE
    assert highmem.nr_free_slots == LAST_PKMAP
    assert highmem.kunmap(0x1234) is False
    with pytest.raises(InvalidArgument, match="not kmapped"):
        highmem.kunmap(0x1234)


def test_kmap_of_a_high_page_maps_it_in_a_pkmap_slot(gib_machine: Machine) -> None:
    tables_at_boot = nr_kernel_pagetable_pages(gib_machine.kernel.init_mm)
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    pfn = first_high_pfn(gib_machine) + 5
    vaddr = highmem.kmap(pfn)
    assert vaddr is not None
    assert PKMAP_BASE <= vaddr < PKMAP_BASE + LAST_PKMAP * PAGE_SIZE
    walk = kernel_walk(gib_machine.kernel.init_mm, vaddr)
    assert walk.present and walk.pfn == pfn and not walk.user
    kernel_write(gib_machine.kernel.init_mm, vaddr + 10, b"high page")
    assert bytes(gib_machine.kernel.physmem.frame_view(pfn)[10:19]) == b"high page"
    assert kernel_read(gib_machine.kernel.init_mm, vaddr + 10, 9) == b"high page"
    # the pkmap page table, beside the two of boot's vmalloc areas
    assert nr_kernel_pagetable_pages(gib_machine.kernel.init_mm) == tables_at_boot + 1


def test_kmapping_a_page_twice_shares_its_slot(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    pfn = first_high_pfn(gib_machine)
    first = highmem.kmap(pfn, owner=1)
    assert highmem.kmap(pfn, owner=2) == first
    assert highmem.nr_mapped_slots == 1
    highmem.kunmap(pfn, owner=1)
    assert highmem.nr_mapped_slots == 1
    highmem.kunmap(first or 0, owner=2)  # by address
    assert highmem.nr_mapped_slots == 0


def test_kunmap_leaves_the_pte_until_the_lazy_flush(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    pfn = first_high_pfn(gib_machine)
    vaddr = highmem.kmap(pfn)
    assert vaddr is not None
    highmem.kunmap(pfn)
    assert highmem.nr_free_slots == LAST_PKMAP
    assert kernel_walk(
        gib_machine.kernel.init_mm, vaddr
    ).present  # count 1: stale until flush_all_zero_pkmaps
    assert highmem.nr_pkmap_flushes == 0


def test_kmap_blocks_at_1024_slots_and_resumes_after_a_kunmap(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    addrs = [highmem.kmap(base + i, owner=1) for i in range(LAST_PKMAP)]
    assert None not in addrs and len(set(addrs)) == LAST_PKMAP
    assert highmem.nr_free_slots == 0

    # The 1025th distinct page finds no slot: the caller must wait.
    assert highmem.kmap(base + LAST_PKMAP, owner=2) is None
    assert highmem.nr_waiters == 1 and highmem.nr_kmap_waits == 1
    assert highmem.kmap(base + LAST_PKMAP, owner=2) is None  # a retry is the same wait
    assert highmem.nr_kmap_waits == 1
    # A page that is already mapped needs no new slot, even now.
    assert highmem.kmap(base + 7, owner=3) == addrs[7]

    flushes = highmem.nr_pkmap_flushes
    assert highmem.kunmap(base + 100, owner=1) is True  # wake the waiter
    assert highmem.nr_kmap_wakeups == 1
    vaddr = highmem.kmap(base + LAST_PKMAP, owner=2)
    assert vaddr is not None and vaddr == addrs[100]  # the only slot freed, after a lazy flush
    assert highmem.nr_pkmap_flushes == flushes + 1
    assert highmem.nr_waiters == 0
    assert kernel_walk(gib_machine.kernel.init_mm, vaddr).pfn == base + LAST_PKMAP


def test_a_wait_given_up_is_counted_as_a_timeout(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    for i in range(LAST_PKMAP):
        highmem.kmap(base + i, owner=1)
    assert highmem.kmap(base + LAST_PKMAP, owner=2) is None
    highmem.cancel_wait(2)
    assert highmem.nr_waiters == 0 and highmem.nr_kmap_wait_timeouts == 1


def test_kunmap_refuses_pages_the_owner_did_not_kmap(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    pfn = first_high_pfn(gib_machine)
    highmem.kmap(pfn, owner=1)
    with pytest.raises(InvalidArgument, match="not kmapped by owner 2"):
        highmem.kunmap(pfn, owner=2)
    with pytest.raises(InvalidArgument, match="not kmapped"):
        highmem.kunmap(pfn + 1, owner=1)
    with pytest.raises(InvalidArgument, match="not a kmapped slot"):
        highmem.kunmap(PKMAP_BASE + 500 * PAGE_SIZE, owner=1)
    with pytest.raises(InvalidArgument, match="neither a pfn nor an address"):
        highmem.kunmap(0xF8800000, owner=1)


def test_kmap_refuses_a_frame_outside_ram(gib_machine: Machine) -> None:
    with pytest.raises(InvalidArgument, match="not a frame of RAM"):
        Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus).kmap(
            gib_machine.kernel.physmem.nr_frames
        )


def test_release_owner_drops_all_its_kmaps(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    highmem.kmap(base, owner=1)
    highmem.kmap(base, owner=1)
    highmem.kmap(base + 1, owner=1)
    highmem.kmap(5, owner=1)
    highmem.kmap(base + 1, owner=2)
    highmem.kmap_atomic(base + 3, cpu=1, owner=1)
    assert highmem.release_owner(1) == 5
    assert highmem.kmaps_of(1) == {}
    assert highmem.kmaps_of(2) == {base + 1: 1}
    assert highmem.nr_mapped_slots == 1
    assert highmem.in_atomic(1) == 0


# ---- kmap_atomic --------------------------------------------------------------------------------------
def test_kmap_atomic_uses_per_cpu_fixmap_slots_and_nests(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    first = highmem.kmap_atomic(base, cpu=0)
    second = highmem.kmap_atomic(base + 1, cpu=0)
    other_cpu = highmem.kmap_atomic(base + 2, cpu=1)
    assert (first, second) == (FIXADDR_TOP, FIXADDR_TOP - PAGE_SIZE)
    assert other_cpu == FIXADDR_TOP - KM_TYPE_NR * PAGE_SIZE
    assert kernel_walk(gib_machine.kernel.init_mm, second).pfn == base + 1
    assert highmem.in_atomic(0) == 2
    highmem.kunmap_atomic(second + 123, cpu=0)  # any address inside the page
    highmem.kunmap_atomic(first, cpu=0)
    assert not kernel_walk(gib_machine.kernel.init_mm, first).present
    assert not kernel_walk(gib_machine.kernel.init_mm, second).present
    assert highmem.in_atomic(0) == 0 and highmem.in_atomic(1) == 1


def test_kmap_atomic_of_a_low_page_is_its_direct_map_address_but_still_atomic(
    gib_machine: Machine,
) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    vaddr = highmem.kmap_atomic(42, cpu=0)
    assert vaddr == PAGE_OFFSET + 42 * PAGE_SIZE
    assert highmem.in_atomic(0) == 1
    with pytest.raises(
        AtomicContextViolation, match="sleeping function called from invalid context"
    ):
        highmem.kmap(43, cpu=0)
    highmem.kunmap_atomic(vaddr, cpu=0)
    assert highmem.kmap(43, cpu=0) == PAGE_OFFSET + 43 * PAGE_SIZE


def test_kunmap_atomic_out_of_order_is_reported(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    first = highmem.kmap_atomic(base, cpu=0)
    highmem.kmap_atomic(base + 1, cpu=0)
    with pytest.raises(AtomicContextViolation, match="kunmap_atomic: wrong order"):
        highmem.kunmap_atomic(first, cpu=0)
    assert highmem.in_atomic(0) == 2  # nothing was released


def test_unbalanced_kunmap_atomic_is_reported(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    vaddr = highmem.kmap_atomic(first_high_pfn(gib_machine), cpu=1)
    highmem.kunmap_atomic(vaddr, cpu=1)
    with pytest.raises(AtomicContextViolation, match="kunmap_atomic: unbalanced"):
        highmem.kunmap_atomic(vaddr, cpu=1)


def test_kmap_while_holding_an_atomic_kmap_is_sleeping_in_atomic_context(
    gib_machine: Machine,
) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    highmem.kmap_atomic(base, cpu=1)
    with pytest.raises(AtomicContextViolation, match="BUG: sleeping function called"):
        highmem.kmap(base + 1, cpu=1)
    assert highmem.kmap(base + 1, cpu=0) is not None  # another CPU is not atomic


def test_more_than_km_type_nr_nested_atomic_kmaps_is_an_error(gib_machine: Machine) -> None:
    highmem = Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus)
    base = first_high_pfn(gib_machine)
    addrs = [highmem.kmap_atomic(base + i, cpu=0) for i in range(KM_TYPE_NR)]
    assert len(set(addrs)) == KM_TYPE_NR
    with pytest.raises(AtomicContextViolation, match="KM_TYPE_NR"):
        highmem.kmap_atomic(base + KM_TYPE_NR, cpu=0)
    for vaddr in reversed(addrs):
        highmem.kunmap_atomic(vaddr, cpu=0)
    assert highmem.in_atomic(0) == 0


def test_kmap_atomic_refuses_a_cpu_that_does_not_exist(gib_machine: Machine) -> None:
    with pytest.raises(InvalidArgument, match="no cpu 2"):
        Highmem(gib_machine.kernel.init_mm, gib_machine.config.nr_cpus).kmap_atomic(
            1, cpu=gib_machine.config.nr_cpus
        )


def test_64_cpus_of_atomic_slots_fit_the_last_page_table(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=1024 * MiB, swap_bytes=0, nr_cpus=64)
    highmem = Highmem(machine.kernel.init_mm, machine.config.nr_cpus)
    base = first_high_pfn(machine)
    addrs = [highmem.kmap_atomic(base + i, cpu=63) for i in range(KM_TYPE_NR)]
    assert addrs[0] == FIXADDR_TOP - 63 * KM_TYPE_NR * PAGE_SIZE
    assert addrs[-1] == 0xFFC00000  # the first page above the pkmap area
    assert kernel_walk(machine.kernel.init_mm, addrs[-1]).pfn == base + KM_TYPE_NR - 1


def test_kmap_while_the_caller_holds_a_kmap_atomic_is_a_bug_even_without_a_cpu(
    make_machine: MachineFactory,
) -> None:
    """might_sleep(): a session holding an atomic kmap may not kmap (the API passes no cpu)."""
    machine = make_machine(ram_bytes=1 * GiB)
    high_pfn = machine.kernel.allocator.zones[ZoneType.HIGHMEM].start_pfn
    machine.kmap_atomic(high_pfn, 1, owner=7)
    with pytest.raises(AtomicContextViolation, match="BUG: sleeping function"):
        machine.kmap(high_pfn + 1, owner=7)
    assert machine.kmap(high_pfn + 1, owner=8) is not None  # another session is not atomic
