"""The simulated machine: boot, processes and the syscall surface the server wraps.

Models init/main.c (start_kernel: memblock reservations, zones, the kernel page tables of
arch/x86/mm/init_32.c, swapon), kernel/fork.c + kernel/exit.c for processes, and the
syscall entry points of mm/mmap.c, mm/mprotect.c, mm/madvise.c and mm/memory.c.
"""

from __future__ import annotations

import contextlib
import functools
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from . import entry, memory, mmap_calls, proc
from .config import MachineConfig, OvercommitMode, ReplacementPolicy
from .constants import (
    ADDRESS_SPACE_END,
    KERNEL_PGD_INDEX,
    MAX_LOW_ADDRESS,
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SHIFT,
    STACK_TOP,
    Gfp,
    PageTableBit,
    Prot,
    Signal,
    ZoneType,
)
from .entry import preemptible, syscall
from .errors import (
    InvalidArgument,
    KernelBug,
    LimitExceeded,
    NoSuchProcess,
    OutOfMemory,
    OutOfRange,
    ProcessKilled,
)
from .highmem import Highmem, kernel_read, kernel_walk, kernel_write
from .highmem import pa as physical_of_direct_map
from .highmem import va as direct_map_of_physical
from .layout import BootLayout, plan_boot
from .locks import LockKind, LockRegistry, SimLock
from .mm import INITIAL_STACK_SIZE, MmStruct, Vma, VmaKind
from .oom_kill import OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN, oom_score, select_bad_process
from .overcommit import admin_reserve_pages, commit_limit, user_reserve_pages, vm_enough_memory
from .page_alloc import PageAllocator
from .physmem import PageFlag, PhysicalMemory
from .policies import make_policy
from .printk import KernelLog, LogLevel
from .process import TASK_COMM_LEN, Task
from .results import (
    Event,
    EventKind,
    FaultResult,
    ProcessInfo,
    ProcessState,
    TouchSummary,
    Translation,
    VmaInfo,
    ZoneInfo,
)
from .rmap import ReverseMap
from .sched import (
    MIN_QUANTUM_ADDRESSES,
    QUANTUM_COPY_BYTES,
    QUANTUM_FAULTS,
    CallTask,
    JournalHook,
    Scheduler,
    next_quantum_length,
)
from .segmentation import SegmentRegister, SegmentTranslation, linux_gdt, parse_logical
from .slab import SlabAllocator
from .swap import SwapDevice, swp_offset
from .timing import CallCost, CpuTimes, SimThread, SwapQueue
from .vmalloc import VmallocSpace
from .vmscan import alloc_pages, kswapd_run
from .vmstat import VmEvents

__all__ = ["EventListener", "Machine"]

EventListener = Callable[[Event], None]

FIRST_PID = 100
MAX_ZOMBIES = 1024  # dead tasks whose records are kept for reporting
MAX_IO_BYTES = 64 * 1024 * 1024  # largest single read/write the kernel accepts
KERNEL_DIRECT_MAP_BITS = int(
    PageTableBit.PRESENT
    | PageTableBit.RW
    | PageTableBit.ACCESSED
    | PageTableBit.DIRTY
    | PageTableBit.GLOBAL
)
# _KERNPG_TABLE (0x063): a PDE pointing at a kernel page table.
KERNEL_PDE_BITS = int(
    PageTableBit.PRESENT | PageTableBit.RW | PageTableBit.ACCESSED | PageTableBit.DIRTY
)
KERNEL_TID = 0  # the thread that runs boot work and calls made outside any process
KSWAPD_TID = 1  # background reclaim has a clock of its own

P = ParamSpec("P")
R = TypeVar("R")


