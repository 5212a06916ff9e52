"""Machine constants of 32-bit x86 Linux: page geometry, address layout, PDE/PTE bits, flags.

Models include/asm/page_32_types.h, include/asm/pgtable_types.h, pgtable-2level.h
and include/uapi/asm-generic/mman-common.h.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final, NewType

Pfn = NewType("Pfn", int)
VirtAddr = NewType("VirtAddr", int)
PhysAddr = NewType("PhysAddr", int)

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB

PAGE_SHIFT: Final = 12
PAGE_SIZE: Final = 1 << PAGE_SHIFT
PAGE_MASK: Final = ~(PAGE_SIZE - 1) & 0xFFFFFFFF

PGDIR_SHIFT: Final = 22
PTRS_PER_PGD: Final = 1024
PTRS_PER_PTE: Final = 1024
PGDIR_SIZE: Final = 1 << PGDIR_SHIFT

ADDRESS_SPACE_END: Final = 1 << 32
PAGE_OFFSET: Final = 0xC0000000
TASK_SIZE: Final = PAGE_OFFSET
KERNEL_PGD_INDEX: Final = PAGE_OFFSET >> PGDIR_SHIFT  # 768

# Physical zone boundaries (DESIGN.md section 1).
MAX_DMA_ADDRESS: Final = 16 * MiB

MAX_ORDER: Final = 11  # orders 0..10

# User address-space layout (mm/util.c mmap_base with a 8 MiB stack limit).
STACK_TOP: Final = TASK_SIZE
STACK_RLIMIT: Final = 8 * MiB
STACK_GUARD_GAP: Final = 256 * PAGE_SIZE
MMAP_MIN_ADDR: Final = 0x10000
ELF_TEXT_START: Final = 0x08048000


class PageTableBit(IntFlag):
    """x86 non-PAE PDE/PTE bits (pgtable_types.h)."""

    PRESENT = 1 << 0  # P: translation valid
    RW = 1 << 1  # R/W: writable
    USER = 1 << 2  # U/S: reachable from ring 3
    PWT = 1 << 3  # page write-through
    PCD = 1 << 4  # page cache disabled
    ACCESSED = 1 << 5  # A: set by the MMU on any access
    DIRTY = 1 << 6  # D: set by the MMU on a write (PTE only)
    PSE = 1 << 7  # PS: 4 MiB page (PDE only)
    GLOBAL = 1 << 8  # G: not flushed from the TLB on a CR3 switch


# Swap entries in non-present PTEs (pgtable-2level.h): type in bits 1..5, offset from bit 9.
SWP_TYPE_SHIFT: Final = 1
SWP_TYPE_BITS: Final = 5
SWP_OFFSET_SHIFT: Final = 9


class Prot(IntFlag):
    """mmap/mprotect protection bits."""

    NONE = 0
    READ = 1
    WRITE = 2
    EXEC = 4


PROT_ALL: Final = Prot.READ | Prot.WRITE | Prot.EXEC


class MapFlag(IntFlag):
    """mmap flags (mman-common.h values)."""

    SHARED = 0x01
    PRIVATE = 0x02
    FIXED = 0x10
    ANONYMOUS = 0x20
    NORESERVE = 0x4000
    POPULATE = 0x8000
    FIXED_NOREPLACE = 0x100000


MAP_KNOWN: Final = (
    MapFlag.SHARED
    | MapFlag.PRIVATE
    | MapFlag.FIXED
    | MapFlag.ANONYMOUS
    | MapFlag.NORESERVE
    | MapFlag.POPULATE
    | MapFlag.FIXED_NOREPLACE
)


class Madvise(IntEnum):
    """madvise advice values accepted by the simulator."""

    NORMAL = 0  # no special treatment
    RANDOM = 1  # hint only
    SEQUENTIAL = 2  # hint only
    WILLNEED = 3  # read swapped pages back now
    DONTNEED = 4  # drop the pages: next touch sees zeroes (private) or the shared page
    FREE = 8  # private anon: reclaim may discard the pages until they are written again
    HUGEPAGE = 14  # hint only: there are no transparent huge pages here
    NOHUGEPAGE = 15  # hint only: every page is 4 KiB already


class ZoneType(IntEnum):
    """Physical memory zones (include/linux/mmzone.h)."""

    DMA = 0
    NORMAL = 1
    HIGHMEM = 2


class Gfp(IntEnum):
    """Allocation contexts (gfp.h): each names a zonelist and whether it may reclaim."""

    HIGHUSER = 0  # user pages: HIGHMEM, NORMAL, DMA; may reclaim
    KERNEL = 1  # kernel data: NORMAL, DMA; may reclaim
    ATOMIC = 2  # interrupt context: NORMAL, DMA; may not sleep, may dip below min
    DMA = 3  # ISA DMA: DMA only; may reclaim


ZONELIST: Final[dict[Gfp, tuple[ZoneType, ...]]] = {
    Gfp.HIGHUSER: (ZoneType.HIGHMEM, ZoneType.NORMAL, ZoneType.DMA),
    Gfp.KERNEL: (ZoneType.NORMAL, ZoneType.DMA),
    Gfp.ATOMIC: (ZoneType.NORMAL, ZoneType.DMA),
    Gfp.DMA: (ZoneType.DMA,),
}


class Signal(IntEnum):
    """Signals that end a simulated process."""

    SIGBUS = 7
    SIGKILL = 9
    SIGSEGV = 11
    SIGTERM = 15


def page_align_up(addr: int) -> int:
    """Round *addr* up to a page boundary."""
    return (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


# Kernel virtual layout above PAGE_OFFSET (arch/x86/include/asm/pgtable_32_areas.h).
VMALLOC_OFFSET: Final = 8 * MiB
FIXADDR_TOP: Final = 0xFFFFF000
LAST_PKMAP: Final = 1024
PKMAP_BASE: Final = 0xFF800000  # 4 MiB aligned, one page table of kmap slots
VMALLOC_END: Final = PKMAP_BASE - 2 * PAGE_SIZE


def high_memory(nr_lowmem_frames: int) -> int:
    """__va of the end of low memory: where the direct map stops."""
    return PAGE_OFFSET + nr_lowmem_frames * PAGE_SIZE


def vmalloc_start(nr_lowmem_frames: int) -> int:
    """VMALLOC_START: high_memory plus the 8 MiB guard gap."""
    return high_memory(nr_lowmem_frames) + VMALLOC_OFFSET
