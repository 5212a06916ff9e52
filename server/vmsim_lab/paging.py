"""Exercises on segmentation and demand paging, answered by the kernel's own walk.

segment: logical -> linear through a GDT (segmentation.py), then the page walk;
lazy: lazy allocation and fault counting for an access script (mm/memory.c via memory.py).
"""

from __future__ import annotations

import random
from contextlib import closing

from vmsim_kernel import (
    MAP_FIXED,
    PAGE_SIZE,
    Machine,
    MachineConfig,
    MiB,
    Translation,
)
from vmsim_kernel.arch.x86.constants import PGDIR_SHIFT
from vmsim_kernel.arch.x86.segmentation import (
    GDT_ENTRY_USER_DS,
    Gdt,
    GeneralProtectionFault,
    SegmentRegister,
    gdt_entry_init,
    linux_gdt,
)

from .exercise import ANON, RW, Item, Question, item_ids, prompt_lines, register
from .translate import Walk

__all__ = ["lazy_question", "segment_question"]


def _machine(rng: random.Random, ram_mib: int = 16) -> Machine:
    return Machine(
        MachineConfig(ram_bytes=ram_mib * MiB, swap_bytes=0, seed=rng.randrange(1 << 16))
    )


def _map_fixed(machine: Machine, pid: int, start: int, nr_pages: int) -> None:
    """mmap(start, nr_pages pages, rw, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED)."""
    machine.mmap(
        pid,
        start,
        nr_pages * PAGE_SIZE,
        RW,
        ANON | MAP_FIXED,
    )


def _walk(translation: Translation) -> Walk:
    """The kernel's walk as the translate exercise reads one (its answer and working)."""
    return Walk(
        translation.linear,
        translation.pde_address,
        translation.pde,
        translation.pte_address,
        translation.pte,
        translation.physical,
        translation.fault,
    )


# ---- segmentation -------------------------------------------------------------------------------
_CUSTOM_SEGMENTS = (
    # (what, flags for gdt_entry_init): G=0 byte limits, D=1, P=1, S=1
    ("data, read/write, DPL 3", 0x40F2),
    ("data, read-only, DPL 3", 0x40F0),
    ("data, read/write, DPL 0", 0x4092),
    ("code, execute/read, DPL 3", 0x40FA),
)
_FIRST_CUSTOM = GDT_ENTRY_USER_DS + 1  # the custom entries follow Linux's __USER_DS


@register(
    "segment",
    "logical -> linear -> physical through the GDT (base, limit, DPL, type) and the page tables",
    "a linear or physical address (0x...), or 'fault'",
)
def segment_question(rng: random.Random, number: int) -> Question:
    """Four GDT entries beside Linux's flat ones; three accesses at CPL 3."""
    with closing(_machine(rng)) as machine:
        pid = machine.spawn("student")
        nr_pages = 8
        region = (rng.randrange(0x040, 0x2F0) << PGDIR_SHIFT) + rng.randrange(0, 512) * PAGE_SIZE
        _map_fixed(machine, pid, region, nr_pages)
        for page in range(nr_pages):
            machine.touch(pid, region + page * PAGE_SIZE, write=True)
        end = region + nr_pages * PAGE_SIZE
        gdt = _custom_gdt(rng, region, end)
        accesses = [_segment_access(rng, gdt, region, end) for _ in range(3)]
        ids = item_ids(number, 2 * len(accesses))
        items, working, prompts = [], [], []
        for position, access in enumerate(accesses):
            linear_id, physical_id = ids[2 * position], ids[2 * position + 1]
            selector, offset, write = access
            what = "write" if write else "read"
            prompts.append(
                f"  {what} at 0x{selector:04x}:0x{offset:08x}: {linear_id}) linear  {physical_id}) physical"
            )
            linear, physical, why = _segment_answers(machine, pid, gdt, access, physical_id)
            items += [
                Item(
                    linear_id,
                    f"linear address of the {what} at 0x{selector:04x}:0x{offset:08x}",
                    linear,
                ),
                Item(physical_id, "its physical address", physical),
            ]
            working.append(f"{linear_id}) {why}")
        gdt_lines = [
            f"  [{index:2d}] 0x{gdt.descriptor(index).raw:016x}"
            for index in range(12, _FIRST_CUSTOM + len(_CUSTOM_SEGMENTS))
        ]
        page_lines = [
            f"  linear page 0x{va:08x} -> frame 0x{walk.physical:08x}"
            for va in range(region, end, PAGE_SIZE)
            if (walk := machine.translate(pid, va)).physical is not None
        ]
    text = (
        "A user-mode (CPL 3) process loads each selector into DS and makes one access.\n"
        "GDT (8-byte descriptors; base = bits 16-39 and 56-63, limit = bits 0-15 and 48-51, "
        "type = bits 40-43, S = bit 44, DPL = bits 45-46, P = bit 47, G = bit 55):\n"
        + "\n".join(gdt_lines)
        + "\nThe process's present pages (every other linear page faults):\n"
        + "\n".join(page_lines)
        + "\nFor each access give the linear and the physical address, or 'fault':\n"
        + "\n".join(prompts)
    )
    return Question("segment", number, text, tuple(items), "\n".join(working))


