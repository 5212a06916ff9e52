"""The dashboard's web side: a Starlette app, its poller, and uvicorn to serve it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import secrets
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..aio import AsyncInspector
from ..errors import VmsimError
from ..lab import Scoreboard
from ..render import parse_address
from ..results import FRAME_USES, FrameMap

__all__ = [
    "CELL_USES",
    "DEFAULT_EVENT_KINDS",
    "DashboardState",
    "EventRates",
    "Reader",
    "create_app",
    "frame_cells",
    "history_sample",
    "parse_pid",
    "serve_dashboard",
]

STATIC = Path(__file__).parent / "static"
MAX_CELLS = 16384  # cells of the memory map; larger machines show groups of frames per cell
# The cells' uses: the wire's, then the page cache's dirty pages told apart by PG_dirty (page->flags
# bit 3, as GetFrameMap sends it), so the map shows what writeback has still to write.
_PG_DIRTY = 1 << 3
CELL_USES = (*FRAME_USES, "page_cache_dirty")
RECENT_EVENTS = 200  # raw events kept for the feed shown on demand
RATE_WINDOW = 60  # seconds of per-kind event counts the page plots
HISTORY = 300  # chart samples kept, sent first to a page that opens later
CHART_MEMINFO = ("MemTotal", "MemFree", "SwapTotal", "SwapFree")
CHART_VMSTAT = (
    "pgfault",
    "pgmajfault",
    "pswpin",
    "pswpout",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
)
MAX_STREAMS = 64  # open /api/stream connections; more get HTTP 503
READER_QUEUE = 8  # snapshots queued for one stream; a reader that falls this far behind is dropped
SEND_TIMEOUT_SECONDS = 30.0  # a stream whose client takes longer to accept one message is closed
RETRY_AFTER_SECONDS = 5
MAX_PID = 0xFFFFFFFF  # pids travel as uint32
KEY_COOKIE = "vmsim_dashboard_key"
NO_SCOREBOARD = (
    "this dashboard serves no lab scoreboard: start it with the server's admin token "
    "(vmsim --admin-token-file FILE dashboard) and open the key URL it prints"
)
WRONG_KEY = (
    "this is not the dashboard's scoreboard key: use the URL `vmsim dashboard` printed "
    "(the key changes at each start)"
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
    only if all are free), the highest owning pid among them, the OR of their flags and the
    highest mapcount.
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
    mapcounts = np.zeros(padded, dtype=np.uint32)
    mapcounts[: len(frames.mapcounts)] = frames.mapcounts
    dirty_file_page = (uses == FRAME_USES.index("page_cache")) & ((flags & _PG_DIRTY) != 0)
    uses[dirty_file_page] = CELL_USES.index("page_cache_dirty")
    cell_uses = uses.reshape(nr_cells, group)
    if group > 1:
        counts = np.stack([(cell_uses == u).sum(axis=1) for u in range(len(CELL_USES))], axis=1)
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
        "use_names": list(CELL_USES),
        "uses": base64.b64encode(chosen.astype(np.uint8).tobytes()).decode(),
        "pids": pids.reshape(nr_cells, group).max(axis=1).tolist(),
        "flags": np.bitwise_or.reduce(flags.reshape(nr_cells, group), axis=1).tolist(),
        "mapcounts": mapcounts.reshape(nr_cells, group).max(axis=1).tolist(),
        "zones": [
            {"name": z.name, "start_pfn": z.start_pfn, "spanned": z.spanned} for z in frames.zones
        ],
    }


def _fields(value: Any, drop: tuple[str, ...] = ("text",)) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(value).items() if k not in drop}


def history_sample(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The part of a snapshot the page's charts plot, kept for pages that open later."""
    return {
        "time": snapshot["time"],
        "meminfo": {key: snapshot["meminfo"].get(key, 0) for key in CHART_MEMINFO},
        "vmstat": {key: snapshot["vmstat"].get(key, 0) for key in CHART_VMSTAT},
    }


