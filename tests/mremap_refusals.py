"""The mremap(2) calls Linux refuses, and the errno of each (shared by the kernel's test and the
server's, so the same cases are checked at both layers).

Each case's arguments are made from the address of a 4-page private anonymous mapping that
has another mapping right after it (so it cannot grow in place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest

from vmsim_kernel import PAGE_SIZE
from vmsim_kernel.mm.mremap import MremapFlag

__all__ = ["MREMAP_REFUSALS", "Refusal", "each_mremap_refusal"]

P = PAGE_SIZE

MAYMOVE = int(MremapFlag.MAYMOVE)
FIXED = int(MremapFlag.FIXED)
DONTUNMAP = int(MremapFlag.DONTUNMAP)


class Refusal(NamedTuple):
    """One refused call: what is wrong with it, its arguments and Linux's errno."""

    what: str
    # mremap's (old_addr, old_size, new_size, flags, new_addr) from the mapping's address
    args: Callable[[int], tuple[int, int, int, int, int]]
    errno: str


MREMAP_REFUSALS: list[Refusal] = [
    Refusal("unknown flag bits", lambda a: (a, P, P, 8, 0), "EINVAL"),
    Refusal("FIXED without MAYMOVE", lambda a: (a, P, P, FIXED, 0x50000000), "EINVAL"),
    Refusal("DONTUNMAP resizing", lambda a: (a, P, 2 * P, MAYMOVE | DONTUNMAP, 0), "EINVAL"),
    Refusal("unaligned old address", lambda a: (a + 1, P, P, 0, 0), "EINVAL"),
    Refusal("new size 0", lambda a: (a, P, 0, 0, 0), "EINVAL"),
    Refusal("unaligned new address", lambda a: (a, P, P, MAYMOVE | FIXED, 0x50000001), "EINVAL"),
    Refusal("overlapping ranges", lambda a: (a, 2 * P, 2 * P, MAYMOVE | FIXED, a + P), "EINVAL"),
    Refusal("private old size 0", lambda a: (a, 0, P, MAYMOVE, 0), "EINVAL"),
    Refusal("no mapping there", lambda a: (0x30000000, P, 2 * P, MAYMOVE, 0), "EFAULT"),
    Refusal("old range past its mapping", lambda a: (a, 8 * P, 9 * P, MAYMOVE, 0), "EFAULT"),
    Refusal("fixed below mmap_min_addr", lambda a: (a, P, P, MAYMOVE | FIXED, 0), "EPERM"),
    Refusal("no room without MAYMOVE", lambda a: (a, 2 * P, 4 * P, 0, 0), "ENOMEM"),
    Refusal("no free range that big", lambda a: (a, P, 0xBF000000, MAYMOVE, 0), "ENOMEM"),
]

# A test run once per refused call, given its Refusal (named by what is wrong with it).
each_mremap_refusal = pytest.mark.parametrize(
    "refusal", MREMAP_REFUSALS, ids=[refusal.what for refusal in MREMAP_REFUSALS]
)
