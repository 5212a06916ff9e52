"""The swap device: a real file with a Linux swap header and 4 KiB slots; swap entries.

Models mm/swapfile.c (swap_info_struct, swap_map, scan_swap_map_slots, swap_duplicate,
swap_free, swap_show), mm/page_io.c (slot I/O), include/linux/swapops.h and the
swap_header of include/linux/swap.h. Swap entries use the i386 two-level PTE layout of
pgtable-2level.h: type in bits 1..5, offset from bit 9, present bit clear.
"""

from __future__ import annotations

import contextlib
import os
import random
import struct
import tempfile
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .constants import PAGE_SIZE, SWP_OFFSET_SHIFT, SWP_TYPE_BITS, SWP_TYPE_SHIFT
from .errors import KernelBug

__all__ = [
    "SWAP_MAGIC",
    "SwapDevice",
    "SwapHeader",
    "is_swap_pte",
    "swp_entry",
    "swp_offset",
    "swp_type",
]

SWAP_MAGIC = b"SWAPSPACE2"
MAX_SWAP_OFFSET = (1 << (32 - SWP_OFFSET_SHIFT)) - 1
_INFO_OFFSET = 1024  # swap_header.info follows 1 KiB of bootbits
_INFO = struct.Struct("<III16s16s")  # version, last_page, nr_badpages, sws_uuid, sws_volume
SWAP_CLUSTER = 256  # SWAPFILE_CLUSTER: slots handed out consecutively from one cursor


def swp_entry(swap_type: int, offset: int) -> int:
    """The non-present PTE value naming slot *offset* of swap area *swap_type*."""
    if not 0 <= swap_type < (1 << SWP_TYPE_BITS) or not 0 < offset <= MAX_SWAP_OFFSET:
        raise KernelBug(f"swap entry type {swap_type} offset {offset} does not fit a PTE")
    return (swap_type << SWP_TYPE_SHIFT) | (offset << SWP_OFFSET_SHIFT)


def swp_type(pte: int) -> int:
    """__swp_type."""
    return (pte >> SWP_TYPE_SHIFT) & ((1 << SWP_TYPE_BITS) - 1)


def swp_offset(pte: int) -> int:
    """__swp_offset."""
    return pte >> SWP_OFFSET_SHIFT


def is_swap_pte(pte: int) -> bool:
    """A PTE that is not present but not empty holds a swap entry."""
    return pte != 0 and not pte & 1


@dataclass(frozen=True)
class SwapHeader:
    """The parsed swap_header of slot 0."""

    version: int
    last_page: int
    nr_badpages: int
    uuid: bytes
    label: str
    magic: bytes


