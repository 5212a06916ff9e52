"""The `vmsim` command line: server, demo, shell, stat, ps, maps, status, translate, events, replay, kill,
load, vmstat, free, pmap, top, dashboard and kernel."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from . import calls
from .calls import Listing
from .client import Admin, Inspector
from .constants import DEFAULT_ADDRESS
from .errors import VmsimError
from .render import parse_address, parse_size, parse_trace_text
from .results import Event, MissRatioCurve, ProcessStatus, Report

__all__ = ["app", "main"]

app = typer.Typer(
    help="vmsim: a networked simulator of the Linux virtual-memory system of a 32-bit x86 machine.",
    no_args_is_help=True,
    add_completion=False,
)
stat_app = typer.Typer(help="Machine-wide /proc reports.", no_args_is_help=True)
app.add_typer(stat_app, name="stat")

console = Console()
T = TypeVar("T")

# VMSIM_ADDR: the one variable of the address, here and in vmsim-server's settings.
Address = Annotated[str, typer.Option("--addr", envvar="VMSIM_ADDR", help="server host:port")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
Pid = Annotated[int, typer.Argument(help="process id (see `vmsim ps`)")]
KernelSize = Annotated[str, typer.Argument(help="bytes: 4096, 0x1000, 16k, 1M")]
KernelAddress = Annotated[str, typer.Argument(help="kernel virtual address, e.g. 0xc4800000")]
AdminToken = Annotated[
    str,
    typer.Option(
        envvar="VMSIM_ADMIN_TOKEN",
        help="the server's admin token (or VMSIM_ADMIN_TOKEN_FILE / --admin-token-file)",
    ),
]


@app.callback()
def connection_options(
    tls_ca: Annotated[
        str | None,
        typer.Option(envvar="VMSIM_TLS_CA", help="PEM CA of the server's certificate: use TLS"),
    ] = None,
    tls_cert: Annotated[
        str | None,
        typer.Option(envvar="VMSIM_TLS_CERT", help="PEM client certificate (mutual TLS)"),
    ] = None,
    tls_key: Annotated[
        str | None, typer.Option(envvar="VMSIM_TLS_KEY", help="PEM key of --tls-cert")
    ] = None,
    tls_server_name: Annotated[
        str | None,
        typer.Option(envvar="VMSIM_TLS_SERVER_NAME", help="name to check the certificate for"),
    ] = None,
    client_name: Annotated[
        str | None,
        typer.Option(envvar="VMSIM_CLIENT_NAME", help="who this client is, for per-client limits"),
    ] = None,
    admin_token_file: Annotated[
        str | None,
        typer.Option(envvar="VMSIM_ADMIN_TOKEN_FILE", help="file holding the admin token"),
    ] = None,
) -> None:
    """Options for every command: how to reach the server (before the command name)."""
    # Every client object reads these from the environment (channels.py), so they reach the
    # demo, the shell and load-generator worker processes too.
    chosen = {
        "VMSIM_TLS_CA": tls_ca,
        "VMSIM_TLS_CERT": tls_cert,
        "VMSIM_TLS_KEY": tls_key,
        "VMSIM_TLS_SERVER_NAME": tls_server_name,
        "VMSIM_CLIENT_NAME": client_name,
        "VMSIM_ADMIN_TOKEN_FILE": admin_token_file,
    }
    for name, value in chosen.items():
        if value:
            os.environ[name] = value


def fail(error: VmsimError) -> NoReturn:
    """One line on stderr, exit 1: never a traceback for a server error."""
    message = " ".join(error.message.split())  # one line, whatever the server wrote
    typer.echo(f"vmsim: {error.code}: {message}", err=True)
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


experiment_app = typer.Typer(help="Experiments run on embedded machines.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command()
def locks(
    seed: Annotated[int, typer.Option(help="seed of the page orders")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Spinlock versus sleeping lock, with numbers from lock_stat (deterministic for a seed).

    Runs the kernel's experiment (vmsim_teach.lock_experiment) in a child process, as
    `vmsim server` does; exits 1 if the textbook ordering did not hold.
    """
    command = [sys.executable, "-m", "vmsim_teach.lock_experiment", "--seed", str(seed)]
    os.execv(sys.executable, [*command, *(["--json"] if as_json else [])])


