"""Virtual-memory accounting: may a mapping commit this many pages?

Models __vm_enough_memory() in mm/util.c: vm.overcommit_memory 0 (heuristic: refuse only
what could never fit in RAM + swap), 1 (always), 2 (never beyond CommitLimit =
swap + RAM * overcommit_ratio / 100).
"""

from __future__ import annotations

from .config import OvercommitMode

__all__ = ["commit_limit", "vm_enough_memory"]


def commit_limit(total_ram_pages: int, total_swap_pages: int, ratio: int) -> int:
    """CommitLimit in pages."""
    return total_ram_pages * ratio // 100 + total_swap_pages


def vm_enough_memory(
    mode: OvercommitMode,
    pages: int,
    committed: int,
    total_ram_pages: int,
    total_swap_pages: int,
    ratio: int,
) -> bool:
    """Whether *pages* more may be committed on top of *committed*."""
    if mode is OvercommitMode.ALWAYS:
        return True
    if mode is OvercommitMode.HEURISTIC:
        return pages <= total_ram_pages + total_swap_pages
    return committed + pages <= commit_limit(total_ram_pages, total_swap_pages, ratio)