def journaled(method: Callable[P, R]) -> Callable[P, R]:
    """Record a call that changes the machine but costs nothing (spawn, exit, kill ...)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        machine: Machine = args[0]  # type: ignore[assignment]
        if machine.journal is not None:
            machine.journal.append((method.__name__, args[1:], dict(kwargs), None))
        return method(*args, **kwargs)

    return wrapper


class Machine:
    """One booted machine. Not thread-safe: callers serialise (the server runs one event loop).

    Attributes that the kernel modules share (the machine's "globals"): physmem, allocator,
    swap, rmap, policy, vm_events and the u32 views of RAM.
    """

    def __init__(self, config: MachineConfig | None = None) -> None:
        self.config = config or MachineConfig()
        nr_frames = self.config.nr_frames
        self.physmem = PhysicalMemory(nr_frames)
        self.ram32 = self.physmem.ram32
        # memoryview indexing returns plain ints and is faster than numpy for single entries.
        self.ram_words = memoryview(self.physmem.ram).cast("I")
        self.nr_lowmem_frames = min(nr_frames, MAX_LOW_ADDRESS >> PAGE_SHIFT)
        self.boot = self._plan_boot(nr_frames)
        self.swapper_pg_dir = self.boot.image.swapper_pg_dir
        self.zero_pfn = self.boot.image.zero_pfn  # empty_zero_page, in the image's .bss
        reserved = [(region.start_pfn, region.end_pfn) for region in self.boot.reserved]
        self.nr_boot_reserved = sum(region.nr_pages for region in self.boot.reserved)
        self.allocator = PageAllocator(self.physmem, reserved, self.config.min_free_kbytes)
        self._build_direct_map(self.boot.direct_map_tables)
        self.swap: SwapDevice | None = (
            SwapDevice(
                self.config.swap_bytes,
                self.config.swap_path,
                seed=self.config.seed,
                overwrite=self.config.swap_file_overwrite,
            )
            if self.config.swap_bytes
            else None
        )
        # A machine dropped without close() (or still open at interpreter exit) still does
        # swapoff, so a temporary swap file never outlives it.
        self._swapoff_at_exit = (
            weakref.finalize(self, self.swap.close) if self.swap is not None else None
        )
        if self.config.policy is ReplacementPolicy.OPT:
            raise InvalidArgument(
                "policy",
                "opt needs the future and works only in trace replay",
                "linux, fifo, lru, clock, random",
            )
        self.policy = make_policy(self.config.policy, seed=self.config.seed)
        self.policy_tracks_access = self.config.policy is ReplacementPolicy.LRU
        self.costs = self.config.costs
        self.locks = LockRegistry(
            self.costs, {name: LockKind(kind) for name, kind in self.config.lock_kinds.items()}
        )
        self.zone_locks = [self.locks.new_lock("zone") for _ in self.allocator.zones]
        self.lru_lock = self.locks.new_lock("lru")
        self.swap_lock = self.locks.new_lock("swap")
        self.swap_queue = SwapQueue(self.costs)
        self.kernel_thread = SimThread(KERNEL_TID, 0)
        self.kswapd = SimThread(KSWAPD_TID, 0)
        self.kswapd_classzone: ZoneType | None = None  # set when woken, until it has run
        self.sched = Scheduler(self.config.nr_cpus, self.costs, self.kernel_thread)
        # kswapd, once woken, balances in the background between calls, on its own clock.
        self.sched.between_calls = lambda: kswapd_run(self)
        self.last_cost = CallCost(0, 0, 0, 0, 0)
        self.journal: list[tuple[str, tuple[Any, ...], dict[str, Any], int | None]] | None = (
            [] if self.config.record else None
        )
        if self.journal is not None:
            self.sched.journal = JournalHook(self.journal)
        # The shared kernel space (built lazily: no frame is spent until first use).
        self.pkmap_lock = self.locks.new_lock("pkmap")
        self.slab = SlabAllocator(self)
        self.vmalloc_space = VmallocSpace(self)
        self.highmem = Highmem(self)
        self.gdt = linux_gdt()
        self.rmap = ReverseMap(self.ram32, self.physmem.mapcount)
        self.vm_events = VmEvents()
        self.kernel_log = KernelLog()
        self.committed_pages = 0
        self.tasks: OrderedDict[int, Task] = OrderedDict()
        self._mm_owner: dict[int, int] = {}
        self._next_pid = FIRST_PID
        self._event_seq = 0
        self._listeners: list[tuple[EventListener, frozenset[EventKind] | None]] = []
        self._wanted_kinds: frozenset[EventKind] = frozenset()
        self.closed = False

    # ---- boot ---------------------------------------------------------------------------------
    def _plan_boot(self, nr_frames: int) -> BootLayout:
        """memblock: the first 1 MiB, the image at 16 MiB, mem_map and the direct-map tables."""
        # PSE maps whole 4 MiB chunks from the PDE itself; only a shorter tail needs a table.
        nr_tables = (
            int(self.nr_lowmem_frames % 1024 != 0)
            if self.config.direct_map_pse
            else math.ceil(self.nr_lowmem_frames / 1024)
        )
        return plan_boot(nr_frames, self.nr_lowmem_frames, nr_tables)

    def _build_direct_map(self, tables: range) -> None:
        """swapper_pg_dir: PAGE_OFFSET.. maps low memory 1:1 (kernel only, global).

        With direct_map_pse the whole 4 MiB chunks are PSE PDEs and only the tail goes
        through a page table; otherwise every page has a 4 KiB PTE.
        """
        ram32 = self.ram32
        pgd_word = self.swapper_pg_dir << (PAGE_SHIFT - 2)
        self.nr_direct_map_4m_chunks = (
            self.nr_lowmem_frames // 1024 if self.config.direct_map_pse else 0
        )
        for chunk in range(self.nr_direct_map_4m_chunks):
            ram32[pgd_word + KERNEL_PGD_INDEX + chunk] = (
                (chunk << PGDIR_SHIFT) | KERNEL_DIRECT_MAP_BITS | int(PageTableBit.PSE)
            )
        first_pfn = self.nr_direct_map_4m_chunks * 1024
        pfns = np.arange(first_pfn, self.nr_lowmem_frames, dtype=np.uint32)
        entries = (pfns << np.uint32(PAGE_SHIFT)) | np.uint32(KERNEL_DIRECT_MAP_BITS)
        first_word = tables.start << (PAGE_SHIFT - 2)
        ram32[first_word : first_word + len(entries)] = entries
        for i, table_pfn in enumerate(tables):
            pde_index = KERNEL_PGD_INDEX + self.nr_direct_map_4m_chunks + i
            ram32[pgd_word + pde_index] = (table_pfn << PAGE_SHIFT) | KERNEL_PDE_BITS

    def close(self) -> None:
        """Shut down: free everything, remove the swap file if it was temporary."""
        if self.closed:
            return
        for task in list(self.tasks.values()):
            if task.alive:
                self._release_task(task)
        self.closed = True
        if self._swapoff_at_exit is not None:
            self._swapoff_at_exit()  # swapoff once; the finalizer is spent
        self.ram_words.release()
        self.ram32 = np.zeros(0, dtype=np.uint32)
        self.physmem.close()

    # ---- the scheduler -----------------------------------------------------------------------
    @property
    def current(self) -> SimThread:
        """The thread whose code runs now (the scheduler's current task's thread)."""
        return self.sched.current

    @current.setter
    def current(self, thread: SimThread) -> None:
        self.sched.current = thread

    @property
    def now_ns(self) -> int:
        """The latest simulated time any thread has reached."""
        return self.sched.now_ns

    @now_ns.setter
    def now_ns(self, value: int) -> None:
        self.sched.now_ns = value

    def submit(self, name: str, pid: int, *args: Any, tid: int | None = None) -> CallTask:
        """Queue process call *name* as a task; run it with sched.step (entry.submit)."""
        return entry.submit(self, name, pid, *args, tid=tid)

    # ---- shared services for the kernel modules ----------------------------------------------
    def allocate_page(self, gfp: Gfp, task: Task | None) -> int:
        """One page, reclaiming or OOM-killing if needed (vmscan.alloc_pages)."""
        return alloc_pages(self, gfp, 0, task)

    def free_page(self, pfn: int, *, charge: bool = True) -> None:
        """Give an order-0 page back to the buddy allocator (charge=False: the caller batches the cost)."""
        self.physmem.clear_flags(pfn, PageFlag.ANON | PageFlag.SWAPBACKED | PageFlag.UPTODATE)
        self.allocator.free_pages(pfn, 0)
        self.vm_events.pgfree += 1
        if charge:
            self.charge_zone_lock(pfn, 1)

    # ---- simulated time -------------------------------------------------------------------------
    @contextlib.contextmanager
    def holding(self, lock: SimLock, *, read: bool = False) -> Iterator[SimThread]:
        """Run the block on the current thread with *lock* held."""
        thread = self.current
        lock.acquire(thread, read=read)
        try:
            yield thread
        finally:
            lock.release(thread)

    def charge_locked(self, lock: SimLock, work_ns: int) -> None:
        """*work_ns* of the current thread's work under *lock* (the hot-path form of holding)."""
        thread = self.current
        lock.acquire(thread)
        thread.run(work_ns)
        lock.release(thread)

    def charge_zone_lock(self, pfn: int, nr_pages: int) -> None:
        """Buddy work on *nr_pages* under the lock of pfn's zone."""
        zone = self.allocator.zone_of(pfn).zone_type
        self.charge_locked(self.zone_locks[zone], self.costs.page_alloc_ns * nr_pages)

    def charge_lru_lock(self, nr_pages: int, per_page_ns: int) -> None:
        """LRU list work on *nr_pages* under the LRU lock."""
        self.charge_locked(self.lru_lock, per_page_ns * nr_pages)

    def wait_for_swap_read(self) -> int:
        """A swap-in by the current thread: queue on the device and sleep until done; returns the wait."""
        thread = self.current
        done = self.swap_queue.submit(thread.now_ns)
        waited = done - thread.now_ns
        thread.now_ns = done
        thread.times.iowait_ns += waited
        return waited

    def thread_of(self, pid: int, tid: int | None) -> SimThread:
        """The thread a call runs on (the kernel thread for a pid the call will reject)."""
        task = self.tasks.get(pid)
        if task is None or not task.threads or not task.alive:
            return self.kernel_thread
        if tid is None or tid == pid:
            return task.main_thread
        thread = task.threads.get(tid)
        if thread is None:
            raise InvalidArgument(
                "tid",
                f"{tid} is not a thread of pid {pid}",
                ", ".join(str(t) for t in task.threads),
            )
        return thread

    def shoot_down_tlbs(self, task: Task) -> None:
        """After unmapping or reprotecting: flush every thread's TLB; IPIs cost the caller."""
        caller = self.current
        for thread in task.threads.values():
            thread.tlb.flush()
            if thread is not caller:
                caller.run(self.costs.tlb_shootdown_ns)

    @contextlib.contextmanager
    def address_space_change(self, task: Task) -> Iterator[SimThread]:
        """A syscall that changes the VMAs: entry cost, then the work under mmap_lock (writer)."""
        thread = self.current
        thread.run(self.costs.syscall_ns)
        assert task.mmap_lock is not None
        with self.holding(task.mmap_lock):
            thread.run(self.costs.vma_op_ns)
            yield thread

    def cpu_times(self) -> CpuTimes:
        """Machine-wide user/system/iowait/lock-wait time: every process plus kswapd."""
        total = CpuTimes()
        total.add(self.kswapd.times)
        total.add(self.kernel_thread.times)
        for task in self.tasks.values():
            total.add(task.cpu_times())
        return total

    def lock_stat(self) -> str:
        """/proc/lock_stat text."""
        return self.locks.report()

    def reset_lock_stat(self) -> None:
        """Clear the lock statistics (echo 0 > /proc/lock_stat)."""
        self.locks.reset()

    def count_allocation(self, pfn: int, nr_pages: int = 1) -> None:
        """pgalloc_<zone> accounting of *nr_pages* taken from pfn's zone."""
        zone = self.allocator.zone_of(pfn).zone_type
        if zone is ZoneType.DMA:
            self.vm_events.pgalloc_dma += nr_pages
        elif zone is ZoneType.NORMAL:
            self.vm_events.pgalloc_normal += nr_pages
        else:
            self.vm_events.pgalloc_high += nr_pages

    def release_user_page(self, pfn: int, *, charge: bool = True) -> None:
        """The last mapping of a user page went away: drop its swap-cache slot and free it."""
        if self.physmem.test_flags(pfn, PageFlag.SWAPCACHE):
            self.swap_free_entry(int(self.physmem.private[pfn]))
            self.physmem.private[pfn] = 0
        self.physmem.clear_flags(pfn, PageFlag.SWAPCACHE | PageFlag.DIRTY)
        self.free_page(pfn, charge=charge)

    def swap_free_entry(self, entry: int) -> None:
        """Drop one reference to the swap slot named by a swap PTE value."""
        if self.swap is None:
            raise KernelBug(f"swap entry {entry:#x} without a swap device")
        self.swap.free_slot(swp_offset(entry))

    def sync_kernel_pde(self, pde_index: int) -> None:
        """A new kernel page table appeared in swapper_pg_dir: copy its PDE into every process's
        directory, as sync_global_pgds does, so the kernel half stays identical everywhere."""
        if not KERNEL_PGD_INDEX <= pde_index < 1024:
            raise KernelBug(f"PDE {pde_index} is not in the kernel half")
        value = self.ram_words[(self.swapper_pg_dir << 10) + pde_index]
        for task in self.tasks.values():
            if task.alive:
                self.ram_words[(task.mm.pgd_pfn << 10) + pde_index] = value

    def pid_of_mm(self, mm: MmStruct) -> int:
        """The pid owning an address space."""
        return self._mm_owner.get(id(mm), 0)

    def emit(
        self,
        kind: EventKind,
        pid: int,
        address: int | None = None,
        pfn: int | None = None,
        detail: str = "",
    ) -> None:
        """Hand an event to the listeners that want its kind (nothing is built when none do)."""
        self._event_seq += 1
        if kind in self._wanted_kinds:
            event = Event(self._event_seq, kind, pid, address, pfn, detail)
            for listener, kinds in list(self._listeners):
                if kinds is None or kind in kinds:
                    listener(event)

    def emit_many(
        self, kind: EventKind, pid: int, addresses: list[int], pfns: list[int], detail: str = ""
    ) -> None:
        """emit() once per (address, pfn) pair, in order: a batch of faults reports each of
        its pages as its own event, with the sequence numbers the single path would give."""
        if kind not in self._wanted_kinds:
            self._event_seq += len(addresses)
            return
        for address, pfn in zip(addresses, pfns, strict=True):
            self.emit(kind, pid, address, pfn, detail)

    def segv(self, task: Task, address: int, reason: str, si_code: str) -> ProcessKilled:
        """Kill *task* with SIGSEGV (si_code SEGV_MAPERR or SEGV_ACCERR) for a bad access and
        return the error to raise; the reason names the si_code as the kernel log would."""
        reason = f"{reason} ({si_code})"
        death = self._kill_task(task, Signal.SIGSEGV, address, reason, si_code)
        self.emit(EventKind.SEGV, task.pid, address, None, reason)
        return death

    def sigbus(self, task: Task, address: int, reason: str) -> ProcessKilled:
        """Kill *task* with SIGBUS (its page could not be read back) and return the error to raise."""
        return self._kill_task(task, Signal.SIGBUS, address, reason)

    def printk(self, level: LogLevel, text: str) -> None:
        """One line into the kernel log (dmesg), stamped with the current thread's simulated time."""
        self.kernel_log.printk(level, text, self.current.now_ns)

    def printk_ratelimited(self, level: LogLevel, text: str) -> None:
        """printk_ratelimited: at most a burst of lines per interval of simulated time."""
        self.kernel_log.printk_ratelimited(level, text, self.current.now_ns)

    def dead(self, task: Task) -> ProcessKilled | NoSuchProcess:
        """The error for a call on a task that has ended: how it was killed, or, when nothing
        killed it (it exited), ESRCH, as a syscall naming an exited pid gets."""
        if task.death is None:
            return NoSuchProcess(task.pid, "it has exited")
        return task.death

    def commit_allowed(self, pages: int, task: Task | None = None) -> bool:
        """Whether *pages* more may be committed by *task* (__vm_enough_memory)."""
        cfg = self.config
        return pages <= 0 or vm_enough_memory(
            cfg.overcommit_memory,
            pages,
            self.committed_pages,
            self.nr_managed_pages,
            self.nr_swap_pages,
            cfg.overcommit_ratio,
            caller_total_vm_pages=task.mm.total_vm_pages if task is not None else None,
        )

    def commit_refused(self, pages: int) -> OutOfMemory:
        """The error for a refused commit, with the numbers a user needs."""
        reserves = ""
        if self.config.overcommit_memory is OvercommitMode.NEVER:
            reserves = (
                f", less admin_reserve {admin_reserve_pages(self.nr_managed_pages)} and "
                f"user_reserve up to {user_reserve_pages(self.nr_managed_pages)} pages"
            )
        return OutOfMemory(
            f"cannot commit {pages} more pages: Committed_AS {self.committed_pages} pages, "
            f"CommitLimit {self.commit_limit_pages} pages{reserves} "
            f"(vm.overcommit_memory={int(self.config.overcommit_memory)})"
        )

    def commit_pages(self, task: Task, pages: int, *, refuse: bool = True) -> bool:
        """Charge *pages* to Committed_AS; False (or OutOfMemory when *refuse*) if not allowed."""
        if pages <= 0:
            return True
        if not self.commit_allowed(pages, task):
            if refuse:
                raise self.commit_refused(pages)
            return False
        self.committed_pages += pages
        task.mm.committed_pages += pages
        return True

    def uncommit_pages(self, pages: int) -> None:
        """Release commit charge (the mm's own share is adjusted by the caller)."""
        self.committed_pages -= pages

    def out_of_memory(self, requester: Task | None, gfp: Gfp) -> bool:
        """Kill the task with the highest badness; False when nothing can be killed."""
        victim = select_bad_process(self.tasks.values(), self.oom_totalpages)
        if victim is None:
            return False
        mm = victim.mm
        reason = (
            f"Out of memory: Killed process {victim.pid} ({victim.name}) "
            f"total-vm:{mm.total_vm_pages * 4}kB, anon-rss:{mm.rss_anon * 4}kB, "
            f"shmem-rss:{mm.rss_shmem * 4}kB, "
            f"swap:{mm.swap_entries * 4}kB, pgtables:{mm.nr_ptes * 4}kB "
            f"oom_score_adj:{victim.oom_score_adj} (for a {gfp.name} allocation"
            f"{f' by pid {requester.pid}' if requester else ''})"
        )
        # The oom_kill event comes first, then the victim's exit (oom_kill_process logs, then
        # the task dies and exits).
        self.vm_events.oom_kill += 1
        self.emit(EventKind.OOM_KILL, victim.pid, None, None, reason)
        self._kill_task(victim, Signal.SIGKILL, None, reason)
        return True

    @property
    def nr_managed_pages(self) -> int:
        """Pages the buddy allocator manages (MemTotal)."""
        return sum(zone.managed_pages for zone in self.allocator.zones)

    @property
    def nr_swap_pages(self) -> int:
        """Usable swap slots (SwapTotal)."""
        return self.swap.nr_usable_slots if self.swap else 0

    @property
    def commit_limit_pages(self) -> int:
        """CommitLimit."""
        return commit_limit(self.nr_managed_pages, self.nr_swap_pages, self.config.overcommit_ratio)

    @property
    def oom_totalpages(self) -> int:
        """RAM + swap pages: the scale of oom_score_adj."""
        return self.nr_managed_pages + self.nr_swap_pages

    # ---- processes ------------------------------------------------------------------------------
    @journaled
    def spawn(self, name: str = "", oom_score_adj: int = 0) -> int:
        """Create a process with an empty user address space (plus stack VMA); return its pid."""
        if not OOM_SCORE_ADJ_MIN <= oom_score_adj <= OOM_SCORE_ADJ_MAX:
            raise InvalidArgument("oom_score_adj", f"{oom_score_adj}", "-1000..1000")
        if not isinstance(name, str) or any(ord(c) < 32 for c in name):
            raise InvalidArgument("name", "must be printable text", "up to 15 printable characters")
        alive = sum(1 for task in self.tasks.values() if task.alive)
        if alive >= self.config.max_processes:
            raise LimitExceeded(
                f"{alive} processes already run (max_processes={self.config.max_processes})",
                "max_processes",
            )
        pid = self._next_pid
        comm = (name or f"proc{pid}")[: TASK_COMM_LEN - 1]
        pgd_pfn = self.allocate_page(Gfp.KERNEL, None)
        pgd = slice(pgd_pfn << (PAGE_SHIFT - 2), (pgd_pfn + 1) << (PAGE_SHIFT - 2))
        kernel = self.swapper_pg_dir << (PAGE_SHIFT - 2)
        self.ram32[pgd] = 0
        # clone_pgd_range: the kernel half of every directory points at the same kernel tables.
        self.ram32[pgd.start + KERNEL_PGD_INDEX : pgd.stop] = self.ram32[
            kernel + KERNEL_PGD_INDEX : kernel + 1024
        ]
        mm = MmStruct(pgd_pfn)
        task = Task(pid, comm, mm, oom_score_adj, mmap_lock=self.locks.new_lock("mmap", rw=True))
        task.threads[pid] = SimThread(pid, pid, now_ns=self.now_ns)
        stack = Vma(
            STACK_TOP - INITIAL_STACK_SIZE,
            STACK_TOP,
            Prot.READ | Prot.WRITE,
            kind=VmaKind.STACK,
            accounted=True,
            grows_down=True,
        )
        if not self.commit_pages(task, stack.nr_pages, refuse=False):
            self.free_page(pgd_pfn)
            raise OutOfMemory("cannot commit the stack of a new process")
        mm.insert(stack)
        self._next_pid += 1
        self.tasks[pid] = task
        self._mm_owner[id(mm)] = pid
        self.emit(EventKind.PROCESS_SPAWN, pid, None, None, comm)
        return pid

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

    @journaled
    def exit(self, pid: int) -> None:
        """The process exits: every frame and swap slot it holds is freed."""
        task = self._live(pid)
        self._release_task(task)
        task.state = ProcessState.ZOMBIE
        task.exited_normally = True
        self.emit(EventKind.PROCESS_EXIT, pid, None, None, "exit")
        self._reap_zombies()

    @journaled
    def kill(
        self, pid: int, signal: Signal = Signal.SIGKILL, reason: str = "killed by admin"
    ) -> None:
        """Kill a live process and free its memory; later calls raise ProcessKilled."""
        task = self._live(pid)
        self._kill_task(task, signal, None, reason)

    def _kill_task(
        self,
        task: Task,
        signal: Signal,
        address: int | None,
        reason: str,
        si_code: str = "SEGV_MAPERR",
    ) -> ProcessKilled:
        death = task.record_kill(signal, address, reason, si_code)
        self._release_task(task)
        self.emit(EventKind.PROCESS_EXIT, task.pid, address, None, f"{signal.name}: {reason}")
        self._reap_zombies()
        return death

    def _release_task(self, task: Task) -> None:
        memory.exit_mmap(self, task)
        self._mm_owner.pop(id(task.mm), None)
        # A zombie keeps its main thread's record only; the others' times are folded in.
        for tid in [tid for tid in task.threads if tid != task.pid]:
            task.dead_threads_times.add(task.threads.pop(tid).times)

    def _reap_zombies(self) -> None:
        zombies = [pid for pid, task in self.tasks.items() if not task.alive]
        for pid in zombies[: max(0, len(zombies) - MAX_ZOMBIES)]:
            del self.tasks[pid]

    def _task(self, pid: int) -> Task:
        task = self.tasks.get(pid)
        if task is None:
            raise NoSuchProcess(pid)
        return task

    def _live(self, pid: int) -> Task:
        task = self._task(pid)
        if not task.alive:
            raise self.dead(task)
        return task

    def process(self, pid: int) -> ProcessInfo:
        """Status of one process (live or zombie)."""
        return self._process_info(self._task(pid))

    def processes(self, *, include_dead: bool = False) -> list[ProcessInfo]:
        """Status of the live processes by pid; *include_dead* adds the ended ones kept for
        reporting (their records say how they died)."""
        return [
            self._process_info(task) for task in self.tasks.values() if include_dead or task.alive
        ]

    def _process_info(self, task: Task) -> ProcessInfo:
        mm = task.mm
        times = task.cpu_times()
        death = task.death
        return ProcessInfo(
            pid=task.pid,
            name=task.name,
            state=task.state,
            vm_size=mm.total_vm_pages * PAGE_SIZE if task.alive else 0,
            vm_rss=mm.rss * PAGE_SIZE,
            vm_swap=mm.swap_entries * PAGE_SIZE,
            vm_pte=mm.nr_ptes * PAGE_SIZE,
            vm_peak=mm.hiwater_vm * PAGE_SIZE,
            vm_hwm=mm.hiwater_rss * PAGE_SIZE,
            minor_faults=task.min_flt,
            major_faults=task.maj_flt,
            oom_score_adj=task.oom_score_adj,
            oom_score=oom_score(task, self.oom_totalpages),
            killed_by=death.signal if death else None,
            kill_address=death.address if death else None,
            kill_reason=death.reason if death else None,
            nr_threads=len(task.threads),
            user_ns=times.user_ns,
            system_ns=times.system_ns,
            iowait_ns=times.iowait_ns,
            lock_wait_ns=times.lock_wait_ns,
        )

    # ---- syscalls -------------------------------------------------------------------------------
    @syscall
    def mmap(
        self, pid: int, addr: int, length: int, prot: int, flags: int, *, tid: int | None = None
    ) -> int:
        """mmap(2) for anonymous memory; returns the start address (mmap_calls.do_mmap)."""
        return mmap_calls.do_mmap(self, self._live(pid), addr, length, prot, flags)

    @syscall
    def munmap(self, pid: int, addr: int, length: int, *, tid: int | None = None) -> None:
        """munmap(2)."""
        mmap_calls.do_munmap(self, self._live(pid), addr, length)

    @syscall
    def mprotect(
        self, pid: int, addr: int, length: int, prot: int, *, tid: int | None = None
    ) -> None:
        """mprotect(2)."""
        mmap_calls.do_mprotect(self, self._live(pid), addr, length, prot)

    @syscall
    def brk(self, pid: int, addr: int, *, tid: int | None = None) -> int:
        """brk(2): addr 0 queries; returns the (new) program break."""
        return mmap_calls.do_brk(self, self._live(pid), addr)

    @syscall
    def madvise(
        self, pid: int, addr: int, length: int, advice: int, *, tid: int | None = None
    ) -> None:
        """madvise(2) with MADV_NORMAL/RANDOM/SEQUENTIAL/WILLNEED/DONTNEED."""
        mmap_calls.do_madvise(self, self._live(pid), addr, length, advice)

    @syscall
    def touch(
        self, pid: int, addr: int, write: bool = False, *, tid: int | None = None
    ) -> FaultResult:
        """One user-mode access through the MMU; faults are handled."""
        task = self._live(pid)
        if not 0 <= addr < ADDRESS_SPACE_END:
            raise OutOfRange("addr", f"0x{addr:x} is not a 32-bit address", "0x0 .. 0xFFFFFFFF")
        return memory.touch_one(self, task, addr, bool(write))

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
        counts = [0, 0, 0]  # hits, minor, major
        position, length = 0, MIN_QUANTUM_ADDRESSES
        while True:
            part = memory.touch_many(
                self,
                task,
                array[position : position + length],
                bool(write),
                max_faults=QUANTUM_FAULTS,
            )
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
        self.current.run(self.costs.syscall_ns + int(self.costs.copy_byte_ns * length))
        parts = []
        for offset in range(0, length, QUANTUM_COPY_BYTES):
            if offset:
                yield
                task = self._live(pid)
            size = min(QUANTUM_COPY_BYTES, length - offset)
            parts.append(memory.access_user_memory(self, task, addr + offset, size, None))
        return b"".join(parts)

    @preemptible
    def write(
        self, pid: int, addr: int, data: bytes, *, tid: int | None = None
    ) -> Generator[None, None, None]:
        """Write user memory like the process would (faults handled), in quanta."""
        task = self._live(pid)
        self._check_io(addr, len(data))
        self.current.run(self.costs.syscall_ns + int(self.costs.copy_byte_ns * len(data)))
        data = bytes(data)
        for offset in range(0, len(data), QUANTUM_COPY_BYTES):
            if offset:
                yield
                task = self._live(pid)
            part = data[offset : offset + QUANTUM_COPY_BYTES]
            memory.access_user_memory(self, task, addr + offset, len(part), part)

    def translate(self, pid: int, addr: int) -> Translation:
        """The page walk of *addr* in the process's page tables, without faulting."""
        task = self._live(pid)
        if not 0 <= addr < ADDRESS_SPACE_END:
            raise OutOfRange("addr", f"0x{addr:x} is not a 32-bit address", "0x0 .. 0xFFFFFFFF")
        vma = task.mm.find_vma(addr)
        info = proc.vma_info(self, task.mm, vma) if vma is not None else None
        return memory.translate(self, task, addr, info)

    # ---- reports ----------------------------------------------------------------------------------
    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo numbers in kB, Linux key names (MemTotal, MemFree, ...)."""
        return proc.meminfo(self)

    def vmstat(self) -> dict[str, int]:
        """/proc/vmstat counters (nr_free_pages, pgfault, pgmajfault, pswpin, ...)."""
        return proc.vmstat(self)

    def layout(self) -> dict[str, int]:
        """The kernel's virtual layout in use (addresses) and the image (physical addresses)."""
        return proc.layout(self)

    def zoneinfo(self) -> list[ZoneInfo]:
        """Per-zone numbers."""
        return proc.zoneinfo(self)

    def swaps(self) -> list[dict[str, str | int]]:
        """/proc/swaps rows: filename, type, size_kb, used_kb, priority."""
        return proc.swaps(self)

    def maps(self, pid: int) -> list[VmaInfo]:
        """/proc/<pid>/maps rows (smaps numbers filled in)."""
        task = self._task(pid)
        return [proc.vma_info(self, task.mm, vma) for vma in task.mm]

    def report(self, name: str, pid: int | None = None) -> str:
        """Linux text of a report: meminfo, vmstat, zoneinfo, buddyinfo, swaps, layout, and per
        process maps, smaps, status, oom_score, oom_score_adj."""
        per_process: dict[str, Callable[[Machine, Task], str]] = {
            "maps": proc.format_maps,
            "smaps": proc.format_smaps,
            "status": proc.format_status,
            "oom_score": lambda machine, task: f"{oom_score(task, machine.oom_totalpages)}\n",
            "oom_score_adj": lambda machine, task: f"{task.oom_score_adj}\n",
        }
        if name in per_process:
            if pid is None:
                raise InvalidArgument("pid", f"the {name} report is per process", "a pid")
            return per_process[name](self, self._task(pid))
        machine_wide: dict[str, Callable[[Machine], str]] = {
            "meminfo": proc.format_meminfo,
            "vmstat": proc.format_vmstat,
            "zoneinfo": proc.format_zoneinfo,
            "buddyinfo": lambda machine: machine.allocator.buddyinfo(),
            "swaps": proc.format_swaps,
            "lock_stat": lambda machine: machine.lock_stat(),
            "slabinfo": lambda machine: machine.slab.slabinfo(),
            "vmallocinfo": lambda machine: machine.vmalloc_space.vmallocinfo(),
            "stat": proc.format_stat,
            "layout": proc.format_layout,
            "schedstat": lambda machine: machine.sched.schedstat(),
        }
        if name not in machine_wide:
            raise InvalidArgument(
                "name", f"no report {name!r}", ", ".join([*machine_wide, *per_process])
            )
        return machine_wide[name](self)

    # ---- kernel space -------------------------------------------------------------------------
    def _kernel_op(self, work_ns: int, lock: SimLock | None = None) -> SimThread:
        """Kernel-space calls run on the kernel thread's clock; *lock* is held for the work."""
        self.current = self.kernel_thread
        self.kernel_thread.now_ns = max(self.kernel_thread.now_ns, self.now_ns)
        if lock is None:
            self.kernel_thread.run(work_ns)
        else:
            with self.holding(lock) as thread:
                thread.run(work_ns)
        return self.kernel_thread

    def kmalloc(self, size: int, gfp: Gfp = Gfp.KERNEL, owner: int = 0) -> int:
        """kmalloc(size, gfp) for *owner*; returns a direct-map address (slab.py)."""
        self._kernel_op(self.costs.syscall_ns)
        return self.slab.kmalloc(size, gfp, owner)

    def kfree(self, addr: int, owner: int | None = None) -> None:
        """kfree(addr); *owner* must match when given."""
        self._kernel_op(self.costs.syscall_ns)
        self.slab.kfree(addr, owner)

    def vmalloc(self, size: int, owner: int = 0) -> int:
        """vmalloc(size) for *owner*: virtually contiguous, physically scattered (vmalloc.py)."""
        self._kernel_op(self.costs.syscall_ns)
        return self.vmalloc_space.vmalloc(size, owner)

    def vfree(self, addr: int, owner: int | None = None) -> None:
        """vfree(addr)."""
        self._kernel_op(self.costs.syscall_ns)
        self.vmalloc_space.vfree(addr, owner)

    def kmap(self, pfn: int, owner: int = 0, cpu: int | None = None) -> int | None:
        """kmap(page): its kernel address, or None when all LAST_PKMAP slots are busy (wait, retry)."""
        self._kernel_op(self.costs.page_alloc_ns, self.pkmap_lock)
        address = self.highmem.kmap(pfn, owner, cpu)
        if address is None:  # the caller sleeps on pkmap_map_wait: a contention on kmap_lock
            self.pkmap_lock.record_blocked(2 * self.costs.context_switch_ns)
        return address

    def kunmap(self, pfn_or_addr: int, owner: int = 0) -> bool:
        """kunmap(page); True when a slot became free for a waiter."""
        self._kernel_op(self.costs.page_alloc_ns, self.pkmap_lock)
        return self.highmem.kunmap(pfn_or_addr, owner)

    def kmap_atomic(self, pfn: int, cpu: int, owner: int = 0) -> int:
        """kmap_atomic(page) on *cpu*: a per-CPU fixmap slot; never waits, strictly nested."""
        self._kernel_op(self.costs.tlb_hit_ns)
        return self.highmem.kmap_atomic(pfn, cpu, owner)

    def kunmap_atomic(self, addr: int, cpu: int) -> None:
        """kunmap_atomic(addr) on *cpu*: must undo the most recent kmap_atomic."""
        self._kernel_op(self.costs.tlb_hit_ns)
        self.highmem.kunmap_atomic(addr, cpu)

    def pa(self, vaddr: int) -> int:
        """__pa(vaddr): only for the direct map."""
        return physical_of_direct_map(vaddr, self.nr_lowmem_frames)

    def va(self, paddr: int) -> int:
        """__va(paddr): only for low memory (a high page must be kmapped)."""
        return direct_map_of_physical(paddr, self.nr_lowmem_frames, self.config.nr_frames)

    def kernel_read(self, vaddr: int, length: int) -> bytes:
        """A kernel-mode read through swapper_pg_dir (no U/S check; KernelOops if not present)."""
        if not 0 <= length <= MAX_IO_BYTES:
            raise InvalidArgument("length", f"{length}", f"0 .. {MAX_IO_BYTES} bytes")
        return kernel_read(self, vaddr, length)

    def kernel_write(self, vaddr: int, data: bytes) -> None:
        """A kernel-mode write through swapper_pg_dir."""
        if len(data) > MAX_IO_BYTES:
            raise InvalidArgument("data", f"{len(data)} bytes", f"at most {MAX_IO_BYTES} bytes")
        kernel_write(self, vaddr, bytes(data))

    def kernel_translate(self, vaddr: int) -> Translation:
        """The walk of a kernel virtual address in the kernel page directory."""
        return kernel_walk(self, vaddr)

    def translate_logical(
        self, logical: str, pid: int | None = None, *, cpl: int | None = None
    ) -> tuple[SegmentTranslation, Translation]:
        """selector:offset -> linear (GDT, limit and privilege checks) -> the page walk.

        With *pid* the walk uses that process's page tables at CPL 3, without it the kernel's
        at CPL 0; a limit or privilege violation is a GeneralProtectionFault.
        """
        selector, offset = parse_logical(logical)
        privilege = cpl if cpl is not None else (3 if pid is not None else 0)
        segment = self.gdt.logical_to_linear(
            selector, offset, privilege, register=SegmentRegister.DS
        )
        walk = (
            self.translate(pid, segment.linear)
            if pid is not None
            else kernel_walk(self, segment.linear)
        )
        return segment, walk

    def release_kernel_owner(self, owner: int) -> int:
        """A kernel session ended (like a module unload): free everything it holds."""
        freed = self.slab.release_owner(owner)
        freed += self.vmalloc_space.release_owner(owner)
        freed += self.highmem.release_owner(owner)
        return freed

    # ---- events ----------------------------------------------------------------------------------
    def add_event_listener(
        self, listener: EventListener, kinds: frozenset[EventKind] | None = None
    ) -> None:
        """Call *listener* with every event (or every event of *kinds*) from now on."""
        self._listeners.append((listener, kinds))
        self._update_wanted_kinds()

    def remove_event_listener(self, listener: EventListener) -> None:
        """Stop calling *listener*."""
        self._listeners = [(fn, kinds) for fn, kinds in self._listeners if fn != listener]
        self._update_wanted_kinds()

    def _update_wanted_kinds(self) -> None:
        wanted: set[EventKind] = set()
        for _listener, kinds in self._listeners:
            wanted |= set(EventKind) if kinds is None else kinds
        self._wanted_kinds = frozenset(wanted)

    # ---- invariants -------------------------------------------------------------------------------
    def check_invariants(self) -> None:
        """Raise KernelBug unless every frame, mapping and swap slot is accounted for."""
        proc.check_invariants(self)
