"""The /proc reports: meminfo, vmstat, zoneinfo, swaps and per-process maps, smaps, status.

Models fs/proc/meminfo.c, mm/vmstat.c (vmstat, zoneinfo), mm/swapfile.c (swaps),
fs/proc/task_mmu.c (maps, smaps) and fs/proc/array.c (status). The numbers are
computed from the machine's state each time; nothing here is cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    TASK_SIZE,
    VMALLOC_END,
    ZoneType,
    vmalloc_start,
)
from .errors import KernelBug
from .highmem import nr_kernel_pagetable_pages
from .memory import pte_runs
from .mm import MmStruct, Vma
from .pgtable import PTE_ACCESSED, PTE_DIRTY, PTE_PRESENT
from .physmem import PageFlag
from .results import VmaInfo, ZoneInfo

if TYPE_CHECKING:
    from .machine import Machine
    from .process import Task

__all__ = [
    "check_invariants",
    "format_maps",
    "format_meminfo",
    "format_smaps",
    "format_stat",
    "format_status",
    "format_swaps",
    "format_vmstat",
    "format_zoneinfo",
    "meminfo",
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


def _lru_sizes(machine: Machine) -> tuple[list[int], list[int]]:
    """(active pfns, inactive pfns) of user pages; policies without two lists report all inactive."""
    snapshot = machine.policy.snapshot()
    if "active" in snapshot:
        return snapshot["active"], snapshot.get("inactive", [])
    everything = [pfn for pfns in snapshot.values() for pfn in pfns]
    return [], everything


def _nr_swapcache(machine: Machine) -> int:
    return int(np.count_nonzero(machine.physmem.flags & np.uint32(PageFlag.SWAPCACHE)))


def _nr_pagetable_pages(machine: Machine) -> int:
    """User page tables, one page directory per live process, and the kernel page tables made
    after boot (vmalloc, pkmap, fixmap): the NR_PAGETABLE view."""
    user = sum(task.mm.nr_ptes + 1 for task in machine.tasks.values() if task.alive)
    return user + nr_kernel_pagetable_pages(machine)


def _nr_kernel_pages(machine: Machine) -> int:
    """Pages the kernel allocated for itself: slabs, large kmallocs, vmalloc areas."""
    slab = machine.slab
    return slab.nr_slab_pages + slab.nr_large_kmalloc_pages + machine.vmalloc_space.nr_vmalloc_pages


def meminfo(machine: Machine) -> dict[str, int]:
    """/proc/meminfo in kB, in Linux's order."""
    allocator = machine.allocator
    zones = allocator.zones
    high = zones[ZoneType.HIGHMEM]
    low_total = sum(z.managed_pages for z in zones if z.zone_type is not ZoneType.HIGHMEM)
    low_free = sum(z.nr_free_pages for z in zones if z.zone_type is not ZoneType.HIGHMEM)
    free = allocator.nr_free_pages()
    reserve = sum(z.watermark_high for z in zones)
    active, inactive = _lru_sizes(machine)
    swap = machine.swap
    swap_total = swap.nr_usable_slots if swap else 0
    swap_free = swap_total - (swap.inuse_pages if swap else 0)
    return {
        "MemTotal": _kb(machine.nr_managed_pages),
        "MemFree": _kb(free),
        "MemAvailable": _kb(max(0, free - reserve)),
        "Buffers": 0,
        "Cached": 0,
        "SwapCached": _kb(_nr_swapcache(machine)),
        "Active": _kb(len(active)),
        "Inactive": _kb(len(inactive)),
        "Active(anon)": _kb(len(active)),
        "Inactive(anon)": _kb(len(inactive)),
        "Active(file)": 0,
        "Inactive(file)": 0,
        "Unevictable": 0,
        "Mlocked": 0,
        "HighTotal": _kb(high.managed_pages),
        "HighFree": _kb(high.nr_free_pages),
        "LowTotal": _kb(low_total),
        "LowFree": _kb(low_free),
        "SwapTotal": _kb(swap_total),
        "SwapFree": _kb(swap_free),
        "Dirty": 0,
        "Writeback": 0,
        "AnonPages": _kb(machine.rmap.nr_mapped_pages()),
        "Mapped": 0,
        "Shmem": 0,
        "KReclaimable": 0,
        "Slab": _kb(machine.slab.nr_slab_pages + machine.slab.nr_large_kmalloc_pages),
        "SReclaimable": 0,
        "SUnreclaim": _kb(machine.slab.nr_slab_pages + machine.slab.nr_large_kmalloc_pages),
        "KernelStack": 0,
        "PageTables": _kb(_nr_pagetable_pages(machine)),
        "NFS_Unstable": 0,
        "Bounce": 0,
        "WritebackTmp": 0,
        "CommitLimit": _kb(machine.commit_limit_pages),
        "Committed_AS": _kb(machine.committed_pages),
        "VmallocTotal": (VMALLOC_END - vmalloc_start(machine.nr_lowmem_frames)) // 1024,
        "VmallocUsed": machine.vmalloc_space.used_bytes // 1024,
        "VmallocChunk": machine.vmalloc_space.largest_free_chunk // 1024,
        "HardwareCorrupted": 0,
        "AnonHugePages": 0,
        "DirectMap4k": _kb(machine.nr_lowmem_frames - machine.nr_direct_map_4m_chunks * 1024),
        "DirectMap4M": _kb(machine.nr_direct_map_4m_chunks * 1024),
    }


