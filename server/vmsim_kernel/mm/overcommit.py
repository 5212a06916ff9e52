"""Virtual-memory accounting: may a mapping commit this many pages?

Models __vm_enough_memory() in mm/util.c: vm.overcommit_memory 0 (heuristic: refuse only
what could never fit in RAM + swap), 1 (always), 2 (never beyond CommitLimit =
swap + RAM * overcommit_ratio / 100, or swap + vm.overcommit_kbytes when that is set, less
vm.admin_reserve_kbytes for a non-root caller and vm.user_reserve_kbytes, capped at 1/32 of
the caller's size), and mm/util.c's init_admin_reserve / init_user_reserve defaults. The
settings in effect are the kernel's vm_sysctl record (kernel/sysctl.py writes it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmsim_kernel.arch.x86.constants import PAGE_SHIFT, KiB, MiB
from vmsim_kernel.config import OvercommitMode
from vmsim_kernel.errors import OutOfMemory

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel
    from vmsim_kernel.kernel.process import Task

__all__ = [
    "commit_allowed",
    "commit_limit",
    "commit_pages",
    "commit_refused",
    "init_admin_reserve_kbytes",
    "init_user_reserve_kbytes",
    "uncommit_pages",
    "vm_enough_memory",
]

_KB_TO_PAGES_SHIFT = PAGE_SHIFT - 10


def commit_limit(
    total_ram_pages: int, total_swap_pages: int, ratio: int, overcommit_kbytes: int = 0
) -> int:
    """CommitLimit in pages (vm_commit_limit): overcommit_kbytes if set, else ratio % of RAM,
    plus swap."""
    if overcommit_kbytes:
        return (overcommit_kbytes >> _KB_TO_PAGES_SHIFT) + total_swap_pages
    return total_ram_pages * ratio // 100 + total_swap_pages


def init_admin_reserve_kbytes(nr_free_pages: int) -> int:
    """vm.admin_reserve_kbytes at boot: min(3% of free memory, 8 MiB) (init_admin_reserve)."""
    return min((nr_free_pages << _KB_TO_PAGES_SHIFT) // 32, 8 * MiB // KiB)


def init_user_reserve_kbytes(nr_free_pages: int) -> int:
    """vm.user_reserve_kbytes at boot: min(3% of free memory, 128 MiB) (init_user_reserve)."""
    return min((nr_free_pages << _KB_TO_PAGES_SHIFT) // 32, 128 * MiB // KiB)


def vm_enough_memory(
    mode: OvercommitMode,
    pages: int,
    committed: int,
    total_ram_pages: int,
    total_swap_pages: int,
    limit_pages: int,
    admin_reserve_pages: int,
    user_reserve_pages: int,
    *,
    caller_total_vm_pages: int | None = None,
) -> bool:
    """Whether *pages* more may be committed on top of *committed*.

    In mode 2 the caller (never root here) leaves the admin reserve, and a process with an
    address space (*caller_total_vm_pages*) also leaves the user reserve, at most 1/32 of
    its size, so that it can still be killed from a shell. The new total must stay below
    that limit.
    """
    if mode is OvercommitMode.ALWAYS:
        return True
    if mode is OvercommitMode.HEURISTIC:
        return pages <= total_ram_pages + total_swap_pages
    allowed = limit_pages - admin_reserve_pages
    if caller_total_vm_pages is not None:
        allowed -= min(caller_total_vm_pages // 32, user_reserve_pages)
    return committed + pages < allowed


def commit_allowed(kernel: Kernel, pages: int, task: Task | None = None) -> bool:
    """Whether *pages* more may be committed by *task* (__vm_enough_memory)."""
    vm = kernel.vm_sysctl
    return pages <= 0 or vm_enough_memory(
        vm.overcommit_memory,
        pages,
        kernel.committed_pages,
        kernel.nr_managed_pages,
        kernel.nr_swap_pages,
        kernel.commit_limit_pages,
        vm.admin_reserve_kbytes >> _KB_TO_PAGES_SHIFT,
        vm.user_reserve_kbytes >> _KB_TO_PAGES_SHIFT,
        caller_total_vm_pages=task.mm.total_vm_pages if task is not None else None,
    )


def commit_refused(kernel: Kernel, pages: int) -> OutOfMemory:
    """The error for a refused commit, with the numbers a user needs."""
    vm = kernel.vm_sysctl
    reserves = ""
    if vm.overcommit_memory is OvercommitMode.NEVER:
        reserves = (
            f", less admin_reserve {vm.admin_reserve_kbytes >> _KB_TO_PAGES_SHIFT} and "
            f"user_reserve up to {vm.user_reserve_kbytes >> _KB_TO_PAGES_SHIFT} pages"
        )
    return OutOfMemory(
        f"cannot commit {pages} more pages: Committed_AS {kernel.committed_pages} pages, "
        f"CommitLimit {kernel.commit_limit_pages} pages{reserves} "
        f"(vm.overcommit_memory={int(vm.overcommit_memory)})"
    )


def commit_pages(kernel: Kernel, task: Task, pages: int, *, refuse: bool = True) -> bool:
    """Charge *pages* to Committed_AS; False (or OutOfMemory when *refuse*) if not allowed."""
    if pages <= 0:
        return True
    if not commit_allowed(kernel, pages, task):
        if refuse:
            raise commit_refused(kernel, pages)
        return False
    kernel.committed_pages += pages
    task.mm.committed_pages += pages
    return True


def uncommit_pages(kernel: Kernel, pages: int) -> None:
    """Release commit charge (the mm's own share is adjusted by the caller)."""
    kernel.committed_pages -= pages
