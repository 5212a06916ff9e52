"""swapon and swapoff of swap areas at run time (mm/swapfile.c: sys_swapon, sys_swapoff,
try_to_unuse, unuse_pte_range, shmem_unuse).

An area added by swapon is an anonymous host file (nothing outlives the server) that
/proc/swaps shows as SWAP_DIR/NAME. swapoff takes the area off swap_avail_head, brings
every page it holds back into memory (each process's swap PTEs, each shmem object's
swapped pages, then the swap cache), and frees it. Linux would OOM-kill in try_to_unuse
when memory runs out; here swapoff refuses up front with ENOMEM when the area's pages
cannot fit (besides security_vm_enough_memory's commit check), and the area stays on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, ZONELIST, Gfp, KiB
from vmsim_kernel.arch.x86.pgtable import PTE_MAPPED
from vmsim_kernel.errors import (
    InvalidArgument,
    KernelBug,
    NoSuchSwapArea,
    OutOfMemory,
    ProcessKilled,
    SwapAreaActive,
)
from vmsim_kernel.fs.vfs import check_file_name
from vmsim_kernel.kernel.printk import LogLevel
from vmsim_kernel.kernel.time import SwapQueue

from .memory import shmem_get_page, swap_in_page
from .overcommit import commit_allowed, commit_refused
from .page_alloc import WatermarkLevel
from .physmem import PageFlag
from .swap import SwapDevice, swp_type
from .swap_state import delete_from_swap_cache, drop_unmapped_swap_cache_page
from .unmap import pte_runs

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

__all__ = ["SWAP_AREA_MIN_BYTES", "SWAP_DIR", "area_named", "swapoff", "swapon"]

# The directory /proc/swaps shows swapon's areas in (the server's swap directory).
SWAP_DIR: Final = "/swap"
# The header page and one slot: the smallest area SwapDevice can describe.
SWAP_AREA_MIN_BYTES: Final = 2 * PAGE_SIZE
# try_to_unuse walks everything again while pages keep coming back (reclaim may have put a
# page it brought in back into the area before the area left swap_avail_head); a bound.
_MAX_UNUSE_PASSES: Final = 8


def _area_path(name: str) -> str:
    """SWAP_DIR/NAME for a name given bare or as SWAP_DIR/NAME (checked as vfs names are)."""
    bare = name.removeprefix(SWAP_DIR + "/")
    return f"{SWAP_DIR}/{check_file_name(bare, 'name', 'a swap file name')}"


def area_named(kernel: Kernel, name: str) -> SwapDevice:
    """The active area called *name*: SWAP_DIR/NAME, NAME, or the path /proc/swaps shows.

    Raises:
        NoSuchSwapArea: no active area has that name.
    """
    swap_info = kernel.swap_info
    area = swap_info.by_path(name)
    if area is None and name:
        try:
            area = swap_info.by_path(_area_path(name))
        except InvalidArgument:
            area = None
    if area is None:
        raise NoSuchSwapArea(name, ", ".join(a.path for a in swap_info.areas()))
    return area


def swapon(kernel: Kernel, name: str, size_bytes: int, priority: int) -> SwapDevice:
    """mkswap + swapon of a new area SWAP_DIR/NAME of *size_bytes* (the header included).

    Args:
        name: the file's name in SWAP_DIR.
        size_bytes: a multiple of PAGE_SIZE, at least SWAP_AREA_MIN_BYTES; swapon's areas
            together stay within the machine's swapon_budget_bytes.
        priority: 0..32767, or -1 for the kernel's next automatic priority (-2, -3, ...).

    Raises:
        InvalidArgument: a bad name, size or priority (nothing changes).
        SwapAreaActive: an area of that name is on already.
        LimitExceeded: MAX_SWAPFILES areas are on already.
    """
    path = _area_path(name)
    swap_info = kernel.swap_info
    if swap_info.by_path(path) is not None:
        raise SwapAreaActive(path)
    budget = kernel.config.swapon_budget_bytes
    in_use = sum(
        area.nr_slots * PAGE_SIZE
        for area in swap_info.areas()
        if area.path.startswith(SWAP_DIR + "/")
    )
    allowed = (
        f"a multiple of {PAGE_SIZE} bytes from {SWAP_AREA_MIN_BYTES} (the header and one "
        f"slot) to the {budget - in_use} bytes left of swapon_budget_bytes {budget}"
    )
    if size_bytes % PAGE_SIZE or not SWAP_AREA_MIN_BYTES <= size_bytes <= budget - in_use:
        raise InvalidArgument("size", f"{size_bytes} bytes is not a usable swap size", allowed)
    swap_info.next_priority(priority)  # the range check, before anything is created
    swap_type = swap_info.free_type()
    area = SwapDevice(
        size_bytes,
        None,
        swap_type=swap_type,
        seed=kernel.config.seed + swap_type,
        lock=kernel.swap_lock,
        queue=SwapQueue(kernel.costs),
    )
    area.path = path
    if swap_info.add(area, priority) != swap_type:
        area.close()
        raise KernelBug(f"swap type {swap_type} was taken meanwhile")
    kernel.printk(
        LogLevel.INFO,
        f"Adding {area.size_kb}k swap on {path}.  Priority:{area.priority} extents:1 "
        f"across:{area.size_kb}k FS",
    )
    return area


def swapoff(kernel: Kernel, name: str) -> None:
    """sys_swapoff: bring every page of the area back into memory, then free the area.

    Raises:
        NoSuchSwapArea: no active area has that name.
        OutOfMemory: the area's pages do not fit in memory and the other areas, or the
            commit limit without the area would be exceeded (ENOMEM); the area stays on,
            unchanged.
    """
    area = area_named(kernel, name)
    _check_enough_memory(kernel, area)
    swap_info = kernel.swap_info
    swap_info.withdraw(area.swap_type)
    try:
        for _ in range(_MAX_UNUSE_PASSES):
            _try_to_unuse(kernel, area)
            if area.inuse_pages == 0:
                break
        else:
            raise OutOfMemory(
                f"swapoff {area.path}: {area.inuse_pages} pages are still in it after "
                f"{_MAX_UNUSE_PASSES} passes"
            )
    except BaseException:
        swap_info.restore(area.swap_type)  # reinsert_swap_info: the area stays in use
        raise
    swap_info.remove(area.swap_type)
    area.close()


def _check_enough_memory(kernel: Kernel, area: SwapDevice) -> None:
    """security_vm_enough_memory_mm(p->pages) (the commit check), and the pages not in
    memory must fit in free memory above the min watermarks plus the other areas' free
    slots (reclaim can make room there); else ENOMEM."""
    if not commit_allowed(kernel, area.nr_usable_slots):
        raise commit_refused(kernel, area.nr_usable_slots)
    needed = area.inuse_pages - len(area.cache)
    free = sum(
        zone.order0_pages_allowed(WatermarkLevel.MIN)
        for zone in kernel.allocator.zones
        if zone.zone_type in ZONELIST[Gfp.HIGHUSER]
    )
    others = sum(other.nr_free_slots for other in kernel.swap_info.available() if other is not area)
    if needed > free + others:
        raise OutOfMemory(
            f"swapoff {area.path}: its {needed} pages in swap ({needed * PAGE_SIZE // KiB} kB) "
            f"do not fit in the {free} free pages above the min watermarks and the {others} "
            "free slots of the other swap areas"
        )


def _try_to_unuse(kernel: Kernel, area: SwapDevice) -> None:
    """One pass of try_to_unuse: every process's swap PTEs of *area*, every shmem object's
    swapped pages in it, then its swap cache."""
    swap_type = area.swap_type
    for task in list(kernel.tasks.values()):
        if task.alive:
            _unuse_mm(kernel, task, swap_type)
    for obj in list(kernel.shmem.objects):
        for index, entry in list(obj.swapped.items()):
            if swp_type(entry) == swap_type:
                shmem_get_page(kernel, None, obj, index)  # shmem_unuse
    _unuse_swap_cache(kernel, area)


def _unuse_mm(kernel: Kernel, task: Task, swap_type: int) -> None:
    """unuse_mm: each PTE of *task* that holds an entry of the area gets its page back,
    mapped as do_swap_page maps a load (unuse_pte), and the page leaves the swap cache."""
    mm = task.mm
    words = kernel.ram_words
    for vma in list(mm):
        for va, first, count in pte_runs(kernel, mm, vma.start, vma.end):
            for index in range(count):
                pte = int(words[first + index])
                # pte_present() also covers PROT_NONE's frames, which are no swap entry
                if not pte or pte & PTE_MAPPED or swp_type(pte) != swap_type:
                    continue
                address = va + index * PAGE_SIZE
                try:
                    pfn, _read = swap_in_page(kernel, task, vma, address, first + index, False)
                except ProcessKilled:
                    # unuse_pte's SIGBUS on a slot that cannot be read back, or the OOM
                    # killer chose the task: its exit freed its swap entries.
                    return
                _free_swap(kernel, pfn)
                if not task.alive:
                    return


def _free_swap(kernel: Kernel, pfn: int) -> None:
    """folio_free_swap: a page only the swap cache ties to its slot lets go of it and is
    dirty (its one copy is in memory now); a slot other PTEs still name keeps it cached."""
    physmem = kernel.physmem
    if not physmem.flags.item(pfn) & PageFlag.SWAPCACHE:
        return
    entry = physmem.private.item(pfn)
    if kernel.swap_info.swap_count(entry) > 1:
        return
    kernel.swap_info.swap_free(delete_from_swap_cache(kernel, pfn))
    physmem.set_flags(pfn, PageFlag.DIRTY)


def _unuse_swap_cache(kernel: Kernel, area: SwapDevice) -> None:
    """The pages left in the area's swap cache once no PTE or object names their slots: a
    mapped one keeps its page (dirty, out of the cache), one read ahead for nobody goes."""
    for pfn in list(area.cache.values()):
        if kernel.rmap.is_mapped(pfn):
            _free_swap(kernel, pfn)
        elif kernel.swap_info.swap_count(int(kernel.physmem.private.item(pfn))) == 1:
            kernel.lruvec.policy.remove(pfn)
            drop_unmapped_swap_cache_page(kernel, pfn)
