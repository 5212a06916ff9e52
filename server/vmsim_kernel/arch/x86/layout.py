"""Boot-time layout: the BIOS memory map, where the kernel image and memblock reservations sit,
and the kernel's virtual memory layout as 32-bit x86 derives it from NR_CPUS.

Models arch/x86/kernel/e820.c (SeaBIOS's map as QEMU's pc machine gives it, trimmed as
e820__memblock_setup and trim_bios_range do), arch/x86/mm/init_32.c (find_low_pfn_range),
arch/x86/kernel/setup.c (the first 1 MiB reserved, the image at CONFIG_PHYSICAL_START,
memblock allocations top-down below max_low_pfn), arch/x86/include/asm/fixmap.h,
pgtable_32_areas.h and cpu_entry_area.h (FIXADDR_START, CPU_ENTRY_AREA_BASE, LDT_BASE_ADDR,
PKMAP_BASE, VMALLOC_END, MAXMEM), and the "virtual kernel memory layout" block that
arch/x86/mm/init_32.c's mem_init printed until Linux 5.x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
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
    "CONFIG_NR_CPUS",
    "IMAGE_PAGES",
    "PHYSICAL_START",
    "TEXTBOOK_MAXMEM",
    "BootLayout",
    "E820Entry",
    "E820Type",
    "KernelImage",
    "MemblockRegion",
    "VirtualLayout",
    "config_nr_cpus",
    "e820_table",
    "find_low_pfn_range",
    "format_e820",
    "format_layout_block",
    "format_memblock",
    "memblock_memory",
    "plan_boot",
    "virtual_layout",
]

PHYSICAL_START: Final = 16 * MiB  # CONFIG_PHYSICAL_START: where the image is loaded
FIRST_MEGABYTE_PFNS: Final = (1 * MiB) >> PAGE_SHIFT  # reserved whole since Linux 5.13
CONFIG_NR_CPUS: Final = 32  # Debian's 686 kernel is built for at most 32 CPUs
TEXTBOOK_MAXMEM: Final = 896 * MiB  # the classic split: a small fixmap, 128 MiB of vmalloc
# Boot metadata per page frame: mem_map's struct page plus the page_ext 32-bit keeps for the
# page flags it has no room for. The linux32 captures' reserved memory grows by 2560 pages from
# 1 GiB to 2 GiB (262144 more frames, nothing else changes): 40 bytes a frame.
MEM_MAP_BYTES_PER_PAGE: Final = 40
MAX_ORDER_NR_PAGES: Final = 1024  # mem_map covers whole MAX_ORDER blocks
PERCPU_PAGES_PER_CPU: Final = 33  # linux32: "percpu: Embedded 33 pages/cpu"
HASH_BUCKET_BYTES: Final = 4  # an hlist_bl_head on i386
# alloc_large_system_hash's scale (one bucket per 2**scale bytes of low memory) of the two
# boot-time hash tables whose size follows RAM: the dentry cache's and the inode cache's.
BOOT_HASH_SCALES: Final = (("Dentry cache hash table", 13), ("Inode-cache hash table", 14))
# SeaBIOS's e820 map on QEMU's pc machine: base memory up to the EBDA, the BIOS ROM, and the
# top 128 KiB of RAM below 4 GiB kept for the BIOS's own tables.
EBDA_START: Final = 0x9FC00
ISA_START: Final = 0xA0000  # the legacy VGA/ROM hole Linux removes from RAM (trim_bios_range)
BIOS_ROM_START: Final = 0xF0000
ISA_END: Final = 1 * MiB
SEABIOS_TOP_RESERVED: Final = 128 * KiB
HIGH_BIOS_START: Final = 0xFFFC0000  # the flash image of the BIOS, just below 4 GiB

# fixmap.h on i386 (HIGHMEM, X86_LOCAL_APIC, X86_IO_APIC, 64 IO-APICs): the permanent slots
# before FIX_KMAP_BEGIN, and after FIX_KMAP_END; 16 kmap_atomic slots per CPU (KM_MAX_IDX).
FIX_KMAP_BEGIN: Final = 68
FIX_SLOTS_AFTER_KMAP: Final = 3
KM_MAX_IDX: Final = 16
TOTAL_FIX_BTMAPS: Final = 512  # NR_FIX_BTMAPS 64 x FIX_BTMAPS_SLOTS 8 (early ioremap)
FIX_SLOTS_AFTER_BTMAP: Final = 1  # FIX_TBOOT_BASE
CPU_ENTRY_AREA_PAGES_PER_CPU: Final = 43  # sizeof(struct cpu_entry_area) / PAGE_SIZE on i386
VMALLOC_RESERVE: Final = 128 * MiB  # __VMALLOC_RESERVE: the least vmalloc space
# The image of Debian's 686 kernel once init memory is freed (linux32's "Memory:" line: 9327K
# kernel code, 1246K rwdata + 3188K rodata, 464K bss); smaller machines get a smaller build.
IMAGE_TEXT_KB: Final = 9327
IMAGE_DATA_KB: Final = 1246 + 3188
IMAGE_BSS_KB: Final = 464
IMAGE_PAGES: Final = math.ceil((IMAGE_TEXT_KB + IMAGE_DATA_KB + IMAGE_BSS_KB) * KiB / PAGE_SIZE)
# Boot memory the kernel gives back once init runs (linux32: "Freeing initrd memory: 1512K",
# "Freeing unused kernel image (initmem) memory: 912K"): reserved while the initcalls size the
# watermarks and the per-cpu lists, so those see less memory than MemTotal later shows.
INITRD_KB: Final = 1512
IMAGE_INIT_KB: Final = 912


class E820Type(StrEnum):
    """The type of a BIOS memory map entry, as dmesg's BIOS-e820 lines name it."""

    USABLE = "usable"  # RAM the kernel may use
    RESERVED = "reserved"  # firmware's: the EBDA, the BIOS ROM, its tables at the top of RAM