@app.command()
def demo(
    addr: Annotated[
        str | None, typer.Option("--addr", help="use this server instead of starting one")
    ] = None,
) -> None:
    """Start a server (unless --addr is given) and show lazy allocation, swapping and a SIGSEGV."""
    from .demo import DemoFailed, run_demo

    try:
        code = guarded(lambda: run_demo(addr, console))
    except DemoFailed as failure:
        typer.echo(f"vmsim: demo failed: {' '.join(str(failure).split())}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


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
        value: Report | Listing[Any] = guarded(getattr(inspector, report))
    if as_json:
        emit_json(value.values if isinstance(value, Report) else value.items)
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


@stat_app.command("layout")
def stat_layout(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """Boot layout: the "virtual kernel memory layout" block and the memblock reservations."""
    _stat("layout", addr, as_json)


@stat_app.command("lock_stat")
def stat_lock_stat(
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="clear the statistics (needs --admin-token)")
    ] = False,
    admin_token: Annotated[
        str, typer.Option(envvar="VMSIM_ADMIN_TOKEN", help="the server's admin token")
    ] = "",
) -> None:
    """/proc/lock_stat: contentions, wait and hold times per lock class (simulated time)."""
    if reset:
        with Admin(addr, admin_token) as admin:
            guarded(admin.reset_lock_stat)
    with Inspector(addr) as inspector:
        listing = guarded(inspector.lock_stat)
    if as_json:
        emit_json(listing.items)
    else:
        print(listing.text, end="")


@stat_app.command("cpu")
def stat_cpu(addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """Machine-wide simulated CPU time: user, system, iowait, lock wait (/proc/stat style)."""
    with Inspector(addr) as inspector:
        times = guarded(inspector.cpu_times)
    if as_json:
        emit_json({k: v for k, v in dataclasses.asdict(times).items() if k != "text"})
    else:
        print(times.text, end="")


def _status_fields(status: ProcessStatus) -> dict[str, Any]:
    """The numbers of a status, for JSON (the text is for people)."""
    return {k: v for k, v in dataclasses.asdict(status).items() if k != "text"}


def _kb(value: int) -> str:
    return f"{value // 1024:,}"


@app.command()
def ps(
    addr: Address = DEFAULT_ADDRESS,
    as_json: JsonFlag = False,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="also the processes that have ended (zombies)")
    ] = False,
) -> None:
    """Live processes with their memory (kB) and fault counts."""
    with Inspector(addr) as inspector:
        processes = guarded(lambda: inspector.processes(all=show_all))
    if as_json:
        emit_json([_status_fields(p) for p in processes])
        return
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption="sizes in kB; times are simulated milliseconds",
    )
    table.add_column("PID", justify="right")
    table.add_column("NAME", no_wrap=True)
    table.add_column("S")
    for heading in (
        "VSZ",
        "RSS",
        "SWAP",
        "PTE",
        "MINFLT",
        "MAJFLT",
        "THR",
        "USR ms",
        "SYS ms",
        "IO ms",
        "LOCK ms",
    ):
        table.add_column(heading, justify="right")
    table.add_column("KILLED BY", no_wrap=True)
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
            str(p.nr_threads),
            *(f"{ns / 1e6:.3f}" for ns in (p.user_ns, p.system_ns, p.iowait_ns, p.lock_wait_ns)),
            p.killed_by or "",
        )
    Console(width=max(console.width, 150)).print(table)  # wide enough for every column


@app.command()
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
        listing = guarded(lambda: inspector.smaps(pid) if smaps else inspector.maps(pid))
    if as_json:
        emit_json(listing.items)
    else:
        print(listing.text, end="")


@app.command()
def status(pid: Pid, addr: Address = DEFAULT_ADDRESS, as_json: JsonFlag = False) -> None:
    """/proc/PID/status."""
    with Inspector(addr) as inspector:
        info = guarded(lambda: inspector.status(pid))
    if as_json:
        emit_json(_status_fields(info))
    else:
        print(info.text, end="")


