"""Simulated time: costs, threads, TLBs, lock contention, the swap queue, lock_stat, replay."""

from __future__ import annotations

import itertools

import pytest
from tests.kernel.conftest import ANON, RW

from vmsim_kernel import (
    PAGE_SIZE,
    InvalidArgument,
    Machine,
    MiB,
)
from vmsim_kernel.journal import replay_journal
from vmsim_kernel.kernel.time import CostModel, TlbModel


def contentions(machine: Machine) -> int:
    return sum(s.contentions for s in machine.locks.stats().values())


def fault_pages(machine: Machine, pids: list[int], pages: int) -> None:
    """Each process first-touches *pages* pages, the processes interleaved call by call."""
    bases = {pid: machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON) for pid in pids}
    for i in range(pages):
        for pid in pids:
            machine.touch(pid, bases[pid] + i * PAGE_SIZE, write=True)


def test_every_call_reports_its_cost(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    mmap_cost = machine.last_cost
    costs = CostModel()
    assert mmap_cost.system_ns >= costs.syscall_ns + costs.vma_op_ns
    machine.touch(pid, addr, write=True)
    fault = machine.last_cost
    assert fault.system_ns >= costs.fault_entry_ns + costs.zero_page_ns
    machine.touch(pid, addr)
    hit = machine.last_cost
    assert (hit.total_ns, hit.user_ns, hit.system_ns) == (costs.tlb_hit_ns, costs.tlb_hit_ns, 0)
    info = machine.process(pid)
    assert info.system_ns >= mmap_cost.system_ns + fault.system_ns and info.user_ns >= 1


def test_contention_rises_with_two_faulting_processes_and_stays_zero_with_one(
    make_machine: object,
) -> None:
    alone: Machine = make_machine(ram_bytes=32 * MiB)  # type: ignore[operator]
    fault_pages(alone, [alone.spawn()], 500)
    assert contentions(alone) == 0
    together: Machine = make_machine(ram_bytes=32 * MiB)  # type: ignore[operator]
    fault_pages(together, [together.spawn(), together.spawn()], 500)
    assert contentions(together) > 0
    text = together.report("lock_stat")
    assert text.startswith("lock_stat version 0.4") and "&zone->lock:" in text
    together.reset_lock_stat()
    assert contentions(together) == 0


@pytest.mark.slow
def test_swap_in_latency_grows_with_queue_depth(make_machine: object) -> None:
    machine: Machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB)  # type: ignore[operator]
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
    machine.touch_many(pid, range(addr, addr + 12 * MiB, PAGE_SIZE), write=True)
    # the first 6 pages not in RAM (a walk costs the VMA's smaps: not all 3072 of them)
    swapped = list(
        itertools.islice(
            (
                a
                for a in range(addr, addr + 12 * MiB, PAGE_SIZE)
                if not machine.translate(pid, a).present
            ),
            6,
        )
    )
    threads = [machine.spawn_thread(pid) for _ in swapped]  # all start at the same simulated time
    waits = []
    for tid, page in zip(threads, swapped, strict=True):
        machine.touch(pid, page, tid=tid)
        waits.append(machine.last_cost.iowait_ns)
    assert all(w > 0 for w in waits)
    assert waits == sorted(waits) and waits[-1] - waits[0] >= 4 * CostModel().swap_service_ns


def _fault_race(make_machine: object, kind: str) -> tuple[int, int, int]:
    """Two processes fault side by side; returns (elapsed, system time, lock-wait time)."""
    machine: Machine = make_machine(ram_bytes=32 * MiB, lock_kinds={"zone": kind, "lru": kind})  # type: ignore[operator]
    pids = [machine.spawn(), machine.spawn()]
    fault_pages(machine, pids, 400)
    infos = [machine.process(pid) for pid in pids]
    return machine.now_ns, sum(i.system_ns for i in infos), sum(i.lock_wait_ns for i in infos)


def test_spinlocks_win_on_short_hot_paths(make_machine: object) -> None:
    spin_elapsed, _, spin_wait = _fault_race(make_machine, "spin")
    sleep_elapsed, _, sleep_wait = _fault_race(make_machine, "sleep")
    assert spin_wait == 0 < sleep_wait  # spinners never sleep
    assert spin_elapsed < sleep_elapsed  # a context switch costs more than a short spin


def _writer_behind_io(make_machine: object, kind: str) -> tuple[int, int]:
    """Thread A major-faults (holding mmap_lock for reading across the I/O) while thread B munmaps."""
    machine: Machine = make_machine(
        ram_bytes=8 * MiB, swap_bytes=32 * MiB, lock_kinds={"mmap": kind}
    )  # type: ignore[operator]
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
    other = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, range(addr, addr + 12 * MiB, PAGE_SIZE), write=True)
    swapped = next(
        a for a in range(addr, addr + 12 * MiB, PAGE_SIZE) if not machine.translate(pid, a).present
    )
    reader, writer = machine.spawn_thread(pid), machine.spawn_thread(pid)
    machine.touch(pid, swapped, tid=reader)
    # The writer computes a little first, so it reaches mmap_lock while the reader holds it
    # across the I/O (in simulated time; arriving earlier it would simply go first).
    machine.touch(pid, other, write=True, tid=writer)
    machine.touch_many(pid, [other] * 3000, tid=writer)
    machine.munmap(pid, other, PAGE_SIZE, tid=writer)
    cost = machine.last_cost
    return cost.system_ns, cost.lock_wait_ns


