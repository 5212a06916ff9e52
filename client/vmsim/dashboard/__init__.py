"""The live web dashboard: a client of the gRPC API that serves one page with server-sent events.

    vmsim dashboard --addr 127.0.0.1:50051 --port 8080      # then open http://127.0.0.1:8080/

One poller per dashboard reads the machine's reports (meminfo, vmstat, zones with the vm
sysctls, processes, lock_stat, CPU times, the frame map) every interval and follows the event
feed, counting events per kind and per second; each snapshot is serialised once and queued for
every open page on /api/stream (at most --max-streams of them, each queue bounded), after the
recent chart samples. The page draws the physical memory map with a legend per process,
processes, page walks, charts (uPlot), zones and buddy free areas beside the vm sysctls
(read-only), lock_stat and the event rates. The lab scoreboard needs the admin token and goes
only to browsers that opened the printed key URL.
"""

from __future__ import annotations

from .app import DEFAULT_EVENT_KINDS, DashboardState, create_app, frame_cells, serve_dashboard

__all__ = ["DEFAULT_EVENT_KINDS", "DashboardState", "create_app", "frame_cells", "serve_dashboard"]
