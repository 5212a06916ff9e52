"""`vmsim stat`: the machine-wide /proc reports, as text or --json."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..calls import Listing
from ..cli_common import emit_json, guarded
from ..client import Admin, Inspector
from ..constants import DEFAULT_ADDRESS
from ..results import Report
from .base import Address, AdminToken, App, JsonFlag

__all__ = ["print_report", "stat_app"]

stat_app = App(help="Machine-wide /proc reports.")

# The reports that are one Inspector call each, printed as the kernel wrote them.
_PLAIN_REPORTS = {
    "meminfo": "/proc/meminfo.",
    "vmstat": "/proc/vmstat.",
    "zoneinfo": "/proc/zoneinfo.",
    "buddyinfo": "/proc/buddyinfo.",
    "pagetypeinfo": "/proc/pagetypeinfo: free blocks per migratetype and order.",
    "swaps": "/proc/swaps.",
    "layout": 'Boot layout: the "virtual kernel memory layout" block and the memblock reservations.',
}


def print_report(value: Any, as_json: bool) -> None:
    """A report's text as the kernel wrote it, or its values as JSON.

    A Report gives its name -> value table, a Listing its items, any other result (a
    dataclass with a `text`) its fields without the text.
    """
    if not as_json:
        print(value.text, end="")
    elif isinstance(value, Report):
        emit_json(value.values)
    elif isinstance(value, Listing):
        emit_json(value.items)
    else:
        emit_json({k: v for k, v in dataclasses.asdict(value).items() if k != "text"})


def _report_command(report: str) -> Callable[..., None]:
    def command(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
        with Inspector(addr) as inspector:
            print_report(guarded(getattr(inspector, report)), as_json)

    return command


for _name, _help in _PLAIN_REPORTS.items():
    stat_app.command(_name, help=_help)(_report_command(_name))


@stat_app.command("lock_stat")
def stat_lock_stat(
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="clear the statistics (needs the admin token)")
    ] = False,
    admin_token: AdminToken = "",
) -> None:
    """/proc/lock_stat: contentions, wait and hold times per lock class (simulated time)."""
    if reset:
        with Admin(addr, admin_token) as admin:
            guarded(admin.reset_lock_stat)
    with Inspector(addr) as inspector:
        print_report(guarded(inspector.lock_stat), as_json)


@stat_app.command("cpu")
def stat_cpu(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """Machine-wide simulated CPU time: user, system, iowait, lock wait (/proc/stat style)."""
    with Inspector(addr) as inspector:
        print_report(guarded(inspector.cpu_times), as_json)
