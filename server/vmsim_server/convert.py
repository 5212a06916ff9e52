"""Kernel result values -> vmsim.v1 messages (one function per kind of value).

The field-by-field copies are generated from the protos (generated/messages.py, see
scripts/wire_records.py): a new field is a .proto edit plus the kernel's attribute of that name.
What stays here is what the proto cannot say: the fields computed from kernel enums or keys,
the readable texts, and call_cost, which is on Touch's hot path and gets a bare tuple.
"""

from __future__ import annotations

from typing import Any

from vmsim_kernel import (
    LOCK_CLASSES,
    CallCost,
    Event,
    EventKind,
    FaultResult,
    Machine,
    ProcessInfo,
    Translation,
    ZoneInfo,
)
from vmsim_kernel.machine import CostNumbers, FrameMap, SegmentTranslation
from vmsim_proto.v1 import common_pb2, inspect_pb2, kernel_pb2

from .generated import messages

__all__ = [
    "EVENT_KIND_TO_PROTO",
    "FAULT_TO_PROTO",
    "call_cost",
    "counters",
    "file_info",
    "format_segment",
    "format_translation",
    "lock_classes",
    "open_file_info",
    "process_status",
    "segment_step",
    "shm_object",
    "translation",
    "vma",
    "watch_event",
    "zone",
    "zone_page_types",
]

FAULT_TO_PROTO = {
    FaultResult.HIT: common_pb2.FAULT_KIND_HIT,
    FaultResult.MINOR: common_pb2.FAULT_KIND_MINOR,
    FaultResult.MAJOR: common_pb2.FAULT_KIND_MAJOR,
}

EVENT_KIND_TO_PROTO: dict[EventKind, Any] = {
    kind: inspect_pb2.EventKind.Value(f"EVENT_KIND_{kind.name}") for kind in EventKind
}


vma = messages.vma
shm_object = messages.shm_object
file_info = messages.file_info
open_file_info = messages.open_file_info
zone = messages.zone
zone_page_types = messages.zone_page_types


def translation(walk: Translation, logical: str = "") -> common_pb2.Translation:
    """A page walk (*logical*: the selector:offset it started from, if any)."""
    return messages.translation(walk, logical=logical)


def _bits(entry: int) -> str:
    names = [
        (0, "P"),
        (1, "RW"),
        (2, "US"),
        (3, "PWT"),
        (4, "PCD"),
        (5, "A"),
        (6, "D"),
        (7, "PS"),
        (8, "G"),
    ]
    return " ".join(name for bit, name in names if entry >> bit & 1) or "-"


def format_translation(walk: Translation) -> str:
    """The walk as a person reads it: linear -> PDE -> PTE -> physical."""
    lines = [
        f"linear   0x{walk.linear:08x}  (PDE index {walk.pde_index}, PTE index {walk.pte_index}, "
        f"offset 0x{walk.linear & 0xFFF:03x})",
        f"CR3      0x{walk.cr3:08x}",
        f"PDE      [0x{walk.pde_address:08x}] = 0x{walk.pde:08x}  {_bits(walk.pde)}",
    ]
    if walk.pte_address is not None and walk.pte is not None:
        lines.append(
            f"PTE      [0x{walk.pte_address:08x}] = 0x{walk.pte:08x}  {_bits(walk.pte) if walk.present else 'not present'}"
        )
    if walk.swap_offset is not None:
        lines.append(f"swap     type {walk.swap_type}, slot {walk.swap_offset}")
    if walk.physical is not None:
        lines.append(f"physical 0x{walk.physical:08x}  (pfn {walk.pfn})")
    if walk.vma is not None:
        lines.append(
            f"vma      {walk.vma.start:08x}-{walk.vma.end:08x} {walk.vma.perms} {walk.vma.name}".rstrip()
        )
    if walk.fault:
        lines.append(f"fault    {walk.fault}")
    return "\n".join(lines) + "\n"