def _kb_line(name: str, value: int) -> str:
    """One "Name:      1234 kB" line: the label padded to 16, the number to 8 (show_val_kb)."""
    label = f"{name}:"
    label = label.ljust(16) if len(label) < 16 else label + " "
    return f"{label}{value:>8} kB"


def format_meminfo(machine: Machine) -> str:
    """/proc/meminfo text."""
    return "".join(_kb_line(k, v) + "\n" for k, v in meminfo(machine).items())


def vmstat(machine: Machine) -> dict[str, int]:
    """/proc/vmstat: the nr_* gauges, then the event counters."""
    active, inactive = _lru_sizes(machine)
    gauges = {
        "nr_free_pages": machine.allocator.nr_free_pages(),
        "nr_zone_inactive_anon": len(inactive),
        "nr_zone_active_anon": len(active),
        "nr_zone_inactive_file": 0,
        "nr_zone_active_file": 0,
        "nr_zone_unevictable": 0,
        "nr_zone_write_pending": 0,
        "nr_mlock": 0,
        "nr_page_table_pages": _nr_pagetable_pages(machine),
        "nr_bounce": 0,
        "nr_inactive_anon": len(inactive),
        "nr_active_anon": len(active),
        "nr_anon_pages": machine.rmap.nr_mapped_pages(),
        "nr_mapped": 0,
        "nr_dirty": 0,
        "nr_writeback": 0,
        "nr_shmem": 0,
        "nr_swapcached": _nr_swapcache(machine),
    }
    return gauges | machine.vm_events.as_dict()


def format_vmstat(machine: Machine) -> str:
    """/proc/vmstat text: "name value" lines."""
    return "".join(f"{k} {v}\n" for k, v in vmstat(machine).items())


def zoneinfo(machine: Machine) -> list[ZoneInfo]:
    """Per-zone numbers, all three zones (empty ones with zero pages)."""
    allocator = machine.allocator
    active, inactive = _lru_sizes(machine)
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
            )
        )
    return result


def format_zoneinfo(machine: Machine) -> str:
    """/proc/zoneinfo text (one node, per-node stats printed with the first zone)."""
    lines = []
    node = vmstat(machine)
    for i, zone in enumerate(zoneinfo(machine)):
        lines.append(f"Node 0, zone {zone.name:>8}")
        if i == 0:
            lines.append("  per-node stats")
            for key in (
                "nr_inactive_anon",
                "nr_active_anon",
                "nr_anon_pages",
                "nr_mapped",
                "nr_dirty",
                "nr_writeback",
                "nr_shmem",
                "nr_swapcached",
            ):
                lines.append(f"      {key} {node[key]}")
        lines += [
            f"  pages free     {zone.free}",
            "        boost    0",
            f"        min      {zone.min}",
            f"        low      {zone.low}",
            f"        high     {zone.high}",
            f"        spanned  {zone.spanned}",
            f"        present  {zone.present}",
            f"        managed  {zone.managed}",
            "        cma      0",
        ]
        if zone.present:
            lines += [f"      {key} {value}" for key, value in zone.counters.items()]
            lines.append("  pagesets")
            lines.append("  node_unreclaimable:  0")
            lines.append(f"  start_pfn:           {zone.start_pfn}")
    return "\n".join(lines) + "\n"


def swaps(machine: Machine) -> list[dict[str, str | int]]:
    """/proc/swaps rows."""
    swap = machine.swap
    if swap is None:
        return []
    return [
        {
            "filename": swap.path,
            "type": "file",
            "size_kb": swap.size_kb,
            "used_kb": swap.used_kb,
            "priority": swap.priority,
        }
    ]


def format_swaps(machine: Machine) -> str:
    """/proc/swaps text."""
    if machine.swap is None:
        return "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    return machine.swap.proc_swaps()


