"""The scheduler: calls as tasks in quanta on CPUs with their own clocks, fairness,
cancellation, overlap-only contention, deterministic replay, the lock experiment."""

from __future__ import annotations

from collections.abc import Generator
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from tests.kernel.conftest import ANON, RW, pages, write_pages

from vmsim_kernel import (
    MAP_FIXED,
    MAP_POPULATE,
    PAGE_SIZE,
    FaultResult,
    KernelError,
    Machine,
    MachineConfig,
    MiB,
    ProcessState,
)
from vmsim_kernel.entry import SYSCALL_TABLE
from vmsim_kernel.journal import replay_journal
from vmsim_kernel.kernel.locks import BusyIntervals, LockHolds, LockRegistry
from vmsim_kernel.kernel.sched import (
    MAX_QUANTUM_ADDRESSES,
    MIN_QUANTUM_ADDRESSES,
    QUANTUM_FAULTS,
    QUANTUM_ZAP_PAGES,
    RESIDENT_WINDOW_GROWTH,
    WAKEUP_WAIT_QUANTA,
    Scheduler,
    TaskState,
)
from vmsim_kernel.kernel.time import CostModel, SimThread
from vmsim_kernel.mm.memory import BATCHED_TOUCHES_PER_FAULT
from vmsim_teach.lock_experiment import run_experiment


def resident(machine: Machine, pid: int, addrs: np.ndarray[Any, Any]) -> int:
    return sum(machine.translate(pid, int(a)).present for a in addrs)


def test_busy_intervals_merge_and_answer_when_free() -> None:
    busy = BusyIntervals()  # a device: busy is busy, touching intervals are one
    busy.add(100, 200)
    busy.add(300, 400)
    busy.add(150, 250)  # overlaps the first: merged
    busy.add(250, 300)  # touches both: one interval now
    assert len(busy) == 1 and busy.latest_end_ns == 400
    assert busy.free_from(50) == 50 and busy.free_from(120) == 400 and busy.free_from(400) == 400
    busy.add(500, 600)
    assert busy.first_gap(350, 100) == 400  # 400..500 is free and long enough
    assert busy.first_gap(350, 150) == 600  # too short a gap: after the next interval
    assert busy.covering_end(450) is None and busy.covering_end(550) == 600


def test_a_device_merges_gaps_no_request_fits_in_and_serves_every_request_the_same() -> None:
    service = 100
    exact, merged = BusyIntervals(), BusyIntervals(min_gap_ns=service)
    rng = np.random.default_rng(3)
    for at in sorted(rng.integers(0, 50_000, 400).tolist()) + rng.integers(0, 50_000, 400).tolist():
        start = exact.first_gap(at, service)
        assert merged.first_gap(at, service) == start  # the same answer, every time
        exact.add(start, start + service)
        merged.add(start, start + service)
    assert len(merged) < len(exact) / 2  # a busy stretch is one interval, not hundreds


def test_a_lock_waiter_waits_only_for_the_holds_its_arrival_falls_in() -> None:
    holds = LockHolds()  # one interval per hold, never merged
    holds.add(0, 150)
    holds.add(150, 300)  # back to back: a waiter in the first is handed the lock between
    assert holds.free_from(100) == 150 and holds.free_from(150, handed_over=True) == 150
    assert holds.free_from(150) == 300 and holds.free_from(300) == 300
    holds.add(100, 200)  # recorded later, overlapping both (its quantum ran afterwards)
    assert len(holds) == 3
    assert holds.free_from(50) == 150  # only the first hold contains 50: not chained on
    assert holds.free_from(120) == 200  # inside two holds: until the later end of those
    assert holds.free_from(160) == 300
    holds.add(400, 550)
    holds.add(550, 700)
    assert holds.free_from(450) == 550 and holds.free_from(350) == 350


def test_a_trimmed_lock_history_still_finds_the_long_hold_a_waiter_falls_in() -> None:
    holds = LockHolds(limit=4)
    holds.add(0, 10)
    holds.add(20, 1_000)  # long: a waiter at 900 is inside it
    holds.add_after(list(range(30, 100, 10)), 5)  # 7 short ones: 9 kept > 2 * limit, trimmed
    assert len(holds) == 5  # the oldest 4 went in one cut, the long one with them
    assert holds.free_from(900) == 900  # nothing kept contains 900 any more
    holds.add_after([1_000, 1_010], 500)  # two long ones, then short ones trim again
    holds.add_after(list(range(1_600, 1_650, 10)), 5)
    assert len(holds) == 8 and holds.free_from(1_400) == 1_510  # measured again after the trim
    assert holds.free_from(1_601) == 1_605 and holds.free_from(1_606) == 1_606


