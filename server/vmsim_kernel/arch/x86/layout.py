"""Boot-time layout: where the kernel image and memblock reservations sit, and the kernel's
virtual memory layout as 32-bit x86 derives it from NR_CPUS.

Models arch/x86/kernel/setup.c (the first 1 MiB reserved, the image at CONFIG_PHYSICAL_START,
memblock allocations top-down below max_low_pfn), arch/x86/include/asm/fixmap.h,
pgtable_32_areas.h and cpu_entry_area.h (FIXADDR_START, CPU_ENTRY_AREA_BASE, LDT_BASE_ADDR,
PKMAP_BASE, VMALLOC_END, MAXMEM), and the "virtual kernel memory layout" block that
arch/x86/mm/init_32.c's mem_init printed until Linux 5.x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from vmsim_kernel.errors import KernelBug

from .constants import (
    FIXADDR_TOP,
    LAST_PKMAP,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SIZE,
    VMALLOC_OFFSET,
    KiB,
    MiB,
)

__all__ = [
    "PHYSICAL_START",
    "BootLayout",
    "KernelImage",
    "MemblockRegion",
    "VirtualLayout",
    "format_layout_block",
    "format_memblock",
    "plan_boot",
    "virtual_layout",
]

PHYSICAL_START: Final = 16 * MiB  # CONFIG_PHYSICAL_START: where the image is loaded
FIRST_MEGABYTE_PFNS: Final = (1 * MiB) >> PAGE_SHIFT  # reserved whole since Linux 5.13
STRUCT_PAGE_BYTES: Final = 32  # sizeof(struct page) on i386 without debug options

# fixmap.h on i386 (HIGHMEM, X86_LOCAL_APIC, X86_IO_APIC, 64 IO-APICs): the permanent slots
# before FIX_KMAP_BEGIN, and after FIX_KMAP_END; 16 kmap_atomic slots per CPU (KM_MAX_IDX).
FIX_KMAP_BEGIN: Final = 68
FIX_SLOTS_AFTER_KMAP: Final = 3
KM_MAX_IDX: Final = 16
TOTAL_FIX_BTMAPS: Final = 512  # NR_FIX_BTMAPS 64 x FIX_BTMAPS_SLOTS 8 (early ioremap)
FIX_SLOTS_AFTER_BTMAP: Final = 1  # FIX_TBOOT_BASE
CPU_ENTRY_AREA_PAGES_PER_CPU: Final = 43  # sizeof(struct cpu_entry_area) / PAGE_SIZE on i386
VMALLOC_RESERVE: Final = 128 * MiB  # __VMALLOC_RESERVE: the least vmalloc space
# How the image of Debian's 686 kernel divides (linux32: .text 9327 kB, .data incl. rodata
# 4435 kB, the rest .init/.bss/brk): the simulated image keeps these proportions.
_TEXT_SHARE: Final = 0.61
_DATA_SHARE: Final = 0.29


@dataclass(frozen=True)
class MemblockRegion:
    """One boot-time reservation: frames [start_pfn, end_pfn) never given to the buddy allocator."""

    start_pfn: int
    end_pfn: int
    name: str

    @property
    def nr_pages(self) -> int:
        """Frames reserved."""
        return self.end_pfn - self.start_pfn


@dataclass(frozen=True)
class KernelImage:
    """The loaded kernel: [_text, _etext) code, [_etext, _edata) data, [_edata, _end) bss.

    The bss holds the boot page directory (swapper_pg_dir) and empty_zero_page, page aligned,
    as in Linux. All fields are physical frame numbers.
    """

    text_pfn: int
    data_pfn: int
    bss_pfn: int
    end_pfn: int
    swapper_pg_dir: int
    zero_pfn: int


@dataclass(frozen=True)
class BootLayout:
    """Physical memory at boot: the image, the reservations and the direct-map page tables."""

    image: KernelImage
    reserved: tuple[MemblockRegion, ...]
    direct_map_tables: range  # frames of the page tables mapping low memory
    mem_map: range  # frames of the struct page array


def plan_boot(nr_frames: int, nr_lowmem_frames: int, nr_direct_map_tables: int) -> BootLayout:
    """Place the image and the early allocations as setup_arch and memblock do.

    The first 1 MiB is reserved (BIOS data, EBDA, the real-mode trampoline). The image is
    loaded at CONFIG_PHYSICAL_START (16 MiB), so ZONE_DMA stays free for the allocator; a
    machine too small to hold it there gets it at 1 MiB, where a bootloader puts a
    relocatable kernel. mem_map and the direct-map page tables are memblock allocations,
    taken top-down from the end of low memory. The image is scaled to the RAM (1/32 of it,
    256 kB .. 8 MiB) so that small teaching machines keep most of their memory.

    Raises:
        KernelBug: RAM too small for the first megabyte, the image and the early tables.
    """
    image_pages = max(64, min(2048, nr_frames // 32))
    mem_map_pages = math.ceil(nr_frames * STRUCT_PAGE_BYTES / PAGE_SIZE)
    memblock_top = nr_lowmem_frames - mem_map_pages - nr_direct_map_tables
    start = PHYSICAL_START >> PAGE_SHIFT
    if start + image_pages + 1024 > memblock_top:  # keep at least 4 MiB above the image
        start = FIRST_MEGABYTE_PFNS
    end = start + image_pages
    if end > memblock_top:
        raise KernelBug("RAM too small for the kernel image")
    data = start + int(image_pages * _TEXT_SHARE)
    bss = data + int(image_pages * _DATA_SHARE)
    image = KernelImage(start, data, bss, end, swapper_pg_dir=end - 2, zero_pfn=end - 1)
    tables = range(memblock_top, memblock_top + nr_direct_map_tables)
    mem_map = range(memblock_top + nr_direct_map_tables, nr_lowmem_frames)
    reserved = [
        MemblockRegion(0, min(FIRST_MEGABYTE_PFNS, nr_frames), "BIOS, EBDA and real mode (1 MiB)"),
        MemblockRegion(start, end, "kernel image (.text .data .bss)"),
    ]
    if tables:
        reserved.append(MemblockRegion(tables.start, tables.stop, "direct map page tables"))
    reserved.append(MemblockRegion(mem_map.start, mem_map.stop, "mem_map (struct page array)"))
    return BootLayout(image, tuple(reserved), tables, mem_map)


@dataclass(frozen=True)
class VirtualLayout:
    """The 32-bit kernel's virtual layout for a number of CPUs (all addresses are virtual).

    Attributes:
        nr_cpus: NR_CPUS the layout was derived from.
        fixaddr_start, fixaddr_top: the permanent fixmap.
        pkmap_base: the 1024 kmap() slots (4 MiB).
        vmalloc_start, vmalloc_end: the vmalloc area.
        high_memory: end of the direct map (lowmem).
        maxmem: the most low memory such a kernel can map (MAXMEM).
    """

    nr_cpus: int
    fixaddr_start: int
    fixaddr_top: int
    cpu_entry_area_base: int
    ldt_base: int
    pkmap_base: int
    vmalloc_start: int
    vmalloc_end: int
    high_memory: int
    maxmem: int

    @property
    def pkmap_end(self) -> int:
        """One past the last kmap() slot."""
        return self.pkmap_base + LAST_PKMAP * PAGE_SIZE

    @property
    def max_low_pfn(self) -> int:
        """Frames of the direct map."""
        return (self.high_memory - PAGE_OFFSET) >> PAGE_SHIFT


def virtual_layout(nr_cpus: int, nr_frames: int) -> VirtualLayout:
    """The layout a 6.1 i386 kernel with NR_CPUS = *nr_cpus* derives for *nr_frames* of RAM.

    fixmap: FIX_KMAP_BEGIN + 16 kmap_atomic slots per CPU + 3 permanent slots; then the
    early-ioremap slots, aligned so they do not cross a page table. The cpu_entry_area sits
    below them (43 pages per CPU, PMD aligned), the LDT remap one PMD lower, PKMAP_BASE one
    PMD below that, VMALLOC_END two pages under PKMAP_BASE, and low memory ends at
    min(RAM, MAXMEM = VMALLOC_END - PAGE_OFFSET - 128 MiB); vmalloc starts 8 MiB above it.
    """
    pmd_mask = ~(PGDIR_SIZE - 1) & 0xFFFFFFFF
    end_of_permanent = FIX_KMAP_BEGIN + KM_MAX_IDX * nr_cpus + FIX_SLOTS_AFTER_KMAP
    # FIX_BTMAP_END: pushed up to a 512-slot boundary when the btmaps would cross a page table.
    btmap_end = end_of_permanent
    if (end_of_permanent ^ (end_of_permanent + TOTAL_FIX_BTMAPS - 1)) & -1024:
        btmap_end += TOTAL_FIX_BTMAPS - (end_of_permanent & (TOTAL_FIX_BTMAPS - 1))
    end_of_fixed = btmap_end + TOTAL_FIX_BTMAPS - 1 + FIX_SLOTS_AFTER_BTMAP + 1
    fixaddr_start = FIXADDR_TOP - end_of_permanent * PAGE_SIZE
    fixaddr_tot_start = FIXADDR_TOP - end_of_fixed * PAGE_SIZE
    cpu_entry_pages = nr_cpus * CPU_ENTRY_AREA_PAGES_PER_CPU
    cpu_entry_area_base = (fixaddr_tot_start - PAGE_SIZE * (cpu_entry_pages + 1)) & pmd_mask
    ldt_base = cpu_entry_area_base - PGDIR_SIZE
    pkmap_base = (ldt_base - PGDIR_SIZE) & pmd_mask
    vmalloc_end = pkmap_base - 2 * PAGE_SIZE
    maxmem = vmalloc_end - PAGE_OFFSET - VMALLOC_RESERVE
    high_memory = PAGE_OFFSET + min(nr_frames * PAGE_SIZE, maxmem & ~(PAGE_SIZE - 1))
    return VirtualLayout(
        nr_cpus=nr_cpus,
        fixaddr_start=fixaddr_start,
        fixaddr_top=FIXADDR_TOP,
        cpu_entry_area_base=cpu_entry_area_base,
        ldt_base=ldt_base,
        pkmap_base=pkmap_base,
        vmalloc_start=high_memory + VMALLOC_OFFSET,
        vmalloc_end=vmalloc_end,
        high_memory=high_memory,
        maxmem=maxmem,
    )


def _kb(nr_bytes: int) -> int:
    return nr_bytes // KiB


def _mb(nr_bytes: int) -> int:
    return nr_bytes // MiB


def format_layout_block(layout: VirtualLayout, image: KernelImage) -> list[str]:
    """The lines of mem_init's "virtual kernel memory layout" printout (init_32.c, Linux <= 5.x)."""

    def virt(pfn: int) -> int:
        return PAGE_OFFSET + (pfn << PAGE_SHIFT)

    text, data, bss, end = (
        virt(image.text_pfn),
        virt(image.data_pfn),
        virt(image.bss_pfn),
        virt(image.end_pfn),
    )
    fixmap_size = layout.fixaddr_top - layout.fixaddr_start
    vmalloc_size = layout.vmalloc_end - layout.vmalloc_start
    lowmem_size = layout.high_memory - PAGE_OFFSET
    return [
        "virtual kernel memory layout:",
        f"    fixmap  : 0x{layout.fixaddr_start:08x} - 0x{layout.fixaddr_top:08x}   "
        f"({_kb(fixmap_size):4d} kB)",
        f"    pkmap   : 0x{layout.pkmap_base:08x} - 0x{layout.pkmap_end:08x}   "
        f"({_kb(LAST_PKMAP * PAGE_SIZE):4d} kB)",
        f"    vmalloc : 0x{layout.vmalloc_start:08x} - 0x{layout.vmalloc_end:08x}   "
        f"({_mb(vmalloc_size):4d} MB)",
        f"    lowmem  : 0x{PAGE_OFFSET:08x} - 0x{layout.high_memory:08x}   "
        f"({_mb(lowmem_size):4d} MB)",
        f"      .data : 0x{data:08x} - 0x{bss:08x}   ({_kb(bss - data):4d} kB)",
        f"      .text : 0x{text:08x} - 0x{data:08x}   ({_kb(data - text):4d} kB)",
        f"      .bss  : 0x{bss:08x} - 0x{end:08x}   ({_kb(end - bss):4d} kB)",
    ]


def format_memblock(reserved: tuple[MemblockRegion, ...]) -> list[str]:
    """The memblock reservations, one "[mem start-end] size name" line each (memblock=debug)."""
    lines = ["memblock reserved:"]
    for region in reserved:
        first = region.start_pfn << PAGE_SHIFT
        last = (region.end_pfn << PAGE_SHIFT) - 1
        lines.append(
            f"  [mem 0x{first:08x}-0x{last:08x}] {_kb(region.nr_pages * PAGE_SIZE):7d} kB  "
            f"{region.name}"
        )
    return lines
