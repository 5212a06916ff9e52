"""Linux constants a client passes to the server (defined here: the client never imports the kernel)."""

from __future__ import annotations

from typing import Final

# What `vmsim` exports of these, listed once here: the sizes and Linux's values of the flags
# its calls take (not the hugepage advice, which the simulator only accepts, nor the defaults).
__all__ = [
    "MADV_DONTNEED",
    "MADV_FREE",
    "MADV_NORMAL",
    "MADV_RANDOM",
    "MADV_SEQUENTIAL",
    "MADV_WILLNEED",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_FIXED_NOREPLACE",
    "MAP_NORESERVE",
    "MAP_POPULATE",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "MREMAP_DONTUNMAP",
    "MREMAP_FIXED",
    "MREMAP_MAYMOVE",
    "MS_ASYNC",
    "MS_INVALIDATE",
    "MS_SYNC",
    "O_APPEND",
    "O_CREAT",
    "O_EXCL",
    "O_RDONLY",
    "O_RDWR",
    "O_TRUNC",
    "O_WRONLY",
    "PAGE_SIZE",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "SEEK_CUR",
    "SEEK_END",
    "SEEK_SET",
    "GiB",
    "KiB",
    "MiB",
]

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB
PAGE_SIZE: Final = 4096

PROT_NONE: Final = 0
PROT_READ: Final = 1
PROT_WRITE: Final = 2
PROT_EXEC: Final = 4

MAP_SHARED: Final = 0x01
MAP_PRIVATE: Final = 0x02
MAP_FIXED: Final = 0x10
MAP_ANONYMOUS: Final = 0x20
MAP_NORESERVE: Final = 0x4000
MAP_POPULATE: Final = 0x8000
MAP_FIXED_NOREPLACE: Final = 0x100000

MREMAP_MAYMOVE: Final = 1
MREMAP_FIXED: Final = 2
MREMAP_DONTUNMAP: Final = 4

MADV_NORMAL: Final = 0
MADV_RANDOM: Final = 1
MADV_SEQUENTIAL: Final = 2
MADV_WILLNEED: Final = 3
MADV_DONTNEED: Final = 4
MADV_FREE: Final = 8  # private anonymous memory: reclaim may discard it until written again
MADV_HUGEPAGE: Final = 14  # accepted as a hint: the simulator has only 4 KiB pages
MADV_NOHUGEPAGE: Final = 15

# open(2) flags and lseek(2) whence values, Linux's numbers
O_RDONLY: Final = 0
O_WRONLY: Final = 1
O_RDWR: Final = 2
O_CREAT: Final = 0o100
O_EXCL: Final = 0o200
O_TRUNC: Final = 0o1000
O_APPEND: Final = 0o2000
SEEK_SET: Final = 0
SEEK_CUR: Final = 1
SEEK_END: Final = 2
MS_ASYNC: Final = 1
MS_INVALIDATE: Final = 2
MS_SYNC: Final = 4

DEFAULT_ADDRESS: Final = "127.0.0.1:50051"
DEFAULT_TIMEOUT: Final = 30.0
