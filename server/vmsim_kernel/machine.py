"""The syscall surface of the simulated machine: what the server wraps.

Models the system-call entry points of kernel/fork.c and kernel/exit.c (processes),
mm/mmap.c, mm/mprotect.c, mm/madvise.c and mm/memory.c (the address space), the /proc
reports and the kernel-space calls of a module (kmalloc, vmalloc, kmap ...). `Machine` owns
one booted `kernel.Kernel` (the state: zones, LRU lists, swap, locks, scheduler, events) and
hands it down to the mm functions; nothing below calls back up into Machine.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from vmsim_kernel.arch.x86.constants import (
    ADDRESS_SPACE_END,
    KERNEL_PGD_INDEX,
    PAGE_SIZE,
    STACK_TOP,
    TASK_SIZE,
    Gfp,
    MapFlag,
    Prot,
    Signal,
)
from vmsim_kernel.arch.x86.pgtable import pgd_words
from vmsim_kernel.arch.x86.segmentation import SegmentRegister, SegmentTranslation, parse_logical
from vmsim_kernel.fs import vfs
from vmsim_kernel.fs.proc import reports as proc
from vmsim_kernel.fs.proc.framemap import FrameMap, frame_map
from vmsim_kernel.fs.proc.pagetypeinfo import ZonePageTypes, format_pagetypeinfo, pagetypeinfo
from vmsim_kernel.fs.proc.reports import SmapsRollup
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.init.main import EventListener, Kernel
from vmsim_kernel.kernel import exit as task_exit
from vmsim_kernel.kernel.fork import dup_mmap
from vmsim_kernel.kernel.locks import LockRegistry, SimLock
from vmsim_kernel.kernel.printk import LogLevel, LogRecord
from vmsim_kernel.kernel.process import TASK_COMM_LEN, Task
from vmsim_kernel.kernel.sched import (
    MIN_QUANTUM_ADDRESSES,
    QUANTUM_COPY_BYTES,
    QUANTUM_FAULTS,
    QUANTUM_RECLAIM_FAULTS,
    CallTask,
    CostNumbers,
    JournalHook,
    Scheduler,
    as_kernel_bug,
    next_quantum_length,
)
from vmsim_kernel.kernel.sysctl import (
    format_proc_sys_vm,
    sysctl_name,
    sysctl_names,
    sysctl_read,
    sysctl_write,
)
from vmsim_kernel.kernel.time import CallCost, CpuTimes, SimThread
from vmsim_kernel.mm import filemap, memory, page_writeback, shmem, truncate
from vmsim_kernel.mm import mlock as mlock_calls
from vmsim_kernel.mm import mmap as mmap_calls
from vmsim_kernel.mm import mremap as mremap_calls
from vmsim_kernel.mm import swapoff as swapon_calls
from vmsim_kernel.mm.highmem import kernel_read, kernel_walk, kernel_write
from vmsim_kernel.mm.highmem import pa as physical_of_direct_map
from vmsim_kernel.mm.highmem import va as direct_map_of_physical
from vmsim_kernel.mm.madvise import do_madvise
from vmsim_kernel.mm.mlock import mlock_span
from vmsim_kernel.mm.oom_kill import OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN, oom_score, out_of_memory
from vmsim_kernel.mm.overcommit import commit_pages
from vmsim_kernel.mm.page_alloc import alloc_page, free_page
from vmsim_kernel.mm.swap import SwapDevice
from vmsim_kernel.mm.vma import INITIAL_STACK_SIZE, MmStruct, Vma, VmaKind

from . import entry
from .config import MachineConfig
from .entry import preemptible, syscall
from .errors import (
    FileTooLarge,
    InvalidArgument,
    LimitExceeded,
    NoSpaceOnDevice,
    NoSuchProcess,
    OutOfMemory,
    OutOfRange,
)
from .results import (
    EventKind,
    FaultResult,
    FileInfo,
    OpenFileInfo,
    ProcessInfo,
    ProcessState,
    ShmInfo,
    TouchSummary,
    Translation,
    VmaInfo,
    ZoneInfo,
)

# Machine and the value types its callers (the server) hold: the one surface of the kernel
# outside vmsim_kernel (tests/test_import_direction.py).
__all__ = [
    "CallCost",
    "CallTask",
    "CostNumbers",
    "EventListener",
    "FrameMap",
    "LogLevel",
    "LogRecord",
    "Machine",
    "SegmentTranslation",
    "ShmInfo",
    "SmapsRollup",
    "ZonePageTypes",
    "as_kernel_bug",
]

FIRST_PID = 100
DEFAULT_UID = 1000  # the uid a process runs as unless spawned with another
MAX_UID = 65535
MAX_IO_BYTES = 64 * 1024 * 1024  # largest single read/write the kernel accepts

P = ParamSpec("P")
R = TypeVar("R")


def journaled(method: Callable[P, R]) -> Callable[P, R]:
    """Record a call that changes the machine but costs nothing (spawn, exit_thread, kill ...)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        machine: Machine = args[0]  # type: ignore[assignment]
        journal = machine.sched.journal
        if journal is not None:
            journal.record(method.__name__, args[1:], kwargs)
        return method(*args, **kwargs)

    return wrapper


