"""Address spaces: the VMA list of a process and the search for free ranges.

Models include/linux/mm_types.h (mm_struct, vm_area_struct) and the VMA bookkeeping of
mm/mmap.c (find_vma, vma_merge, __split_vma, get_unmapped_area top-down, brk).
Page-table work for a range lives in memory.py; this module never touches frames.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import (
    MMAP_MIN_ADDR,
    PAGE_SIZE,
    STACK_GUARD_GAP,
    STACK_RLIMIT,
    STACK_TOP,
    TASK_SIZE,
    MiB,
    Prot,
)
from vmsim_kernel.errors import KernelBug

from .physmem import PageFlag

if TYPE_CHECKING:
    from vmsim_kernel.fs.vfs import OpenFile

    from .shmem import ShmemObject

__all__ = ["MmStruct", "Vma", "VmaKind"]

_SWAPBACKED_BIT: Final = int(PageFlag.SWAPBACKED)
_ANON_BIT: Final = int(PageFlag.ANON)

# mm/util.c mmap_base(): the gap below the stack is the stack rlimit, at least 128 MiB.
MIN_STACK_GAP = 128 * MiB
INITIAL_STACK_SIZE = 33 * PAGE_SIZE  # a fresh process's [stack] VMA is 132 kB, as on Linux
START_BRK = 0x0804A000  # just above where a small ELF's text and data would end


class VmaKind:
    """What a VMA is, as /proc/<pid>/maps names it."""

    ANON = ""
    HEAP = "[heap]"
    STACK = "[stack]"
    SHARED_ANON = "/dev/zero (deleted)"


@dataclass(frozen=True)
class Vma:
    """One vm_area_struct: [start, end) with one protection and kind.

    Attributes:
        start: first byte, page aligned.
        end: one past the last byte, page aligned.
        prot: PROT_* bits.
        shared: MAP_SHARED (shmem-backed on Linux; here it is anonymous memory reported as such).
        kind: VmaKind name shown in maps.
        accounted: VM_ACCOUNT: its pages count towards Committed_AS.
        grows_down: VM_GROWSDOWN (the stack).
        shmem: the shared memory object a MAP_SHARED mapping maps (vm_file), else None.
        shmem_base: the address of the object's (or file's) page 0 in this mapping
            (vm_start less vm_pgoff pages), kept as the VMA is split, so page va is index
            (va - shmem_base) // PAGE_SIZE.
        locked: VM_LOCKED (mlock): its pages stay in RAM.
        file: the open file a file mapping maps (vm_file), MAP_SHARED or MAP_PRIVATE;
            its pages are the file's page cache pages (private writes copy them).
    """

    start: int
    end: int
    prot: Prot
    shared: bool = False
    kind: str = VmaKind.ANON
    accounted: bool = False
    grows_down: bool = False
    shmem: ShmemObject | None = None
    shmem_base: int = 0
    locked: bool = False
    file: OpenFile | None = None

    def shmem_index(self, va: int) -> int:
        """The object's page index that *va* maps (linear_page_index)."""
        return (va - self.shmem_base) // PAGE_SIZE

    @property
    def nr_pages(self) -> int:
        """Pages the VMA spans."""
        return (self.end - self.start) // PAGE_SIZE

    @property
    def perms(self) -> str:
        """The maps permission column, e.g. "rw-p"."""
        return (
            ("r" if self.prot & Prot.READ else "-")
            + ("w" if self.prot & Prot.WRITE else "-")
            + ("x" if self.prot & Prot.EXEC else "-")
            + ("s" if self.shared else "p")
        )

    @property
    def writable(self) -> bool:
        """Whether user writes are allowed."""
        return bool(self.prot & Prot.WRITE)

    @property
    def accessible(self) -> bool:
        """Whether any user access is allowed (not PROT_NONE); x86 cannot have write-only."""
        return self.prot != Prot.NONE

    def mergeable_with(self, other: Vma) -> bool:
        """Whether *other*, adjacent after self, can be one VMA (vma_merge's is_mergeable_vma)."""
        return (
            self.end == other.start
            and self.prot == other.prot
            and self.shared == other.shared
            and self.kind == other.kind
            and self.accounted == other.accounted
            and self.grows_down == other.grows_down
            and self.shmem is other.shmem
            and self.file is other.file
            and self.shmem_base == other.shmem_base
            and self.locked == other.locked
        )


