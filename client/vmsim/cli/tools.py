"""The commands that run something: server, demo, shell, replay, load, dashboard and the
experiments."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .. import calls
from ..cli_common import console, emit_json, guarded
from ..client import Inspector
from ..constants import DEFAULT_ADDRESS
from ..render import MAX_TRACE_BYTES, parse_size, parse_trace_text, read_trace
from ..results import MissRatioCurve, ReplayResult
from .base import Address, AdminToken, App, JsonFlag, OptionalAddress

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..load import LoadConfig, LoadReport

__all__ = ["experiment_app", "tools_app"]

tools_app = App()
experiment_app = App(help="Experiments run on embedded machines.")
# The kernel's limit on replay frames (vmsim_teach.replay.MAX_FRAMES), checked here too so
# that a bad --frames is a usage error before any server is started.
MAX_REPLAY_FRAMES = 1_000_000


@tools_app.command(
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


@tools_app.command()
def demo(
    addr: Annotated[
        str | None,
        typer.Option("--addr", metavar="HOST:PORT", help="use this server instead of starting one"),
    ] = None,
) -> None:
    """Start a server (unless --addr is given) and show lazy allocation, swapping and a SIGSEGV."""
    from ..demo import DemoFailed, run_demo

    try:
        code = guarded(lambda: run_demo(addr, console))
    except DemoFailed as failure:
        typer.echo(f"vmsim: demo failed: {' '.join(str(failure).split())}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@tools_app.command()
def shell(
    addr: Address = DEFAULT_ADDRESS,
    name: Annotated[str, typer.Option(help="process name")] = "shell",
) -> None:
    """An interactive process: mmap, touch, read, write, translate, maps ... (type help)."""
    from ..shell import ProcessShell

    guarded(lambda: ProcessShell(addr, name).cmdloop())


@tools_app.command()
def replay(
    trace: Annotated[
        str, typer.Argument(help="trace file of page numbers (or addresses), '-' for stdin")
    ],
    policy: Annotated[
        str, typer.Option(help="fifo, lru, mru, clock, random, opt, unopt or linux")
    ] = "lru",
    frames: Annotated[int, typer.Option(min=1, max=MAX_REPLAY_FRAMES, help="number of frames")] = 3,
    seed: Annotated[int, typer.Option(help="seed for random")] = 0,
    addresses: Annotated[
        bool, typer.Option("--addresses", help="the trace holds byte addresses")
    ] = False,
    max_trace_size: Annotated[
        int,
        typer.Option(
            parser=parse_size, metavar="SIZE", help="refuse a trace file larger than this"
        ),
    ] = MAX_TRACE_BYTES,
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
    victims: Annotated[
        bool,
        typer.Option(
            "--victims",
            help="also list the evicted pages in order (and, with --json, the positions of "
            "the misses)",
        ),
    ] = False,
    addr: OptionalAddress = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay a reference string: hits and misses (and the victims), as in the textbook (offline by default)."""
    from ..offline import call_in_process

    pages = _trace_pages(trace, addresses, max_trace_size)
    if mrc:
        _print_miss_ratio_curve(pages, addresses, addr, as_json)
        return

    def run() -> ReplayResult:
        # Without --addr the server's own replay code answers in this process (offline.py).
        if addr is None:
            return call_in_process(
                calls.replay(pages, frames, policy, seed, addresses, steps, not victims)
            )
        with Inspector(addr) as inspector:
            return inspector.replay(
                pages, frames, policy, seed, addresses, steps, counts_only=not victims
            )

    result = guarded(run)
    if as_json:
        print(json.dumps(_replay_fields(result, victims)))
    else:
        _print_replay(result, victims)


def _trace_pages(trace: str, addresses: bool, max_trace_size: int) -> npt.NDArray[np.int64]:
    """The references of the file *trace* ('-': stdin), or a usage error naming TRACE."""
    try:
        pages = read_trace(trace, addresses=addresses, max_bytes=max_trace_size)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot read {trace}: {error.strerror}", param_hint="TRACE"
        ) from None
    except ValueError as error:
        raise typer.BadParameter(f"{trace}: {error}", param_hint="TRACE") from None
    if not pages.size:
        raise typer.BadParameter(f"{trace} holds no references", param_hint="TRACE")
    return pages