def vma_info(machine: Machine, mm: MmStruct, vma: Vma) -> VmaInfo:
    """maps/smaps numbers of one VMA, from its PTEs (smaps_pte_range)."""
    rss = swap = referenced = dirty = shared = 0
    pss_pages = 0.0
    ram32 = machine.ram32
    mapcount = machine.physmem.mapcount
    for _va, first, count in pte_runs(machine, mm, vma.start, vma.end):
        entries = ram32[first : first + count]
        present = (entries & np.uint32(_P)) != 0
        rss += int(present.sum())
        swap += int(np.count_nonzero(entries[~present]))
        referenced += int(np.count_nonzero(entries[present] & np.uint32(_A)))
        dirty += int(np.count_nonzero(entries[present] & np.uint32(_D)))
        counts = mapcount[(entries[present] >> np.uint32(PAGE_SHIFT)).astype(np.int64)]
        shared += int(np.count_nonzero(counts > 1))
        pss_pages += float((1.0 / np.maximum(counts, 1)).sum())
    private = rss - shared
    return VmaInfo(
        start=vma.start,
        end=vma.end,
        perms=vma.perms,
        name=vma.kind,
        rss=rss * PAGE_SIZE,
        swap=swap * PAGE_SIZE,
        anonymous=rss * PAGE_SIZE,
        referenced=referenced * PAGE_SIZE,
        shared_clean=0,
        shared_dirty=shared * PAGE_SIZE,
        private_clean=max(0, private - min(dirty, private)) * PAGE_SIZE,
        private_dirty=min(dirty, private) * PAGE_SIZE,
        pss=int(pss_pages * PAGE_SIZE),
    )


def _maps_line(info: VmaInfo) -> str:
    """One maps line; the name column starts at 49 as seq_pad pads it on 32-bit."""
    prefix = f"{info.start:08x}-{info.end:08x} {info.perms} 00000000 00:00 0 "
    return prefix.ljust(48) + " " + info.name if info.name else prefix


def format_maps(machine: Machine, task: Task) -> str:
    """/proc/<pid>/maps text."""
    return "".join(_maps_line(vma_info(machine, task.mm, vma)) + "\n" for vma in task.mm)


def _vm_flags(vma: Vma) -> str:
    flags = []
    flags += ["rd"] if vma.prot & 1 else []
    flags += ["wr"] if vma.prot & 2 else []
    flags += ["ex"] if vma.prot & 4 else []
    flags += ["sh"] if vma.shared else []
    flags += ["mr", "mw", "me"]
    flags += ["ms"] if vma.shared else []
    flags += ["gd"] if vma.grows_down else []
    flags += ["ac"] if vma.accounted else []
    return " ".join(flags)


