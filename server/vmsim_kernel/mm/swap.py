"""The swap device: a real file with a Linux swap header and 4 KiB slots, and swap entries.

Models mm/swapfile.c (swap_map, scan_swap_map_slots, swap_duplicate, swap_free, swap_show,
the swapon checks of a swap file), mm/page_io.c (swap_writepage / swap_readpage and their
"Write-error" / "Read-error on swap-device" paths), include/linux/swapops.h and the
swap_header of include/linux/swap.h. Unlike Linux, every slot's content is checked on read
(a CRC-32 and the slot's generation kept beside swap_map, as dm-integrity would), so a
damaged or truncated file is an I/O error, never silently wrong data.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import stat
import struct
import tempfile
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import (
    PAGE_SIZE,
    SWP_OFFSET_SHIFT,
    SWP_TYPE_BITS,
    SWP_TYPE_SHIFT,
    KiB,
    PageTableBit,
)
from vmsim_kernel.errors import InvalidArgument, KernelBug, SwapIoError
from vmsim_kernel.kernel.locks import LockRegistry, SimLock
from vmsim_kernel.kernel.time import CostModel, SwapQueue

if TYPE_CHECKING:
    from vmsim_kernel.kernel.time import SimThread

__all__ = [
    "MAX_SWAPFILES",
    "MAX_SWAP_OFFSET",
    "PROC_SWAPS_HEADER",
    "SWAPFILE_CLUSTER",
    "SWAP_MAGIC",
    "SwapDevice",
    "SwapHeader",
    "SwapIo",
    "is_swap_pte",
    "mangle_path",
    "swp_entry",
    "swp_offset",
    "swp_type",
    "wait_for_swap_read",
]

# ---- swap entries (pgtable-2level.h) ----------------------------------------------------------
#
#   31                                  9 8          6 5           1  0
#  +-------------------------------------+------------+-------------+---+
#  |         offset (23 bits)            |  always 0  | type (5 b.) | 0 |
#  +-------------------------------------+------------+-------------+---+
#                                          bit 8 would be PROTNONE     PRESENT
MAX_SWAPFILES: Final = 1 << SWP_TYPE_BITS
MAX_SWAP_OFFSET: Final = (1 << (32 - SWP_OFFSET_SHIFT)) - 1
_SWP_TYPE_MASK: Final = MAX_SWAPFILES - 1
_PTE_PRESENT: Final = int(PageTableBit.PRESENT)  # pgtable.py imports this module


def swp_entry(swap_type: int, offset: int) -> int:
    """__swp_entry: the non-present PTE value that names slot *offset* of area *swap_type*.

    Args:
        swap_type: index of the swap area, 0..31.
        offset: slot in that area, 1..2**23-1 (slot 0 is the header, and type 0 offset 0
            would be the empty PTE).

    Returns:
        The 32-bit PTE value; its PRESENT bit is clear and it is never zero.

    Raises:
        KernelBug: the type or offset does not fit the PTE layout.
    """
    if not 0 <= swap_type < MAX_SWAPFILES:
        raise KernelBug(f"swap type {swap_type} outside 0..{MAX_SWAPFILES - 1}")
    if not 0 < offset <= MAX_SWAP_OFFSET:
        raise KernelBug(f"swap offset {offset} outside 1..{MAX_SWAP_OFFSET}")
    return (swap_type << SWP_TYPE_SHIFT) | (offset << SWP_OFFSET_SHIFT)


def swp_type(pte: int) -> int:
    """__swp_type: the swap area named by a swap PTE."""
    return (pte >> SWP_TYPE_SHIFT) & _SWP_TYPE_MASK


def swp_offset(pte: int) -> int:
    """__swp_offset: the slot named by a swap PTE."""
    return (pte & 0xFFFFFFFF) >> SWP_OFFSET_SHIFT


def is_swap_pte(pte: int) -> bool:
    """is_swap_pte: not present but not empty, so the PTE holds a swap entry."""
    return pte != 0 and not pte & _PTE_PRESENT


# ---- the on-disk header (include/linux/swap.h union swap_header) ------------------------------
SWAP_MAGIC: Final = b"SWAPSPACE2"
_MAGIC_OFFSET: Final = PAGE_SIZE - len(SWAP_MAGIC)  # magic.magic ends the first page
_INFO_OFFSET: Final = 1024  # info follows bootbits[1024], left for a disklabel
# info.version, last_page, nr_badpages, sws_uuid[16], sws_volume[16]
_SWAP_INFO: Final = struct.Struct("<III16s16s")
_SWAP_VERSION: Final = 1
_VOLUME_NAME: Final = b"vmsim"

PROC_SWAPS_HEADER: Final = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

# ---- slot allocation (mm/swapfile.c) ----------------------------------------------------------
SWAPFILE_CLUSTER: Final = 256  # slots handed out in a row before a fresh cluster is sought
SWAP_MAP_MAX: Final = 0xFFFF  # uint16 counts; Linux chains continuation pages beyond 0x3e
# Clusters looked at per numpy call when hunting forward: one call covers 1 GiB of swap.
_SCAN_WINDOW_CLUSTERS: Final = 1024
# seq_file_path() escapes these in /proc/swaps so the columns stay parseable.
_PATH_ESCAPES: Final = frozenset(" \t\n\\")


@dataclass(frozen=True)
class SwapHeader:
    """The swap_header of slot 0, parsed back from the file.

    Attributes:
        version: info.version; mkswap writes 1.
        last_page: info.last_page: the last slot of the area (nr_slots - 1).
        nr_badpages: info.nr_badpages; always 0 here.
        uuid: info.sws_uuid, a version 4 UUID as mkswap makes (but derived from the seed).
        label: info.sws_volume up to its first NUL.
        magic: the 10 bytes that end the page; b"SWAPSPACE2" for a valid header.
    """

    version: int
    last_page: int
    nr_badpages: int
    uuid: uuid.UUID
    label: str
    magic: bytes


class SwapIo:
    """The block layer under a swap device: whole-page positional I/O on its file (submit_bio).

    A device's `io` can be replaced (tests inject one that fails with ENOSPC or EIO, or
    returns short counts) to exercise what the kernel does with an I/O error.
    """

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        """Write *data* at byte *offset*; returns the bytes written (OSError on failure)."""
        return os.pwrite(fd, data, offset)

    def preadv(self, fd: int, buffer: memoryview, offset: int) -> int:
        """Read into *buffer* from byte *offset*; returns the bytes read (OSError on failure)."""
        return os.preadv(fd, [buffer], offset)

    def pwritev(self, fd: int, buffers: list[memoryview], offset: int) -> int:
        """Write *buffers* back to back from byte *offset* in one request (a multi-page bio).

        Returns the bytes written; OSError when nothing could be written. A block layer
        that overrides only pwrite (fault injection) sees the pages one by one through it,
        and a failure after some pages is a short count.
        """
        if type(self).pwrite is SwapIo.pwrite:
            return os.pwritev(fd, buffers, offset)
        return _one_by_one(self.pwrite, fd, buffers, offset)

    def preadv_pages(self, fd: int, buffers: list[memoryview], offset: int) -> int:
        """Read back to back into *buffers* from byte *offset* in one request; as pwritev."""
        if type(self).preadv is SwapIo.preadv:
            return os.preadv(fd, buffers, offset)
        return _one_by_one(self.preadv, fd, buffers, offset)


def _one_by_one(
    transfer: Callable[[int, memoryview, int], int],
    fd: int,
    buffers: list[memoryview],
    offset: int,
) -> int:
    """A vectored request as single-buffer ones: bytes moved until the first short or failed
    one (whose OSError is raised only if nothing moved at all)."""
    done = 0
    for buffer in buffers:
        try:
            moved = transfer(fd, buffer, offset + done)
        except OSError:
            if done:
                return done
            raise
        done += moved
        if moved != buffer.nbytes:
            break
    return done


def _has_swap_signature(fd: int) -> bool:
    """The file ends its first page with SWAPSPACE2, as mkswap leaves it."""
    return os.pread(fd, len(SWAP_MAGIC), _MAGIC_OFFSET) == SWAP_MAGIC


def open_swap_file(path: str | None, overwrite: bool) -> tuple[int, str]:
    """Open (or create) the backing file the way swapon + mkswap may safely do it.

    A given path is opened with O_NOFOLLOW (a symbolic link is refused, never followed),
    created with mode 0600, and an existing file is taken only if it already carries a swap
    signature or *overwrite* is set; its mode becomes 0600 either way, since it will hold
    user pages. Without a path the file is anonymous: O_TMPFILE (or a name unlinked at once),
    so nothing is left behind even if the server is killed with SIGKILL.

    Returns:
        The descriptor and the name /proc/swaps shows ("... (deleted)" for an anonymous file).

    Raises:
        InvalidArgument: the path is a symbolic link, not a regular file, or an existing
            file without a swap signature and *overwrite* is not set.
        OSError: the host refused to open or create the file.
    """
    if path is None:
        directory = tempfile.gettempdir()
        try:
            fd = os.open(directory, os.O_RDWR | os.O_TMPFILE | os.O_CLOEXEC, 0o600)
            return fd, f"{os.path.abspath(directory)}/#{os.fstat(fd).st_ino} (deleted)"
        except (AttributeError, OSError):  # no O_TMPFILE on this host or filesystem
            fd, name = tempfile.mkstemp(prefix="vmsim-swap-", suffix=".swap")
            os.unlink(name)
            return fd, f"{os.path.abspath(name)} (deleted)"
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
    allowed = "a new path, an existing swap file, or --swap-file-overwrite for any regular file"
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    except FileExistsError:
        created = False
        try:
            fd = os.open(path, flags)
        except OSError as error:
            if os.path.islink(path):
                raise InvalidArgument(
                    "swap_path", f"{path} is a symbolic link; it is not followed", allowed
                ) from None
            raise error from None
    try:
        _lock_swap_file(fd, path)  # before anything reads or truncates what may be live swap
        if not created:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InvalidArgument("swap_path", f"{path} is not a regular file", allowed)
            if not overwrite and not _has_swap_signature(fd):
                raise InvalidArgument(
                    "swap_path",
                    f"{path} exists and has no swap signature; refusing to overwrite it",
                    allowed,
                )
            os.fchmod(fd, 0o600)  # user pages will be written here
    except BaseException:
        os.close(fd)
        raise
    return fd, os.path.abspath(path)


def _lock_swap_file(fd: int, path: str) -> None:
    """Take the file's exclusive lock for as long as *fd* is open (swapon's claim on the
    inode: Linux refuses a second swapon of a file already in use with EBUSY).

    The lock is flock(2)'s, held by the open file description, so it is released when the
    descriptor is closed, including by the host when the server dies.

    Raises:
        InvalidArgument: another open file description (another server) holds the lock.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InvalidArgument(
            "swap_path",
            f"{path} is in use: another server holds its lock",
            "a swap file no running server is using",
        ) from None


