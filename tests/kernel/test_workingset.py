"""mm/workingset.c for anonymous pages: shadow entries in swap slots, refault distances."""

from __future__ import annotations

from vmsim_kernel import Machine
from vmsim_kernel.mm.vmstat import VmEvents
from vmsim_kernel.mm.workingset import workingset_eviction, workingset_refault


def test_a_refault_within_the_active_list_size_is_activated_and_a_far_one_is_not(
    machine: Machine,
) -> None:
    lruvec, si = machine.kernel.lruvec, machine.kernel.swap
    assert si is not None
    lruvec.policy.insert_active(1_000_000)  # a workingset of one page
    lruvec.policy.insert_active(1_000_001)  # ... of two
    events = VmEvents()
    workingset_eviction(lruvec, si, 5)
    assert workingset_refault(lruvec, si, 5, events)  # distance 1: it could have stayed
    workingset_eviction(lruvec, si, 6)
    for slot in (7, 8, 9):
        workingset_eviction(lruvec, si, slot)
    assert not workingset_refault(lruvec, si, 6, events)  # distance 4 > 2 active pages
    assert (events.workingset_refault_anon, events.workingset_activate_anon) == (2, 1)


def test_with_no_active_page_no_refault_is_activated(machine: Machine) -> None:
    lruvec, si = machine.kernel.lruvec, machine.kernel.swap
    assert si is not None
    events = VmEvents()
    workingset_eviction(lruvec, si, 5)
    assert not workingset_refault(lruvec, si, 5, events)
    assert events.workingset_activate_anon == 0
