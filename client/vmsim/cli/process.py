"""The per-process commands: ps, maps, status, translate, events and kill."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Annotated

import typer

from .. import calls
from ..cli_common import emit_json, fail, guarded, parsed_argument
from ..client import Admin, Inspector
from ..constants import DEFAULT_ADDRESS
from ..errors import VmsimError
from ..render import parse_address
from ..results import Event
from .base import Address, AdminToken, App, JsonFlag, Pid, typer_command
from .spec import PS
from .stat import print_report

__all__ = ["process_app"]

process_app = App()
process_app.command("ps")(typer_command(PS))


@process_app.command()
def maps(
    pid: Pid,
    addr: Address = DEFAULT_ADDRESS,
    smaps: Annotated[
        bool, typer.Option("--smaps", help="/proc/PID/smaps: per-mapping sizes")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """/proc/PID/maps (or smaps)."""
    with Inspector(addr) as inspector:
        print_report(
            guarded(lambda: inspector.smaps(pid) if smaps else inspector.maps(pid)), as_json
        )


@process_app.command("smaps_rollup")
def smaps_rollup(pid: Pid, addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/PID/smaps_rollup: the smaps of every mapping summed."""
    with Inspector(addr) as inspector:
        print_report(guarded(lambda: inspector.smaps_rollup(pid)), as_json)


@process_app.command()
def status(pid: Pid, addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/PID/status."""
    with Inspector(addr) as inspector:
        print_report(guarded(lambda: inspector.status(pid)), as_json)


@process_app.command()
def translate(
    pid: Pid,
    address: Annotated[
        str,
        typer.Argument(help="virtual address (0xb7000000) or selector:offset (0x7b:0xb7000000)"),
    ],
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
) -> None:
    """Show the walk of ADDRESS in process PID: logical -> linear -> PDE -> PTE -> physical."""
    logical = address if ":" in address else ""
    linear = 0 if logical else parsed_argument(parse_address, address, "ADDRESS")
    with Inspector(addr) as inspector:
        walk = guarded(lambda: inspector.translation(pid, linear, logical))
    if as_json:
        emit_json(walk)
    else:
        print(walk.text, end="")


@process_app.command()
def events(
    addr: Address = DEFAULT_ADDRESS,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", metavar="KIND", help=f"one of {', '.join(calls.EVENT_KINDS)}"),
    ] = None,
    pid: Annotated[int | None, typer.Option(help="only this process")] = None,
    count: Annotated[int, typer.Option(help="stop after N events (0 = follow until Ctrl-C)")] = 0,
    seconds: Annotated[float, typer.Option(help="stop after this many seconds (0 = no limit)")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Follow the event feed: faults, swap-outs/ins, OOM kills, process spawns and exits."""
    try:
        request_kinds = tuple(kind or ())
        calls.watch_request(request_kinds, pid)  # reject unknown kinds before connecting
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--kind") from None
    with Inspector(addr) as inspector:
        try:
            feed = contextlib.closing(inspector.events(request_kinds, pid, timeout=seconds or None))
            with feed as events_seen:
                dropped_so_far = 0
                for n, event in enumerate(events_seen, start=1):
                    if as_json:
                        print(json.dumps(dataclasses.asdict(event)), flush=True)
                    else:
                        print(_event_line(event, event.dropped - dropped_so_far), flush=True)
                    dropped_so_far = event.dropped
                    if count and n >= count:
                        break
        except VmsimError as error:
            fail(error)
        except KeyboardInterrupt:
            pass


def _event_line(event: Event, newly_dropped: int) -> str:
    """One event; *newly_dropped* counts the events lost since the previous line (the feed's
    `dropped` is a running total, so it is shown once, where the gap is)."""
    where = f" addr=0x{event.address:08x}" if event.address is not None else ""
    frame = f" pfn={event.pfn}" if event.pfn is not None else ""
    lost = f" ({newly_dropped} dropped before)" if newly_dropped > 0 else ""
    line = f"{event.seq:>8} {event.kind:<14} pid={event.pid}{where}{frame} {event.detail}{lost}"
    return line.rstrip()


@process_app.command()
def kill(
    pid: Pid,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    reason: Annotated[str, typer.Option(help="recorded as the kill reason")] = "killed by admin",
) -> None:
    """SIGKILL a process (needs the admin token: --admin-token-file or VMSIM_ADMIN_TOKEN_FILE)."""
    with Admin(addr, admin_token) as admin:
        guarded(lambda: admin.kill(pid, reason))
    print(f"killed {pid}")
