"""Run every benchmark in one go, print the table and write bench/results.md.

python bench/run_all.py            # a few minutes on a 2-core machine
python bench/run_all.py --quick    # smaller sizes, for a smoke run

Every vmsim number sits next to an outside anchor measured in the same run, interleaved,
three times (--repeats N): the host kernel's own minor fault, raw 4 KiB pwrite/pread on the
same file system, a plain grpc.aio server with an empty RPC, libCacheSim's process on the
same trace file, OSTEP's translate generator, and `python -c "import grpc"` (the last three
against whole `vmsim` commands, bench_commands.py); the real i686 Linux kernel under QEMU on
the c-256m-swap run, and the host kernel's munmap and exit beside vmsim's teardown
(bench_linux.py). `--only bench_linux` runs one module.
Outside the project's virtualenv the script re-executes itself with .venv/bin/python.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common import Row

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# The sub-benchmarks, in order: each module's rows(quick) returns its Rows. A module listed
# here whose file is absent is skipped; one without rows() is run as a script and its
# output kept as it printed it.
BENCHMARKS = [
    "bench_kernel",
    "bench_service",
    "bench_replay",
    "bench_commands",
    "bench_linux",
    "bench_fairness",
]

BASELINE = """\
| path | vmsim | anchor | ratio | goal |
|---|---|---|---|---|
| first-touch fault, batched | 25.7-27 µs/page | host kernel minor fault 1.9-2.0 µs | 13x | <= 1.0x |
| swap out + in | 18-30k pages/s | raw 4 KiB pwrite+pread 560-640k ops/s | 0.03-0.05x | >= 0.5x |
| TouchMany over gRPC, resident | 5.9-7.6M addr/s | — | — | >= 10M/s (embedded >= 30M/s) |
| Touch RPC, 32 in flight | 2,087-2,120/s | empty RPC on a plain grpc.aio server 2,732-2,848/s | 0.51-0.78 | >= 0.9x |
| 1,000 clients touching at once, p99 | 373-425 ms | the same burst of empty RPCs on a plain server 320-341 ms | 1.1-1.3x | <= 1.05x |
| trace replay, 1M references, LRU/FIFO | whole process 6-9x slower | libCacheSim, same trace file, identical miss counts | 6-9x | <= 1.0x |
"""


def _reexec_in_venv() -> None:
    """Outside the project's environment, run again with its .venv python (same arguments)."""
    try:
        import grpc  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
        if venv_python.exists() and not in_venv:
            os.execv(
                str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]]
            )
        raise SystemExit(
            "vmsim's dependencies are not importable: python3 -m venv .venv && "
            ".venv/bin/pip install -e '.[dev]', then run python bench/run_all.py"
        ) from None


def machine_description() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    import grpc

    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kb // 1024 // 1024} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"grpcio {grpc.__version__}"
    )


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (
        " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def main() -> None:
    _reexec_in_venv()
    sys.path.insert(0, str(HERE))
    from common import add_repeat_options, apply_repeat_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repeat_options(parser)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument(
        "--only", action="append", default=[], help="run only these modules (repeatable)"
    )
    args = parser.parse_args()
    apply_repeat_options(args)
    load_before = os.getloadavg()[0]
    began = time.time()
    raw_outputs: list[tuple[str, str]] = []
    header = (
        f"| {'path':62} | {'vmsim min / median':>26} | {'anchor min / median':>24} | "
        f"{'ratio (median, best)':>20} | goal | met |"
    )
    lines = [header, "|" + "---|" * 6]
    print(header, flush=True)
    for name in args.only or BENCHMARKS:
        if not (HERE / f"{name}.py").exists():
            continue
        module = importlib.import_module(name)
        measure = getattr(module, "rows", None)
        if measure is None:
            output = _run_script(name, args.quick, args.repeats)
            raw_outputs.append((name, output))
            print(f"\n{name}:\n{output}", flush=True)
            continue
        for row in measure(args.quick):
            lines.append(_row_line(row))
            print(lines[-1], flush=True)
    args.output.write_text(
        _report(args, lines, raw_outputs, load_before, elapsed=time.time() - began)
    )
    print(f"\nwritten to {args.output}")


def _run_script(name: str, quick: bool, nr_repeats: int | None) -> str:
    """Run a benchmark that prints its own report (it has no rows()): its stdout and stderr."""
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / f"{name}.py"),
            *(["--quick"] if quick else []),
            *(["--repeats", str(nr_repeats)] if nr_repeats else []),
        ],
        capture_output=True,
        text=True,
    )
    return done.stdout + done.stderr


def _row_line(row: Row) -> str:
    """One row of the results table: vmsim's and the anchor's best / median, their ratios."""
    from common import fmt

    def pair(samples: list[float]) -> str:
        if not samples:
            return "—"
        best = row.best(samples)
        return f"{fmt(best)} / {fmt(statistics.median(samples))} {row.unit}".strip()

    ratio = (
        f"{row.ratio:.2f}x, {row.best_ratio:.2f}x"
        if row.ratio is not None and row.best_ratio is not None
        else "—"
    )
    anchor = f"{row.anchor_name}: {pair(row.anchor)}" if row.anchor else "—"
    note = f" ({row.note})" if row.note else ""
    return (
        f"| {row.path + note:62} | {pair(row.vmsim):>26} | {anchor:>24} | {ratio:>20} | "
        f"{row.goal or '—'} | {row.met or '—'} |"
    )


def _report(
    args: argparse.Namespace,
    lines: list[str],
    raw_outputs: list[tuple[str, str]],
    load_before: float,
    elapsed: float,
) -> str:
    """results.md: how the run was made, its table, the scripts' own reports, the baseline."""
    from common import repeats

    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    extra = "".join(f"\n## {name}\n\n```\n{text.rstrip()}\n```\n" for name, text in raw_outputs)
    return (
        "# vmsim benchmark results\n\n"
        f"Date: {today}. Commit: {commit()}.\n\n"
        f"Machine: {machine_description()}.\n\n"
        f"Load average (1 min) at the start and the end: {load_before:.1f} and "
        f"{os.getloadavg()[0]:.1f}; above the core count, other processes shared the cores "
        "and every number (anchors too) ran slower.\n\n"
        f"Produced by `python bench/run_all.py{' --quick' if args.quick else ''}"
        f"{f' --repeats {args.repeats}' if args.repeats else ''}` in "
        f"{elapsed:.0f} s. Each vmsim number was measured interleaved with its anchor "
        f"(anchor, vmsim, anchor, vmsim ...), {repeats()} times; min is the best run (max for "
        "rates), the ratio is vmsim / anchor of the medians, then of the best runs. Every "
        "anchor is outside vmsim's code but the teardown rows', whose goal is vmsim's own "
        "first touch (the host kernel's figures are beside them).\n\n"
        "## This run\n\n" + "\n".join(lines) + "\n" + extra + "\n"
        "## Baseline (issue 12, measured on main before this work)\n\n" + BASELINE
    )


if __name__ == "__main__":
    main()
