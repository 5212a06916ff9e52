"""What every benchmark module shares: a result row, interleaved repeats, the servers it starts.

A row compares vmsim against an outside anchor (the host kernel, raw file I/O, a plain
grpc.aio server, libCacheSim) measured in the same run, interleaved, repeated; the ratio
is taken of the medians, and of the best runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The benchmarks import this checkout, installed or not; so do the servers they start.
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "client"), str(HERE)]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "server"), str(ROOT / "client"), os.environ.get("PYTHONPATH", "")]
)

from vmsim.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE  # noqa: E402

# the mapping the benchmarks make: writable, private, anonymous
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
REPEATS = 3
_repeats = REPEATS


def repeats() -> int:
    """How many times each comparison runs: REPEATS, or --repeats N (1 with --quick)."""
    return _repeats


def set_repeats(count: int) -> None:
    """Set by the command line (run_as_script, run_all.py) before any row is measured."""
    global _repeats
    if count < 1:
        raise ValueError(f"repeats must be at least 1, not {count}")
    _repeats = count


@dataclass
class Row:
    """One line of the table: vmsim's samples against the anchor's, and the goal.

    Attributes:
        path: what is measured ("first-touch fault, batched").
        unit: the unit of the samples ("us/page", "/s", "ms").
        vmsim: one sample per repeat.
        anchor_name: the outside reference ("" when the goal is absolute).
        anchor: its samples, measured interleaved with vmsim's.
        higher_is_better: rates (True) or times (False); decides min/max for "best".
        goal: text of the goal ("<= 1.0x", ">= 10M/s").
        goal_met: judges (ratio of medians, vmsim median); None when there is no goal.
        note: anything a reader must know (a mismatch, a skipped anchor).
    """

    path: str
    unit: str
    vmsim: list[float]
    anchor_name: str = ""
    anchor: list[float] = field(default_factory=list)
    higher_is_better: bool = False
    goal: str = ""
    goal_met: Callable[[float | None, float], bool] | None = None
    note: str = ""

    def best(self, samples: list[float]) -> float:
        return max(samples) if self.higher_is_better else min(samples)

    @property
    def ratio(self) -> float | None:
        """vmsim median / anchor median."""
        if not self.anchor:
            return None
        return statistics.median(self.vmsim) / statistics.median(self.anchor)

    @property
    def best_ratio(self) -> float | None:
        """vmsim best / anchor best."""
        if not self.anchor:
            return None
        return self.best(self.vmsim) / self.best(self.anchor)

    @property
    def met(self) -> str:
        if self.goal_met is None:
            return ""
        return "yes" if self.goal_met(self.ratio, statistics.median(self.vmsim)) else "NO"


def ratio_at_most(bound: float) -> Callable[[float | None, float], bool]:
    return lambda ratio, _value: ratio is not None and ratio <= bound


def ratio_at_least(bound: float) -> Callable[[float | None, float], bool]:
    return lambda ratio, _value: ratio is not None and ratio >= bound


def value_at_least(bound: float) -> Callable[[float | None, float], bool]:
    return lambda _ratio, value: value >= bound


def interleaved(
    anchor: Callable[[], float], vmsim: Callable[[], float], count: int | None = None
) -> tuple[list[float], list[float]]:
    """Run anchor, vmsim, anchor, vmsim ... so drift on a noisy machine hits both alike.

    *count* pairs, by default repeats().
    """
    anchor_samples, vmsim_samples = [], []
    for _ in range(repeats() if count is None else count):
        anchor_samples.append(anchor())
        vmsim_samples.append(vmsim())
    return anchor_samples, vmsim_samples


def run_as_script(description: str, rows: Callable[[bool], list[Row]]) -> None:
    """A sub-benchmark run alone: `--quick`, then one line per row (min / median, the ratio)."""
    parser = argparse.ArgumentParser(description=description)
    add_repeat_options(parser)
    args = parser.parse_args()
    apply_repeat_options(args)
    for row in rows(args.quick):
        ours = (
            f"{fmt(row.best(row.vmsim))} / {fmt(statistics.median(row.vmsim))}"
            if row.vmsim
            else "-"
        )
        line = f"{row.path}: {ours} {row.unit}"
        if row.anchor:
            line += f"  anchor {fmt(row.best(row.anchor))} / {fmt(statistics.median(row.anchor))}"
            line += f"  ratio {row.ratio:.2f}x (best {row.best_ratio:.2f}x)"
        print(f"{line} {row.note}".rstrip())


def every_section(sections: dict[str, Callable[[bool], list[Row]]]) -> Callable[[bool], list[Row]]:
    """A module's rows(quick): the rows of each of its sections, in order."""
    return lambda quick: [row for section in sections.values() for row in section(quick)]


def run_sections_as_script(
    description: str, sections: dict[str, Callable[[bool], list[Row]]]
) -> None:
    """run_as_script over every section, or `--section NAME` for one alone (the rest of the
    command line is run_as_script's)."""
    chosen = argparse.ArgumentParser(add_help=False)
    chosen.add_argument("--section", choices=sections)
    known, sys.argv[1:] = chosen.parse_known_args()
    run_as_script(
        description, sections[known.section] if known.section else every_section(sections)
    )


def _at_least_one(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {count}")
    return count


def add_repeat_options(parser: argparse.ArgumentParser) -> None:
    """--quick (small sizes, one repeat) and --repeats N, the same for every benchmark."""
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    parser.add_argument(
        "--repeats",
        type=_at_least_one,
        default=None,
        help=f"runs of each comparison (default {REPEATS}; 1 with --quick)",
    )


def apply_repeat_options(args: argparse.Namespace) -> None:
    set_repeats(args.repeats or (1 if args.quick else REPEATS))


def fmt(value: float) -> str:
    """A number readable at a glance: 3 significant digits, thousands separators."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@contextlib.contextmanager
def vmsim_server(*args: str) -> Iterator[tuple[str, int]]:
    """A vmsim server process on a free loopback port: (address, pid).

    At the log level users run (info: server_process needs its "server started" line, and
    a call logs nothing at info, so the calls timed pay no logging)."""
    from vmsim.demo import server_process

    with server_process(*args) as started:
        yield started


@contextlib.contextmanager
def plain_server() -> Iterator[tuple[str, int]]:
    """The anchor server (plain_server.py) as its own process: (address, pid)."""
    from vmsim.demo import stop_process

    process = subprocess.Popen(
        [sys.executable, str(HERE / "plain_server.py")], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the plain server did not start: {line!r}")
        yield line.split()[1], process.pid
    finally:
        stop_process(process, grace_seconds=10)


def rss_kb(pid: int) -> int:
    """VmRSS of a process we started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process we started (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