def process_status(info: ProcessInfo) -> common_pb2.ProcessStatus:
    """One process's status ("R"/"Z" for its state, the signal's name for killed_by)."""
    killed_by = None if info.killed_by is None else info.killed_by.name
    return messages.process_status(info, state=info.state.value, killed_by=killed_by)


def counters(values: dict[str, int], unit: str) -> list[common_pb2.Counter]:
    """Named counters."""
    return [
        common_pb2.Counter(name=name, value=max(0, value), unit=unit)
        for name, value in values.items()
    ]


def frame_map(frames: FrameMap, zones: list[ZoneInfo]) -> inspect_pb2.GetFrameMapResponse:
    """The per-frame use/owner/flags arrays, packed."""
    return inspect_pb2.GetFrameMapResponse(
        nr_frames=len(frames.uses),
        uses=frames.uses.tobytes(),
        pids=frames.pids.tolist(),
        flags=frames.flags.tolist(),
        zones=[zone(z) for z in zones],
        mapcounts=frames.mapcounts.tolist(),
    )


def watch_event(event: Event, dropped: int) -> inspect_pb2.WatchEventsResponse:
    """One event of the feed, with the count the watcher lost before it."""
    return messages.watch_event(event, kind=EVENT_KIND_TO_PROTO[event.kind], dropped=dropped)


def swap_area(row: dict[str, str | int]) -> inspect_pb2.SwapArea:
    """One /proc/swaps row (Machine.swaps) as its message."""
    return inspect_pb2.SwapArea(
        filename=str(row["filename"]),
        type=str(row["type"]),
        size_kb=int(row["size_kb"]),
        used_kb=int(row["used_kb"]),
        priority=int(row["priority"]),
    )


def call_cost(cost: CallCost | CostNumbers) -> common_pb2.CallCost:
    """A call's simulated cost (a CallCost, or its fields as plain numbers).

    Written by hand: the scheduler hands Touch's cost over as a bare tuple, which a
    generated converter reading attributes cannot take.
    """
    if isinstance(cost, CallCost):
        cost = (cost.total_ns, cost.user_ns, cost.system_ns, cost.iowait_ns, cost.lock_wait_ns)
    total, user, system, iowait, wait = cost
    return common_pb2.CallCost(
        total_ns=total, user_ns=user, system_ns=system, iowait_ns=iowait, lock_wait_ns=wait
    )


def lock_classes(machine: Machine) -> list[inspect_pb2.LockClass]:
    """The lock_stat rows, with each class's waiting discipline."""
    kinds = {LOCK_CLASSES[c][0]: kind.value for c, kind in machine.locks.kinds.items()}
    return [
        messages.lock_class(
            s, name=name, kind=kinds.get(name.removesuffix("-R").removesuffix("-W"), "")
        )
        for name, s in machine.locks.stats().items()
    ]


def segment_step(segment: SegmentTranslation) -> kernel_pb2.SegmentStep:
    """The segmentation step of a logical address (the descriptor's fields as the CPU reads them)."""
    descriptor = segment.descriptor
    return messages.segment_step(
        segment,
        descriptor=segment.descriptor_raw,
        base=descriptor.base,
        limit=descriptor.effective_limit,
        dpl=descriptor.dpl,
    )


def format_segment(segment: SegmentTranslation) -> str:
    """logical -> linear, as a person reads it."""
    descriptor = segment.descriptor
    return (
        f"logical  0x{segment.selector:04x}:0x{segment.offset:08x}  (GDT index {segment.index}"
        f"{' ' + segment.name if segment.name else ''}, RPL {segment.rpl}, CPL {segment.cpl})\n"
        f"segment  descriptor 0x{segment.descriptor_raw:016x}: base 0x{descriptor.base:08x}, "
        f"limit 0x{descriptor.effective_limit:08x}, DPL {descriptor.dpl}\n"
    )
