"""swap_info[] and the order get_swap_pages takes areas in (mm/swapfile.c).

Only the bookkeeping of several areas: which type number an area gets, its priority, and
which area the next slot comes from. The areas themselves are SwapDevice objects; wiring
this table into kernel.swap's users is the next step of issue 22 (not done yet).
"""

from __future__ import annotations

from typing import Final, Generic, Protocol, TypeVar

from vmsim_kernel.errors import InvalidArgument, LimitExceeded
from vmsim_kernel.mm.swap import MAX_SWAPFILES

# swapon(2): SWAP_FLAG_PRIO_MASK is 0x7fff; swapon(8) passes -1 for "let the kernel choose".
SWAP_PRIO_MAX: Final = 0x7FFF
SWAP_PRIO_AUTO: Final = -1


class HasPriority(Protocol):
    priority: int


AreaT = TypeVar("AreaT", bound=HasPriority)


def check_swap_priority(priority: int) -> int:
    """The priority, or InvalidArgument naming the limit (-1 = the kernel assigns one)."""
    if not SWAP_PRIO_AUTO <= priority <= SWAP_PRIO_MAX:
        raise InvalidArgument(
            "priority",
            f"{priority} is outside swapon's range",
            f"-1 (kernel assigns) or 0..{SWAP_PRIO_MAX} (SWAP_FLAG_PRIO_MASK)",
        )
    return priority


class SwapInfo(Generic[AreaT]):
    """swap_info[]: up to MAX_SWAPFILES areas by type, plus swap_avail_head's order."""

    def __init__(self) -> None:
        self._by_type: dict[int, AreaT] = {}
        # swap_avail_head: highest priority first; equal priorities in round-robin order.
        self._avail: list[int] = []
        # least_priority in swapfile.c: the first automatic priority handed out is -2.
        self._least_priority = -1

    def types(self) -> list[int]:
        """Active area types, in /proc/swaps order (by type, as swap_start walks swap_info)."""
        return sorted(self._by_type)

    def area(self, swap_type: int) -> AreaT:
        """The area a swap entry's type names."""
        return self._by_type[swap_type]

    def next_priority(self, requested: int) -> int:
        """The priority swapon would give an area asking for *requested* (not reserved)."""
        check_swap_priority(requested)
        return requested if requested >= 0 else self._least_priority - 1

    def add(self, area: AreaT, requested: int) -> int:
        """Enable *area* (enable_swap_info): set its priority, return its type number.

        Raises:
            InvalidArgument: the priority is outside -1..32767.
            LimitExceeded: MAX_SWAPFILES areas are active already.
        """
        priority = self.next_priority(requested)
        free_types = [t for t in range(MAX_SWAPFILES) if t not in self._by_type]
        if not free_types:
            raise LimitExceeded(f"{MAX_SWAPFILES} swap areas are active already", "MAX_SWAPFILES")
        swap_type = free_types[0]
        if requested < 0:
            self._least_priority = priority
        area.priority = priority
        self._by_type[swap_type] = area
        self._enqueue(swap_type)
        return swap_type

    def _enqueue(self, swap_type: int) -> None:
        """plist_add: behind every area of the same or higher priority."""
        priority = self._by_type[swap_type].priority
        position = len(self._avail)
        for index, other in enumerate(self._avail):
            if self._by_type[other].priority < priority:
                position = index
                break
        self._avail.insert(position, swap_type)

    def remove(self, swap_type: int) -> AreaT:
        """Disable an area (swapoff's tail): automatic priorities below it move up by one."""
        area = self._by_type.pop(swap_type)
        self._avail.remove(swap_type)
        if area.priority < 0:
            for other in self._by_type.values():
                if other.priority < area.priority:
                    other.priority += 1
            self._least_priority += 1
        return area

    def pick(self, usable: set[int] | None = None) -> int | None:
        """get_swap_pages' choice: the first available area (of *usable*, default all), then
        plist_requeue moves it behind the others of its priority (round-robin)."""
        for swap_type in self._avail:
            if usable is not None and swap_type not in usable:
                continue
            self._avail.remove(swap_type)
            self._enqueue(swap_type)
            return swap_type
        return None