def needs_accounting(prot: Prot, shared: bool, noreserve: bool) -> bool:
    """VM_ACCOUNT rule of mmap_region(): private writable or shared mappings commit memory."""
    if noreserve:
        return False
    return shared or bool(prot & Prot.WRITE)


class MmStruct:
    """A process address space: VMAs sorted by start, the page directory and the counters."""

    def __init__(self, pgd_pfn: int) -> None:
        self.pgd_pfn = pgd_pfn
        self._vmas: list[Vma] = []
        self._starts: list[int] = []
        self.mmap_base = STACK_TOP - max(STACK_RLIMIT + STACK_GUARD_GAP, MIN_STACK_GAP)
        self.start_brk = START_BRK
        self.brk = START_BRK
        self.rss_anon = 0  # MM_ANONPAGES: resident pages of private mappings
        self.rss_shmem = 0  # MM_SHMEMPAGES: resident pages of MAP_SHARED mappings (shmem)
        self.rss_file = 0  # MM_FILEPAGES: page cache pages mapped from files
        self.swap_entries = 0  # MM_SWAPENTS: PTEs holding swap entries
        self.nr_ptes = 0  # page-table pages (VmPTE)
        self.hiwater_rss = 0
        self.hiwater_vm = 0
        self.committed_pages = 0  # this mm's share of Committed_AS

    @property
    def rss(self) -> int:
        """get_mm_rss: every resident page (VmRSS, the OOM killer's points)."""
        return self.rss_anon + self.rss_shmem + self.rss_file

    def count_resident_page(self, page_flags: int, delta: int) -> None:
        """add_mm_counter for the counter of a page with *page_flags* (mm_counter): anon,
        shmem (swap-backed, not anon) or file (neither)."""
        if not page_flags & _SWAPBACKED_BIT:
            self.rss_file += delta
            if delta > 0 and self.rss > self.hiwater_rss:
                self.hiwater_rss = self.rss
            return
        self.count_resident(not page_flags & _ANON_BIT, delta)

    def count_resident(self, shmem: bool, delta: int) -> None:
        """add_mm_counter for MM_SHMEMPAGES or MM_ANONPAGES; keeps VmHWM."""
        if shmem:
            self.rss_shmem += delta
        else:
            self.rss_anon += delta
        if delta > 0 and self.rss > self.hiwater_rss:
            self.hiwater_rss = self.rss

    # ---- lookup -------------------------------------------------------------
    def __iter__(self) -> Iterator[Vma]:
        return iter(list(self._vmas))

    def __len__(self) -> int:
        return len(self._vmas)

    def find_vma(self, addr: int) -> Vma | None:
        """The VMA containing *addr*, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            vma = self._vmas[i]
            if addr < vma.end:
                return vma
        return None

    def next_vma_after(self, addr: int) -> Vma | None:
        """The first VMA starting at or after *addr*."""
        i = bisect.bisect_left(self._starts, addr)
        return self._vmas[i] if i < len(self._vmas) else None

    def prev_vma_before(self, addr: int) -> Vma | None:
        """The last VMA ending at or before *addr*."""
        i = bisect.bisect_left(self._starts, addr) - 1
        while i >= 0:
            if self._vmas[i].end <= addr:
                return self._vmas[i]
            i -= 1
        return None

    def overlapping(self, start: int, end: int) -> list[Vma]:
        """VMAs intersecting [start, end), in address order."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        found = []
        while i < len(self._vmas) and self._vmas[i].start < end:
            if self._vmas[i].end > start:
                found.append(self._vmas[i])
            i += 1
        return found

    def vmas_from(self, addr: int, count: int) -> list[Vma]:
        """Up to *count* VMAs in address order from the first one ending above *addr* (where
        a read of /proc/<pid>/maps resumes, as seq_file's m_start does)."""
        i = max(bisect.bisect_right(self._starts, addr) - 1, 0)
        if i < len(self._vmas) and self._vmas[i].end <= addr:
            i += 1
        return self._vmas[i : i + count]

    def is_fully_mapped(self, start: int, end: int) -> bool:
        """Whether every page of [start, end) is in some VMA."""
        cursor = start
        for vma in self.overlapping(start, end):
            if vma.start > cursor:
                return False
            cursor = vma.end
        return cursor >= end

    @property
    def total_vm_pages(self) -> int:
        """VmSize in pages."""
        return sum(vma.nr_pages for vma in self._vmas)

    def stack_vma(self) -> Vma | None:
        """The [stack] VMA, if any."""
        for vma in reversed(self._vmas):
            if vma.grows_down:
                return vma
        return None

    # ---- changes ------------------------------------------------------------
    def insert(self, vma: Vma) -> None:
        """Add *vma*, merging with compatible neighbours; KernelBug on overlap."""
        if self.overlapping(vma.start, vma.end):
            raise KernelBug(f"vma {vma.start:#x}-{vma.end:#x} overlaps an existing one")
        i = bisect.bisect_left(self._starts, vma.start)
        self._vmas.insert(i, vma)
        self._starts.insert(i, vma.start)
        self._merge_around(i)
        self.hiwater_vm = max(self.hiwater_vm, self.total_vm_pages)

    def remove_range(self, start: int, end: int) -> list[Vma]:
        """Cut [start, end) out of the VMA list, splitting VMAs at the edges; return the removed pieces."""
        removed: list[Vma] = []
        for vma in self.overlapping(start, end):
            i = self._index_of(vma)
            del self._vmas[i]
            del self._starts[i]
            keep = []
            if vma.start < start:
                keep.append(replace(vma, end=start))
            if vma.end > end:
                keep.append(replace(vma, start=end))
            removed.append(replace(vma, start=max(vma.start, start), end=min(vma.end, end)))
            for piece in keep:
                j = bisect.bisect_left(self._starts, piece.start)
                self._vmas.insert(j, piece)
                self._starts.insert(j, piece.start)
        return removed

    def replace_range(self, start: int, end: int, pieces: list[Vma]) -> None:
        """Replace the VMAs covering [start, end) by *pieces* (mprotect), merging where possible."""
        self.remove_range(start, end)
        for piece in pieces:
            i = bisect.bisect_left(self._starts, piece.start)
            self._vmas.insert(i, piece)
            self._starts.insert(i, piece.start)
        for piece in pieces:
            found = self.find_vma(piece.start)
            if found is not None:
                self._merge_around(self._index_of(found))

    def _index_of(self, vma: Vma) -> int:
        i = bisect.bisect_left(self._starts, vma.start)
        if i >= len(self._vmas) or self._vmas[i] != vma:
            raise KernelBug(f"vma {vma.start:#x} not in the list")
        return i

    def _merge_around(self, i: int) -> None:
        if i + 1 < len(self._vmas) and self._vmas[i].mergeable_with(self._vmas[i + 1]):
            self._vmas[i] = replace(self._vmas[i], end=self._vmas[i + 1].end)
            del self._vmas[i + 1]
            del self._starts[i + 1]
        if i > 0 and self._vmas[i - 1].mergeable_with(self._vmas[i]):
            self._vmas[i - 1] = replace(self._vmas[i - 1], end=self._vmas[i].end)
            del self._vmas[i]
            del self._starts[i]

    # ---- placement ----------------------------------------------------------
    def range_is_free(self, start: int, end: int) -> bool:
        """Whether [start, end) is inside user space, above mmap_min_addr and free of VMAs."""
        return MMAP_MIN_ADDR <= start < end <= TASK_SIZE and not self.overlapping(start, end)

    def get_unmapped_area(self, length: int, hint: int) -> int | None:
        """Pick a start for *length* bytes: the hint if free, else top-down below mmap_base.

        Models arch_get_unmapped_area_topdown(): the highest gap below mmap_base that fits,
        keeping the stack guard gap below a grows-down VMA; None when nothing fits.
        """
        if hint:
            hint &= ~(PAGE_SIZE - 1)
            if self.range_is_free(hint, hint + length) and self._clear_of_stack_gap(hint + length):
                return hint
        ceiling = self.mmap_base
        for vma in reversed(self._vmas):
            if vma.start >= ceiling:
                continue
            gap_start = vma.end
            if gap_start + length <= ceiling:
                return ceiling - length
            ceiling = vma.start - (STACK_GUARD_GAP if vma.grows_down else 0)
        if ceiling - length >= MMAP_MIN_ADDR:
            return ceiling - length
        # Nothing below mmap_base: search upwards above it, as the bottom-up fallback does.
        floor = self.mmap_base
        for vma in self._vmas:
            if vma.end <= floor:
                continue
            limit = vma.start - (STACK_GUARD_GAP if vma.grows_down else 0)
            if floor + length <= limit:
                return floor
            floor = max(floor, vma.end)
        return floor if floor + length <= TASK_SIZE else None

    def _clear_of_stack_gap(self, end: int) -> bool:
        following = self.next_vma_after(end)
        return (
            following is None
            or not following.grows_down
            or end + STACK_GUARD_GAP <= following.start
        )
