"""The VFS objects of the simulated file system: inodes, their address spaces, open files.

Models include/linux/fs.h (struct inode with i_size and i_mapping, struct address_space,
struct file with f_pos and f_ra), fs/namei.c and fs/open.c (open with O_CREAT/O_EXCL/O_TRUNC
and the permission check of the mode), fs/file.c (the lowest free descriptor) and
fs/read_write.c's lseek. One flat directory (the disk's root): names without '/'. What moves
bytes and pages (read, write, truncate, fsync) is the page cache's, in mm/filemap.py and
mm/page-writeback's mm/page_writeback.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Final

from vmsim_kernel.errors import (
    AccessDenied,
    BadFileDescriptor,
    FileExists,
    FileNotFound,
    InvalidArgument,
    LimitExceeded,
    PermissionDenied,
)

if TYPE_CHECKING:
    from vmsim_kernel.kernel.time import SwapQueue

    from .blockdev import BlockDevice

__all__ = [
    "FILE_NAME_MAX",
    "NR_OPEN",
    "O_ACCMODE",
    "RA_PAGES",
    "AddressSpace",
    "FileRaState",
    "FileSystem",
    "Inode",
    "MsyncFlag",
    "OpenFile",
    "OpenFlag",
    "Whence",
    "check_file_name",
    "check_nr_open",
    "fd_install",
    "file_of",
    "may_open",
]

FILE_NAME_MAX: Final = 255  # NAME_MAX
NR_OPEN: Final = 1024  # RLIMIT_NOFILE's soft limit: descriptors per process
# The default readahead window of a block device (VM_READAHEAD_PAGES: 128 KiB).
RA_PAGES: Final = 32


class OpenFlag(IntFlag):
    """open(2) flags (include/uapi/asm-generic/fcntl.h), Linux's numbers."""

    O_RDONLY = 0
    O_WRONLY = 0o1
    O_RDWR = 0o2
    O_CREAT = 0o100
    O_EXCL = 0o200
    O_TRUNC = 0o1000
    O_APPEND = 0o2000


O_ACCMODE: Final = 0o3
OPEN_FLAGS_KNOWN: Final = int(
    OpenFlag.O_WRONLY
    | OpenFlag.O_RDWR
    | OpenFlag.O_CREAT
    | OpenFlag.O_EXCL
    | OpenFlag.O_TRUNC
    | OpenFlag.O_APPEND
)


class Whence(IntEnum):
    """lseek(2)'s whence."""

    SEEK_SET = 0  # from the start of the file
    SEEK_CUR = 1  # from f_pos
    SEEK_END = 2  # from i_size


class MsyncFlag(IntFlag):
    """msync(2) flags."""

    MS_ASYNC = 1  # start writeback, do not wait (a no-op since 2.6.19 but for the dirty bits)
    MS_INVALIDATE = 2  # drop other mappings' cached copies (nothing to do here)
    MS_SYNC = 4  # write the range's dirty pages back and wait


@dataclass(eq=False)
class AddressSpace:
    """struct address_space: a file's pages in the page cache, by index.

    Attributes:
        pages: index -> pfn of the resident pages (i_pages).
        shadows: index -> the shadow entry an evicted page left (mm/workingset.c): the
            lruvec's nonresident age when it was evicted, and whether it was active then.
        nr_dirty: its pages with PG_dirty (the mapping's dirty tag count).
    """

    pages: dict[int, int] = field(default_factory=dict)
    shadows: dict[int, tuple[int, bool]] = field(default_factory=dict)
    nr_dirty: int = 0


@dataclass(eq=False)
class Inode:
    """struct inode of a regular file.

    Attributes:
        ino: the inode number.
        name: its name in the directory ("" once unlinked).
        size: i_size in bytes.
        mode: permission bits.
        owner: i_uid.
        linked: still named (nlink 1): it lives on with no open file or mapping.
        blocks: page index -> disk block holding it (ext2's block map).
        mapping: i_mapping, its pages in the page cache.
        open_count: open file descriptions (struct file) that refer to it.
    """

    ino: int
    name: str
    mode: int
    owner: int
    size: int = 0
    linked: bool = True
    blocks: dict[int, int] = field(default_factory=dict)
    mapping: AddressSpace = field(default_factory=AddressSpace)
    open_count: int = 0

    def readable_by(self, uid: int) -> bool:
        """Whether the mode's bits for *uid* allow reading."""
        return bool(self._bits(uid) & 4)

    def writable_by(self, uid: int) -> bool:
        """Whether the mode's bits for *uid* allow writing."""
        return bool(self._bits(uid) & 2)

    def _bits(self, uid: int) -> int:
        # The owner's bits for its uid, the others' bits for everyone else (each user is
        # its own group here, as for /dev/shm).
        return (self.mode >> 6) & 7 if uid == self.owner else self.mode & 7


