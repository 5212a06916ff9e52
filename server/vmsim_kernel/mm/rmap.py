"""Reverse mapping: from a frame to every PTE that maps it.

Models mm/rmap.c (page_add_anon_rmap, page_remove_rmap, page_referenced, try_to_unmap).
Each mapping is remembered with the ram32 index of its PTE so reclaim can test the
accessed bit and install a swap entry without walking page tables again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.pgtable import PTE_ACCESSED, PTE_DIRTY, PTE_RW
from vmsim_kernel.errors import KernelBug

if TYPE_CHECKING:
    from .vma import MmStruct

__all__ = ["Mapping", "ReverseMap"]

_ACCESSED = PTE_ACCESSED
_DIRTY = PTE_DIRTY
_RW = PTE_RW


class Mapping(NamedTuple):
    """One PTE mapping a frame (a named tuple: a batch of faults builds thousands)."""

    mm: MmStruct
    address: int
    pte_word: int  # index of the PTE in ram32


class ReverseMap:
    """pfn -> mappings; the page's mapcount is the number of its mappings.

    A page mapped once (nearly every anonymous page) keeps its one mapping in three numpy
    arrays indexed by pfn, as Linux keeps page->mapping and page->index in struct page: a
    batch of new pages is then a few array stores instead of an object and a list per page.
    A page mapped more than once keeps a list of Mapping objects. The mm of a sole mapping
    is stored as its page directory's pfn, unique among live address spaces, and an
    address space unmaps all its pages before its directory is freed and reused.
    """

    def __init__(self, ram32: npt.NDArray[np.uint32], mapcount: npt.NDArray[np.int32]) -> None:
        self._ram32 = ram32
        self._mapcount = mapcount
        self._mappings: dict[int, list[Mapping]] = {}  # pages mapped twice or more
        nr_frames = len(mapcount)
        self._sole_word: npt.NDArray[np.int64] = np.full(nr_frames, -1, dtype=np.int64)
        self._sole_address: npt.NDArray[np.int64] = np.zeros(nr_frames, dtype=np.int64)
        self._sole_pgd: npt.NDArray[np.int64] = np.zeros(nr_frames, dtype=np.int64)
        self._mm_of_pgd: dict[int, MmStruct] = {}
        self._nr_sole = 0

    def _sole(self, pfn: int) -> Mapping | None:
        word = self._sole_word.item(pfn)
        if word < 0:
            return None
        return Mapping(
            self._mm_of_pgd[self._sole_pgd.item(pfn)], self._sole_address.item(pfn), word
        )

    def _set_sole(self, pfn: int, mm: MmStruct, address: int, pte_word: int) -> None:
        self._mm_of_pgd[mm.pgd_pfn] = mm
        self._sole_word[pfn] = pte_word
        self._sole_address[pfn] = address
        self._sole_pgd[pfn] = mm.pgd_pfn
        self._nr_sole += 1

    def add(self, pfn: int, mm: MmStruct, address: int, pte_word: int) -> None:
        """page_add_anon_rmap: *pfn* is now mapped at *address* in *mm*."""
        if self._mapcount.item(pfn) == 0:  # the common case: a page's first mapping
            self._set_sole(pfn, mm, address, pte_word)
            self._mapcount[pfn] = 1
            return
        shared = self._mappings.get(pfn)
        if shared is not None:
            shared.append(Mapping(mm, address, pte_word))
        else:
            sole = self._sole(pfn)
            if sole is None:
                self._set_sole(pfn, mm, address, pte_word)
            else:  # a second mapping: the page moves to the list form
                self._sole_word[pfn] = -1
                self._nr_sole -= 1
                self._mappings[pfn] = [sole, Mapping(mm, address, pte_word)]
        self._mapcount[pfn] += 1

    def add_new_pages(
        self,
        pfns: npt.NDArray[np.int64],
        mm: MmStruct,
        addresses: npt.NDArray[np.int64],
        pte_words: npt.NDArray[np.int64],
    ) -> None:
        """add() for a batch of distinct pages that nothing maps yet (fresh from the
        allocator): page i at addresses[i] through the PTE at pte_words[i] (distinct PTEs).

        Raises:
            KernelBug: one of the pages is mapped already, or appears twice in the batch.
        """
        if np.any(self._mapcount[pfns]):
            raise KernelBug("a page of a batch of new mappings is mapped already")
        self._sole_word[pfns] = pte_words
        # A page given twice keeps only its last PTE: the earlier one then reads back wrong.
        if not np.array_equal(self._sole_word[pfns], pte_words):
            raise KernelBug("a page of a batch of new mappings appears twice in it")
        self._mm_of_pgd[mm.pgd_pfn] = mm
        self._sole_address[pfns] = addresses
        self._sole_pgd[pfns] = mm.pgd_pfn
        self._nr_sole += len(pfns)
        self._mapcount[pfns] += 1

    def remove(self, pfn: int, mm: MmStruct, address: int) -> int:
        """page_remove_rmap: drop one mapping; return how many remain."""
        if self._sole_word.item(pfn) >= 0:
            if self._sole_pgd.item(pfn) != mm.pgd_pfn or self._sole_address.item(pfn) != address:
                raise KernelBug(f"pfn {pfn} is not mapped at {address:#x}")
            self._sole_word[pfn] = -1
            self._nr_sole -= 1
            self._mapcount[pfn] -= 1
            return 0
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

    def move(
        self,
        pfns: npt.NDArray[np.int64],
        mm: MmStruct,
        old_addresses: npt.NDArray[np.int64],
        new_addresses: npt.NDArray[np.int64],
        new_words: npt.NDArray[np.int64],
    ) -> None:
        """move_ptes' side of the reverse map: page i, mapped in *mm* at old_addresses[i],
        is now mapped at new_addresses[i] through the PTE at new_words[i] (the mapcount
        stays). Sole mappings move with three array stores; shared ones one by one.

        Raises:
            KernelBug: a page is not mapped in *mm* at its old address.
        """
        sole = self._sole_word[pfns] >= 0
        sole_pfns = pfns[sole]
        if not (
            np.all(self._sole_pgd[sole_pfns] == mm.pgd_pfn)
            and np.array_equal(self._sole_address[sole_pfns], old_addresses[sole])
        ):
            raise KernelBug("a page moved by mremap is not mapped where its PTE was")
        self._sole_address[sole_pfns] = new_addresses[sole]
        self._sole_word[sole_pfns] = new_words[sole]
        for i in np.flatnonzero(~sole).tolist():
            pfn, old_address = int(pfns[i]), int(old_addresses[i])
            mappings = self._mappings.get(pfn, [])
            for k, mapping in enumerate(mappings):
                if mapping.mm is mm and mapping.address == old_address:
                    mappings[k] = Mapping(mm, int(new_addresses[i]), int(new_words[i]))
                    break
            else:
                raise KernelBug(f"pfn {pfn} is not mapped at {old_address:#x}")

    def sole_mapped_by(
        self, pfns: npt.NDArray[np.int64], pte_words: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Which of *pfns* are mapped once, by the PTE at the same place of *pte_words*."""
        sole: npt.NDArray[np.bool_] = (self._sole_word[pfns] == pte_words) & (
            self._mapcount[pfns] == 1
        )
        return sole

    def remove_sole(self, pfns: npt.NDArray[np.int64]) -> None:
        """remove() for a batch of distinct pages each mapped once (sole_mapped_by), by the
        PTEs being cleared: three array stores."""
        self._sole_word[pfns] = -1
        self._nr_sole -= len(pfns)
        self._mapcount[pfns] -= 1

    def mappings(self, pfn: int) -> list[Mapping]:
        """Every mapping of *pfn* (a copy)."""
        sole = self._sole(pfn)
        if sole is not None:
            return [sole]
        return list(self._mappings.get(pfn, ()))

    def _pte_words(self, pfn: int) -> list[int]:
        word = self._sole_word.item(pfn)
        if word >= 0:
            return [word]
        return [mapping.pte_word for mapping in self._mappings.get(pfn, ())]

    def is_mapped(self, pfn: int) -> bool:
        """Whether any PTE maps *pfn*."""
        return self._sole_word.item(pfn) >= 0 or pfn in self._mappings

    def page_referenced(self, pfn: int) -> bool:
        """Test and clear the accessed bit in every PTE mapping *pfn* (page_referenced)."""
        return self._test_and_clear(pfn, _ACCESSED)

    def test_and_clear_dirty(self, pfn: int) -> bool:
        """Collect the hardware dirty bits of every mapping into one answer (page_mkclean)."""
        return self._test_and_clear(pfn, _DIRTY)

    def write_protect(self, pfn: int) -> None:
        """Clear R/W in every PTE mapping *pfn* (folio_mkclean's page_mkclean_one): the next
        write through any of them faults."""
        ram32 = self._ram32
        for word in self._pte_words(pfn):
            ram32[word] = ram32.item(word) & ~_RW

    def _test_and_clear(self, pfn: int, bit: int) -> bool:
        """Whether *bit* was set in any PTE mapping *pfn*; it is clear in all of them after."""
        ram32 = self._ram32
        sole_word = self._sole_word.item(pfn)
        if sole_word >= 0:  # the common case, without building a list
            pte = ram32.item(sole_word)
            if not pte & bit:
                return False
            ram32[sole_word] = pte & ~bit
            return True
        found = False
        for word in self._pte_words(pfn):
            pte = ram32.item(word)
            if pte & bit:
                found = True
                ram32[word] = pte & ~bit
        return found

    def nr_mapped_pages(self) -> int:
        """Frames with at least one mapping."""
        return len(self._mappings) + self._nr_sole

    def items(self) -> list[tuple[int, list[Mapping]]]:
        """(pfn, mappings) pairs, for invariant checks."""
        shared = [(pfn, list(m)) for pfn, m in self._mappings.items()]
        sole = [(pfn, self.mappings(pfn)) for pfn in np.flatnonzero(self._sole_word >= 0).tolist()]
        return shared + sole
