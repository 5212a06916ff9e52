"""The spinlock-versus-semaphore experiment: when does busy-waiting win, when does sleeping?

The textbook claim (kernel/locking: spinlock.c versus mutex.c/rwsem.c): a spinlock wins when
critical sections are short, because a waiter spins for less than the two context switches a
sleeping waiter pays; a sleeping lock wins when the holder itself sleeps (on I/O), because a
spinner then burns its CPU for the whole I/O while a sleeper lets another task run.

Two workloads run on the scheduler (sched.py), each once with spinning and once with sleeping
waiters, with the same seed, so the only difference is the lock kind:

- short: processes first-touch pages side by side on 2 CPUs; the contended locks are the zone
  and LRU spinlocks, held for a few hundred nanoseconds.
- io: on 1 CPU, one thread of a process major-faults (holding mmap_lock for reading across
  the swap-in) while another thread mmaps and munmaps (mmap_lock for writing) and an
  unrelated process computes over resident memory.

Deterministic for a seed: `python -m vmsim_teach.lock_experiment --seed 3 [--json]`
(or `vmsim experiment locks`).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import Any

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, MapFlag, MiB, Prot
from vmsim_kernel.config import MachineConfig
from vmsim_kernel.errors import KernelError
from vmsim_kernel.machine import Machine

__all__ = ["LockRun", "LockVerdict", "main", "run_experiment", "run_io_holder", "run_short"]

RW = int(Prot.READ | Prot.WRITE)
ANON = int(MapFlag.PRIVATE | MapFlag.ANONYMOUS)
# The calls one thread makes, in order; each yield is a call, answered with its result.
Program = Generator[tuple[str, tuple[Any, ...]], Any, None]


def _calls(calls: list[tuple[str, tuple[Any, ...]]]) -> Program:
    """A program whose calls do not depend on earlier results."""
    for call in calls:  # noqa: UP028 (results are sent in; a list iterator has no send())
        yield call


@dataclass(frozen=True)
class LockRun:
    """One workload under one lock kind (times in simulated nanoseconds)."""

    workload: str
    kind: str
    elapsed_ns: int  # from the first call to the last thread's end
    cpu_busy_ns: int  # CPU time used on all CPUs (spinning included)
    spin_ns: int  # system time spent busy-waiting on the lock class
    sleep_ns: int  # time asleep on the lock class
    contentions: int  # lock_stat of the contended class (rw locks: -R plus -W)
    waittime_total_ns: int
    waittime_max_ns: int
    holdtime_max_ns: int
    lock_stat: str  # the lock_stat rows of the contended class


@dataclass(frozen=True)
class LockVerdict:
    """Both kinds on both workloads, and which kind won each."""

    seed: int
    short_spin: LockRun
    short_sleep: LockRun
    io_spin: LockRun
    io_sleep: LockRun

    @property
    def spin_wins_short(self) -> bool:
        """Short critical sections: spinning finished first."""
        return self.short_spin.elapsed_ns < self.short_sleep.elapsed_ns

    @property
    def sleep_wins_io(self) -> bool:
        """Holder asleep on I/O: sleeping finished first."""
        return self.io_sleep.elapsed_ns < self.io_spin.elapsed_ns


def _run_programs(machine: Machine, programs: dict[tuple[int, int | None], Program]) -> None:
    """Run each thread's calls in order, all threads at once on the scheduler."""
    sched = machine.sched
    owner: dict[int, tuple[int, int | None]] = {}

    def submit_next(key: tuple[int, int | None], result: Any) -> None:
        try:
            name, args = programs[key].send(result)
        except StopIteration:
            return
        owner[machine.submit(name, key[0], *args, tid=key[1]).task_id] = key

    for key in programs:
        submit_next(key, None)
    while sched.nr_running:
        task = sched.step()
        assert task is not None
        if task.done:
            if task.error is not None and not isinstance(task.error, KernelError):
                raise task.error
            submit_next(owner.pop(task.task_id), task.result)