@dataclass
class FileRaState:
    """struct file_ra_state: the readahead window of one open file (mm/readahead.c).

    Attributes:
        start: first page of the current window.
        size: pages in it.
        async_size: pages left in it when the next window is read (PG_readahead's place).
        ra_pages: the largest window (the device's, RA_PAGES).
        prev_index: the page the last read ended on (a sequential read continues from it).
    """

    start: int = 0
    size: int = 0
    async_size: int = 0
    ra_pages: int = RA_PAGES
    prev_index: int = -1


@dataclass(eq=False)
class OpenFile:
    """struct file: one open file description, shared by the descriptors fork copies.

    Attributes:
        inode: f_inode.
        flags: the open flags (access mode, O_APPEND).
        pos: f_pos.
        ra: f_ra, the readahead state of sequential reads through this file.
        refs: descriptors (in all processes) that refer to it (f_count).
    """

    inode: Inode
    flags: int
    pos: int = 0
    ra: FileRaState = field(default_factory=FileRaState)
    refs: int = 1

    @property
    def readable(self) -> bool:
        """FMODE_READ."""
        return self.flags & O_ACCMODE in (OpenFlag.O_RDONLY, OpenFlag.O_RDWR)

    @property
    def writable(self) -> bool:
        """FMODE_WRITE."""
        return self.flags & O_ACCMODE in (OpenFlag.O_WRONLY, OpenFlag.O_RDWR)


class FileSystem:
    """The mounted disk file system: its directory, inodes and the owner of each cached page.

    Attributes:
        names: the directory: name -> inode.
        inodes: every inode alive (unlinked ones too while held), by number.
        owner_of: pfn -> (inode, index) of every page cache page (page->mapping, page->index),
            so reclaim and unmapping find the file of a frame.
        disk_bytes: the disk's size; the device itself is made on the first write.
        disk: the block device, None until a block is first needed.
        nr_dirty: page cache pages with PG_dirty (NR_FILE_DIRTY, meminfo's Dirty).
        dirty_pages: those pages in the order they were dirtied, oldest first (the order
            the flusher writes them back in: b_dirty sorted by dirtied_when).
        nr_highmem_pages: page cache pages in high memory (not dirtyable memory).
        io_done_ns: page -> when the read that brings it in completes, for pages read
            ahead and still under I/O (PG_locked until then).
    """

    def __init__(self, disk_bytes: int) -> None:
        self.names: dict[str, Inode] = {}
        self.inodes: dict[int, Inode] = {}
        self.owner_of: dict[int, tuple[Inode, int]] = {}
        self.disk_bytes = disk_bytes
        self.disk: BlockDevice | None = None
        self.nr_dirty = 0
        self.dirty_pages: dict[int, None] = {}
        self.io_done_ns: dict[int, int] = {}
        self.nr_highmem_pages = 0
        self._next_ino = 12  # ext2's first inode for a user file is 11 (lost+found) + 1

    @property
    def max_file_pages(self) -> int:
        """The most pages one file may have: every block of the disk but the superblock."""
        return self.disk_bytes // 4096 - 1

    def block_device(self, queue: SwapQueue) -> BlockDevice:
        """The disk, made (mkfs) on first use with its request queue."""
        if self.disk is None:
            from .blockdev import BlockDevice  # the host file only when a block is needed

            self.disk = BlockDevice(self.disk_bytes, queue=queue)
        return self.disk

    def create(self, name: str, mode: int, owner: int) -> Inode:
        """A new empty inode linked under *name*."""
        inode = Inode(self._next_ino, name, mode, owner)
        self._next_ino += 1
        self.names[name] = inode
        self.inodes[inode.ino] = inode
        return inode

    def lookup(self, name: str) -> Inode:
        """The inode named *name*.

        Raises:
            InvalidArgument: a bad name.
            FileNotFound: no file has it.
        """
        bare = check_file_name(name)
        inode = self.names.get(bare)
        if inode is None:
            raise FileNotFound(bare)
        return inode

    def unlink(self, name: str, uid: int) -> Inode:
        """unlink(2): the name goes; the inode is returned for the caller to release if
        nothing holds it.

        Raises:
            FileNotFound / InvalidArgument: see lookup.
            PermissionDenied: *uid* does not own it (the directory is sticky, as /tmp).
        """
        inode = self.lookup(name)
        if uid != inode.owner:
            raise PermissionDenied(
                f"{inode.name!r} belongs to uid {inode.owner}; uid {uid} may not unlink it "
                "(the directory is sticky) (EPERM)"
            )
        del self.names[inode.name]
        inode.linked = False
        return inode

    def close(self) -> None:
        """Unmount: close the disk's host file (an anonymous file is gone with it)."""
        if self.disk is not None:
            self.disk.close()


