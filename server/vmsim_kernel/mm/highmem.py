"""Kernel mappings outside user space: __pa/__va, kernel page tables, kernel-mode access, kmap.

Models arch/x86/include/asm/page_32.h (__pa, __va), mm/highmem.c (kmap_high, map_new_virtual,
flush_all_zero_pkmaps, kunmap_high), arch/x86/mm/highmem_32.c (kmap_atomic on the fixmap) and
the kernel-mode half of arch/x86/mm/fault.c (an oops on a kernel access that does not translate).

Kernel virtual layout (DESIGN.md section 1):

    0xC0000000 PAGE_OFFSET   direct map of low memory (boot page tables, reserved frames)
    high_memory              + 8 MiB guard gap (VMALLOC_OFFSET)
    VMALLOC_START            vmalloc areas (vmalloc.py), page tables made on demand
    VMALLOC_END              2 guard pages
    0xFF800000 PKMAP_BASE    1024 kmap() slots: the page table of PDE 1022
    0xFFC00000               fixmap: per-CPU kmap_atomic() slots, the page table of PDE 1023;
    0xFFFFF000 FIXADDR_TOP   fixmap index i sits at FIXADDR_TOP - i * 4096

Kernel page tables made here come from GFP_KERNEL (GFP_ATOMIC for the fixmap, whose user may
not sleep), are flagged PAGETABLE and are never freed, like Linux's. Linux builds the pkmap
and fixmap tables at boot; here they are made at their first use so that a machine that never
kmaps a high page spends no frame on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from vmsim_kernel.arch.x86.constants import (
    ADDRESS_SPACE_END,
    FIXADDR_TOP,
    LAST_PKMAP,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PGDIR_SIZE,
    PKMAP_BASE,
    VMALLOC_END,
    Gfp,
    PageTableBit,
    high_memory,
    vmalloc_start,
)
from vmsim_kernel.arch.x86.pgtable import (
    FRAME_MASK,
    PDE_PSE,
    PSE_FRAME_MASK,
    PTE_ACCESSED,
    PTE_DIRTY,
    PTE_PRESENT,
    PTE_RW,
    PTE_USER,
    make_entry,
    pde_index,
    pde_word,
    pgd_entry_word,
    pte_word,
    pte_words_of_table,
    walk,
)
from vmsim_kernel.errors import (
    InvalidArgument,
    KernelBug,
    KernelError,
    OutOfRange,
    PermissionDenied,
)
from vmsim_kernel.results import Translation

from .page_alloc import alloc_page
from .physmem import MAX_PHYS_FRAMES, PageFlag

if TYPE_CHECKING:
    from .page_alloc import PglistData
    from .physmem import PhysicalMemory

__all__ = [
    "FIXADDR_START",
    "KERNEL_PTE_BITS",
    "KM_TYPE_NR",
    "AtomicContextViolation",
    "AtomicKmap",
    "Highmem",
    "InitMm",
    "KernelOops",
    "check_owner",
    "fix_to_virt",
    "kernel_pte_word",
    "kernel_read",
    "kernel_region",
    "kernel_walk",
    "kernel_write",
    "nr_kernel_pagetable_pages",
    "pa",
    "va",
]

_P = PTE_PRESENT
_RW = PTE_RW
_US = PTE_USER
_A = PTE_ACCESSED
_D = PTE_DIRTY
_PSE = PDE_PSE
_G: Final = int(PageTableBit.GLOBAL)
_PSE_FRAME_MASK = PSE_FRAME_MASK

# A PTE of a kernel mapping made after boot (vmalloc, kmap, kmap_atomic): PAGE_KERNEL, 0x163:
# present, writable, accessed, dirty and global, never U/S.
KERNEL_PTE_BITS: Final = _P | _RW | _A | _D | _G
# A PDE pointing at a kernel page table: _KERNPG_TABLE, 0x063, as the boot tables' (init/main.py).
_KERNEL_PDE_BITS: Final = _P | _RW | _A | _D

KM_TYPE_NR: Final = 16  # kmap_atomic slots per CPU (include/asm-generic/kmap_types.h)
# The simulator's fixmap holds only the kmap_atomic slots (Linux has FIX_HOLE and others
# first): index 0 is the page at FIXADDR_TOP, and 64 CPUs x 16 slots fill PDE 1023 exactly.
FIX_KMAP_BEGIN: Final = 0
FIXADDR_START: Final = PKMAP_BASE + LAST_PKMAP * PAGE_SIZE  # 0xFFC00000
_PKMAP_END: Final = PKMAP_BASE + LAST_PKMAP * PAGE_SIZE


class KernelOops(KernelError):
    """A kernel-mode access that the MMU refused: Linux would print an oops and kill the task."""

    errno_name = "EFAULT"

    def __init__(self, address: int, reason: str, access: str) -> None:
        super().__init__(
            f"BUG: unable to handle page fault for address: 0x{address:08x} ({reason}): "
            f"supervisor {access} access in kernel mode"
        )
        self.address = address
        self.reason = reason


class AtomicContextViolation(KernelError):
    """Misuse of atomic context: kmap_atomic unbalanced, out of order, or sleeping while atomic."""

    errno_name = "EINVAL"


# ---- the direct map: __pa / __va --------------------------------------------------------------
def pa(vaddr: int, nr_lowmem_frames: int) -> int:
    """__pa: the physical address of a direct-map virtual address (vaddr - PAGE_OFFSET).

    Raises:
        InvalidArgument: *vaddr* is not in PAGE_OFFSET .. high_memory.
    """
    end = high_memory(nr_lowmem_frames)
    if not PAGE_OFFSET <= vaddr < end:
        raise InvalidArgument(
            "vaddr",
            f"0x{vaddr:08x} is in {kernel_region(vaddr, nr_lowmem_frames)}, not in the direct map",
            f"0x{PAGE_OFFSET:08x} .. 0x{end - 1:08x}",
        )
    return vaddr - PAGE_OFFSET


def va(paddr: int, nr_lowmem_frames: int, nr_frames: int | None = None) -> int:
    """__va: the direct-map virtual address of a low-memory physical address (paddr + PAGE_OFFSET).

    Args:
        paddr: physical address.
        nr_lowmem_frames: frames of low memory (the direct map's size).
        nr_frames: frames of RAM, to tell high memory from no memory at all; None skips that.

    Raises:
        InvalidArgument: *paddr* is high memory (it must be kmapped) or not RAM.
    """
    lowmem_end = nr_lowmem_frames * PAGE_SIZE
    if 0 <= paddr < lowmem_end:
        return paddr + PAGE_OFFSET
    allowed = f"0x0 .. 0x{lowmem_end - 1:08x} (low memory)"
    if paddr >= lowmem_end and (nr_frames is None or paddr < nr_frames * PAGE_SIZE):
        raise InvalidArgument(
            "paddr",
            f"0x{paddr:08x} is high memory: high memory has no permanent kernel mapping: kmap it",
            allowed,
        )
    raise InvalidArgument("paddr", f"0x{paddr:x} is not a physical address of RAM", allowed)


def kernel_region(vaddr: int, nr_lowmem_frames: int) -> str:
    """Which part of the 4 GiB layout *vaddr* lies in, for messages and reports."""
    direct_end = high_memory(nr_lowmem_frames)
    if vaddr < PAGE_OFFSET:
        return "user space"
    if vaddr < direct_end:
        return "the direct map"
    if vaddr < vmalloc_start(nr_lowmem_frames):
        return "the guard gap below VMALLOC_START"
    if vaddr < VMALLOC_END:
        return "the vmalloc area"
    if vaddr < PKMAP_BASE:
        return "the guard gap below PKMAP_BASE"
    if vaddr < _PKMAP_END:
        return "the pkmap area (kmap)"
    return "the fixmap (kmap_atomic)"


class InitMm:
    """init_mm: the kernel's own address space, shared by every process (mm/init-mm.c).

    What kernel-space code (kmap, vmalloc, slab, kernel-mode access) needs, and no more.

    Attributes:
        pgdat: the node the kernel's page tables and pages come from.
        physmem: the RAM that holds them.
        ram_words: RAM as 32-bit words (the kernel's own view, released at shutdown).
        swapper_pg_dir: pfn of the kernel page directory.
        nr_lowmem_frames: frames in low memory (the direct map ends there).
        sync_global_pgds: copies the kernel PDE at an index into every process's directory;
            boot registers it, since the task list belongs to the kernel, not to init_mm.
    """

    def __init__(
        self,
        pgdat: PglistData,
        ram_words: memoryview,
        swapper_pg_dir: int,
        nr_lowmem_frames: int,
        sync_global_pgds: Callable[[int], None],
    ) -> None:
        self.pgdat = pgdat
        self.physmem: PhysicalMemory = pgdat.physmem
        self.ram_words = ram_words
        self.swapper_pg_dir = swapper_pg_dir
        self.nr_lowmem_frames = nr_lowmem_frames
        self.sync_global_pgds = sync_global_pgds


# ---- kernel page tables ------------------------------------------------------------------------
def kernel_pte_word(
    init_mm: InitMm, vaddr: int, allocate: bool, gfp: Gfp = Gfp.KERNEL
) -> int | None:
    """ram32 index of the PTE mapping kernel address *vaddr* in swapper_pg_dir.

    With *allocate*, a missing page table is made (zeroed, flagged PAGETABLE) and its new PDE
    copied into every process's directory (init_mm.sync_global_pgds).

    Returns:
        The PTE's word index, or None when the page table is missing and *allocate* is False.

    Raises:
        InvalidArgument: *vaddr* is not a kernel address.
        KernelBug: *vaddr* is mapped by a 4 MiB PDE, which has no page table.
        OutOfMemory: no page for the page table.
    """
    if not PAGE_OFFSET <= vaddr < ADDRESS_SPACE_END:
        raise InvalidArgument(
            "vaddr", f"0x{vaddr:x} is not a kernel address", "0xc0000000 .. 0xffffffff"
        )
    words = init_mm.ram_words
    pde_at = pde_word(init_mm.swapper_pg_dir, vaddr)
    pde = words[pde_at]
    if not pde & _P:
        if not allocate:
            return None
        table_pfn = alloc_page(init_mm.pgdat, gfp, None)
        init_mm.physmem.ram32[pte_words_of_table(table_pfn)] = 0
        init_mm.physmem.set_flags(table_pfn, PageFlag.PAGETABLE)
        pde = make_entry(table_pfn, _KERNEL_PDE_BITS)
        words[pde_at] = pde
        init_mm.sync_global_pgds(pde_index(vaddr))
    elif pde & _PSE:
        raise KernelBug(f"0x{vaddr:08x} is mapped by a 4 MiB page: it has no page table")
    return pte_word(pde, vaddr)


def nr_kernel_pagetable_pages(init_mm: InitMm) -> int:
    """Kernel page tables made after boot (vmalloc, pkmap, fixmap); not NR_PAGETABLE in 6.1.

    The direct map's tables are boot reservations and are not counted.
    """
    words = init_mm.ram_words
    count = 0
    for index in range(pde_index(PAGE_OFFSET), pde_index(ADDRESS_SPACE_END - 1) + 1):
        pde = words[pgd_entry_word(init_mm.swapper_pg_dir, index)]
        if pde & _P and not pde & _PSE:
            table_pfn = pde >> PAGE_SHIFT
            if not init_mm.physmem.test_flags(table_pfn, PageFlag.RESERVED):
                count += 1
    return count


# ---- kernel-mode access: the MMU walk in swapper_pg_dir ----------------------------------------
def kernel_walk(init_mm: InitMm, vaddr: int) -> Translation:
    """The MMU walk of *vaddr* in the kernel page directory, every intermediate value included.

    A kernel-mode access needs no U/S bit; `fault` says "not present" when the PDE or the PTE
    is not present, else None.

    Raises:
        OutOfRange: *vaddr* is not a 32-bit address.
    """
    if not 0 <= vaddr < ADDRESS_SPACE_END:
        raise OutOfRange("vaddr", f"0x{vaddr:x} is not a 32-bit address", "0x0 .. 0xffffffff")
    result = walk(init_mm.ram_words, init_mm.swapper_pg_dir, vaddr)
    return replace(result, fault=None if result.present else "not present")


def _kernel_physical(init_mm: InitMm, vaddr: int, write: bool) -> int:
    """Translate one kernel-mode access, setting A (and D) like the MMU; oops if it cannot."""
    words = init_mm.ram_words
    access = "write" if write else "read"
    pde_at = pde_word(init_mm.swapper_pg_dir, vaddr)
    pde = words[pde_at]
    if not pde & _P:
        raise KernelOops(vaddr, "not present", access)
    if pde & _PSE:
        entry_word, entry = pde_at, pde
        physical = (pde & _PSE_FRAME_MASK) | (vaddr & (PGDIR_SIZE - 1))
    else:
        entry_word = pte_word(pde, vaddr)
        entry = words[entry_word]
        if not entry & _P:
            raise KernelOops(vaddr, "not present", access)
        physical = (entry & FRAME_MASK) | (vaddr & (PAGE_SIZE - 1))
    # CR0.WP is set on Linux, so the kernel too faults on a read-only page.
    if write and not entry & _RW:
        raise KernelOops(vaddr, "write to a read-only page", access)
    updated = entry | _A | (_D if write else 0)
    if updated != entry:
        words[entry_word] = updated
    if physical >= init_mm.physmem.nr_bytes:
        raise KernelBug(f"kernel PTE for 0x{vaddr:08x} points outside RAM")
    return physical


def _check_kernel_range(vaddr: int, length: int) -> None:
    if vaddr < 0 or length < 0 or vaddr + length > ADDRESS_SPACE_END:
        raise OutOfRange(
            "vaddr", f"0x{vaddr:x}+{length} is not in the 32-bit space", "0x0 .. 0xffffffff"
        )


def kernel_read(init_mm: InitMm, vaddr: int, length: int) -> bytes:
    """Read *length* bytes at kernel virtual address *vaddr* through the kernel page tables.

    Raises:
        KernelOops: a page of the range is not mapped.
        OutOfRange: the range leaves the 32-bit space.
    """
    _check_kernel_range(vaddr, length)
    physmem = init_mm.physmem
    chunks = []
    address, end = vaddr, vaddr + length
    while address < end:
        chunk = min(end, (address | (PAGE_SIZE - 1)) + 1) - address
        chunks.append(physmem.read_phys(_kernel_physical(init_mm, address, False), chunk))
        address += chunk
    return b"".join(chunks)


def kernel_write(init_mm: InitMm, vaddr: int, data: bytes) -> None:
    """Write *data* at kernel virtual address *vaddr* through the kernel page tables.

    Every page is translated before any byte is stored, so an oops leaves memory unchanged.

    Raises:
        KernelOops: a page of the range is not mapped or is read-only.
        OutOfRange: the range leaves the 32-bit space.
    """
    _check_kernel_range(vaddr, len(data))
    pieces = []
    address, end = vaddr, vaddr + len(data)
    while address < end:
        chunk = min(end, (address | (PAGE_SIZE - 1)) + 1) - address
        pieces.append((_kernel_physical(init_mm, address, True), address - vaddr, chunk))
        address += chunk
    view = memoryview(data)
    for physical, start, chunk in pieces:
        init_mm.physmem.write_phys(physical, view[start : start + chunk])


# ---- kmap_atomic: per-CPU fixmap slots ---------------------------------------------------------
def fix_to_virt(index: int) -> int:
    """__fix_to_virt: fixmap slots grow down from FIXADDR_TOP."""
    return FIXADDR_TOP - (index << PAGE_SHIFT)


@dataclass(frozen=True)
class AtomicKmap:
    """One kmap_atomic mapping on a CPU's stack of atomic mappings."""

    vaddr: int
    pfn: int
    km_type: int | None  # the per-CPU slot; None for a low page (direct-map address, no slot)
    owner: int


# ---- kmap: the permanent kmap slots and kmap_atomic ---------------------------------------------
class Highmem:
    """kmap/kunmap over LAST_PKMAP slots at PKMAP_BASE, and per-CPU kmap_atomic (mm/highmem.c).

    pkmap_count follows Linux: 0 = free and flushed, 1 = unused but its PTE still set (a stale
    TLB entry may exist: it is cleared only by flush_all_zero_pkmaps, when the slot search
    wraps around), n > 1 = mapped with n - 1 users.

    Attributes:
        pkmap_count: per slot, as above.
        last_pkmap_nr: where the next slot search starts (a rotor, as in map_new_virtual).
        nr_pkmap_flushes: flush_all_zero_pkmaps runs (each one a kernel TLB flush).
        nr_kmap_waits: kmap calls that found every slot busy and had to wait.
        nr_kmap_wakeups: kunmaps that freed a slot while kmaps were waiting.
        nr_kmap_wait_timeouts: waits given up (the caller's deadline passed).
        waiting: owners whose kmap is waiting for a slot, in arrival order.
    """

    def __init__(self, init_mm: InitMm, nr_cpus: int) -> None:
        self.init_mm = init_mm
        self.nr_cpus = nr_cpus
        self.pkmap_count = [0] * LAST_PKMAP
        self.slot_page: list[int | None] = [None] * LAST_PKMAP
        self.page_slot: dict[int, int] = {}  # page_address(): pfn -> slot
        self.last_pkmap_nr = 0
        self.nr_pkmap_flushes = 0
        self.nr_kmap_waits = 0
        self.nr_kmap_wakeups = 0
        self.nr_kmap_wait_timeouts = 0
        self.waiting: dict[int, None] = {}
        self._held: dict[int, dict[int, int]] = {}  # owner -> pfn -> kmaps held
        self._atomic: list[list[AtomicKmap]] = [[] for _ in range(self.nr_cpus)]

    # ---- queries ------------------------------------------------------------------------------
    @property
    def nr_free_slots(self) -> int:
        """Slots a kmap could take now (free, or unused and awaiting the lazy flush)."""
        return sum(1 for count in self.pkmap_count if count <= 1)

    @property
    def nr_mapped_slots(self) -> int:
        """Slots with at least one user."""
        return LAST_PKMAP - self.nr_free_slots

    @property
    def nr_waiters(self) -> int:
        """kmap callers waiting for a slot."""
        return len(self.waiting)

    def kmaps_of(self, owner: int) -> dict[int, int]:
        """pfn -> number of kmaps *owner* holds."""
        return dict(self._held.get(owner, {}))

    def in_atomic(self, cpu: int) -> int:
        """Atomic kmaps held on *cpu* (its preempt count from kmap_atomic)."""
        self._check_cpu(cpu)
        return len(self._atomic[cpu])

    # ---- kmap / kunmap ------------------------------------------------------------------------
    def kmap(self, pfn: int, owner: int = 0, cpu: int | None = None) -> int | None:
        """kmap(): a kernel address for frame *pfn*, valid until the matching kunmap.

        A low page returns its direct-map address. A high page gets a pkmap slot (or the slot
        it already has, one more user). kmap may sleep, so calling it on a CPU holding atomic
        kmaps is a bug.

        Args:
            pfn: the frame.
            owner: who holds the mapping (a session); release_owner drops them all.
            cpu: the CPU the caller runs on, to check for atomic context; None checks every
                CPU for atomic kmaps held by *owner* (the caller's own preempt count).

        Returns:
            The virtual address, or None when all LAST_PKMAP slots are in use: the caller
            waits (see nr_waiters) and retries after a kunmap, or gives up with cancel_wait.

        Raises:
            AtomicContextViolation: *cpu* holds kmap_atomic mappings.
            InvalidArgument: *pfn* is not a frame of RAM, or *cpu* does not exist.
            OutOfMemory: the pkmap page table could not be made (first high kmap only).
        """
        if cpu is not None:
            self._check_cpu(cpu)
            nr_atomic = len(self._atomic[cpu])
        else:  # might_sleep(): the caller is atomic if it holds an atomic kmap anywhere
            cpus = [
                c for c, stack in enumerate(self._atomic) if any(m.owner == owner for m in stack)
            ]
            nr_atomic = sum(1 for c in cpus for m in self._atomic[c] if m.owner == owner)
            cpu = cpus[0] if cpus else 0
        if nr_atomic:
            raise AtomicContextViolation(
                "BUG: sleeping function called from invalid context: kmap() on cpu "
                f"{cpu} while it holds {nr_atomic} kmap_atomic mapping(s) "
                "(in_atomic(): 1); kunmap_atomic first or use kmap_atomic"
            )
        self._check_pfn(pfn)
        init_mm = self.init_mm
        if pfn < init_mm.nr_lowmem_frames:
            vaddr = PAGE_OFFSET + (pfn << PAGE_SHIFT)
        else:
            slot = self.page_slot.get(pfn)
            if slot is None:
                slot = self._map_new_virtual(pfn)
                if slot is None:
                    if owner not in self.waiting:
                        self.waiting[owner] = None
                        self.nr_kmap_waits += 1
                    return None
            self.pkmap_count[slot] += 1
            vaddr = PKMAP_BASE + (slot << PAGE_SHIFT)
        self.waiting.pop(owner, None)
        held = self._held.setdefault(owner, {})
        held[pfn] = held.get(pfn, 0) + 1
        return vaddr

    def cancel_wait(self, owner: int) -> None:
        """The waiting kmap of *owner* gave up (its deadline passed)."""
        if owner in self.waiting:
            del self.waiting[owner]
            self.nr_kmap_wait_timeouts += 1

    def _map_new_virtual(self, pfn: int) -> int | None:
        """map_new_virtual: next free slot after the rotor; flush lazily when it wraps."""
        count = LAST_PKMAP
        while True:
            self.last_pkmap_nr = (self.last_pkmap_nr + 1) & (LAST_PKMAP - 1)
            if self.last_pkmap_nr == 0:
                self._flush_all_zero_pkmaps()
                count = LAST_PKMAP
            if self.pkmap_count[self.last_pkmap_nr] == 0:
                break
            count -= 1
            if count == 0:
                return None  # Linux sleeps on pkmap_map_wait here
        slot = self.last_pkmap_nr
        word = kernel_pte_word(self.init_mm, PKMAP_BASE + (slot << PAGE_SHIFT), allocate=True)
        assert word is not None
        self.init_mm.ram_words[word] = make_entry(pfn, KERNEL_PTE_BITS)
        self.pkmap_count[slot] = 1
        self.slot_page[slot] = pfn
        self.page_slot[pfn] = slot
        return slot

    def _flush_all_zero_pkmaps(self) -> None:
        """Clear the PTEs of the slots nobody uses any more (count 1), then flush the TLB once."""
        words = self.init_mm.ram_words
        flushed = False
        for slot, count in enumerate(self.pkmap_count):
            if count != 1:
                continue
            self.pkmap_count[slot] = 0
            pfn = self.slot_page[slot]
            assert pfn is not None
            del self.page_slot[pfn]
            self.slot_page[slot] = None
            word = kernel_pte_word(self.init_mm, PKMAP_BASE + (slot << PAGE_SHIFT), allocate=False)
            assert word is not None
            words[word] = 0
            flushed = True
        if flushed:
            self.nr_pkmap_flushes += 1

    def kunmap(self, pfn_or_addr: int, owner: int = 0) -> bool:
        """kunmap(): drop one kmap of a frame, named by its pfn or by the address kmap returned.

        A slot whose last user goes keeps its PTE until the next lazy flush.

        Returns:
            Whether kmaps are waiting and a slot just became reusable (wake one of them).

        Raises:
            InvalidArgument: the page is not kmapped by *owner*.
        """
        pfn = self._resolve_kmapped(pfn_or_addr)
        held = self._held.get(owner, {})
        if held.get(pfn, 0) == 0:
            raise InvalidArgument(
                "addr",
                f"kunmap: pfn {pfn} is not kmapped by owner {owner}",
                "a page this owner kmapped and has not kunmapped",
            )
        held[pfn] -= 1
        if held[pfn] == 0:
            del held[pfn]
            if not held:
                self._held.pop(owner, None)
        if pfn < self.init_mm.nr_lowmem_frames:
            return False
        slot = self.page_slot[pfn]
        self.pkmap_count[slot] -= 1
        if self.pkmap_count[slot] < 1:
            raise KernelBug(f"pkmap slot {slot} count went below 1")
        wake = self.pkmap_count[slot] == 1 and bool(self.waiting)
        if wake:
            self.nr_kmap_wakeups += 1
        return wake

    def _resolve_kmapped(self, pfn_or_addr: int) -> int:
        """The pfn named by a pfn, a pkmap address or a direct-map address."""
        init_mm = self.init_mm
        if 0 <= pfn_or_addr < MAX_PHYS_FRAMES:
            self._check_pfn(pfn_or_addr)
            return pfn_or_addr
        if PKMAP_BASE <= pfn_or_addr < _PKMAP_END:
            slot = (pfn_or_addr - PKMAP_BASE) >> PAGE_SHIFT
            pfn = self.slot_page[slot]
            if pfn is None or self.pkmap_count[slot] < 2:
                raise InvalidArgument(
                    "addr", f"kunmap: 0x{pfn_or_addr:08x} is not a kmapped slot", "a kmap address"
                )
            return pfn
        if PAGE_OFFSET <= pfn_or_addr < high_memory(init_mm.nr_lowmem_frames):
            return (pfn_or_addr - PAGE_OFFSET) >> PAGE_SHIFT
        raise InvalidArgument(
            "addr",
            f"kunmap: 0x{pfn_or_addr:x} is neither a pfn nor an address kmap returns",
            "a pfn, a pkmap address or a direct-map address",
        )

    # ---- kmap_atomic / kunmap_atomic ------------------------------------------------------------
    def kmap_atomic(self, pfn: int, cpu: int, owner: int = 0) -> int:
        """kmap_atomic(): map *pfn* in a per-CPU fixmap slot; never sleeps, never waits.

        Atomic kmaps nest strictly: each kunmap_atomic releases the most recent one. A low
        page returns its direct-map address but still counts as an atomic section.

        Raises:
            AtomicContextViolation: *cpu* already holds KM_TYPE_NR atomic kmaps.
            InvalidArgument: *pfn* is not a frame of RAM, or *cpu* does not exist.
            OutOfMemory: the fixmap page table could not be made (GFP_ATOMIC, first use only).
        """
        self._check_cpu(cpu)
        self._check_pfn(pfn)
        stack = self._atomic[cpu]
        if len(stack) >= KM_TYPE_NR:
            raise AtomicContextViolation(
                f"kmap_atomic: cpu {cpu} already holds {KM_TYPE_NR} nested atomic kmaps "
                f"(KM_TYPE_NR = {KM_TYPE_NR}); kunmap_atomic before mapping more"
            )
        if pfn < self.init_mm.nr_lowmem_frames:
            stack.append(AtomicKmap(PAGE_OFFSET + (pfn << PAGE_SHIFT), pfn, None, owner))
            return stack[-1].vaddr
        used = {entry.km_type for entry in stack}
        km_type = next(t for t in range(KM_TYPE_NR) if t not in used)
        vaddr = fix_to_virt(FIX_KMAP_BEGIN + km_type + KM_TYPE_NR * cpu)
        word = kernel_pte_word(self.init_mm, vaddr, allocate=True, gfp=Gfp.ATOMIC)
        assert word is not None
        if self.init_mm.ram_words[word]:
            raise KernelBug(f"fixmap slot 0x{vaddr:08x} of cpu {cpu} is already mapped")
        self.init_mm.ram_words[word] = make_entry(pfn, KERNEL_PTE_BITS)
        stack.append(AtomicKmap(vaddr, pfn, km_type, owner))
        return vaddr

    def kunmap_atomic(self, vaddr: int, cpu: int) -> None:
        """kunmap_atomic(): release the most recent atomic kmap of *cpu*, given its address.

        Raises:
            AtomicContextViolation: *cpu* holds no atomic kmap (unbalanced), or *vaddr* is not
                the most recent one (wrong order).
            InvalidArgument: *cpu* does not exist.
        """
        self._check_cpu(cpu)
        stack = self._atomic[cpu]
        if not stack:
            raise AtomicContextViolation(
                f"kunmap_atomic: unbalanced: cpu {cpu} holds no atomic kmap "
                f"(asked to release 0x{vaddr:08x})"
            )
        top = stack[-1]
        if vaddr & ~(PAGE_SIZE - 1) != top.vaddr:
            raise AtomicContextViolation(
                f"kunmap_atomic: wrong order: 0x{vaddr:08x} is not the most recent atomic kmap "
                f"of cpu {cpu} (0x{top.vaddr:08x}); atomic kmaps are released in reverse order"
            )
        self._drop_atomic(cpu, len(stack) - 1)

    def _drop_atomic(self, cpu: int, position: int) -> None:
        entry = self._atomic[cpu].pop(position)
        if entry.km_type is not None:
            word = kernel_pte_word(self.init_mm, entry.vaddr, allocate=False)
            assert word is not None
            self.init_mm.ram_words[word] = 0  # kpte_clear_flush

    # ---- ownership --------------------------------------------------------------------------------
    def release_owner(self, owner: int) -> int:
        """Drop every kmap and atomic kmap *owner* holds (its session ended); return how many.

        Atomic kmaps of other owners keep their slots; a new atomic kmap takes the lowest
        free slot of its CPU, which is the nesting depth whenever kmaps nest properly.
        """
        self.waiting.pop(owner, None)  # a session that ends stops waiting; not a timeout
        released = 0
        for pfn, count in sorted(self._held.get(owner, {}).items()):
            for _ in range(count):
                self.kunmap(pfn, owner)
                released += 1
        for cpu, stack in enumerate(self._atomic):
            for position in reversed(range(len(stack))):
                if stack[position].owner == owner:
                    self._drop_atomic(cpu, position)
                    released += 1
        return released

    # ---- argument checks ------------------------------------------------------------------------
    def _check_cpu(self, cpu: int) -> None:
        if not 0 <= cpu < self.nr_cpus:
            raise InvalidArgument("cpu", f"no cpu {cpu}", f"0 .. {self.nr_cpus - 1}")

    def _check_pfn(self, pfn: int) -> None:
        nr_frames = self.init_mm.physmem.nr_frames
        if not 0 <= pfn < nr_frames:
            raise InvalidArgument("pfn", f"{pfn} is not a frame of RAM", f"0 .. {nr_frames - 1}")


def check_owner(kind: str, holder: int, caller: int | None, addr: int) -> None:
    """Refuse to free another owner's kernel memory (a session may free only its own)."""
    if caller is not None and caller != holder:
        raise PermissionDenied(f"{kind} 0x{addr:08x} belongs to owner {holder}, not {caller}")
