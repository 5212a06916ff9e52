"""vmalloc/vfree: virtually contiguous kernel areas backed by scattered single pages.

Models mm/vmalloc.c (alloc_vmap_area's first fit, __vmalloc_area_node, vmap_pte_range,
vunmap, /proc/vmallocinfo) on the i386 layout: areas live in [VMALLOC_START, VMALLOC_END),
each followed by one unmapped guard page, which vm_struct->size includes as Linux's does.

Backing pages are order-0 pages from GFP_KERNEL | __GFP_HIGHMEM, i.e. the HIGHUSER zonelist
(HIGHMEM, then NORMAL, then DMA), reclaiming if needed. The page tables made for an area stay
when it is freed, like Linux's kernel page tables. Unlike Linux, a freed range is reusable at
once (no lazy purge of vmap areas), so the free gaps shown are exact.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VMALLOC_END,
    Gfp,
    PageTableBit,
    page_align_up,
    vmalloc_start,
)
from vmsim_kernel.arch.x86.pgtable import make_entry
from vmsim_kernel.errors import InvalidArgument, KernelBug, KernelError, OutOfMemory
from vmsim_kernel.results import Translation

from .highmem import KERNEL_PTE_BITS, check_owner, kernel_pte_word, kernel_walk
from .page_alloc import alloc_page
from .physmem import PageFlag
from .slab import free_kernel_pages

if TYPE_CHECKING:
    from .highmem import InitMm

__all__ = ["VMALLOC_CALLER", "VmallocArea", "VmallocSpace"]

VMALLOC_CALLER: Final = "vmsim_vmalloc"  # the caller /proc/vmallocinfo names by default
GUARD_SIZE: Final = PAGE_SIZE


@dataclass(frozen=True)
class VmallocArea:
    """One vmalloc area (struct vm_struct): *size* includes the trailing guard page."""

    addr: int
    size: int
    pages: tuple[int, ...]  # the backing pfns, in virtual order
    owner: int
    caller: str

    @property
    def end(self) -> int:
        """One past the guard page."""
        return self.addr + self.size

    @property
    def nr_pages(self) -> int:
        """Pages mapped (the guard page is not)."""
        return len(self.pages)


class VmallocSpace:
    """The vmalloc area of the kernel address space and its allocations.

    Attributes:
        start: VMALLOC_START for this machine (high_memory + 8 MiB).
        end: VMALLOC_END.
        nr_vmalloc_pages: pages backing live areas (VmallocUsed / PAGE_SIZE).
    """

    def __init__(self, init_mm: InitMm) -> None:
        self.init_mm = init_mm
        self.start = vmalloc_start(init_mm.nr_lowmem_frames)
        self.end = VMALLOC_END
        self._starts: list[int] = []  # area addresses, sorted (the vmap_area rbtree)
        self._areas: dict[int, VmallocArea] = {}
        self.nr_vmalloc_pages = 0

    # ---- vmalloc ---------------------------------------------------------------------------
    def vmalloc(
        self, size: int, owner: int = 0, caller: str = VMALLOC_CALLER, *, zero: bool = False
    ) -> int:
        """vmalloc(size) (vzalloc with *zero*): a virtually contiguous kernel area.

        Returns:
            The area's start address.

        Raises:
            InvalidArgument: *size* is not positive or larger than the whole vmalloc area.
            OutOfMemory: no gap of the size plus a guard page is left (fragmentation), or no
                page could be allocated; nothing is left allocated then.
        """
        capacity = self.end - self.start - GUARD_SIZE
        if not 0 < size <= capacity:
            raise InvalidArgument("size", f"{size} bytes", f"1 .. {capacity}")
        nr_pages = page_align_up(size) >> PAGE_SHIFT
        area_size = (nr_pages << PAGE_SHIFT) + GUARD_SIZE
        addr = self._find_gap(area_size)
        if addr is None:
            raise OutOfMemory(
                f"vmap allocation for size {area_size} failed: the vmalloc area is too "
                f"fragmented or full (largest free chunk {self.largest_free_chunk} bytes)"
            )
        pages = self._alloc_and_map(addr, nr_pages)
        area = VmallocArea(addr, area_size, tuple(pages), owner, caller)
        bisect.insort(self._starts, addr)
        self._areas[addr] = area
        self.nr_vmalloc_pages += nr_pages
        if zero:
            for pfn in pages:
                self.init_mm.physmem.zero_frame(pfn)
        return addr

    def _find_gap(self, area_size: int) -> int | None:
        """alloc_vmap_area: the lowest gap of *area_size* bytes (first fit)."""
        candidate = self.start
        for start in self._starts:
            if start - candidate >= area_size:
                return candidate
            candidate = self._areas[start].end
        return candidate if self.end - candidate >= area_size else None

    def _alloc_and_map(self, addr: int, nr_pages: int) -> list[int]:
        """__vmalloc_area_node: allocate the pages one by one, then map them; undo on failure."""
        init_mm = self.init_mm
        pages: list[int] = []
        try:
            for _ in range(nr_pages):
                pfn = alloc_page(init_mm.pgdat, Gfp.HIGHUSER, None)
                init_mm.physmem.set_flags(pfn, PageFlag.VMALLOC)
                pages.append(pfn)
            for index, pfn in enumerate(pages):
                word = kernel_pte_word(init_mm, addr + (index << PAGE_SHIFT), allocate=True)
                assert word is not None
                init_mm.ram_words[word] = make_entry(pfn, KERNEL_PTE_BITS)
        except KernelError:
            self._unmap_and_free(addr, pages)
            raise
        return pages

    def _unmap_and_free(self, addr: int, pages: list[int] | tuple[int, ...]) -> None:
        """vunmap the range (its page tables stay) and give the pages back."""
        init_mm = self.init_mm
        for index, pfn in enumerate(pages):
            word = kernel_pte_word(init_mm, addr + (index << PAGE_SHIFT), allocate=False)
            if word is not None and init_mm.ram_words[word] >> PAGE_SHIFT == pfn:
                init_mm.ram_words[word] = 0
            free_kernel_pages(init_mm.pgdat, pfn, 0)

    # ---- vfree -------------------------------------------------------------------------------
    def vfree(self, addr: int, owner: int | None = None) -> None:
        """vfree(addr): unmap and free the area starting at *addr*; vfree(0) does nothing.

        Args:
            addr: the address vmalloc returned.
            owner: when given, the area must belong to it.

        Raises:
            InvalidArgument: *addr* is not the start of a live area.
            PermissionDenied: the area belongs to another owner.
        """
        if addr == 0:
            return
        area = self._areas.get(addr)
        if area is None:
            inside = self.area_containing(addr)
            hint = f" (it is inside the area at 0x{inside.addr:08x})" if inside else ""
            raise InvalidArgument(
                "addr",
                f"Trying to vfree() nonexistent vm area (0x{addr:08x}){hint}",
                "the start of an area vmalloc returned, not yet freed",
            )
        check_owner("vmalloc area", area.owner, owner, addr)
        self._unmap_and_free(area.addr, area.pages)
        del self._areas[addr]
        self._starts.remove(addr)
        self.nr_vmalloc_pages -= area.nr_pages

    def release_owner(self, owner: int) -> int:
        """vfree every area *owner* holds (its session ended); return how many."""
        mine = [addr for addr in self._starts if self._areas[addr].owner == owner]
        for addr in mine:
            self.vfree(addr)
        return len(mine)

    # ---- queries ---------------------------------------------------------------------------------
    def areas(self, owner: int | None = None) -> list[VmallocArea]:
        """Live areas (of *owner*, or all), by address."""
        return [
            self._areas[addr]
            for addr in self._starts
            if owner is None or self._areas[addr].owner == owner
        ]

    def area_containing(self, addr: int) -> VmallocArea | None:
        """The area whose range (guard page included) holds *addr*."""
        position = bisect.bisect_right(self._starts, addr) - 1
        if position < 0:
            return None
        area = self._areas[self._starts[position]]
        return area if addr < area.end else None

    def free_chunks(self) -> list[tuple[int, int]]:
        """The free [start, end) gaps of the vmalloc area, by address: its fragmentation."""
        chunks = []
        cursor = self.start
        for start in self._starts:
            if start > cursor:
                chunks.append((cursor, start))
            cursor = self._areas[start].end
        if self.end > cursor:
            chunks.append((cursor, self.end))
        return chunks

    @property
    def largest_free_chunk(self) -> int:
        """Bytes of the largest free gap (meminfo VmallocChunk)."""
        return max((end - start for start, end in self.free_chunks()), default=0)

    @property
    def used_bytes(self) -> int:
        """Bytes of pages backing live areas (meminfo VmallocUsed)."""
        return self.nr_vmalloc_pages * PAGE_SIZE

    @property
    def total_bytes(self) -> int:
        """Size of the vmalloc area (meminfo VmallocTotal)."""
        return self.end - self.start

    def vmallocinfo(self) -> str:
        """/proc/vmallocinfo: one line per area, by address."""
        lines = [
            f"0x{area.addr:08x}-0x{area.end:08x} {area.size:7d} {area.caller}+0x0/0x0 "
            f"pages={area.nr_pages} vmalloc"
            for area in self.areas()
        ]
        return "".join(line + "\n" for line in lines)

    def page_table_dump(self, addr: int, nr_pages: int) -> list[Translation]:
        """The kernel page walk of *nr_pages* pages from *addr*: shows each PTE, guard pages too.

        Raises:
            InvalidArgument: *nr_pages* is not 1 .. 1024.
        """
        if not 1 <= nr_pages <= 1024:
            raise InvalidArgument("nr_pages", f"{nr_pages}", "1 .. 1024")
        first = addr & ~(PAGE_SIZE - 1)
        return [kernel_walk(self.init_mm, first + (i << PAGE_SHIFT)) for i in range(nr_pages)]

    def check_invariants(self) -> None:
        """Raise KernelBug unless every area is mapped page by page and its guard is not."""
        init_mm = self.init_mm
        nr_pages = 0
        previous_end = self.start
        for addr in self._starts:
            area = self._areas[addr]
            if addr < previous_end or area.end > self.end:
                raise KernelBug(f"vmalloc area 0x{addr:08x} overlaps or leaves the vmalloc range")
            previous_end = area.end
            nr_pages += area.nr_pages
            for index, pfn in enumerate(area.pages):
                word = kernel_pte_word(init_mm, addr + (index << PAGE_SHIFT), allocate=False)
                pte = init_mm.ram_words[word] if word is not None else 0
                if pte >> PAGE_SHIFT != pfn or not pte & PageTableBit.PRESENT:
                    raise KernelBug(f"vmalloc page {index} of 0x{addr:08x} is not mapped to {pfn}")
                if not init_mm.physmem.test_flags(pfn, PageFlag.VMALLOC):
                    raise KernelBug(f"vmalloc page {pfn} is not flagged VMALLOC")
            guard = kernel_pte_word(init_mm, addr + area.size - GUARD_SIZE, allocate=False)
            if guard is not None and init_mm.ram_words[guard]:
                raise KernelBug(f"the guard page of vmalloc area 0x{addr:08x} is mapped")
        if nr_pages != self.nr_vmalloc_pages:
            raise KernelBug(f"areas hold {nr_pages} pages, counter {self.nr_vmalloc_pages}")