def mangle_path(path: str) -> str:
    """mangle_path(): write the characters /proc/swaps escapes as backslash-octal."""
    return "".join(f"\\{ord(char):03o}" if char in _PATH_ESCAPES else char for char in path)


class SwapDevice:
    """One swap area (swap_info_struct) backed by a file; slot 0 is the header.

    Attributes:
        path: absolute path of the backing file ("... (deleted)" for an anonymous one).
        is_temporary: the file is anonymous: it has no name, so nothing outlives the device.
        io: the block layer the slots are read and written through.
        swap_type: the area's index, stored in every swap entry that points into it.
        priority: the priority /proc/swaps shows (the kernel's default for the first area is -2).
        nr_slots: 4 KiB slots in the file, the header included.
        swap_map: usage count per slot: how many PTEs (or the swap cache) hold it; 0 is free.
        inuse_pages: slots whose count is not zero.
        lowest_bit: no free slot lies below this offset.
        highest_bit: no free slot lies above this offset.
        cluster_next: where the next allocation starts looking (next-fit cursor).
        cluster_nr: allocations left before the cursor moves to a wholly free cluster.
        cluster_free: free slots per SWAPFILE_CLUSTER-aligned cluster, so a scan can skip
            full clusters without reading their part of swap_map.
        slot_generation: per slot, bumped each time the slot is allocated.
        slot_written: per slot, the generation its content was last written in (0: never).
        slot_crc: per slot, the CRC-32 of the page last written there.
        nr_reads: slots read (swap-ins).
        nr_writes: slots written (swap-outs).
        nr_read_errors: reads that failed, came back short or failed the check.
        nr_write_errors: writes that failed or came back short.
        lock: si->lock, held while a slot is allocated.
        queue: the device's request queue (when a read or write of a slot completes).
        shadow_age: per slot, the shadow entry of the page evicted into it (mm/workingset.c).
    """

    def __init__(
        self,
        size_bytes: int,
        path: str | None = None,
        swap_type: int = 0,
        priority: int = -2,
        seed: int = 0,
        overwrite: bool = False,
        *,
        lock: SimLock | None = None,
        queue: SwapQueue | None = None,
    ) -> None:
        """mkswap then swapon: open the file safely, write the header, set up an empty swap_map.

        Args:
            size_bytes: file size, the header page included; a multiple of PAGE_SIZE of at
                least two pages and at most 2**23 pages (what a swap entry can address).
            path: the backing file: created (mode 0600), or an existing swap file reused;
                None makes an anonymous temporary file.
            swap_type: the area's index, 0..31.
            priority: the priority shown in /proc/swaps.
            seed: seeds the header's UUID, so the same configuration writes the same bytes.
            overwrite: take an existing regular file even without a swap signature.
            lock: si->lock from the kernel's lock registry (its lock_stat row); None for a
                device used alone, which nobody else contends for.
            queue: the request queue, priced by the kernel's cost table; None for a device
                used alone (the default cost table).

        Raises:
            KernelBug: the size or type cannot describe a swap area (the configuration
                layer validates user input before it reaches here).
            InvalidArgument: the path may not be used (see open_swap_file).
            OSError: the host refused the file.
        """
        if size_bytes % PAGE_SIZE or not 2 <= size_bytes // PAGE_SIZE <= MAX_SWAP_OFFSET + 1:
            raise KernelBug(f"swap size {size_bytes} is not 2..{MAX_SWAP_OFFSET + 1} whole pages")
        if not 0 <= swap_type < MAX_SWAPFILES:
            raise KernelBug(f"swap type {swap_type} outside 0..{MAX_SWAPFILES - 1}")
        if lock is None or queue is None:
            alone = LockRegistry(CostModel())
            lock = lock if lock is not None else alone.new_lock("swap")
            queue = queue if queue is not None else SwapQueue(alone.costs)
        self.lock = lock
        self.queue = queue
        self.nr_slots = size_bytes // PAGE_SIZE
        self.swap_type = swap_type
        self.priority = priority
        self.is_temporary = path is None
        self.io = SwapIo()
        fd, self.path = open_swap_file(path, overwrite)
        self._fd: int | None = fd
        try:
            # Sparse: the host allocates blocks only for slots that are written. Old
            # content is dropped first, so no stale page can be read as a slot's.
            os.ftruncate(fd, 0)
            os.ftruncate(fd, size_bytes)
            self._write_header(seed)
        except BaseException:
            self.close()
            raise

        self._setup_swap_map()

    def _setup_swap_map(self) -> None:
        """setup_swap_map_and_extents: every slot free but the header, the cluster counts,
        an empty swap cache and no shadow entries."""
        self.swap_map: npt.NDArray[np.uint16] = np.zeros(self.nr_slots, dtype=np.uint16)
        self.inuse_pages = 0
        self.slot_generation: npt.NDArray[np.uint32] = np.zeros(self.nr_slots, dtype=np.uint32)
        self.slot_written: npt.NDArray[np.uint32] = np.zeros(self.nr_slots, dtype=np.uint32)
        self.slot_crc: npt.NDArray[np.uint32] = np.zeros(self.nr_slots, dtype=np.uint32)
        self.nr_reads = 0
        self.nr_writes = 0
        self.nr_read_errors = 0
        self.nr_write_errors = 0
        self.lowest_bit = 1
        self.highest_bit = self.nr_slots - 1
        self.cluster_next = 1
        self.cluster_nr = 0
        nr_clusters = -(-self.nr_slots // SWAPFILE_CLUSTER)
        self._cluster_capacity: npt.NDArray[np.int32] = np.full(
            nr_clusters, SWAPFILE_CLUSTER, dtype=np.int32
        )
        self._cluster_capacity[-1] = self.nr_slots - (nr_clusters - 1) * SWAPFILE_CLUSTER
        self._cluster_capacity[0] -= 1  # the header slot is never free
        self.cluster_free: npt.NDArray[np.int32] = self._cluster_capacity.copy()
        # The swap cache (swapper_spaces): slot -> the frame holding its page (swap_state.py),
        # and for a page read ahead, the simulated time its read completes (PG_locked until).
        self.cache: dict[int, int] = {}
        self.cache_ready_ns: dict[int, int] = {}
        # The shadow entry an evicted page leaves in its slot of the swap cache: the lruvec's
        # nonresident age at its eviction (workingset_eviction), read back when it refaults.
        self.shadow_age: npt.NDArray[np.int64] = np.zeros(self.nr_slots, dtype=np.int64)

    # ---- header --------------------------------------------------------------------------------
    def _write_header(self, seed: int) -> None:
        sws_uuid = uuid.UUID(bytes=random.Random(seed).randbytes(16), version=4)
        header = bytearray(PAGE_SIZE)
        _SWAP_INFO.pack_into(
            header,
            _INFO_OFFSET,
            _SWAP_VERSION,
            self.nr_slots - 1,
            0,
            sws_uuid.bytes,
            _VOLUME_NAME,  # struct pads the 16-byte field with NULs
        )
        header[_MAGIC_OFFSET:] = SWAP_MAGIC
        if os.pwrite(self._require_fd(), header, 0) != PAGE_SIZE:
            raise KernelBug("short write of the swap header")

    def read_header(self) -> SwapHeader:
        """Parse the swap_header back from slot 0 of the file."""
        raw = os.pread(self._require_fd(), PAGE_SIZE, 0)
        if len(raw) != PAGE_SIZE:
            raise KernelBug(f"swap header is {len(raw)} bytes, not a page")
        version, last_page, nr_badpages, sws_uuid, sws_volume = _SWAP_INFO.unpack_from(
            raw, _INFO_OFFSET
        )
        return SwapHeader(
            version=version,
            last_page=last_page,
            nr_badpages=nr_badpages,
            uuid=uuid.UUID(bytes=sws_uuid),
            label=sws_volume.split(b"\0", 1)[0].decode("utf-8", "replace"),
            magic=raw[_MAGIC_OFFSET:],
        )

    # ---- counts ------------------------------------------------------------------------------
    @property
    def nr_usable_slots(self) -> int:
        """Slots that can hold pages: all but the header (si->pages)."""
        return self.nr_slots - 1

    @property
    def nr_free_slots(self) -> int:
        """Usable slots whose count is zero."""
        return self.nr_usable_slots - self.inuse_pages

    @property
    def size_kb(self) -> int:
        """Usable size in kB, the header page excluded, as /proc/swaps prints it."""
        return self.nr_usable_slots * (PAGE_SIZE // KiB)

    @property
    def used_kb(self) -> int:
        """Slots in use, in kB."""
        return self.inuse_pages * (PAGE_SIZE // KiB)

    @property
    def closed(self) -> bool:
        """close() has been called."""
        return self._fd is None

    # ---- allocation (scan_swap_map_slots, swap_duplicate, swap_free) ---------------------------
    def alloc_slot(self) -> int | None:
        """Take a free slot with count 1, or return None when the area is full.

        Next-fit from cluster_next, so consecutive swap-outs land in consecutive slots and
        are written sequentially. Every SWAPFILE_CLUSTER allocations the cursor moves to
        the lowest wholly free cluster, as the kernel does to keep runs long while swap is
        fragmented.

        Raises:
            KernelBug: the device is closed.
        """
        self._require_fd()  # no allocations after swapoff
        if self.inuse_pages == self.nr_usable_slots:
            return None
        if self.cluster_nr == 0:
            self._seek_free_cluster()
        self.cluster_nr -= 1
        offset = max(self.cluster_next, self.lowest_bit)
        if offset > self.highest_bit:
            offset = self.lowest_bit
        if self.swap_map.item(offset):
            found = self._scan_free(offset + 1, self.highest_bit + 1)
            if found is None:
                found = self._scan_free(self.lowest_bit, offset)
            if found is None:
                raise KernelBug(f"{self.nr_free_slots} slots are free but none was found")
            offset = found
        self._take_slot(offset)
        return offset

    def alloc_slots(self, nr_slots: int) -> list[int]:
        """scan_swap_map_slots for a reclaim batch: up to *nr_slots* slots, each as
        alloc_slot would give it in turn (fewer when the area fills up).

        Next-fit inside a free cluster makes them consecutive, so the batch is written with
        one vectored request per run (write_slots).
        """
        slots = []
        for _ in range(nr_slots):
            slot = self.alloc_slot()
            if slot is None:
                break
            slots.append(slot)
        return slots

    def _take_slot(self, offset: int) -> None:
        self.swap_map[offset] = 1
        # A new life for the slot: what it held before can no longer pass the read check.
        self.slot_generation[offset] = self.slot_generation.item(offset) % 0xFFFFFFFF + 1
        self.inuse_pages += 1
        self.cluster_free[offset // SWAPFILE_CLUSTER] -= 1
        if offset == self.lowest_bit:
            self.lowest_bit += 1
        if offset == self.highest_bit:
            self.highest_bit -= 1
        if self.inuse_pages == self.nr_usable_slots:
            # An empty range, so the first free_slot() sets both bounds to its slot.
            self.lowest_bit, self.highest_bit = self.nr_slots, 0
        self.cluster_next = offset + 1

    def _seek_free_cluster(self) -> None:
        """Point the cursor at the lowest wholly free cluster, if there is one."""
        self.cluster_nr = SWAPFILE_CLUSTER
        first = self.lowest_bit // SWAPFILE_CLUSTER
        nr_clusters = len(self.cluster_free)
        while first < nr_clusters:
            stop = min(nr_clusters, first + _SCAN_WINDOW_CLUSTERS)
            whole = np.flatnonzero(
                self.cluster_free[first:stop] == self._cluster_capacity[first:stop]
            )
            if whole.size:
                cluster = first + int(whole[0])
                self.cluster_next = max(cluster * SWAPFILE_CLUSTER, 1)
                # Stay in this cluster until it is used up, then look again.
                self.cluster_nr = int(self._cluster_capacity[cluster])
                return
            first = stop

    def _scan_free(self, start: int, stop: int) -> int | None:
        """The first free slot in [start, stop), skipping full clusters; None if there is none."""
        if start >= stop:
            return None
        cluster = start // SWAPFILE_CLUSTER
        if self.cluster_free[cluster]:
            found = self._first_free_slot(start, min(stop, (cluster + 1) * SWAPFILE_CLUSTER))
            if found is not None:
                return found
        last_cluster = (stop - 1) // SWAPFILE_CLUSTER
        cluster += 1
        while cluster <= last_cluster:
            window_end = min(last_cluster + 1, cluster + _SCAN_WINDOW_CLUSTERS)
            with_free = np.flatnonzero(self.cluster_free[cluster:window_end])
            if with_free.size:
                low = (cluster + int(with_free[0])) * SWAPFILE_CLUSTER
                # Only the last cluster is cut by *stop*, so this can miss only past stop.
                return self._first_free_slot(low, min(stop, low + SWAPFILE_CLUSTER))
            cluster = window_end
        return None

    def _first_free_slot(self, start: int, stop: int) -> int | None:
        free = np.flatnonzero(self.swap_map[start:stop] == 0)
        return start + int(free[0]) if free.size else None

    def _require_in_use(self, offset: int, action: str) -> int:
        if not 0 < offset < self.nr_slots:
            raise KernelBug(f"swap offset {offset} outside 1..{self.nr_slots - 1}")
        count: int = self.swap_map.item(offset)
        if count == 0:
            raise KernelBug(f"{action} free swap slot {offset}")
        return count

    def duplicate(self, offset: int) -> None:
        """swap_duplicate: one more PTE (or the swap cache) holds this slot.

        Raises:
            KernelBug: the slot is free, outside the area, or its count would overflow.
        """
        count = self._require_in_use(offset, "duplicating")
        if count == SWAP_MAP_MAX:
            raise KernelBug(f"swap slot {offset} already has {SWAP_MAP_MAX} users")
        self.swap_map[offset] = count + 1

    def free_slot(self, offset: int) -> int:
        """swap_free: drop one reference; the slot becomes free when none is left.

        Returns:
            The references that remain.

        Raises:
            KernelBug: the slot is already free, is the header, or is outside the area.
        """
        count = self._require_in_use(offset, "freeing") - 1
        self.swap_map[offset] = count
        if count == 0:
            self.inuse_pages -= 1
            self.cluster_free[offset // SWAPFILE_CLUSTER] += 1
            self.lowest_bit = min(self.lowest_bit, offset)
            self.highest_bit = max(self.highest_bit, offset)
        return count

    # ---- slot I/O (mm/page_io.c) ---------------------------------------------------------------
    def write_slot(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """swap_writepage: write one page into an allocated slot and record its checksum.

        Raises:
            SwapIoError: the write failed or was short ("Write-error on swap-device"); the
                slot then holds nothing readable and the caller keeps the page.
            KernelBug: the slot is free or *data* is not exactly one page.
        """
        outcome, _ = self.write_slots([offset], [memoryview(data)])
        if outcome[0] is not None:
            raise outcome[0]

    def write_slots(
        self,
        offsets: list[int],
        pages: list[memoryview],
        max_errors: int | None = None,
    ) -> tuple[list[SwapIoError | None], int]:
        """swap_writepage for a batch: one pwritev per run of consecutive slots.

        Each slot is checked and recorded as write_slot does (CRC-32 and generation). A
        failed or short request fails exactly the page it stopped at; the pages after it
        are sent again as the next request, so one bad page costs only itself.

        Args:
            offsets: allocated slots, one per page.
            pages: the pages' bytes (a frame view each).
            max_errors: stop after this many failed pages (a failing device is not
                hammered); the pages not tried then are left out of the result.

        Returns:
            (per page tried: None when written, else its SwapIoError; how many were tried).

        Raises:
            KernelBug: a slot is free, the lists differ in length, or a page is not a page.
        """
        if len(offsets) != len(pages):
            raise KernelBug(f"{len(offsets)} slots for {len(pages)} pages")
        views = [memoryview(page).cast("B") for page in pages]
        for offset, view in zip(offsets, views, strict=True):
            self._require_in_use(offset, "writing")
            if view.nbytes != PAGE_SIZE:
                raise KernelBug(f"swap writes whole pages, not {view.nbytes} bytes")
        fd = self._require_fd()
        outcome: list[SwapIoError | None] = []
        errors = 0
        index = 0
        while index < len(offsets) and (max_errors is None or errors < max_errors):
            end = index + 1
            while end < len(offsets) and offsets[end] == offsets[end - 1] + 1:
                end += 1
            for offset in offsets[index:end]:
                self.slot_written[offset] = 0  # until the write is known to be complete
            try:
                written = self.io.pwritev(fd, views[index:end], offsets[index] * PAGE_SIZE)
                failure = f"short write: {written % PAGE_SIZE} of {PAGE_SIZE} bytes"
            except OSError as error:
                written, failure = 0, error.strerror or repr(error)
            complete = min(written // PAGE_SIZE, end - index)
            for offset, view in zip(
                offsets[index : index + complete], views[index : index + complete], strict=True
            ):
                self.slot_crc[offset] = zlib.crc32(view)
                self.slot_written[offset] = self.slot_generation[offset]
            self.nr_writes += complete
            outcome.extend([None] * complete)
            index += complete
            if index < end:  # the request stopped at this page
                outcome.append(self._io_error("Write", offsets[index], failure))
                errors += 1
                index += 1
        return outcome, index

    def read_slots_into(
        self, offsets: list[int], buffers: list[memoryview]
    ) -> list[SwapIoError | None]:
        """swap_readpage for a batch (readahead): one preadv per run of consecutive slots,
        then each page verified as read_slot_into does.

        Returns:
            Per page: None when read and verified, else its SwapIoError (the buffer then
            holds nothing to use). A failed request fails its pages, not the batch.

        Raises:
            KernelBug: a slot is free or a buffer is not exactly one page.
        """
        if len(offsets) != len(buffers):
            raise KernelBug(f"{len(offsets)} slots for {len(buffers)} buffers")
        outcome: list[SwapIoError | None] = [None] * len(offsets)
        runs: list[tuple[int, int]] = []
        for index, (offset, buffer) in enumerate(zip(offsets, buffers, strict=True)):
            self._require_in_use(offset, "reading")
            if buffer.nbytes != PAGE_SIZE:
                raise KernelBug(f"swap reads whole pages, not {buffer.nbytes} bytes")
            generation = self.slot_generation.item(offset)
            if self.slot_written.item(offset) != generation:
                outcome[index] = self._io_error(
                    "Read", offset, f"not written in generation {generation}"
                )
            elif runs and runs[-1][1] == index and offsets[index - 1] + 1 == offset:
                runs[-1] = (runs[-1][0], index + 1)
            else:
                runs.append((index, index + 1))
        fd = self._require_fd()
        for start, end in runs:
            try:
                got = self.io.preadv_pages(fd, buffers[start:end], offsets[start] * PAGE_SIZE)
                failure = f"short read: {got % PAGE_SIZE} of {PAGE_SIZE} bytes"
            except OSError as error:
                got, failure = 0, error.strerror or repr(error)
            for index in range(start, end):
                offset = offsets[index]
                if (index - start + 1) * PAGE_SIZE > got:
                    outcome[index] = self._io_error("Read", offset, failure)
                    continue
                crc = zlib.crc32(buffers[index])
                if crc != self.slot_crc.item(offset):
                    outcome[index] = self._io_error(
                        "Read",
                        offset,
                        f"checksum {crc:08x}, expected {int(self.slot_crc[offset]):08x}",
                    )
                    continue
                self.nr_reads += 1
        return outcome

    def read_slot(self, offset: int) -> bytes:
        """swap_readpage: the page stored in an allocated slot, as a new bytes object.

        Raises:
            SwapIoError: see read_slot_into.
            KernelBug: the slot is free (no PTE may point at it).
        """
        page = bytearray(PAGE_SIZE)
        self.read_slot_into(offset, memoryview(page))
        return bytes(page)

    def read_slot_into(self, offset: int, buffer: memoryview) -> None:
        """swap_readpage into *buffer* (a frame's bytes) with no intermediate copy, then verify it.

        Raises:
            SwapIoError: the read failed or was short, the slot was not written since it
                was allocated, or its content fails the checksum ("Read-error on
                swap-device"); *buffer* then holds nothing to use.
            KernelBug: the slot is free or *buffer* is not exactly one writable page.
        """
        outcome = self.read_slots_into([offset], [buffer])
        if outcome[0] is not None:
            raise outcome[0]

    def _io_error(self, direction: str, offset: int, reason: str) -> SwapIoError:
        """Count a failed slot I/O and describe it as page_io.c logs it."""
        if direction == "Write":
            self.nr_write_errors += 1
        else:
            self.nr_read_errors += 1
        return SwapIoError(
            f"{direction}-error on swap-device ({self.swap_type}:{offset}): {reason}", offset
        )

    # ---- reports and checks --------------------------------------------------------------------
    def proc_swaps(self) -> str:
        """The text of /proc/swaps with this area as its only line (swap_show)."""
        return PROC_SWAPS_HEADER + self.proc_swaps_line()

    def proc_swaps_line(self) -> str:
        """This area's line of /proc/swaps (swap_show for one swap_info entry)."""
        path = mangle_path(self.path)
        size, used = self.size_kb, self.used_kb
        # "%*s%s\t%lu\t%s%lu\t%s%d\n": pad the name to 40 columns, then "file\t", and one
        # extra tab after a number of fewer than 8 digits keeps the columns aligned.
        size_pad = "\t" if size < 10_000_000 else ""
        used_pad = "\t" if used < 10_000_000 else ""
        padding = " " * max(40 - len(path), 1)
        return f"{path}{padding}file\t\t{size}\t{size_pad}{used}\t{used_pad}{self.priority}\n"

    def check_invariants(self) -> None:
        """Recount everything the allocator keeps incrementally.

        Raises:
            KernelBug: slot 0 is in use, inuse_pages or cluster_free disagree with swap_map,
                the swap cache holds a free slot, or a free slot lies outside
                lowest_bit..highest_bit.
        """
        if self.swap_map[0]:
            raise KernelBug("the swap header slot is in use")
        in_use = self.swap_map != 0
        if int(np.count_nonzero(in_use)) != self.inuse_pages:
            raise KernelBug(
                f"inuse_pages is {self.inuse_pages} but swap_map has "
                f"{int(np.count_nonzero(in_use))} slots in use"
            )
        starts = np.arange(0, self.nr_slots, SWAPFILE_CLUSTER)
        used_per_cluster = np.add.reduceat(in_use.astype(np.int32), starts)
        if not np.array_equal(self.cluster_free, self._cluster_capacity - used_per_cluster):
            raise KernelBug("cluster_free disagrees with swap_map")
        uncounted = [offset for offset in self.cache if not self.swap_map[offset]]
        if uncounted:
            raise KernelBug(f"swap cache pages hold free slots {uncounted[:8]}")
        free = np.flatnonzero(~in_use[1:]) + 1
        if free.size and (free[0] < self.lowest_bit or free[-1] > self.highest_bit):
            raise KernelBug(
                f"free slots {free[0]}..{free[-1]} outside "
                f"lowest_bit {self.lowest_bit}..highest_bit {self.highest_bit}"
            )

    # ---- lifetime ------------------------------------------------------------------------------
    def _require_fd(self) -> int:
        if self._fd is None:
            raise KernelBug("the swap device is closed")
        return self._fd

    def close(self, remove: bool = False) -> None:
        """swapoff: close the file (an anonymous one is gone with it); idempotent.

        Args:
            remove: also unlink a named file.
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)  # an anonymous file disappears with its last descriptor
        if remove and not self.is_temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> SwapDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def wait_for_swap_read(si: SwapDevice, thread: SimThread) -> int:
    """A swap-in by *thread*: queue on the device and sleep until done (the
    swap_readpage + wait_on_page_locked of do_swap_page); returns the wait."""
    done = si.queue.submit(thread.now_ns)
    waited = done - thread.now_ns
    thread.now_ns = done
    thread.times.iowait_ns += waited
    return waited
