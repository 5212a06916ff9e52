"""The procps views: vmstat(8), free(1), pmap(1), top(1), sysctl(8) and ls -l /dev/shm and of the
file system, each with --json; and util-linux's swapon(8)/swapoff(8) of swap areas."""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer._click.exceptions import UsageError

from .. import cli_common
from ..cli_common import emit_json, guarded, parsed_argument
from ..client import Admin, Inspector
from ..constants import DEFAULT_ADDRESS
from ..render import parse_size
from ..results import ProcessStatus
from ..views import (
    TOP_SORT_KEYS,
    VMSTAT_HEADER,
    format_files,
    format_free,
    format_pmap,
    format_shm,
    free_table,
    pmap_rows,
    read_vmstat_sample,
    top_header,
    top_rows,
    vmstat_columns,
    vmstat_line,
)
from .base import Address, AdminToken, App, JsonFlag, Pid
from .ps import memory_cells, status_fields

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["procps_app"]

procps_app = App()
T = TypeVar("T")


@procps_app.command()
def vmstat(
    delay: Annotated[
        float | None, typer.Argument(help="seconds between lines (one line since boot without it)")
    ] = None,
    count: Annotated[
        int | None, typer.Argument(help="lines to print (default: until Ctrl-C)")
    ] = None,
    addr: Address = DEFAULT_ADDRESS,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object of the columns per line")
    ] = False,
) -> None:
    """vmstat(8): processes, memory, swap, io, system and cpu columns, rates per interval."""
    if delay is not None and delay <= 0:
        raise typer.BadParameter(f"{delay} is not a positive number of seconds", param_hint="DELAY")
    if count is not None and count <= 0:
        raise typer.BadParameter(f"{count} is not a positive number of lines", param_hint="COUNT")
    lines = count if count is not None else (None if delay else 1)
    with Inspector(addr) as inspector:
        # The first sample comes before the header: with no server, only the error is printed.
        sample = guarded(lambda: read_vmstat_sample(inspector, time.monotonic()))
        if not as_json:
            print(VMSTAT_HEADER)
        previous = None
        printed = 0
        try:
            while True:
                if as_json:
                    print(json.dumps(vmstat_columns(previous, sample)), flush=True)
                else:
                    print(vmstat_line(previous, sample), flush=True)
                previous, printed = sample, printed + 1
                if lines is not None and printed >= lines:
                    break
                time.sleep(delay or 0)  # vmstat's interval, not a synchronisation
                sample = guarded(lambda: read_vmstat_sample(inspector, time.monotonic()))
        except KeyboardInterrupt:
            pass


@procps_app.command()
def sysctl(
    setting: Annotated[
        str | None,
        typer.Argument(
            metavar="vm.NAME[=VALUE]", help="the sysctl to read, or to write with =VALUE"
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("-a", "--all", help="every vm sysctl")] = False,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    as_json: JsonFlag = False,
) -> None:
    """sysctl(8) for vm.*: read one (anyone), write one with =VALUE (admin token), or -a.

    A write takes effect at once (vm.min_free_kbytes moves the watermarks ...); a value out
    of the kernel's limits is refused and changes nothing.
    """
    if (setting is None) == (not show_all):
        raise typer.BadParameter(
            "give vm.NAME, vm.NAME=VALUE or -a (one of them)", param_hint="vm.NAME[=VALUE]"
        )
    if setting is not None and "=" in setting:
        name, _, value = setting.partition("=")
        with Admin(addr, admin_token) as admin:
            guarded(lambda: admin.set_sysctl(name.strip(), value.strip()))
        setting = name.strip()  # print it as read back, as sysctl -w does
    with Inspector(addr) as inspector:
        values = guarded(lambda: inspector.sysctl(setting or ""))
    if as_json:
        emit_json(values)
        return
    for full_name, value in values.items():
        print(f"{full_name} = {value}")


@procps_app.command()
def swapon(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the new area's file in /swap")],
    size: Annotated[
        str,
        typer.Option(
            "--size", "-s", metavar="SIZE", help="the file's size, header page included: 64M, 1G"
        ),
    ],
    priority: Annotated[
        int,
        typer.Option(
            "--priority",
            "-p",
            help="0..32767, higher is used first (equal ones in turn); -1: the kernel's next",
        ),
    ] = -1,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    as_json: JsonFlag = False,
) -> None:
    """mkswap + swapon(8) of a new swap file /swap/NAME (admin token); prints /proc/swaps."""
    nr_bytes = parsed_argument(parse_size, size, "SIZE")
    with Admin(addr, admin_token) as admin:
        area = guarded(lambda: admin.swapon(name, nr_bytes, priority))
    if as_json:
        emit_json(area)
        return
    _print_swaps(addr)


@procps_app.command()
def swapoff(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="NAME, /swap/NAME or a /proc/swaps filename")
    ],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    as_json: JsonFlag = False,
) -> None:
    """swapoff(8) (admin token): every page of the area comes back into memory, then it is
    freed; refused (ENOMEM) with the area still on when they do not fit. Prints /proc/swaps
    (--json: the areas left)."""
    with Admin(addr, admin_token) as admin:
        guarded(lambda: admin.swapoff(name))
    with Inspector(addr) as inspector:
        swaps = guarded(inspector.swaps)
    if as_json:
        emit_json(swaps.items)
        return
    print(swaps.text, end="")