def _custom_gdt(rng: random.Random, region: int, end: int) -> Gdt:
    """Linux's GDT entries 12-15 and, after them, one of each _CUSTOM_SEGMENTS whose base
    and limit cover most of the mapped region [region, end)."""
    gdt = Gdt({index: linux_gdt().descriptor(index) for index in range(12, 16)})
    for offset, (_, flags) in enumerate(_CUSTOM_SEGMENTS):
        base = region - rng.randrange(0, 4) * PAGE_SIZE - rng.randrange(0, 0x1000, 0x10)
        limit = end - base - 1 - rng.randrange(0, 3) * PAGE_SIZE
        gdt.set_descriptor(_FIRST_CUSTOM + offset, gdt_entry_init(flags, base, limit))
    return gdt


def _segment_access(rng: random.Random, gdt: Gdt, region: int, end: int) -> tuple[int, int, bool]:
    """One access as (selector with RPL 3, offset, write): mostly through a custom segment,
    at an offset that may pass its limit; sometimes through __USER_DS into the region."""
    index = _FIRST_CUSTOM + rng.randrange(len(_CUSTOM_SEGMENTS))
    if rng.random() < 0.2:
        index = GDT_ENTRY_USER_DS
    descriptor = gdt.descriptor(index)
    offset = (
        region - descriptor.base + rng.randrange(end - region)
        if index == GDT_ENTRY_USER_DS
        else rng.randrange(max(1, end - descriptor.base + 0x800))
    )
    return index * 8 + 3, offset, rng.random() < 0.4


def _segment_answers(
    machine: Machine, pid: int, gdt: Gdt, access: tuple[int, int, bool], physical_id: str
) -> tuple[str, str, str]:
    """(linear answer, physical answer, the working from the selector on) for one access."""
    selector, offset, write = access
    try:
        segment = gdt.logical_to_linear(
            selector, offset, 3, register=SegmentRegister.DS, write=write
        )
    except GeneralProtectionFault as fault:
        return "fault", "fault", f"{fault} -> no linear address, no physical address"
    descriptor = segment.descriptor
    walk = _walk(machine.translate(pid, segment.linear))
    physical, why = walk.user_access(write)
    working = (
        f"selector 0x{selector:04x}: index {segment.index}, TI {segment.ti}, "
        f"RPL {segment.rpl}; descriptor 0x{descriptor.raw:016x}: base 0x{descriptor.base:08x}, "
        f"limit 0x{descriptor.effective_limit:x}, DPL {descriptor.dpl}, {descriptor.kind}; "
        f"linear = base + offset = 0x{segment.linear:08x}\n"
        f"{physical_id}) {walk.text()}\n  -> {why}"
    )
    return f"0x{segment.linear:08x}", physical, working


# ---- lazy allocation ----------------------------------------------------------------------------
@register(
    "lazy",
    "lazy allocation: which accesses of a script fault (hit, minor, major), faults and RSS",
    "hit, minor or major per access; numbers for the totals",
)
def lazy_question(rng: random.Random, number: int) -> Question:
    """mmap a private anonymous region, run a read/write script, count what the kernel did."""
    with closing(_machine(rng, 32)) as machine:
        pid = machine.spawn("student")
        nr_pages = rng.randint(4, 8)
        base = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
        before = machine.process(pid)
        script = [(rng.randrange(nr_pages), rng.random() < 0.5) for _ in range(rng.randint(6, 9))]
        ids = item_ids(number, len(script) + 2)
        items, working = [], []
        for item_id, (page, write) in zip(ids[:-2], script, strict=True):
            outcome = machine.touch(pid, base + page * PAGE_SIZE, write=write)
            after = machine.process(pid)
            what = "write" if write else "read"
            items.append(Item(item_id, f"{what} page {page}", outcome.name.lower()))
            working.append(
                f"{item_id}) {what} page {page}: {outcome.name.lower()}; "
                f"minor faults so far {after.minor_faults - before.minor_faults}, "
                f"VmRSS {after.vm_rss // PAGE_SIZE} pages"
            )
        final = machine.process(pid)
        minor = final.minor_faults - before.minor_faults
        rss_pages = (final.vm_rss - before.vm_rss) // PAGE_SIZE
        items.append(Item(ids[-2], "minor faults in all", str(minor)))
        items.append(
            Item(ids[-1], "resident pages of the region at the end (VmRSS)", str(rss_pages))
        )
        working.append(f"{ids[-2]}) {minor} minor faults\n{ids[-1]}) {rss_pages} pages resident")
    lines = [
        f"A process maps {nr_pages} pages with mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)"
        " and nothing else happens on the machine (plenty of free RAM, no swap).",
        "Then it runs this script; for each access say hit, minor or major:",
        prompt_lines(items[:-2]),
        prompt_lines(items[-2:], "?"),
    ]
    return Question("lazy", number, "\n".join(lines), tuple(items), "\n".join(working))