class SwapDevice:
    """One swap area backed by a file; slot 0 is the header and is never handed out."""

    def __init__(
        self,
        size_bytes: int,
        path: str | None = None,
        swap_type: int = 0,
        priority: int = -2,
        seed: int = 0,
    ) -> None:
        if size_bytes < 2 * PAGE_SIZE or size_bytes % PAGE_SIZE:
            raise KernelBug(f"swap size {size_bytes} is not at least two whole pages")
        self.nr_slots = size_bytes // PAGE_SIZE
        if self.nr_slots - 1 > MAX_SWAP_OFFSET:
            raise KernelBug(f"{self.nr_slots} slots do not fit in a swap entry")
        self.is_temporary = path is None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="vmsim-swap-", suffix=".swap")
            os.close(fd)
        self.path = path
        self.swap_type = swap_type
        self.priority = priority
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(self._fd, size_bytes)  # sparse: blocks appear only when slots are written
        self._write_header(random.Random(seed).randbytes(16))
        self.swap_map: npt.NDArray[np.uint16] = np.zeros(self.nr_slots, dtype=np.uint16)
        self.inuse_pages = 0
        self.nr_reads = 0
        self.nr_writes = 0
        self._cluster_next = 1

    def _write_header(self, uuid: bytes) -> None:
        header = bytearray(PAGE_SIZE)
        _INFO.pack_into(
            header, _INFO_OFFSET, 1, self.nr_slots - 1, 0, uuid, b"vmsim".ljust(16, b"\0")
        )
        header[PAGE_SIZE - len(SWAP_MAGIC) :] = SWAP_MAGIC
        os.pwrite(self._require_fd(), bytes(header), 0)

    def _require_fd(self) -> int:
        if self._fd is None:
            raise KernelBug("swap device is closed")
        return self._fd

    def read_header(self) -> SwapHeader:
        """Parse slot 0 back from the file."""
        raw = os.pread(self._require_fd(), PAGE_SIZE, 0)
        version, last_page, bad, uuid, label = _INFO.unpack_from(raw, _INFO_OFFSET)
        return SwapHeader(
            version,
            last_page,
            bad,
            uuid,
            label.rstrip(b"\0").decode(),
            raw[PAGE_SIZE - len(SWAP_MAGIC) :],
        )

    # ---- slots -------------------------------------------------------------------------------
    @property
    def nr_usable_slots(self) -> int:
        """Slots that can hold pages (all but the header)."""
        return self.nr_slots - 1

    @property
    def nr_free_slots(self) -> int:
        """Slots not in use."""
        return self.nr_usable_slots - self.inuse_pages

    def alloc_slot(self) -> int | None:
        """A free slot (count 1), next-fit from the cluster cursor; None when swap is full."""
        if self.inuse_pages >= self.nr_usable_slots:
            return None
        start = self._cluster_next
        for lo, hi in ((start, self.nr_slots), (1, start)):
            position = lo
            while position < hi:
                window = self.swap_map[position : min(hi, position + 4096)]
                free = np.flatnonzero(window == 0)
                if len(free):
                    offset = position + int(free[0])
                    self.swap_map[offset] = 1
                    self.inuse_pages += 1
                    self._cluster_next = offset + 1 if offset + 1 < self.nr_slots else 1
                    return offset
                position += len(window)
        raise KernelBug("swap map claims free slots but none was found")

    def _check_slot(self, offset: int) -> None:
        if not 0 < offset < self.nr_slots:
            raise KernelBug(f"swap offset {offset} outside 1..{self.nr_slots - 1}")

    def duplicate(self, offset: int) -> None:
        """swap_duplicate: one more PTE holds this slot."""
        self._check_slot(offset)
        if self.swap_map[offset] == 0:
            raise KernelBug(f"duplicating free swap slot {offset}")
        self.swap_map[offset] += 1

    def free_slot(self, offset: int) -> int:
        """swap_free: drop one reference; return how many remain."""
        self._check_slot(offset)
        count = int(self.swap_map[offset])
        if count == 0:
            raise KernelBug(f"freeing free swap slot {offset}")
        self.swap_map[offset] = count - 1
        if count == 1:
            self.inuse_pages -= 1
        return count - 1

    def write_slot(self, offset: int, data: bytes | memoryview) -> None:
        """Write one page to an allocated slot."""
        self._check_slot(offset)
        if self.swap_map[offset] == 0:
            raise KernelBug(f"writing free swap slot {offset}")
        if len(data) != PAGE_SIZE:
            raise KernelBug(f"swap writes are whole pages, not {len(data)} bytes")
        os.pwrite(self._require_fd(), data, offset * PAGE_SIZE)
        self.nr_writes += 1

    def read_slot(self, offset: int) -> bytes:
        """Read one page from a slot."""
        self._check_slot(offset)
        self.nr_reads += 1
        return os.pread(self._require_fd(), PAGE_SIZE, offset * PAGE_SIZE)

    def read_slot_into(self, offset: int, buffer: memoryview) -> None:
        """Read one page from a slot straight into *buffer* (a frame)."""
        self._check_slot(offset)
        if os.preadv(self._require_fd(), [buffer], offset * PAGE_SIZE) != PAGE_SIZE:
            raise KernelBug(f"short read of swap slot {offset}")
        self.nr_reads += 1

    # ---- reports -------------------------------------------------------------------------------
    @property
    def size_kb(self) -> int:
        """Usable size in kB, as /proc/swaps prints it."""
        return self.nr_usable_slots * (PAGE_SIZE // 1024)

    @property
    def used_kb(self) -> int:
        """Used slots in kB."""
        return self.inuse_pages * (PAGE_SIZE // 1024)

    def proc_swaps(self) -> str:
        """/proc/swaps text (swap_show's columns and tabs)."""
        size, used = str(self.size_kb), str(self.used_kb)
        size_pad = "\t" if len(size) < 8 else ""
        used_pad = "\t" if len(used) < 8 else ""
        line = (
            f"{self.path}{' ' * max(1, 40 - len(self.path))}file\t\t"
            f"{size}\t{size_pad}{used}\t{used_pad}{self.priority}\n"
        )
        return "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + line

    def check_invariants(self) -> None:
        """Raise KernelBug unless inuse_pages matches the map and slot 0 is untouched."""
        if self.swap_map[0] != 0:
            raise KernelBug("swap header slot is in use")
        if int(np.count_nonzero(self.swap_map)) != self.inuse_pages:
            raise KernelBug("inuse_pages disagrees with the swap map")

    def close(self, remove: bool | None = None) -> None:
        """Close the file; remove it when temporary (or when *remove* says so). Idempotent."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if remove if remove is not None else self.is_temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
