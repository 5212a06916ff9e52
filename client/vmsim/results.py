"""What the client hands back: plain dataclasses built from the wire messages (one module for both flavours).

The values mirror what the kernel reports in /proc (fs/proc/meminfo.c, task_mmu.c, array.c).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from vmsim_proto import replay_results
from vmsim_proto.replay_results import MissRatioCurve, ReplayStep
from vmsim_proto.v1 import common_pb2, inspect_pb2, process_pb2

from .html import html_table

__all__ = [
    "FAULT_KINDS",
    "FRAME_USES",
    "CallCost",
    "CpuTimes",
    "Event",
    "FaultKind",
    "FrameMap",
    "LockClass",
    "MissRatioCurve",
    "ProcessStatus",
    "ReplayResult",
    "ReplayStep",
    "Report",
    "SwapArea",
    "TouchSummary",
    "Translation",
    "Vma",
    "Zone",
    "call_cost",
    "cpu_times",
    "event",
    "frame_map",
    "lock_class",
    "miss_ratio_curve",
    "process_status",
    "replay_result",
    "report",
    "touch_summary",
    "translation",
    "translation_of",
    "vma",
    "zone",
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
class TouchSummary:
    """Outcome of a batched touch."""

    touched: int
    hits: int
    minor: int
    major: int


@dataclass(frozen=True)
class Vma:
    """A maps/smaps row (sizes in bytes)."""

    start: int
    end: int
    perms: str
    name: str
    rss: int = 0
    swap: int = 0
    anonymous: int = 0
    referenced: int = 0
    shared_clean: int = 0
    shared_dirty: int = 0
    private_clean: int = 0
    private_dirty: int = 0
    pss: int = 0


@dataclass(frozen=True)
class Translation:
    """A page walk with every intermediate value; `text` is the readable form."""

    linear: int
    cr3: int
    pde_index: int
    pde_address: int
    pde: int
    pte_index: int
    pte_address: int | None
    pte: int | None
    present: bool
    pfn: int | None
    physical: int | None
    writable: bool
    user: bool
    accessed: bool
    dirty: bool
    swap_type: int | None
    swap_offset: int | None
    fault: str | None
    vma: Vma | None
    text: str = ""

    def _repr_html_(self) -> str:
        def hex32(value: int | None) -> str:
            return "-" if value is None else f"0x{value:08x}"

        rows = [
            (
                "linear",
                hex32(self.linear),
                f"PDE index {self.pde_index}, PTE index {self.pte_index}",
            ),
            ("CR3", hex32(self.cr3), ""),
            ("PDE", hex32(self.pde), f"at {hex32(self.pde_address)}"),
            ("PTE", hex32(self.pte), f"at {hex32(self.pte_address)}"),
            ("physical", hex32(self.physical), "" if self.pfn is None else f"pfn {self.pfn}"),
        ]
        if self.fault:
            rows.append(("fault", "", self.fault))
        return html_table(("step", "value", "note"), rows, f"walk of 0x{self.linear:08x}")


@dataclass(frozen=True)
class ProcessStatus:
    """/proc/<pid>/status numbers (bytes)."""

    pid: int
    name: str
    state: str
    vm_size: int
    vm_rss: int
    vm_swap: int
    vm_pte: int
    vm_peak: int
    vm_hwm: int
    minor_faults: int
    major_faults: int
    oom_score_adj: int
    oom_score: int
    killed_by: str | None = None
    kill_address: int | None = None
    kill_reason: str | None = None
    text: str = ""  # the /proc/<pid>/status text (empty in a process listing)
    nr_threads: int = 1
    user_ns: int = 0  # simulated CPU time of all threads (see CallCost)
    system_ns: int = 0
    iowait_ns: int = 0
    lock_wait_ns: int = 0


@dataclass(frozen=True)
class Report:
    """A machine report: its values by name and its Linux text."""

    values: dict[str, int]
    text: str

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def _repr_html_(self) -> str:
        return html_table(("name", "value"), self.values.items())


@dataclass(frozen=True)
class Zone:
    """One zone of zoneinfo/buddyinfo (pages)."""

    name: str
    start_pfn: int
    spanned: int
    present: int
    managed: int
    free: int
    min: int
    low: int
    high: int
    free_area: tuple[int, ...]
    counters: dict[str, int] = field(default_factory=dict)
    protection: tuple[int, ...] = ()  # lowmem_reserve per classzone (zoneinfo's protection:)


@dataclass(frozen=True)
class SwapArea:
    """A /proc/swaps row."""

    filename: str
    type: str
    size_kb: int
    used_kb: int
    priority: int


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


@dataclass(frozen=True)
class Event:
    """One event of the feed."""

    seq: int
    kind: str
    pid: int
    address: int | None
    pfn: int | None
    detail: str
    dropped: int = 0


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def touch_summary(message: process_pb2.TouchManyResponse) -> TouchSummary:
    """TouchSummary from a TouchMany reply."""
    return TouchSummary(message.touched, message.hits, message.minor, message.major)


def vma(message: common_pb2.Vma) -> Vma:
    """Vma from a maps/smaps row."""
    return Vma(
        start=message.start,
        end=message.end,
        perms=message.perms,
        name=message.name,
        rss=message.rss,
        swap=message.swap,
        anonymous=message.anonymous,
        referenced=message.referenced,
        shared_clean=message.shared_clean,
        shared_dirty=message.shared_dirty,
        private_clean=message.private_clean,
        private_dirty=message.private_dirty,
        pss=message.pss,
    )


def translation(message: Any) -> Translation:
    """Translation (every walk value plus the readable text) from any translate reply."""
    return translation_of(message.translation, message.text)


def translation_of(t: common_pb2.Translation, text: str = "") -> Translation:
    """Translation from a bare walk message."""
    return Translation(
        linear=t.linear,
        cr3=t.cr3,
        pde_index=t.pde_index,
        pde_address=t.pde_address,
        pde=t.pde,
        pte_index=t.pte_index,
        pte_address=_optional(t, "pte_address"),
        pte=_optional(t, "pte"),
        present=t.present,
        pfn=_optional(t, "pfn"),
        physical=_optional(t, "physical"),
        writable=t.writable,
        user=t.user,
        accessed=t.accessed,
        dirty=t.dirty,
        swap_type=_optional(t, "swap_type"),
        swap_offset=_optional(t, "swap_offset"),
        fault=_optional(t, "fault"),
        vma=vma(t.vma) if t.HasField("vma") else None,
        text=text,
    )


def process_status(message: common_pb2.ProcessStatus, text: str = "") -> ProcessStatus:
    """ProcessStatus from the wire (sizes in bytes), with its /proc text when there is one."""
    return ProcessStatus(
        pid=message.pid,
        name=message.name,
        state=message.state,
        vm_size=message.vm_size,
        vm_rss=message.vm_rss,
        vm_swap=message.vm_swap,
        vm_pte=message.vm_pte,
        vm_peak=message.vm_peak,
        vm_hwm=message.vm_hwm,
        minor_faults=message.minor_faults,
        major_faults=message.major_faults,
        oom_score_adj=message.oom_score_adj,
        oom_score=message.oom_score,
        killed_by=_optional(message, "killed_by"),
        kill_address=_optional(message, "kill_address"),
        kill_reason=_optional(message, "kill_reason"),
        text=text,
        nr_threads=message.nr_threads,
        user_ns=message.user_ns,
        system_ns=message.system_ns,
        iowait_ns=message.iowait_ns,
        lock_wait_ns=message.lock_wait_ns,
    )


def report(message: Any) -> Report:
    """Report from a meminfo/vmstat reply (its Counter entries and text)."""
    return Report({c.name: c.value for c in message.entries}, message.text)


def zone(message: inspect_pb2.Zone) -> Zone:
    """Zone from a zoneinfo/buddyinfo row."""
    return Zone(
        message.name,
        message.start_pfn,
        message.spanned,
        message.present,
        message.managed,
        message.free,
        message.min,
        message.low,
        message.high,
        tuple(message.free_area),
        {c.name: c.value for c in message.counters},
        tuple(message.protection),
    )


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


def event(message: inspect_pb2.WatchEventsResponse) -> Event:
    """Event from one WatchEvents message."""
    kind = inspect_pb2.EventKind.Name(message.kind).removeprefix("EVENT_KIND_").lower()
    return Event(
        message.seq,
        kind,
        message.pid,
        _optional(message, "address"),
        _optional(message, "pfn"),
        message.detail,
        message.dropped,
    )


@dataclass(frozen=True)
class CallCost:
    """What one call cost its thread in simulated nanoseconds."""

    total_ns: int
    user_ns: int
    system_ns: int
    iowait_ns: int
    lock_wait_ns: int


@dataclass(frozen=True)
class LockClass:
    """One /proc/lock_stat row (times in nanoseconds)."""

    name: str
    kind: str
    con_bounces: int
    contentions: int
    wait_min_ns: int
    wait_max_ns: int
    wait_total_ns: int
    acq_bounces: int
    acquisitions: int
    hold_min_ns: int
    hold_max_ns: int
    hold_total_ns: int


@dataclass(frozen=True)
class CpuTimes:
    """Machine-wide simulated time (nanoseconds) and its /proc/stat-style text."""

    user_ns: int
    system_ns: int
    iowait_ns: int
    lock_wait_ns: int
    kswapd_ns: int
    clock_ns: int
    text: str = ""


def call_cost(message: common_pb2.CallCost) -> CallCost:
    """CallCost from the wire."""
    return CallCost(
        message.total_ns,
        message.user_ns,
        message.system_ns,
        message.iowait_ns,
        message.lock_wait_ns,
    )


def lock_class(message: inspect_pb2.LockClass) -> LockClass:
    """LockClass from the wire."""
    return LockClass(
        message.name,
        message.kind,
        message.con_bounces,
        message.contentions,
        message.wait_min_ns,
        message.wait_max_ns,
        message.wait_total_ns,
        message.acq_bounces,
        message.acquisitions,
        message.hold_min_ns,
        message.hold_max_ns,
        message.hold_total_ns,
    )


def cpu_times(message: inspect_pb2.GetCpuTimesResponse) -> CpuTimes:
    """CpuTimes from the wire."""
    return CpuTimes(
        message.user_ns,
        message.system_ns,
        message.iowait_ns,
        message.lock_wait_ns,
        message.kswapd_ns,
        message.clock_ns,
        message.text,
    )


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
)


@dataclass(frozen=True)
class FrameMap:
    """Every physical frame's use, owner and page flags (index = pfn).

    Attributes:
        uses: per frame, a name of FRAME_USES ("free", "user", "page_table", "kernel", "slab",
            "vmalloc", "swap_cache", "kmalloc") as its index into FRAME_USES.
        pids: per frame, the owning process (0 for none).
        flags: per frame, page->flags.
        zones: the zones, to tell which zone a pfn is in.
    """

    uses: bytes
    pids: tuple[int, ...]
    flags: tuple[int, ...]
    zones: tuple[Zone, ...]

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
    )
