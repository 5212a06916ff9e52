"""Journal replay reports the cost of every process call, read from the one syscall table."""

from __future__ import annotations

from tests.kernel.conftest import MachineFactory

from vmsim_kernel import PAGE_SIZE, CallCost
from vmsim_kernel.entry import SYSCALL_TABLE
from vmsim_kernel.journal import replay_journal


def test_shm_calls_and_exit_replay_to_the_costs_they_were_charged(
    make_machine: MachineFactory,
) -> None:
    """shm_create, shm_unlink and exit are process calls like mmap: a hand-kept list of the
    "timed" calls had left them out, so their replayed cost was None."""
    machine = make_machine(record=True)
    pid = machine.spawn()
    recorded: list[CallCost] = []
    machine.shm_create(pid, "journal", 4 * PAGE_SIZE)
    recorded.append(machine.last_cost)
    machine.shm_unlink(pid, "journal")
    recorded.append(machine.last_cost)
    machine.exit(pid)
    recorded.append(machine.last_cost)
    assert machine.journal is not None
    names = [entry[0] for entry in machine.journal]
    replayed = replay_journal(machine.config, machine.journal)
    assert [replayed[names.index(name)] for name in ("shm_create", "shm_unlink", "exit")] == (
        recorded
    )
    assert recorded[-1].total_ns > 0  # exit unmaps and frees: it is charged, not free


def test_only_process_calls_have_a_replayed_cost(make_machine: MachineFactory) -> None:
    machine = make_machine(record=True)
    pid = machine.spawn()
    machine.shm_create(pid, "journal", PAGE_SIZE)
    assert machine.journal is not None
    replayed = replay_journal(machine.config, machine.journal)
    for (name, *_), cost in zip(machine.journal, replayed, strict=True):
        assert (cost is not None) == (name in SYSCALL_TABLE), name
