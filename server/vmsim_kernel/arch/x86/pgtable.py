"""Two-level x86 (non-PAE) page tables stored in simulated physical memory.

Models arch/x86/include/asm/pgtable-2level.h, pgtable_types.h and the page walk of
arch/x86/mm/fault.c. A linear address splits as:

     31          22 21          12 11            0
    +--------------+--------------+--------------+
    |  PDE index   |  PTE index   |    offset    |
    +--------------+--------------+--------------+
    CR3 -> page directory (1024 x u32 PDE) -> page table (1024 x u32 PTE) -> 4 KiB frame

PDE/PTE: bits 31..12 frame number, then G(8) PS(7) D(6) A(5) PCD(4) PWT(3) U/S(2) R/W(1) P(0).
A non-present, non-zero PTE holds a swap entry (see swap.py). Entries are read and written
through `ram32`, the u32 view of simulated RAM, so a dump of a table frame shows real PTEs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.mm.swap import swp_offset, swp_type
from vmsim_kernel.results import Translation

from .constants import PAGE_SHIFT, PAGE_SIZE, PGDIR_SHIFT, PGDIR_SIZE, PTRS_PER_PTE, PageTableBit

__all__ = [
    "FRAME_MASK",
    "PDE_PSE",
    "PDE_USER_TABLE",
    "PSE_FRAME_MASK",
    "PTE_ACCESSED",
    "PTE_DIRTY",
    "PTE_MAPPED",
    "PTE_PRESENT",
    "PTE_PROTNONE",
    "PTE_RW",
    "PTE_USER",
    "make_entry",
    "pde_index",
    "pde_word",
    "pgd_entry_word",
    "pgd_words",
    "pte_index",
    "pte_word",
    "pte_word_or_none",
    "pte_words_many",
    "pte_words_of_table",
    "walk",
]

FRAME_MASK: Final = 0xFFFFF000
PSE_FRAME_MASK: Final = 0xFFC00000  # a 4 MiB page's frame in a PDE with PS set
# The bits as plain ints: the page walk tests them millions of times, and IntFlag
# arithmetic is several times slower than int arithmetic.
PTE_PRESENT: Final = int(PageTableBit.PRESENT)
PTE_RW: Final = int(PageTableBit.RW)
PTE_USER: Final = int(PageTableBit.USER)
PTE_ACCESSED: Final = int(PageTableBit.ACCESSED)
PTE_DIRTY: Final = int(PageTableBit.DIRTY)
PDE_PSE: Final = int(PageTableBit.PSE)
# _PAGE_PROTNONE: a user page mapped PROT_NONE has P clear and this bit (G's, which user PTEs
# never use) set, so the MMU refuses every access while the PTE still names the frame.
# Swap entries keep bit 8 clear (their offset starts at bit 9), so the two never mix.
PTE_PROTNONE: Final = int(PageTableBit.GLOBAL)
PTE_MAPPED: Final = int(PageTableBit.PRESENT) | PTE_PROTNONE  # pte_present(): a frame is named
_P = PTE_PRESENT
_RW = PTE_RW
_US = PTE_USER

# A PDE pointing at a user page table: present, writable and user; the PTEs decide the rest
# (_PAGE_TABLE = 0x067 in pgtable_types.h: accessed and dirty preset, as Linux writes it).
PDE_USER_TABLE: Final = _P | _RW | _US | int(PageTableBit.ACCESSED) | int(PageTableBit.DIRTY)


def pde_index(linear: int) -> int:
    """Index into the page directory (bits 31..22)."""
    return linear >> PGDIR_SHIFT


def pte_index(linear: int) -> int:
    """Index into the page table (bits 21..12)."""
    return (linear >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)


def pde_word(pgd_pfn: int, linear: int) -> int:
    """Index into ram32 of the PDE that maps *linear* in the directory at *pgd_pfn*."""
    return (pgd_pfn << (PAGE_SHIFT - 2)) + (linear >> PGDIR_SHIFT)


def pte_word(pde: int, linear: int) -> int:
    """Index into ram32 of the PTE for *linear* in the table named by a present *pde*."""
    return ((pde & FRAME_MASK) >> 2) + ((linear >> PAGE_SHIFT) & (PTRS_PER_PTE - 1))


def pgd_entry_word(pgd_pfn: int, index: int) -> int:
    """Index into ram32 of PDE number *index* of the directory at *pgd_pfn*."""
    return (pgd_pfn << (PAGE_SHIFT - 2)) + index


def pte_word_or_none(words: memoryview, pgd_pfn: int, linear: int) -> int | None:
    """Index into ram32 of the PTE for *linear*, or None when its page table is not present."""
    pde = words[pde_word(pgd_pfn, linear)]
    if not pde & _P:
        return None
    return pte_word(pde, linear)


def pte_words_many(
    pgd: npt.NDArray[np.uint32], vpns: npt.NDArray[np.uint32], pde_bits: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_], npt.NDArray[np.uint32]]:
    """The walk of many virtual page numbers at once, for numpy: *pgd* is the directory's
    1024 PDEs (a view of ram32, pgd_words). Returns, per page, the ram32 index of its PTE,
    whether its PDE has every bit of *pde_bits* (where not, the index is meaningless: mask
    it), and its PDE index. Each PDE is decoded once, not once per address."""
    pde_indexes = vpns >> np.uint32(PGDIR_SHIFT - PAGE_SHIFT)
    bits = np.uint32(pde_bits)
    table_ok = (pgd & bits) == bits
    table_words = np.where(table_ok, (pgd & np.uint32(FRAME_MASK)) >> np.uint32(2), 0)
    pte_words = table_words.astype(np.uint32)[pde_indexes] + (vpns & np.uint32(PTRS_PER_PTE - 1))
    return pte_words, table_ok[pde_indexes], pde_indexes


def pgd_words(pgd_pfn: int) -> slice:
    """The ram32 slice holding the 1024 PDEs of the directory in frame *pgd_pfn*."""
    return pte_words_of_table(pgd_pfn)


def pte_words_of_table(table_pfn: int) -> slice:
    """The ram32 slice holding all 1024 entries of the table in frame *table_pfn*."""
    first = table_pfn << (PAGE_SHIFT - 2)
    return slice(first, first + PTRS_PER_PTE)


def make_entry(pfn: int, bits: int) -> int:
    """A PDE/PTE value mapping frame *pfn* with *bits*."""
    return (pfn << PAGE_SHIFT) | bits


def user_pte_bits(writable: bool, accessible: bool) -> int:
    """PTE bits for a user page of a VMA; PROT_NONE is P clear with _PAGE_PROTNONE set."""
    if not accessible:
        return PTE_PROTNONE
    return _P | _US | (_RW if writable else 0)


def walk(words: memoryview, pgd_pfn: int, linear: int) -> Translation:
    """The MMU's two-level walk of *linear* from the directory at *pgd_pfn*, without faulting.

    Every intermediate value is kept. `fault` is None when the walk ends in a frame, else
    says where it stopped; callers that know the access (user mode, a VMA) refine it.
    """
    pde = words[pde_word(pgd_pfn, linear)]
    index = pte_index(linear)
    stopped = Translation(
        linear=linear,
        pde_index=pde_index(linear),
        pde_address=(pgd_pfn << PAGE_SHIFT) + 4 * pde_index(linear),
        pde=pde,
        pte_index=index,
        pte_address=None,
        pte=None,
        present=False,
        pfn=None,
        physical=None,
        writable=False,
        user=False,
        accessed=False,
        dirty=False,
        swap_type=None,
        swap_offset=None,
        fault="page table not present",
        cr3=pgd_pfn << PAGE_SHIFT,
    )
    if not pde & _P:
        return stopped
    if pde & PageTableBit.PSE:  # a 4 MiB page: the PDE maps the frame itself
        physical = (pde & PSE_FRAME_MASK) | (linear & (PGDIR_SIZE - 1))
        return _mapped(stopped, pde, physical)
    pte_address = (pde & FRAME_MASK) + 4 * index
    pte = words[pte_word(pde, linear)]
    stopped = replace(stopped, pte_address=pte_address, pte=pte, fault="page not present")
    if pte & _P:
        physical = (pte & FRAME_MASK) | (linear & (PAGE_SIZE - 1))
        return _mapped(stopped, pte, physical)
    if pte & PTE_PROTNONE:
        return replace(
            stopped,
            pfn=pte >> PAGE_SHIFT,
            fault="PROT_NONE page (P clear, _PAGE_PROTNONE set)",
        )
    if pte:
        return replace(
            stopped,
            swap_type=swp_type(pte),
            swap_offset=swp_offset(pte),
            fault="page is swapped out",
        )
    return stopped


def _mapped(stopped: Translation, entry: int, physical: int) -> Translation:
    """The walk ended in a frame: its address and the entry's access bits."""
    return replace(
        stopped,
        present=True,
        pfn=physical >> PAGE_SHIFT,
        physical=physical,
        writable=bool(entry & _RW),
        user=bool(entry & _US),
        accessed=bool(entry & PageTableBit.ACCESSED),
        dirty=bool(entry & PageTableBit.DIRTY),
        fault=None,
    )
