"""Workingset detection: shadow entries and refault distances, for anon and file pages.

Models mm/workingset.c of Linux 6.1 for the anon LRU: an evicted page leaves a shadow entry
in its swap slot holding the lruvec's nonresident age (workingset_eviction); when it is read
back, its refault distance (how far that clock ticked while the page was out) is compared
with the workingset it competed with, the active anon list while swap has room (as
workingset_refault computes it for anon with no file pages). A page that could have stayed
resident with that much memory is activated (workingset_activate_anon); any other refault
goes to the inactive list like a new page. Every refault counts workingset_refault_anon.

A page cache page leaves its shadow entry in its file's address space (at its index) with
whether it was active; at its refault the workingset it competed with is the active file
list plus both anon lists while swap has room, as 6.1 computes it for a file refault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .policies import lru_note_cost

if TYPE_CHECKING:
    from vmsim_kernel.fs.vfs import AddressSpace

    from .policies import Lruvec
    from .swap import SwapDevice
    from .vmstat import VmEvents

__all__ = [
    "EVICTION_MASK",
    "bucket_order",
    "workingset_eviction",
    "workingset_eviction_file",
    "workingset_refault",
    "workingset_refault_file",
]


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


# A shadow entry is an xarray value entry of an unsigned long: on i386 with memcg its
# eviction timestamp keeps BITS_PER_LONG - EVICTION_SHIFT = 32 - (1 + 1 + 0 + 16) = 14 bits,
# in buckets of 2**bucket_order pages (workingset_init sizes them so that the timestamps
# cover RAM). 6.1 masks the refault distance with those 14 bits after shifting the bucket
# back (`(refault - eviction) & EVICTION_MASK`), so on a 32-bit kernel a distance is taken
# modulo 16384 pages: a file read twice through a cache smaller than it refaults with
# "small" distances and is activated, which is what the captures show.
EVICTION_BITS: Final = 14
EVICTION_MASK: Final = (1 << EVICTION_BITS) - 1


def bucket_order(nr_ram_pages: int) -> int:
    """workingset_init's bucket_order: how far timestamps are shifted to cover RAM."""
    max_order = (nr_ram_pages - 1).bit_length()  # fls_long(totalram_pages() - 1)
    return max(0, max_order - EVICTION_BITS)


def workingset_eviction_file(
    lruvec: Lruvec, mapping: AddressSpace, index: int, was_active: bool
) -> None:
    """A page cache page leaves memory: its shadow entry at *index* of *mapping* holds the
    nonresident age in buckets and PG_workingset (it was active), and the clock ticks."""
    mapping.shadows[index] = (lruvec.nonresident_age >> lruvec.bucket_order, was_active)
    lruvec.nonresident_age += 1


def workingset_refault_file(
    lruvec: Lruvec, mapping: AddressSpace, index: int, events: VmEvents, swap_has_room: bool
) -> bool:
    """The page at *index* of *mapping* is read back; whether it goes to the active list.

    No shadow entry (a page never evicted) is no refault. A page that was active when it
    was evicted and comes back activated is restored (workingset_restore_file) and its
    refault is a cost of reclaiming file pages (lru_note_cost_refault).
    """
    shadow = mapping.shadows.pop(index, None)
    if shadow is None:
        return False
    eviction, was_active = shadow
    events.workingset_refault_file += 1
    refault_distance = (lruvec.nonresident_age - (eviction << lruvec.bucket_order)) & EVICTION_MASK
    workingset_size = len(lruvec.file.active)
    if swap_has_room:
        workingset_size += len(lruvec.policy)
    if refault_distance > workingset_size:
        return False
    lruvec.nonresident_age += 1
    events.workingset_activate_file += 1
    if was_active:
        events.workingset_restore_file += 1
        lru_note_cost(lruvec, True, 1)
    return True
