"""InspectService: the machine's /proc (fs/proc/meminfo.c, mm/vmstat.c, fs/proc/task_mmu.c), read-only.

Open to every client, like /proc. Also trace replay and the event feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import grpc

from vmsim_kernel import EventKind, InvalidArgument, LimitExceeded, Machine
from vmsim_kernel.machine import SmapsRollup
from vmsim_proto.v1 import common_pb2, inspect_pb2, inspect_pb2_grpc

from . import convert, replay_rpc
from .events import EventHub
from .heavy import HeavyCalls
from .limits import ClientLimits, StreamKind

__all__ = ["InspectService"]

Context = grpc.aio.ServicerContext[Any, Any]
# VMAs in one part of a maps or smaps report (the client asks for the next part), and VMAs
# built between two turns of the event loop (~2 ms of smaps).
MAPS_PART_VMAS = 1024
MAPS_QUANTUM_VMAS = 32
# A trace longer than this makes Replay and GetMissRatioCurve costly calls of their client.
COSTLY_TRACE_REFERENCES = 10_000
_PROTO_TO_EVENT_KIND = {value: kind for kind, value in convert.EVENT_KIND_TO_PROTO.items()}


class InspectService(inspect_pb2_grpc.InspectServiceServicer):
    """Reports, trace replay and the event feed."""

    def __init__(
        self,
        machine: Machine,
        hub: EventHub,
        max_trace: int,
        limits: ClientLimits,
        heavy: HeavyCalls,
    ) -> None:
        self._machine = machine
        self._hub = hub
        self._max_trace = max_trace
        self._limits = limits
        self._heavy = heavy

    async def GetMeminfo(
        self, request: inspect_pb2.GetMeminfoRequest, context: Context
    ) -> inspect_pb2.GetMeminfoResponse:
        return inspect_pb2.GetMeminfoResponse(
            entries=convert.counters(self._machine.meminfo(), "kB"),
            text=self._machine.report("meminfo"),
        )

    async def GetVmstat(
        self, request: inspect_pb2.GetVmstatRequest, context: Context
    ) -> inspect_pb2.GetVmstatResponse:
        return inspect_pb2.GetVmstatResponse(
            entries=convert.counters(self._machine.vmstat(), ""),
            text=self._machine.report("vmstat"),
        )

    async def GetZoneinfo(
        self, request: inspect_pb2.GetZoneinfoRequest, context: Context
    ) -> inspect_pb2.GetZoneinfoResponse:
        zones = [convert.zone(z) for z in self._machine.zoneinfo()]
        return inspect_pb2.GetZoneinfoResponse(zones=zones, text=self._machine.report("zoneinfo"))

    async def GetBuddyinfo(
        self, request: inspect_pb2.GetBuddyinfoRequest, context: Context
    ) -> inspect_pb2.GetBuddyinfoResponse:
        zones = [convert.zone(z) for z in self._machine.zoneinfo() if z.present]
        return inspect_pb2.GetBuddyinfoResponse(zones=zones, text=self._machine.report("buddyinfo"))

    async def GetPagetypeinfo(
        self, request: inspect_pb2.GetPagetypeinfoRequest, context: Context
    ) -> inspect_pb2.GetPagetypeinfoResponse:
        zones = [convert.zone_page_types(z) for z in self._machine.pagetypeinfo()]
        return inspect_pb2.GetPagetypeinfoResponse(
            zones=zones, text=self._machine.report("pagetypeinfo")
        )

    async def GetSwaps(
        self, request: inspect_pb2.GetSwapsRequest, context: Context
    ) -> inspect_pb2.GetSwapsResponse:
        areas = [convert.swap_area(row) for row in self._machine.swaps()]
        return inspect_pb2.GetSwapsResponse(areas=areas, text=self._machine.report("swaps"))

    async def ListShm(
        self, request: inspect_pb2.ListShmRequest, context: Context
    ) -> inspect_pb2.ListShmResponse:
        return inspect_pb2.ListShmResponse(
            objects=[convert.shm_object(info) for info in self._machine.shm_list()]
        )

    async def ListFiles(
        self, request: inspect_pb2.ListFilesRequest, context: Context
    ) -> inspect_pb2.ListFilesResponse:
        return inspect_pb2.ListFilesResponse(
            files=[convert.file_info(info) for info in self._machine.files()]
        )

    async def ListOpenFiles(
        self, request: inspect_pb2.ListOpenFilesRequest, context: Context
    ) -> inspect_pb2.ListOpenFilesResponse:
        return inspect_pb2.ListOpenFilesResponse(
            files=[convert.open_file_info(info) for info in self._machine.open_files(request.pid)]
        )

    async def ListProcesses(
        self, request: inspect_pb2.ListProcessesRequest, context: Context
    ) -> inspect_pb2.ListProcessesResponse:
        return inspect_pb2.ListProcessesResponse(
            processes=[
                convert.process_status(p) for p in self._machine.processes(include_dead=request.all)
            ]
        )

    async def GetMaps(
        self, request: inspect_pb2.GetMapsRequest, context: Context
    ) -> inspect_pb2.GetMapsResponse:
        rows, text, next_addr = await self._maps_part(request, context, smaps=False)
        return inspect_pb2.GetMapsResponse(vmas=rows, text=text, next_addr=next_addr)

    async def GetSmaps(
        self, request: inspect_pb2.GetSmapsRequest, context: Context
    ) -> inspect_pb2.GetSmapsResponse:
        rows, text, next_addr = await self._maps_part(request, context, smaps=True)
        return inspect_pb2.GetSmapsResponse(vmas=rows, text=text, next_addr=next_addr)

    async def _maps_part(
        self,
        request: inspect_pb2.GetMapsRequest | inspect_pb2.GetSmapsRequest,
        context: Context,
        smaps: bool,
    ) -> tuple[list[common_pb2.Vma], str, int]:
        """One part of a maps or smaps report: at most MAPS_PART_VMAS VMAs, built
        MAPS_QUANTUM_VMAS at a time with the event loop serving others in between (as
        Linux's seq_file drops mmap_lock between reads, a part may see the process change).
        A report longer than one quantum is a costly call of its client (_walk)."""
        most = min(request.max_vmas or MAPS_PART_VMAS, MAPS_PART_VMAS)
        rows: list[common_pb2.Vma] = []
        texts: list[str] = []
        cursor = request.start_addr

        def quanta() -> Iterator[None]:
            nonlocal cursor
            while True:
                part, text, cursor = self._machine.maps_part(
                    request.pid, cursor, min(MAPS_QUANTUM_VMAS, most - len(rows)), smaps
                )
                rows.extend(convert.vma(v) for v in part)
                texts.append(text)
                if not cursor or len(rows) >= most:
                    return
                yield

        await self._walk(quanta(), context)
        return rows, "".join(texts), cursor

    async def _walk(self, quanta: Iterator[None], context: Context) -> None:
        """Run a report's walk, a quantum at a time: the first here; a walk longer than that is
        a costly call of its client (HeavyCalls.on_loop), its other quanta run between other
        clients' calls."""
        if next(quanta, StopIteration) is not StopIteration:
            self._heavy.admit(self._limits.identity(context))
            await self._heavy.on_loop(quanta)

    async def GetSmapsRollup(
        self, request: inspect_pb2.GetSmapsRollupRequest, context: Context
    ) -> inspect_pb2.GetSmapsRollupResponse:
        rollup = SmapsRollup()

        def quanta() -> Iterator[None]:
            while self._machine.smaps_rollup_part(request.pid, rollup, MAPS_QUANTUM_VMAS):
                yield

        await self._walk(quanta(), context)
        return inspect_pb2.GetSmapsRollupResponse(
            entries=convert.counters(rollup.kb(), "kB"), text=rollup.text()
        )

    async def GetStatus(
        self, request: inspect_pb2.GetStatusRequest, context: Context
    ) -> inspect_pb2.GetStatusResponse:
        status = convert.process_status(self._machine.process(request.pid))
        return inspect_pb2.GetStatusResponse(
            status=status, text=self._machine.report("status", request.pid)
        )

    async def GetTranslation(
        self, request: inspect_pb2.GetTranslationRequest, context: Context
    ) -> inspect_pb2.GetTranslationResponse:
        if request.logical:
            segment, walk = self._machine.translate_logical(request.logical, request.pid)
            text = convert.format_segment(segment) + convert.format_translation(walk)
        else:
            walk = self._machine.translate(request.pid, request.addr)
            text = convert.format_translation(walk)
        return inspect_pb2.GetTranslationResponse(translation=convert.translation(walk), text=text)

    async def GetLockStat(
        self, request: inspect_pb2.GetLockStatRequest, context: Context
    ) -> inspect_pb2.GetLockStatResponse:
        return inspect_pb2.GetLockStatResponse(
            classes=convert.lock_classes(self._machine), text=self._machine.lock_stat()
        )

    async def GetCpuTimes(
        self, request: inspect_pb2.GetCpuTimesRequest, context: Context
    ) -> inspect_pb2.GetCpuTimesResponse:
        times = self._machine.cpu_times()
        return inspect_pb2.GetCpuTimesResponse(
            user_ns=times.user_ns,
            system_ns=times.system_ns,
            iowait_ns=times.iowait_ns,
            lock_wait_ns=times.lock_wait_ns,
            kswapd_ns=self._machine.kswapd.times.system_ns,
            clock_ns=self._machine.now_ns,
            # /proc/stat, then the scheduler's per-CPU and per-process numbers (schedstat).
            text=self._machine.report("stat") + "\n" + self._machine.report("schedstat"),
        )

    async def GetLayout(
        self, request: inspect_pb2.GetLayoutRequest, context: Context
    ) -> inspect_pb2.GetLayoutResponse:
        return inspect_pb2.GetLayoutResponse(
            entries=convert.counters(self._machine.layout(), "addr"),
            text=self._machine.report("layout"),
        )

    async def GetFrameMap(
        self, request: inspect_pb2.GetFrameMapRequest, context: Context
    ) -> inspect_pb2.GetFrameMapResponse:
        return convert.frame_map(self._machine.frame_map(), self._machine.zoneinfo())

    async def Replay(
        self, request: inspect_pb2.ReplayRequest, context: Context
    ) -> inspect_pb2.ReplayResponse:
        nr_references = replay_rpc.trace_length(request)
        if nr_references > self._max_trace:
            raise LimitExceeded(
                f"a trace of {nr_references} references exceeds max_batch={self._max_trace}",
                "max_batch",
            )
        if nr_references > COSTLY_TRACE_REFERENCES:
            self._heavy.admit(self._limits.identity(context))
        # A pure computation, off the event loop: the counts of a replay in C in a thread
        # (the GIL released; 20-50 ms sooner than the hops to the worker process and back),
        # anything longer under the GIL in the worker process, so that the loop serves on.
        if replay_rpc.holds_the_gil_briefly(request):
            return await self._heavy.counted(  # type: ignore[no-any-return]
                asyncio.to_thread(replay_rpc.replay_response, request)
            )
        return await self._heavy.in_worker(replay_rpc.replay_response, request)

    async def GetMissRatioCurve(
        self, request: inspect_pb2.GetMissRatioCurveRequest, context: Context
    ) -> inspect_pb2.GetMissRatioCurveResponse:
        nr_references = replay_rpc.trace_length(request)
        if nr_references > self._max_trace:
            raise LimitExceeded(
                f"a trace of {nr_references} references exceeds max_batch={self._max_trace}"
            )
        if nr_references > COSTLY_TRACE_REFERENCES:
            self._heavy.admit(self._limits.identity(context))
        # A pure computation apart from the machine: off the event loop (the C loop drops the GIL).
        return await self._heavy.counted(  # type: ignore[no-any-return]
            asyncio.to_thread(replay_rpc.miss_ratio_curve_response, request)
        )

    async def WatchEvents(
        self, request: inspect_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[inspect_pb2.WatchEventsResponse]:
        kinds = event_kinds(request.kinds)
        identity = self._limits.identity(context)
        with self._limits.streaming(identity, StreamKind.WATCH):
            subscription = self._hub.subscribe(
                kinds, request.pid if request.HasField("pid") else None
            )
            try:
                async for event, dropped in subscription.events():
                    yield convert.watch_event(event, dropped)
            finally:
                self._hub.unsubscribe(subscription)


def event_kinds(kinds: Iterable[int]) -> frozenset[EventKind] | None:
    """The kernel kinds of a WatchEvents filter; None (every kind) for an empty filter."""
    chosen = set()
    for value in kinds:
        if value not in _PROTO_TO_EVENT_KIND:
            raise InvalidArgument(
                "kinds",
                f"{value} is not an event kind",
                ", ".join(inspect_pb2.EventKind.Name(v) for v in _PROTO_TO_EVENT_KIND),
            )
        chosen.add(_PROTO_TO_EVENT_KIND[value])
    return frozenset(chosen) or None