class Machine:
    """One booted machine's syscall surface. Not thread-safe: callers serialise (the server
    runs one event loop).

    The kernel's state is `kernel` (a kernel.Kernel); the few parts of it the server reads
    directly (config, sched, tasks, swap, locks, kswapd) are also properties here.
    """

    def __init__(self, config: MachineConfig | None = None) -> None:
        self.config = config or MachineConfig()
        self.kernel = Kernel(self.config)
        self.last_cost = CallCost(0, 0, 0, 0, 0)
        self.journal: list[tuple[str, tuple[Any, ...], dict[str, Any], int | None]] | None = (
            [] if self.config.record else None
        )
        if self.journal is not None:
            self.kernel.sched.journal = JournalHook(self.journal)
        self._next_pid = FIRST_PID

    def close(self) -> None:
        """Shut down: free everything, remove the swap file if it was temporary."""
        kernel = self.kernel
        if kernel.closed:
            return
        for task in list(kernel.tasks.values()):
            if task.alive:
                task_exit.release_task(kernel, task)
        kernel.shutdown()

    @property
    def closed(self) -> bool:
        """Whether close() ran."""
        return self.kernel.closed

    # ---- the kernel state the server reads ------------------------------------------------------
    @property
    def sched(self) -> Scheduler:
        """The scheduler: run queue, CPUs and the simulated clock."""
        return self.kernel.sched

    @property
    def tasks(self) -> OrderedDict[int, Task]:
        """The task list by pid (live and the zombies kept for reporting)."""
        return self.kernel.tasks

    @property
    def swap(self) -> SwapDevice | None:
        """The first active swap area (the boot area while it is on), if any."""
        return self.kernel.swap

    def swap_io_errors(self) -> tuple[int, int]:
        """(writes, reads) of swap slots that failed, on every area since boot."""
        return self.kernel.swap_info.io_errors()

    @property
    def locks(self) -> LockRegistry:
        """The lock classes and their lock_stat."""
        return self.kernel.locks

    @property
    def kswapd(self) -> SimThread:
        """kswapd's thread (its clock and CPU times)."""
        return self.kernel.kswapd

    @property
    def now_ns(self) -> int:
        """The latest simulated time any thread has reached."""
        return self.kernel.now_ns

    def submit(self, name: str, pid: int, *args: Any, tid: int | None = None) -> CallTask:
        """Queue process call *name* as a task; run it with sched.step (entry.submit)."""
        return entry.submit(self, name, pid, *args, tid=tid)

    # (machine, name, pid, *args, tid=None) -> (result, cost numbers) | None: process call
    # *name* at once when it is one quantum by construction and the scheduler is idle, None
    # when it must be submitted. The executor's own function bound as a method: the common
    # Touch's path pays no extra call.
    run_at_once = entry.run_at_once

    def cpu_times(self) -> CpuTimes:
        """Machine-wide user/system/iowait/lock-wait time: every process plus kswapd."""
        return self.kernel.cpu_times()

    def lock_stat(self) -> str:
        """/proc/lock_stat text."""
        return self.kernel.locks.report()

    def reset_lock_stat(self) -> None:
        """Clear the lock statistics (echo 0 > /proc/lock_stat)."""
        self.kernel.locks.reset()

    def sysctl(self, name: str = "") -> dict[str, str]:
        """vm sysctls by full name, as /proc/sys/vm prints them: *name*'s, or all if empty."""
        names = [sysctl_name(name)] if name else sysctl_names()
        return {full: sysctl_read(self.kernel, full) for full in names}

    def set_sysctl(self, name: str, value: str) -> str:
        """Write vm.NAME (sysctl -w) with the kernel's side effects; return the value read back.

        Raises:
            InvalidArgument: no such sysctl, or *value* out of the kernel's limits (nothing
                changes then).
        """
        return sysctl_write(self.kernel, name, value)

    def add_event_listener(
        self, listener: EventListener, kinds: frozenset[EventKind] | None = None
    ) -> None:
        """Call *listener* with every event (or every event of *kinds*) from now on."""
        self.kernel.add_event_listener(listener, kinds)

    def remove_event_listener(self, listener: EventListener) -> None:
        """Stop calling *listener*."""
        self.kernel.remove_event_listener(listener)

    # ---- processes ------------------------------------------------------------------------------
    @journaled
    def spawn(self, name: str = "", oom_score_adj: int = 0, uid: int = DEFAULT_UID) -> int:
        """Create a process with an empty user address space (plus stack VMA), running as
        user *uid*; return its pid."""
        if not OOM_SCORE_ADJ_MIN <= oom_score_adj <= OOM_SCORE_ADJ_MAX:
            raise InvalidArgument("oom_score_adj", f"{oom_score_adj}", "-1000..1000")
        if not isinstance(name, str) or any(ord(c) < 32 for c in name):
            raise InvalidArgument("name", "must be printable text", "up to 15 printable characters")
        if not 0 <= uid <= MAX_UID:
            raise InvalidArgument("uid", f"{uid}", f"0..{MAX_UID}")
        self._check_process_limit()
        task = self._new_task((name or f"proc{self._next_pid}")[: TASK_COMM_LEN - 1], oom_score_adj)
        task.uid = uid
        stack = Vma(
            STACK_TOP - INITIAL_STACK_SIZE,
            STACK_TOP,
            Prot.READ | Prot.WRITE,
            kind=VmaKind.STACK,
            accounted=True,
            grows_down=True,
        )
        if not commit_pages(self.kernel, task, stack.nr_pages, refuse=False):
            free_page(self.kernel.pgdat, task.mm.pgd_pfn)
            raise OutOfMemory("cannot commit the stack of a new process")
        task.mm.insert(stack)
        self._register(task)
        return task.pid

    def _check_process_limit(self) -> None:
        alive = sum(1 for task in self.tasks.values() if task.alive)
        if alive >= self.config.max_processes:
            raise LimitExceeded(
                f"{alive} processes already run (max_processes={self.config.max_processes})",
                "max_processes",
            )

    def _new_task(self, comm: str, oom_score_adj: int) -> Task:
        """A task with the next pid and an empty user address space: a page directory whose
        kernel half points at the kernel's page tables (pgd_alloc). Not on the task list yet."""
        pid = self._next_pid
        pgd_pfn = alloc_page(self.kernel.pgdat, Gfp.KERNEL, None)
        directory = self.kernel.ram32[pgd_words(pgd_pfn)]  # a view
        directory[:] = 0
        # clone_pgd_range: the kernel half of every directory points at the same kernel tables.
        swapper = self.kernel.ram32[pgd_words(self.kernel.swapper_pg_dir)]
        directory[KERNEL_PGD_INDEX:] = swapper[KERNEL_PGD_INDEX:]
        task = Task(
            pid,
            comm,
            MmStruct(pgd_pfn),
            oom_score_adj,
            mmap_lock=self.locks.new_lock("mmap", rw=True),
        )
        task.threads[pid] = SimThread(pid, pid, now_ns=self.now_ns)
        return task

    def _register(self, task: Task) -> None:
        """The new task joins the task list (its pid is taken)."""
        self._next_pid = task.pid + 1
        self.kernel.tasks[task.pid] = task
        self.kernel.mm_owner[id(task.mm)] = task.pid
        self.kernel.emit(EventKind.PROCESS_SPAWN, task.pid, None, None, task.name)

    @syscall
    def fork(self, pid: int, *, tid: int | None = None) -> int:
        """fork(2): a child process with a copy-on-write copy of the address space; returns
        the child's pid (kernel/fork.c: copy_process, dup_mmap).

        Raises:
            LimitExceeded: max_processes processes run already (nothing changes).
            OutOfMemory: the child's commit charge was refused, or no memory for its page
                tables (nothing changes).
        """
        parent = self._live(pid)
        self._check_process_limit()
        kernel = self.kernel
        kernel.current.run(kernel.costs.syscall_ns)
        child = self._new_task(parent.name, parent.oom_score_adj)
        child.uid = parent.uid
        assert parent.mmap_lock is not None
        with kernel.holding(parent.mmap_lock) as thread:
            thread.run(kernel.costs.vma_op_ns * len(parent.mm))
            dup_mmap(kernel, parent, child)
            mmap_calls.shoot_down_tlbs(kernel, parent)  # the parent's PTEs lost R/W
        child.files = dict(parent.files)  # dup_fd: the same open files, f_pos shared
        for file in child.files.values():
            file.refs += 1
        child.main_thread.now_ns = kernel.current.now_ns
        self._register(child)
        return child.pid

    # ---- mlock(2), munlock(2) ----------------------------------------------------------------------
    @preemptible
    def mlock(
        self, pid: int, addr: int, length: int, *, tid: int | None = None
    ) -> Generator[None, None, None]:
        """mlock(2): lock [addr, addr+length) (page-rounded, all mapped) in RAM: its pages are
        faulted in now (written ones for a private writable mapping, as populate does) and
        kept off the LRU, never reclaimed, until munlock or unmap.

        Raises:
            OutOfRange / OutOfMemory: a hole in the range (ENOMEM), or RLIMIT_MEMLOCK (8 MiB)
                would be passed; nothing changes then.
        """
        task = self._live(pid)
        start, end = mlock_span(task, addr, length)
        if start == end:
            return
        with mmap_calls.address_space_change(self.kernel, task):
            pieces = mlock_calls.lock_vmas(self.kernel, task, start, end, True)
        for piece in pieces:
            if not piece.accessible:
                continue
            write = piece.writable and not piece.shared
            yield from self._populate_range(pid, task, piece.start, piece.end, write)
        mlock_calls.mlock_range(self.kernel, task.mm, start, end)

    @syscall
    def munlock(self, pid: int, addr: int, length: int, *, tid: int | None = None) -> None:
        """munlock(2): [addr, addr+length) (all mapped) evictable again.

        Raises:
            OutOfRange / OutOfMemory: a hole in the range (ENOMEM); nothing changes then.
        """
        task = self._live(pid)
        start, end = mlock_span(task, addr, length)
        if start == end:
            return
        with mmap_calls.address_space_change(self.kernel, task):
            mlock_calls.lock_vmas(self.kernel, task, start, end, False)
            mlock_calls.munlock_range(self.kernel, task.mm, start, end)

    # ---- named shared memory (shm_open / shm_unlink on /dev/shm) ---------------------------------
    @syscall
    def shm_create(
        self, pid: int, name: str, size: int, mode: int = 0o600, *, tid: int | None = None
    ) -> None:
        """shm_open(O_CREAT|O_EXCL) + ftruncate: a named object of *size* bytes, owned by
        the process's uid, with permission *mode*; no page until one is touched.

        Raises:
            InvalidArgument: a bad name, size 0 (or past 3 GiB), mode beyond 0o777.
            AlreadyExists: the name is taken.
        """
        shmem.shm_create(self.kernel, self._live(pid), name, size, mode)

    @preemptible
    def shm_map(
        self,
        pid: int,
        name: str,
        prot: int,
        flags: int = int(MapFlag.SHARED),
        addr: int = 0,
        *,
        tid: int | None = None,
    ) -> Generator[None, None, int]:
        """shm_open + mmap of the whole named object; returns the start address.

        Raises:
            NoSuchObject: no object of that name.
            PermissionDenied: its mode does not let this uid read (or, with PROT_WRITE, write).
            InvalidArgument: bad flags (MAP_SHARED needed, no MAP_ANONYMOUS), or a
                MAP_FIXED_NOREPLACE range that overlaps a mapping.
        """
        task = self._live(pid)
        obj = shmem.shm_lookup(self.kernel, task, name, prot)
        length = obj.nr_pages * PAGE_SIZE
        start = mmap_calls.do_mmap(self.kernel, task, addr, length, prot, flags, obj)
        yield from self._populate(pid, task, start, length, prot, flags)
        return start

    @syscall
    def shm_unlink(self, pid: int, name: str, *, tid: int | None = None) -> None:
        """shm_unlink: the name goes now, the object when its last mapping does.

        Raises:
            NoSuchObject: no object of that name.
            PermissionDenied: the process's uid does not own it.
        """
        shmem.shm_unlink(self.kernel, self._live(pid), name)

    def shm_list(self) -> list[ShmInfo]:
        """The named shared memory objects (ls -l /dev/shm), by name."""
        return shmem.shm_list(self.kernel)

    # ---- files (fs/open.c, fs/read_write.c, mm/filemap.c, mm/msync.c) ---------------------------
    @syscall
    def open_file(
        self,
        pid: int,
        path: str,
        flags: int = int(OpenFlag.O_RDONLY),
        mode: int = 0o644,
        *,
        tid: int | None = None,
    ) -> int:
        """open(2): the lowest free descriptor (from 3) on the file *path*, created with
        *mode* (owned by the process's uid) under O_CREAT; O_TRUNC empties it.

        Raises:
            InvalidArgument: a bad name, unknown flag bits, mode beyond 0o777.
            FileNotFound: no such file and no O_CREAT.
            FileExists: O_CREAT|O_EXCL and the name exists.
            AccessDenied: the file's mode refuses this uid the access.
            LimitExceeded: 1024 files open in the process (EMFILE).
        """
        task = self._live(pid)
        kernel = self.kernel
        kernel.current.run(kernel.costs.syscall_ns)
        vfs.check_nr_open(task.files)  # before a file is created: a refused call changes nothing
        inode, _created = vfs.may_open(kernel.fs, path, flags, mode, task.uid)
        if flags & OpenFlag.O_TRUNC and flags & vfs.O_ACCMODE and inode.size:
            truncate.truncate_inode_pages(kernel, inode, 0)
        inode.open_count += 1
        kept_flags = flags & ~int(OpenFlag.O_CREAT | OpenFlag.O_EXCL | OpenFlag.O_TRUNC)
        return vfs.fd_install(task.files, vfs.OpenFile(inode, kept_flags))

    @syscall
    def close_file(self, pid: int, fd: int, *, tid: int | None = None) -> None:
        """close(2).

        Raises:
            BadFileDescriptor: *fd* is not open.
        """
        task = self._live(pid)
        file = vfs.file_of(task.files, fd)
        del task.files[fd]
        truncate.fput(self.kernel, file)

    def _io_length(self, length: int) -> None:
        if not 0 <= length <= MAX_IO_BYTES:
            raise InvalidArgument("length", f"{length}", f"0 .. {MAX_IO_BYTES} bytes")

    @staticmethod
    def _check_offset(offset: int) -> None:
        if offset < 0:
            raise InvalidArgument("offset", f"{offset} is negative", "0 or more")

    def _file_read(
        self, pid: int, fd: int, length: int, offset: int | None
    ) -> Generator[None, None, bytes]:
        """read(2) (*offset* None: from f_pos, which advances) or pread(2), in quanta of
        QUANTUM_COPY_BYTES."""
        task = self._live(pid)
        file = vfs.file_of(task.files, fd, read=True)
        self._io_length(length)
        kernel = self.kernel
        kernel.current.run(kernel.costs.syscall_ns + int(kernel.costs.copy_byte_ns * length))
        pos = file.pos if offset is None else offset
        parts = []
        done = 0
        while done < length:
            if done:
                yield
                task = self._live(pid)
            part = filemap.filemap_read(
                kernel, task, file, pos + done, min(QUANTUM_COPY_BYTES, length - done)
            )
            if not part:
                break
            parts.append(part)
            done += len(part)
            if offset is None:
                file.pos = pos + done
        return b"".join(parts)

    def _file_write(
        self, pid: int, fd: int, data: bytes, offset: int | None
    ) -> Generator[None, None, int]:
        """write(2) (*offset* None: at f_pos, or at the end under O_APPEND) or pwrite(2), in
        quanta of QUANTUM_COPY_BYTES; returns the bytes written."""
        task = self._live(pid)
        file = vfs.file_of(task.files, fd, write=True)
        self._io_length(len(data))
        kernel = self.kernel
        kernel.current.run(kernel.costs.syscall_ns + int(kernel.costs.copy_byte_ns * len(data)))
        if offset is None:
            pos = file.inode.size if file.flags & OpenFlag.O_APPEND else file.pos
        else:
            pos = offset
        data = bytes(data)
        done = 0
        while done < len(data):
            if done:
                yield
                task = self._live(pid)
            part = data[done : done + QUANTUM_COPY_BYTES]
            try:
                written = filemap.generic_perform_write(kernel, task, file, pos + done, part)
            except (NoSpaceOnDevice, FileTooLarge):
                if done:
                    break  # a short write: what was written stays
                raise
            done += written
            if offset is None:
                file.pos = pos + done
            if written < len(part):
                break
        return done

    @preemptible
    def read_file(
        self, pid: int, fd: int, length: int, *, tid: int | None = None
    ) -> Generator[None, None, bytes]:
        """read(2): up to *length* bytes from f_pos (fewer at the end of the file), through
        the page cache (readahead for sequential reads); f_pos advances.

        Raises:
            BadFileDescriptor: *fd* is not open for reading.
            InvalidArgument: *length* beyond 64 MiB.
        """
        return (yield from self._file_read(pid, fd, length, None))

    @preemptible
    def pread_file(
        self, pid: int, fd: int, length: int, offset: int, *, tid: int | None = None
    ) -> Generator[None, None, bytes]:
        """pread(2): read_file at *offset*; f_pos does not move.

        Raises:
            BadFileDescriptor, InvalidArgument: as read_file; a negative offset.
        """
        self._check_offset(offset)
        return (yield from self._file_read(pid, fd, length, offset))

    @preemptible
    def write_file(
        self, pid: int, fd: int, data: bytes, *, tid: int | None = None
    ) -> Generator[None, None, int]:
        """write(2) at f_pos (at the end under O_APPEND) through the page cache: no fault,
        the pages are dirty until writeback (vm.dirty_background_ratio starts it); f_pos
        advances; returns the bytes written (fewer when the disk filled up).

        Raises:
            BadFileDescriptor: *fd* is not open for writing.
            FileTooLarge: the write starts past the largest file the disk holds (EFBIG).
            NoSpaceOnDevice: no free block for its first page (ENOSPC).
        """
        return (yield from self._file_write(pid, fd, data, None))

    @preemptible
    def pwrite_file(
        self, pid: int, fd: int, data: bytes, offset: int, *, tid: int | None = None
    ) -> Generator[None, None, int]:
        """pwrite(2): write_file at *offset* (O_APPEND ignored, as Linux's pwrite does not);
        f_pos does not move.

        Raises:
            As write_file; InvalidArgument for a negative offset.
        """
        self._check_offset(offset)
        return (yield from self._file_write(pid, fd, data, offset))

    @syscall
    def lseek(self, pid: int, fd: int, offset: int, whence: int, *, tid: int | None = None) -> int:
        """lseek(2): the new f_pos (past the end is allowed; a write there leaves a hole).

        Raises:
            BadFileDescriptor: *fd* is not open.
            InvalidArgument: an unknown whence, or a negative resulting position.
        """
        file = vfs.file_of(self._live(pid).files, fd)
        bases = {
            vfs.Whence.SEEK_SET: 0,
            vfs.Whence.SEEK_CUR: file.pos,
            vfs.Whence.SEEK_END: file.inode.size,
        }
        if whence not in bases:
            raise InvalidArgument("whence", f"{whence}", "SEEK_SET 0, SEEK_CUR 1, SEEK_END 2")
        pos = bases[vfs.Whence(whence)] + offset
        if pos < 0:
            raise InvalidArgument("offset", f"the position would be {pos}", "a position >= 0")
        file.pos = pos
        file.ra.prev_index = -1 if pos == 0 else (pos - 1) // PAGE_SIZE
        return pos

    @syscall
    def ftruncate(self, pid: int, fd: int, length: int, *, tid: int | None = None) -> None:
        """ftruncate(2): the file becomes *length* bytes: pages and blocks past it go
        (unmapped from every process first), a longer file reads zeroes past the old end.

        Raises:
            BadFileDescriptor: *fd* is not open for writing.
            InvalidArgument: a negative length.
            FileTooLarge: past the largest file the disk holds (EFBIG).
        """
        task = self._live(pid)
        file = vfs.file_of(task.files, fd, write=True)
        kernel = self.kernel
        if length < 0:
            raise InvalidArgument("length", f"{length} is negative", "0 or more")
        max_bytes = kernel.fs.max_file_pages * PAGE_SIZE
        if length > max_bytes:
            raise FileTooLarge("length", f"{length} bytes", f"0 .. {max_bytes}")
        if length < file.inode.size:
            mmap_calls.unmap_mapping_range(kernel, file.inode, -(-length // PAGE_SIZE))
        truncate.truncate_inode_pages(kernel, file.inode, length)

    @syscall
    def fsync(self, pid: int, fd: int, *, tid: int | None = None) -> None:
        """fsync(2): write the file's dirty pages back and wait for the disk.

        Raises:
            BadFileDescriptor: *fd* is not open.
        """
        file = vfs.file_of(self._live(pid).files, fd)
        page_writeback.sync_inode(self.kernel, file.inode)

    @syscall
    def unlink(self, pid: int, path: str, *, tid: int | None = None) -> None:
        """unlink(2): the name goes now; the file when its last open file and mapping do.

        Raises:
            InvalidArgument: a bad name.
            FileNotFound: no such file.
            PermissionDenied: the process's uid does not own it (the directory is sticky).
        """
        task = self._live(pid)
        inode = self.kernel.fs.unlink(path, task.uid)
        truncate.iput(self.kernel, inode)

    @preemptible
    def mmap_file(
        self,
        pid: int,
        fd: int,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        offset: int = 0,
        *,
        tid: int | None = None,
    ) -> Generator[None, None, int]:
        """mmap(2) of the open file *fd* from byte *offset*: MAP_SHARED maps its page cache
        pages (writes dirty them, for writeback), MAP_PRIVATE maps them read-only and a
        write copies the page (copy-on-write into an anonymous page); returns the start.

        Raises:
            BadFileDescriptor: *fd* is not open.
            AccessDenied: the file is not open for reading, or MAP_SHARED with PROT_WRITE
                and not open for writing (EACCES).
            InvalidArgument: *offset* not page aligned or negative, MAP_ANONYMOUS, bad
                flags or length, a MAP_FIXED_NOREPLACE overlap.
        """
        task = self._live(pid)
        file = vfs.file_of(task.files, fd)
        start = mmap_calls.do_mmap_file(self.kernel, task, file, addr, length, prot, flags, offset)
        yield from self._populate(pid, task, start, length, prot, flags)
        return start

    @syscall
    def msync(
        self, pid: int, addr: int, length: int, flags: int, *, tid: int | None = None
    ) -> None:
        """msync(2): MS_SYNC writes back the dirty pages of the file mappings in the range
        and waits; MS_ASYNC only moves the PTEs' dirty bits to the pages, for writeback.

        Raises:
            InvalidArgument: *addr* not page aligned, unknown flags, MS_SYNC with MS_ASYNC.
            OutOfRange: a hole in the range (ENOMEM).
        """
        mmap_calls.do_msync(self.kernel, self._live(pid), addr, length, flags)

    @journaled
    def sync(self) -> None:
        """sync(2): every dirty page cache page written back (on the kernel thread's clock)."""
        self._kernel_op(self.kernel.costs.syscall_ns)
        page_writeback.sync_inode(self.kernel, None)

    def files(self) -> list[FileInfo]:
        """The files of the file system (ls -l plus the page cache's view), by name."""
        return filemap.file_infos(self.kernel)

    def file_info(self, path: str) -> FileInfo:
        """One file's FileInfo.

        Raises:
            InvalidArgument: a bad name.
            FileNotFound: no such file.
        """
        inode = self.kernel.fs.lookup(path)
        return filemap.file_info(self.kernel, inode)

    def open_files(self, pid: int) -> list[OpenFileInfo]:
        """The process's open descriptors (/proc/PID/fdinfo), by fd."""
        task = self._task(pid)
        return [
            OpenFileInfo(fd, file.inode.name, file.flags, file.pos)
            for fd, file in sorted(task.files.items())
        ]

    @journaled
    def spawn_thread(self, pid: int) -> int:
        """clone(CLONE_VM): a thread sharing the process's address space, with its own clock."""
        task = self._live(pid)
        tid = self._next_pid
        self._next_pid += 1
        task.threads[tid] = SimThread(tid, pid, now_ns=self.now_ns)
        return tid

    @journaled
    def exit_thread(self, pid: int, tid: int) -> None:
        """A thread other than the main one exits; its times stay with the process."""
        task = self._live(pid)
        if tid == pid or tid not in task.threads:
            raise InvalidArgument(
                "tid",
                f"{tid} is not a secondary thread of pid {pid}",
                ", ".join(str(t) for t in task.threads if t != pid) or "none",
            )
        thread = task.threads.pop(tid)
        task.dead_threads_times.add(thread.times)

    @preemptible
    def exit(self, pid: int, *, tid: int | None = None) -> Generator[None, None, None]:
        """The process exits: every frame and swap slot it holds is freed.

        exit_mmap in quanta: the address space is unmapped a slice at a time (as munmap), so
        a stopped exit leaves a live process with a prefix of its memory gone; the last
        quantum frees the page directory and makes the process a zombie.
        """
        task = self._live(pid)
        yield from mmap_calls.unmap_in_slices(self.kernel, task, 0, TASK_SIZE)
        task_exit.release_task(self.kernel, task)
        task.state = ProcessState.ZOMBIE
        task.exited_normally = True
        self.kernel.emit(EventKind.PROCESS_EXIT, pid, None, None, "exit")
        task_exit.reap_zombies(self.kernel)

    @journaled
    def kill(
        self, pid: int, signal: Signal = Signal.SIGKILL, reason: str = "killed by admin"
    ) -> None:
        """Kill a live process and free its memory; later calls raise ProcessKilled."""
        task = self._live(pid)
        task_exit.kill_task(self.kernel, task, signal, None, reason)

    def _task(self, pid: int) -> Task:
        task = self.tasks.get(pid)
        if task is None:
            raise NoSuchProcess(pid)
        return task

    def _live(self, pid: int) -> Task:
        # _task and Task.alive written out: every process call starts here.
        task = self.kernel.tasks.get(pid)
        if task is None:
            raise NoSuchProcess(pid)
        if task.state is not ProcessState.RUNNING:
            raise task_exit.dead(task)
        return task

    def process(self, pid: int) -> ProcessInfo:
        """Status of one process (live or zombie)."""
        return proc.process_info(self.kernel, self._task(pid))

    def processes(self, *, include_dead: bool = False) -> list[ProcessInfo]:
        """Status of the live processes by pid; *include_dead* adds the ended ones kept for
        reporting (their records say how they died)."""
        return [
            proc.process_info(self.kernel, task)
            for task in self.tasks.values()
            if include_dead or task.alive
        ]

    # ---- syscalls -------------------------------------------------------------------------------
    @preemptible
    def mmap(
        self, pid: int, addr: int, length: int, prot: int, flags: int, *, tid: int | None = None
    ) -> Generator[None, None, int]:
        """mmap(2) for anonymous memory; returns the start address (mmap_calls.do_mmap).

        MAP_POPULATE then faults the pages in quanta, as TouchMany does: a stopped call keeps
        its mapping with a prefix populated.
        """
        task = self._live(pid)
        start = mmap_calls.do_mmap(self.kernel, task, addr, length, prot, flags)
        yield from self._populate(pid, task, start, length, prot, flags)
        return start

    def _populate(
        self, pid: int, task: Task, start: int, length: int, prot: int, flags: int
    ) -> Generator[None, None, None]:
        """MAP_POPULATE: fault the new mapping's pages in, in quanta as TouchMany does."""
        span = mmap_calls.populate_span(start, length, prot, flags)
        if span is not None:
            yield from self._populate_range(pid, task, *span)

    @preemptible
    def munmap(
        self, pid: int, addr: int, length: int, *, tid: int | None = None
    ) -> Generator[None, None, None]:
        """munmap(2), in quanta of at most sched.QUANTUM_ZAP_PAGES pages (a stopped call has
        unmapped a prefix of the range)."""
        yield from mmap_calls.do_munmap(self.kernel, self._live(pid), addr, length)

    @preemptible
    def mremap(
        self,
        pid: int,
        old_address: int,
        old_size: int,
        new_size: int,
        flags: int = 0,
        new_address: int = 0,
        *,
        tid: int | None = None,
    ) -> Generator[None, None, int]:
        """mremap(2) (mremap_calls.do_mremap): shrink, grow in place, or move with
        MREMAP_MAYMOVE (MREMAP_FIXED to *new_address*, MREMAP_DONTUNMAP leaving the old
        range empty); returns the mapping's address. A shrink unmaps in quanta as munmap
        does; a locked mapping's growth is faulted in afterwards in quanta as mlock's."""
        task = self._live(pid)
        done = yield from mremap_calls.do_mremap(
            self.kernel, task, old_address, old_size, new_size, flags, new_address
        )
        if done.populate is not None:
            start, end, write = done.populate
            yield from self._populate_range(pid, task, start, end, write)
        return done.address

    def _populate_range(
        self, pid: int, task: Task, start: int, end: int, write: bool
    ) -> Generator[None, None, None]:
        """mm_populate of [start, end): every page faulted in, in quanta as TouchMany does."""
        pages = np.arange(start, end, PAGE_SIZE, dtype=np.uint64).astype(np.uint32)
        yield from self._touch_in_quanta(pid, task, pages, write)

    @syscall
    def mprotect(
        self, pid: int, addr: int, length: int, prot: int, *, tid: int | None = None
    ) -> None:
        """mprotect(2)."""
        mmap_calls.do_mprotect(self.kernel, self._live(pid), addr, length, prot)

    @syscall
    def brk(self, pid: int, addr: int, *, tid: int | None = None) -> int:
        """brk(2): addr 0 queries; returns the (new) program break."""
        return mmap_calls.do_brk(self.kernel, self._live(pid), addr)

    @syscall
    def madvise(
        self, pid: int, addr: int, length: int, advice: int, *, tid: int | None = None
    ) -> None:
        """madvise(2) with MADV_NORMAL/RANDOM/SEQUENTIAL/WILLNEED/DONTNEED/FREE."""
        do_madvise(self.kernel, self._live(pid), addr, length, advice)

    @syscall
    def touch(
        self, pid: int, addr: int, write: bool = False, *, tid: int | None = None
    ) -> FaultResult:
        """One user-mode access through the MMU; faults are handled."""
        task = self._live(pid)
        if not 0 <= addr < ADDRESS_SPACE_END:
            raise OutOfRange("addr", f"0x{addr:x} is not a 32-bit address", "0x0 .. 0xFFFFFFFF")
        return memory.touch_one(self.kernel, task, addr, bool(write))

    @preemptible
    def touch_many(
        self,
        pid: int,
        addrs: Sequence[int] | npt.NDArray[np.uint32],
        write: bool = False,
        *,
        tid: int | None = None,
    ) -> Generator[None, None, TouchSummary]:
        """Many user-mode accesses in order; stops at (and raises) a fatal fault.

        Runs in quanta (sched.QUANTUM_FAULTS ...): an interrupted call has touched a prefix.
        """
        task = self._live(pid)
        if isinstance(addrs, np.ndarray):
            if addrs.ndim != 1 or addrs.dtype.kind not in "ui":
                raise InvalidArgument(
                    "addrs",
                    f"array of {addrs.dtype} with shape {addrs.shape}",
                    "a flat sequence of 32-bit addresses",
                )
            if len(addrs) and (int(addrs.min()) < 0 or int(addrs.max()) >= ADDRESS_SPACE_END):
                raise OutOfRange("addrs", "an address is not 32-bit", "0x0 .. 0xFFFFFFFF")
            array = addrs.astype(np.uint32, copy=False)
        else:
            try:
                array = np.fromiter(addrs, dtype=np.int64)
            except (TypeError, ValueError, OverflowError) as error:
                raise InvalidArgument(
                    "addrs", f"not a sequence of integers ({error})", "32-bit addresses"
                ) from None
            if len(array) and (int(array.min()) < 0 or int(array.max()) >= ADDRESS_SPACE_END):
                raise OutOfRange("addrs", "an address is not 32-bit", "0x0 .. 0xFFFFFFFF")
            array = array.astype(np.uint32)
        return (yield from self._touch_in_quanta(pid, task, array, bool(write)))

    def _touch_in_quanta(
        self, pid: int, task: Task, array: npt.NDArray[np.uint32], write: bool
    ) -> Generator[None, None, TouchSummary]:
        """Touch *array* in order, a quantum of at most QUANTUM_FAULTS faults at a time
        (QUANTUM_RECLAIM_FAULTS after a quantum that reclaimed directly)."""
        events = self.kernel.vm_events
        counts = [0, 0, 0]  # hits, minor, major
        position, length, max_faults = 0, MIN_QUANTUM_ADDRESSES, QUANTUM_FAULTS
        while True:
            scanned = events.pgscan_direct
            part = memory.touch_many(
                self.kernel,
                task,
                array[position : position + length],
                write,
                max_faults=max_faults,
            )
            reclaimed = events.pgscan_direct != scanned
            max_faults = QUANTUM_RECLAIM_FAULTS if reclaimed else QUANTUM_FAULTS
            counts = [
                counts[0] + part.nr_hits,
                counts[1] + part.nr_minor,
                counts[2] + part.nr_major,
            ]
            position += part.nr_touched
            if position >= len(array):
                return TouchSummary(len(array), *counts)
            length = next_quantum_length(length, part.nr_touched)
            yield
            task = self._live(pid)

    def _check_io(self, addr: int, length: int) -> None:
        if not 0 <= length <= MAX_IO_BYTES:
            raise InvalidArgument("length", f"{length}", f"0 .. {MAX_IO_BYTES} bytes")
        if not addr >= 0 or addr + length > ADDRESS_SPACE_END:
            raise OutOfRange(
                "addr", f"0x{addr:x}+{length} is not in the 32-bit space", "0x0 .. 0xFFFFFFFF"
            )

    @preemptible
    def read(
        self, pid: int, addr: int, length: int, *, tid: int | None = None
    ) -> Generator[None, None, bytes]:
        """Read user memory like the process would (faults handled), in quanta."""
        task = self._live(pid)
        self._check_io(addr, length)
        self.kernel.current.run(
            self.kernel.costs.syscall_ns + int(self.kernel.costs.copy_byte_ns * length)
        )
        parts = []
        for offset in range(0, length, QUANTUM_COPY_BYTES):
            if offset:
                yield
                task = self._live(pid)
            size = min(QUANTUM_COPY_BYTES, length - offset)
            parts.append(memory.access_user_memory(self.kernel, task, addr + offset, size, None))
        return b"".join(parts)

    @preemptible
    def write(
        self, pid: int, addr: int, data: bytes, *, tid: int | None = None
    ) -> Generator[None, None, None]:
        """Write user memory like the process would (faults handled), in quanta."""
        task = self._live(pid)
        self._check_io(addr, len(data))
        self.kernel.current.run(
            self.kernel.costs.syscall_ns + int(self.kernel.costs.copy_byte_ns * len(data))
        )
        data = bytes(data)
        for offset in range(0, len(data), QUANTUM_COPY_BYTES):
            if offset:
                yield
                task = self._live(pid)
            part = data[offset : offset + QUANTUM_COPY_BYTES]
            memory.access_user_memory(self.kernel, task, addr + offset, len(part), part)

    def translate(self, pid: int, addr: int) -> Translation:
        """The page walk of *addr* in the process's page tables, without faulting."""
        task = self._live(pid)
        if not 0 <= addr < ADDRESS_SPACE_END:
            raise OutOfRange("addr", f"0x{addr:x} is not a 32-bit address", "0x0 .. 0xFFFFFFFF")
        vma = task.mm.find_vma(addr)
        info = proc.vma_info(self.kernel, task.mm, vma) if vma is not None else None
        return memory.translate(self.kernel, task, addr, info)

    # ---- reports ----------------------------------------------------------------------------------
    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo numbers in kB, Linux key names (MemTotal, MemFree, ...)."""
        return proc.meminfo(self.kernel)

    def vmstat(self) -> dict[str, int]:
        """/proc/vmstat counters (nr_free_pages, pgfault, pgmajfault, pswpin, ...)."""
        return proc.vmstat(self.kernel)

    def layout(self) -> dict[str, int]:
        """The kernel's virtual layout in use (addresses) and the image (physical addresses)."""
        return proc.layout(self.kernel)

    def zoneinfo(self) -> list[ZoneInfo]:
        """Per-zone numbers."""
        return proc.zoneinfo(self.kernel)

    def pagetypeinfo(self) -> list[ZonePageTypes]:
        """/proc/pagetypeinfo: free blocks per migratetype and order, pageblocks per type."""
        return pagetypeinfo(self.kernel)

    def smaps_rollup(self, pid: int) -> SmapsRollup:
        """/proc/<pid>/smaps_rollup: the smaps sizes of every VMA summed (.kb() by name,
        .text() as Linux prints it), in one pass."""
        return proc.smaps_rollup(self.kernel, self._task(pid))

    def smaps_rollup_part(self, pid: int, rollup: SmapsRollup, max_vmas: int) -> bool:
        """Add to *rollup* up to *max_vmas* more VMAs of the process, from the first one ending
        above rollup.end, so that a huge process is summed a bounded part at a time (the
        process may change between parts, as Linux's walk drops mmap_lock). Returns whether
        VMAs remain."""
        task = self._task(pid)
        rollup.alive = task.alive
        if not task.alive:
            return False
        vmas = task.mm.vmas_from(rollup.end, max_vmas)
        for vma in vmas:
            rollup.add(self.kernel, task.mm, vma)
        return bool(vmas) and bool(task.mm.vmas_from(vmas[-1].end, 1))

    def swaps(self) -> list[dict[str, str | int]]:
        """/proc/swaps rows: filename, type, size_kb, used_kb, priority."""
        return proc.swaps(self.kernel.swap_info.areas())

    @journaled
    def swapon(self, name: str, size_bytes: int, priority: int = -1) -> dict[str, str | int]:
        """swapon of a new swap area /swap/NAME (mkswap first); returns its /proc/swaps row.

        Raises:
            InvalidArgument: a bad name, a size that is not whole pages from 2 pages up to
                what swapon_budget_bytes leaves, or a priority outside -1..32767.
            AlreadyExists: an area of that name is on already.
            LimitExceeded: MAX_SWAPFILES (32) areas are on already.
        """
        self._kernel_op(self.kernel.costs.syscall_ns, self.kernel.swap_lock)
        area = swapon_calls.swapon(self.kernel, name, size_bytes, priority)
        return proc.swaps([area])[0]

    @journaled
    def swapoff(self, name: str) -> None:
        """swapoff: bring every page of the area (/swap/NAME, NAME, or the path /proc/swaps
        shows) back into memory and free the area.

        Raises:
            NoSuchObject: no active area has that name.
            OutOfMemory: its pages do not fit in memory (ENOMEM); the area stays on unchanged.
        """
        self._kernel_op(self.kernel.costs.syscall_ns)
        swapon_calls.swapoff(self.kernel, name)

    def maps(self, pid: int) -> list[VmaInfo]:
        """/proc/<pid>/maps rows (smaps numbers filled in)."""
        task = self._task(pid)
        return [proc.vma_info(self.kernel, task.mm, vma) for vma in task.mm]

    def maps_part(
        self, pid: int, start_addr: int, max_vmas: int, smaps: bool = False
    ) -> tuple[list[VmaInfo], str, int]:
        """Up to *max_vmas* rows of /proc/<pid>/maps (smaps with *smaps*) from the first VMA
        ending above *start_addr*: (rows, their text, where the next part starts, or 0 when
        this part is the last), so a huge report is built and sent a bounded part at a time."""
        task = self._task(pid)
        vmas = task.mm.vmas_from(start_addr, max_vmas)
        rows = [proc.vma_info(self.kernel, task.mm, vma) for vma in vmas]
        text = (proc.format_smaps if smaps else proc.format_maps)(self.kernel, task, vmas)
        more = bool(vmas) and bool(task.mm.vmas_from(vmas[-1].end, 1))
        return rows, text, vmas[-1].end if more else 0

    def report(self, name: str, pid: int | None = None) -> str:
        """Linux text of a report: meminfo, vmstat, zoneinfo, buddyinfo, pagetypeinfo, swaps,
        layout, and per process maps, smaps, smaps_rollup, status, oom_score, oom_score_adj."""
        per_process: dict[str, Callable[[Kernel, Task], str]] = {
            "maps": proc.format_maps,
            "smaps": proc.format_smaps,
            "smaps_rollup": proc.format_smaps_rollup,
            "status": proc.format_status,
            "oom_score": lambda kernel, task: f"{oom_score(task, kernel.oom_totalpages)}\n",
            "oom_score_adj": lambda kernel, task: f"{task.oom_score_adj}\n",
        }
        if name in per_process:
            if pid is None:
                raise InvalidArgument("pid", f"the {name} report is per process", "a pid")
            return per_process[name](self.kernel, self._task(pid))
        machine_wide: dict[str, Callable[[Kernel], str]] = {
            "meminfo": proc.format_meminfo,
            "vmstat": proc.format_vmstat,
            "zoneinfo": proc.format_zoneinfo,
            "buddyinfo": lambda kernel: kernel.allocator.buddyinfo(),
            "pagetypeinfo": format_pagetypeinfo,
            "swaps": lambda kernel: proc.format_swaps(kernel.swap_info.areas()),
            "lock_stat": lambda kernel: kernel.locks.report(),
            "slabinfo": lambda kernel: kernel.slab.slabinfo(),
            "vmallocinfo": lambda kernel: kernel.vmalloc_space.vmallocinfo(),
            "stat": proc.format_stat,
            "layout": proc.format_layout,
            "schedstat": lambda kernel: kernel.sched.schedstat(),
            "sys_vm": format_proc_sys_vm,
        }
        if name not in machine_wide:
            raise InvalidArgument(
                "name", f"no report {name!r}", ", ".join([*machine_wide, *per_process])
            )
        return machine_wide[name](self.kernel)

    def frame_map(self) -> FrameMap:
        """The use, owner and flags of every physical frame, computed now."""
        return frame_map(self.kernel)

    def vmalloc_usage(self) -> dict[str, int]:
        """The vmalloc area in bytes: used_bytes, largest_free_chunk, total_bytes."""
        space = self.kernel.vmalloc_space
        return {
            "used_bytes": space.used_bytes,
            "largest_free_chunk": space.largest_free_chunk,
            "total_bytes": space.total_bytes,
        }

    @property
    def vmalloc_start(self) -> int:
        """VMALLOC_START of this boot (high_memory + VMALLOC_OFFSET)."""
        return self.kernel.vmalloc_space.start

    @property
    def nr_lowmem_frames(self) -> int:
        """Frames of the direct-mapped low memory (ZONE_DMA and ZONE_NORMAL)."""
        return self.kernel.nr_lowmem_frames

    @property
    def oom_totalpages(self) -> int:
        """RAM + swap pages: the scale of oom_score and oom_score_adj."""
        return self.kernel.oom_totalpages

    def out_of_memory(self) -> bool:
        """Run the OOM killer now, as a failed user allocation would: False when nothing can
        be killed."""
        return out_of_memory(self.kernel, None, Gfp.HIGHUSER)

    def add_kernel_console(self, console: Callable[[LogRecord], None]) -> None:
        """register_console: *console* sees every later kernel log record."""
        self.kernel.kernel_log.add_console(console)

    # ---- kernel space -------------------------------------------------------------------------
    def _kernel_op(self, work_ns: int, lock: SimLock | None = None) -> SimThread:
        """Kernel-space calls run on the kernel thread's clock; *lock* is held for the work."""
        self.kernel.current = self.kernel.kernel_thread
        self.kernel.kernel_thread.now_ns = max(self.kernel.kernel_thread.now_ns, self.now_ns)
        if lock is None:
            self.kernel.kernel_thread.run(work_ns)
        else:
            with self.kernel.holding(lock) as thread:
                thread.run(work_ns)
        return self.kernel.kernel_thread

    def kmalloc(self, size: int, gfp: Gfp = Gfp.KERNEL, owner: int = 0) -> int:
        """kmalloc(size, gfp) for *owner*; returns a direct-map address (slab.py)."""
        self._kernel_op(self.kernel.costs.syscall_ns)
        return self.kernel.slab.kmalloc(size, gfp, owner)

    def kfree(self, addr: int, owner: int | None = None) -> None:
        """kfree(addr); *owner* must match when given."""
        self._kernel_op(self.kernel.costs.syscall_ns)
        self.kernel.slab.kfree(addr, owner)

    def vmalloc(self, size: int, owner: int = 0) -> int:
        """vmalloc(size) for *owner*: virtually contiguous, physically scattered (vmalloc.py)."""
        self._kernel_op(self.kernel.costs.syscall_ns)
        return self.kernel.vmalloc_space.vmalloc(size, owner)

    def vfree(self, addr: int, owner: int | None = None) -> None:
        """vfree(addr)."""
        self._kernel_op(self.kernel.costs.syscall_ns)
        self.kernel.vmalloc_space.vfree(addr, owner)

    def kmap(self, pfn: int, owner: int = 0, cpu: int | None = None) -> int | None:
        """kmap(page): its kernel address, or None when all LAST_PKMAP slots are busy (wait, retry)."""
        self._kernel_op(self.kernel.costs.page_alloc_ns, self.kernel.pkmap_lock)
        address = self.kernel.highmem.kmap(pfn, owner, cpu)
        if address is None:  # the caller sleeps on pkmap_map_wait: a contention on kmap_lock
            self.kernel.pkmap_lock.record_blocked(2 * self.kernel.costs.context_switch_ns)
        return address

    def kunmap(self, pfn_or_addr: int, owner: int = 0) -> bool:
        """kunmap(page); True when a slot became free for a waiter."""
        self._kernel_op(self.kernel.costs.page_alloc_ns, self.kernel.pkmap_lock)
        return self.kernel.highmem.kunmap(pfn_or_addr, owner)

    def kmap_atomic(self, pfn: int, cpu: int, owner: int = 0) -> int:
        """kmap_atomic(page) on *cpu*: a per-CPU fixmap slot; never waits, strictly nested."""
        self._kernel_op(self.kernel.costs.tlb_hit_ns)
        return self.kernel.highmem.kmap_atomic(pfn, cpu, owner)

    def cancel_kmap_wait(self, owner: int) -> None:
        """The waiting kmap of *owner* gave up (its deadline passed)."""
        self.kernel.highmem.cancel_wait(owner)

    def kunmap_atomic(self, addr: int, cpu: int) -> None:
        """kunmap_atomic(addr) on *cpu*: must undo the most recent kmap_atomic."""
        self._kernel_op(self.kernel.costs.tlb_hit_ns)
        self.kernel.highmem.kunmap_atomic(addr, cpu)

    def pa(self, vaddr: int) -> int:
        """__pa(vaddr): only for the direct map."""
        return physical_of_direct_map(vaddr, self.kernel.nr_lowmem_frames)

    def va(self, paddr: int) -> int:
        """__va(paddr): only for low memory (a high page must be kmapped)."""
        return direct_map_of_physical(paddr, self.kernel.nr_lowmem_frames, self.config.nr_frames)

    def kernel_read(self, vaddr: int, length: int) -> bytes:
        """A kernel-mode read through swapper_pg_dir (no U/S check; KernelOops if not present)."""
        if not 0 <= length <= MAX_IO_BYTES:
            raise InvalidArgument("length", f"{length}", f"0 .. {MAX_IO_BYTES} bytes")
        return kernel_read(self.kernel.init_mm, vaddr, length)

    def kernel_write(self, vaddr: int, data: bytes) -> None:
        """A kernel-mode write through swapper_pg_dir."""
        if len(data) > MAX_IO_BYTES:
            raise InvalidArgument("data", f"{len(data)} bytes", f"at most {MAX_IO_BYTES} bytes")
        kernel_write(self.kernel.init_mm, vaddr, bytes(data))

    def kernel_translate(self, vaddr: int) -> Translation:
        """The walk of a kernel virtual address in the kernel page directory."""
        return kernel_walk(self.kernel.init_mm, vaddr)

    def translate_logical(
        self, logical: str, pid: int | None = None, *, cpl: int | None = None
    ) -> tuple[SegmentTranslation, Translation]:
        """selector:offset -> linear (GDT, limit and privilege checks) -> the page walk.

        With *pid* the walk uses that process's page tables at CPL 3, without it the kernel's
        at CPL 0; a limit or privilege violation is a GeneralProtectionFault.
        """
        selector, offset = parse_logical(logical)
        privilege = cpl if cpl is not None else (3 if pid is not None else 0)
        segment = self.kernel.gdt.logical_to_linear(
            selector, offset, privilege, register=SegmentRegister.DS
        )
        walk = (
            self.translate(pid, segment.linear)
            if pid is not None
            else kernel_walk(self.kernel.init_mm, segment.linear)
        )
        return segment, walk

    def release_kernel_owner(self, owner: int) -> int:
        """A kernel session ended (like a module unload): free everything it holds."""
        freed = self.kernel.slab.release_owner(owner)
        freed += self.kernel.vmalloc_space.release_owner(owner)
        freed += self.kernel.highmem.release_owner(owner)
        return freed

    # ---- invariants -------------------------------------------------------------------------------
    def check_invariants(self) -> None:
        """Raise KernelBug unless every frame, mapping and swap slot is accounted for."""
        proc.check_invariants(self.kernel)