def _measure(
    machine: Machine, workload: str, kind: str, lock_class: str, started_ns: int, busy_before: int
) -> LockRun:
    rows = {name: s for name, s in machine.locks.stats().items() if name.startswith(lock_class)}
    threads = [t for task in machine.tasks.values() for t in task.threads.values()]
    # A spinner's wait is system time; a sleeper's shows as lock-wait time.
    return LockRun(
        workload=workload,
        kind=kind,
        elapsed_ns=max(t.now_ns for t in threads) - started_ns,
        cpu_busy_ns=sum(cpu.busy_ns for cpu in machine.sched.cpus) - busy_before,
        spin_ns=sum(s.wait_total_ns for s in rows.values()) if kind == "spin" else 0,
        sleep_ns=sum(t.times.lock_wait_ns for t in threads),
        contentions=sum(s.contentions for s in rows.values()),
        waittime_total_ns=sum(s.wait_total_ns for s in rows.values()),
        waittime_max_ns=max((s.wait_max_ns for s in rows.values()), default=0),
        holdtime_max_ns=max((s.hold_max_ns for s in rows.values()), default=0),
        lock_stat="\n".join(
            line for line in machine.lock_stat().splitlines() if line.strip().startswith(lock_class)
        ),
    )


def run_short(kind: str, seed: int) -> LockRun:
    """Short critical sections: two processes first-touch pages side by side on 2 CPUs."""
    config = MachineConfig(
        ram_bytes=64 * MiB,
        swap_bytes=0,
        nr_cpus=2,
        seed=seed,
        lock_kinds={"zone": kind, "lru": kind},
    )
    machine = Machine(config)
    try:
        rng = random.Random(seed)
        programs: dict[tuple[int, int | None], Program] = {}
        for name in ("left", "right"):
            pid = machine.spawn(name)
            base = machine.mmap(pid, 0, 8 * MiB, RW, ANON)
            pages = [base + i * PAGE_SIZE for i in range(2048)]
            rng.shuffle(pages)
            # Between first touches, a few re-reads of pages already touched (TLB misses mostly):
            # the two processes drift in and out of phase, as real ones do, instead of
            # faulting in lockstep and never meeting at the lock.
            accesses: list[int] = []
            for index, page in enumerate(pages):
                accesses.append(page)
                accesses += rng.choices(pages[: index + 1], k=rng.randrange(8))
            batches = [accesses[i : i + 256] for i in range(0, len(accesses), 256)]
            programs[(pid, None)] = _calls([("touch_many", (batch, True)) for batch in batches])
        machine.reset_lock_stat()
        started = max(t.now_ns for task in machine.tasks.values() for t in task.threads.values())
        busy_before = sum(cpu.busy_ns for cpu in machine.sched.cpus)
        _run_programs(machine, programs)
        return _measure(machine, "short", kind, "&zone->lock", started, busy_before)
    finally:
        machine.close()


def run_io_holder(kind: str, seed: int) -> LockRun:
    """Holder asleep on I/O: readers of mmap_lock major-fault, a writer waits, a bystander computes."""
    config = MachineConfig(
        ram_bytes=8 * MiB,
        swap_bytes=32 * MiB,
        nr_cpus=1,
        seed=seed,
        lock_kinds={"mmap": kind},
    )
    machine = Machine(config)
    try:
        rng = random.Random(seed)
        pid = machine.spawn("faulter")
        region = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
        machine.touch_many(pid, range(region, region + 12 * MiB, PAGE_SIZE), write=True)
        swapped = [
            a
            for a in range(region, region + 12 * MiB, PAGE_SIZE)
            if not machine.translate(pid, a).present
        ]
        picked = rng.sample(swapped, 48)
        reader, writer = machine.spawn_thread(pid), machine.spawn_thread(pid)
        bystander = machine.spawn("bystander")
        hot = machine.mmap(bystander, 0, 256 * PAGE_SIZE, RW, ANON)
        hot_pages = list(range(hot, hot + 256 * PAGE_SIZE, PAGE_SIZE))
        machine.touch_many(bystander, hot_pages, write=True)

        programs: dict[tuple[int, int | None], Program] = {
            (pid, reader): _calls([("touch", (address, False)) for address in picked]),
            (pid, writer): _mmap_munmap_calls(48),
            # CPU-bound work of another process, about as much CPU as the reader's I/O chain
            # takes: whether it gets the CPU while the writer waits decides the race.
            (bystander, None): _calls([("touch_many", (hot_pages * 4, False))] * 192),
        }
        machine.reset_lock_stat()
        # The experiment starts once the device has written back what the setup swapped out
        # (else the first swap-in waits ~100 ms behind it and the I/O dwarfs everything).
        threads = [t for task in machine.tasks.values() for t in task.threads.values()]
        swap = machine.swap
        assert swap is not None  # the configuration above has swap
        started = max(swap.queue.busy_until_ns, *(t.now_ns for t in threads))
        for thread in threads:
            thread.now_ns = started
        busy_before = sum(cpu.busy_ns for cpu in machine.sched.cpus)
        _run_programs(machine, programs)
        return _measure(machine, "io", kind, "&mm->mmap_lock", started, busy_before)
    finally:
        machine.close()