@dataclass(frozen=True)
class E820Entry:
    """One entry of the BIOS memory map: physical bytes [start, end)."""

    start: int
    end: int
    type: E820Type


def e820_table(ram_bytes: int) -> tuple[E820Entry, ...]:
    """The map SeaBIOS hands a QEMU pc machine with *ram_bytes* of RAM (below 4 GiB)."""
    return (
        E820Entry(0, EBDA_START, E820Type.USABLE),
        E820Entry(EBDA_START, ISA_START, E820Type.RESERVED),
        E820Entry(BIOS_ROM_START, ISA_END, E820Type.RESERVED),
        E820Entry(ISA_END, ram_bytes - SEABIOS_TOP_RESERVED, E820Type.USABLE),
        E820Entry(ram_bytes - SEABIOS_TOP_RESERVED, ram_bytes, E820Type.RESERVED),
        E820Entry(HIGH_BIOS_START, 1 << 32, E820Type.RESERVED),
    )


def memblock_memory(table: tuple[E820Entry, ...]) -> tuple[range, ...]:
    """The pfn ranges memblock.memory holds: the usable entries, whole pages only, without
    the first page (e820 "update [mem 0x00000000-0x00000fff] usable ==> reserved") and the
    ISA hole 640 KiB..1 MiB (trim_bios_range)."""
    ranges = []
    for entry in table:
        if entry.type is not E820Type.USABLE:
            continue
        start_pfn = max(math.ceil(entry.start / PAGE_SIZE), 1)
        end_pfn = entry.end >> PAGE_SHIFT
        if entry.start < ISA_START:
            end_pfn = min(end_pfn, ISA_START >> PAGE_SHIFT)
        if start_pfn < end_pfn:
            ranges.append(range(start_pfn, end_pfn))
    return tuple(ranges)


def format_e820(table: tuple[E820Entry, ...]) -> list[str]:
    """dmesg's "BIOS-e820: [mem start-end] type" lines (end inclusive, 16 hex digits)."""
    return [
        f"BIOS-e820: [mem 0x{entry.start:016x}-0x{entry.end - 1:016x}] {entry.type.value}"
        for entry in table
    ]


def config_nr_cpus(nr_cpus: int) -> int:
    """NR_CPUS of the kernel a machine with *nr_cpus* CPUs boots: Debian's 32, or a build for
    more when the machine has more (nr_cpu_ids can never exceed NR_CPUS)."""
    return max(CONFIG_NR_CPUS, nr_cpus)


