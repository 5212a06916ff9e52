"""swap_info[] and the order get_swap_pages takes areas in (mm/swapfile.c).

The bookkeeping of several areas: which type number an area gets, its priority, which
area the next slots come from (highest priority first, round-robin among equal ones in
runs of SWAP_BATCH slots, as the per-cpu swap_slots cache refills), and the sums
SwapTotal/SwapFree read. The areas themselves are SwapDevice objects; swapon and swapoff
(try_to_unuse) are in mm/swapoff.py.
"""

from __future__ import annotations

from typing import Final, Generic, Protocol, TypeVar

from vmsim_kernel.errors import InvalidArgument, KernelBug, LimitExceeded
from vmsim_kernel.mm.swap import MAX_SWAPFILES, SwapDevice, mangle_path, swp_offset, swp_type

# swapon(2): SWAP_FLAG_PRIO_MASK is 0x7fff; swapon(8) passes -1 for "let the kernel choose".
SWAP_PRIO_MAX: Final = 0x7FFF
SWAP_PRIO_AUTO: Final = -1
# include/linux/swap_slots.h: the per-cpu slots cache takes this many slots from one area.
SWAP_BATCH: Final = 64


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

    def areas(self) -> list[AreaT]:
        """Active areas, in /proc/swaps order."""
        return [self._by_type[swap_type] for swap_type in sorted(self._by_type)]

    def area(self, swap_type: int) -> AreaT:
        """The area a swap entry's type names."""
        return self._by_type[swap_type]

    def free_type(self) -> int:
        """The type number the next swapon gets (the lowest unused one).

        Raises:
            LimitExceeded: MAX_SWAPFILES areas are active already.
        """
        for swap_type in range(MAX_SWAPFILES):
            if swap_type not in self._by_type:
                return swap_type
        raise LimitExceeded(f"{MAX_SWAPFILES} swap areas are active already", "MAX_SWAPFILES")

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
        swap_type = self.free_type()
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
        if swap_type in self._avail:
            self._avail.remove(swap_type)
        if area.priority < 0:
            for other in self._by_type.values():
                if other.priority < area.priority:
                    other.priority += 1
            self._least_priority += 1
        return area

    def withdraw(self, swap_type: int) -> None:
        """del_from_avail_list: no new slot comes from this area (swapoff is emptying it)."""
        if swap_type in self._avail:
            self._avail.remove(swap_type)

    def restore(self, swap_type: int) -> None:
        """reinsert_swap_info: a failed swapoff makes the area available again."""
        if swap_type not in self._avail:
            self._enqueue(swap_type)

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


class SwapAreas(SwapInfo[SwapDevice]):
    """The kernel's swap_info[]: SwapDevice areas, and the swap_slots cache's current run."""

    def __init__(self) -> None:
        super().__init__()
        self._batch_type: int | None = None
        self._batch_left = 0
        # The I/O errors of areas swapoff has freed, so the totals never go back.
        self._retired_write_errors = 0
        self._retired_read_errors = 0

    def remove(self, swap_type: int) -> SwapDevice:
        area = super().remove(swap_type)
        self._retired_write_errors += area.nr_write_errors
        self._retired_read_errors += area.nr_read_errors
        return area

    def io_errors(self) -> tuple[int, int]:
        """(writes, reads) that failed, came back short or failed their checksum, on every
        area since boot, those swapped off included."""
        areas = self.areas()
        return (
            self._retired_write_errors + sum(area.nr_write_errors for area in areas),
            self._retired_read_errors + sum(area.nr_read_errors for area in areas),
        )

    def swp_swap_info(self, entry: int) -> SwapDevice:
        """swp_swap_info: the area a swap entry names.

        Raises:
            KernelBug: no active area has the entry's type.
        """
        area = self._by_type.get(swp_type(entry))
        if area is None:
            raise KernelBug(f"swap entry {entry:#x} names no active swap area")
        return area

    def swap_free(self, entry: int) -> int:
        """swap_free: drop one reference on the slot *entry* names; returns those left."""
        return self.swp_swap_info(entry).free_slot(swp_offset(entry))

    def swap_count(self, entry: int) -> int:
        """__swap_count: the references (PTEs, the swap cache) on the slot *entry* names."""
        return int(self.swp_swap_info(entry).swap_map.item(swp_offset(entry)))

    def swap_duplicate(self, entry: int) -> None:
        """swap_duplicate: one more PTE holds the slot *entry* names."""
        self.swp_swap_info(entry).duplicate(swp_offset(entry))

    @property
    def nr_swap_pages(self) -> int:
        """total_swap_pages: usable slots of every area (SwapTotal)."""
        return sum(area.nr_usable_slots for area in self.areas())

    @property
    def nr_free_swap_pages(self) -> int:
        """get_nr_swap_pages: free slots of the areas new slots may come from (SwapFree)."""
        return sum(area.nr_free_slots for area in self.available())

    def available(self) -> list[SwapDevice]:
        """The areas on swap_avail_head (all but one swapoff is emptying)."""
        return [self.area(swap_type) for swap_type in self._avail]

    def get_swap_area(self) -> SwapDevice | None:
        """The area the next slot comes from (get_swap_pages behind the swap_slots cache):
        SWAP_BATCH slots in a row from one area, then the first of the highest priority
        with free slots, which plist_requeue moves behind its equals (round-robin). None
        when no available area has a free slot."""
        current = self._batch_type
        if (
            current is not None
            and self._batch_left > 0
            and current in self._avail
            and self.area(current).nr_free_slots > 0
        ):
            self._batch_left -= 1
            return self.area(current)
        usable = {t for t in self._avail if self.area(t).nr_free_slots > 0}
        picked = self.pick(usable)
        self._batch_type = picked
        if picked is None:
            return None
        self._batch_left = SWAP_BATCH - 1
        return self.area(picked)

    def by_path(self, path: str) -> SwapDevice | None:
        """The active area /proc/swaps shows under *path* (as written there, with its
        blanks escaped, or as the file's name itself)."""
        for area in self.areas():
            if path in (area.path, mangle_path(area.path)):
                return area
        return None

    def close_all(self) -> None:
        """Close every area's file (shutdown: an anonymous file is gone with it)."""
        for area in self.areas():
            area.close()