def _print_swaps(addr: str) -> None:
    with Inspector(addr) as inspector:
        print(guarded(inspector.swaps).text, end="")


@procps_app.command()
def free(
    in_bytes: Annotated[bool, typer.Option("-b", "--bytes", help="sizes in bytes")] = False,
    in_kibi: Annotated[bool, typer.Option("-k", "--kibi", help="sizes in KiB (default)")] = False,
    in_mebi: Annotated[bool, typer.Option("-m", "--mebi", help="sizes in MiB")] = False,
    in_gibi: Annotated[bool, typer.Option("-g", "--gibi", help="sizes in GiB")] = False,
    human: Annotated[bool, typer.Option("-h", "--human", help="sizes like 16Mi, 0B")] = False,
    addr: Address = DEFAULT_ADDRESS,
    as_json: Annotated[
        bool, typer.Option("--json", help="print JSON for machines (sizes in KiB)")
    ] = False,
) -> None:
    """free(1): total, used, free, shared, buff/cache and available memory and swap."""
    chosen = [
        unit
        for unit, flag in (("b", in_bytes), ("k", in_kibi), ("m", in_mebi), ("g", in_gibi))
        if flag
    ] + (["h"] if human else [])
    if len(chosen) > 1:
        together = " and ".join(f"-{unit}" for unit in chosen)
        raise UsageError(f"{together} together: give at most one of -b, -k, -m, -g, -h")
    with Inspector(addr) as inspector:
        info = guarded(inspector.meminfo)
    if as_json:
        emit_json(free_table(info.values))
    else:
        print(format_free(info.values, chosen[0] if chosen else "k"), end="")


@procps_app.command()
def pmap(
    pid: Pid,
    extended: Annotated[
        bool, typer.Option("-x", "--extended", help="also RSS and Dirty kB of each mapping")
    ] = False,
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
) -> None:
    """pmap(1): each mapping of PID with its address, Kbytes, mode and name (-x: RSS, Dirty)."""
    with Inspector(addr) as inspector:
        process = guarded(lambda: inspector.status(pid))
        vmas = guarded(lambda: inspector.smaps(pid))
    if as_json:
        emit_json({"pid": process.pid, "name": process.name, "mappings": pmap_rows(vmas)})
    else:
        print(format_pmap(process, vmas, extended), end="")


def _listing(
    addr: str,
    as_json: bool,
    read: Callable[[Inspector], list[T]],
    render: Callable[[list[T]], str],
) -> None:
    """An Inspector listing as ls -l would print it (*render*), or its items as JSON."""
    with Inspector(addr) as inspector:
        items = guarded(lambda: read(inspector))
    if as_json:
        emit_json(items)
    else:
        print(render(items), end="")