def find_low_pfn_range(max_pfn: int, layout: VirtualLayout, *, textbook: bool = False) -> int:
    """max_low_pfn: the end of the direct map, MAXMEM or all of RAM if less.

    *textbook* draws the classic picture instead: low memory ends at 896 MiB whatever the
    fixmap needs (the value textbooks and the seed article give).
    """
    maxmem = TEXTBOOK_MAXMEM if textbook else layout.maxmem
    return min(max_pfn, maxmem >> PAGE_SHIFT)


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
    """The loaded kernel: [_text, _etext) code, [_etext, _edata) data, [__init_begin,
    __init_end) the .init sections (freed at the end of boot), [__bss_start, _end) bss.

    The bss holds the boot page directory (swapper_pg_dir) and empty_zero_page, page aligned,
    as in Linux. All fields are physical frame numbers.
    """

    text_pfn: int
    data_pfn: int
    bss_pfn: int
    end_pfn: int
    swapper_pg_dir: int
    zero_pfn: int
    init_pfn: int = -1  # where .init starts (_edata); -1: none, the data runs up to the bss

    @property
    def edata_pfn(self) -> int:
        """_edata: the end of the data, where .init (or else the bss) begins."""
        return self.init_pfn if self.init_pfn >= 0 else self.bss_pfn


@dataclass(frozen=True)
class BootLayout:
    """Physical memory at boot: the image, the reservations and the early allocations.

    Attributes:
        image: the loaded kernel.
        reserved: every memblock reservation, lowest first.
        direct_map_tables: frames of the page tables mapping low memory.
        mem_map: frames of the struct page array.
        percpu: frames of the first per-cpu chunk (meminfo's Percpu).
        freed_after_init: reservations given back to the page allocator at the end of boot
            (free_initrd_mem, free_initmem): the initramfs and the image's .init sections.
    """

    image: KernelImage
    reserved: tuple[MemblockRegion, ...]
    direct_map_tables: range
    mem_map: range
    percpu: range
    freed_after_init: tuple[MemblockRegion, ...] = ()