def _print_replay(result: ReplayResult, victims: bool) -> None:
    """The replay as the textbook's tools print it: each step (with --steps), then the counts."""
    print(f"policy {result.policy}, {result.frames} frames, {result.references} references")
    for step in result.steps:
        outcome = "hit " if step.hit else "miss"
        victim = f" evict {step.victim}" if step.victim is not None else ""
        print(f"access {step.page:>6}  {outcome}{victim:<12}  frames {step.frames_text()}")
    if result.steps and result.steps[0].use_bits:
        print("(* use bit set, > the clock hand)")
    print(f"hits {result.hits}  misses {result.misses}  hit ratio {result.hit_ratio:.3f}")
    if victims:
        print("victims " + (" ".join(map(str, result.victims)) or "-"))


def _replay_fields(result: ReplayResult, victims: bool) -> dict[str, Any]:
    """`vmsim replay --json`: the counts; the lists with --victims; the steps with --steps.

    Plain dicts, lists and ints, written by json's C encoder in one line (an indent would
    take its pure-Python encoder: seconds for a million victims).
    """
    fields: dict[str, Any] = {
        "policy": result.policy,
        "frames": result.frames,
        "references": result.references,
        "hits": result.hits,
        "misses": result.misses,
        "hit_ratio": result.hit_ratio,
    }
    if victims:
        fields["victims"] = list(result.victims)
        fields["faults_at"] = list(result.faults_at)
    if result.steps:  # at most MAX_STEP_CELLS cells: small enough for asdict
        fields["steps"] = [dataclasses.asdict(step) for step in result.steps]
    return fields


def _print_miss_ratio_curve(
    pages: npt.NDArray[np.int64], addresses: bool, addr: str | None, as_json: bool
) -> None:
    """`vmsim replay --mrc`: every frame count in JSON; about 30 of them, log-spaced, as text."""
    from ..offline import call_in_process

    def run() -> MissRatioCurve:
        if addr is None:
            return call_in_process(calls.miss_ratio_curve(pages, addresses))
        with Inspector(addr) as inspector:
            return inspector.miss_ratio_curve(pages, addresses)

    curve = guarded(run)
    if as_json:
        fields = {
            "references": curve.references,
            "distinct_pages": curve.distinct_pages,
            "misses": list(curve.misses),
        }
        print(json.dumps(fields))  # one line: json's C encoder, as _replay_fields says
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


@tools_app.command()
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
    from ..load import LoadConfig, write_csv, write_plot
    from ..workloads import Workload

    try:
        config = LoadConfig(
            address=addr,
            workload=Workload(
                pattern=workload,
                region_pages=pages,
                batch=batch,
                write_ratio=write_ratio,
                trace=parse_trace_text(trace.read_text()) if trace else (),
            ),
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
    report = _run_load_with_progress(config, show_progress=not as_json)
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
    console.print(_load_table(report, f"{clients} clients, {workload}"))


def _run_load_with_progress(config: LoadConfig, show_progress: bool) -> LoadReport:
    """Run the load with a spinner on stderr counting operations (none when *show_progress*
    is false: --json keeps stderr quiet)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..load import run_load

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not show_progress,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(done: int, seconds: float) -> None:
            rate = done / seconds if seconds else 0.0
            bar.update(
                task,
                description=f"{config.clients} clients, {done:,} operations, {rate:,.0f} ops/s",
            )

        try:
            return guarded(lambda: run_load(config, update))
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None


def _load_table(report: LoadReport, what: str) -> Table:
    """The load report as the table `vmsim load` prints: rates, latencies, faults, errors."""
    latency = report.latency_ms
    table = Table("measure", "value", title=f"vmsim load: {what}, {report.seconds:.1f} s")
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
    return table


@tools_app.command()
def dashboard(
    addr: Address = DEFAULT_ADDRESS,
    host: Annotated[str, typer.Option(help="interface the web page listens on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="port of the web page (0: any free one)")
    ] = 8080,
    event_kind: Annotated[
        list[str] | None,
        typer.Option(
            "--event-kind",
            help="event kinds to follow (repeatable; default: all but minor_fault, which "
            f"would make the kernel report every fault); one of {', '.join(calls.EVENT_KINDS)}",
        ),
    ] = None,
    admin_token: AdminToken = "",
    max_streams: Annotated[
        int, typer.Option(min=1, help="pages that may follow the live stream at once")
    ] = 64,
) -> None:
    """Serve the live web dashboard of the server at --addr: memory map, processes, charts,
    events, and the lab scoreboard (with the admin token, when the server runs a lab; only
    for browsers that opened the printed key URL once). --port 0 picks a free port."""
    from ..channels import admin_token_from
    from ..dashboard import DEFAULT_EVENT_KINDS, serve_dashboard

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
    try:  # prints the URL with the port it really got
        serve_dashboard(addr, host, port, kinds, token, max_streams)
    except OSError as error:
        raise typer.BadParameter(f"cannot listen there: {error}", param_hint="--port") from None
