"""The `vmsim` command line: server, demo, shell, stat, ps, maps, status, translate, events, replay, kill."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from . import calls
from .client import Admin, Inspector
from .constants import DEFAULT_ADDRESS
from .errors import VmsimError

__all__ = ["app", "main", "parse_address", "parse_size", "parse_trace_text"]

app = typer.Typer(
    help="vmsim: a networked simulator of the Linux virtual-memory system of a 32-bit x86 machine.",
    no_args_is_help=True,
    add_completion=False,
)
stat_app = typer.Typer(help="Machine-wide /proc reports.", no_args_is_help=True)
app.add_typer(stat_app, name="stat")

console = Console()
T = TypeVar("T")

Address = Annotated[str, typer.Option("--addr", envvar="VMSIM_ADDR", help="server host:port")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]

_SIZE = re.compile(r"^(0x[0-9a-fA-F]+|\d+)([kKmMgG]?)$")


def parse_size(text: str) -> int:
    """'4096', '0x1000', '16k', '64M', '1G' -> bytes."""
    match = _SIZE.match(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size (examples: 4096, 0x1000, 16k, 64M, 1G)")
    return (
        int(match.group(1), 0)
        * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    )


def parse_address(text: str) -> int:
    """A virtual address in hex (0x...) or decimal."""
    try:
        return int(text, 0)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an address (examples: 0xb7000000, 4096)"
        ) from None


def parse_trace_text(text: str) -> list[int]:
    """Whitespace/comma separated integers, decimal or 0x-hex, '#' comments."""
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if token:
                try:
                    values.append(int(token, 0))
                except ValueError:
                    raise typer.BadParameter(f"line {number}: {token!r} is not a number") from None
    return values


def fail(error: VmsimError) -> NoReturn:
    """One line on stderr, exit 1: never a traceback for a server error."""
    Console(stderr=True).print(f"[red]error[/red] {error.code}: {error.message}", highlight=False)
    raise typer.Exit(1)


def guarded(action: Callable[[], T]) -> T:
    """Run *action*, turning client errors into the one-line failure."""
    try:
        return action()
    except VmsimError as error:
        fail(error)


def emit_json(value: Any) -> None:
    """Print *value* (dataclasses included) as JSON."""

    def default(item: Any) -> Any:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        raise TypeError(f"cannot encode {type(item).__name__}")

    print(json.dumps(value, default=default, indent=2))


# ---- server, demo, shell -----------------------------------------------------------------------------
@app.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    }
)
def server(ctx: typer.Context) -> None:
    """Run a server in the foreground (all arguments go to vmsim-server; try `vmsim server --help`)."""
    command = [sys.executable, "-m", "vmsim_server", *ctx.args]
    os.execv(sys.executable, command)


@app.command()
def demo(
    addr: Annotated[
        str | None, typer.Option("--addr", help="use this server instead of starting one")
    ] = None,
) -> None:
    """Start a server (unless --addr is given) and show lazy allocation, swapping and a SIGSEGV."""
    from .demo import run_demo

    raise typer.Exit(guarded(lambda: run_demo(addr, console)))


@app.command()
def shell(
    addr: Address = DEFAULT_ADDRESS,
    name: Annotated[str, typer.Option(help="process name")] = "shell",
) -> None:
    """An interactive process: mmap, touch, read, write, translate, maps ... (type help)."""
    from .shell import ProcessShell

    guarded(lambda: ProcessShell(addr, name).cmdloop())


# ---- reports -------------------------------------------------------------------------------------------
def _stat(report: str, addr: str, as_json: bool) -> None:
    with Inspector(addr) as inspector:
        value = guarded(getattr(inspector, report))
    if as_json:
        emit_json(
            value.values
            if hasattr(value, "values") and isinstance(value.values, dict)
            else value.items
        )
    else:
        print(value.text, end="")


@stat_app.command("meminfo")
def stat_meminfo(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/meminfo."""
    _stat("meminfo", addr, as_json)


