"""The translate exercise: a two-level x86 page walk from CR3 and a dump of the tables.

The question's machine is a freshly booted 16 MiB one (no swap) whose process maps two
anonymous regions and touches some of their pages; each answer is where the MMU's walk of
arch/x86/mm (pgtable-2level.h) lands. Booting a kernel Machine for it costs numpy and the
whole kernel, some 0.4 s of a 0.05 s question, so the few pages are modelled here instead,
in the kernel's formats: FRESH_MACHINE holds what that machine hands a new process (its page
directory, the frames of its next allocations, the zero page, the kernel's direct-map
tables), and the faults follow mm/memory.c (a write maps a new zeroed frame, a read the zero
page read-only, either one allocates the page table first).
tests/lab/test_translate_model.py replays every question on a real Machine and checks each
word of the dump, every answer and every reason against the kernel's, for many seeds, and
FRESH_MACHINE against a freshly booted one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple

from vmsim_kernel.arch.x86.constants import (
    KERNEL_PGD_INDEX,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SHIFT,
    PTRS_PER_PTE,
    MiB,
    PageTableBit,
)

from .exercise import Item, Question, item_ids, prompt_lines, register

__all__ = [
    "FRESH_MACHINE",
    "AddressSpace",
    "FreshMachine",
    "TranslateSetting",
    "Walk",
    "translate_question",
    "translate_setting",
]

BITS_LEGEND = "bits: P=0x001 RW=0x002 US=0x004 A=0x020 D=0x040 PS=0x080; frame = entry & 0xfffff000"
FRAME_MASK = 0xFFFFF000
_P, _RW, _US = int(PageTableBit.PRESENT), int(PageTableBit.RW), int(PageTableBit.USER)
_ACCESSED, _DIRTY = int(PageTableBit.ACCESSED), int(PageTableBit.DIRTY)
# _PAGE_TABLE (pgtable_types.h): a PDE of a user page table
PDE_USER_TABLE = _P | _RW | _US | _ACCESSED | _DIRTY
# a written anonymous page: present, writable, user, accessed and dirty (do_anonymous_page)
PTE_WRITTEN = _P | _RW | _US | _ACCESSED | _DIRTY
# a read of an untouched anonymous page maps the shared zero page read-only
PTE_ZERO_PAGE = _P | _US | _ACCESSED
# the kernel accesses the questions ask about: the direct map's first 8 MiB
KERNEL_ACCESS_SPAN = 8 * MiB


# The three records below are NamedTuples, not dataclasses: a dataclass costs ~2 ms to create
# (it compiles its methods), a tenth of what `vmsim lab question` may spend in all.
class FreshMachine(NamedTuple):
    """What a freshly booted machine gives its first process, read off the kernel.

    Attributes:
        ram_bytes: its RAM (no swap).
        pgd_pfn: the frame of the process's page directory (CR3 >> 12).
        frames: the frames its next order-0 allocations return, in order, page tables and
            user pages alike (one per-cpu list serves both on a machine this small).
        zero_pfn: the shared zero page.
        kernel_pdes: PDE index -> PDE, for the kernel tables of KERNEL_ACCESS_SPAN.
        direct_map_pte_bits: the bits of a direct-map PTE (its frame is __pa's).
    """

    ram_bytes: int
    pgd_pfn: int
    frames: tuple[int, ...]
    zero_pfn: int
    kernel_pdes: Mapping[int, int] = MappingProxyType({})
    direct_map_pte_bits: int = 0


# Measured on Machine(MachineConfig(ram_bytes=16 * MiB, swap_bytes=0)), by
# tests/lab/test_translate_model.py::fresh_machine, which checks it against the kernel: a
# change to boot or the page allocator that moves these fails there with the new values.
FRESH_MACHINE = FreshMachine(
    ram_bytes=16 * MiB,
    pgd_pfn=0x204,
    frames=(*range(0x203, 0x1F4, -1), 0xFDF, 0xFDE, 0xFDD),  # a per-cpu list, then the next
    zero_pfn=0x20D,
    kernel_pdes=MappingProxyType({0x300: 0x00FC2063, 0x301: 0x00FC3063}),
    direct_map_pte_bits=0x163,
)


class Walk(NamedTuple):
    """The MMU's walk of one linear address, as the kernel's Translation reports it.

    Attributes:
        linear: the address.
        pde_address: the physical address of its PDE (CR3 + 4 * index).
        pde: the PDE.
        pte_address: the physical address of its PTE; None when the PDE is not present.
        pte: the PTE, or None.
        physical: where the walk lands, or None when it does not reach a frame.
        fault: why a user access would not use the frame (mm/memory.c's follow_page), or None.
    """

    linear: int
    pde_address: int
    pde: int
    pte_address: int | None
    pte: int | None
    physical: int | None
    fault: str | None

    @property
    def pde_index(self) -> int:
        return self.linear >> PGDIR_SHIFT

    @property
    def pte_index(self) -> int:
        return (self.linear >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)

    @property
    def offset(self) -> int:
        return self.linear & (PAGE_SIZE - 1)

    @property
    def entry(self) -> int:
        """The entry that maps the frame (meaningful when physical is not None)."""
        return self.pte or 0

    def user_access(self, write: bool) -> tuple[str, str]:
        """The outcome of a user-mode access, as (answer, why)."""
        entry = self.entry
        if self.physical is not None and entry & _US and (entry & _RW or not write):
            return (
                f"0x{self.physical:08x}",
                f"physical 0x{self.physical:08x} (pfn {self.physical >> PAGE_SHIFT})",
            )
        if self.physical is not None and entry & _US:
            return "fault", "a write to a read-only PTE (R/W clear): protection fault (#PF)"
        if self.physical is not None:
            return "fault", "U/S clear: a user access to a supervisor page (#PF)"
        return "fault", f"{self.fault} (#PF)"

    def text(self) -> str:
        """The walk step by step, as the working shows it."""
        lines = [
            f"linear 0x{self.linear:08x}: PDE index 0x{self.pde_index:03x}, "
            f"PTE index 0x{self.pte_index:03x}, offset 0x{self.offset:03x}",
            f"  PDE at CR3 + 4*0x{self.pde_index:03x} = 0x{self.pde_address:08x} "
            f"holds 0x{self.pde:08x}",
        ]
        if self.pte_address is not None and self.pte is not None:
            lines.append(f"  PTE at 0x{self.pte_address:08x} holds 0x{self.pte:08x}")
        elif not self.pde & _P:
            lines.append("  the PDE is not present: no page table")
        return "\n".join(lines)


class AddressSpace:
    """The first process of a FreshMachine: its VMAs, page directory and user page tables,
    filled in by its faults."""

    def __init__(self, machine: FreshMachine) -> None:
        self.machine = machine
        self.cr3 = machine.pgd_pfn << PAGE_SHIFT
        self._frames: Iterator[int] = iter(machine.frames)
        self._vmas: list[tuple[int, int]] = []
        self._pdes: dict[int, int] = {}  # PDE index -> PDE, the user part of the directory
        self._ptes: dict[int, dict[int, int]] = {}  # table's address -> PTE index -> PTE

    def mmap_fixed(self, start: int, nr_pages: int) -> None:
        """mmap(start, nr_pages pages, rw, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED): a VMA only."""
        self._vmas.append((start, start + nr_pages * PAGE_SIZE))

    def _alloc_page(self) -> int:
        try:
            return next(self._frames)
        except StopIteration:
            raise ValueError(
                f"the model knows {len(self.machine.frames)} allocations of a fresh machine"
            ) from None

    def touch(self, va: int, write: bool) -> None:
        """The first user access of *va*'s page, never touched before (handle_mm_fault)."""
        index = va >> PGDIR_SHIFT
        if index not in self._pdes:  # __pte_alloc
            table = self._alloc_page() << PAGE_SHIFT
            self._pdes[index] = table | PDE_USER_TABLE
            self._ptes[table] = {}
        frame = self._alloc_page() if write else self.machine.zero_pfn
        entry = (frame << PAGE_SHIFT) | (PTE_WRITTEN if write else PTE_ZERO_PAGE)
        self._ptes[self._pdes[index] & FRAME_MASK][_pte_index(va)] = entry

    def pde(self, index: int) -> int:
        """PDE number *index* of the directory."""
        return self.machine.kernel_pdes.get(index, self._pdes.get(index, 0))

    def _pte(self, pde: int, va: int) -> int:
        if va >= PAGE_OFFSET:  # a direct-map PTE: the frame is __pa(va)'s
            return ((va - PAGE_OFFSET) & FRAME_MASK) | self.machine.direct_map_pte_bits
        return self._ptes[pde & FRAME_MASK].get(_pte_index(va), 0)

    def walk(self, va: int) -> Walk:
        """The walk of *va*, with the kernel's reason a user access would fault."""
        index = va >> PGDIR_SHIFT
        if index >= KERNEL_PGD_INDEX and index not in self.machine.kernel_pdes:
            raise ValueError(f"0x{va:08x}: the model knows the direct map's first PDEs only")
        pde = self.pde(index)
        pde_address = self.cr3 + 4 * index
        in_vma = any(start <= va < end for start, end in self._vmas)
        if not pde & _P:
            fault = "page table not allocated yet" if in_vma else "no VMA covers the address"
            return Walk(va, pde_address, pde, None, None, None, fault)
        pte_address, pte = (pde & FRAME_MASK) + 4 * _pte_index(va), self._pte(pde, va)
        if not pte & _P:
            fault = (
                "not touched yet (minor fault on access)" if in_vma else "no VMA covers the address"
            )
            return Walk(va, pde_address, pde, pte_address, pte, None, fault)
        physical = (pte & FRAME_MASK) | (va & (PAGE_SIZE - 1))
        refused = None if pte & _US else "supervisor-only or PROT_NONE page (U/S clear)"
        return Walk(va, pde_address, pde, pte_address, pte, physical, refused)

    def dump(self, pde_indexes: set[int]) -> str:
        """The directory's entries of interest and its user ones, then every user page table
        they point to (the entries that are 0 left out)."""
        lines = [
            f"CR3 = 0x{self.cr3:08x}",
            f"Page directory at 0x{self.cr3:08x} (entries not shown are 0):",
        ]
        tables = []
        for index in sorted(pde_indexes | self._pdes.keys()):
            pde = self.pde(index)
            lines.append(f"  [0x{index:03x}] 0x{pde:08x}")
            if pde & _P and pde & _US:
                tables.append(pde & FRAME_MASK)
        for table in tables:
            lines.append(f"Page table at 0x{table:08x} (entries not shown are 0):")
            for index, pte in sorted(self._ptes[table].items()):
                lines.append(f"  [0x{index:03x}] 0x{pte:08x}")
        lines.append(BITS_LEGEND)
        return "\n".join(lines)


def _pte_index(va: int) -> int:
    return (va >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)


class TranslateSetting(NamedTuple):
    """What a translate question's process does, drawn from its seed.

    Attributes:
        regions: (start, nr_pages) of its two mappings.
        touches: (address, write) of its first accesses, in order, one per page touched.
        accesses: (address, write) of the user-mode accesses asked about.
    """

    regions: tuple[tuple[int, int], ...]
    touches: tuple[tuple[int, bool], ...]
    accesses: tuple[tuple[int, bool], ...]


def translate_setting(rng: random.Random) -> TranslateSetting:
    """Two regions in distinct page tables, each page touched (read or written) or not, and
    four accesses: two into touched pages, one where no page table is, one into the kernel,
    and sometimes one into an untouched page, shuffled."""
    rng.randrange(1 << 16)  # the seed of the machine the questions once booted: same draws
    regions = []
    for pde_index in rng.sample(range(0x010, 0x2F0), 2):
        nr_pages = rng.randint(3, 8)
        start = (pde_index << PGDIR_SHIFT) + rng.randrange(0, 1024 - nr_pages) * PAGE_SIZE
        regions.append((start, nr_pages))
    touches: list[tuple[int, bool]] = []
    untouched: list[int] = []
    for start, nr_pages in regions:
        for page in range(nr_pages):
            va = start + page * PAGE_SIZE
            if rng.random() < 0.6:
                touches.append((va, rng.random() < 0.6))
            else:
                untouched.append(va)
    if not touches:
        touches.append((untouched.pop(0), True))
    touched = [va for va, _ in touches]
    used_pdes = {start >> PGDIR_SHIFT for start, _ in regions}
    free_pde = rng.choice([i for i in range(0x010, 0x2F0) if i not in used_pdes])
    candidates: list[tuple[int, bool]] = [
        (rng.choice(touched) + rng.randrange(PAGE_SIZE), False),
        (rng.choice(touched) + rng.randrange(PAGE_SIZE), True),
        ((free_pde << PGDIR_SHIFT) + rng.randrange(1 << PGDIR_SHIFT), rng.random() < 0.5),
        (PAGE_OFFSET + rng.randrange(KERNEL_ACCESS_SPAN), False),
    ]
    if untouched:
        candidates.append((rng.choice(untouched) + rng.randrange(PAGE_SIZE), False))
    rng.shuffle(candidates)
    return TranslateSetting(tuple(regions), tuple(touches), tuple(candidates[:4]))


@register(
    "translate",
    "x86 two-level page walk: CR3 and a dump of the tables -> physical address or fault",
    "a physical address such as 0x00a42123, or 'fault'",
)
def translate_question(rng: random.Random, number: int) -> Question:
    """Map and touch two regions, then ask where four user accesses land."""
    setting = translate_setting(rng)
    space = AddressSpace(FRESH_MACHINE)
    for start, nr_pages in setting.regions:
        space.mmap_fixed(start, nr_pages)
    for va, write in setting.touches:
        space.touch(va, write)
    items, working = [], []
    for item_id, (va, write) in zip(
        item_ids(number, len(setting.accesses)), setting.accesses, strict=True
    ):
        walk = space.walk(va)
        answer, why = walk.user_access(write)
        what = "write to" if write else "read of"
        items.append(Item(item_id, f"user-mode {what} 0x{va:08x}", answer))
        working.append(f"{item_id}) {walk.text()}\n  -> {why}")
    dump = space.dump({va >> PGDIR_SHIFT for va, _ in setting.accesses})
    text = (
        f"A process runs in user mode on a 32-bit x86 (non-PAE, 4 KiB pages).\n{dump}\n"
        "For each access give the physical address the MMU reaches, or 'fault' when the MMU "
        "raises a page fault instead (the kernel may then handle it):\n" + prompt_lines(items)
    )
    return Question("translate", number, text, tuple(items), "\n".join(working))
