"""The scheduler: calls as tasks in quanta on CPUs with their own clocks, fairness,
cancellation, overlap-only contention, deterministic replay, the lock experiment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    FaultResult,
    KernelError,
    Machine,
    MiB,
)
from vmsim_kernel.journal import replay_journal
from vmsim_kernel.lock_experiment import run_experiment
from vmsim_kernel.locks import BusyIntervals
from vmsim_kernel.memory import BATCHED_TOUCHES_PER_FAULT
from vmsim_kernel.sched import QUANTUM_FAULTS, TaskState

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def pages(base: int, count: int) -> np.ndarray[Any, Any]:
    return np.arange(base, base + count * PAGE_SIZE, PAGE_SIZE, dtype=np.uint32)


def resident(machine: Machine, pid: int, addrs: np.ndarray[Any, Any]) -> int:
    return sum(machine.translate(pid, int(a)).present for a in addrs)


def test_busy_intervals_merge_and_answer_when_free() -> None:
    busy = BusyIntervals(merge_touching=True)
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
    holds = BusyIntervals()  # a lock: back-to-back holds stay apart, a waiter slips between
    holds.add(0, 150)
    holds.add(150, 300)
    holds.add(100, 200)  # overlapping: merged with both
    assert len(holds) == 1
    holds.add(400, 550)
    holds.add(550, 700)
    assert len(holds) == 3 and holds.free_from(450) == 550


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
    assert faults_per_quantum.count(QUANTUM_FAULTS) > 0  # the faults that reclaim
    assert task.cost.total_ns == task.running_ns > 0
    machine.check_invariants()


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


def test_a_minor_fault_after_another_process_swap_burst_costs_microseconds(
    make_machine: Any,
) -> None:
    machine: Machine = make_machine(ram_bytes=16 * MiB, swap_bytes=64 * MiB)
    early = machine.spawn("early")  # its clock stays where it was
    early_page = machine.mmap(early, 0, PAGE_SIZE, RW, ANON)
    burst = machine.spawn("burst")
    machine.touch_many(burst, pages(machine.mmap(burst, 0, 32 * MiB, RW, ANON), 8192), write=True)
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
        # A waiter waits for the holders its arrival overlaps: on 2 CPUs, at most two
        # (quanta run one after the other, so an earlier arrival may have slipped in before a
        # hold recorded later, and the two holds then overlap).
        assert row.wait_max_ns <= 2 * row.hold_max_ns, name
        assert row.wait_total_ns <= row.hold_total_ns, name


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


def test_the_lock_experiment_shows_both_textbook_orderings_deterministically() -> None:
    verdict = run_experiment(seed=4)
    assert verdict.spin_wins_short and verdict.sleep_wins_io
    assert verdict.short_spin.contentions > 0 and verdict.short_sleep.sleep_ns > 0
    assert verdict.io_spin.spin_ns > verdict.io_sleep.spin_ns == 0  # the spinner burned the I/O
    assert verdict.io_spin.cpu_busy_ns > verdict.io_sleep.cpu_busy_ns
    for run in (verdict.short_spin, verdict.io_spin, verdict.io_sleep):
        assert run.waittime_max_ns <= run.holdtime_max_ns and "lock" in run.lock_stat
    assert run_experiment(seed=4) == verdict