def test_holds_of_different_lengths_recorded_in_bulk_are_those_taken_one_by_one() -> None:
    one_by_one, in_bulk = LockHolds(), LockHolds()
    starts, lengths = [0, 100, 150, 400], [50, 0, 200, 30]  # an empty hold is no hold
    for start, length in zip(starts, lengths, strict=True):
        one_by_one.add(start, start + length)
    in_bulk.add_after(starts, lengths)
    assert len(in_bulk) == len(one_by_one) == 3
    for at in range(0, 500, 10):
        assert in_bulk.free_from(at) == one_by_one.free_from(at)


@pytest.mark.slow
def test_a_long_touch_many_runs_in_bounded_quanta(make_machine: Any) -> None:
    machine: Machine = make_machine(ram_bytes=16 * MiB, swap_bytes=64 * MiB)
    pid = machine.spawn()
    addrs = pages(machine.mmap(pid, 0, 24 * MiB, RW, ANON), 6144)
    task = machine.submit("touch_many", pid, addrs, True)
    faults_per_quantum = []
    while not task.done:
        before = machine.process(pid)
        machine.sched.step(task)
        after = machine.process(pid)
        faults_per_quantum.append(
            after.minor_faults + after.major_faults - before.minor_faults - before.major_faults
        )
    summary = task.outcome()
    assert summary.nr_touched == 6144 and summary.nr_minor + summary.nr_major == 6144
    # Alone on the run queue, a batch of first touches counts 1/BATCHED_TOUCHES_PER_FAULT of
    # a fault against the quantum; single faults (here: those that reclaim) count whole.
    bound = QUANTUM_FAULTS * BATCHED_TOUCHES_PER_FAULT
    assert task.nr_quanta >= 6144 // bound
    assert max(faults_per_quantum) <= bound
    # kswapd, a thread taking turns, reclaims here: its turns are steps of their own, after
    # the quanta that earned them (the fault that wakes it ends its quantum)
    assert faults_per_quantum.count(0) > 0 and machine.vmstat()["pgscan_kswapd"] > 0
    assert task.cost.total_ns == task.running_ns > 0
    machine.check_invariants()


def test_a_resident_touch_many_reaches_full_quanta_after_two_small_ones(machine: Machine) -> None:
    pid = machine.spawn()
    base = machine.mmap(pid, 0, 64 * PAGE_SIZE, RW, ANON | MAP_POPULATE)
    addrs = pages(base, 64)[np.arange(200_000) % 64]  # every access hits
    task = machine.submit("touch_many", pid, addrs, False)
    while not task.done:
        machine.sched.step(task)
    assert task.outcome().nr_hits == 200_000
    second = MIN_QUANTUM_ADDRESSES * RESIDENT_WINDOW_GROWTH
    full = (200_000 - MIN_QUANTUM_ADDRESSES - second) // MAX_QUANTUM_ADDRESSES
    assert task.nr_quanta == 2 + full + 1  # 1,024, 16,384, full ones, the rest


def test_a_cancelled_call_keeps_what_its_quanta_did_and_nothing_more(machine: Machine) -> None:
    pid, other = machine.spawn(), machine.spawn()
    addrs = pages(machine.mmap(pid, 0, 8 * MiB, RW, ANON), 2048)
    waiting = machine.submit("touch_many", other, [], False)  # another task wants the CPU
    task = machine.submit("touch_many", pid, addrs, True)
    for _ in range(3):
        machine.sched.step(task)
    machine.sched.cancel(task, KernelError("stopped"))
    assert task.state is TaskState.CANCELLED and machine.sched.run_queue == [waiting]
    with pytest.raises(KernelError, match="stopped"):
        task.outcome()
    touched = resident(machine, pid, addrs)
    # Exactly the quanta that ran, each a prefix; with another task waiting, every first
    # touch counts as a whole fault against the quantum, batched or not.
    assert touched == 3 * QUANTUM_FAULTS
    assert resident(machine, pid, addrs[:touched]) == touched
    assert machine.process(pid).minor_faults == touched
    machine.check_invariants()
    assert (
        machine.touch(pid, int(addrs[-1]), write=True) is FaultResult.MINOR
    )  # the process goes on