def _mmap_munmap_calls(rounds: int) -> Program:
    """A thread that maps a page and unmaps it again, *rounds* times (mmap_lock for writing)."""
    for _ in range(rounds):
        address = yield "mmap", (0, PAGE_SIZE, RW, ANON)
        yield "munmap", (address, PAGE_SIZE)


def run_experiment(seed: int = 0) -> LockVerdict:
    """Both workloads under both lock kinds."""
    return LockVerdict(
        seed,
        run_short("spin", seed),
        run_short("sleep", seed),
        run_io_holder("spin", seed),
        run_io_holder("sleep", seed),
    )


def format_verdict(verdict: LockVerdict) -> str:
    """A table of the four runs and the two verdicts, with the lock_stat rows behind them."""
    lines = [
        f"spinlock versus sleeping lock, seed {verdict.seed} (simulated time, µs)",
        f"{'workload':<8} {'kind':<6} {'elapsed':>10} {'cpu busy':>10} {'spinning':>10} "
        f"{'asleep':>10} {'contentions':>12} {'wait max':>9} {'hold max':>9}",
    ]
    runs = (verdict.short_spin, verdict.short_sleep, verdict.io_spin, verdict.io_sleep)
    for run in runs:
        lines.append(
            f"{run.workload:<8} {run.kind:<6} {run.elapsed_ns / 1000:>10.1f} "
            f"{run.cpu_busy_ns / 1000:>10.1f} {run.spin_ns / 1000:>10.1f} "
            f"{run.sleep_ns / 1000:>10.1f} {run.contentions:>12} "
            f"{run.waittime_max_ns / 1000:>9.2f} {run.holdtime_max_ns / 1000:>9.2f}"
        )
    lines.append("")
    lines.append(
        "short critical sections: "
        + ("spinlock wins" if verdict.spin_wins_short else "sleeping lock wins (unexpected)")
    )
    lines.append(
        "holder sleeps on I/O:    "
        + ("sleeping lock wins" if verdict.sleep_wins_io else "spinlock wins (unexpected)")
    )
    lines.append("")
    for run in runs:
        lines.append(f"lock_stat, {run.workload} / {run.kind}:")
        lines.append(run.lock_stat)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and print the table (or JSON); exit 1 if the ordering did not hold."""
    parser = argparse.ArgumentParser(prog="vmsim experiment locks", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed of the page orders (0)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    verdict = run_experiment(args.seed)
    if args.json:
        document = {
            "seed": verdict.seed,
            "spin_wins_short": verdict.spin_wins_short,
            "sleep_wins_io": verdict.sleep_wins_io,
            "runs": [
                asdict(run)
                for run in (
                    verdict.short_spin,
                    verdict.short_sleep,
                    verdict.io_spin,
                    verdict.io_sleep,
                )
            ],
        }
        print(json.dumps(document, indent=2))
    else:
        print(format_verdict(verdict), end="")
    return 0 if verdict.spin_wins_short and verdict.sleep_wins_io else 1


if __name__ == "__main__":
    raise SystemExit(main())
