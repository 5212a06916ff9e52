"""Touch, read and write through the MMU; SIGSEGV; swapping under pressure; OOM."""

from __future__ import annotations

import random

import numpy as np
import pytest
from tests.kernel.conftest import ANON, RW, MachineFactory, free_with_pcp

from vmsim_kernel import (
    PAGE_SIZE,
    PROT_READ,
    EventKind,
    FaultResult,
    Machine,
    MiB,
    OomKilled,
    OutOfMemory,
    OvercommitMode,
    ReplacementPolicy,
    SegmentationFault,
    Signal,
)


def test_write_then_read_crosses_page_boundaries(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 3 * PAGE_SIZE, RW, ANON)
    data = bytes(range(256)) * 20
    machine.write(pid, addr + PAGE_SIZE - 100, data)
    assert machine.read(pid, addr + PAGE_SIZE - 100, len(data)) == data
    assert machine.process(pid).vm_rss == 3 * PAGE_SIZE


def test_touch_sets_accessed_and_dirty_bits_in_the_real_pte(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch(pid, addr)
    walk = machine.translate(pid, addr)
    # A first read maps the shared zero page read-only.
    assert walk.present and walk.accessed and not walk.dirty and walk.user and not walk.writable
    assert walk.pte is not None and walk.pte & 0x67 == 0x25  # P|U|A
    assert walk.pfn == machine.kernel.zero_pfn
    machine.touch(pid, addr, write=True)
    walk = machine.translate(pid, addr)
    assert walk.dirty and walk.writable and walk.pfn != machine.kernel.zero_pfn
    assert walk.pte is not None and walk.pte & 0x67 == 0x67  # P|RW|U|A|D
    assert walk.pte_address == (walk.pde & 0xFFFFF000) + 4 * walk.pte_index
    # The bytes of the page table in simulated RAM hold exactly that PTE.
    raw = machine.kernel.physmem.read_phys(walk.pte_address, 4)
    assert int.from_bytes(raw, "little") == walk.pte
    assert walk.physical == (walk.pfn << 12) | (addr & 0xFFF)


def test_second_touch_is_a_hit(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    assert machine.touch(pid, addr, write=True) is FaultResult.MINOR
    assert machine.touch(pid, addr + 8) is FaultResult.HIT


def test_touch_many_counts_hits_and_faults(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 64 * PAGE_SIZE, RW, ANON)
    addrs = np.array([addr + (i % 64) * PAGE_SIZE for i in range(1000)], dtype=np.uint32)
    summary = machine.touch_many(pid, addrs, write=True)
    assert (summary.nr_touched, summary.nr_minor, summary.nr_major) == (1000, 64, 0)
    assert summary.nr_hits == 1000 - 64
    assert machine.translate(pid, addr + 5 * PAGE_SIZE).dirty


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda m, p: 0x1000, "no VMA"),
        (lambda m, p: 0xC0001000, "kernel space"),
        (lambda m, p: m.mmap(p, 0, PAGE_SIZE, PROT_READ, ANON), "write to a r--p"),
    ],
)
def test_bad_accesses_kill_with_sigsegv_and_say_why(
    machine: Machine, setup: object, reason: str
) -> None:
    pid = machine.spawn()
    addr = setup(machine, pid)  # type: ignore[operator]
    with pytest.raises(SegmentationFault) as fault:
        machine.touch(pid, addr, write=True)
    assert fault.value.address == addr
    assert reason in fault.value.reason
    with pytest.raises(SegmentationFault):
        machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    info = machine.process(pid)
    assert info.killed_by is Signal.SIGSEGV and info.kill_address == addr
    machine.check_invariants()


def test_segv_in_a_batch_keeps_earlier_touches_and_frees_memory(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 2 * PAGE_SIZE, RW, ANON)
    free_before = free_with_pcp(machine.kernel.allocator)
    with pytest.raises(SegmentationFault) as fault:
        machine.touch_many(pid, [addr, addr + PAGE_SIZE, 0x1000, addr], write=True)
    assert fault.value.address == 0x1000
    assert free_with_pcp(machine.kernel.allocator) >= free_before


def _fill(machine: Machine, pid: int, addr: int, pages: int, rng: random.Random) -> list[bytes]:
    patterns = []
    for i in range(pages):
        data = rng.randbytes(PAGE_SIZE)
        machine.write(pid, addr + i * PAGE_SIZE, data)
        patterns.append(data)
    return patterns


