"""Exercises on the kernel's allocators, answered by the kernel's own code.

buddy: mm/page_alloc.c's buddy allocator (page_alloc.PageAllocator) on a small free range;
zone: the zonelist walk and watermarks of get_page_from_freelist;
kmap: __va, kmap, kmap_atomic and vmalloc addresses (mm/highmem.c, mm/vmalloc.c);
oom: vm.overcommit_memory accounting (mm/util.c) and the OOM killer's victim (mm/oom_kill.c).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from contextlib import closing

from vmsim_kernel import (
    PAGE_OFFSET,
    PAGE_SIZE,
    Gfp,
    KernelBug,
    Machine,
    MachineConfig,
    MiB,
    OutOfMemory,
    OvercommitMode,
)
from vmsim_kernel.arch.x86.constants import FIXADDR_TOP, PKMAP_BASE
from vmsim_kernel.mm.highmem import KM_TYPE_NR
from vmsim_kernel.mm.page_alloc import PageAllocator, WatermarkLevel
from vmsim_kernel.mm.physmem import PhysicalMemory

from .exercise import ANON, RW, Item, Question, item_ids, prompt_lines, register

__all__ = ["buddy_question", "kmap_question", "oom_question", "zone_question"]

NR_SHOWN_ORDERS = 7


def _free_lists(allocator: PageAllocator) -> str:
    zone = allocator.zones[0]
    return "\n".join(
        f"  free_area[{order}]: "
        + (" ".join(str(pfn) for pfn in zone.free_area[order].free_list) or "-")
        for order in range(NR_SHOWN_ORDERS)
    )


def _counts(allocator: PageAllocator) -> str:
    zone = allocator.zones[0]
    return " ".join(str(zone.free_area[order].nr_free) for order in range(NR_SHOWN_ORDERS))


@register(
    "buddy",
    "buddy allocator: which block each allocation gets, and the free counts (buddyinfo) after",
    "a page frame number per allocation; free blocks of orders 0..6 as 7 numbers",
)
def buddy_question(rng: random.Random, number: int) -> Question:
    """A zone whose only free memory is a small window; allocations and frees on it."""
    nr_frames = 1024
    size = rng.choice((32, 48, 64))
    start = rng.randrange(64, nr_frames - 128, 8)
    allocator = PageAllocator(
        PhysicalMemory(nr_frames), [(0, start), (start + size, nr_frames)], min_free_kbytes=128
    )
    zone = allocator.zones[0]
    before = _free_lists(allocator)
    live: list[tuple[int, int]] = []
    steps: list[tuple[str, int, int | None]] = []  # ("alloc"/"free", order, pfn)
    freed: int
    for _ in range(rng.randint(5, 7)):
        if live and rng.random() < 0.35:
            freed, order = live.pop(rng.randrange(len(live)))
            allocator.free_pages(freed, order)
            steps.append(("free", order, freed))
            continue
        order = rng.choice((0, 0, 1, 1, 2, 3))
        got = allocator.allocate_pages(zone, order)
        if got is not None:
            live.append((got, order))
        steps.append(("alloc", order, got))
    allocations = [step for step in steps if step[0] == "alloc"]
    ids = item_ids(number, len(allocations) + 1)
    items, lines, working = [], [], []
    next_id = iter(ids)
    for action, order, pfn in steps:
        if action == "free" and pfn is not None:
            lines.append(f"  free_pages(pfn {pfn}, order {order})")
            working.append(f"free pfn {pfn} order {order}")
            continue
        item_id = next(next_id)
        answer = "none" if pfn is None else str(pfn)
        items.append(Item(item_id, f"alloc_pages(order {order})", answer))
        lines.append(f"  {item_id}) alloc_pages(order {order}) -> pfn ?")
        working.append(f"{item_id}) order {order} -> {answer}")
    final_id = next(next_id)
    items.append(
        Item(final_id, f"free blocks of orders 0..{NR_SHOWN_ORDERS - 1}", _counts(allocator))
    )
    working.append(f"{final_id}) free lists at the end:\n{_free_lists(allocator)}")
    text = (
        f"A zone's only free memory is pfns {start}..{start + size - 1}. Its free lists "
        "(a block's first pfn; the LAST block listed is taken first, a freed or split-off "
        "block is appended):\n"
        f"{before}\n"
        "alloc_pages takes the smallest free block of at least the order and splits it, "
        "keeping the lower half; free_pages merges with a free buddy. The calls, in order:\n"
        + "\n".join(lines)
        + f"\n  {final_id}) the free block counts of orders 0..{NR_SHOWN_ORDERS - 1} at the end"
        " (like a /proc/buddyinfo line)?\n"
        "Answer 'none' for an allocation that fails."
    )
    return Question("buddy", number, text, tuple(items), "\n".join(working))


# ---- zones and watermarks -----------------------------------------------------------------------
_ZONEINFO_KEEP = re.compile(r"^(Node \d+, zone|\s+pages free|\s+(min|low|high)\s|\s+protection)")
_REQUESTS = (
    ("GFP_HIGHUSER", Gfp.HIGHUSER),
    ("GFP_KERNEL", Gfp.KERNEL),
    ("GFP_ATOMIC", Gfp.ATOMIC),
    ("GFP_DMA", Gfp.DMA),
)


@register(
    "zone",
    "zone choice: which zone the fast path takes for an allocation, given free pages and watermarks",
    "a zone name (DMA, Normal, HighMem) or 'none' when the fast path fails",
)
def zone_question(rng: random.Random, number: int) -> Question:
    """Drain each zone to near one of its watermarks, then ask where allocations go."""
    with closing(Machine(MachineConfig(ram_bytes=1024 * MiB, swap_bytes=0))) as machine:
        allocator = machine.kernel.allocator
        for zone in allocator.zones:
            if zone.is_empty:
                continue
            mark = rng.choice((zone.watermark_min, zone.watermark_low, zone.watermark_high))
            target = max(0, mark + rng.randint(-3, 3))
            for order in (10, 0):
                while zone.nr_free_pages - (1 << order) >= target:
                    if allocator.allocate_pages(zone, order) is None:
                        break
        allocator.drain_all_pages()  # boot's pages on the per-cpu lists: free, as shown
        zoneinfo = "\n".join(
            line for line in machine.report("zoneinfo").splitlines() if _ZONEINFO_KEEP.match(line)
        )
        requests = rng.sample(_REQUESTS, 3)
        ids = item_ids(number, len(requests))
        items, working = [], []
        for item_id, (name, gfp) in zip(ids, requests, strict=True):
            order = rng.choice((0, 0, 1, 3))
            pfn = allocator.get_page_from_freelist(gfp, order, WatermarkLevel.LOW)
            if pfn is None:
                answer = "none"
                why = "no zone of its zonelist passes the low watermark: wake kswapd, slow path"
            else:
                zone = allocator.zone_of(pfn)
                answer = zone.name
                why = f"the first zone of the zonelist that passes: {zone.name} (pfn {pfn})"
                allocator.free_unref_page(pfn, order)
            allocator.drain_all_pages()  # a refill's other pages back: the next item sees this state
            items.append(Item(item_id, f"{name}, order {order}", answer))
            working.append(f"{item_id}) {name} order {order}: {why}")
    text = (
        "A 1 GiB machine's zones (from /proc/zoneinfo, in pages):\n"
        f"{zoneinfo}\n"
        "Each allocation below is tried alone on this state, on the fast path (the low "
        "watermark). Which zone serves it ('none' if no zone may)?\n" + prompt_lines(items)
    )
    return Question("zone", number, text, tuple(items), "\n".join(working))


# ---- kernel addresses ---------------------------------------------------------------------------
@register(
    "kmap",
    "kernel virtual addresses: __va, kmap of low and high pages, kmap_atomic, vmalloc",
    "a kernel virtual address such as 0xc1234000",
)
def kmap_question(rng: random.Random, number: int) -> Question:
    """Calls on a fresh 1 GiB machine; the kernel says where each mapping lands."""
    nr_cpus = rng.choice((1, 2, 4))
    with closing(
        Machine(MachineConfig(ram_bytes=1024 * MiB, swap_bytes=0, nr_cpus=nr_cpus))
    ) as machine:
        low_frames = machine.nr_lowmem_frames
        nr_frames = machine.config.nr_frames
        low_paddr = rng.randrange(0, low_frames * PAGE_SIZE, 4)
        low_pfn = rng.randrange(low_frames)
        high_pfns = rng.sample(range(low_frames, nr_frames), 2)
        cpu = rng.randrange(nr_cpus)
        sizes = [rng.choice((1, 2, 3, 5)) * PAGE_SIZE - rng.randrange(0, 100) for _ in range(2)]
        vmalloc_start = machine.vmalloc_start
        boot_areas = machine.report("vmallocinfo").splitlines()  # the initcalls' areas
        calls = [
            (f"__va(0x{low_paddr:08x})", machine.va(low_paddr)),
            (f"kmap(page of pfn {low_pfn})", machine.kmap(low_pfn)),
            (f"kmap(page of pfn {high_pfns[0]})", machine.kmap(high_pfns[0])),
            (
                f"kmap_atomic(page of pfn {high_pfns[1]}) on CPU {cpu}",
                machine.kmap_atomic(high_pfns[1], cpu),
            ),
            (f"vmalloc({sizes[0]})", machine.vmalloc(sizes[0])),
            (f"vmalloc({sizes[1]})", machine.vmalloc(sizes[1])),
        ]
    ids = item_ids(number, len(calls))
    items = [
        Item(item_id, what, f"0x{address:08x}" if address is not None else "none")
        for item_id, (what, address) in zip(ids, calls, strict=True)
    ]
    text = (
        f"A freshly booted 32-bit x86 Linux with 1 GiB of RAM and {nr_cpus} CPU(s):\n"
        f"  PAGE_OFFSET 0x{PAGE_OFFSET:08x}; low memory is pfns 0..{low_frames - 1} "
        f"(high_memory 0x{PAGE_OFFSET + low_frames * PAGE_SIZE:08x})\n"
        f"  VMALLOC_START 0x{vmalloc_start:08x} (high_memory + 8 MiB); each vmalloc area is "
        "followed by one guard page; areas are placed first fit from VMALLOC_START, "
        "around the ones boot left (/proc/vmallocinfo):\n"
        + "".join(f"    {line}\n" for line in boot_areas)
        + f"  PKMAP_BASE 0x{PKMAP_BASE:08x}: 1024 kmap slots, the first kmap on this machine "
        "takes slot 1 (last_pkmap_nr starts at 0 and is advanced before use)\n"
        f"  fixmap: FIXADDR_TOP 0x{FIXADDR_TOP:08x}; kmap_atomic slot idx = type + "
        f"{KM_TYPE_NR} * cpu (type 0 for a first, unnested kmap_atomic) sits at "
        "FIXADDR_TOP - idx * 4096\n"
        "The kernel makes these calls in order. What does each return?\n" + prompt_lines(items)
    )
    working = (
        "\n".join(f"{item.id}) {item.prompt} = {item.answer}" for item in items)
        + "\n(low pages are direct-mapped: __va(p) = p + PAGE_OFFSET; high pages need a pkmap or fixmap slot)"
    )
    return Question("kmap", number, text, tuple(items), working)


# ---- overcommit and the OOM killer -------------------------------------------------------------
FIRST_MAPPING_MIB = (2, 4, 6)


def _first_mapping_mib(machine: Machine, drawn_mib: int) -> int:
    """The drawn size of part 1's first mapping, or the largest that still fits CommitLimit.

    A small machine with a low overcommit_ratio (16 MiB, ratio 25, no swap: CommitLimit
    3.6 MiB) cannot commit 4 or 6 MiB, and the question must exist for every seed. Keeping
    the drawn size whenever it fits leaves every question that was generable unchanged.
    """
    meminfo = machine.meminfo()
    headroom_kib = meminfo["CommitLimit"] - meminfo["Committed_AS"]
    fitting = [mib for mib in FIRST_MAPPING_MIB if mib * 1024 <= headroom_kib]
    if not fitting:
        raise KernelBug(f"oom question: CommitLimit leaves {headroom_kib} kB, under 2 MiB")
    return drawn_mib if drawn_mib in fitting else fitting[-1]


@register(
    "oom",
    "overcommit (vm.overcommit_memory=2) and the OOM killer's victim and oom_score",
    "yes/no for an mmap; a number for CommitLimit and oom_score; a pid for the victim",
)
def oom_question(rng: random.Random, number: int) -> Question:
    """Strict overcommit on one machine; then processes of known size and who the OOM killer picks."""
    ids = item_ids(number, 2 + 2 + 4)
    overcommit_items, overcommit_working, overcommit_text = _overcommit_part(rng, ids[:2])
    oom_items, oom_working, oom_text = _oom_killer_part(rng, ids[2:6])
    return Question(
        "oom",
        number,
        f"{overcommit_text}\n{oom_text}",
        overcommit_items + oom_items,
        f"{overcommit_working}\n{oom_working}",
    )


def _overcommit_part(rng: random.Random, ids: Sequence[str]) -> tuple[tuple[Item, ...], str, str]:
    """Part 1 as (items, working, text): CommitLimit under vm.overcommit_memory=2, and
    whether one more mmap is refused."""
    ratio = rng.choice((25, 50, 80, 100))
    ram_mib, swap_mib = rng.choice((16, 32)), rng.choice((0, 8, 16))
    request_mib = rng.choice((4, 8, 12, 16, 24))
    with closing(
        Machine(
            MachineConfig(
                ram_bytes=ram_mib * MiB,
                swap_bytes=swap_mib * MiB,
                overcommit_memory=OvercommitMode.NEVER,
                overcommit_ratio=ratio,
            )
        )
    ) as machine:
        pid = machine.spawn("first")
        first_mib = _first_mapping_mib(machine, rng.choice(FIRST_MAPPING_MIB))
        machine.mmap(pid, 0, first_mib * MiB, RW, ANON)
        meminfo = machine.meminfo()
        try:
            machine.mmap(pid, 0, request_mib * MiB, RW, ANON)
            allowed = "yes"
        except OutOfMemory:
            allowed = "no"
    items = (
        Item(ids[0], "CommitLimit in kB", str(meminfo["CommitLimit"])),
        Item(ids[1], f"does a further {request_mib} MiB private writable mmap succeed", allowed),
    )
    working = (
        f"{ids[0]}) CommitLimit = SwapTotal + MemTotal * {ratio} / 100 = {meminfo['CommitLimit']} kB\n"
        f"{ids[1]}) Committed_AS {meminfo['Committed_AS']} kB + {request_mib * 1024} kB against "
        f"CommitLimit {meminfo['CommitLimit']} kB -> {allowed}"
    )
    text = (
        f"Part 1. vm.overcommit_memory=2, vm.overcommit_ratio={ratio}. MemTotal {meminfo['MemTotal']} kB, "
        f"SwapTotal {meminfo['SwapTotal']} kB, Committed_AS {meminfo['Committed_AS']} kB "
        f"(a process holds a {first_mib} MiB private writable mapping).\n"
        + prompt_lines(items, "?")
    )
    return items, working, text


def _oom_killer_part(rng: random.Random, ids: Sequence[str]) -> tuple[tuple[Item, ...], str, str]:
    """Part 2 as (items, working, text): three processes' oom_score and the OOM killer's
    victim on a 32 MiB machine without swap."""
    with closing(Machine(MachineConfig(ram_bytes=32 * MiB, swap_bytes=0))) as machine:
        rows = []
        for name in ("alpha", "beta", "gamma"):
            adj = rng.choice((0, 0, 0, -500, 300, 800))
            pid = machine.spawn(name, oom_score_adj=adj)
            pages = rng.randint(8, 400)
            base = machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON)
            machine.touch_many(pid, [base + page * PAGE_SIZE for page in range(pages)], write=True)
            rows.append(pid)
        infos = [machine.process(pid) for pid in rows]
        totalpages = machine.oom_totalpages
        machine.out_of_memory()
        killed = [info.pid for info in infos if machine.process(info.pid).killed_by is not None]
    victim = str(killed[0]) if killed else "none"
    table = "\n".join(
        f"  pid {info.pid} {info.name:<6} rss {info.vm_rss // PAGE_SIZE:4d} pages, swap "
        f"{info.vm_swap // PAGE_SIZE} pages, page tables {info.vm_pte // PAGE_SIZE} pages, "
        f"oom_score_adj {info.oom_score_adj}"
        for info in infos
    )
    items = (
        *(
            Item(item_id, f"/proc/{info.pid}/oom_score", str(info.oom_score))
            for item_id, info in zip(ids[:3], infos, strict=True)
        ),
        Item(ids[3], "the pid the OOM killer kills", victim),
    )
    working = (
        "\n".join(
            f"{item_id}) badness = rss + swap + page tables + adj * totalpages / 1000 for pid "
            f"{info.pid}; oom_score = {info.oom_score}"
            for item_id, info in zip(ids[:3], infos, strict=True)
        )
        + f"\n{ids[3]}) the highest badness: pid {victim}"
    )
    text = (
        f"Part 2. Memory runs out on a machine with totalpages = {totalpages} (RAM + swap pages). "
        f"Its processes:\n{table}\n"
        "oom_score = 1000 + badness * 1000 / totalpages, clamped to 0..2000, where badness = "
        "rss + swap + page-table pages + oom_score_adj * totalpages / 1000.\n"
        + prompt_lines(items, "?")
    )
    return items, working, text