def step_checked(machine: Machine, task: Any) -> list[int]:
    """Step *task* to its end, checking the machine at every quantum boundary; the resident
    set size of the process after each quantum."""
    rss = []
    while not task.done:
        machine.sched.step(task)
        machine.check_invariants()
        rss.append(machine.process(task.thread.pid).vm_rss // PAGE_SIZE)
    return rss


@pytest.mark.slow
def test_a_huge_map_populate_runs_in_bounded_quanta_and_a_cancel_keeps_a_prefix(
    make_machine: Any,
) -> None:
    # "Huge" is relative to RAM: one and a half times it, so the populate reclaims and swaps
    # on the way. A small machine keeps the invariant check after every quantum affordable.
    machine: Machine = make_machine(ram_bytes=4 * MiB, swap_bytes=16 * MiB)
    nr_pages = 6 * MiB // PAGE_SIZE
    pid = machine.spawn()
    # Another task wants the CPU, so every first touch counts as a whole fault (a lone task's
    # batched first touches count 1/BATCHED_TOUCHES_PER_FAULT: test_a_long_touch_many_...).
    machine.submit("touch_many", machine.spawn(), [], False)
    task = machine.submit("mmap", pid, 0, nr_pages * PAGE_SIZE, RW, ANON | MAP_POPULATE)
    rss = step_checked(machine, task)
    start = task.outcome()
    assert task.nr_quanta >= nr_pages // QUANTUM_FAULTS
    assert max(b - a for a, b in pairwise([0, *rss])) <= QUANTUM_FAULTS
    assert machine.vmstat()["pswpout"] > 0  # it did not fit: reclaim ran between quanta
    info = machine.process(pid)
    assert info.minor_faults + info.major_faults >= nr_pages  # every page was faulted in
    fixed = 0x40000000
    cut = machine.submit("mmap", pid, fixed, 8 * MiB, RW, ANON | MAP_FIXED | MAP_POPULATE)
    for _ in range(5):
        machine.sched.step(cut)
    machine.sched.cancel(cut, KernelError("stopped"))
    machine.check_invariants()
    # The mapping stays (mmap itself completed) with exactly a prefix populated.
    assert any(vma.start <= fixed and fixed + 8 * MiB <= vma.end for vma in machine.maps(pid))
    populated = resident(machine, pid, pages(fixed, 2048))
    assert 0 < populated <= 5 * QUANTUM_FAULTS
    assert resident(machine, pid, pages(fixed, populated)) == populated
    assert start != fixed


WrittenProcess = tuple[Machine, int, int]  # (machine, pid, the first written page's address)


@pytest.fixture
def wrote_16_mib(make_machine: Any) -> WrittenProcess:
    """A 64 MiB machine and a process that wrote 16 MiB (4096 pages)."""
    machine: Machine = make_machine(ram_bytes=64 * MiB)
    pid = machine.spawn()
    return machine, pid, write_pages(machine, pid, 4096)


@pytest.mark.slow
def test_a_huge_munmap_runs_in_slices_and_a_cancel_leaves_the_rest_mapped(
    wrote_16_mib: WrittenProcess,
) -> None:
    machine, pid, base = wrote_16_mib
    addrs = pages(base, 4096)
    task = machine.submit("munmap", pid, base, 16 * MiB)
    rss = [machine.process(pid).vm_rss // PAGE_SIZE]
    for _ in range(3):
        machine.sched.step(task)
        machine.check_invariants()
        rss.append(machine.process(pid).vm_rss // PAGE_SIZE)
    assert [a - b for a, b in pairwise(rss)] == [QUANTUM_ZAP_PAGES] * 3
    machine.sched.cancel(task, KernelError("stopped"))
    machine.check_invariants()
    gone = 3 * QUANTUM_ZAP_PAGES
    assert resident(machine, pid, addrs[gone - 1 : gone + 1]) == 1  # a prefix is unmapped ...
    assert machine.maps(pid)[0].start == base + gone * PAGE_SIZE  # ... and only that prefix
    with pytest.raises(KernelError):  # SIGSEGV: the prefix is really gone
        machine.touch(pid, base)
    assert machine.process(pid).state is ProcessState.ZOMBIE


@pytest.mark.slow
def test_exit_of_a_large_address_space_runs_in_slices_and_can_be_stopped(
    wrote_16_mib: WrittenProcess,
) -> None:
    machine, pid, base = wrote_16_mib
    last_page = base + 4095 * PAGE_SIZE
    free_before = machine.meminfo()["MemFree"]
    stopped = machine.submit("exit", pid)
    for _ in range(4):
        machine.sched.step(stopped)
        machine.check_invariants()
    machine.sched.cancel(stopped, KernelError("stopped"))
    assert machine.process(pid).state is ProcessState.RUNNING  # still alive, a prefix freed
    assert machine.process(pid).vm_rss // PAGE_SIZE == 4096 - 4 * QUANTUM_ZAP_PAGES
    machine.touch(pid, last_page, write=True)  # the rest is intact
    task = machine.submit("exit", pid)
    step_checked(machine, task)
    assert task.outcome() is None
    assert task.nr_quanta >= (4096 - 4 * QUANTUM_ZAP_PAGES) // QUANTUM_ZAP_PAGES
    assert machine.process(pid).state is ProcessState.ZOMBIE
    # The freed pages are free again, in the buddy lists or on this CPU's per-cpu list.
    on_pcp_kb = machine.kernel.allocator.nr_pcp_pages() * PAGE_SIZE // 1024
    assert machine.meminfo()["MemFree"] + on_pcp_kb >= free_before + 4096 * 4


def test_a_probe_beside_a_huge_munmap_or_exit_waits_about_one_slice(make_machine: Any) -> None:
    machine: Machine = make_machine(ram_bytes=64 * MiB, nr_cpus=1)
    hogs = [machine.spawn(f"hog{i}") for i in range(2)]
    for pid in hogs:
        write_pages(machine, pid, 4096)
    big = [
        machine.submit("munmap", hogs[0], machine.maps(hogs[0])[0].start, 16 * MiB),
        machine.submit("exit", hogs[1]),
    ]
    probe = machine.spawn("probe")
    page = machine.mmap(probe, 0, PAGE_SIZE, RW, ANON)
    for _ in range(3):
        machine.sched.step()  # the hogs are running
        probe_task = machine.submit("touch", probe, page, True)
        steps = 0
        while not probe_task.done:
            machine.sched.step()
            steps += 1
        assert steps <= 3 and not all(task.done for task in big)
    while machine.sched.nr_running:
        machine.sched.step()
    machine.check_invariants()


@pytest.mark.slow
def test_two_hogs_share_the_cpu_fairly_and_a_probe_waits_one_quantum(make_machine: Any) -> None:
    machine: Machine = make_machine(ram_bytes=64 * MiB, nr_cpus=1)
    hogs = [machine.spawn(f"hog{i}") for i in range(2)]
    tasks = [
        machine.submit(
            "touch_many", pid, pages(machine.mmap(pid, 0, 8 * MiB, RW, ANON), 2048), True
        )
        for pid in hogs
    ]
    while not any(task.done for task in tasks):
        machine.sched.step()
    vruntimes = [machine.sched.vruntime_ns[pid] for pid in hogs]
    quanta = [task.nr_quanta for task in tasks]
    # Each quantum is at most QUANTUM_FAULTS faults of CPU: the two never drift further apart.
    one_quantum_ns = QUANTUM_FAULTS * 5_000
    assert abs(vruntimes[0] - vruntimes[1]) <= one_quantum_ns and abs(quanta[0] - quanta[1]) <= 1
    probe = machine.spawn("probe")
    page = machine.mmap(probe, 0, PAGE_SIZE, RW, ANON)
    probe_task = machine.submit("touch", probe, page, True)
    steps = 0
    while not probe_task.done:
        machine.sched.step()
        steps += 1
    assert steps <= 2 and probe_task.outcome() is FaultResult.MINOR
    assert "cpu0 " in machine.report("schedstat") and f"pid {hogs[0]} " in machine.report(
        "schedstat"
    )


@pytest.mark.slow
def test_a_minor_fault_after_another_process_swap_burst_costs_microseconds(
    make_machine: Any,
) -> None:
    machine: Machine = make_machine(ram_bytes=16 * MiB, swap_bytes=64 * MiB)
    early = machine.spawn("early")  # its clock stays where it was
    early_page = machine.mmap(early, 0, PAGE_SIZE, RW, ANON)
    burst = machine.spawn("burst")
    write_pages(machine, burst, 8192)
    assert machine.vmstat()["pswpout"] > 1000
    late = machine.spawn("late")  # spawned at the machine's latest time
    late_page = machine.mmap(late, 0, PAGE_SIZE, RW, ANON)
    for pid, page in ((early, early_page), (late, late_page)):
        machine.reset_lock_stat()
        assert machine.touch(pid, page, write=True) is FaultResult.MINOR
        cost = machine.last_cost
        assert cost.total_ns < 20_000, cost  # microseconds, not the burst's seconds
        assert cost.lock_wait_ns == 0 and cost.iowait_ns == 0
        for name, row in machine.locks.stats().items():
            assert row.wait_max_ns <= row.hold_max_ns or row.contentions == 0, name


@pytest.mark.slow
def test_lock_waits_never_exceed_what_overlapping_holders_held(make_machine: Any) -> None:
    machine: Machine = make_machine(ram_bytes=32 * MiB, nr_cpus=2)
    pids = [machine.spawn(), machine.spawn()]
    rng = np.random.default_rng(5)
    for pid in pids:
        base = machine.mmap(pid, 0, 8 * MiB, RW, ANON)
        addrs = pages(base, 2048)
        rng.shuffle(addrs)
        machine.submit("touch_many", pid, np.repeat(addrs, rng.integers(1, 4, len(addrs))), True)
    while machine.sched.nr_running:
        machine.sched.step()
    rows = machine.locks.stats()
    assert sum(row.contentions for row in rows.values()) > 0
    for name, row in rows.items():
        # A waiter waits only for the holds its arrival falls in, until the end of one of
        # them: no wait is longer than a hold.
        assert row.wait_max_ns <= row.hold_max_ns, name
        assert row.wait_total_ns <= row.hold_total_ns, name


def test_a_wait_never_exceeds_the_hold_it_overlapped_when_quanta_ran_out_of_order() -> None:
    registry = LockRegistry(CostModel())
    lock = registry.new_lock("zone")
    first, late, waiter = SimThread(1, 1, now_ns=100), SimThread(2, 2, now_ns=50), SimThread(3, 3)

    def hold(thread: SimThread, length_ns: int) -> None:
        lock.acquire(thread)
        thread.run(length_ns)
        lock.release(thread)

    hold(first, 100)  # [100, 200): its quantum ran first
    hold(late, 110)  # [50, 160): found the lock free at 50, overlaps the first hold
    waiter.now_ns = 60  # arrives inside the late hold only
    hold(waiter, 10)
    row = registry.stats()["&zone->lock"]
    assert row.contentions == 1 and row.wait_max_ns == 100  # until 160, not until 200
    assert row.wait_max_ns <= row.hold_max_ns


def test_an_interleaved_run_replays_to_identical_costs(make_machine: Any) -> None:
    machine: Machine = make_machine(ram_bytes=8 * MiB, swap_bytes=32 * MiB, record=True)
    a, b = machine.spawn("a"), machine.spawn("b")
    tasks = [
        machine.submit(
            "touch_many", pid, pages(machine.mmap(pid, 0, 6 * MiB, RW, ANON), 1536), True
        )
        for pid in (a, b)
    ]
    for _ in range(20):
        machine.sched.step()
    machine.sched.cancel(tasks[1], KernelError("client went away"))
    while machine.sched.nr_running:
        machine.sched.step()
    machine.touch(b, machine.mmap(b, 0, PAGE_SIZE, RW, ANON), write=True)  # a plain call too
    assert machine.journal is not None
    replayed = replay_journal(machine.config, machine.journal)
    submitted = [i for i, entry in enumerate(machine.journal) if entry[0] == "__submit__"]
    assert [replayed[i] for i in submitted] == [task.cost for task in tasks]
    assert replayed[-1] == machine.last_cost and tasks[1].cost.total_ns > 0


@pytest.mark.slow
def test_the_lock_experiment_shows_both_textbook_orderings_deterministically() -> None:
    verdict = run_experiment(seed=4)
    assert verdict.spin_wins_short and verdict.sleep_wins_io
    assert verdict.short_spin.contentions > 0 and verdict.short_sleep.sleep_ns > 0
    assert verdict.io_spin.spin_ns > verdict.io_sleep.spin_ns == 0  # the spinner burned the I/O
    assert verdict.io_spin.cpu_busy_ns > verdict.io_sleep.cpu_busy_ns
    for run in (verdict.short_spin, verdict.io_spin, verdict.io_sleep):
        assert run.waittime_max_ns <= run.holdtime_max_ns and "lock" in run.lock_stat
    assert run_experiment(seed=4) == verdict


def _touch_sequence(fast: bool) -> tuple[list[Any], Machine, list[Any]]:
    """Two processes touching 3x RAM's worth of pages in turn (hits, first touches, reclaim,
    kswapd, swap-ins, a refused address), each Touch run at once by Scheduler.run_alone when
    *fast* and the scheduler is idle, else submitted and stepped as the server's queue does."""
    machine = Machine(MachineConfig(ram_bytes=8 * MiB, swap_bytes=32 * MiB))
    events: list[Any] = []
    machine.add_event_listener(events.append)
    sched = machine.sched
    once = SYSCALL_TABLE["touch"].work
    assert SYSCALL_TABLE["touch"].one_quantum
    pids = [machine.spawn("a"), machine.spawn("b")]
    bases = [machine.mmap(pid, 0, 3 * 8 * MiB, RW, ANON) for pid in pids]
    outcomes: list[Any] = []
    machine.nr_at_once = 0  # type: ignore[attr-defined]
    rng = np.random.default_rng(1)
    calls = [
        (i % 2, int(rng.integers(0, 3 * 8 * MiB // PAGE_SIZE)), bool(i % 3)) for i in range(6000)
    ]
    calls.insert(100, (0, -1, False))  # an address that is not 32-bit: refused
    for which, page, write in calls:
        pid = pids[which]
        addr = bases[which] + page * PAGE_SIZE if page >= 0 else 1 << 32
        if fast and sched.idle:
            machine.nr_at_once += 1  # type: ignore[attr-defined]
            try:
                outcomes.append(
                    sched.run_alone(
                        machine.kernel.thread_of(pid, None), once, machine, pid, addr, write
                    )
                )
            except KernelError as error:
                outcomes.append(repr(error))
            continue
        task = machine.submit("touch", pid, addr, write)
        while not task.done:
            sched.step(task)
        cost = task.cost
        outcome = (
            (
                task.result,
                (cost.total_ns, cost.user_ns, cost.system_ns, cost.iowait_ns, cost.lock_wait_ns),
            )
            if task.error is None
            else repr(task.error)
        )
        outcomes.append(outcome)
    return outcomes, machine, events


@pytest.mark.slow
def test_a_touch_run_at_once_leaves_the_machine_as_the_queued_touch_does() -> None:
    queued, general, general_events = _touch_sequence(fast=False)
    at_once, fast, fast_events = _touch_sequence(fast=True)
    assert at_once == queued  # results and costs, call by call
    assert fast.nr_at_once > len(queued) // 2  # type: ignore[attr-defined]  # most ran at once
    assert FaultResult.MAJOR in {o[0] for o in queued if isinstance(o, tuple)}  # swap-ins ran
    assert general.vmstat()["pgscan_kswapd"] > 0  # kswapd's turns ran between calls
    assert fast_events == general_events
    assert fast.vmstat() == general.vmstat()
    assert fast.cpu_times() == general.cpu_times()
    assert fast.now_ns == general.now_ns
    assert fast.lock_stat() == general.lock_stat()
    assert fast.sched.schedstat() == general.sched.schedstat()
    assert fast.sched.nr_finished == general.sched.nr_finished


def test_a_defect_in_a_call_run_at_once_is_raised_after_its_quantum_is_charged() -> None:
    def broken(machine: Machine, pid: int) -> None:
        machine.kernel.current.run(5_000)  # it computed, then broke an invariant
        raise RuntimeError("invariant broken on purpose")

    machines = [Machine(MachineConfig(ram_bytes=8 * MiB, swap_bytes=0)) for _ in range(2)]
    pids = [machine.spawn("p") for machine in machines]
    at_once, queued = machines
    thread = at_once.kernel.thread_of(pids[0], None)
    with pytest.raises(RuntimeError, match="on purpose"):
        at_once.sched.run_alone(thread, broken, at_once, pids[0])

    def broken_steps() -> Generator[None, None, None]:  # the same call, queued as a task
        broken(queued, pids[1])
        yield

    task = queued.sched.submit("broken", queued.kernel.thread_of(pids[1], None), broken_steps())
    with pytest.raises(RuntimeError, match="on purpose"):
        queued.sched.step(task)
    assert at_once.sched.schedstat() == queued.sched.schedstat()
    assert at_once.cpu_times() == queued.cpu_times() and at_once.now_ns == queued.now_ns
    assert at_once.sched.idle  # nothing left queued: the next call runs at once too


@pytest.mark.slow
@pytest.mark.parametrize("nr_cpus", [1, 2])
def test_a_task_whose_clock_ran_ahead_waits_a_bounded_number_of_quanta(
    make_machine: Any, nr_cpus: int
) -> None:
    """A process that slept through seconds of swap I/O has a clock far ahead of the busy
    ones: ordered by simulated time alone, its one-page touch waited until every hog caught
    up (17 s of real time in the report). It now runs within the real-time bound."""
    machine: Machine = make_machine(ram_bytes=64 * MiB, nr_cpus=nr_cpus, realtime_clients=True)
    hogs = [machine.spawn(f"hog{i}") for i in range(3)]
    tasks = [
        machine.submit(
            "touch_many", pid, pages(machine.mmap(pid, 0, 8 * MiB, RW, ANON), 2048), True
        )
        for pid in hogs
    ]
    for _ in range(5):
        machine.sched.step()
    probe = machine.spawn("probe")
    page = machine.mmap(probe, 0, PAGE_SIZE, RW, ANON)
    probe_task = machine.submit("touch", probe, page, True)
    probe_task.thread.now_ns += 20 * 10**9  # it slept 20 simulated seconds in swap I/O
    steps = 0
    while not probe_task.done:
        machine.sched.step()
        steps += 1
    assert steps <= WAKEUP_WAIT_QUANTA + 1
    assert probe_task.outcome() is FaultResult.MINOR
    assert not any(task.done for task in tasks)  # the hogs did not have to catch up first
    while machine.sched.nr_running:
        machine.sched.step()
    assert all(task.done and task.error is None for task in tasks)
    machine.check_invariants()


def _work(thread: SimThread, nr_quanta: int, ns: int) -> Generator[None, None, None]:
    for quantum in range(nr_quanta):
        thread.run(ns)
        if quantum < nr_quanta - 1:
            yield


def _kernel_thread_turns(nr_calls: int) -> tuple[list[int], int]:
    """Six quanta of 1000 ns in *nr_calls* calls beside an always-woken kernel thread whose
    turn runs 500 ns: the lengths of its turns, and how long the worker's quanta ran."""
    sched = Scheduler(1, CostModel(), SimThread(0, 0))
    kthread = SimThread(1, 0)
    turns: list[int] = []

    def turn() -> int:
        sched.run_quantum(kthread, None, kthread.run, (500,))
        turns.append(sched.last_quantum.ran_ns)
        return sched.last_quantum.ran_ns

    sched.between_calls = turn
    sched.background_due = lambda: True
    worker = SimThread(2, 2)
    for _ in range(nr_calls):
        sched.run_to_completion(sched.submit("work", worker, _work(worker, 6 // nr_calls, 1000)))
    return turns, sched.run_time_ns[worker.pid]


def test_a_woken_kernel_thread_earns_its_turns_by_quanta_not_by_calls() -> None:
    """kswapd, while woken, is owed the simulated time the tasks' quanta ran and takes it
    in turns of its own after them: one call of six quanta and six calls of one earn it
    the same turns, about as much time as the worker ran (never a whole turn more)."""
    turns, worker_ran = _kernel_thread_turns(1)
    assert (turns, worker_ran) == _kernel_thread_turns(6)
    assert worker_ran <= sum(turns) < worker_ran + max(turns)


def test_a_kernel_thread_asleep_gets_no_turn() -> None:
    sched = Scheduler(1, CostModel(), SimThread(0, 0))
    turns: list[int] = []
    sched.between_calls = lambda: turns.append(1) or 1
    sched.background_due = lambda: False
    worker = SimThread(2, 2)
    sched.run_to_completion(sched.submit("work", worker, _work(worker, 3, 1000)))
    assert turns == [] and sched.background_credit_ns == 0
