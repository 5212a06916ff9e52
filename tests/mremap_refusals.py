"""The mremap(2) calls Linux refuses, and the errno of each (shared by the kernel's test and the
server's, so the same cases are checked at both layers).

Each case's arguments are made from the address of a 4-page private anonymous mapping that
has another mapping right after it (so it cannot grow in place).
"""

from __future__ import annotations

from collections.abc import Callable

from vmsim_kernel import PAGE_SIZE
from vmsim_kernel.mm.mremap import MremapFlag

__all__ = ["MREMAP_REFUSALS", "Refusal"]

P = PAGE_SIZE

MAYMOVE = int(MremapFlag.MAYMOVE)
FIXED = int(MremapFlag.FIXED)
DONTUNMAP = int(MremapFlag.DONTUNMAP)

# (what is wrong, mremap's (old_addr, old_size, new_size, flags, new_addr) from the mapping's
# address, the errno)
Refusal = tuple[str, Callable[[int], tuple[int, int, int, int, int]], str]

MREMAP_REFUSALS: list[Refusal] = [
    ("unknown flag bits", lambda a: (a, P, P, 8, 0), "EINVAL"),
    ("FIXED without MAYMOVE", lambda a: (a, P, P, FIXED, 0x50000000), "EINVAL"),
    ("DONTUNMAP resizing", lambda a: (a, P, 2 * P, MAYMOVE | DONTUNMAP, 0), "EINVAL"),
    ("unaligned old address", lambda a: (a + 1, P, P, 0, 0), "EINVAL"),
    ("new size 0", lambda a: (a, P, 0, 0, 0), "EINVAL"),
    ("unaligned new address", lambda a: (a, P, P, MAYMOVE | FIXED, 0x50000001), "EINVAL"),
    ("overlapping ranges", lambda a: (a, 2 * P, 2 * P, MAYMOVE | FIXED, a + P), "EINVAL"),
    ("private old size 0", lambda a: (a, 0, P, MAYMOVE, 0), "EINVAL"),
    ("no mapping there", lambda a: (0x30000000, P, 2 * P, MAYMOVE, 0), "EFAULT"),
    ("old range past its mapping", lambda a: (a, 8 * P, 9 * P, MAYMOVE, 0), "EFAULT"),
    ("fixed below mmap_min_addr", lambda a: (a, P, P, MAYMOVE | FIXED, 0), "EPERM"),
    ("no room without MAYMOVE", lambda a: (a, 2 * P, 4 * P, 0, 0), "ENOMEM"),
    ("no free range that big", lambda a: (a, P, 0xBF000000, MAYMOVE, 0), "ENOMEM"),
]
