"""The kernel's share of a resident Touch run at once (the server's common call): how many
Python calls it makes, and that the trimmed path charges what the queued call charges."""

from __future__ import annotations

import cProfile
import pstats

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    FaultResult,
    KernelError,
    Machine,
    MachineConfig,
    MiB,
)

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS

# The kernel's Python calls for one Touch of a resident page through Machine.run_at_once, the
# call process_service's Touch makes: the executor (run_at_once, Scheduler.idle, thread_of,
# run_alone, run_quantum, _place, _earn_background and kswapd's background_due), the call
# (Machine.touch, _live) and the walk (touch_one, Kernel.current, TlbModel.access, SimThread.run).
# It was 22 before the path was trimmed (issue 23): a new call on this path shows here.
KERNEL_CALLS_PER_RESIDENT_TOUCH = 14


def _machine_with_resident_page() -> tuple[Machine, int, int]:
    machine = Machine(MachineConfig(ram_bytes=16 * MiB))
    pid = machine.spawn("probe")
    base = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch(pid, base, True)
    return machine, pid, base


def _kernel_calls(profile: cProfile.Profile) -> dict[str, int]:
    """Python functions of the kernel the profile saw, by file:line(name), with their counts."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {
        f"{filename.rsplit('/', 1)[-1]}:{line}({name})": calls[1]
        for (filename, line, name), calls in stats.items()
        if "/vmsim_kernel/" in filename
    }


def test_a_resident_touch_run_at_once_makes_14_kernel_python_calls() -> None:
    machine, pid, base = _machine_with_resident_page()
    machine.run_at_once("touch", pid, base, False)  # the TLB holds the page from now on
    nr_touches = 100
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(nr_touches):
        done = machine.run_at_once("touch", pid, base, False)
    profile.disable()
    assert done is not None and done[0] is FaultResult.HIT
    calls = _kernel_calls(profile)
    assert sum(calls.values()) == KERNEL_CALLS_PER_RESIDENT_TOUCH * nr_touches, calls
    assert all(count == nr_touches for count in calls.values()), calls  # each once a Touch
    names = {key.split("(")[1].rstrip(")") for key in calls}
    assert {"run_quantum", "touch_one"} <= names  # the one executor, the one walk


def _queued(machine: Machine, name: str, pid: int, *args: object) -> object:
    """*name* as the server queues it: submitted, then stepped until done."""
    task = machine.submit(name, pid, *args)
    while not task.done:
        machine.sched.step(task)
    if task.error is not None:
        return repr(task.error)
    cost = task.cost
    return task.result, (
        cost.total_ns,
        cost.user_ns,
        cost.system_ns,
        cost.iowait_ns,
        cost.lock_wait_ns,
    )


def _at_once(machine: Machine, name: str, pid: int, *args: object) -> object:
    try:
        return machine.run_at_once(name, pid, *args)
    except KernelError as error:
        return repr(error)


def test_calls_run_at_once_charge_what_queued_calls_charge() -> None:
    """The same sequence queued and at once: results, costs, clocks and schedstat equal.
    It covers the rejections too (a dead and an unknown pid run their quantum on the kernel
    thread), and two processes taking turns on one CPU (context switches)."""

    def run(run_call: object) -> tuple[object, ...]:
        machine, pid, base = _machine_with_resident_page()
        other = machine.spawn("other")
        other_base = machine.mmap(other, 0, 4 * PAGE_SIZE, RW, ANON)
        victim = machine.spawn("victim")
        machine.kill(victim)
        outcomes = [
            run_call(machine, name, p, *args)  # type: ignore[operator]
            for name, p, *args in [
                ("touch", pid, base, False),
                ("touch", pid, base, True),
                ("touch", other, other_base, True),  # a first touch: a minor fault
                ("touch", other, other_base + PAGE_SIZE, False),  # the zero page
                ("touch", pid, base + 64 * PAGE_SIZE, False),  # no VMA: SIGSEGV
                ("touch", pid, base, False),  # the process is dead now
                ("touch", victim, 0, False),
                ("touch", 999, 0, False),
                ("mprotect", other, other_base, PAGE_SIZE, PROT_READ),
                ("touch", other, other_base, False),
            ]
        ]
        return (
            outcomes,
            machine.sched.schedstat(),
            machine.cpu_times(),
            machine.now_ns,
            machine.vmstat(),
            machine.lock_stat(),
        )

    queued, at_once = run(_queued), run(_at_once)
    assert at_once == queued
    outcomes = queued[0]
    assert isinstance(outcomes, list)
    assert outcomes[2][0] is FaultResult.MINOR and "SegmentationFault" in outcomes[4]
