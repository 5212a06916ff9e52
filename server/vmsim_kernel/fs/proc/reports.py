"""The /proc reports: meminfo, vmstat, zoneinfo, swaps and per-process maps, smaps, status.

Models fs/proc/meminfo.c, mm/vmstat.c (vmstat, zoneinfo), mm/swapfile.c (swaps),
fs/proc/task_mmu.c (maps, smaps) and fs/proc/array.c (status). The numbers are
computed from the machine's state each time; nothing here is cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import (
    FIXADDR_TOP,
    LAST_PKMAP,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PKMAP_BASE,
    SWP_OFFSET_SHIFT,
    SWP_TYPE_SHIFT,
    TASK_SIZE,
    VMALLOC_END,
    MiB,
    ZoneType,
    high_memory,
    vmalloc_start,
)
from vmsim_kernel.arch.x86.layout import format_e820, format_layout_block, format_memblock
from vmsim_kernel.arch.x86.pgtable import (
    PTE_ACCESSED,
    PTE_DIRTY,
    PTE_MAPPED,
    PTE_PRESENT,
    PTE_RW,
    pde_index,
    pgd_words,
)
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.mm.highmem import FIXADDR_START, nr_kernel_pagetable_pages
from vmsim_kernel.mm.mlock import nr_locked_pages
from vmsim_kernel.mm.oom_kill import oom_score
from vmsim_kernel.mm.page_writeback import global_dirty_limits
from vmsim_kernel.mm.physmem import PageFlag
from vmsim_kernel.mm.swap import MAX_SWAPFILES, PROC_SWAPS_HEADER
from vmsim_kernel.mm.unmap import pte_runs
from vmsim_kernel.mm.vma import MmStruct, Vma
from vmsim_kernel.mm.vmstat import VMSTAT_EVENT_NAMES
from vmsim_kernel.results import ProcessInfo, VmaInfo, ZoneInfo

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task
    from vmsim_kernel.mm.policies import Lruvec
    from vmsim_kernel.mm.swap import SwapDevice

__all__ = [
    "SmapsRollup",
    "check_invariants",
    "format_layout",
    "format_maps",
    "format_meminfo",
    "format_smaps",
    "format_smaps_rollup",
    "format_stat",
    "format_status",
    "format_swaps",
    "format_vmstat",
    "format_zoneinfo",
    "layout",
    "meminfo",
    "process_info",
    "smaps_rollup",
    "swaps",
    "vma_info",
    "vmstat",
    "zoneinfo",
]

_P = PTE_PRESENT
_A = PTE_ACCESSED
_D = PTE_DIRTY


def _kb(pages: int) -> int:
    return pages * (PAGE_SIZE // 1024)


def _lru_sizes(lruvec: Lruvec) -> tuple[list[int], list[int]]:
    """(active pfns, inactive pfns) of user pages; policies without two lists report all inactive."""
    snapshot = lruvec.policy.snapshot()
    if "active" in snapshot:
        return snapshot["active"], snapshot.get("inactive", [])
    everything = [pfn for pfns in snapshot.values() for pfn in pfns]
    return [], everything


def _nr_swapcache(kernel: Kernel) -> int:
    return int(np.count_nonzero(kernel.physmem.flags & np.uint32(PageFlag.SWAPCACHE)))


def _nr_shmem(kernel: Kernel) -> int:
    """Shmem pages (NR_SHMEM): MAP_SHARED anonymous memory, swap-backed but not PageAnon."""
    flags = kernel.physmem.flags
    backed = (flags & np.uint32(PageFlag.SWAPBACKED)) != 0
    return int(np.count_nonzero(backed & ((flags & np.uint32(PageFlag.ANON)) == 0)))


def _nr_file_mapped(kernel: Kernel) -> int:
    """Shmem and page cache pages some PTE maps (NR_FILE_MAPPED): the mapped pages that
    are not PageAnon."""
    flags = kernel.physmem.flags
    not_anon = (flags & np.uint32(PageFlag.ANON)) == 0
    return int(np.count_nonzero(not_anon & (kernel.physmem.mapcount > 0)))


def _nr_mlocked(kernel: Kernel) -> int:
    """Pages off the LRU because a locked mapping maps them (NR_MLOCK, the unevictable list)."""
    return int(np.count_nonzero(kernel.physmem.flags & np.uint32(PageFlag.MLOCKED)))


def _nr_pagetable_pages(kernel: Kernel) -> int:
    """NR_PAGETABLE (meminfo's PageTables): the user PTE pages of the live processes only.

    Linux 6.1 counts a page table in pgtable_pte_page_ctor, which only pte_alloc_one (a user
    PTE page) calls: i686 non-PAE's pgd_alloc and pte_alloc_one_kernel (vmalloc, pkmap and
    fixmap tables, __get_free_page) are not accounted there, so neither is counted here.
    """
    return sum(task.mm.nr_ptes for task in kernel.tasks.values() if task.alive)


def _nr_pagetable_frames(kernel: Kernel) -> int:
    """Every frame holding a page table or directory made after boot: the user PTE pages, one
    page directory per live process and the kernel page tables (vmalloc, pkmap, fixmap)."""
    nr_page_directories = sum(1 for task in kernel.tasks.values() if task.alive)
    return (
        _nr_pagetable_pages(kernel)
        + nr_page_directories
        + nr_kernel_pagetable_pages(kernel.init_mm)
    )


def _nr_kernel_pages(kernel: Kernel) -> int:
    """Pages the kernel allocated for itself: slabs, large kmallocs, vmalloc areas, stacks,
    and what boot keeps (system hash tables, ftrace's records, the bounce pool)."""
    slab = kernel.slab
    return (
        slab.nr_slab_pages
        + slab.nr_large_kmalloc_pages
        + kernel.vmalloc_space.nr_vmalloc_pages
        + kernel.nr_kernel_stack_pages
        + kernel.nr_boot_kernel_pages
    )


def meminfo(kernel: Kernel) -> dict[str, int]:
    """/proc/meminfo in kB, in Linux's order."""
    allocator = kernel.allocator
    zones = allocator.zones
    high = zones[ZoneType.HIGHMEM]
    low_total = sum(z.managed_pages for z in zones if z.zone_type is not ZoneType.HIGHMEM)
    low_free = sum(z.nr_free_pages for z in zones if z.zone_type is not ZoneType.HIGHMEM)
    free = allocator.nr_free_pages()
    reserve = allocator.totalreserve_pages()
    active, inactive = _lru_sizes(kernel.lruvec)
    file_lru = kernel.lruvec.file
    shmem = _nr_shmem(kernel)
    mapped_file = _nr_file_mapped(kernel)
    swap_total = kernel.swap_info.nr_swap_pages
    swap_free = sum(area.nr_free_slots for area in kernel.swap_info.areas())
    return {
        "MemTotal": _kb(kernel.nr_managed_pages),
        "MemFree": _kb(free),
        "MemAvailable": _kb(max(0, free - reserve)),
        "Buffers": 0,
        "Cached": _kb(shmem + len(kernel.fs.owner_of)),  # shmem pages are page cache too
        "SwapCached": _kb(_nr_swapcache(kernel)),
        "Active": _kb(len(active) + len(file_lru.active)),
        "Inactive": _kb(len(inactive) + len(file_lru.inactive)),
        "Active(anon)": _kb(len(active)),
        "Inactive(anon)": _kb(len(inactive)),
        "Active(file)": _kb(len(file_lru.active)),
        "Inactive(file)": _kb(len(file_lru.inactive)),
        "Unevictable": _kb(_nr_mlocked(kernel)),
        "Mlocked": _kb(_nr_mlocked(kernel)),
        "HighTotal": _kb(high.managed_pages),
        "HighFree": _kb(high.nr_free_pages),
        "LowTotal": _kb(low_total),
        "LowFree": _kb(low_free),
        "SwapTotal": _kb(swap_total),
        "SwapFree": _kb(swap_free),
        "Zswap": 0,
        "Zswapped": 0,
        "Dirty": _kb(kernel.fs.nr_dirty),
        "Writeback": 0,  # writeback completes in the call that starts it
        "AnonPages": _kb(kernel.rmap.nr_mapped_pages() - mapped_file),
        "Mapped": _kb(mapped_file),
        "Shmem": _kb(shmem),
        "KReclaimable": _kb(kernel.slab.nr_slab_reclaimable_pages),
        "Slab": _kb(kernel.slab.nr_slab_pages + kernel.slab.nr_large_kmalloc_pages),
        "SReclaimable": _kb(kernel.slab.nr_slab_reclaimable_pages),
        "SUnreclaim": _kb(
            kernel.slab.nr_slab_pages
            - kernel.slab.nr_slab_reclaimable_pages
            + kernel.slab.nr_large_kmalloc_pages
        ),
        "KernelStack": _kb(kernel.nr_kernel_stack_pages),
        "PageTables": _kb(_nr_pagetable_pages(kernel)),
        "SecPageTables": 0,
        "NFS_Unstable": 0,
        "Bounce": 0,
        "WritebackTmp": 0,
        "CommitLimit": _kb(kernel.commit_limit_pages),
        "Committed_AS": _kb(kernel.committed_pages),
        "VmallocTotal": (VMALLOC_END - vmalloc_start(kernel.nr_lowmem_frames)) // 1024,
        "VmallocUsed": kernel.vmalloc_space.used_bytes // 1024,
        "VmallocChunk": 0,  # Linux prints 0 since 5.3 (finding the chunk took the vmap lock)
        "Percpu": _kb(len(kernel.boot.percpu)),
        "HardwareCorrupted": 0,
        "AnonHugePages": 0,
        "ShmemHugePages": 0,
        "ShmemPmdMapped": 0,
        "FileHugePages": 0,
        "FilePmdMapped": 0,
        "DirectMap4k": _kb(kernel.nr_lowmem_frames - kernel.nr_direct_map_4m_chunks * 1024),
        "DirectMap4M": _kb(kernel.nr_direct_map_4m_chunks * 1024),
    }


def _kb_line(name: str, value: int) -> str:
    """One "Name:      1234 kB" line (show_val_kb, SEQ_PUT_DEC): the label padded to 16 and the
    number to 8, so that the numbers end in column 24; a longer label keeps one space and
    takes it from the number's width ("Private_Hugetlb: %7lu", "HardwareCorrupted: %5lu")."""
    label = f"{name}:"
    if len(label) < 16:
        return f"{label.ljust(16)}{value:>8} kB"
    return f"{label} {value:>{max(1, 23 - len(label))}} kB"


# The hugetlb block (hugetlb_report_meminfo) sits between FilePmdMapped and DirectMap4k;
# there are no huge pages here, and a huge page of non-PAE x86 is 4 MiB.
_HUGETLB_LINES = (
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       4096 kB\n"
    "Hugetlb:               0 kB\n"
)


def format_meminfo(kernel: Kernel) -> str:
    """/proc/meminfo text, line for line as fs/proc/meminfo.c prints it on i386."""
    lines = []
    for name, value in meminfo(kernel).items():
        if name == "DirectMap4k":
            lines.append(_HUGETLB_LINES)
        lines.append(_kb_line(name, value) + "\n")
    return "".join(lines)


def vmstat(kernel: Kernel) -> dict[str, int]:
    """/proc/vmstat: every line a 6.1 i386 kernel prints, in its order (vmstat.VMSTAT_EVENT_NAMES)."""
    active, inactive = _lru_sizes(kernel.lruvec)
    slab = kernel.slab
    shmem = _nr_shmem(kernel)
    file_lru = kernel.lruvec.file
    dirty_threshold, dirty_background_threshold = global_dirty_limits(kernel)
    values = {
        "nr_free_pages": kernel.allocator.nr_free_pages(),
        "nr_zone_inactive_anon": len(inactive),
        "nr_zone_active_anon": len(active),
        "nr_zone_inactive_file": len(file_lru.inactive),
        "nr_zone_active_file": len(file_lru.active),
        "nr_zone_write_pending": kernel.fs.nr_dirty,
        "nr_inactive_anon": len(inactive),
        "nr_active_anon": len(active),
        "nr_inactive_file": len(file_lru.inactive),
        "nr_active_file": len(file_lru.active),
        "nr_dirty": kernel.fs.nr_dirty,
        "nr_slab_unreclaimable": slab.nr_slab_pages + slab.nr_large_kmalloc_pages,
        "nr_anon_pages": kernel.rmap.nr_mapped_pages() - _nr_file_mapped(kernel),
        "nr_mapped": _nr_file_mapped(kernel),
        "nr_file_pages": shmem + len(kernel.fs.owner_of),
        "nr_shmem": shmem,
        "nr_page_table_pages": _nr_pagetable_pages(kernel),
        "nr_swapcached": _nr_swapcache(kernel),
        "nr_dirty_threshold": dirty_threshold,
        "nr_dirty_background_threshold": dirty_background_threshold,
    } | kernel.vm_events.as_dict()
    return {name: values.get(name, 0) for name in VMSTAT_EVENT_NAMES}


def format_vmstat(kernel: Kernel) -> str:
    """/proc/vmstat text: "name value" lines."""
    return "".join(f"{k} {v}\n" for k, v in vmstat(kernel).items())


def zoneinfo(kernel: Kernel) -> list[ZoneInfo]:
    """Per-zone numbers, all three zones (empty ones with zero pages)."""
    allocator = kernel.allocator
    active, inactive = _lru_sizes(kernel.lruvec)
    zone_ids = [zone.zone_type for zone in allocator.zones]
    per_zone_active = [0] * len(zone_ids)
    per_zone_inactive = [0] * len(zone_ids)
    for pfns, counts in ((active, per_zone_active), (inactive, per_zone_inactive)):
        for pfn in pfns:
            counts[allocator.zone_of(pfn).zone_type] += 1
    result = []
    for zone in allocator.zones:
        result.append(
            ZoneInfo(
                name=zone.name,
                start_pfn=zone.start_pfn,
                spanned=zone.end_pfn - zone.start_pfn,
                present=zone.present_pages,
                managed=zone.managed_pages,
                free=zone.nr_free_pages,
                min=zone.watermark_min,
                low=zone.watermark_low,
                high=zone.watermark_high,
                free_area=tuple(area.nr_free for area in zone.free_area),
                counters={
                    "nr_free_pages": zone.nr_free_pages,
                    "nr_zone_inactive_anon": per_zone_inactive[zone.zone_type],
                    "nr_zone_active_anon": per_zone_active[zone.zone_type],
                },
                protection=_protection(zone.lowmem_reserve),
                pcp_count=zone.nr_pcp_pages,
                pcp_high=zone.pageset_high,
                pcp_batch=zone.pageset_batch,
            )
        )
    return result


# The node counters zoneinfo prints under "per-node stats", and the zone counters after
# "protection:", in the order of a 6.1 kernel (node_stat_item, zone_stat_item).
# vmstat prints each as one run of its lines, in the same order: one list for both.
_NODE_STAT_NAMES = VMSTAT_EVENT_NAMES[
    VMSTAT_EVENT_NAMES.index("nr_inactive_anon") : VMSTAT_EVENT_NAMES.index("nr_swapcached") + 1
]
_ZONE_STAT_NAMES = VMSTAT_EVENT_NAMES[: VMSTAT_EVENT_NAMES.index("nr_free_cma") + 1]


def _protection(lowmem_reserve: list[int]) -> tuple[int, ...]:
    """The protection columns: one per zone type, the empty ZONE_MOVABLE's equal to HighMem's."""
    return (*lowmem_reserve, lowmem_reserve[-1])


def _stat_threshold(managed_pages: int, nr_cpus: int) -> int:
    """calculate_normal_threshold: per-CPU counter drift allowed before folding."""
    mem = managed_pages >> (27 - PAGE_SHIFT)
    return min(125, 2 * nr_cpus.bit_length() * (1 + mem.bit_length()))


def format_zoneinfo(kernel: Kernel) -> str:
    """/proc/zoneinfo text as zoneinfo_show_print writes it: the node's counters with the
    first populated zone, then each zone (DMA, Normal, HighMem and the empty Movable) with
    its marks, `protection:` (lowmem_reserve per classzone), counters and per-CPU pagesets
    (each CPU's pages on its lists, their high and batch)."""
    node = vmstat(kernel) | kernel.vm_events.as_dict()
    allocator = kernel.allocator
    nr_cpus = kernel.config.nr_cpus
    out: list[str] = []
    printed_node = False
    highmem_populated = not allocator.zones[ZoneType.HIGHMEM].is_empty
    for zone, info in zip(allocator.zones, zoneinfo(kernel), strict=True):
        out.append(f"Node 0, zone {zone.name:>8}")
        if zone.present_pages and not printed_node:
            printed_node = True
            out.append("  per-node stats")
            out += [f"      {name:<12} {node.get(name, 0)}" for name in _NODE_STAT_NAMES]
        out += _zone_header(
            zone.nr_free_pages,
            zone.watermark_min,
            zone.watermark_low,
            zone.watermark_high,
            info.spanned,
            zone.present_pages,
            zone.managed_pages,
            zone.lowmem_reserve,
        )
        if not zone.present_pages:
            continue
        out += [f"      {name:<12} {info.counters.get(name, 0)}" for name in _ZONE_STAT_NAMES]
        out.append("  pagesets")
        for cpu, pcp in enumerate(zone.per_cpu_pageset):
            out += [
                f"    cpu: {cpu}",
                f"              count: {pcp.count}",
                f"              high:  {pcp.high}",
                f"              batch: {pcp.batch}",
            ]
        out.append(f"  vm stats threshold: {_stat_threshold(zone.managed_pages, nr_cpus)}")
        out.append("  node_unreclaimable:  0")
        out.append(f"  start_pfn:           {zone.start_pfn}")
    # ZONE_MOVABLE exists but is empty; its marks are the highmem clamp when it would take
    # its pages from HighMem.
    movable_mark = 32 if highmem_populated else 0
    out.append(f"Node 0, zone {'Movable':>8}")
    out += _zone_header(0, movable_mark, movable_mark, movable_mark, 0, 0, 0, [0, 0, 0])
    return "\n".join(out) + "\n"


def _zone_header(
    free: int,
    low_min: int,
    low: int,
    high: int,
    spanned: int,
    present: int,
    managed: int,
    lowmem_reserve: list[int],
) -> list[str]:
    protection = ", ".join(str(v) for v in _protection(lowmem_reserve))
    return [
        f"  pages free     {free}",
        "        boost    0",
        f"        min      {low_min}",
        f"        low      {low}",
        f"        high     {high}",
        f"        spanned  {spanned}",
        f"        present  {present}",
        f"        managed  {managed}",
        "        cma      0",
        f"        protection: ({protection})",
    ]


def _areas(swap: SwapDevice | Sequence[SwapDevice] | None) -> Sequence[SwapDevice]:
    """The active swap areas in swap_info order, whether one device or several are given."""
    if swap is None:
        return ()
    if isinstance(swap, Sequence):
        return swap
    return (swap,)


def swaps(swap: SwapDevice | Sequence[SwapDevice] | None) -> list[dict[str, str | int]]:
    """/proc/swaps rows, one per active area (none without swap)."""
    return [
        {
            "filename": area.path,
            "type": "file",
            "size_kb": area.size_kb,
            "used_kb": area.used_kb,
            "priority": area.priority,
        }
        for area in _areas(swap)
    ]


def format_swaps(swap: SwapDevice | Sequence[SwapDevice] | None) -> str:
    """/proc/swaps text: the header, then one line per active area in swap_info order."""
    return PROC_SWAPS_HEADER + "".join(area.proc_swaps_line() for area in _areas(swap))


def _present_own_pages(kernel: Kernel, entries: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """Which PTEs map a page of the process's own: present and not the shared zero page."""
    present: npt.NDArray[np.bool_] = (entries & np.uint32(PTE_MAPPED)) != 0
    own: npt.NDArray[np.bool_] = (entries >> np.uint32(PAGE_SHIFT)) != np.uint32(kernel.zero_pfn)
    return present & own


# fs/proc/task_mmu.c keeps Pss in fixed point: bytes << PSS_SHIFT, each shared page adding
# (PAGE_SIZE << PSS_SHIFT) / mapcount, shifted back only when printed.
PSS_SHIFT = 12
_PAGE_PSS = PAGE_SIZE << PSS_SHIFT


def _swap_counts(kernel: Kernel, entries: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """swp_swapcount of each swap entry: the PTEs that hold its slot (swap_map without the
    swap cache's own reference)."""
    counts = np.zeros(len(entries), dtype=np.int64)
    if not len(entries):
        return counts
    types = _swap_types(entries)
    offsets = (entries >> np.uint32(SWP_OFFSET_SHIFT)).astype(np.int64)
    for swap_type in np.unique(types).tolist():
        swap = kernel.swap_info.area(swap_type)
        mine = types == swap_type
        counts[mine] = swap.swap_map[offsets[mine]].astype(np.int64)
        cache = swap.cache
        counts[mine] -= np.fromiter(
            (offset in cache for offset in offsets[mine].tolist()), bool, int(mine.sum())
        )
    return counts


def _swap_types(entries: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """__swp_type of each swap entry: the area it names."""
    mask = np.uint32(MAX_SWAPFILES - 1)
    return ((entries >> np.uint32(SWP_TYPE_SHIFT)) & mask).astype(np.int64)


def vma_info(kernel: Kernel, mm: MmStruct, vma: Vma) -> VmaInfo:
    """maps/smaps numbers of one VMA, from its PTEs (smaps_pte_range, smaps_account): a page
    mapped more than once is Shared, and adds PAGE_SIZE / mapcount to Pss (and to Pss_Dirty
    when its PTE or the page is dirty); a swap entry adds PAGE_SIZE / (PTEs holding its slot)
    to SwapPss. Both sum in Linux's fixed point (PSS_SHIFT)."""
    rss = swap = referenced = shared_dirty = shared_clean = private_dirty = lazyfree = 0
    pss = pss_dirty = swap_pss = 0  # fixed point
    ram32 = kernel.ram32
    mapcount = kernel.physmem.mapcount
    page_flags = kernel.physmem.flags
    for _va, first, count in pte_runs(kernel, mm, vma.start, vma.end):
        entries = ram32[first : first + count]
        present = _present_own_pages(kernel, entries)
        rss += int(present.sum())
        swapped = entries[(entries & np.uint32(PTE_MAPPED)) == 0]
        swapped = swapped[swapped != 0]
        swap += len(swapped)
        swap_pss += int((_PAGE_PSS // np.maximum(_swap_counts(kernel, swapped), 1)).sum())
        mapped = entries[present]
        referenced += int(np.count_nonzero(mapped & np.uint32(_A)))
        pfns = (mapped >> np.uint32(PAGE_SHIFT)).astype(np.int64)
        dirty = ((mapped & np.uint32(_D)) != 0) | (
            (page_flags[pfns] & np.uint32(PageFlag.DIRTY)) != 0
        )
        counts = mapcount[pfns]
        shared = counts > 1
        shared_dirty += int(np.count_nonzero(shared & dirty))
        shared_clean += int(np.count_nonzero(shared & ~dirty))
        private_dirty += int(np.count_nonzero(~shared & dirty))
        # smaps_account: an anonymous page MADV_FREE left clean is LazyFree
        lazy = (page_flags[pfns] & np.uint32(PageFlag.ANON | PageFlag.SWAPBACKED)) == np.uint32(
            PageFlag.ANON
        )
        lazyfree += int(np.count_nonzero(lazy & ~dirty))
        share = _PAGE_PSS // np.maximum(counts, 1).astype(np.int64)
        pss += int(share.sum())
        pss_dirty += int(share[dirty].sum())
    private_clean = rss - shared_dirty - shared_clean - private_dirty
    if vma.shmem is not None:  # shmem_swap_usage: the object's pages in swap, not PTEs'
        first, last = vma.shmem_index(vma.start), vma.shmem_index(vma.end)
        swap += sum(1 for index in vma.shmem.swapped if first <= index < last)
    return VmaInfo(
        start=vma.start,
        end=vma.end,
        perms=vma.perms,
        name=vma.kind,
        rss=rss * PAGE_SIZE,
        swap=swap * PAGE_SIZE,
        anonymous=0 if vma.shared else rss * PAGE_SIZE,  # shmem pages are not Anonymous
        referenced=referenced * PAGE_SIZE,
        shared_clean=shared_clean * PAGE_SIZE,
        shared_dirty=shared_dirty * PAGE_SIZE,
        private_clean=private_clean * PAGE_SIZE,
        private_dirty=private_dirty * PAGE_SIZE,
        pss=pss >> PSS_SHIFT,
        pss_dirty=pss_dirty >> PSS_SHIFT,
        swap_pss=swap_pss >> PSS_SHIFT,
        locked=vma.locked,
        lazyfree=lazyfree * PAGE_SIZE,
    )


def _vma_header(start: int, end: int, perms: str, name: str) -> str:
    """One maps line (show_vma_header_prefix); seq_pad puts a name in column 49 on 32-bit."""
    prefix = f"{start:08x}-{end:08x} {perms} 00000000 00:00 0 "
    return prefix.ljust(48) + " " + name if name else prefix


def _maps_line(info: VmaInfo) -> str:
    return _vma_header(info.start, info.end, info.perms, info.name)


def format_maps(kernel: Kernel, task: Task, vmas: Iterable[Vma] | None = None) -> str:
    """/proc/<pid>/maps text (of *vmas* only, when given: a part of the report)."""
    chosen = task.mm if vmas is None else vmas
    return "".join(_maps_line(vma_info(kernel, task.mm, vma)) + "\n" for vma in chosen)


def _vm_flags(vma: Vma) -> str:
    flags = []
    flags += ["rd"] if vma.prot & 1 else []
    flags += ["wr"] if vma.prot & 2 else []
    flags += ["ex"] if vma.prot & 4 else []
    flags += ["sh"] if vma.shared else []
    flags += ["mr", "mw", "me"]
    flags += ["ms"] if vma.shared else []
    flags += ["gd"] if vma.grows_down else []
    flags += ["lo"] if vma.locked else []
    flags += ["ac"] if vma.accounted else []
    return " ".join(flags)


def _smap_sizes(info: VmaInfo) -> dict[str, int]:
    """The sizes __show_smap prints for one VMA, in bytes and in its order after Pss_Dirty
    (no huge pages here: those lines are 0)."""
    return {
        "Shared_Clean": info.shared_clean,
        "Shared_Dirty": info.shared_dirty,
        "Private_Clean": info.private_clean,
        "Private_Dirty": info.private_dirty,
        "Referenced": info.referenced,
        "Anonymous": info.anonymous,
        "LazyFree": info.lazyfree,
        "AnonHugePages": 0,
        "ShmemPmdMapped": 0,
        "FilePmdMapped": 0,
        "Shared_Hugetlb": 0,
        "Private_Hugetlb": 0,
        "Swap": info.swap,
        "SwapPss": info.swap_pss,
        "Locked": info.rss if info.locked else 0,
    }


def _kb_lines(sizes: dict[str, int]) -> list[str]:
    return [_kb_line(name, size // 1024) for name, size in sizes.items()]


def format_smaps(kernel: Kernel, task: Task, vmas: Iterable[Vma] | None = None) -> str:
    """/proc/<pid>/smaps text (of *vmas* only, when given: a part of the report), as 6.1's
    show_smap prints it on i686: THPeligible unpadded, and no ProtectionKey line (x86 has
    protection keys only with 64-bit page tables)."""
    out = []
    for vma in task.mm if vmas is None else vmas:
        info = vma_info(kernel, task.mm, vma)
        out.append(_maps_line(info))
        out += _kb_lines(
            {
                "Size": vma.end - vma.start,
                "KernelPageSize": PAGE_SIZE,
                "MMUPageSize": PAGE_SIZE,
                "Rss": info.rss,
                "Pss": info.pss,
                "Pss_Dirty": info.pss_dirty,
            }
            | _smap_sizes(info)
        )
        out.append("THPeligible:    0")  # seq_printf("THPeligible:    %d\n"): no THP here
        out.append(f"VmFlags: {_vm_flags(vma)} ")  # each mnemonic is followed by a space
    return "\n".join(out) + ("\n" if out else "")


# The Pss lines only smaps_rollup prints (__show_smap with rollup set).
_ROLLUP_PSS = ("Pss_Anon", "Pss_File", "Pss_Shmem")


@dataclass
class SmapsRollup:
    """What show_smaps_rollup sums while it walks a process's VMAs: every VMA's smaps in bytes
    (shifted to kB only at the end, as Linux does), Pss split by what the pages are (MAP_SHARED
    mappings hold shmem, the rest anonymous memory; there are no file pages), and the range
    walked. It can be filled a few VMAs at a time (Machine.smaps_rollup_part).

    Attributes:
        alive: False for a zombie, which has no mm: its file is empty here (reading Linux's
            fails with ESRCH).
        start: the first VMA's start (0 before any VMA, as Linux prints for none).
        end: the last VMA's end so far: where the next part of the walk starts.
        sizes: the sums in bytes by smaps_rollup line name, in the file's order.
    """

    alive: bool = True
    start: int = 0
    end: int = 0
    sizes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("Rss", "Pss", "Pss_Dirty", *_ROLLUP_PSS), 0)
    )

    def add(self, kernel: Kernel, mm: MmStruct, vma: Vma) -> None:
        """Count one VMA (smap_gather_stats)."""
        info = vma_info(kernel, mm, vma)
        if not self.end:
            self.start = vma.start
        self.end = vma.end
        sizes = self.sizes
        sizes["Rss"] += info.rss
        sizes["Pss"] += info.pss
        sizes["Pss_Dirty"] += info.pss_dirty
        # A file mapping's pages are the file's (a private one's copies are anon, counted
        # with them here: smaps_rollup would split them page by page).
        kind = "Pss_File" if vma.file is not None else "Pss_Shmem" if vma.shared else "Pss_Anon"
        sizes[kind] += info.pss
        for name, size in _smap_sizes(info).items():
            sizes[name] = sizes.get(name, 0) + size

    def kb(self) -> dict[str, int]:
        """The sums in kB by name (none for a zombie)."""
        return {name: size // 1024 for name, size in self.sizes.items()} if self.alive else {}

    def text(self) -> str:
        """The /proc/<pid>/smaps_rollup text: a maps-style header from the first VMA's start to
        the last one's end, named [rollup], then the summed smaps lines without Size and
        THPeligible."""
        if not self.alive:
            return ""
        lines = [_kb_line(name, kb) for name, kb in self.kb().items()]
        return "\n".join([_vma_header(self.start, self.end, "---p", "[rollup]"), *lines]) + "\n"


def smaps_rollup(kernel: Kernel, task: Task) -> SmapsRollup:
    """/proc/<pid>/smaps_rollup of *task*, every VMA summed in one pass."""
    rollup = SmapsRollup(alive=task.alive)
    if task.alive:
        for vma in task.mm:
            rollup.add(kernel, task.mm, vma)
    return rollup


def format_smaps_rollup(kernel: Kernel, task: Task) -> str:
    """/proc/<pid>/smaps_rollup text (empty for a zombie)."""
    return smaps_rollup(kernel, task).text()


def process_info(kernel: Kernel, task: Task) -> ProcessInfo:
    """Status of one process (live or zombie): /proc/<pid>/status and stat in one record."""
    mm = task.mm
    times = task.cpu_times()
    death = task.death
    return ProcessInfo(
        pid=task.pid,
        name=task.name,
        state=task.state,
        vm_size=mm.total_vm_pages * PAGE_SIZE if task.alive else 0,
        vm_rss=mm.rss * PAGE_SIZE,
        vm_swap=mm.swap_entries * PAGE_SIZE,
        vm_pte=mm.nr_ptes * PAGE_SIZE,
        vm_peak=mm.hiwater_vm * PAGE_SIZE,
        vm_hwm=mm.hiwater_rss * PAGE_SIZE,
        minor_faults=task.min_flt,
        major_faults=task.maj_flt,
        oom_score_adj=task.oom_score_adj,
        oom_score=oom_score(task, kernel.oom_totalpages),
        killed_by=death.signal if death else None,
        kill_address=death.address if death else None,
        kill_reason=death.reason if death else None,
        nr_threads=len(task.threads),
        user_ns=times.user_ns,
        system_ns=times.system_ns,
        iowait_ns=times.iowait_ns,
        lock_wait_ns=times.lock_wait_ns,
    )


# A client's process runs as an ordinary user: uid/gid 1000, no capabilities but the bounding
# set of 6.1 (CAP_LAST_CAP 40: 41 bits).
_USER_ID = 1000
_CAP_BOUNDING_SET = (1 << 41) - 1
# THREAD_SIZE is 8 KiB on i386: fork_init sizes max_threads to totalram / 16 pages.
_PAGES_PER_THREAD_LIMIT = 8 * 8192 // PAGE_SIZE
_MIN_THREADS = 20


def _cpumask(nr_cpus: int) -> str:
    """Every one of *nr_cpus* CPUs as "%*pb" prints a cpumask of nr_cpu_ids bits: hex in
    comma-separated 32-bit chunks, the first one padded to its own width."""
    mask = (1 << nr_cpus) - 1
    chunks = []
    for bit in range(0, nr_cpus, 32):
        width = (min(32, nr_cpus - bit) + 3) // 4
        chunks.append(f"{(mask >> bit) & 0xFFFFFFFF:0{width}x}")
    return ",".join(reversed(chunks))


def _cpulist(nr_cpus: int) -> str:
    """Every one of *nr_cpus* CPUs as "%*pbl" prints it: "0" or "0-N"."""
    return "0" if nr_cpus == 1 else f"0-{nr_cpus - 1}"


def _sigpending_limit(nr_managed_pages: int) -> int:
    """RLIMIT_SIGPENDING of init, which every process inherits: max_threads / 2, with
    max_threads from the RAM at boot (fork_init, set_max_threads)."""
    return max(_MIN_THREADS, nr_managed_pages // _PAGES_PER_THREAD_LIMIT) // 2


def _status_memory_lines(task: Task, info: ProcessInfo) -> list[str]:
    """task_mem's lines, then the other lines only a process with an mm has."""
    mm = task.mm
    stack = mm.stack_vma()
    data = sum(v.end - v.start for v in mm if not v.shared and v.writable and not v.grows_down)

    def kb(name: str, size: int) -> str:
        return f"{name}:\t{size // 1024:>8} kB"

    return [
        kb("VmPeak", info.vm_peak),
        kb("VmSize", info.vm_size),
        kb("VmLck", nr_locked_pages(task.mm) * PAGE_SIZE),
        kb("VmPin", 0),
        kb("VmHWM", info.vm_hwm),
        kb("VmRSS", info.vm_rss),
        kb("RssAnon", mm.rss_anon * PAGE_SIZE),
        kb("RssFile", mm.rss_file * PAGE_SIZE),
        kb("RssShmem", mm.rss_shmem * PAGE_SIZE),
        kb("VmData", data),
        kb("VmStk", (stack.end - stack.start) if stack else 0),
        kb("VmExe", 0),
        kb("VmLib", 0),
        kb("VmPTE", info.vm_pte),
        kb("VmSwap", info.vm_swap),
        kb("HugetlbPages", 0),
        "CoreDumping:\t0",
        "THP_enabled:\t1",  # MMF_DISABLE_THP unset: 1 even with THP "never", as on Linux
    ]


def format_status(kernel: Kernel, task: Task) -> str:
    """/proc/<pid>/status text: every line of 6.1's proc_pid_status on i686, in its order.

    The memory lines, the thread count and the CPUs come from the machine; the rest is what
    Linux shows for a process of an ordinary user with no signals pending, blocked, ignored
    or caught, no seccomp filter and no capabilities, started without a session. A zombie has
    no mm, so its file lacks the memory lines, as Linux's does.
    """
    info = process_info(kernel, task)
    nr_cpus = kernel.config.nr_cpus
    no_signals = "0" * 16
    lines = [
        f"Name:\t{task.name}",
        "Umask:\t0022",
        f"State:\t{'R (running)' if task.alive else 'Z (zombie)'}",
        f"Tgid:\t{task.pid}",
        "Ngid:\t0",
        f"Pid:\t{task.pid}",
        "PPid:\t1",
        "TracerPid:\t0",
        f"Uid:\t{_USER_ID}\t{_USER_ID}\t{_USER_ID}\t{_USER_ID}",
        f"Gid:\t{_USER_ID}\t{_USER_ID}\t{_USER_ID}\t{_USER_ID}",
        "FDSize:\t32",  # NR_OPEN_DEFAULT: BITS_PER_LONG descriptors in the first fd table
        f"Groups:\t{_USER_ID} ",  # Linux ends the list with a space
        f"NStgid:\t{task.pid}",
        f"NSpid:\t{task.pid}",
        "NSpgid:\t0",
        "NSsid:\t0",
        *(_status_memory_lines(task, info) if task.alive else []),
        f"Threads:\t{len(task.threads) if task.alive else 1}",
        f"SigQ:\t0/{_sigpending_limit(kernel.nr_managed_pages)}",
        *(f"{name}:\t{no_signals}" for name in ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")),
        f"CapInh:\t{0:016x}",
        f"CapPrm:\t{0:016x}",
        f"CapEff:\t{0:016x}",
        f"CapBnd:\t{_CAP_BOUNDING_SET:016x}",
        f"CapAmb:\t{0:016x}",
        "NoNewPrivs:\t0",
        "Seccomp:\t0",
        "Seccomp_filters:\t0",
        "Speculation_Store_Bypass:\tvulnerable",  # the simulated CPU has no SSBD, like qemu32
        "SpeculationIndirectBranch:\talways enabled",
        f"Cpus_allowed:\t{_cpumask(nr_cpus)}",
        f"Cpus_allowed_list:\t{_cpulist(nr_cpus)}",
        "Mems_allowed:\t1",  # one node
        "Mems_allowed_list:\t0",
        # A task sleeps only for swap I/O (each major fault); the scheduler keeps no
        # per-task count of preemptions.
        f"voluntary_ctxt_switches:\t{task.maj_flt}",
        "nonvoluntary_ctxt_switches:\t0",
    ]
    return "\n".join(lines) + "\n"


def _check_page_cache(kernel: Kernel) -> None:
    """Every page cache page is its file's page at its index, once, on the file LRU (or
    mlocked), never on the anon lists; Dirty counts exactly the dirty ones.

    Raises:
        KernelBug: any of these does not hold.
    """
    fs = kernel.fs
    flags = kernel.physmem.flags
    seen = 0
    for inode in fs.inodes.values():
        for index, pfn in inode.mapping.pages.items():
            seen += 1
            if fs.owner_of.get(pfn) != (inode, index):
                raise KernelBug(f"page cache pfn {pfn} is not {inode.name!r}'s page {index}")
            if pfn in kernel.lruvec.policy:
                raise KernelBug(f"page cache pfn {pfn} is on an anon LRU list")
            if pfn not in kernel.lruvec.file and not flags.item(pfn) & PageFlag.MLOCKED:
                raise KernelBug(f"page cache pfn {pfn} is on no LRU list")
            if flags.item(pfn) & (PageFlag.ANON | PageFlag.SWAPBACKED):
                raise KernelBug(f"page cache pfn {pfn} has anon or swap-backed flags")
    if seen != len(fs.owner_of):
        raise KernelBug(f"{len(fs.owner_of)} page cache pages, but the files hold {seen}")
    dirty = sum(1 for pfn in fs.owner_of if flags.item(pfn) & PageFlag.DIRTY)
    if dirty != fs.nr_dirty or set(fs.dirty_pages) != {
        pfn for pfn in fs.owner_of if flags.item(pfn) & PageFlag.DIRTY
    }:
        raise KernelBug(f"Dirty counts {fs.nr_dirty} pages, {dirty} page cache pages are dirty")


def check_invariants(kernel: Kernel) -> None:
    """Raise KernelBug unless frames, mappings, page tables, swap slots and commit add up."""
    kernel.allocator.check_invariants()
    kernel.slab.check_invariants()
    kernel.vmalloc_space.check_invariants()
    for area in kernel.swap_info.areas():
        area.check_invariants()
    _check_page_cache(kernel)
    cached = _unmapped_lru_pages(kernel)
    _check_frame_accounting(kernel, len(cached))
    _check_lru_lists(kernel, cached)
    _check_rmap(kernel)
    _check_process_page_tables(kernel)


def _unmapped_lru_pages(kernel: Kernel) -> list[int]:
    """The pages on an LRU list that no PTE maps: read ahead into the swap cache, of shmem
    objects (held by their object) and of the page cache (held by their file)."""
    rmap = kernel.rmap
    swap_caches = [area.cache.values() for area in kernel.swap_info.areas()]
    return [
        pfn
        for pfns in (*swap_caches, kernel.shmem.owner_of, kernel.fs.owner_of)
        for pfn in pfns
        if not rmap.is_mapped(pfn)
    ]


def _check_frame_accounting(kernel: Kernel, nr_cached: int) -> None:
    """Every managed frame is free, a user page, an unmapped cached page, a page table or the
    kernel's; and the processes' RSS adds up to the pages' mapcounts."""
    managed = kernel.nr_managed_pages
    free = kernel.allocator.nr_free_pages() + kernel.allocator.nr_pcp_pages()
    mapped = kernel.rmap.nr_mapped_pages()
    tables = _nr_pagetable_frames(kernel)
    kernel_pages = _nr_kernel_pages(kernel)
    if free + mapped + nr_cached + tables + kernel_pages != managed:
        raise KernelBug(
            f"frames: free {free} + user {mapped} + swap cache {nr_cached} + page tables "
            f"{tables} + kernel {kernel_pages} != managed {managed}"
        )
    live = [task for task in kernel.tasks.values() if task.alive]
    if sum(task.mm.rss for task in live) != int(kernel.physmem.mapcount.sum()):
        raise KernelBug("sum of RSS differs from the sum of mapcounts")


def _check_lru_lists(kernel: Kernel, cached: list[int]) -> None:
    """The LRU lists hold every mapped page (but the mlocked ones) and every cached one."""
    mapped = kernel.rmap.nr_mapped_pages()
    mlocked = _nr_mlocked(kernel)  # mapped, but on the unevictable list instead
    file_lru = kernel.lruvec.file
    on_lists = len(kernel.lruvec.policy) + len(file_lru)
    if on_lists != mapped + len(cached) - mlocked or not all(
        pfn in kernel.lruvec.policy or pfn in file_lru for pfn in cached
    ):
        raise KernelBug(
            f"the LRU lists track {on_lists} pages but {mapped} are mapped "
            f"and {len(cached)} cached or read ahead"
        )


def _check_rmap(kernel: Kernel) -> None:
    """Every reverse mapping points at a PTE that maps its page, and a page with several
    mappers is writable in none of its private (copy-on-write) mappings. A MAP_SHARED
    mapping of the same page may be writable: a file's page-cache page is mapped so by one
    process while another maps the file MAP_PRIVATE and has only read it."""
    for pfn, mappings in kernel.rmap.items():
        if len(mappings) > 1:
            for mapping in mappings:
                vma = mapping.mm.find_vma(mapping.address)
                private = vma is None or not vma.shared
                if private and kernel.ram_words[mapping.pte_word] & PTE_RW:
                    raise KernelBug(f"pfn {pfn} is shared copy-on-write but writable in a PTE")
        for mapping in mappings:
            if kernel.ram_words[mapping.pte_word] >> PAGE_SHIFT != pfn or not (
                kernel.ram_words[mapping.pte_word] & PTE_MAPPED
            ):
                raise KernelBug(f"rmap of pfn {pfn} points at a PTE that does not map it")


def _check_process_page_tables(kernel: Kernel) -> None:
    """Each process's page tables hold its RSS, swap entries and nr_ptes; the swap map counts
    every swap entry (of a PTE, a shmem object or the swap cache), each page's mapcount its
    PTEs, and Committed_AS is the processes' sum."""
    shmem_entries = [
        np.array(list(obj.swapped.values()), dtype=np.uint32) for obj in kernel.shmem.objects
    ]
    swap_refs = _nr_swapcache(kernel) + sum(len(entries) for entries in shmem_entries)
    committed = 0
    mapped_pfns: list[npt.NDArray[np.uint32]] = []  # every PTE's page, for the mapcounts
    swap_entries = list(shmem_entries)  # every swap entry of a PTE or an object, for swap_map
    for task in kernel.tasks.values():
        if not task.alive:
            continue
        mm = task.mm
        committed += mm.committed_pages
        present = swapped = 0
        for _va, first, count in pte_runs(kernel, mm, 0, TASK_SIZE):
            entries = kernel.ram32[first : first + count]
            own = _present_own_pages(kernel, entries)
            present += int(own.sum())
            mapped_pfns.append(entries[own] >> np.uint32(PAGE_SHIFT))
            in_swap = entries[(entries & np.uint32(PTE_MAPPED)) == 0]
            swapped += int(np.count_nonzero(in_swap))
            swap_entries.append(in_swap[in_swap != 0])
        if present != mm.rss or swapped != mm.swap_entries:
            raise KernelBug(
                f"pid {task.pid}: page tables hold {present} pages and {swapped} swap entries, "
                f"counters say {mm.rss} and {mm.swap_entries}"
            )
        user_pdes = kernel.ram32[pgd_words(mm.pgd_pfn)][: pde_index(TASK_SIZE)]
        nr_tables = int(np.count_nonzero(user_pdes & np.uint32(_P)))
        if nr_tables != mm.nr_ptes:
            raise KernelBug(f"pid {task.pid}: {nr_tables} page tables but nr_ptes {mm.nr_ptes}")
        swap_refs += swapped
    swap_map_refs = sum(int(area.swap_map.sum()) for area in kernel.swap_info.areas())
    if swap_map_refs != swap_refs:
        raise KernelBug(f"swap maps count {swap_map_refs} references, found {swap_refs}")
    _check_counts_per_page(kernel, mapped_pfns, swap_entries)
    if committed != kernel.committed_pages:
        raise KernelBug(f"Committed_AS {kernel.committed_pages} != sum over processes {committed}")


def _check_counts_per_page(
    kernel: Kernel,
    mapped_pfns: list[npt.NDArray[np.uint32]],
    swap_entries: list[npt.NDArray[np.uint32]],
) -> None:
    """Raise KernelBug unless each page's mapcount is the number of PTEs that map it, and
    each swap slot's count the number of PTEs that hold it plus the swap cache's reference."""
    nr_frames = kernel.physmem.nr_frames
    pfns = np.concatenate(mapped_pfns) if mapped_pfns else np.zeros(0, np.uint32)
    ptes_per_page = np.bincount(pfns.astype(np.int64), minlength=nr_frames)
    wrong = np.flatnonzero(ptes_per_page != kernel.physmem.mapcount)
    if len(wrong):
        pfn = int(wrong[0])
        raise KernelBug(
            f"pfn {pfn}: mapcount {kernel.physmem.mapcount[pfn]} but {ptes_per_page[pfn]} PTEs"
        )
    entries = np.concatenate(swap_entries) if swap_entries else np.zeros(0, np.uint32)
    types = _swap_types(entries)
    unknown = set(np.unique(types).tolist()) - set(kernel.swap_info.types())
    if unknown:
        raise KernelBug(f"swap entries name swap types {sorted(unknown)}, which are not on")
    for swap in kernel.swap_info.areas():
        mine = entries[types == swap.swap_type]
        offsets = (mine >> np.uint32(SWP_OFFSET_SHIFT)).astype(np.int64)
        refs = np.bincount(offsets, minlength=swap.nr_slots)
        cached = np.fromiter(swap.cache, np.int64, len(swap.cache))
        refs[cached] += 1
        wrong = np.flatnonzero(refs != swap.swap_map)
        if len(wrong):
            offset = int(wrong[0])
            raise KernelBug(
                f"swap slot {swap.swap_type}:{offset}: swap_map {swap.swap_map[offset]} but "
                f"{refs[offset]} PTEs and swap-cache references"
            )


def layout(kernel: Kernel) -> dict[str, int]:
    """The layout the machine uses, by the kernel's names; the image as physical addresses."""
    image = kernel.boot.image
    return {
        "PAGE_OFFSET": PAGE_OFFSET,
        "high_memory": high_memory(kernel.nr_lowmem_frames),
        "VMALLOC_START": vmalloc_start(kernel.nr_lowmem_frames),
        "VMALLOC_END": VMALLOC_END,
        "PKMAP_BASE": PKMAP_BASE,
        "FIXADDR_START": FIXADDR_START,
        "FIXADDR_TOP": FIXADDR_TOP,
        "_text": image.text_pfn << PAGE_SHIFT,
        "_etext": image.data_pfn << PAGE_SHIFT,
        "_edata": image.edata_pfn << PAGE_SHIFT,
        "_end": image.end_pfn << PAGE_SHIFT,
        "swapper_pg_dir": image.swapper_pg_dir << PAGE_SHIFT,
        "empty_zero_page": image.zero_pfn << PAGE_SHIFT,
    }


def format_layout(kernel: Kernel) -> str:
    """The boot layout: Linux's "virtual kernel memory layout" block derived for the configured
    CPUs, the layout this simulated machine uses, the memblock reservations and the boot
    "Memory:" line."""
    linux = kernel.virtual_layout
    image = kernel.boot.image
    high_memory_va = high_memory(kernel.nr_lowmem_frames)
    start = vmalloc_start(kernel.nr_lowmem_frames)
    kb = PAGE_SIZE // 1024
    allocator = kernel.allocator
    highmem_kb = allocator.zones[ZoneType.HIGHMEM].managed_pages * kb
    text_kb = (image.data_pfn - image.text_pfn) * kb
    data_kb = (image.edata_pfn - image.data_pfn) * kb
    bss_kb = (image.end_pfn - image.bss_pfn) * kb
    split = (
        "the textbook split (low memory up to 896 MiB)"
        if kernel.config.textbook_split
        else "low memory up to MAXMEM, as above"
    )
    nr_present = sum(zone.present_pages for zone in allocator.zones)
    lines = [
        *format_e820(kernel.e820),
        f"# as a 6.1 i386 kernel derives it for NR_CPUS={linux.nr_cpus} "
        f"(MAXMEM {linux.maxmem // MiB} MiB)",
        *format_layout_block(linux, image),
        f"# what this simulated machine uses: {split}; fixmap, pkmap and vmalloc's end "
        "where the textbook's small fixmap puts them",
        f"    fixmap  : 0x{FIXADDR_START:08x} - 0x{FIXADDR_TOP:08x}   "
        f"({(FIXADDR_TOP - FIXADDR_START) // 1024:4d} kB)",
        f"    pkmap   : 0x{PKMAP_BASE:08x} - 0x{PKMAP_BASE + LAST_PKMAP * PAGE_SIZE:08x}   "
        f"({LAST_PKMAP * PAGE_SIZE // 1024:4d} kB)",
        f"    vmalloc : 0x{start:08x} - 0x{VMALLOC_END:08x}   "
        f"({(VMALLOC_END - start) // MiB:4d} MB)",
        f"    lowmem  : 0x{PAGE_OFFSET:08x} - 0x{high_memory_va:08x}   "
        f"({(high_memory_va - PAGE_OFFSET) // MiB:4d} MB)",
        *format_memblock(kernel.boot.reserved),
        f"Memory: {kernel.nr_managed_pages * kb}K/{nr_present * kb}K available "
        f"({text_kb}K kernel code, {data_kb}K rwdata, {bss_kb}K bss, "
        f"{kernel.nr_boot_reserved * kb}K reserved, 0K cma-reserved, {highmem_kb}K highmem)",
    ]
    return "\n".join(lines) + "\n"


def format_stat(kernel: Kernel) -> str:
    """/proc/stat's cpu line, in simulated nanoseconds instead of USER_HZ ticks, plus process counts."""
    times = kernel.cpu_times()
    live = sum(1 for task in kernel.tasks.values() if task.alive)
    return (
        "# simulated nanoseconds: user nice system idle iowait irq softirq steal guest guest_nice\n"
        f"cpu  {times.user_ns} 0 {times.system_ns} 0 {times.iowait_ns} 0 0 0 0 0\n"
        f"lock_wait {times.lock_wait_ns}\n"
        f"kswapd {kernel.kswapd.times.system_ns}\n"
        f"clock {kernel.now_ns}\n"
        f"processes {len(kernel.tasks)}\n"
        f"procs_running {live}\n"
    )
