"""The dashboard's web side: a Starlette app, its poller, and uvicorn to serve it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..aio import AsyncInspector
from ..errors import VmsimError
from ..lab import Scoreboard
from ..render import parse_address
from ..results import FRAME_USES, FrameMap

__all__ = ["DEFAULT_EVENT_KINDS", "DashboardState", "create_app", "frame_cells", "serve_dashboard"]

STATIC = Path(__file__).parent / "static"
MAX_CELLS = 16384  # cells of the memory map; larger machines show groups of frames per cell
RECENT_EVENTS = 200  # events kept for pages that open later
NO_ADMIN_TOKEN = (
    "no admin token given: the lab scoreboard needs the server's admin token "
    "(vmsim --admin-token-file FILE dashboard, --admin-token, VMSIM_ADMIN_TOKEN_FILE or "
    "VMSIM_ADMIN_TOKEN)"
)
# Minor faults are left out by default: following them makes the kernel report every fault.
DEFAULT_EVENT_KINDS = (
    "major_fault",
    "swap_out",
    "swap_in",
    "oom_kill",
    "segv",
    "process_spawn",
    "process_exit",
)


def frame_cells(frames: FrameMap, max_cells: int = MAX_CELLS) -> dict[str, Any]:
    """The frame map as at most *max_cells* cells, for the page.

    Each cell covers `group` consecutive frames and shows the use most of them have (free
    only if all are free), the highest owning pid among them, and the OR of their flags.
    """
    nr_frames = len(frames)
    group = max(1, -(-nr_frames // max_cells))
    nr_cells = -(-nr_frames // group)
    padded = nr_cells * group
    uses = np.zeros(padded, dtype=np.uint8)
    uses[:nr_frames] = np.frombuffer(frames.uses, dtype=np.uint8)
    pids = np.zeros(padded, dtype=np.uint32)
    pids[:nr_frames] = frames.pids
    flags = np.zeros(padded, dtype=np.uint32)
    flags[:nr_frames] = frames.flags
    cell_uses = uses.reshape(nr_cells, group)
    if group > 1:
        counts = np.stack([(cell_uses == u).sum(axis=1) for u in range(len(FRAME_USES))], axis=1)
        free = FRAME_USES.index("free")
        busy = counts.copy()
        busy[:, free] = 0
        busy[:, 0] = 0
        chosen: npt.NDArray[Any] = np.where(busy.max(axis=1) > 0, busy.argmax(axis=1), free)
    else:
        chosen = cell_uses[:, 0]
    return {
        "nr_frames": nr_frames,
        "group": group,
        "nr_cells": nr_cells,
        "use_names": list(FRAME_USES),
        "uses": base64.b64encode(chosen.astype(np.uint8).tobytes()).decode(),
        "pids": pids.reshape(nr_cells, group).max(axis=1).tolist(),
        "flags": np.bitwise_or.reduce(flags.reshape(nr_cells, group), axis=1).tolist(),
        "zones": [
            {"name": z.name, "start_pfn": z.start_pfn, "spanned": z.spanned} for z in frames.zones
        ],
    }


def _fields(value: Any, drop: tuple[str, ...] = ("text",)) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(value).items() if k not in drop}


class DashboardState:
    """The poller shared by every open page: the latest snapshot and the recent events."""

    def __init__(
        self,
        address: str,
        interval: float = 1.0,
        max_cells: int = MAX_CELLS,
        event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS,
        admin_token: str = "",
    ) -> None:
        self.address = address
        self.admin_token = admin_token
        self.event_kinds = event_kinds
        self.interval = interval
        self.max_cells = max_cells
        self.snapshot: dict[str, Any] = {"error": "connecting", "version": 0}
        self.version = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self.dropped_events = 0
        self._changed = asyncio.Condition()
        self._inspector: AsyncInspector | None = None
        self._scoreboard: Scoreboard | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def inspector(self) -> AsyncInspector:
        """The gRPC client (made on the serving event loop)."""
        if self._inspector is None:
            self._inspector = AsyncInspector(self.address, timeout=10)
        return self._inspector

    async def start(self) -> None:
        """Start polling and following the event feed."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._poll()), loop.create_task(self._follow_events())]

    async def stop(self) -> None:
        """Stop the background tasks and close the channel."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inspector is not None:
            await self._inspector.close()
        if self._scoreboard is not None:
            self._scoreboard.close()

    async def lab(self) -> dict[str, Any]:
        """The lab scoreboard, or why there is none: state "live", "no_token", "no_lab" or
        "error", with a message for the last three."""
        if not self.admin_token:
            return {"state": "no_token", "message": NO_ADMIN_TOKEN}
        if self._scoreboard is None:
            self._scoreboard = Scoreboard(self.address, self.admin_token, timeout=10)
        try:
            # the lab calls have a blocking client only; one short call a poll, off the loop
            board = await asyncio.to_thread(self._scoreboard.results)
        except VmsimError as error:
            if error.code == "UNIMPLEMENTED":
                return {"state": "no_lab", "message": error.message}
            return {"state": "error", "message": f"{error.code}: {error.message}"}
        kinds = sorted({kind for student in board.students for kind in student.scores})
        return {
            "state": "live",
            "title": board.title,
            "kinds": kinds,
            "students": [dataclasses.asdict(student) for student in board.students],
        }

    async def collect(self) -> dict[str, Any]:
        """One snapshot of the machine as JSON-ready values."""
        inspector = self.inspector
        meminfo, vmstat = await asyncio.gather(inspector.meminfo(), inspector.vmstat())
        zones, processes = await asyncio.gather(inspector.zoneinfo(), inspector.processes())
        locks, cpu = await asyncio.gather(inspector.lock_stat(), inspector.cpu_times())
        frames, lab = await asyncio.gather(inspector.frame_map(), self.lab())
        return {
            "time": time.time(),
            "address": self.address,
            "meminfo": meminfo.values,
            "vmstat": vmstat.values,
            "zones": [_fields(z, ("counters",)) for z in zones.items],
            "processes": [_fields(p) for p in processes],
            "lock_stat": [_fields(c) for c in locks.items],
            "cpu": _fields(cpu),
            "frames": frame_cells(frames, self.max_cells),
            "events": list(self.events),
            "dropped_events": self.dropped_events,
            "event_kinds": list(self.event_kinds),
            "lab": lab,
        }

    async def _publish(self, snapshot: dict[str, Any]) -> None:
        async with self._changed:
            self.version += 1
            self.snapshot = snapshot | {"version": self.version}
            self._changed.notify_all()

    async def _poll(self) -> None:
        while True:
            try:
                snapshot = await self.collect()
            except VmsimError as error:
                snapshot = {"error": f"{error.code}: {error.message}", "time": time.time()}
            await self._publish(snapshot)
            await asyncio.sleep(self.interval)

    async def _follow_events(self) -> None:
        while True:
            try:
                async for event in self.inspector.events(self.event_kinds):
                    self.dropped_events = event.dropped
                    self.events.append(dataclasses.asdict(event))
            except VmsimError:
                pass  # the server is down or restarting: try again
            await asyncio.sleep(self.interval)

    async def snapshots(self) -> AsyncIterator[dict[str, Any]]:
        """The current snapshot, then each new one as it is published."""
        seen = -1
        while True:
            async with self._changed:
                if self.version == seen:
                    await self._changed.wait()
                seen = self.version
                snapshot = self.snapshot
            yield snapshot


def create_app(
    address: str,
    interval: float = 1.0,
    max_cells: int = MAX_CELLS,
    event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS,
    admin_token: str = "",
) -> Starlette:
    """The dashboard for the server at *address*, refreshed every *interval* seconds,
    following the events of *event_kinds* (names of vmsim.calls.EVENT_KINDS); with the
    server's *admin_token* it shows the lab scoreboard of a server run with --lab."""
    state = DashboardState(address, interval, max_cells, event_kinds, admin_token)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    async def index(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def snapshot(_request: Request) -> Response:
        return JSONResponse(state.snapshot)

    async def stream(request: Request) -> Response:
        async def messages() -> AsyncIterator[ServerSentEvent]:
            async for value in state.snapshots():
                if await request.is_disconnected():
                    break
                yield ServerSentEvent(json.dumps(value), event="snapshot")

        return EventSourceResponse(messages(), ping=15)

    async def maps(request: Request) -> Response:
        pid = request.path_params["pid"]
        try:
            listing = await state.inspector.maps(pid)
        except VmsimError as error:
            return JSONResponse({"error": error.message}, status_code=404)
        return JSONResponse({"vmas": [_fields(v) for v in listing.items], "text": listing.text})

    async def translate(request: Request) -> Response:
        try:
            pid = int(request.query_params.get("pid", ""))
            linear = parse_address(request.query_params.get("addr", ""))
        except ValueError as error:
            message = str(error) if "address" in str(error) else "pid must be a number"
            return JSONResponse({"error": message}, status_code=400)
        try:
            walk = await state.inspector.translation(pid, linear)
        except VmsimError as error:
            return JSONResponse({"error": error.message}, status_code=400)
        return JSONResponse(_fields(walk, ()))

    routes = [
        Route("/", index),
        Route("/api/snapshot", snapshot),
        Route("/api/stream", stream),
        Route("/api/maps/{pid:int}", maps),
        Route("/api/translate", translate),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = state
    return app


def serve_dashboard(
    address: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS,
    admin_token: str = "",
) -> None:
    """Serve the dashboard with uvicorn until Ctrl-C."""
    import uvicorn

    app = create_app(address, event_kinds=event_kinds, admin_token=admin_token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
