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

from typing import Final

import numpy as np
import numpy.typing as npt

from .constants import PAGE_SHIFT, PGDIR_SHIFT, PTRS_PER_PTE, PageTableBit

__all__ = [
    "FRAME_MASK",
    "PDE_USER_TABLE",
    "decode_entry_bits",
    "make_entry",
    "pde_index",
    "pde_word",
    "pte_index",
    "pte_word",
    "pte_words_of_table",
]

FRAME_MASK: Final = 0xFFFFF000
_P: Final = int(PageTableBit.PRESENT)
_RW: Final = int(PageTableBit.RW)
_US: Final = int(PageTableBit.USER)

# A PDE pointing at a user page table: present, writable and user; the PTEs decide the rest
# (like _PAGE_TABLE in pgtable_types.h).
PDE_USER_TABLE: Final = _P | _RW | _US | int(PageTableBit.ACCESSED)


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


def pte_words_of_table(table_pfn: int) -> slice:
    """The ram32 slice holding all 1024 entries of the table in frame *table_pfn*."""
    first = table_pfn << (PAGE_SHIFT - 2)
    return slice(first, first + PTRS_PER_PTE)


def make_entry(pfn: int, bits: int) -> int:
    """A PDE/PTE value mapping frame *pfn* with *bits*."""
    return (pfn << PAGE_SHIFT) | bits


def decode_entry_bits(entry: int) -> list[str]:
    """Names of the flag bits set in a present PDE/PTE, low bit first (for translate reports)."""
    return [bit.name or "" for bit in PageTableBit if entry & bit]


def user_pte_bits(writable: bool, accessible: bool) -> int:
    """PTE bits for a user page of a VMA: U/S cleared for PROT_NONE so any user access faults."""
    bits = _P | (_US if accessible else 0)
    if writable and accessible:
        bits |= _RW
    return bits


def present_mask(entries: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """Which of *entries* are present."""
    return (entries & _P).astype(bool)