@pytest.mark.slow
def test_sleeping_locks_win_when_the_holder_waits_for_io(make_machine: object) -> None:
    spin_cpu, spin_wait = _writer_behind_io(make_machine, "spin")
    sleep_cpu, sleep_wait = _writer_behind_io(make_machine, "sleep")
    assert spin_cpu > sleep_cpu  # the spinner burned the whole I/O wait as CPU time
    assert sleep_wait > spin_wait == 0  # the sleeper gave the CPU away instead
    assert spin_cpu > CostModel().swap_latency_ns / 2


def test_threads_share_the_address_space_and_pay_tlb_shootdowns(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 2 * PAGE_SIZE, RW, ANON)
    alone_cost = None
    machine.munmap(pid, addr + PAGE_SIZE, PAGE_SIZE)
    alone_cost = machine.last_cost.system_ns
    helpers = [machine.spawn_thread(pid) for _ in range(3)]
    machine.write(pid, addr, b"shared", tid=helpers[0])
    assert machine.read(pid, addr, 6, tid=helpers[1]) == b"shared"
    again = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.munmap(pid, again, PAGE_SIZE)
    assert machine.last_cost.system_ns >= alone_cost + 3 * CostModel().tlb_shootdown_ns
    assert machine.process(pid).nr_threads == 4
    machine.exit_thread(pid, helpers[2])
    assert machine.process(pid).nr_threads == 3
    with pytest.raises(InvalidArgument):
        machine.touch(pid, addr, tid=helpers[2])


def test_tlb_batch_matches_one_by_one() -> None:
    vpns = [1, 2, 65, 1, 129, 2, 2, 3, 67, 1]
    one, batch = TlbModel(), TlbModel()
    misses = sum(not one.access(v) for v in vpns)
    import numpy as np

    assert batch.access_many(np.array(vpns, dtype=np.int64)) == misses
    assert (one.tags == batch.tags).all()


def test_resident_touches_pay_walks_only_on_tlb_misses(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 256 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, range(addr, addr + 256 * PAGE_SIZE, PAGE_SIZE), write=True)
    costs = CostModel()
    machine.touch_many(pid, [addr] * 1000)
    assert machine.last_cost.user_ns <= 1000 * costs.tlb_hit_ns + costs.page_walk_ns
    machine.touch_many(pid, range(addr, addr + 256 * PAGE_SIZE, PAGE_SIZE))
    # 256 pages thrash a 64-entry TLB: every access walks but the first, still cached
    assert machine.last_cost.user_ns == 255 * costs.page_walk_ns + costs.tlb_hit_ns


@pytest.mark.slow
def test_a_recorded_run_replays_to_identical_costs(make_machine: object) -> None:
    machine: Machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB, record=True)  # type: ignore[operator]
    recorded = []
    a, b = machine.spawn("a"), machine.spawn("b")
    t = machine.spawn_thread(a)
    bases = {}
    for pid in (a, b):
        base = bases[pid] = machine.mmap(pid, 0, 6 * MiB, RW, ANON)
        recorded.append(machine.last_cost)
        machine.touch_many(pid, range(base, base + 6 * MiB, PAGE_SIZE), write=True)
        recorded.append(machine.last_cost)
        machine.touch(pid, base, tid=t if pid == a else None)
        recorded.append(machine.last_cost)
        machine.munmap(pid, base, MiB)
        recorded.append(machine.last_cost)
    machine.touch_many(
        a, range(bases[a] + MiB, bases[a] + 6 * MiB, PAGE_SIZE)
    )  # b pushed these out
    recorded.append(machine.last_cost)
    assert machine.journal is not None
    replayed = [c for c in replay_journal(machine.config, machine.journal) if c is not None]
    assert replayed == recorded
    assert any(c.iowait_ns for c in recorded)


def test_an_exited_process_keeps_no_mmap_lock_history(machine: Machine) -> None:
    """A zombie is kept for reporting (up to MAX_ZOMBIES of them): without this, each one held
    up to 2 x 1024 mmap_lock holds, and a server churning processes grew by megabytes."""
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 256 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, [addr + page * PAGE_SIZE for page in range(256)], write=True)
    lock = machine.kernel.tasks[pid].mmap_lock
    assert lock is not None and len(lock.shared_holds) + len(lock.exclusive_holds) > 0
    machine.exit(pid)
    assert pid in machine.kernel.tasks  # the zombie
    assert len(lock.shared_holds) + len(lock.exclusive_holds) == 0
