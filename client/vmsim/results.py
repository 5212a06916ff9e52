"""What the client hands back: plain dataclasses built from the wire messages (one module for both flavours).

The values mirror what the kernel reports in /proc (fs/proc/meminfo.c, task_mmu.c, array.c).
The records that copy a message field by field (Vma, Translation, ProcessStatus, Zone ...)
and their readers are generated from the protos into generated/records.py (see
scripts/wire_records.py); this module names them and adds the values no message mirrors.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vmsim_proto import replay_results
from vmsim_proto.replay_results import MissRatioCurve, ReplayStep
from vmsim_proto.v1 import common_pb2, inspect_pb2

from .constants import PAGE_SIZE
from .generated import records
from .generated.records import (
    CallCost,
    CpuTimes,
    Event,
    FileInfo,
    LockClass,
    MigrateTypeCount,
    OpenFileInfo,
    ProcessStatus,
    ShmObject,
    SwapArea,
    TouchSummary,
    Translation,
    Vma,
    Zone,
    ZonePageTypes,
)
from .html import html_table

__all__ = [
    "FAULT_KINDS",
    "FRAME_USES",
    "CallCost",
    "CpuTimes",
    "Event",
    "FaultKind",
    "FileInfo",
    "FrameMap",
    "LockClass",
    "MigrateTypeCount",
    "MissRatioCurve",
    "OpenFileInfo",
    "ProcessStatus",
    "ReplayResult",
    "ReplayStep",
    "Report",
    "ShmObject",
    "SwapArea",
    "TouchSummary",
    "Translation",
    "Vma",
    "Zone",
    "ZonePageTypes",
    "call_cost",
    "cpu_times",
    "event",
    "file_info",
    "frame_map",
    "free_kb",
    "lock_class",
    "miss_ratio_curve",
    "open_file_info",
    "process_status",
    "replay_result",
    "report",
    "shm_object",
    "swap_area",
    "touch_summary",
    "translation",
    "translation_of",
    "vma",
    "zone",
    "zone_page_types",
]


class FaultKind(enum.StrEnum):
    """What one access cost (compares equal to its lower-case name)."""

    HIT = "hit"  # the PTE allowed the access: no fault
    MINOR = "minor"  # a zeroed frame (or a swap-cache page) was mapped
    MAJOR = "major"  # the page was read back from the swap device


FAULT_KINDS = {
    common_pb2.FAULT_KIND_HIT: FaultKind.HIT,
    common_pb2.FAULT_KIND_MINOR: FaultKind.MINOR,
    common_pb2.FAULT_KIND_MAJOR: FaultKind.MAJOR,
}


@dataclass(frozen=True)
class Report:
    """A machine report: its values by name and its Linux text."""

    values: dict[str, int]
    text: str

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def _repr_html_(self) -> str:
        return html_table(("name", "value"), self.values.items())


class ReplayResult(replay_results.ReplayResult):
    """A trace replay's outcome (steps only when asked for), shown as a table in a notebook."""

    def _repr_html_(self) -> str:
        caption = (
            f"{self.policy}, {self.frames} frames: {self.hits} hits, {self.misses} misses "
            f"(hit ratio {self.hit_ratio:.3f})"
        )
        if not self.steps:
            return html_table(
                ("references", "hits", "misses", "victims"),
                [(self.references, self.hits, self.misses, " ".join(map(str, self.victims)))],
                caption,
            )
        return html_table(
            ("access", "outcome", "victim", "frames"),
            [
                (
                    step.page,
                    "hit" if step.hit else "miss",
                    "" if step.victim is None else step.victim,
                    step.frames_text(),
                )
                for step in self.steps
            ],
            caption,
        )


touch_summary = records.touch_summary_from_message
vma = records.vma_from_message
translation_of = records.translation_from_message
process_status = records.process_status_from_message
zone = records.zone_from_message
swap_area = records.swap_area_from_message
shm_object = records.shm_object_from_message
file_info = records.file_info_from_message
open_file_info = records.open_file_info_from_message
zone_page_types = records.zone_page_types_from_message
event = records.event_from_message
call_cost = records.call_cost_from_message
lock_class = records.lock_class_from_message
cpu_times = records.cpu_times_from_message


def translation(message: Any) -> Translation:
    """Translation (every walk value plus the readable text) from any translate reply."""
    return translation_of(message.translation, message.text)


def report(message: Any) -> Report:
    """Report from a meminfo/vmstat reply (its Counter entries and text)."""
    return Report({c.name: c.value for c in message.entries}, message.text)


def replay_result(message: inspect_pb2.ReplayResponse) -> ReplayResult:
    """ReplayResult from a Replay reply."""
    return ReplayResult(
        message.policy,
        message.frames,
        message.references,
        message.hits,
        message.misses,
        tuple(message.victims),
        tuple(message.faults_at),
        tuple(
            ReplayStep(
                step.page,
                step.hit,
                step.victim if step.HasField("victim") else None,
                tuple(step.frames),
                tuple(step.order),
                tuple(step.use_bits),
                step.hand,
            )
            for step in message.steps
        ),
    )


def miss_ratio_curve(message: inspect_pb2.GetMissRatioCurveResponse) -> MissRatioCurve:
    """MissRatioCurve from a GetMissRatioCurve reply."""
    return MissRatioCurve(message.references, message.distinct_pages, tuple(message.misses))


FRAME_USES = (
    "",
    "free",
    "user",
    "page_table",
    "kernel",
    "slab",
    "vmalloc",
    "swap_cache",
    "kmalloc",
    "shmem",
    "shared",
    "page_cache",
)


@dataclass(frozen=True)
class FrameMap:
    """Every physical frame's use, owner and page flags (index = pfn).

    Attributes:
        uses: per frame, a name of FRAME_USES ("free", "user", "page_table", "kernel", "slab",
            "vmalloc", "swap_cache", "kmalloc", "shmem", "shared", "page_cache") as its index
            into FRAME_USES.
        pids: per frame, the owning process (0 for none).
        flags: per frame, page->flags.
        zones: the zones, to tell which zone a pfn is in.
        mapcounts: per frame, the PTEs that map it (above 1: shared by processes).
    """

    uses: bytes
    pids: tuple[int, ...]
    flags: tuple[int, ...]
    zones: tuple[Zone, ...]
    mapcounts: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.uses)

    def use(self, pfn: int) -> str:
        """The use of frame *pfn* by name."""
        return FRAME_USES[self.uses[pfn]]

    def counts(self) -> dict[str, int]:
        """Frames per use."""
        totals = dict.fromkeys(FRAME_USES[1:], 0)
        for value in self.uses:
            totals[FRAME_USES[value]] += 1
        return totals


def frame_map(message: inspect_pb2.GetFrameMapResponse) -> FrameMap:
    """FrameMap from the wire."""
    return FrameMap(
        message.uses,
        tuple(message.pids),
        tuple(message.flags),
        tuple(zone(z) for z in message.zones),
        tuple(message.mapcounts),
    )


def free_kb(meminfo: Report, zones: Sequence[Zone]) -> int:
    """Free memory in kB: MemFree plus the pages parked on the CPUs' per-cpu lists (zoneinfo's
    pcp count), which Linux leaves out of MemFree. A freed page may wait on a list, and which
    pages do changes as processes come and go: this sum is what comes back when they exit."""
    pcp_pages = sum(zone.pcp_count for zone in zones)
    return meminfo["MemFree"] + pcp_pages * PAGE_SIZE // 1024