def _first_pages_swapped_out(
    make_machine: MachineFactory, rng: random.Random
) -> tuple[Machine, int, int]:
    """An 8 MiB FIFO machine whose one process wrote 2500 pages of a 12 MiB mapping (the
    first pages went to swap): (machine, pid, the mapping's address)."""
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB, policy=ReplacementPolicy.FIFO)
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
    _fill(machine, pid, addr, 2500, rng)
    return machine, pid, addr


@pytest.mark.slow
@pytest.mark.parametrize(
    "policy",
    # OPT and UNOPT need the future: trace replay only
    [p for p in ReplacementPolicy if p not in (ReplacementPolicy.OPT, ReplacementPolicy.UNOPT)],
)
def test_bytes_survive_swap_out_and_in_with_several_processes(
    make_machine: object, policy: ReplacementPolicy
) -> None:
    machine: Machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB, policy=policy)  # type: ignore[operator]
    rng = random.Random(7)
    procs = []
    for n in range(3):
        pid = machine.spawn(f"p{n}")
        addr = machine.mmap(pid, 0, 4 * MiB, RW, ANON)
        procs.append((pid, addr, _fill(machine, pid, addr, 900, rng)))
    assert machine.vmstat()["pswpout"] > 0
    for pid, addr, patterns in procs:
        for i in rng.sample(range(900), 300):
            assert machine.read(pid, addr + i * PAGE_SIZE, PAGE_SIZE) == patterns[i]
    stats = machine.vmstat()
    assert stats["pswpin"] > 0 and stats["pgmajfault"] > 0
    assert stats["pgfault"] == sum(p.minor_faults + p.major_faults for p in machine.processes())
    machine.check_invariants()


@pytest.mark.slow
def test_clean_page_in_swap_cache_is_dropped_without_a_write(make_machine: MachineFactory) -> None:
    machine, pid, addr = _first_pages_swapped_out(make_machine, random.Random(1))
    first = machine.translate(pid, addr)
    assert not first.present and first.swap_offset is not None
    machine.touch(pid, addr)  # read fault: the page comes back and stays in the swap cache
    assert machine.meminfo()["SwapCached"] >= 4
    writes_before = machine.vmstat()["pswpout"]
    slot = first.swap_offset
    # Push it out again by touching many other pages read-only (they are all in swap already).
    machine.touch_many(pid, [addr + i * PAGE_SIZE for i in range(1, 2500)], write=False)
    again = machine.translate(pid, addr)
    assert not again.present and again.swap_offset == slot
    assert machine.vmstat()["pswpout"] - writes_before < 2499
    machine.check_invariants()


def test_oom_killer_chooses_the_largest_process(make_machine: object) -> None:
    machine: Machine = make_machine(
        ram_bytes=8 * MiB, swap_bytes=4 * MiB, overcommit_memory=OvercommitMode.ALWAYS
    )  # type: ignore[operator]
    events = []
    machine.add_event_listener(lambda e: events.append(e) if e.kind is EventKind.OOM_KILL else None)
    small = machine.spawn("small")
    big = machine.spawn("big")
    small_addr = machine.mmap(small, 0, 1 * MiB, RW, ANON)
    machine.touch_many(small, range(small_addr, small_addr + 1 * MiB, PAGE_SIZE), write=True)
    big_addr = machine.mmap(big, 0, 32 * MiB, RW, ANON)
    with pytest.raises(OomKilled) as killed:
        machine.touch_many(big, range(big_addr, big_addr + 32 * MiB, PAGE_SIZE), write=True)
    assert killed.value.pid == big
    assert machine.process(big).killed_by is Signal.SIGKILL
    assert machine.process(small).state.value == "R"
    assert machine.vmstat()["oom_kill"] == 1
    assert events and events[0].pid == big and "Out of memory" in events[0].detail
    machine.check_invariants()


