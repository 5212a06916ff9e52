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

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, TASK_SIZE, Prot
from vmsim_kernel.errors import (
    AlreadyExists,
    InvalidArgument,
    KernelBug,
    LimitExceeded,
    NoSuchObject,
    PermissionDenied,
)
from vmsim_kernel.fs.vfs import FILE_NAME_MAX, check_file_name
from vmsim_kernel.results import ShmInfo

from .page_alloc import free_page
from .physmem import PageFlag
from .swap_state import free_swap_and_cache

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

__all__ = [
    "NAME_MAX",
    "ShmemFs",
    "ShmemObject",
    "shm_create",
    "shm_list",
    "shm_lookup",
    "shm_unlink",
    "shmem_add_page",
    "shmem_release",
    "shmem_writeout",
]

# A shmem page's flags: swap-backed and valid, not PageAnon. PageDirty comes with the first
# write fault (fault_dirty_shared_page) or a dirty PTE's unmapping; reclaim writes a shmem
# page out whether or not it is dirty (its frame holds its only copy).
SHMEM_PAGE_FLAGS: Final = int(PageFlag.SWAPBACKED | PageFlag.UPTODATE)


NAME_MAX: Final = FILE_NAME_MAX  # the longest name of a file in /dev/shm


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


# ---- the shm namespace (shm_open, shm_unlink on /dev/shm) -------------------------------------
def _check_name(name: str) -> str:
    """The object's name without shm_open's optional leading slash (InvalidArgument: as
    open(2) refuses a file name)."""
    return check_file_name(name, "name", "a shared memory object name")


def shm_create(kernel: Kernel, task: Task, name: str, size: int, mode: int) -> ShmemObject:
    """shm_open(name, O_CREAT|O_EXCL|O_RDWR, mode) then ftruncate(size): a new named object,
    owned by *task*'s uid, with no page yet.

    Raises:
        InvalidArgument: a bad name, a size of 0 or past 3 GiB, or mode bits beyond 0o777.
        AlreadyExists: an object has this name.
        LimitExceeded: the named objects' sizes would pass half of RAM (/dev/shm's tmpfs
            size; Linux lets ftruncate pass it and fails the write that needs the page).
    """
    bare = _check_name(name)
    if not 0 < size <= TASK_SIZE:
        raise InvalidArgument("size", f"{size} bytes", "1 byte .. 3 GiB (rounded up to pages)")
    if not 0 <= mode <= 0o777:
        raise InvalidArgument("mode", f"{mode:#o} is not a permission mode", "0o000 .. 0o777")
    fs = kernel.shmem
    if bare in fs.named:
        raise AlreadyExists(bare)
    nr_pages = -(-size // PAGE_SIZE)
    # /dev/shm is a tmpfs of size=50% of RAM: what its objects may hold all together.
    limit = kernel.nr_managed_pages // 2
    used = sum(obj.nr_pages for obj in fs.named.values())
    if used + nr_pages > limit:
        raise LimitExceeded(
            f"/dev/shm holds {used} of its {limit} pages (tmpfs size=50% of RAM): "
            f"no room for {nr_pages} more (ENOSPC)",
            "shm_size",
        )
    obj = fs.new_object(bare, nr_pages, mode, task.uid)
    obj.linked = True
    fs.named[bare] = obj
    return obj


def shm_lookup(kernel: Kernel, task: Task, name: str, prot: int) -> ShmemObject:
    """shm_open(name, O_RDWR or O_RDONLY) for a mapping with *prot*: the object, if its mode
    lets *task*'s uid read it (and write it, for PROT_WRITE). The owner's bits apply to its
    uid, the others' bits to every other uid (each user is its own group here).

    Raises:
        InvalidArgument: a bad name.
        NoSuchObject: no object has this name.
        PermissionDenied: the mode does not allow the access.
    """
    bare = _check_name(name)
    fs = kernel.shmem
    obj = fs.named.get(bare)
    if obj is None:
        raise NoSuchObject(bare, ", ".join(sorted(fs.named)) or "none")
    bits = (obj.mode >> 6) & 7 if task.uid == obj.owner else obj.mode & 7
    need = 4 | (2 if prot & Prot.WRITE else 0)
    if bits & need != need:
        whose = "owner" if task.uid == obj.owner else "others"
        wanted = "read and write" if need & 2 else "read"
        raise PermissionDenied(
            f"{bare!r} has mode {obj.mode:#o}, owner uid {obj.owner}: uid {task.uid} "
            f"({whose}) may not {wanted} it (EACCES)"
        )
    return obj


def shm_unlink(kernel: Kernel, task: Task, name: str) -> None:
    """shm_unlink(name): the name goes; the object lives on while a process maps it.

    Raises:
        InvalidArgument: a bad name.
        NoSuchObject: no object has this name.
        PermissionDenied: *task*'s uid is not the owner (/dev/shm is sticky, as /tmp).
    """
    bare = _check_name(name)
    fs = kernel.shmem
    obj = fs.named.get(bare)
    if obj is None:
        raise NoSuchObject(bare, ", ".join(sorted(fs.named)) or "none")
    if task.uid != obj.owner:
        raise PermissionDenied(
            f"{bare!r} belongs to uid {obj.owner}; uid {task.uid} may not unlink it "
            "(/dev/shm is sticky)"
        )
    del fs.named[bare]
    obj.linked = False
    shmem_release(kernel, obj)


def shm_list(kernel: Kernel) -> list[ShmInfo]:
    """The named objects, by name."""
    mappings: dict[int, int] = {}
    for task in kernel.tasks.values():
        if task.alive:
            for vma in task.mm:
                if vma.shmem is not None:
                    mappings[id(vma.shmem)] = mappings.get(id(vma.shmem), 0) + 1
    return [
        ShmInfo(
            name=obj.name,
            size=obj.nr_pages * PAGE_SIZE,
            mode=obj.mode,
            owner=obj.owner,
            resident=len(obj.pages) * PAGE_SIZE,
            swapped=len(obj.swapped) * PAGE_SIZE,
            mappings=mappings.get(id(obj), 0),
        )
        for _name, obj in sorted(kernel.shmem.named.items())
    ]
