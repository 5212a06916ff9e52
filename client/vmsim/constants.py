"""Linux constants a client passes to the server (defined here: the client never imports the kernel)."""

from __future__ import annotations

from typing import Final

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

MADV_NORMAL: Final = 0
MADV_RANDOM: Final = 1
MADV_SEQUENTIAL: Final = 2
MADV_WILLNEED: Final = 3
MADV_DONTNEED: Final = 4
MADV_HUGEPAGE: Final = 14  # accepted as a hint: the simulator has only 4 KiB pages
MADV_NOHUGEPAGE: Final = 15

DEFAULT_ADDRESS: Final = "127.0.0.1:50051"
DEFAULT_TIMEOUT: Final = 30.0
TOKEN_METADATA_KEY: Final = "x-vmsim-token"
ADMIN_TOKEN_METADATA_KEY: Final = "x-vmsim-admin-token"
CLIENT_METADATA_KEY: Final = "x-vmsim-client"