def test_oom_score_adj_protects_a_process(make_machine: object) -> None:
    machine: Machine = make_machine(
        ram_bytes=8 * MiB, swap_bytes=0, overcommit_memory=OvercommitMode.ALWAYS
    )  # type: ignore[operator]
    protected = machine.spawn("protected", oom_score_adj=-1000)
    victim = machine.spawn("victim", oom_score_adj=500)
    addr_v = machine.mmap(victim, 0, 1 * MiB, RW, ANON)
    machine.touch_many(victim, range(addr_v, addr_v + 1 * MiB, PAGE_SIZE), write=True)
    addr_p = machine.mmap(protected, 0, 16 * MiB, RW, ANON)
    # The victim dies first; with nobody left to kill, the protected process gets ENOMEM.
    with pytest.raises(OutOfMemory, match="nothing to reclaim or kill"):
        machine.touch_many(protected, range(addr_p, addr_p + 16 * MiB, PAGE_SIZE), write=True)
    assert machine.process(victim).killed_by is Signal.SIGKILL
    assert machine.process(protected).state.value == "R"
    machine.check_invariants()


@pytest.mark.slow
def test_exit_frees_every_frame_and_swap_slot(make_machine: object) -> None:
    machine: Machine = make_machine(ram_bytes=8 * MiB, swap_bytes=16 * MiB)  # type: ignore[operator]
    boot = machine.meminfo()
    free_at_boot = free_with_pcp(machine.kernel.allocator)
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
    _fill(machine, pid, addr, 3000, random.Random(3))
    assert machine.meminfo()["SwapFree"] < boot["SwapFree"]
    machine.exit(pid)
    after = machine.meminfo()
    assert free_with_pcp(machine.kernel.allocator) == free_at_boot
    assert after["SwapFree"] == boot["SwapFree"]
    assert after["Committed_AS"] == boot["Committed_AS"]
    machine.check_invariants()


@pytest.mark.slow
def test_madvise_willneed_reads_swapped_pages_back(make_machine: MachineFactory) -> None:
    from vmsim_kernel import Madvise

    machine, pid, addr = _first_pages_swapped_out(make_machine, random.Random(2))
    assert not machine.translate(pid, addr).present
    machine.madvise(pid, addr, 4 * PAGE_SIZE, Madvise.WILLNEED)
    assert machine.translate(pid, addr).present
    assert machine.vmstat()["swap_ra"] >= 1


def _first_page_swapped_out(machine: Machine, seed: int) -> tuple[int, int, list[bytes]]:
    """A process that wrote 2500 random pages (about 10 MiB) through 8 MiB of FIFO-reclaimed RAM,
    so its first page is in swap; (pid, addr, the pages' bytes)."""
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
    return pid, addr, _fill(machine, pid, addr, 2500, random.Random(seed))


# One page swapped in at a time (page_cluster 0): no readahead to blur what one fault does.
ONE_PAGE_SWAP_IN = pytest.mark.machine(
    ram_bytes=8 * MiB, swap_bytes=32 * MiB, policy=ReplacementPolicy.FIFO, page_cluster=0
)


@ONE_PAGE_SWAP_IN
def test_a_load_maps_a_swapped_page_read_only_and_the_store_reuses_it(machine: Machine) -> None:
    """do_swap_page: a load maps the page read-only; the store after it is a second, minor,
    fault that makes the same frame writable (do_wp_page's reuse, pgreuse)."""
    pid, addr, patterns = _first_page_swapped_out(machine, 3)
    assert not machine.translate(pid, addr).present
    before = machine.process(pid)
    assert machine.touch(pid, addr) is FaultResult.MAJOR
    loaded = machine.translate(pid, addr)
    assert loaded.present and not loaded.writable and not loaded.dirty
    reuses = machine.vmstat()["pgreuse"]
    assert machine.touch(pid, addr, write=True) is FaultResult.MINOR
    stored = machine.translate(pid, addr)
    assert stored.writable and stored.dirty and stored.pfn == loaded.pfn
    assert machine.vmstat()["pgreuse"] == reuses + 1
    after = machine.process(pid)
    assert (after.major_faults - before.major_faults, after.minor_faults - before.minor_faults) == (
        1,
        1,
    )
    assert machine.touch(pid, addr, write=True) is FaultResult.HIT
    assert machine.read(pid, addr, PAGE_SIZE) == patterns[0]
    machine.check_invariants()


@ONE_PAGE_SWAP_IN
def test_a_store_to_a_swapped_page_maps_it_writable_at_once(machine: Machine) -> None:
    pid, addr, _patterns = _first_page_swapped_out(machine, 4)
    assert machine.touch(pid, addr, write=True) is FaultResult.MAJOR
    assert machine.translate(pid, addr).writable
    assert machine.touch(pid, addr, write=True) is FaultResult.HIT