def format_smaps(machine: Machine, task: Task) -> str:
    """/proc/<pid>/smaps text."""
    out = []
    for vma in task.mm:
        info = vma_info(machine, task.mm, vma)
        out.append(_maps_line(info))
        for name, value in (
            ("Size", (vma.end - vma.start) // 1024),
            ("KernelPageSize", 4),
            ("MMUPageSize", 4),
            ("Rss", info.rss // 1024),
            ("Pss", info.pss // 1024),
            ("Shared_Clean", info.shared_clean // 1024),
            ("Shared_Dirty", info.shared_dirty // 1024),
            ("Private_Clean", info.private_clean // 1024),
            ("Private_Dirty", info.private_dirty // 1024),
            ("Referenced", info.referenced // 1024),
            ("Anonymous", info.anonymous // 1024),
            ("LazyFree", 0),
            ("AnonHugePages", 0),
            ("ShmemPmdMapped", 0),
            ("FilePmdMapped", 0),
            ("Shared_Hugetlb", 0),
            ("Private_Hugetlb", 0),
            ("Swap", info.swap // 1024),
            ("SwapPss", info.swap // 1024),
            ("Locked", 0),
        ):
            out.append(_kb_line(name, value))
        out.append("THPeligible:    0")
        out.append(f"VmFlags: {_vm_flags(vma)}")
    return "\n".join(out) + ("\n" if out else "")


def format_status(machine: Machine, task: Task) -> str:
    """/proc/<pid>/status text (the memory lines and the identity lines around them)."""
    info = machine.process(task.pid)
    state = "R (running)" if task.alive else "Z (zombie)"
    stack = task.mm.stack_vma()
    data_kb = (
        sum(v.end - v.start for v in task.mm if not v.shared and v.writable and not v.grows_down)
        // 1024
    )

    def kb(name: str, value: int) -> str:
        return f"{name}:\t{value // 1024:>8} kB"

    lines = [
        f"Name:\t{task.name}",
        "Umask:\t0022",
        f"State:\t{state}",
        f"Tgid:\t{task.pid}",
        "Ngid:\t0",
        f"Pid:\t{task.pid}",
        "PPid:\t1",
        "TracerPid:\t0",
        "Uid:\t1000\t1000\t1000\t1000",
        "Gid:\t1000\t1000\t1000\t1000",
        "FDSize:\t64",
        "Groups:\t1000",
        kb("VmPeak", info.vm_peak),
        kb("VmSize", info.vm_size),
        kb("VmLck", 0),
        kb("VmPin", 0),
        kb("VmHWM", info.vm_hwm),
        kb("VmRSS", info.vm_rss),
        kb("RssAnon", info.vm_rss),
        kb("RssFile", 0),
        kb("RssShmem", 0),
        kb("VmData", data_kb * 1024),
        kb("VmStk", (stack.end - stack.start) if stack else 0),
        kb("VmExe", 0),
        kb("VmLib", 0),
        kb("VmPTE", info.vm_pte),
        kb("VmSwap", info.vm_swap),
        "Threads:\t1",
        f"SigQ:\t0/{machine.config.max_processes}",
        f"voluntary_ctxt_switches:\t{task.maj_flt}",
        "nonvoluntary_ctxt_switches:\t0",
    ]
    return "\n".join(lines) + "\n"


def check_invariants(machine: Machine) -> None:
    """Raise KernelBug unless frames, mappings, page tables, swap slots and commit add up."""
    machine.allocator.check_invariants()
    machine.slab.check_invariants()
    machine.vmalloc_space.check_invariants()
    if machine.swap is not None:
        machine.swap.check_invariants()
    live = [task for task in machine.tasks.values() if task.alive]
    managed = machine.nr_managed_pages
    free = machine.allocator.nr_free_pages()
    mapped = machine.rmap.nr_mapped_pages()
    tables = _nr_pagetable_pages(machine)
    kernel = _nr_kernel_pages(machine)
    if free + mapped + tables + kernel != managed:
        raise KernelBug(
            f"frames: free {free} + user {mapped} + page tables {tables} + kernel {kernel} "
            f"!= managed {managed}"
        )
    if sum(task.mm.rss_anon for task in live) != int(machine.physmem.mapcount.sum()):
        raise KernelBug("sum of RSS differs from the sum of mapcounts")
    if len(machine.policy) != mapped:
        raise KernelBug(f"policy tracks {len(machine.policy)} pages but {mapped} are mapped")
    for pfn, mappings in machine.rmap.items():
        owners = {id(m.mm) for m in mappings}
        if len(owners) > 1:
            vmas = [m.mm.find_vma(m.address) for m in mappings]
            if not all(v is not None and v.shared for v in vmas):
                raise KernelBug(f"pfn {pfn} is mapped privately by {len(owners)} processes")
        for mapping in mappings:
            if machine.ram_words[mapping.pte_word] >> PAGE_SHIFT != pfn or not (
                machine.ram_words[mapping.pte_word] & _P
            ):
                raise KernelBug(f"rmap of pfn {pfn} points at a PTE that does not map it")
    swap_refs = _nr_swapcache(machine)
    committed = 0
    for task in live:
        mm = task.mm
        committed += mm.committed_pages
        present = swapped = 0
        for _va, first, count in pte_runs(machine, mm, 0, TASK_SIZE):
            entries = machine.ram32[first : first + count]
            is_present = (entries & np.uint32(_P)) != 0
            present += int(is_present.sum())
            swapped += int(np.count_nonzero(entries[~is_present]))
        if present != mm.rss_anon or swapped != mm.swap_entries:
            raise KernelBug(
                f"pid {task.pid}: page tables hold {present} pages and {swapped} swap entries, "
                f"counters say {mm.rss_anon} and {mm.swap_entries}"
            )
        nr_tables = sum(
            1 for i in range(0, TASK_SIZE >> 22) if machine.ram_words[(mm.pgd_pfn << 10) + i] & _P
        )
        if nr_tables != mm.nr_ptes:
            raise KernelBug(f"pid {task.pid}: {nr_tables} page tables but nr_ptes {mm.nr_ptes}")
        swap_refs += swapped
    if machine.swap is not None and int(machine.swap.swap_map.sum()) != swap_refs:
        raise KernelBug(
            f"swap map counts {int(machine.swap.swap_map.sum())} references, found {swap_refs}"
        )
    if committed != machine.committed_pages:
        raise KernelBug(f"Committed_AS {machine.committed_pages} != sum over processes {committed}")


def format_stat(machine: Machine) -> str:
    """/proc/stat's cpu line, in simulated nanoseconds instead of USER_HZ ticks, plus process counts."""
    times = machine.cpu_times()
    live = sum(1 for task in machine.tasks.values() if task.alive)
    return (
        "# simulated nanoseconds: user nice system idle iowait irq softirq steal guest guest_nice\n"
        f"cpu  {times.user_ns} 0 {times.system_ns} 0 {times.iowait_ns} 0 0 0 0 0\n"
        f"lock_wait {times.lock_wait_ns}\n"
        f"kswapd {machine.kswapd.times.system_ns}\n"
        f"clock {machine.now_ns}\n"
        f"processes {len(machine.tasks)}\n"
        f"procs_running {live}\n"
    )
