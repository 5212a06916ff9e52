"""Reverse mapping: from a frame to every PTE that maps it.

Models mm/rmap.c (page_add_anon_rmap, page_remove_rmap, page_referenced, try_to_unmap).
Each mapping is remembered with the ram32 index of its PTE so reclaim can test the
accessed bit and install a swap entry without walking page tables again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from .errors import KernelBug
from .pgtable import PTE_ACCESSED, PTE_DIRTY

if TYPE_CHECKING:
    from .mm import MmStruct

__all__ = ["Mapping", "ReverseMap"]

_ACCESSED = PTE_ACCESSED
_DIRTY = PTE_DIRTY


class Mapping(NamedTuple):
    """One PTE mapping a frame (a named tuple: a batch of faults builds thousands)."""

    mm: MmStruct
    address: int
    pte_word: int  # index of the PTE in ram32


class ReverseMap:
    """pfn -> mappings; the page's mapcount is the length of its list."""

    def __init__(self, ram32: npt.NDArray[np.uint32], mapcount: npt.NDArray[np.int32]) -> None:
        self._ram32 = ram32
        self._mapcount = mapcount
        self._mappings: dict[int, list[Mapping]] = {}

    def add(self, pfn: int, mm: MmStruct, address: int, pte_word: int) -> None:
        """page_add_anon_rmap: *pfn* is now mapped at *address* in *mm*."""
        self._mappings.setdefault(pfn, []).append(Mapping(mm, address, pte_word))
        self._mapcount[pfn] += 1

    def add_new_pages(
        self,
        pfns: npt.NDArray[np.int64],
        mm: MmStruct,
        addresses: npt.NDArray[np.int64],
        pte_words: npt.NDArray[np.int64],
    ) -> None:
        """add() for a batch of pages that nothing maps yet (fresh from the allocator):
        one mapping each, page i at addresses[i] through the PTE at pte_words[i].

        Raises:
            KernelBug: one of the pages is mapped already.
        """
        mappings = self._mappings
        before = len(mappings)
        mappings.update(
            (pfn, [Mapping(mm, address, word)])
            for pfn, address, word in zip(
                pfns.tolist(), addresses.tolist(), pte_words.tolist(), strict=True
            )
        )
        if len(mappings) != before + len(pfns):
            raise KernelBug("a page of a batch of new mappings was mapped already")
        self._mapcount[pfns] += 1

    def remove(self, pfn: int, mm: MmStruct, address: int) -> int:
        """page_remove_rmap: drop one mapping; return how many remain."""
        mappings = self._mappings.get(pfn)
        if not mappings:
            raise KernelBug(f"pfn {pfn} has no reverse mapping to remove")
        for i, mapping in enumerate(mappings):
            if mapping.mm is mm and mapping.address == address:
                del mappings[i]
                break
        else:
            raise KernelBug(f"pfn {pfn} is not mapped at {address:#x}")
        self._mapcount[pfn] -= 1
        if not mappings:
            del self._mappings[pfn]
        return len(mappings)

    def mappings(self, pfn: int) -> list[Mapping]:
        """Every mapping of *pfn* (a copy)."""
        return list(self._mappings.get(pfn, ()))

    def is_mapped(self, pfn: int) -> bool:
        """Whether any PTE maps *pfn*."""
        return pfn in self._mappings

    def page_referenced(self, pfn: int) -> bool:
        """Test and clear the accessed bit in every PTE mapping *pfn* (page_referenced)."""
        referenced = False
        ram32 = self._ram32
        for mapping in self._mappings.get(pfn, ()):
            pte = int(ram32[mapping.pte_word])
            if pte & _ACCESSED:
                referenced = True
                ram32[mapping.pte_word] = pte & ~_ACCESSED
        return referenced

    def test_and_clear_dirty(self, pfn: int) -> bool:
        """Collect the hardware dirty bits of every mapping into one answer (page_mkclean)."""
        dirty = False
        ram32 = self._ram32
        for mapping in self._mappings.get(pfn, ()):
            pte = int(ram32[mapping.pte_word])
            if pte & _DIRTY:
                dirty = True
                ram32[mapping.pte_word] = pte & ~_DIRTY
        return dirty

    def nr_mapped_pages(self) -> int:
        """Frames with at least one mapping."""
        return len(self._mappings)

    def items(self) -> list[tuple[int, list[Mapping]]]:
        """(pfn, mappings) pairs, for invariant checks."""
        return [(pfn, list(m)) for pfn, m in self._mappings.items()]
