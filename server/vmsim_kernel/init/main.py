"""The kernel's state: what every mm function receives (the kernel's "globals").

Models what init/main.c (start_kernel) sets up and the rest of the kernel shares: the
memblock reservations and the direct map of arch/x86/mm/init_32.c, mem_map (physmem), the
zones and buddy allocator, swap (swapon), the lock classes, the scheduler and its clock,
kswapd, vm_event counters, the kernel log and the task list. It holds no syscall: the
syscall surface is machine.Machine, which owns one Kernel. The mm modules (memory, vmscan,
swap, page_alloc, mmap_calls, ...) take a Kernel and never reach up into Machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Final

import numpy as np

from vmsim_kernel.arch.x86.constants import (
    KERNEL_PGD_INDEX,
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SHIFT,
    Gfp,
    KiB,
    PageTableBit,
    ZoneType,
)
from vmsim_kernel.arch.x86.layout import (
    IMAGE_PAGES,
    BootLayout,
    config_nr_cpus,
    e820_table,
    find_low_pfn_range,
    memblock_memory,
    plan_boot,
    virtual_layout,
)
from vmsim_kernel.arch.x86.pgtable import (
    make_entry,
    pgd_entry_word,
    pgd_words,
    pte_words_of_table,
)
from vmsim_kernel.arch.x86.segmentation import linux_gdt
from vmsim_kernel.config import MachineConfig, ReplacementPolicy
from vmsim_kernel.errors import InvalidArgument, KernelBug
from vmsim_kernel.fs.vfs import FileSystem
from vmsim_kernel.kernel.locks import LockKind, LockRegistry, SimLock
from vmsim_kernel.kernel.printk import KernelLog, LogLevel
from vmsim_kernel.kernel.process import Task
from vmsim_kernel.kernel.sched import Scheduler
from vmsim_kernel.kernel.sysctl import VmSysctl
from vmsim_kernel.kernel.time import CpuTimes, SimThread, SwapQueue
from vmsim_kernel.mm.highmem import Highmem, InitMm
from vmsim_kernel.mm.overcommit import (
    commit_limit,
    init_admin_reserve_kbytes,
    init_user_reserve_kbytes,
)
from vmsim_kernel.mm.page_alloc import (
    PageAllocator,
    PglistData,
    alloc_page,
    get_order,
    large_system_hash_entries,
)
from vmsim_kernel.mm.physmem import PhysicalMemory
from vmsim_kernel.mm.policies import Lruvec, lru_cache_add, make_policy
from vmsim_kernel.mm.rmap import ReverseMap
from vmsim_kernel.mm.shmem import ShmemFs, shmem_add_page
from vmsim_kernel.mm.slab import SlabAllocator, alloc_kernel_pages, kmalloc_cache_name
from vmsim_kernel.mm.swap import SwapDevice
from vmsim_kernel.mm.swapfile import SWAP_PRIO_AUTO, SwapAreas
from vmsim_kernel.mm.vma import MmStruct
from vmsim_kernel.mm.vmalloc import VmallocSpace
from vmsim_kernel.mm.vmscan import alloc_pages_slowpath, kswapd_run
from vmsim_kernel.mm.vmstat import VmEvents
from vmsim_kernel.mm.workingset import bucket_order
from vmsim_kernel.results import Event, EventKind, ProcessState

__all__ = ["EventListener", "Kernel"]

EventListener = Callable[[Event], None]

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
# What a 6.1 kernel has allocated from its slab caches by the time init runs: every cache with
# active objects in linux32 base-1g-4k's /proc/slabinfo (the same at 256 MiB and 2 GiB: sysfs,
# the initramfs and ftrace's events fill them, not RAM), as (cache, object size,
# SLAB_RECLAIM_ACCOUNT, active objects); the memcg-accounted (kmalloc-cg-*) and reclaimable
# (kmalloc-rcl-*) kmalloc caches are named caches here; BOOT_KMALLOC_OBJECTS fills the plain
# kmalloc size classes.
BOOT_SLAB_OBJECTS: Final = (
    ("inode_cache", 416, True, 10431),
    ("dentry", 128, True, 10848),
    ("kernfs_node_cache", 80, False, 10047),
    ("shmem_inode_cache", 488, False, 392),
    ("lsm_file_cache", 16, False, 11008),
    ("task_struct", 2944, False, 55),
    ("biovec-max", 3072, False, 40),
    ("ftrace_event_field", 40, False, 3366),
    ("trace_event_file", 56, False, 1460),
    ("sighand_cache", 1312, False, 60),
    ("radix_tree_node", 304, True, 247),
    ("signal_cache", 736, False, 55),
    ("proc_dir_entry", 128, False, 288),
    ("sgpool-128", 2560, False, 12),
    ("names_cache", 4096, False, 8),
    ("kmem_cache", 160, False, 150),
    ("Acpi-State", 48, False, 510),
    ("sock_inode_cache", 608, True, 26),
    ("sgpool-64", 1280, False, 12),
    ("proc_inode_cache", 456, True, 34),
    ("perf_event", 848, False, 19),
    ("maple_node", 256, False, 64),
    ("vmap_area", 32, False, 384),
)
# The rest of base-1g-4k's caches: what a full Debian build adds (memcg-accounted kmallocs,
# networking, the block layer, quotas, mqueue, hugetlbfs ...); a smaller build (see
# _boot_allocations) leaves them out.
BOOT_FULL_IMAGE_SLAB_OBJECTS: Final = (
    ("kmem_cache_node", 32, False, 256),
    ("kmalloc-cg-8", 8, False, 512),
    ("kmalloc-cg-16", 16, False, 256),
    ("kmalloc-cg-32", 32, False, 128),
    ("kmalloc-cg-64", 64, False, 64),
    ("kmalloc-cg-96", 96, False, 42),
    ("kmalloc-cg-128", 128, False, 32),
    ("kmalloc-cg-192", 192, False, 21),
    ("kmalloc-cg-256", 256, False, 16),
    ("kmalloc-cg-512", 512, False, 16),
    ("kmalloc-cg-1k", 1024, False, 24),
    ("kmalloc-cg-2k", 2048, False, 8),
    ("kmalloc-cg-4k", 4096, False, 8),
    ("kmalloc-rcl-64", 64, True, 64),
    ("mm_struct", 576, False, 14),
    ("pid", 64, False, 64),
    ("anon_vma", 56, False, 73),
    ("anon_vma_chain", 32, False, 128),
    ("cred_jar", 128, False, 64),
    ("files_cache", 256, False, 16),
    ("vm_area_struct", 72, False, 112),
    ("nsproxy", 40, False, 102),
    ("key_jar", 160, False, 25),
    ("filp", 160, False, 25),
    ("mnt_cache", 192, False, 42),
    ("bdev_cache", 992, True, 8),
    ("sigqueue", 48, False, 85),
    ("pde_opener", 24, False, 170),
    ("file_lock_cache", 128, False, 32),
    ("skbuff_head_cache", 192, False, 21),
    ("bio-144", 160, False, 25),
    ("sgpool-16", 320, False, 12),
    ("sgpool-32", 640, False, 12),
    ("bio-188", 192, False, 42),
    ("hugetlbfs_inode_cache", 424, False, 19),
    ("UDP", 896, False, 9),
    ("RAW", 768, False, 10),
    ("mqueue_inode_cache", 640, False, 12),
    ("bio-208", 224, False, 18),
    ("bio-96", 128, False, 0),
    ("RAWv6", 896, False, 9),
)
# Objects only a machine with high memory allocates: mm/bounce.c's init_emergency_pool makes
# the bounce bio sets (and prints "bounce: pool size: 64 pages") only when there is HighMem;
# their bio-96 cache does not exist without it (base-256m's slabinfo has no such row).
BOOT_HIGHMEM_SLAB_OBJECTS: Final = {"biovec-max": 10, "bio-96": 32}
BOOT_KMALLOC_OBJECTS: Final = (
    (8192, 8),
    (2048, 32),
    (1024, 136),
    (512, 296),
    (256, 224),
    (192, 231),
    (128, 384),
    (64, 704),
    (32, 1152),
    (16, 1252),
)
BOOT_FULL_IMAGE_KMALLOC_OBJECTS: Final = ((4096, 8), (96, 294), (8, 1536))
# ftrace_init's records of the image's mcount sites ("ftrace: allocating 36953 entries in 73
# pages ... with 3 groups"): ftrace_allocate_records takes the largest power of two that fits
# the pages still needed, group after group (64 + 8 + 1).
FTRACE_RECORD_PAGES: Final = 73
# mm/bounce.c's init_emergency_pool: a mempool of single pages, made only with HighMem.
BOUNCE_POOL_PAGES: Final = 64
# The vmalloc areas a 6.1 boot leaves (linux32 base-*.log's /proc/vmallocinfo, the same at every
# RAM size; its ioremaps map device memory, not RAM, and are not made here), as (caller, pages):
# the BPF core's first program, then crypto_scomp_alloc_scratches' source and destination
# scratch buffers (SCOMP_SCRATCH_SIZE, 128 KiB) for each possible CPU.
BOOT_VMALLOC_AREAS: Final = (("bpf_prog_alloc_no_stats", 1),)
BOOT_VMALLOC_AREAS_PER_CPU: Final = (("crypto_scomp_init_tfm", 32), ("crypto_scomp_init_tfm", 32))
# populate_rootfs unpacks the initramfs into the rootfs, a tmpfs in 6.1 (CONFIG_TMPFS, no root=):
# shmem pages, swap-backed on the anon LRU (linux32 base-*.log: Shmem and Cached 3104 kB at every
# RAM size); the compressed image is freed after (free_initrd_mem).
ROOTFS_KB: Final = 3104
# console_on_rootfs opens /dev/console before .init is freed: the N_TTY line discipline's
# n_tty_data (about 9 kB, vzalloc'ed).
CONSOLE_VMALLOC_AREA: Final = ("n_tty_open", 3)
THREAD_SIZE_ORDER: Final = 1  # 8 KiB kernel stacks on i386
# Kernel threads alive when init runs on a 1-CPU linux32 guest (KernelStack 352 kB / 8 kB):
# kthreadd, rcu, kswapd0, kworkers ... and per CPU cpuhp, migration, ksoftirqd and kworkers.
BOOT_KTHREADS_SHARED: Final = 38
BOOT_KTHREADS_PER_CPU: Final = 6
KERNEL_TID = 0  # the thread that runs boot work and calls made outside any process
KSWAPD_TID = 1  # background reclaim has a clock of its own


def ftrace_record_orders(nr_pages: int) -> list[int]:
    """ftrace_allocate_records' groups for *nr_pages*: the largest power of two that fits
    what is still needed, then the next (73 pages: orders 6, 3, 0)."""
    orders = []
    while nr_pages > 0:
        orders.append(nr_pages.bit_length() - 1)
        nr_pages -= 1 << orders[-1]
    return orders


def boot_hash_tables(nr_kernel_pages: int, nr_cpus: int) -> list[tuple[str, int, int]]:
    """The system hash tables boot takes from the buddy allocator (not HASH_EARLY), in
    linux32's dmesg order, as (name, buckets, bytes): each is alloc_large_system_hash's call
    with the i386 bucket size, scale and limits of its caller in 6.1."""

    def table(
        name: str, bucketsize: int, numentries: int, scale: int, low: int = 0, high: int = 0
    ) -> tuple[str, int, int]:
        entries = large_system_hash_entries(
            nr_kernel_pages, bucketsize, numentries, scale, low, high
        )
        return name, entries, entries * bucketsize

    futex = 1 << (256 * nr_cpus - 1).bit_length()  # roundup_pow_of_two(256 * CPUs)
    ehash = table("TCP established", 4, 0, 17, 0, 512 * 1024)  # a slot per 128 KB of memory
    udp_entries = 256  # UDP_HTABLE_SIZE_MIN
    return [
        table("Mount-cache", 4, 0, 19),  # vfs_caches_init: mnt_init
        table("Mountpoint-cache", 4, 0, 19),
        table("futex", 64, futex, 0, futex, futex),
        ("Dquot-cache", PAGE_SIZE // 4, PAGE_SIZE),  # dquot_init: one page
        table("IP idents", 8, 0, 16, 2048, 256 * 1024),  # ip_rt_init
        table("tcp_listen_portaddr_hash", 8, 0, 21, 0, 64 * 1024),  # tcp_init
        table("Table-perturb", 4, 1 << 16, 0, 1 << 16, 1 << 16),
        ehash,
        table("TCP bind", 16, ehash[1], 17, 0, 64 * 1024),
        table("MPTCP token", 16, 0, 20, 0, 64 * 1024),
        table("UDP", 32, 0, 21, udp_entries, 64 * 1024),  # udp_table_init
        table("UDP-Lite", 32, 0, 21, udp_entries, 64 * 1024),
    ]


class Kernel:
    """One booted kernel's state. Not thread-safe: callers serialise.

    physmem (mem_map and RAM), pgdat (the node: zones, buddy lists, the allocator's slow
    path), lruvec (the LRU lists and their lock), init_mm (the kernel's page tables), swap,
    rmap, locks, sched (run queue and per-CPU clocks), kswapd, vm_events, the kernel log,
    the event stream and the task list.
    """

    def __init__(self, config: MachineConfig) -> None:
        # In start_kernel's order: the memory map, locks, swap, the scheduler, then mm.
        self.config = config
        self.costs = config.costs
        if config.policy is ReplacementPolicy.OPT:
            raise InvalidArgument(
                "policy",
                "opt needs the future and works only in trace replay",
                "linux, fifo, lru, clock, random",
            )
        self._setup_arch()
        self.locks = LockRegistry(
            self.costs, {name: LockKind(kind) for name, kind in config.lock_kinds.items()}
        )
        zone_locks = [self.locks.new_lock("zone") for _ in self.allocator.zones]
        lru_lock = self.locks.new_lock("lru")
        # si->lock is registered (its lock_stat row) whether or not a device is swapped on.
        self._swapon_boot_device(self.locks.new_lock("swap"))
        self._sched_init()
        self._mm_init(zone_locks, lru_lock)
        self.gdt = linux_gdt()
        self.kernel_log = KernelLog()
        self.committed_pages = 0
        self.tasks: OrderedDict[int, Task] = OrderedDict()
        self.mm_owner: dict[int, int] = {}
        self._event_seq = 0
        self._listeners: list[tuple[EventListener, frozenset[EventKind] | None]] = []
        self._wanted_kinds: frozenset[EventKind] = frozenset()
        self.closed = False
        self.nr_kernel_stack_pages = 0
        self.nr_boot_kernel_pages = 0
        # What initcalls later than the reserves' (subsys_initcall) take: the rootfs's pages
        # and the vmalloc areas, still free when mm/util.c sizes the reserves.
        self._nr_pages_after_reserve_initcalls = 0
        self._boot_allocations()
        self._init_vm_sysctl()

    def _setup_arch(self) -> None:
        """setup_arch: RAM, the e820 map, where low memory ends, memblock, the buddy
        allocator's zones and the direct map."""
        self.physmem = PhysicalMemory(self.config.nr_frames)
        self.ram32 = self.physmem.ram32
        # memoryview indexing returns plain ints and is faster than numpy for single entries.
        self.ram_words = memoryview(self.physmem.ram).cast("I")
        self.e820 = e820_table(self.config.ram_bytes)
        self.memory = memblock_memory(self.e820)
        self.max_pfn = self.memory[-1].stop
        self.virtual_layout = virtual_layout(config_nr_cpus(self.config.nr_cpus), self.max_pfn)
        self.nr_lowmem_frames = find_low_pfn_range(
            self.max_pfn, self.virtual_layout, textbook=self.config.textbook_split
        )
        self.boot = self._plan_boot()
        self.swapper_pg_dir = self.boot.image.swapper_pg_dir
        self.zero_pfn = self.boot.image.zero_pfn  # empty_zero_page, in the image's .bss
        reserved = [
            (region.start_pfn, region.end_pfn)
            for region in (*self.boot.reserved, *self.boot.freed_after_init)
        ]
        self.allocator = PageAllocator(
            self.physmem,
            reserved,
            self.config.min_free_kbytes,
            memory=self.memory,
            max_low_pfn=self.nr_lowmem_frames,
        )
        self.nr_boot_reserved = self.allocator.nr_reserved_pages()
        self._build_direct_map(self.boot.direct_map_tables)

    def _swapon_boot_device(self, swap_lock: SimLock) -> None:
        """swap_info[] with the swap device configured at boot swapped on as type 0."""
        self.swap_lock = swap_lock  # si->lock's class: one lock_stat row for every area
        self.swap_info = SwapAreas()
        if self.config.swap_bytes:
            boot = SwapDevice(
                self.config.swap_bytes,
                self.config.swap_path,
                seed=self.config.seed,
                overwrite=self.config.swap_file_overwrite,
                lock=swap_lock,
                queue=SwapQueue(self.costs),
            )
            self.swap_info.add(boot, SWAP_PRIO_AUTO)
        # A kernel dropped without close() (or still open at interpreter exit) still does
        # swapoff of every area, so a temporary swap file never outlives it.
        self._swapoff_at_exit = weakref.finalize(self, self.swap_info.close_all)

    @property
    def swap(self) -> SwapDevice | None:
        """The first active swap area (the boot area while it is on), or None.

        Kernel code goes by an entry's type (swap_info.swp_swap_info); this is for callers
        that look at a one-area machine (tests, the server's swap I/O metrics).
        """
        areas = self.swap_info.areas()
        return areas[0] if areas else None

    def _sched_init(self) -> None:
        """The scheduler, the kernel's own thread and kswapd's."""
        self.kernel_thread = SimThread(KERNEL_TID, 0)
        self.kswapd = SimThread(KSWAPD_TID, 0)
        self.sched = Scheduler(
            self.config.nr_cpus,
            self.costs,
            self.kernel_thread,
            realtime_clients=self.config.realtime_clients,
        )
        # kswapd, once woken, takes turns of its own on a CPU beside the tasks (see
        # Scheduler.between_calls and background_due).
        self.sched.between_calls = lambda: kswapd_run(self)
        self.sched.background_due = lambda: self.pgdat.kswapd_classzone is not None

    def _mm_init(self, zone_locks: list[SimLock], lru_lock: SimLock) -> None:
        """mm_init: the node (pglist_data) and its lruvec, the per-cpu page lists
        (setup_per_cpu_pageset), init_mm and the kernel space
        (slab, vmalloc, kmap; built lazily: no frame is spent until first use), rmap."""
        self.lruvec = Lruvec(
            make_policy(self.config.policy, seed=self.config.seed),
            lru_lock,
            self.sched,
            tracks_access=self.config.policy is ReplacementPolicy.LRU,
        )
        self.vm_events = VmEvents()
        self.pgdat = PglistData(self.allocator, zone_locks, self.vm_events, self.sched)
        self.pgdat.slowpath = lambda gfp, order, task: alloc_pages_slowpath(self, gfp, order, task)
        self.allocator.setup_per_cpu_pageset(self.config.nr_cpus, lambda: self.sched.current_cpu)
        self.pkmap_lock = self.locks.new_lock("pkmap")
        self.init_mm = InitMm(
            self.pgdat,
            self.ram_words,
            self.swapper_pg_dir,
            self.nr_lowmem_frames,
            sync_global_pgds=self.sync_kernel_pde,
        )
        self.slab = SlabAllocator(self.init_mm, self.config.nr_cpus)
        self.vmalloc_space = VmallocSpace(self.init_mm)
        self.highmem = Highmem(self.init_mm, self.config.nr_cpus)
        self.rmap = ReverseMap(self.ram32, self.physmem.mapcount)
        self.shmem = ShmemFs()  # the tmpfs behind shared memory (shm_mnt)
        # The disk file system (its host file is made on the first block written).
        self.fs = FileSystem(self.config.disk_bytes)
        self.lruvec.bucket_order = bucket_order(self.allocator.nr_managed_pages())

    def _init_vm_sysctl(self) -> None:
        """The vm sysctls' boot values; mm/util.c's initcalls size the reserves from the
        memory still free after boot, but for what the later initcalls took."""
        # Boot's frees parked on the per-cpu lists count: the initcall runs before the
        # churn that leaves them there.
        nr_free_pages = (
            self.allocator.nr_free_pages()
            + self.allocator.nr_pcp_pages()
            + self._nr_pages_after_reserve_initcalls
        )
        self.vm_sysctl = VmSysctl(
            overcommit_memory=self.config.overcommit_memory,
            overcommit_ratio=self.config.overcommit_ratio,
            overcommit_kbytes=0,
            admin_reserve_kbytes=init_admin_reserve_kbytes(nr_free_pages),
            user_reserve_kbytes=init_user_reserve_kbytes(nr_free_pages),
            swappiness=self.config.swappiness,
            page_cluster=self.config.page_cluster,
        )

    # ---- boot ---------------------------------------------------------------------------------
    def _plan_boot(self) -> BootLayout:
        """memblock: the first 1 MiB, the image at 16 MiB, and the early allocations."""
        # PSE maps whole 4 MiB chunks from the PDE itself; only a shorter tail needs a table.
        nr_tables = (
            int(self.nr_lowmem_frames % 1024 != 0)
            if self.config.direct_map_pse
            else math.ceil(self.nr_lowmem_frames / 1024)
        )
        return plan_boot(self.memory, self.nr_lowmem_frames, nr_tables, self.config.nr_cpus)

    def _boot_allocations(self) -> None:
        """What start_kernel and the initcalls leave allocated when init runs, in the order
        linux32's dmesg shows them: ftrace's records, the system hash tables, the slab
        objects of BOOT_SLAB_OBJECTS and the stacks of the kernel threads (meminfo's Slab and
        KernelStack), the rootfs unpacked and the initramfs freed, the bounce pool, the vmalloc
        areas of the initcalls and the console, the image's .init freed last. A machine whose
        image is a smaller build (under 224 MiB, see plan_boot) gets the same fraction of the
        image's largest slab caches and threads, at least one object of each, and none of the
        rest: a build that small leaves out ftrace, networking, quotas, crypto, the small
        caches of BOOT_FULL_IMAGE_SLAB_OBJECTS and the initramfs's files, and keeps the
        teaching machine's memory for its processes. Boot happens before simulated time
        starts: the zone lock is charged nothing for it."""
        run_costs = self.pgdat.costs
        self.pgdat.costs = dataclasses.replace(run_costs, page_alloc_ns=0)
        full_image = self._scaled(IMAGE_PAGES) == IMAGE_PAGES
        try:
            if full_image:  # a smaller build is a minimal one: no ftrace, network or quota
                self._alloc_boot_pages(ftrace_record_orders(FTRACE_RECORD_PAGES))
                self._alloc_system_hashes()
            self._allocate_boot_objects(full_image)
            if full_image:
                self._populate_rootfs()
            self._free_boot_region("initramfs")  # populate_rootfs: free_initrd_mem
            if full_image and not self.allocator.zones[ZoneType.HIGHMEM].is_empty:
                self._alloc_boot_pages([0] * BOUNCE_POOL_PAGES)
            if full_image:
                self._boot_vmalloc_areas()
            self._free_boot_region("kernel image (.init)")  # free_initmem, the last of boot
        finally:
            self.pgdat.costs = run_costs

    def _populate_rootfs(self) -> None:
        """The initramfs's files written into the rootfs tmpfs: ROOTFS_KB of shmem pages of
        one object that stays linked (the rootfs is never unmounted), on the anon LRU."""
        nr_pages = ROOTFS_KB * KiB // PAGE_SIZE
        rootfs = self.shmem.new_object("rootfs", nr_pages)
        rootfs.linked = True  # held by its name in the rootfs, not in /dev/shm
        for index in range(nr_pages):
            pfn = alloc_page(self.pgdat, Gfp.HIGHUSER, None)
            shmem_add_page(self, rootfs, index, pfn)
            lru_cache_add(self.lruvec, pfn)
        self._nr_pages_after_reserve_initcalls += nr_pages

    def _boot_vmalloc_areas(self) -> None:
        """The initcalls' vmalloc areas, then the console's (meminfo's VmallocUsed at boot)."""
        per_cpu = BOOT_VMALLOC_AREAS_PER_CPU * self.config.nr_cpus
        for caller, nr_pages in (*BOOT_VMALLOC_AREAS, *per_cpu, CONSOLE_VMALLOC_AREA):
            self.vmalloc_space.vmalloc(nr_pages * PAGE_SIZE, KERNEL_TID, caller)
            self._nr_pages_after_reserve_initcalls += nr_pages

    def _alloc_system_hashes(self) -> None:
        """boot_hash_tables' tables, sized from the low memory managed now, each with the
        line Linux prints for it."""
        nr_kernel_pages = sum(
            zone.managed_pages for zone in self.allocator.zones[: ZoneType.HIGHMEM]
        )
        for name, entries, size in boot_hash_tables(nr_kernel_pages, self.config.nr_cpus):
            order = get_order(size)
            self._alloc_boot_pages([order])
            # dquot_init prints its own line; alloc_large_system_hash the others
            self.printk(
                LogLevel.INFO,
                f"VFS: {name} hash table entries: {entries} (order {order}, {size} bytes)"
                if name == "Dquot-cache"
                else f"{name} hash table entries: {entries} (order: {order}, {size} bytes, linear)",
            )

    def _scaled(self, count: int) -> int:
        """*count* of the full image's objects, for this machine's build (see plan_boot)."""
        image = self.boot.image
        init_pages = image.bss_pfn - image.edata_pfn  # freed at the end of boot: not the build's
        scale = (image.end_pfn - image.text_pfn - init_pages) / IMAGE_PAGES
        return max(1, round(count * scale))

    def _alloc_boot_pages(self, orders: list[int]) -> None:
        """Blocks the kernel keeps for itself (GFP_KERNEL), one per order, in order."""
        for order in orders:
            alloc_kernel_pages(self.pgdat, Gfp.KERNEL, order)
            self.nr_boot_kernel_pages += 1 << order

    def _allocate_boot_objects(self, full_image: bool) -> None:
        has_highmem = not self.allocator.zones[ZoneType.HIGHMEM].is_empty
        caches = BOOT_SLAB_OBJECTS + (BOOT_FULL_IMAGE_SLAB_OBJECTS if full_image else ())
        kmalloc = BOOT_KMALLOC_OBJECTS + (BOOT_FULL_IMAGE_KMALLOC_OBJECTS if full_image else ())
        for name, size, reclaimable, count in caches:
            if has_highmem:
                count += BOOT_HIGHMEM_SLAB_OBJECTS.get(name, 0)
            if count:
                self.slab.kmem_cache_create(name, size, reclaimable=reclaimable)
                self.slab.kmem_cache_alloc_bulk(name, self._scaled(count), owner=KERNEL_TID)
        for size, count in sorted(kmalloc, reverse=True):
            self.slab.kmem_cache_alloc_bulk(
                kmalloc_cache_name(size), self._scaled(count), KERNEL_TID
            )
        nr_kthreads = BOOT_KTHREADS_SHARED + BOOT_KTHREADS_PER_CPU * self.config.nr_cpus
        for _ in range(self._scaled(nr_kthreads)):
            alloc_kernel_pages(self.pgdat, Gfp.KERNEL, THREAD_SIZE_ORDER)
            self.nr_kernel_stack_pages += 1 << THREAD_SIZE_ORDER

    def _free_boot_region(self, name: str) -> None:
        """free_initrd_mem or free_initmem: a reservation of freed_after_init goes back to
        the page allocator."""
        for region in self.boot.freed_after_init:
            if region.name == name:
                self.allocator.free_reserved_area(region.start_pfn, region.end_pfn)

    def _build_direct_map(self, tables: range) -> None:
        """swapper_pg_dir: PAGE_OFFSET.. maps low memory 1:1 (kernel only, global).

        With direct_map_pse the whole 4 MiB chunks are PSE PDEs and only the tail goes
        through a page table; otherwise every page has a 4 KiB PTE.
        """
        ram32 = self.ram32
        directory = ram32[pgd_words(self.swapper_pg_dir)]  # a view
        self.nr_direct_map_4m_chunks = (
            self.nr_lowmem_frames // 1024 if self.config.direct_map_pse else 0
        )
        for chunk in range(self.nr_direct_map_4m_chunks):
            directory[KERNEL_PGD_INDEX + chunk] = (
                (chunk << PGDIR_SHIFT) | KERNEL_DIRECT_MAP_BITS | int(PageTableBit.PSE)
            )
        first_pfn = self.nr_direct_map_4m_chunks * 1024
        pfns = np.arange(first_pfn, self.nr_lowmem_frames, dtype=np.uint32)
        entries = (pfns << np.uint32(PAGE_SHIFT)) | np.uint32(KERNEL_DIRECT_MAP_BITS)
        first_word = pte_words_of_table(tables.start).start  # the tables are consecutive frames
        ram32[first_word : first_word + len(entries)] = entries
        for i, table_pfn in enumerate(tables):
            pde_index = KERNEL_PGD_INDEX + self.nr_direct_map_4m_chunks + i
            directory[pde_index] = make_entry(table_pfn, KERNEL_PDE_BITS)

    def shutdown(self) -> None:
        """After the last task is gone: swapoff (removing a temporary file), release RAM."""
        if self.closed:
            return
        self.closed = True
        self._swapoff_at_exit()  # swapoff once; the finalizer is spent
        self.fs.close()
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

    def thread_of(self, pid: int, tid: int | None) -> SimThread:
        """The thread a call runs on (the kernel thread for a pid the call will reject)."""
        # Task.alive and Task.main_thread written out: every process call starts here.
        task = self.tasks.get(pid)
        if task is None or task.state is not ProcessState.RUNNING:
            return self.kernel_thread
        thread = task.threads.get(pid if tid is None else tid)
        if thread is None:
            if not task.threads:
                return self.kernel_thread
            raise InvalidArgument(
                "tid",
                f"{tid} is not a thread of pid {pid}",
                ", ".join(str(t) for t in task.threads),
            )
        return thread

    # ---- simulated time under locks -------------------------------------------------------------
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
        lock.charge(self.current, work_ns)

    def cpu_times(self) -> CpuTimes:
        """Machine-wide user/system/iowait/lock-wait time: every process plus kswapd."""
        total = CpuTimes()
        total.add(self.kswapd.times)
        total.add(self.kernel_thread.times)
        for task in self.tasks.values():
            total.add(task.cpu_times())
        return total

    # ---- the kernel page directory -------------------------------------------------------------
    def sync_kernel_pde(self, pde_index: int) -> None:
        """A new kernel page table appeared in swapper_pg_dir: copy its PDE into every process's
        directory, as sync_global_pgds does, so the kernel half stays identical everywhere."""
        if not KERNEL_PGD_INDEX <= pde_index < 1024:
            raise KernelBug(f"PDE {pde_index} is not in the kernel half")
        value = self.ram_words[pgd_entry_word(self.swapper_pg_dir, pde_index)]
        for task in self.tasks.values():
            if task.alive:
                self.ram_words[pgd_entry_word(task.mm.pgd_pfn, pde_index)] = value

    def pid_of_mm(self, mm: MmStruct) -> int:
        """The pid owning an address space."""
        return self.mm_owner.get(id(mm), 0)

    # ---- sizes --------------------------------------------------------------------------------
    @property
    def nr_managed_pages(self) -> int:
        """Pages the buddy allocator manages (MemTotal)."""
        return sum(zone.managed_pages for zone in self.allocator.zones)

    @property
    def nr_swap_pages(self) -> int:
        """Usable swap slots of every area (SwapTotal)."""
        return self.swap_info.nr_swap_pages

    @property
    def commit_limit_pages(self) -> int:
        """CommitLimit."""
        vm = self.vm_sysctl
        return commit_limit(
            self.nr_managed_pages, self.nr_swap_pages, vm.overcommit_ratio, vm.overcommit_kbytes
        )

    @property
    def oom_totalpages(self) -> int:
        """RAM + swap pages: the scale of oom_score_adj."""
        return self.nr_managed_pages + self.nr_swap_pages

    # ---- the kernel log and the event stream -----------------------------------------------------
    def printk(self, level: LogLevel, text: str) -> None:
        """One line into the kernel log (dmesg), stamped with the current thread's simulated time."""
        self.kernel_log.printk(level, text, self.current.now_ns)

    def printk_ratelimited(self, level: LogLevel, text: str) -> None:
        """printk_ratelimited: at most a burst of lines per interval of simulated time."""
        self.kernel_log.printk_ratelimited(level, text, self.current.now_ns)

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

    def wants_event(self, kind: EventKind) -> bool:
        """Whether a listener wants events of *kind* (else emit builds nothing: a caller can
        skip building the event's details too)."""
        return kind in self._wanted_kinds

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