class EventRates:
    """Events counted per kind and per wall-clock second over the last *window* seconds.

    A swapping machine sends thousands of per-page events a second; the page shows these
    counts ("swap_in 1,234/s" and a sparkline) and the raw feed only on demand.
    """

    def __init__(self, kinds: tuple[str, ...], window: int = RATE_WINDOW) -> None:
        self.kinds = kinds
        self.window = window
        self._buckets: deque[tuple[int, Counter[str]]] = deque()

    def add(self, kind: str, now: float) -> None:
        """Count one event of *kind* that arrived at *now* (seconds of a monotonic clock)."""
        second = int(now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append((second, Counter()))
            while self._buckets[0][0] <= second - self.window:
                self._buckets.popleft()
        self._buckets[-1][1][kind] += 1

    def summary(self, now: float) -> dict[str, Any]:
        """Per kind: the count of each complete second of the window (oldest first), the
        last complete second's count (the rate shown) and the peak."""
        current = int(now)
        by_second = dict(self._buckets)
        seconds = range(current - self.window, current)
        rates: dict[str, Any] = {}
        for kind in self.kinds:
            counts = [by_second[s][kind] if s in by_second else 0 for s in seconds]
            rates[kind] = {"per_second": counts, "last": counts[-1], "peak": max(counts)}
        return {"window": self.window, "end": current, "kinds": rates}


@dataclasses.dataclass(eq=False)
class Reader:
    """One open /api/stream: its own bounded queue of pre-serialised snapshots."""

    queue: asyncio.Queue[str | None]
    sees_scoreboard: bool
    dropped: bool = False


class DashboardState:
    """The poller shared by every open page: the latest snapshot (serialised once per
    interval for all readers), the recent chart samples, events and per-second event counts.

    It polls the server at *address* every *interval* seconds and follows the events of
    *event_kinds* (names of vmsim.calls.EVENT_KINDS); with the server's *admin_token* it
    also polls the lab scoreboard of a server run with --lab. At most *max_streams* pages
    follow the stream at once (more get HTTP 503), each at most *reader_queue* snapshots
    behind. *announce* is told whenever the server starts or stops answering.
    """

    def __init__(
        self,
        address: str,
        interval: float = 1.0,
        max_cells: int = MAX_CELLS,
        event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS,
        admin_token: str = "",
        max_streams: int = MAX_STREAMS,
        reader_queue: int = READER_QUEUE,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.address = address
        self.admin_token = admin_token
        self.event_kinds = event_kinds
        self.interval = interval
        self.max_cells = max_cells
        self.max_streams = max_streams
        self.reader_queue = reader_queue
        self._announce = announce or (lambda _line: None)
        self.snapshot: dict[str, Any] = {"error": "connecting", "version": 0}
        self.version = 0
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self.event_rates = EventRates(event_kinds)
        self.dropped_events = 0
        self.readers: set[Reader] = set()
        self.nr_serialised = 0  # snapshots serialised: one per publish, whatever the readers
        self._public_json = json.dumps(self.snapshot)
        self._scoreboard_json = self._public_json
        self.history_json = "[]"
        self._connected: bool | None = None
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
        """Stop the background tasks, end every stream and close the channel."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for reader in list(self.readers):
            self._drop(reader)
        if self._inspector is not None:
            await self._inspector.close()
        if self._scoreboard is not None:
            self._scoreboard.close()

    async def lab(self) -> dict[str, Any]:
        """The lab scoreboard (state "live"), or "no_lab" (the page hides the panel) or
        "error" with a message."""
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
        """One snapshot of the machine as JSON-ready values; "lab" only with the admin token.

        "sysctl" holds the vm sysctls by full name as `sysctl -a` prints them (values are
        strings: lowmem_reserve_ratio has one per zone); the page only shows them, since
        writing one needs the admin token no browser is given. "swaps" holds the active
        swap areas as /proc/swaps lists them (filename, type, size_kb, used_kb, priority).
        """
        inspector = self.inspector
        meminfo, vmstat = await asyncio.gather(inspector.meminfo(), inspector.vmstat())
        # the sysctls with the zones, so a page shows a new min_free_kbytes with the watermarks
        # it moved
        zones, sysctl, swaps, processes = await asyncio.gather(
            inspector.zoneinfo(), inspector.sysctl(), inspector.swaps(), inspector.processes()
        )
        locks, cpu = await asyncio.gather(inspector.lock_stat(), inspector.cpu_times())
        frames = await inspector.frame_map()
        now = time.time()
        snapshot = {
            "time": now,
            "address": self.address,
            "meminfo": meminfo.values,
            "vmstat": vmstat.values,
            "zones": [_fields(z, ("counters",)) for z in zones.items],
            "sysctl": sysctl,
            "swaps": [_fields(area) for area in swaps.items],
            "processes": [_fields(p) for p in processes],
            "lock_stat": [_fields(c) for c in locks.items],
            "cpu": _fields(cpu),
            "frames": frame_cells(frames, self.max_cells),
            "events": list(self.events),
            "event_rates": self.event_rates.summary(time.monotonic()),
            "dropped_events": self.dropped_events,
            "event_kinds": list(self.event_kinds),
        }
        if self.admin_token:
            snapshot["lab"] = await self.lab()
        return snapshot

    def publish(self, snapshot: dict[str, Any]) -> None:
        """Make *snapshot* the current one: serialise it once (twice with a scoreboard: with
        and without it) and queue it for every reader; a reader whose queue is full is
        dropped, so a client that stops reading costs a bounded amount of memory."""
        self.version += 1
        self.snapshot = snapshot | {"version": self.version}
        public = {k: v for k, v in self.snapshot.items() if k != "lab"}
        self._public_json = json.dumps(public)
        self._scoreboard_json = (
            json.dumps(self.snapshot) if "lab" in self.snapshot else self._public_json
        )
        self.nr_serialised += 1
        if "meminfo" in snapshot:
            self.history.append(history_sample(snapshot))
            self.history_json = json.dumps(list(self.history))
        for reader in list(self.readers):
            try:
                reader.queue.put_nowait(self.snapshot_json(reader.sees_scoreboard))
            except asyncio.QueueFull:
                self._drop(reader)

    def snapshot_json(self, sees_scoreboard: bool) -> str:
        """The current snapshot as JSON, with the lab scoreboard or without it."""
        return self._scoreboard_json if sees_scoreboard else self._public_json

    def subscribe(self, sees_scoreboard: bool) -> Reader | None:
        """A new reader, its queue holding the current snapshot; None when --max-streams
        streams are open already."""
        if len(self.readers) >= self.max_streams:
            return None
        reader = Reader(asyncio.Queue(self.reader_queue), sees_scoreboard)
        reader.queue.put_nowait(self.snapshot_json(sees_scoreboard))
        self.readers.add(reader)
        return reader

    def unsubscribe(self, reader: Reader) -> None:
        """Forget *reader* (its stream ended)."""
        self.readers.discard(reader)

    def _drop(self, reader: Reader) -> None:
        # free what it holds now and end its stream when it next reads
        self.readers.discard(reader)
        reader.dropped = True
        while not reader.queue.empty():
            reader.queue.get_nowait()
        reader.queue.put_nowait(None)

    def _connection_changed(self, error: VmsimError | None) -> None:
        connected = error is None
        if connected == self._connected:
            return
        self._connected = connected
        if error is None:
            self._announce(f"connected to the vmsim server at {self.address}")
        else:
            self._announce(
                f"no vmsim server at {self.address} ({error.code}): start one with "
                f"`vmsim server`; retrying every {self.interval:g} s"
            )

    async def _reconnect(self) -> None:
        # a fresh channel tries at once, where the old one would wait out gRPC's backoff
        if self._inspector is not None:
            inspector, self._inspector = self._inspector, None
            await inspector.close()

    async def _poll(self) -> None:
        while True:
            try:
                snapshot = await self.collect()
                self._connection_changed(None)
            except VmsimError as error:
                snapshot = {
                    "error": f"{error.code}: {error.message}",
                    "address": self.address,
                    "time": time.time(),
                }
                self._connection_changed(error)
                if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                    await self._reconnect()
            self.publish(snapshot)
            await asyncio.sleep(self.interval)

    async def _follow_events(self) -> None:
        # a channel of its own, new at each try: the poller closes its channel to reconnect,
        # which would cancel this stream
        while True:
            inspector = AsyncInspector(self.address, timeout=10)
            try:
                async for event in inspector.events(self.event_kinds):
                    self.dropped_events = event.dropped
                    self.events.append(dataclasses.asdict(event))
                    self.event_rates.add(event.kind, time.monotonic())
            except VmsimError:
                pass  # the server is down or restarting: try again
            finally:
                await inspector.close()
            await asyncio.sleep(self.interval)


def parse_pid(text: str) -> int:
    """A pid from a URL.

    Raises:
        ValueError: *text* is not a decimal number in 1..MAX_PID.
    """
    if not text.isascii() or not text.isdecimal() or not 1 <= int(text) <= MAX_PID:
        raise ValueError(f"pid must be a decimal number from 1 to {MAX_PID}, not {text[:40]!r}")
    return int(text)


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


def create_app(state: DashboardState, viewer_key: str | None = None) -> Starlette:
    """The dashboard's web app over *state*, whose poller runs while the app does.

    With an admin token in *state* the lab scoreboard is served only to browsers that
    presented *viewer_key* once (`/?key=KEY`, kept in a cookie); a random key is made when
    none is given (app.state.viewer_key).
    """
    key = (viewer_key or secrets.token_urlsafe(18)) if state.admin_token else ""
    pages = _Pages(state, key)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    routes = [
        Route("/", pages.index),
        Route("/api/snapshot", pages.snapshot),
        Route("/api/history", pages.history),
        Route("/api/stream", pages.stream),
        Route("/api/maps/{pid}", pages.maps),
        Route("/api/translate", pages.translate),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = state
    app.state.viewer_key = key
    return app


class _Pages:
    """The dashboard's HTTP endpoints, served from the poller's *state*; the scoreboard only
    to a browser that presents *key* (none when *key* is empty)."""

    def __init__(self, state: DashboardState, key: str) -> None:
        self.state = state
        self.key = key

    def sees_scoreboard(self, request: Request) -> bool:
        offered = request.query_params.get("key") or request.cookies.get(KEY_COOKIE, "")
        return bool(self.key) and secrets.compare_digest(offered.encode(), self.key.encode())

    async def index(self, request: Request) -> Response:
        if "key" not in request.query_params:
            return FileResponse(STATIC / "index.html")
        if not self.sees_scoreboard(request):
            return PlainTextResponse(WRONG_KEY if self.key else NO_SCOREBOARD, status_code=403)
        # the key leaves the address bar (and the history) and stays in the cookie
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(KEY_COOKIE, self.key, httponly=True, samesite="strict")
        return response

    async def snapshot(self, request: Request) -> Response:
        return Response(
            self.state.snapshot_json(self.sees_scoreboard(request)), media_type="application/json"
        )

    async def history(self, _request: Request) -> Response:
        return Response(self.state.history_json, media_type="application/json")

    async def stream(self, request: Request) -> Response:
        state = self.state
        reader = state.subscribe(self.sees_scoreboard(request))
        if reader is None:
            return JSONResponse(
                {
                    "error": f"the dashboard serves {state.max_streams} streams at most "
                    "(vmsim dashboard --max-streams): try again later"
                },
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )

        async def messages() -> AsyncIterator[ServerSentEvent]:
            try:
                yield ServerSentEvent(state.history_json, event="history")
                while (message := await reader.queue.get()) is not None:
                    yield ServerSentEvent(message, event="snapshot")
            finally:
                state.unsubscribe(reader)

        return EventSourceResponse(messages(), ping=15, send_timeout=SEND_TIMEOUT_SECONDS)

    async def maps(self, request: Request) -> Response:
        try:
            pid = parse_pid(request.path_params["pid"])
        except ValueError as error:
            return _bad_request(str(error))
        try:
            listing = await self.state.inspector.maps(pid)
        except VmsimError as error:
            return JSONResponse({"error": error.message}, status_code=404)
        return JSONResponse({"vmas": [_fields(v) for v in listing.items], "text": listing.text})

    async def translate(self, request: Request) -> Response:
        try:
            pid = parse_pid(request.query_params.get("pid", ""))
            linear = parse_address(request.query_params.get("addr", ""))
        except ValueError as error:
            return _bad_request(str(error))
        try:
            walk = await self.state.inspector.translation(pid, linear)
        except VmsimError as error:
            return _bad_request(error.message)
        return JSONResponse(_fields(walk, ()))


def serve_dashboard(
    address: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS,
    admin_token: str = "",
    max_streams: int = MAX_STREAMS,
) -> None:
    """Serve the dashboard with uvicorn until Ctrl-C.

    Binds first, so the lines it prints name the port it really got (--port 0 picks a free
    one): the page's URL, and with an admin token the scoreboard's URL with its key, on
    stdout; whether the server answers, on stderr, whenever that changes.

    Raises:
        OSError: *host*:*port* cannot be bound.
    """
    import uvicorn

    def announce(line: str) -> None:
        print(f"vmsim dashboard: {line}", file=sys.stderr, flush=True)

    listener = socket.create_server((host, port))
    bound_port = listener.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/"
    app = create_app(
        DashboardState(
            address,
            event_kinds=event_kinds,
            admin_token=admin_token,
            max_streams=max_streams,
            announce=announce,
        )
    )
    print(f"vmsim dashboard of {address} on {url} (Ctrl-C stops)", flush=True)
    if admin_token:
        print(
            f"lab scoreboard (instructors only; this key changes at each start): "
            f"{url}?key={app.state.viewer_key}",
            flush=True,
        )
    else:
        print("no admin token: the page shows no lab scoreboard (see --help)", flush=True)
    config = uvicorn.Config(app, log_level="warning")
    with listener:
        uvicorn.Server(config).run(sockets=[listener])
