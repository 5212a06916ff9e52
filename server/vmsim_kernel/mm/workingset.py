"""Workingset detection for anonymous pages: shadow entries and refault distances.

Models mm/workingset.c of Linux 6.1 for the anon LRU: an evicted page leaves a shadow entry
in its swap slot holding the lruvec's nonresident age (workingset_eviction); when it is read
back, its refault distance (how far that clock ticked while the page was out) is compared
with the workingset it competed with, the active anon list while swap has room (as
workingset_refault computes it for anon with no file pages). A page that could have stayed
resident with that much memory is activated (workingset_activate_anon); any other refault
goes to the inactive list like a new page. Every refault counts workingset_refault_anon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .policies import Lruvec
    from .swap import SwapDevice
    from .vmstat import VmEvents

__all__ = ["workingset_eviction", "workingset_refault"]


def workingset_eviction(lruvec: Lruvec, si: SwapDevice, offset: int) -> None:
    """A page leaves memory for slot *offset* of *si*: its shadow entry holds the lruvec's
    nonresident age, and the clock ticks (workingset_age_nonresident)."""
    si.shadow_age[offset] = lruvec.nonresident_age
    lruvec.nonresident_age += 1


def workingset_refault(lruvec: Lruvec, si: SwapDevice, offset: int, events: VmEvents) -> bool:
    """The page of slot *offset* was read back: whether it goes to the active list.

    The refault distance is compared with the active anon list, counted only while swap
    has free slots (with none, anon pages cannot compete for memory: mem_cgroup_get_nr_swap_pages).
    """
    events.workingset_refault_anon += 1
    refault_distance = lruvec.nonresident_age - int(si.shadow_age[offset])
    workingset_size = lruvec.policy.nr_active if si.nr_free_slots > 0 else 0
    if refault_distance > workingset_size:
        return False
    lruvec.nonresident_age += 1  # workingset_age_nonresident: an activation ages the rest
    events.workingset_activate_anon += 1
    return True
