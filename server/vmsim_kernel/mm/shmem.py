"""Shared memory objects: the pages behind MAP_SHARED|MAP_ANONYMOUS and named shm objects.

Models mm/shmem.c (shmem_zero_setup, shmem_get_folio, shmem_writepage, shmem_swapin,
shmem_truncate_range, shmem_evict_inode) on a tmpfs: an object holds its pages by index,
as its address_space does, so every process that maps it finds the same page; a page
reclaim took keeps its place as a swap entry, and the next fault reads it back into the
object. The pages are swap-backed, not PageAnon (they are Shmem and Cached in meminfo) and
live on the anon LRU lists as in 6.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from vmsim_kernel.errors import KernelBug

from .page_alloc import free_page
from .physmem import PageFlag
from .swap_state import free_swap_and_cache

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel

__all__ = [
    "ShmemFs",
    "ShmemObject",
    "shmem_add_page",
    "shmem_release",
    "shmem_writeout",
]

# A shmem page's flags: swap-backed and valid, not PageAnon. PageDirty comes with the first
# write fault (fault_dirty_shared_page) or a dirty PTE's unmapping; reclaim writes a shmem
# page out whether or not it is dirty (its frame holds its only copy).
SHMEM_PAGE_FLAGS: Final = int(PageFlag.SWAPBACKED | PageFlag.UPTODATE)


@dataclass(eq=False)
class ShmemObject:
    """One tmpfs inode and its pages (shmem_inode_info and its address_space).

    Attributes:
        name: "" for the object behind a MAP_SHARED|MAP_ANONYMOUS mapping, else its name
            in the shm namespace (/dev/shm/NAME).
        nr_pages: its size in pages (i_size; ftruncate's).
        mode: permission bits (0o600 ...), checked when another process opens it.
        owner: the creating process's user (uid).
        linked: still named (shm_unlink not called): it lives on with no mapping.
        pages: index -> pfn of the resident pages.
        swapped: index -> swap entry of the pages reclaim wrote out.
    """

    name: str
    nr_pages: int
    mode: int = 0o600
    owner: int = 0
    linked: bool = False
    pages: dict[int, int] = field(default_factory=dict)
    swapped: dict[int, int] = field(default_factory=dict)


@dataclass
class ShmemFs:
    """The tmpfs mount behind shared memory: named objects and each page's owner.

    Attributes:
        named: the objects in the shm namespace by name.
        owner_of: pfn -> (object, index) of every page an object holds (page->mapping and
            page->index), so reclaim and unmapping find the object of a frame.
        objects: every object alive (anonymous ones too), for the reports.
    """

    named: dict[str, ShmemObject] = field(default_factory=dict)
    owner_of: dict[int, tuple[ShmemObject, int]] = field(default_factory=dict)
    objects: list[ShmemObject] = field(default_factory=list)

    def new_object(
        self, name: str, nr_pages: int, mode: int = 0o600, owner: int = 0
    ) -> ShmemObject:
        """shmem_file_setup: a new empty object (named ones are linked by the caller)."""
        obj = ShmemObject(name, nr_pages, mode, owner)
        self.objects.append(obj)
        return obj


def shmem_add_page(kernel: Kernel, obj: ShmemObject, index: int, pfn: int) -> None:
    """shmem_add_to_page_cache: frame *pfn* (its bytes in place) is *obj*'s page *index*."""
    physmem = kernel.physmem
    physmem.flags[pfn] = physmem.flags.item(pfn) | SHMEM_PAGE_FLAGS
    obj.pages[index] = pfn
    kernel.shmem.owner_of[pfn] = (obj, index)


def shmem_writeout(kernel: Kernel, pfn: int, entry: int) -> None:
    """shmem_writepage's bookkeeping once the page's bytes are in the slot of *entry*: the
    object keeps the entry at the page's index and lets go of the frame (the caller has
    unmapped every PTE and frees the frame)."""
    found = kernel.shmem.owner_of.pop(pfn, None)
    if found is None:
        raise KernelBug(f"pfn {pfn} is in no shmem object")
    obj, index = found
    del obj.pages[index]
    obj.swapped[index] = entry


def shmem_release(kernel: Kernel, obj: ShmemObject) -> bool:
    """shmem_evict_inode when nothing holds *obj* any more: no VMA of a live process maps
    it and it is not named. Its pages and swap slots are freed. Returns whether it was."""
    if obj.linked or any(
        vma.shmem is obj for task in kernel.tasks.values() if task.alive for vma in task.mm
    ):
        return False
    physmem, fs = kernel.physmem, kernel.shmem
    for pfn in obj.pages.values():
        if kernel.rmap.is_mapped(pfn):
            raise KernelBug(f"releasing shmem pfn {pfn} that a PTE still maps")
        del fs.owner_of[pfn]
        kernel.lruvec.policy.remove(pfn)
        physmem.clear_flags(pfn, PageFlag.DIRTY)
        free_page(kernel.pgdat, pfn)
    for entry in obj.swapped.values():
        free_swap_and_cache(kernel, entry)
    obj.pages.clear()
    obj.swapped.clear()
    fs.objects.remove(obj)
    return True