def check_file_name(name: str, argument: str = "path", what: str = "a file name") -> str:
    """The name without one optional leading slash (a file's, or *what* else is named in a
    flat directory such as /dev/shm); errors name *argument*.

    Raises:
        InvalidArgument: empty, too long, "." or "..", or with '/', NUL or a control
            character inside.
    """
    bare = name[1:] if name.startswith("/") else name
    if not bare or len(bare) > FILE_NAME_MAX or "/" in bare or bare in (".", ".."):
        raise InvalidArgument(
            argument,
            f"{name!r} is not {what}",
            f"1..{FILE_NAME_MAX} characters without '/' (one leading '/' is allowed)",
        )
    if any(ord(c) < 32 for c in bare):
        raise InvalidArgument(argument, f"{name!r} has a control character", "printable text")
    return bare


def may_open(fs: FileSystem, name: str, flags: int, mode: int, uid: int) -> tuple[Inode, bool]:
    """path_openat's checks for open(2): the inode to open, and whether it was created.

    Raises:
        InvalidArgument: unknown flag bits, an access mode of 3, mode bits beyond 0o777.
        FileNotFound: no such file and no O_CREAT.
        FileExists: O_CREAT|O_EXCL and the name exists.
        AccessDenied: the file's mode refuses *uid* the access (EACCES).
    """
    if flags < 0 or flags & ~OPEN_FLAGS_KNOWN or flags & O_ACCMODE == O_ACCMODE:
        raise InvalidArgument(
            "flags",
            f"{flags:#o} is not a set of open flags",
            "O_RDONLY 0, O_WRONLY 0o1 or O_RDWR 0o2, with O_CREAT 0o100, O_EXCL 0o200, "
            "O_TRUNC 0o1000, O_APPEND 0o2000",
        )
    if not 0 <= mode <= 0o777:
        raise InvalidArgument("mode", f"{mode:#o} is not a permission mode", "0o000 .. 0o777")
    bare = check_file_name(name)
    inode = fs.names.get(bare)
    if inode is None:
        if not flags & OpenFlag.O_CREAT:
            raise FileNotFound(bare)
        return fs.create(bare, mode, uid), True
    if flags & OpenFlag.O_CREAT and flags & OpenFlag.O_EXCL:
        raise FileExists(bare)
    access = flags & O_ACCMODE
    wants_read = access in (OpenFlag.O_RDONLY, OpenFlag.O_RDWR)
    wants_write = access != OpenFlag.O_RDONLY or bool(flags & OpenFlag.O_TRUNC)
    if (wants_read and not inode.readable_by(uid)) or (wants_write and not inode.writable_by(uid)):
        raise AccessDenied(
            f"{bare!r} has mode {inode.mode:#o}, owner uid {inode.owner}: uid {uid} may not "
            f"{'read and write' if wants_read and wants_write else 'write' if wants_write else 'read'}"
            " it (EACCES)"
        )
    return inode, False


def check_nr_open(files: dict[int, OpenFile]) -> None:
    """alloc_fd's limit.

    Raises:
        LimitExceeded: the process has NR_OPEN descriptors open (EMFILE).
    """
    if len(files) >= NR_OPEN:
        raise LimitExceeded(
            f"the process has {len(files)} open files (RLIMIT_NOFILE {NR_OPEN}) (EMFILE)",
            "nofile",
        )


def fd_install(files: dict[int, OpenFile], file: OpenFile) -> int:
    """alloc_fd + fd_install: the lowest free descriptor from 3 (0-2 are the terminal's).

    Raises:
        LimitExceeded: the process has NR_OPEN descriptors open (EMFILE).
    """
    check_nr_open(files)
    fd = 3
    while fd in files:
        fd += 1
    files[fd] = file
    return fd


def file_of(
    files: dict[int, OpenFile], fd: int, *, read: bool = False, write: bool = False
) -> OpenFile:
    """fdget with the access check of the call: the open file of *fd*.

    Raises:
        BadFileDescriptor: no such descriptor, or not open for the access (EBADF).
    """
    file = files.get(fd)
    if file is None:
        raise BadFileDescriptor(
            "fd",
            f"{fd} is not an open file descriptor",
            ", ".join(map(str, sorted(files))) or "none open",
        )
    if read and not file.readable:
        raise BadFileDescriptor("fd", f"{fd} is not open for reading", "O_RDONLY or O_RDWR")
    if write and not file.writable:
        raise BadFileDescriptor("fd", f"{fd} is not open for writing", "O_WRONLY or O_RDWR")
    return file
