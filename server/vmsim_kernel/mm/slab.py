"""kmalloc/kfree: the kmalloc slab caches, large kmallocs from the page allocator, /proc/slabinfo.

Models mm/slab_common.c (kmalloc caches and size classes, kmalloc_large, /proc/slabinfo 2.1)
and mm/slub.c (calculate_order, allocate_slab with its fallback order, per-slab freelists).

Slab orders follow SLUB's calculate_order: the smallest order (at most slub_max_order =
PAGE_ALLOC_COSTLY_ORDER = 3) whose slab holds min_objects = 4 * (fls(nr_cpus) + 1) objects and
wastes at most 1/16 of itself (then 1/8, 1/4, then fewer objects): with 1 CPU inode_cache's
416-byte objects take order 1 (19 a slab), not order 0 (9 a slab, 352 bytes wasted). With 2
CPUs: kmalloc-8 .. kmalloc-256 use order 0, kmalloc-512 order 1, kmalloc-1k order 2,
kmalloc-2k .. kmalloc-8k order 3. A slab first tries its order without any reclaim and falls
back to the smallest order holding one object (0, or 1 for kmalloc-8k) with the caller's full
GFP semantics, as allocate_slab does. Unlike SLUB, an empty slab goes back to the page
allocator at once (no min_partial cache), so the page counts are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np

from vmsim_kernel.arch.x86.constants import MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, Gfp
from vmsim_kernel.errors import InvalidArgument, KernelBug, OutOfMemory

from .highmem import check_owner, pa, va
from .page_alloc import (
    PAGE_ALLOC_COSTLY_ORDER,
    alloc_pages,
    charge_zone_lock,
    free_page,
    get_order,
)
from .physmem import PageFlag

if TYPE_CHECKING:
    from .highmem import InitMm
    from .page_alloc import PglistData

__all__ = [
    "KMALLOC_MAX_CACHE_SIZE",
    "KMALLOC_MAX_SIZE",
    "KMALLOC_SIZES",
    "ZERO_SIZE_PTR",
    "KmallocAllocation",
    "SlabAllocator",
    "SlabCacheInfo",
    "alloc_kernel_pages",
    "free_kernel_pages",
    "kmalloc_cache_name",
]

KMALLOC_SIZES: Final = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)
KMALLOC_MAX_CACHE_SIZE: Final = 8192  # larger requests go to the page allocator
ZERO_SIZE_PTR: Final = 16  # what kmalloc(0) returns: distinct from NULL, faults on access
KMALLOC_MAX_SIZE: Final = PAGE_SIZE << (MAX_ORDER - 1)  # 4 MiB: the largest buddy block
_KMALLOC_GFP: Final = (Gfp.KERNEL, Gfp.ATOMIC, Gfp.DMA)
_KERNEL_OWNER_FLAGS_CLEAR: Final = np.uint32(
    ~int(PageFlag.SLAB | PageFlag.KMALLOC | PageFlag.VMALLOC) & 0xFFFFFFFF
)


# ---- pages for the kernel: any order, with the GFP rules of __alloc_pages -----------------------
def alloc_kernel_pages(pgdat: PglistData, gfp: Gfp, order: int, *, may_reclaim: bool = True) -> int:
    """A block of 2**order pages for kernel use, following the allocation rules of *gfp*.

    The page allocator's own path (page_alloc.alloc_pages): the fast path at the low watermark,
    then kswapd, the min mark, direct reclaim and for cheap orders the OOM killer. Reclaim
    frees single pages, so a high-order block may still be missing afterwards
    (fragmentation): that is OutOfMemory.

    Args:
        pgdat: the node the block comes from.
        gfp: KERNEL, ATOMIC or DMA (HIGHUSER for callers that can map high pages).
        order: log2 of the number of pages.
        may_reclaim: False tries the free lists only (SLUB's first attempt at a costly order).

    Raises:
        OutOfMemory: no block could be found.
    """
    return alloc_pages(pgdat, gfp, order, None, may_reclaim=may_reclaim)


def free_kernel_pages(pgdat: PglistData, pfn: int, order: int) -> None:
    """Give a kernel block back to the buddy allocator (its SLAB/KMALLOC/VMALLOC flags go)."""
    pgdat.physmem.flags[pfn : pfn + (1 << order)] &= _KERNEL_OWNER_FLAGS_CLEAR
    if order == 0:
        free_page(pgdat, pfn)
        return
    pgdat.allocator.free_pages(pfn, order)
    pgdat.vm_events.pgfree += 1 << order
    charge_zone_lock(pgdat, pfn, 1 << order)


# ---- caches and slabs ------------------------------------------------------------------------------
def kmalloc_cache_name(size: int, dma: bool = False) -> str:
    """kmalloc-8 ... kmalloc-256, kmalloc-512, kmalloc-1k ... kmalloc-8k (dma-kmalloc-* for DMA)."""
    suffix = f"{size // 1024}k" if size >= 1024 else str(size)
    return f"{'dma-' if dma else ''}kmalloc-{suffix}"


def calc_slab_order(size: int, min_objects: int, max_order: int, fract_leftover: int) -> int:
    """calc_slab_order: the first order from the one holding *min_objects* up to *max_order*
    whose slab leaves at most 1/*fract_leftover* of itself unused (max_order + 1: none)."""
    for order in range(get_order(min_objects * size), max_order + 1):
        slab_size = PAGE_SIZE << order
        if slab_size % size <= slab_size // fract_leftover:
            return order
    return max_order + 1


def calculate_order(size: int, nr_cpus: int) -> int:
    """SLUB's calculate_order: the slab order for objects of *size* bytes (see the module
    docstring)."""
    max_order = PAGE_ALLOC_COSTLY_ORDER  # slub_max_order
    min_objects = min(4 * (nr_cpus.bit_length() + 1), (PAGE_SIZE << max_order) // size)
    while min_objects > 1:
        for fraction in (16, 8, 4):
            order = calc_slab_order(size, min_objects, max_order, fraction)
            if order <= max_order:
                return order
        min_objects -= 1
    # not even two objects fit well: a slab of one object
    order = calc_slab_order(size, 1, max_order, 1)
    return order if order <= max_order else calc_slab_order(size, 1, MAX_ORDER - 1, 1)


@dataclass(eq=False)
class Slab:
    """One slab: 2**order pages carved into equal objects (the slab part of struct page).

    Attributes:
        freelist: indexes of free objects; pop() gives the next one, so a freed object is
            the first reused (SLUB's LIFO freelist).
    """

    pfn: int
    order: int
    nr_objects: int
    freelist: list[int]
    inuse: int = 0


@dataclass(eq=False)
class KmemCache:
    """One kmalloc cache (struct kmem_cache)."""

    name: str
    object_size: int
    order: int  # the preferred slab order (oo)
    min_order: int  # the fallback: the smallest order holding one object (min)
    gfp: Gfp  # where its slabs come from: KERNEL (NORMAL, DMA) or DMA
    reclaimable: bool = False  # SLAB_RECLAIM_ACCOUNT: a shrinker can free it (SReclaimable)
    slabs: dict[int, Slab] = field(default_factory=dict)  # by first pfn
    partial: dict[int, None] = field(default_factory=dict)  # slabs with free objects

    @property
    def objs_per_slab(self) -> int:
        """Objects in a slab of the preferred order."""
        return (PAGE_SIZE << self.order) // self.object_size

    @property
    def nr_pages(self) -> int:
        """Pages held by the cache's slabs."""
        return sum(1 << slab.order for slab in self.slabs.values())

    @property
    def active_objs(self) -> int:
        """Objects in use."""
        return sum(slab.inuse for slab in self.slabs.values())

    @property
    def num_objs(self) -> int:
        """Objects the slabs can hold."""
        return sum(slab.nr_objects for slab in self.slabs.values())


@dataclass(frozen=True)
class SlabCacheInfo:
    """One /proc/slabinfo row."""

    name: str
    active_objs: int
    num_objs: int
    objsize: int
    objperslab: int
    pagesperslab: int
    active_slabs: int
    num_slabs: int


@dataclass(frozen=True)
class KmallocAllocation:
    """One live kmalloc: where, how big, who holds it."""

    addr: int
    size: int  # bytes asked for
    object_size: int  # bytes reserved (the cache's object size, or the whole block)
    cache: str | None  # None for a large kmalloc straight from the page allocator
    pfn: int  # the frame of the object's first byte (the block's first frame when large)
    order: int  # the slab's or the large block's order
    owner: int


class SlabAllocator:
    """kmalloc caches for GFP_KERNEL/GFP_ATOMIC and GFP_DMA, large kmallocs, and the named
    caches of kmem_cache_create (dentry, inode_cache ...).

    Objects are addressed by their direct-map address: slabs come from NORMAL or DMA only.

    Attributes:
        nr_slab_pages: pages held by slabs.
        nr_slab_reclaimable_pages: the part of nr_slab_pages in SLAB_RECLAIM_ACCOUNT caches
            (meminfo's SReclaimable; no shrinker runs, they only count as reclaimable).
        nr_large_kmalloc_pages: pages of large kmallocs; Linux (kmalloc_order) adds them to
            NR_SLAB_UNRECLAIMABLE_B too, so meminfo Slab = SUnreclaim = the sum of both.
    """

    def __init__(self, init_mm: InitMm, nr_cpus: int) -> None:
        self.init_mm = init_mm
        self._caches: dict[Gfp, list[KmemCache]] = {
            gfp: [
                KmemCache(
                    kmalloc_cache_name(size, gfp is Gfp.DMA),
                    size,
                    calculate_order(size, nr_cpus),
                    get_order(size),
                    gfp,
                )
                for size in KMALLOC_SIZES
            ]
            for gfp in (Gfp.KERNEL, Gfp.DMA)
        }
        self._named: dict[str, KmemCache] = {}
        self._nr_cpus = nr_cpus
        # kmalloc's objects, with the size asked for; an object of kmem_cache_alloc(_bulk) is
        # the cache's size by definition, so it is kept as its address -> owner only (boot
        # allocates tens of thousands: a record each cost most of the boot).
        self._objects: dict[int, KmallocAllocation] = {}
        self._cache_objects: dict[int, int] = {}
        self._by_owner: dict[int, dict[int, None]] = {}
        self._slab_of_pfn: dict[int, tuple[KmemCache, Slab]] = {}
        self._large_of_pfn: dict[int, int] = {}  # every frame of a large kmalloc -> its address
        self.nr_slab_pages = 0
        self.nr_slab_reclaimable_pages = 0
        self.nr_large_kmalloc_pages = 0

    # ---- named caches ------------------------------------------------------------------------
    def kmem_cache_create(self, name: str, object_size: int, *, reclaimable: bool = False) -> None:
        """kmem_cache_create(name, size, SLAB_RECLAIM_ACCOUNT if *reclaimable*).

        Raises:
            InvalidArgument: the name is taken or the size is not 1 .. KMALLOC_MAX_CACHE_SIZE.
        """
        if name in self._named or any(
            cache.name == name for caches in self._caches.values() for cache in caches
        ):
            raise InvalidArgument("name", f"a cache named {name!r} exists", "a new cache name")
        if not 1 <= object_size <= KMALLOC_MAX_CACHE_SIZE:
            raise InvalidArgument("object_size", f"{object_size}", f"1..{KMALLOC_MAX_CACHE_SIZE}")
        self._named[name] = KmemCache(
            name,
            object_size,
            calculate_order(object_size, self._nr_cpus),
            get_order(object_size),
            Gfp.KERNEL,
            reclaimable=reclaimable,
        )

    def kmem_cache_alloc(self, name: str, owner: int = 0) -> int:
        """kmem_cache_alloc(cache, GFP_KERNEL): one object of the named cache; kfree frees it.

        Raises:
            InvalidArgument: no cache has that name.
            OutOfMemory: no page could be found for a new slab.
        """
        [addr] = self.kmem_cache_alloc_bulk(name, 1, owner)
        return addr

    def kmem_cache_alloc_bulk(self, name: str, count: int, owner: int = 0) -> list[int]:
        """kmem_cache_alloc_bulk(cache, GFP_KERNEL, count, p): *count* objects of the cache
        named *name* (a kmem_cache_create cache, or a kmalloc one such as "kmalloc-64"), the
        objects and slabs that many kmem_cache_alloc calls in a row would give, in that order.

        A failure part-way gives back the objects already taken (kmem_cache_free_bulk), as
        mm/slub.c does: all or nothing.

        Raises:
            InvalidArgument: no cache has that name, or *count* is negative.
            OutOfMemory: no page could be found for a new slab.
        """
        cache = self._named.get(name) or self._kmalloc_cache_named(name)
        if cache is None:
            raise InvalidArgument(
                "name",
                f"no cache named {name!r}",
                ", ".join([*self._named, *(c.name for c in self._caches[Gfp.KERNEL])]),
            )
        if count < 0:
            raise InvalidArgument("count", f"{count}", "0 or more objects")
        addrs: list[int] = []
        try:
            self._slab_alloc_bulk(cache, cache.gfp, count, addrs)
        except OutOfMemory:
            for addr in reversed(addrs):
                self._slab_free(addr)
            raise
        self._cache_objects.update(dict.fromkeys(addrs, owner))
        self._by_owner.setdefault(owner, {}).update(dict.fromkeys(addrs))
        return addrs

    def _kmalloc_cache_named(self, name: str) -> KmemCache | None:
        for caches in self._caches.values():
            for cache in caches:
                if cache.name == name:
                    return cache
        return None

    # ---- kmalloc ---------------------------------------------------------------------------
    def kmalloc(
        self, size: int, gfp: Gfp = Gfp.KERNEL, owner: int = 0, *, zero: bool = False
    ) -> int:
        """kmalloc(size, gfp): a direct-map address of at least *size* bytes (kzalloc with *zero*).

        kmalloc(0) returns ZERO_SIZE_PTR (16): not NULL, yet any access to it faults, and
        kfree takes it back as a no-op.

        Raises:
            InvalidArgument: *size* is negative or above KMALLOC_MAX_SIZE, or *gfp* asks for
                high memory.
            OutOfMemory: no page could be found under the rules of *gfp*.
        """
        if gfp not in _KMALLOC_GFP:
            raise InvalidArgument(
                "gfp",
                f"{gfp.name}: kmalloc memory must be permanently mapped, high memory is not",
                "KERNEL, ATOMIC, DMA (vmalloc takes high pages)",
            )
        if not 0 <= size <= KMALLOC_MAX_SIZE:
            raise InvalidArgument(
                "size", f"{size} bytes", f"0 .. {KMALLOC_MAX_SIZE} (0 gives ZERO_SIZE_PTR)"
            )
        if size == 0:
            return ZERO_SIZE_PTR
        if size > KMALLOC_MAX_CACHE_SIZE:
            allocation = self._kmalloc_large(size, gfp, owner)
        else:
            allocation = self._slab_alloc(self._cache_for(size, gfp), size, gfp, owner)
        self._objects[allocation.addr] = allocation
        self._by_owner.setdefault(owner, {})[allocation.addr] = None
        if zero:
            physical = pa(allocation.addr, self.init_mm.nr_lowmem_frames)
            self.init_mm.physmem.write_phys(physical, bytes(allocation.object_size))
        return allocation.addr

    def _cache_for(self, size: int, gfp: Gfp) -> KmemCache:
        """kmalloc_slab: the cache of the smallest size class that fits."""
        caches = self._caches[Gfp.DMA if gfp is Gfp.DMA else Gfp.KERNEL]
        return next(cache for cache in caches if cache.object_size >= size)

    def _slab_alloc(self, cache: KmemCache, size: int, gfp: Gfp, owner: int) -> KmallocAllocation:
        addrs: list[int] = []
        self._slab_alloc_bulk(cache, gfp, 1, addrs)
        return self._record_of(addrs[0], size, owner)

    def _slab_alloc_bulk(self, cache: KmemCache, gfp: Gfp, count: int, addrs: list[int]) -> None:
        """*count* objects of *cache* appended to *addrs* (which shows, if a new slab cannot be
        had, what was taken): each from the most recently used partial slab (its freelist's
        last index first), a new slab when none is partial."""
        count += len(addrs)
        object_size = cache.object_size
        while len(addrs) < count:
            if cache.partial:
                slab = cache.slabs[next(reversed(cache.partial))]
            else:
                slab = self._new_slab(cache, gfp)
            freelist = slab.freelist
            nr_taken = min(count - len(addrs), len(freelist))
            taken = freelist[-nr_taken:]
            del freelist[-nr_taken:]
            slab.inuse += nr_taken
            if not freelist:
                del cache.partial[slab.pfn]
            base = va(slab.pfn << PAGE_SHIFT, self.init_mm.nr_lowmem_frames)
            addrs.extend(base + index * object_size for index in reversed(taken))

    def _record_of(self, addr: int, size: int | None, owner: int) -> KmallocAllocation:
        """The record of a live slab object at *addr*, *size* bytes asked for (None: the
        cache's object size, as kmem_cache_alloc asks)."""
        cache, slab = self._slab_of_pfn[(addr - PAGE_OFFSET) >> PAGE_SHIFT]
        return KmallocAllocation(
            addr=addr,
            size=cache.object_size if size is None else size,
            object_size=cache.object_size,
            cache=cache.name,
            pfn=(addr - PAGE_OFFSET) >> PAGE_SHIFT,
            order=slab.order,
            owner=owner,
        )

    def _new_slab(self, cache: KmemCache, gfp: Gfp) -> Slab:
        """allocate_slab: the preferred order without reclaim, else the minimum order."""
        slab_gfp = Gfp.DMA if cache.gfp is Gfp.DMA else gfp
        pfn: int | None = None
        order = cache.order
        if order > cache.min_order:
            try:
                pfn = alloc_kernel_pages(self.init_mm.pgdat, slab_gfp, order, may_reclaim=False)
            except OutOfMemory:
                pfn = None
        if pfn is None:
            order = cache.min_order
            pfn = alloc_kernel_pages(self.init_mm.pgdat, slab_gfp, order)
        nr_pages = 1 << order
        # Linux marks only the compound head PG_slab; every frame is marked here for dumps.
        self.init_mm.physmem.flags[pfn : pfn + nr_pages] |= int(PageFlag.SLAB)
        nr_objects = (PAGE_SIZE << order) // cache.object_size
        slab = Slab(pfn, order, nr_objects, list(reversed(range(nr_objects))))
        cache.slabs[pfn] = slab
        cache.partial[pfn] = None
        for frame in range(pfn, pfn + nr_pages):
            self._slab_of_pfn[frame] = (cache, slab)
        self.nr_slab_pages += nr_pages
        if cache.reclaimable:
            self.nr_slab_reclaimable_pages += nr_pages
        return slab

    def _kmalloc_large(self, size: int, gfp: Gfp, owner: int) -> KmallocAllocation:
        """kmalloc_large: a whole buddy block, its frames flagged KMALLOC."""
        order = get_order(size)
        pfn = alloc_kernel_pages(self.init_mm.pgdat, gfp, order)
        nr_pages = 1 << order
        self.init_mm.physmem.flags[pfn : pfn + nr_pages] |= int(PageFlag.KMALLOC)
        addr = va(pfn << PAGE_SHIFT, self.init_mm.nr_lowmem_frames)
        for frame in range(pfn, pfn + nr_pages):
            self._large_of_pfn[frame] = addr
        self.nr_large_kmalloc_pages += nr_pages
        return KmallocAllocation(addr, size, PAGE_SIZE << order, None, pfn, order, owner)

    # ---- kfree --------------------------------------------------------------------------------
    def kfree(self, addr: int, owner: int | None = None) -> None:
        """kfree(addr): free an object kmalloc returned; kfree(0) and kfree(ZERO_SIZE_PTR) do nothing.

        An empty slab goes back to the page allocator at once.

        Args:
            addr: the address kmalloc returned.
            owner: when given, the allocation must belong to it.

        Raises:
            InvalidArgument: *addr* is not a live kmalloc object (double free, interior pointer,
                never allocated).
            PermissionDenied: the allocation belongs to another owner.
        """
        if addr <= ZERO_SIZE_PTR:  # ZERO_OR_NULL_PTR
            return
        allocation = self._objects.get(addr)
        holder = allocation.owner if allocation is not None else self._cache_objects.get(addr)
        if holder is None:
            raise InvalidArgument(
                "addr", self._explain_bad_free(addr), "an address kmalloc returned, not yet freed"
            )
        check_owner("kmalloc object", holder, owner, addr)
        if allocation is None:
            del self._cache_objects[addr]
        else:
            del self._objects[addr]
        held = self._by_owner[holder]
        del held[addr]
        if not held:
            del self._by_owner[holder]
        if allocation is not None and allocation.cache is None:
            self._kfree_large(allocation)
            return
        self._slab_free(addr)

    def _slab_free(self, addr: int) -> None:
        """An object back on its slab's freelist; an empty slab back to the page allocator."""
        cache, slab = self._slab_of_pfn[(addr - PAGE_OFFSET) >> PAGE_SHIFT]
        index = (addr - PAGE_OFFSET - (slab.pfn << PAGE_SHIFT)) // cache.object_size
        slab.freelist.append(index)
        slab.inuse -= 1
        if slab.inuse == 0:
            self._discard_slab(cache, slab)
        elif len(slab.freelist) == 1:
            cache.partial[slab.pfn] = None  # it was full: it has a free object again

    def _kfree_large(self, allocation: KmallocAllocation) -> None:
        nr_pages = 1 << allocation.order
        for frame in range(allocation.pfn, allocation.pfn + nr_pages):
            del self._large_of_pfn[frame]
        self.nr_large_kmalloc_pages -= nr_pages
        free_kernel_pages(self.init_mm.pgdat, allocation.pfn, allocation.order)

    def _discard_slab(self, cache: KmemCache, slab: Slab) -> None:
        nr_pages = 1 << slab.order
        del cache.slabs[slab.pfn]
        cache.partial.pop(slab.pfn, None)
        for frame in range(slab.pfn, slab.pfn + nr_pages):
            del self._slab_of_pfn[frame]
        self.nr_slab_pages -= nr_pages
        if cache.reclaimable:
            self.nr_slab_reclaimable_pages -= nr_pages
        free_kernel_pages(self.init_mm.pgdat, slab.pfn, slab.order)

    def _explain_bad_free(self, addr: int) -> str:
        """Why *addr* cannot be freed, in the words of SLUB's free checks."""
        pfn = (addr - PAGE_OFFSET) >> PAGE_SHIFT
        if addr < PAGE_OFFSET or pfn >= self.init_mm.nr_lowmem_frames:
            return f"0x{addr:08x} is not a direct-map address: kmalloc never returned it"
        if pfn in self._slab_of_pfn:
            cache, slab = self._slab_of_pfn[pfn]
            offset = addr - PAGE_OFFSET - (slab.pfn << PAGE_SHIFT)
            start = addr - offset % cache.object_size
            if offset % cache.object_size:
                return (
                    f"0x{addr:08x} points inside the object at 0x{start:08x} of {cache.name} "
                    "(an interior pointer)"
                )
            return f"0x{addr:08x} is a free object of {cache.name} (double free?)"
        if pfn in self._large_of_pfn:
            return (
                f"0x{addr:08x} points inside the large kmalloc at "
                f"0x{self._large_of_pfn[pfn]:08x} (an interior pointer)"
            )
        return f"0x{addr:08x} is not a kmalloc object (never allocated, or freed already)"

    # ---- queries ---------------------------------------------------------------------------------
    def ksize(self, addr: int) -> int:
        """ksize(): the bytes usable at a live object (its cache's object size)."""
        allocation = self._objects.get(addr)
        if allocation is not None:
            return allocation.object_size
        if addr not in self._cache_objects:
            raise InvalidArgument("addr", self._explain_bad_free(addr), "a live kmalloc address")
        cache, _slab = self._slab_of_pfn[(addr - PAGE_OFFSET) >> PAGE_SHIFT]
        return cache.object_size

    def allocations(self, owner: int | None = None) -> list[KmallocAllocation]:
        """Live kmallocs and cache objects (of *owner*, or all), by address."""
        addrs = sorted(
            [*self._objects, *self._cache_objects]
            if owner is None
            else self._by_owner.get(owner, {})
        )
        return [self._allocation_at(addr) for addr in addrs]

    def _allocation_at(self, addr: int) -> KmallocAllocation:
        allocation = self._objects.get(addr)
        if allocation is not None:
            return allocation
        return self._record_of(addr, None, self._cache_objects[addr])

    def release_owner(self, owner: int) -> int:
        """Free everything *owner* holds (its session ended, like a module unload); return how many."""
        addrs = sorted(self._by_owner.get(owner, {}))
        for addr in addrs:
            self.kfree(addr)
        return len(addrs)

    def caches(self) -> list[SlabCacheInfo]:
        """The /proc/slabinfo rows, in its order: the newest cache first (the named caches, newest
        first, then dma-kmalloc-8k ... kmalloc-8)."""
        rows = []
        for caches in (list(self._named.values()), self._caches[Gfp.DMA], self._caches[Gfp.KERNEL]):
            for cache in reversed(caches):
                rows.append(
                    SlabCacheInfo(
                        name=cache.name,
                        active_objs=cache.active_objs,
                        num_objs=cache.num_objs,
                        objsize=cache.object_size,
                        objperslab=cache.objs_per_slab,
                        pagesperslab=1 << cache.order,
                        active_slabs=len(cache.slabs),
                        num_slabs=len(cache.slabs),
                    )
                )
        return rows

    def slabinfo(self) -> str:
        """/proc/slabinfo, version 2.1 (SLUB has no tunables: they print as 0)."""
        lines = [
            "slabinfo - version: 2.1",
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
            " : tunables <limit> <batchcount> <sharedfactor>"
            " : slabdata <active_slabs> <num_slabs> <sharedavail>",
        ]
        for row in self.caches():
            lines.append(
                f"{row.name:<17s} {row.active_objs:6d} {row.num_objs:6d} {row.objsize:6d} "
                f"{row.objperslab:4d} {row.pagesperslab:4d} : tunables {0:4d} {0:4d} {0:4d} "
                f": slabdata {row.active_slabs:6d} {row.num_slabs:6d} {0:6d}"
            )
        return "\n".join(lines) + "\n"

    def check_invariants(self) -> None:
        """Raise KernelBug unless slabs, objects, page flags and counters agree."""
        physmem = self.init_mm.physmem
        nr_slab_pages = 0
        inuse_by_slab: dict[int, int] = {}
        slab_object_pfns = [
            allocation.pfn for allocation in self._objects.values() if allocation.cache is not None
        ]
        slab_object_pfns += [(addr - PAGE_OFFSET) >> PAGE_SHIFT for addr in self._cache_objects]
        for pfn in slab_object_pfns:
            _cache, slab = self._slab_of_pfn[pfn]
            inuse_by_slab[slab.pfn] = inuse_by_slab.get(slab.pfn, 0) + 1
        if self._objects.keys() & self._cache_objects.keys():
            raise KernelBug("an object is both a kmalloc and a cache object")
        nr_reclaimable_pages = 0
        for caches in (*self._caches.values(), list(self._named.values())):
            for cache in caches:
                for pfn, slab in cache.slabs.items():
                    nr_slab_pages += 1 << slab.order
                    nr_reclaimable_pages += (1 << slab.order) if cache.reclaimable else 0
                    if slab.inuse + len(slab.freelist) != slab.nr_objects or slab.inuse == 0:
                        raise KernelBug(f"{cache.name}: slab {pfn} counts do not add up")
                    if inuse_by_slab.get(pfn, 0) != slab.inuse:
                        raise KernelBug(f"{cache.name}: slab {pfn} inuse {slab.inuse} is wrong")
                    if (pfn in cache.partial) != bool(slab.freelist):
                        raise KernelBug(f"{cache.name}: slab {pfn} partial list state is wrong")
                    if not physmem.test_flags(pfn, PageFlag.SLAB):
                        raise KernelBug(f"{cache.name}: slab {pfn} is not flagged SLAB")
        if nr_slab_pages != self.nr_slab_pages:
            raise KernelBug(f"slabs hold {nr_slab_pages} pages, counter {self.nr_slab_pages}")
        if nr_reclaimable_pages != self.nr_slab_reclaimable_pages:
            raise KernelBug(f"reclaimable slabs hold {nr_reclaimable_pages} pages, counter wrong")
        if len(self._large_of_pfn) != self.nr_large_kmalloc_pages:
            raise KernelBug("large kmalloc page count is wrong")