def _boot_hash_pages(nr_kernel_pages: int, scale: int) -> int:
    """alloc_large_system_hash's size in pages: one bucket per 2**scale bytes of low memory
    (rounded up to a megabyte), at least a page of buckets, a power of two of them."""
    megabyte_pages = MiB // PAGE_SIZE
    entries = -(-nr_kernel_pages // megabyte_pages) * megabyte_pages >> (scale - PAGE_SHIFT)
    entries = max(entries, PAGE_SIZE // HASH_BUCKET_BYTES)
    entries = 1 << (entries - 1).bit_length()
    return entries * HASH_BUCKET_BYTES // PAGE_SIZE


def plan_boot(
    memory: tuple[range, ...], max_low_pfn: int, nr_direct_map_tables: int, nr_cpus: int
) -> BootLayout:
    """Place the image and the early allocations as setup_arch, start_kernel and memblock do.

    The first 1 MiB is reserved (BIOS data, EBDA, the real-mode trampoline). The image is
    loaded at CONFIG_PHYSICAL_START (16 MiB), so ZONE_DMA stays free for the allocator; a
    machine too small to hold it there gets it at 1 MiB, where a bootloader puts a
    relocatable kernel. Then memblock allocates top-down from the end of low memory: the
    initramfs (relocate_initrd moves it there, "Move RAMDISK"), the direct map's page
    tables, mem_map (for every frame up to max_pfn, in whole MAX_ORDER blocks), the first
    per-cpu chunk (one unit per CPU) and the dentry and inode hash tables (sized from low
    memory). The initramfs and the image's .init sections (between its data and its bss)
    are given back at the end of boot (freed_after_init), as blocks hemmed in by what stays
    reserved: the small free blocks a real boot's buddyinfo shows. The image is Debian 686's; a machine under 224 MiB
    gets a build of 1/16 of its RAM (at least 256 kB), so small teaching machines keep most
    of their memory.

    Args:
        memory: the pfn ranges of usable RAM (memblock_memory), ascending.
        max_low_pfn: the end of low memory (find_low_pfn_range).
        nr_direct_map_tables: page tables the direct map needs.
        nr_cpus: possible CPUs (per-cpu units).

    Raises:
        KernelBug: RAM too small for the first megabyte, the image and the early tables.
    """
    max_pfn = memory[-1].stop
    image_pages = min(IMAGE_PAGES, max(64, max_pfn // 16))
    # A smaller build has a smaller initramfs and .init, in the same proportion.
    init_pages = IMAGE_INIT_KB * image_pages // (IMAGE_PAGES * 4)
    early = _EarlyAllocations(max_low_pfn)
    initrd = early.alloc(INITRD_KB * image_pages // (IMAGE_PAGES * 4), "initramfs")
    early.regions.pop()  # given back at the end of boot, not a lasting reservation
    tables = early.alloc(nr_direct_map_tables, "direct map page tables")
    mem_map_frames = -(-max_pfn // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
    mem_map = early.alloc(
        math.ceil(mem_map_frames * MEM_MAP_BYTES_PER_PAGE / PAGE_SIZE),
        "mem_map (struct page array, page_ext)",
    )
    percpu = early.alloc(PERCPU_PAGES_PER_CPU * nr_cpus, "percpu first chunk")
    nr_kernel_pages = sum(len(range(r.start, min(r.stop, max_low_pfn))) for r in memory)
    for name, scale in BOOT_HASH_SCALES:
        early.alloc(_boot_hash_pages(nr_kernel_pages, scale), name)
    image = _load_image(image_pages, init_pages, early.top)
    reserved = [
        MemblockRegion(0, min(FIRST_MEGABYTE_PFNS, max_pfn), "BIOS, EBDA and real mode (1 MiB)"),
        MemblockRegion(image.text_pfn, image.edata_pfn, "kernel image (.text .data)"),
        MemblockRegion(image.bss_pfn, image.end_pfn, "kernel image (.bss)"),
        *(region for region in reversed(early.regions) if region.nr_pages),
    ]
    freed = (
        MemblockRegion(image.edata_pfn, image.bss_pfn, "kernel image (.init)"),
        MemblockRegion(initrd.start, initrd.stop, "initramfs"),
    )
    return BootLayout(
        image,
        tuple(reserved),
        tables,
        mem_map,
        percpu,
        tuple(region for region in freed if region.nr_pages),
    )


class _EarlyAllocations:
    """memblock_alloc's top-down placement below the end of low memory."""

    def __init__(self, max_low_pfn: int) -> None:
        self.top = max_low_pfn  # the lowest frame allocated so far
        self.regions: list[MemblockRegion] = []

    def alloc(self, nr_pages: int, name: str) -> range:
        """*nr_pages* frames just below the previous allocation, recorded as *name*."""
        self.top -= nr_pages
        self.regions.append(MemblockRegion(self.top, self.top + nr_pages, name))
        return range(self.top, self.top + nr_pages)


def _load_image(image_pages: int, init_pages: int, top: int) -> KernelImage:
    """The image at CONFIG_PHYSICAL_START, or at 1 MiB when that leaves less than 4 MiB
    below *top* (the early allocations), its sections in Debian 686's proportions.

    Raises:
        KernelBug: the image does not fit below *top*.
    """
    start = PHYSICAL_START >> PAGE_SHIFT
    if start + image_pages + init_pages + 1024 > top:  # keep at least 4 MiB above the image
        start = FIRST_MEGABYTE_PFNS
    end = start + image_pages + init_pages
    if end > top:
        raise KernelBug("RAM too small for the kernel image")
    text_kb = IMAGE_TEXT_KB + IMAGE_DATA_KB + IMAGE_BSS_KB
    data = start + image_pages * IMAGE_TEXT_KB // text_kb
    init = data + image_pages * IMAGE_DATA_KB // text_kb
    return KernelImage(
        start,
        data,
        init + init_pages,
        end,
        swapper_pg_dir=end - 2,
        zero_pfn=end - 1,
        init_pfn=init,
    )


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

    text, data, edata, bss, end = (
        virt(image.text_pfn),
        virt(image.data_pfn),
        virt(image.edata_pfn),
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
        f"      .data : 0x{data:08x} - 0x{edata:08x}   ({_kb(edata - data):4d} kB)",
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
