"""Boot-time configuration of the simulated machine (the kernel command line and sysctls).

Models the knobs of mm/page_alloc.c (min_free_kbytes, watermarks), mm/util.c
(vm.overcommit_memory, vm.overcommit_ratio) and mm/vmscan.c (vm.swappiness).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

from vmsim_kernel.arch.x86.constants import PAGE_SIZE, GiB, MiB
from vmsim_kernel.kernel.time import CostModel

from .errors import InvalidArgument

__all__ = ["MachineConfig", "OvercommitMode", "ReplacementPolicy"]


class ReplacementPolicy(StrEnum):
    """How reclaim picks victim pages."""

    LINUX = "linux"  # active/inactive LRU lists, second chance on the accessed bit (default)
    FIFO = "fifo"  # oldest resident page first
    LRU = "lru"  # exact least recently used
    CLOCK = "clock"  # one hand, second chance on the accessed bit
    RANDOM = "random"  # seeded uniform choice
    OPT = "opt"  # Belady: the page used furthest in the future (trace replay only)
    MRU = "mru"  # most recently used first (OSTEP's paging-policy.py, bad for loops' opposite)
    UNOPT = "unopt"  # the page used soonest in the future: the worst choice (trace replay only)


class OvercommitMode(int, Enum):
    """vm.overcommit_memory."""

    HEURISTIC = 0  # refuse only obviously impossible requests
    ALWAYS = 1  # never refuse
    NEVER = 2  # refuse beyond CommitLimit = swap + RAM * ratio / 100


MIN_RAM = 4 * MiB
MAX_RAM = 4 * GiB
MAX_SWAP = 16 * GiB


@dataclass(frozen=True)
class MachineConfig:
    """Everything that fixes a machine's behaviour; same config + seed + calls = same state.

    Attributes:
        ram_bytes: simulated RAM, 4 MiB .. 4 GiB, a multiple of the page size.
        swap_bytes: swap device size including the header page; 0 disables swap.
        swap_path: file backing the swap device; None makes an anonymous temporary file.
        swap_file_overwrite: take an existing swap_path even if it has no swap signature.
        policy: page replacement policy used by reclaim.
        overcommit_memory: vm.overcommit_memory at boot (the kernel's vm_sysctl record holds
            the value in effect: `sysctl -w` changes it, kernel/sysctl.py).
        overcommit_ratio: vm.overcommit_ratio at boot, percent of RAM counted in mode 2.
        swappiness: vm.swappiness at boot (0..200).
        min_free_kbytes: None computes Linux's sqrt(lowmem_kbytes * 16) clamp.
        nr_cpus: number of CPUs (per-CPU kmap_atomic slots, reports).
        seed: seeds every random choice the kernel makes.
        max_processes: most live processes at once (like pid_max / RLIMIT_NPROC).
        max_map_count: vm.max_map_count, most VMAs per process; an mmap at the limit is
            ENOMEM (it bounds the work and size of a process's maps and smaps).
        costs: simulated nanoseconds per operation (timing.CostModel).
        lock_kinds: per lock class ("zone", "lru", "mmap", "swap", "pkmap"): "spin" or "sleep".
        record: keep a journal of every call so the run can be replayed (journal.py).
        direct_map_pse: map the direct map with 4 MiB PSE pages (as Linux does on CPUs with
            PSE) instead of 4 KiB PTEs; a tail shorter than 4 MiB still uses PTEs.
        page_cluster: vm.page-cluster at boot: a swap-in reads the aligned cluster of
            2**page_cluster slots around the faulting one (0..5; 0 reads only the page
            faulted on, as the textbook model and LTP's swap tests expect).
        textbook_split: end low memory at 896 MiB, the classic picture, instead of where a
            6.1 i386 kernel built for NR_CPUS CPUs ends it (875 MiB for Debian's 32: its fixmap
            and cpu_entry_area push VMALLOC_END, and so MAXMEM, down).
        disk_bytes: size of the disk under the file system (fs/), the superblock page
            included; its blocks live in an anonymous host file made on the first write.
        swapon_budget_bytes: how much host disk the swap areas added at run time (swapon,
            mm/swapoff.py) may take together; the boot area is not counted.
        realtime_clients: the calls come from clients that wait in real time (a server): the
            scheduler bounds how many quanta a new call waits whatever its thread's clock
            (sched.WAKEUP_WAIT_QUANTA). Off for a closed simulation (the lock experiment),
            where simulated-time order alone decides who runs.
    """

    ram_bytes: int = 64 * MiB
    swap_bytes: int = 128 * MiB
    swap_path: str | None = None
    swap_file_overwrite: bool = False
    policy: ReplacementPolicy = ReplacementPolicy.LINUX
    overcommit_memory: OvercommitMode = OvercommitMode.HEURISTIC
    overcommit_ratio: int = 50
    swappiness: int = 60
    min_free_kbytes: int | None = None
    nr_cpus: int = 2
    seed: int = 0
    max_processes: int = 4096
    max_map_count: int = 65530
    costs: CostModel = field(default_factory=CostModel)
    lock_kinds: dict[str, str] = field(default_factory=dict)
    record: bool = False
    direct_map_pse: bool = False
    page_cluster: int = 3
    textbook_split: bool = False
    disk_bytes: int = 512 * MiB
    swapon_budget_bytes: int = 1 * GiB
    realtime_clients: bool = False

    def __post_init__(self) -> None:
        if not MIN_RAM <= self.ram_bytes <= MAX_RAM or self.ram_bytes % PAGE_SIZE:
            raise InvalidArgument(
                "ram_bytes",
                f"{self.ram_bytes} is not a usable RAM size",
                "4 MiB .. 4 GiB, a multiple of 4096",
            )
        if self.swap_bytes != 0 and (
            not 2 * PAGE_SIZE <= self.swap_bytes <= MAX_SWAP or self.swap_bytes % PAGE_SIZE
        ):
            raise InvalidArgument(
                "swap_bytes",
                f"{self.swap_bytes} is not a usable swap size",
                "0, or 8 KiB .. 16 GiB, a multiple of 4096",
            )
        if not 2 * PAGE_SIZE <= self.disk_bytes <= MAX_SWAP or self.disk_bytes % PAGE_SIZE:
            raise InvalidArgument(
                "disk_bytes",
                f"{self.disk_bytes} is not a usable disk size",
                "8 KiB .. 16 GiB, a multiple of 4096",
            )
        if not 0 <= self.swapon_budget_bytes <= MAX_SWAP:
            raise InvalidArgument(
                "swapon_budget_bytes", f"{self.swapon_budget_bytes}", "0 .. 16 GiB"
            )
        if not 0 <= self.overcommit_ratio <= 1000:
            raise InvalidArgument("overcommit_ratio", f"{self.overcommit_ratio}", "0..1000")
        if not 0 <= self.swappiness <= 200:
            raise InvalidArgument("swappiness", f"{self.swappiness}", "0..200")
        if not 1 <= self.nr_cpus <= 64:
            raise InvalidArgument("nr_cpus", f"{self.nr_cpus}", "1..64")
        if self.min_free_kbytes is not None and not 128 <= self.min_free_kbytes <= 262144:
            raise InvalidArgument("min_free_kbytes", f"{self.min_free_kbytes}", "128..262144")
        if not 0 <= self.page_cluster <= 5:
            raise InvalidArgument("page_cluster", f"{self.page_cluster}", "0..5")
        if not 1 <= self.max_processes <= 32768:
            raise InvalidArgument("max_processes", f"{self.max_processes}", "1..32768")
        if not 1 <= self.max_map_count <= 2**31 - 1:
            raise InvalidArgument("max_map_count", f"{self.max_map_count}", "1 .. 2147483647")
        for lock_class, kind in self.lock_kinds.items():
            if kind not in ("spin", "sleep"):
                raise InvalidArgument("lock_kinds", f"{lock_class}={kind!r}", "spin or sleep")
        if not isinstance(self.policy, ReplacementPolicy):
            raise InvalidArgument(
                "policy", f"{self.policy!r}", ", ".join(p.value for p in ReplacementPolicy)
            )

    @property
    def nr_frames(self) -> int:
        """Number of 4 KiB physical frames."""
        return self.ram_bytes // PAGE_SIZE