@app.command()
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
    try:
        linear = 0 if logical else parse_address(address)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="ADDRESS") from None
    with Inspector(addr) as inspector:
        walk = guarded(lambda: inspector.translation(pid, linear, logical))
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


OptionalAddress = Annotated[
    str | None,
    typer.Option(
        "--addr",
        envvar="VMSIM_ADDR",
        help="server host:port (default: an in-process server, offline)",
    ),
]


def _offline_guarded(addr: str | None, action: Callable[[str], T]) -> T:
    """Run *action* against *addr*, or against an embedded server when no address is given."""
    from .offline import server_address

    def run() -> T:
        with server_address(addr) as address:
            return action(address)

    return guarded(run)


@app.command()
def replay(
    trace: Annotated[
        str, typer.Argument(help="trace file of page numbers (or addresses), '-' for stdin")
    ],
    policy: Annotated[
        str, typer.Option(help="fifo, lru, mru, clock, random, opt, unopt or linux")
    ] = "lru",
    frames: Annotated[int, typer.Option(help="number of frames")] = 3,
    seed: Annotated[int, typer.Option(help="seed for random")] = 0,
    addresses: Annotated[
        bool, typer.Option("--addresses", help="the trace holds byte addresses")
    ] = False,
    mrc: Annotated[
        bool,
        typer.Option(
            "--mrc", help="the LRU miss-ratio curve: misses for every frame count, in one pass"
        ),
    ] = False,
    steps: Annotated[
        bool,
        typer.Option("--steps", help="print the memory after every reference (OSTEP's -c)"),
    ] = False,
    addr: OptionalAddress = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay a reference string: hits, misses and the victims, as in the textbook (offline by default)."""
    try:
        text = sys.stdin.read() if trace == "-" else Path(trace).read_text()
    except OSError as error:
        raise typer.BadParameter(
            f"cannot read {trace}: {error.strerror}", param_hint="TRACE"
        ) from None
    try:
        pages = parse_trace_text(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="TRACE") from None
    if not pages:
        raise typer.BadParameter(f"{trace} holds no references", param_hint="TRACE")
    if mrc:
        _print_miss_ratio_curve(pages, addresses, addr, as_json)
        return

    def run(address: str) -> Any:
        with Inspector(address) as inspector:
            return inspector.replay(pages, frames, policy, seed, addresses, steps)

    result = _offline_guarded(addr, run)
    if as_json:
        emit_json(dataclasses.asdict(result) | {"hit_ratio": result.hit_ratio})
        return
    print(f"policy {result.policy}, {result.frames} frames, {result.references} references")
    for step in result.steps:
        outcome = "hit " if step.hit else "miss"
        victim = f" evict {step.victim}" if step.victim is not None else ""
        print(f"access {step.page:>6}  {outcome}{victim:<12}  frames {step.frames_text()}")
    if result.steps and result.steps[0].use_bits:
        print("(* use bit set, > the clock hand)")
    print(f"hits {result.hits}  misses {result.misses}  hit ratio {result.hit_ratio:.3f}")
    print("victims " + (" ".join(str(v) for v in result.victims) or "-"))


def _print_miss_ratio_curve(
    pages: list[int], addresses: bool, addr: str | None, as_json: bool
) -> None:
    """`vmsim replay --mrc`: every frame count in JSON; about 30 of them, log-spaced, as text."""

    def run(address: str) -> MissRatioCurve:
        with Inspector(address) as inspector:
            return inspector.miss_ratio_curve(pages, addresses)

    curve = _offline_guarded(addr, run)
    if as_json:
        emit_json(dataclasses.asdict(curve))
        return
    print(
        f"LRU miss-ratio curve: {curve.references} references, {curve.distinct_pages} distinct "
        "pages (every frame count: --json)"
    )
    print(f"{'frames':>8} {'misses':>10} {'miss ratio':>10}")
    shown = sorted(
        {1, curve.distinct_pages} | {round(curve.distinct_pages ** (i / 30)) for i in range(31)}
    )
    for frames in shown:
        if frames >= 1:
            print(f"{frames:>8} {curve.misses_with(frames):>10} {curve.miss_ratio(frames):>10.3f}")


@app.command()
def kill(
    pid: Pid,
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


@app.command()
def load(
    addr: Address = DEFAULT_ADDRESS,
    clients: Annotated[int, typer.Option(help="concurrent client processes")] = 10,
    workload: Annotated[
        str, typer.Option(help="seq, random, zipf, phases, thrash, stride or trace")
    ] = "random",
    pages: Annotated[
        int,
        typer.Option(
            help="pages each client maps (thrash sizes it from the server: all clients "
            "together loop over 1.5 x RAM, within RAM + swap)"
        ),
    ] = 1024,
    batch: Annotated[int, typer.Option(help="addresses per TouchMany")] = 256,
    write_ratio: Annotated[float, typer.Option(help="fraction of batches that write")] = 0.3,
    duration: Annotated[float, typer.Option(help="seconds to run (0 = until --operations)")] = 10.0,
    operations: Annotated[
        int, typer.Option(help="operations per client (0 = until --duration)")
    ] = 0,
    think_time: Annotated[
        float, typer.Option(help="seconds each client sleeps between operations")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="seed of every workload")] = 0,
    mode: Annotated[
        str, typer.Option(help="asyncio (tasks in this process) or processes (OS processes)")
    ] = "asyncio",
    workers: Annotated[int, typer.Option(help="OS processes in processes mode")] = 2,
    trace: Annotated[Path | None, typer.Option(help="trace file for the trace workload")] = None,
    over_stream: Annotated[
        bool,
        typer.Option(
            "--over-stream",
            help="each client sends its calls on one open Run stream, not one RPC each",
        ),
    ] = False,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="write faults and throughput over time as CSV")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="write faults and throughput over time as a PNG")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Load-test a server: N clients run a workload, then a report of rates, latencies, faults, errors."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .load import LoadConfig, run_load, write_csv, write_plot
    from .workloads import Workload

    try:
        pattern = Workload(
            pattern=workload,
            region_pages=pages,
            batch=batch,
            write_ratio=write_ratio,
            trace=parse_trace_text(trace.read_text()) if trace else (),
        )
        config = LoadConfig(
            address=addr,
            workload=pattern,
            clients=clients,
            duration=duration or None,
            operations=operations or None,
            think_time=think_time,
            seed=seed,
            mode=mode,
            workers=workers,
            over_stream=over_stream,
        )
    except (ValueError, OSError) as error:
        raise typer.BadParameter(str(error)) from None
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(done: int, seconds: float) -> None:
            rate = done / seconds if seconds else 0.0
            bar.update(
                task, description=f"{clients} clients, {done:,} operations, {rate:,.0f} ops/s"
            )

        try:
            report = guarded(lambda: run_load(config, update))
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    if csv_path:
        write_csv(report, csv_path)
    if plot:
        try:
            write_plot(report, plot)
        except ImportError:
            raise typer.BadParameter("--plot needs matplotlib: pip install 'vmsim[load]'") from None
    if as_json:
        emit_json(report.as_dict())
        return
    table = Table(
        "measure",
        "value",
        title=f"vmsim load: {clients} clients, {workload}, {report.seconds:.1f} s",
    )
    latency = report.latency_ms
    for name, value in (
        ("operations", f"{report.operations:,} ({report.operations_per_second:,.0f}/s)"),
        ("touches", f"{report.touches:,} ({report.touches_per_second:,.0f}/s)"),
        (
            "latency p50 / p90 / p99 / max",
            f"{latency['p50']:.2f} / {latency['p90']:.2f} / {latency['p99']:.2f} / {latency['max']:.2f} ms",
        ),
        (
            "hits / minor / major faults",
            f"{report.hits:,} / {report.minor_faults:,} / {report.major_faults:,}",
        ),
        ("swap in / out (pages, machine-wide)", f"{report.swap_in:,} / {report.swap_out:,}"),
        (
            "OOM kills (machine) / our processes killed",
            f"{report.oom_kills} / {report.processes_killed}",
        ),
        (
            "errors by status",
            ", ".join(f"{code} {n}" for code, n in report.errors.items()) or "none",
        ),
    ):
        table.add_row(name, value)
    console.print(table)


@app.command()
def vmstat(
    delay: Annotated[
        float | None, typer.Argument(help="seconds between lines (one line since boot without it)")
    ] = None,
    count: Annotated[
        int | None, typer.Argument(help="lines to print (default: until Ctrl-C)")
    ] = None,
    addr: Address = DEFAULT_ADDRESS,
) -> None:
    """vmstat(8): processes, memory, swap, io, system and cpu columns, rates per interval."""
    import time

    from .views import VMSTAT_HEADER, read_vmstat_sample, vmstat_line

    if delay is not None and delay <= 0:
        raise typer.BadParameter("DELAY must be positive", param_hint="DELAY")
    lines = count if count is not None else (None if delay else 1)
    print(VMSTAT_HEADER)
    with Inspector(addr) as inspector:
        previous = None
        printed = 0
        try:
            while lines is None or printed < lines:
                if printed:
                    time.sleep(delay or 0)
                sample = guarded(lambda: read_vmstat_sample(inspector, time.monotonic()))
                print(vmstat_line(previous, sample), flush=True)
                previous, printed = sample, printed + 1
        except KeyboardInterrupt:
            pass


@app.command()
def free(
    human: Annotated[bool, typer.Option("-h", "--human", help="sizes like 16Mi")] = False,
    addr: Address = DEFAULT_ADDRESS,
) -> None:
    """free(1): total, used, free, shared, buff/cache and available memory and swap (KiB)."""
    from .views import format_free

    with Inspector(addr) as inspector:
        info = guarded(inspector.meminfo)
    print(format_free(info.values, human), end="")


@app.command()
def pmap(
    pid: Pid,
    extended: Annotated[bool, typer.Option("-x", help="extended format (the only one)")] = True,
    addr: Address = DEFAULT_ADDRESS,
) -> None:
    """pmap -x PID: each mapping with its size, RSS and dirty kB."""
    from .views import format_pmap

    with Inspector(addr) as inspector:
        status_ = guarded(lambda: inspector.status(pid))
        vmas = guarded(lambda: inspector.smaps(pid))
    print(format_pmap(status_, vmas), end="")


@app.command()
def top(
    addr: Address = DEFAULT_ADDRESS,
    sort: Annotated[str, typer.Option(help="rss, swap, faults or pid")] = "rss",
    delay: Annotated[float, typer.Option("--delay", "-d", help="seconds between updates")] = 2.0,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", help="updates before exiting (0 = until Ctrl-C)")
    ] = 0,
    limit: Annotated[int, typer.Option(help="rows to show (0 = all)")] = 30,
) -> None:
    """A live process table like top(1), sorted by RSS, swap or faults."""
    import time

    from rich.live import Live

    from .views import TOP_SORT_KEYS, top_rows

    if sort not in TOP_SORT_KEYS:
        raise typer.BadParameter(f"one of {', '.join(TOP_SORT_KEYS)}", param_hint="--sort")

    def frame(inspector: Inspector) -> Table:
        meminfo = inspector.meminfo().values
        processes = inspector.processes()
        live = [p for p in processes if p.state != "Z"]
        table = Table(
            box=box.SIMPLE_HEAD,
            title=(
                f"vmsim top - {addr}   {len(live)} processes   "
                f"Mem {meminfo['MemTotal']} kB total, {meminfo['MemFree']} free   "
                f"Swap {meminfo['SwapTotal']} kB total, {meminfo['SwapFree']} free"
            ),
            title_justify="left",
            caption=f"sorted by {sort}; sizes in kB",
        )
        for heading in ("PID", "NAME", "VIRT", "RES", "SWAP", "PTE", "MINFLT", "MAJFLT"):
            table.add_column(heading, justify="left" if heading == "NAME" else "right")
        for p in top_rows(processes, sort, limit):
            table.add_row(
                str(p.pid),
                p.name,
                _kb(p.vm_size),
                _kb(p.vm_rss),
                _kb(p.vm_swap),
                _kb(p.vm_pte),
                str(p.minor_faults),
                str(p.major_faults),
            )
        return table

    with Inspector(addr) as inspector:
        first = guarded(lambda: frame(inspector))
        shown = 1
        try:
            with Live(first, console=console, auto_refresh=False) as live:
                while not iterations or shown < iterations:
                    time.sleep(delay)
                    live.update(guarded(lambda: frame(inspector)), refresh=True)
                    shown += 1
        except KeyboardInterrupt:
            pass


@app.command()
def dashboard(
    addr: Address = DEFAULT_ADDRESS,
    host: Annotated[str, typer.Option(help="interface the web page listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the web page")] = 8080,
    event_kind: Annotated[
        list[str] | None,
        typer.Option(
            "--event-kind",
            help="event kinds to follow (repeatable; default: all but minor_fault, which "
            f"would make the kernel report every fault); one of {', '.join(calls.EVENT_KINDS)}",
        ),
    ] = None,
    admin_token: AdminToken = "",
) -> None:
    """Serve the live web dashboard of the server at --addr: memory map, processes, charts,
    events, and the lab scoreboard (with the admin token, when the server runs a lab)."""
    from .channels import admin_token_from
    from .dashboard import DEFAULT_EVENT_KINDS, serve_dashboard

    kinds = tuple(event_kind or DEFAULT_EVENT_KINDS)
    try:
        calls.watch_request(kinds, None)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--event-kind") from None
    try:
        token = admin_token_from(admin_token)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot read the admin token file: {error}", param_hint="--admin-token-file"
        ) from None
    console.print(f"vmsim dashboard of {addr} on http://{host}:{port}/ (Ctrl-C stops)")
    if not token:
        console.print("no admin token: the lab scoreboard stays empty (see --help)")
    serve_dashboard(addr, host, port, kinds, token)


kernel_app = typer.Typer(
    help="The shared kernel space (needs the admin token): kmalloc, vmalloc, kmap, __pa/__va, reports.",
    no_args_is_help=True,
)
app.add_typer(kernel_app, name="kernel")
SessionOption = Annotated[
    int | None,
    typer.Option(
        help="a session from `vmsim kernel session`; without it the memory is freed when the command ends"
    ),
]


def _argument(parse: Callable[[str], int], text: str, hint: str) -> int:
    """*text* parsed, or a usage error naming the argument and what it accepts (exit 2)."""
    try:
        return parse(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=hint) from None


def _gfp(name: str) -> str:
    from .kernel import GFP

    if name not in GFP:
        raise typer.BadParameter(f"{name!r} is not one of {', '.join(GFP)}", param_hint="--gfp")
    return name


def _kernel(addr: str, admin_token: str, session: int | None) -> Any:
    from .kernel import Kernel

    return guarded(lambda: Kernel(addr, admin_token, session=session))


def _kernel_do(addr: str, admin_token: str, session: int | None, action: Callable[[Any], T]) -> T:
    kernel = _kernel(addr, admin_token, session)
    try:
        return guarded(lambda: action(kernel))
    finally:
        kernel.close()


@kernel_app.command("session")
def kernel_session(addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = "") -> None:
    """Open a kernel session and print its id; it ends after the server's lease without calls."""
    kernel = _kernel(addr, admin_token, None)
    print(kernel.session)
    kernel._owns_session = False  # the session outlives this command
    kernel.close()


@kernel_app.command("close")
def kernel_close(
    session: Annotated[int, typer.Argument(help="the session `vmsim kernel session` printed")],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
) -> None:
    """End a kernel session: everything it allocated or mapped is freed."""
    kernel = _kernel(addr, admin_token, session)
    kernel._owns_session = True
    kernel.close()


def _print_address(value: int, note: str, borrowed: bool) -> None:
    print(
        f"0x{value:08x}"
        + ("" if borrowed else f"  ({note} freed again as this one-shot session ended)")
    )


@kernel_app.command("kmalloc")
def kernel_kmalloc(
    size: KernelSize,
    gfp: Annotated[
        str, typer.Option(help="kernel, atomic or dma (user pages are highmem)")
    ] = "kernel",
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """kmalloc(SIZE, GFP): an object from the kmalloc-N slab caches (pages above 8 KiB)."""
    nr_bytes, gfp = _argument(parse_size, size, "SIZE"), _gfp(gfp)
    _print_address(
        _kernel_do(addr, admin_token, session, lambda k: k.kmalloc(nr_bytes, gfp)),
        "object",
        session is not None,
    )


@kernel_app.command("kfree")
def kernel_kfree(
    address: KernelAddress,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """kfree(ADDRESS)."""
    vaddr = _argument(parse_address, address, "ADDRESS")
    _kernel_do(addr, admin_token, session, lambda k: k.kfree(vaddr))


@kernel_app.command("vmalloc")
def kernel_vmalloc(
    size: KernelSize,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """vmalloc(SIZE): virtually contiguous, physically scattered, a guard page after it."""
    nr_bytes = _argument(parse_size, size, "SIZE")
    _print_address(
        _kernel_do(addr, admin_token, session, lambda k: k.vmalloc(nr_bytes)),
        "area",
        session is not None,
    )


@kernel_app.command("vfree")
def kernel_vfree(
    address: KernelAddress,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """vfree(ADDRESS)."""
    vaddr = _argument(parse_address, address, "ADDRESS")
    _kernel_do(addr, admin_token, session, lambda k: k.vfree(vaddr))


@kernel_app.command("kmap")
def kernel_kmap(
    pfn: Annotated[int, typer.Argument(help="page frame number to map")],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for a free pkmap slot")] = 30.0,
) -> None:
    """kmap(page PFN): its kernel address (a pkmap slot for a high page)."""
    _print_address(
        _kernel_do(addr, admin_token, session, lambda k: k.kmap(pfn, wait)),
        "mapping",
        session is not None,
    )


@kernel_app.command("kunmap")
def kernel_kunmap(
    pfn_or_address: Annotated[
        str, typer.Argument(help="the page frame number or the address kmap returned")
    ],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """kunmap(page): by PFN or by its kmap address."""
    page = _argument(parse_address, pfn_or_address, "PFN_OR_ADDRESS")
    _kernel_do(addr, admin_token, session, lambda k: k.kunmap(page))


@kernel_app.command("pa")
def kernel_pa(
    vaddr: KernelAddress, addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = ""
) -> None:
    """__pa(VADDR): direct-map addresses only."""
    linear = _argument(parse_address, vaddr, "VADDR")
    print(f"0x{_kernel_do(addr, admin_token, None, lambda k: k.pa(linear)):08x}")


@kernel_app.command("va")
def kernel_va(
    paddr: Annotated[str, typer.Argument(help="physical address, e.g. 0x100000")],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
) -> None:
    """__va(PADDR): low memory only (a high page must be kmapped)."""
    physical = _argument(parse_address, paddr, "PADDR")
    print(f"0x{_kernel_do(addr, admin_token, None, lambda k: k.va(physical)):08x}")


@kernel_app.command("translate")
def kernel_translate(
    address: Annotated[
        str, typer.Argument(help="linear or logical address: 0xc0100000, __KERNEL_DS:0xc0100000")
    ],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
) -> None:
    """The walk of a kernel address, or selector:offset (e.g. __KERNEL_DS:0xc0100000) through the GDT."""
    logical = address if ":" in address else ""
    linear = 0 if logical else _argument(parse_address, address, "ADDRESS")
    print(_kernel_do(addr, admin_token, None, lambda k: k.translate(linear, logical)).text, end="")


@kernel_app.command("slabinfo")
def kernel_slabinfo(addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = "") -> None:
    """/proc/slabinfo."""
    print(_kernel_do(addr, admin_token, None, lambda k: k.slabinfo()), end="")


@kernel_app.command("vmallocinfo")
def kernel_vmallocinfo(addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = "") -> None:
    """/proc/vmallocinfo."""
    print(_kernel_do(addr, admin_token, None, lambda k: k.vmallocinfo()), end="")


from .lab_cli import lab_app  # noqa: E402 - the lab commands build on the helpers above

app.add_typer(lab_app, name="lab")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="vmsim")