@stat_app.command("vmstat")
def stat_vmstat(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/vmstat."""
    _stat("vmstat", addr, as_json)


@stat_app.command("zoneinfo")
def stat_zoneinfo(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/zoneinfo."""
    _stat("zoneinfo", addr, as_json)


@stat_app.command("buddyinfo")
def stat_buddyinfo(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/buddyinfo."""
    _stat("buddyinfo", addr, as_json)


@stat_app.command("swaps")
def stat_swaps(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/swaps."""
    _stat("swaps", addr, as_json)


def _kb(value: int) -> str:
    return f"{value // 1024:,}"


@app.command()
def ps(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """Processes with their memory (kB) and fault counts."""
    with Inspector(addr) as inspector:
        processes = guarded(inspector.processes)
    if as_json:
        emit_json(processes)
        return
    table = Table(
        "PID", "NAME", "S", "VSZ", "RSS", "SWAP", "PTE", "MINFLT", "MAJFLT", "OOM_ADJ", "KILLED BY"
    )
    for p in processes:
        table.add_row(
            str(p.pid),
            p.name,
            p.state,
            _kb(p.vm_size),
            _kb(p.vm_rss),
            _kb(p.vm_swap),
            _kb(p.vm_pte),
            str(p.minor_faults),
            str(p.major_faults),
            str(p.oom_score_adj),
            f"{p.killed_by}: {p.kill_reason}" if p.killed_by else "",
        )
    console.print(table)


@app.command()
def maps(
    pid: int,
    addr: Address = DEFAULT_ADDRESS,
    smaps: Annotated[bool, typer.Option("--smaps")] = False,
    as_json: JsonFlag = False,
) -> None:
    """/proc/PID/maps (or smaps)."""
    with Inspector(addr) as inspector:
        listing = guarded(lambda: inspector.smaps(pid) if smaps else inspector.maps(pid))
    if as_json:
        emit_json(listing.items)
    else:
        print(listing.text, end="")


@app.command()
def status(pid: int, addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/PID/status."""
    with Inspector(addr) as inspector:
        info, text = guarded(lambda: inspector.status(pid))
    if as_json:
        emit_json(info)
    else:
        print(text, end="")


@app.command()
def translate(
    pid: int,
    address: Annotated[str, typer.Argument(help="virtual address, e.g. 0xb7000000")],
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
) -> None:
    """Show the page walk of ADDRESS in process PID: linear -> PDE -> PTE -> physical."""
    linear = parse_address(address)
    with Inspector(addr) as inspector:
        walk = guarded(lambda: inspector.translation(pid, linear))
    if as_json:
        emit_json(walk)
    else:
        print(walk.text, end="")


@app.command()
def events(
    addr: Address = DEFAULT_ADDRESS,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help=f"one of {', '.join(calls.EVENT_KINDS)}")
    ] = None,
    pid: Annotated[int | None, typer.Option(help="only this process")] = None,
    count: Annotated[int, typer.Option(help="stop after N events (0 = follow until Ctrl-C)")] = 0,
    seconds: Annotated[float, typer.Option(help="stop after this many seconds (0 = no limit)")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Follow the event feed: faults, swap-outs/ins, OOM kills, process exits."""
    with Inspector(addr) as inspector:
        try:
            feed = inspector.events(kind or (), pid, timeout=seconds or None)
            for n, event in enumerate(guarded(lambda: feed), start=1):
                if as_json:
                    print(json.dumps(dataclasses.asdict(event)), flush=True)
                else:
                    where = f" addr=0x{event.address:08x}" if event.address is not None else ""
                    frame = f" pfn={event.pfn}" if event.pfn is not None else ""
                    print(
                        f"{event.seq:>8} {event.kind:<14} pid={event.pid}{where}{frame} {event.detail}",
                        flush=True,
                    )
                if count and n >= count:
                    break
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        except VmsimError as error:
            fail(error)
        except KeyboardInterrupt:
            pass


@app.command()
def replay(
    trace: Annotated[
        str, typer.Argument(help="trace file of page numbers (or addresses), '-' for stdin")
    ],
    policy: Annotated[str, typer.Option(help="fifo, lru, clock, random, opt or linux")] = "lru",
    frames: Annotated[int, typer.Option(help="number of frames")] = 3,
    seed: Annotated[int, typer.Option(help="seed for random")] = 0,
    addresses: Annotated[
        bool, typer.Option("--addresses", help="the trace holds byte addresses")
    ] = False,
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
) -> None:
    """Replay a reference string on the server: hits, misses and the victims, as in the textbook."""
    text = sys.stdin.read() if trace == "-" else Path(trace).read_text()
    pages = parse_trace_text(text)
    with Inspector(addr) as inspector:
        result = guarded(lambda: inspector.replay(pages, frames, policy, seed, addresses))
    if as_json:
        emit_json(dataclasses.asdict(result) | {"hit_ratio": result.hit_ratio})
        return
    print(f"policy {result.policy}, {result.frames} frames, {result.references} references")
    print(f"hits {result.hits}  misses {result.misses}  hit ratio {result.hit_ratio:.3f}")
    print("victims " + (" ".join(str(v) for v in result.victims) or "-"))


@app.command()
def kill(
    pid: int,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: Annotated[
        str, typer.Option(envvar="VMSIM_ADMIN_TOKEN", help="the server's admin token")
    ] = "",
    reason: Annotated[str, typer.Option(help="recorded as the kill reason")] = "killed by admin",
) -> None:
    """SIGKILL a process (needs the admin token)."""
    with Admin(addr, admin_token) as admin:
        guarded(lambda: admin.kill(pid, reason))
    print(f"killed {pid}")


def main() -> None:
    """Console-script entry point."""
    app()
