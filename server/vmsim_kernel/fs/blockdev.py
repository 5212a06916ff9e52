"""The disk under the file system: a real host file of 4 KiB blocks with a request queue.

Models block/ and fs/buffer.c as far as a page cache needs them (submit_bio of whole pages).
A disk is a swap_info's slot store under another header: the same host-file rules (an
anonymous temporary file, sparse, checked with a CRC-32 and a generation per block on every
read), the same slot allocator for its blocks and the same request queue pricing its I/O in
simulated time, so one piece of code keeps both devices' bytes honest.
"""

from __future__ import annotations

import os
import struct
from typing import Final

from vmsim_kernel.arch.x86.constants import PAGE_SIZE
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.kernel.time import SwapQueue
from vmsim_kernel.mm.swap import SwapDevice

__all__ = ["DISK_MAGIC", "BlockDevice"]

DISK_MAGIC: Final = b"VMSIMFS1"
_SUPERBLOCK: Final = struct.Struct("<8sII")  # magic, block size, blocks


class BlockDevice(SwapDevice):
    """The file system's disk: block 0 holds the superblock, blocks 1.. hold file pages.

    Its slots are blocks: `alloc_slot` hands out a free block, `free_slot` gives it back,
    `write_slots`/`read_slots_into` move whole pages with the CRC check, `queue` is its
    request queue (one per device, as each block device has its own).
    """

    def __init__(self, size_bytes: int, *, queue: SwapQueue) -> None:
        # Its block allocation is nobody's contention here: the lock is its own, unreported.
        super().__init__(size_bytes, None, queue=queue)

    def _write_header(self, seed: int) -> None:
        """mkfs: the superblock (magic, block size, number of blocks) in block 0."""
        header = bytearray(PAGE_SIZE)
        _SUPERBLOCK.pack_into(header, 0, DISK_MAGIC, PAGE_SIZE, self.nr_slots)
        if os.pwrite(self._require_fd(), header, 0) != PAGE_SIZE:
            raise KernelBug("short write of the disk's superblock")