@procps_app.command()
def shm(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """ls -l /dev/shm: each named shared memory object's mode, owner uid, size, mappers, the
    bytes of it resident and swapped, and its name."""
    _listing(addr, as_json, Inspector.shm, format_shm)


@procps_app.command()
def files(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """ls -l of the machine's file system: each file's mode, links, owner uid, size, and the
    bytes of it in the page cache, dirty and mapped."""
    _listing(addr, as_json, Inspector.files, format_files)


@contextlib.contextmanager
def _keys_from_terminal() -> Iterator[bool]:
    """Put stdin in cbreak mode while top runs, when it is a terminal; yields whether it is."""
    if not sys.stdin.isatty():
        yield False
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _wait_for_quit(seconds: float, keys: bool) -> bool:
    """Wait up to *seconds* (top's delay); True when q was typed meanwhile."""
    if not keys:
        time.sleep(seconds)  # top's interval, not a synchronisation
        return False
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sys.stdin], [], [], left)
        if ready and os.read(sys.stdin.fileno(), 1) in (b"q", b"Q"):
            return True
    return False


@procps_app.command()
def top(
    addr: Address = DEFAULT_ADDRESS,
    sort: Annotated[
        str, typer.Option(metavar="KEY", help=f"one of {', '.join(TOP_SORT_KEYS)}")
    ] = "rss",
    delay: Annotated[
        float, typer.Option("--delay", "-d", metavar="SECONDS", help="seconds between updates")
    ] = 2.0,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", help="updates before exiting (0 = until q)")
    ] = 0,
    batch: Annotated[
        bool,
        typer.Option("--batch", "-b", help="log every frame, one after another (also when piped)"),
    ] = False,
    limit: Annotated[int, typer.Option(help="rows to show (0 = all)")] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one frame as JSON and exit")
    ] = False,
) -> None:
    """A live process table like top(1), sorted by RSS, swap or faults; q quits."""
    if sort not in TOP_SORT_KEYS:
        raise typer.BadParameter(
            f"{sort!r} is not one of {', '.join(TOP_SORT_KEYS)}", param_hint="--sort"
        )
    if delay <= 0:
        raise typer.BadParameter(f"{delay} is not a positive number of seconds", param_hint="-d")
    with Inspector(addr) as inspector:
        if as_json:
            meminfo, processes = guarded(lambda: _read_top(inspector))
            emit_json(
                {
                    "summary": top_header(addr, meminfo, processes),
                    "processes": [status_fields(p) for p in top_rows(processes, sort, limit)],
                }
            )
            return

        def frame() -> Group:
            meminfo, processes = guarded(lambda: _read_top(inspector))
            return _top_frame(addr, meminfo, processes, sort, limit)

        if batch or not cli_common.console.is_terminal:
            _top_batch(frame, iterations, delay)
        else:
            _top_live(frame, iterations, delay)


def _read_top(inspector: Inspector) -> tuple[dict[str, int], list[ProcessStatus]]:
    return inspector.meminfo().values, inspector.processes()


def _top_frame(
    addr: str, meminfo: dict[str, int], processes: list[ProcessStatus], sort: str, limit: int
) -> Group:
    # rich here, not at the top: vmstat, free and pmap print plain text and never load it
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, caption=f"sorted by {sort}; sizes in kB")
    for heading in ("PID", "NAME", "VIRT", "RES", "SWAP", "PTE", "MINFLT", "MAJFLT"):
        table.add_column(heading, justify="left" if heading == "NAME" else "right")
    for p in top_rows(processes, sort, limit):
        table.add_row(str(p.pid), p.name, *memory_cells(p))
    header = Text("\n".join(top_header(addr, meminfo, processes)), no_wrap=True)
    return Group(header, table)


def _top_batch(frame: Any, iterations: int, delay: float) -> None:
    """top -b: every frame printed after the previous one, for a log or a pipe."""
    from rich.console import Console

    out = Console(width=max(cli_common.console.width, 80), force_terminal=False, highlight=False)
    shown = 0
    try:
        while True:
            out.print(frame())
            shown += 1
            if iterations and shown >= iterations:
                return
            time.sleep(delay)  # top's interval, not a synchronisation
    except KeyboardInterrupt:
        pass


def _top_live(frame: Any, iterations: int, delay: float) -> None:
    """top on a terminal: one frame redrawn in place until q, Ctrl-C or the last iteration."""
    from rich.live import Live

    with (
        _keys_from_terminal() as keys,
        Live(frame(), console=cli_common.console, auto_refresh=False) as live,
    ):
        shown = 1
        try:
            while not iterations or shown < iterations:
                if _wait_for_quit(delay, keys):
                    return
                live.update(frame(), refresh=True)
                shown += 1
        except KeyboardInterrupt:
            pass
