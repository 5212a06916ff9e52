"""Whole commands as users run them, each a fresh process, against an outside anchor's process.

vmsim's rows time the `vmsim` console script of this environment from exec to exit, as a
user's shell would: interpreter start, imports, reading the input, talking to the server,
printing. The anchors are other programs doing the same job, timed the same way and
interleaved with vmsim's runs (anchor, vmsim, anchor, vmsim ...):

- `vmsim replay` (offline, `--json`, and `--addr` against a running server) against
  libCacheSim's process on the same trace file; the miss counts of both sides are printed
  and must be equal.
- `vmsim lab question translate --seed 7 --answers` against OSTEP's own
  paging-multilevel-translate.py -s 7 -c (bench/anchors/), with the same interpreter; and
  the question's floors against the same anchor: the generator alone (vmsim_lab.questions,
  no command line around it), and importing the lab's protobuf messages, which the offline
  answer no longer loads (it comes as plain records, vmsim_proto.questions: protobuf alone
  costs more than the anchor's whole run).
- `vmsim ps --addr` against `python -c "import grpc"`, the floor of any gRPC client.
- swap through the public API (a process touching 48 MiB on a 32 MiB server, pages moved
  from the server's vmstat pswpin/pswpout) against raw 4 KiB pwrite+pread on the same
  file system.
- `python -X importtime` of `vmsim ps` and `vmsim lab question`: all their imports against
  `import grpc`'s, and the packages that take most of it (issue 23's CLI start-up item).

The two start-up rows (ps, lab question) run COMMAND_PAIRS_PER_REPEAT pairs per repeat:
a 0.05-0.3 s process on a shared 2-core machine is noisy, and a pair costs under a second.

python bench/bench_commands.py [--quick] [--repeats N] [--section replay|ps|lab|swap]
(run_all.py takes rows(): every section)
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from bench_kernel import raw_io_once
from bench_replay import LIBCACHESIM_SCRIPT, compile_bytecode, libcachesim_available
from common import (
    HERE,
    Row,
    every_section,
    interleaved,
    ratio_at_least,
    ratio_at_most,
    repeats,
    run_sections_as_script,
    vmsim_server,
)

import vmsim
from vmsim.client import Inspector

OSTEP_TRANSLATE = HERE / "anchors" / "paging-multilevel-translate.py"
TRACE_SEED = 23
TRACE_REFERENCES = 990_000
QUICK_TRACE_REFERENCES = 200_000
SWAP_RAM_MIB = 32
SWAP_SIZE_MIB = 64
THRASH_BYTES = 48 * vmsim.MiB
COMMAND_PAIRS_PER_REPEAT = 5
_TEXT_MISSES = re.compile(r"^hits (\d+)\s+misses (\d+)", re.MULTILINE)
_IMPORT_TIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)\s*$")


def vmsim_command() -> list[str]:
    """The `vmsim` a user types: this environment's console script (or -m vmsim without one)."""
    script = Path(sys.executable).with_name("vmsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vmsim"]


def timed(command: list[str]) -> tuple[float, str]:
    """(wall seconds from start to exit, stdout) of *command*; a failure stops the benchmark."""
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return elapsed, done.stdout


def write_mixed_trace(path: Path, references: int, seed: int = TRACE_SEED) -> None:
    """A page reference string that mixes the kinds of locality policies are taught with.

    Phases of 10,000 references, in a seeded order: a zipf-like hot set with a long tail,
    a loop over 1,500 pages (more than 1,000 frames: LRU's worst case), a loop over 600
    pages (fits), and uniform random pages over 50,000. One page number per line, as
    libCacheSim's plain-text reader and `vmsim replay` both take it.
    """
    rng = np.random.default_rng(seed)
    phase = 10_000
    chunks = []
    for start in range(0, references, phase):
        size = min(phase, references - start)
        kind = rng.integers(4)
        if kind == 0:
            chunk = rng.zipf(1.2, size) % 100_000
        elif kind in (1, 2):
            loop = 1_500 if kind == 1 else 600
            chunk = 200_000 + (rng.integers(loop) + np.arange(size)) % loop
        else:
            chunk = rng.integers(0, 50_000, size)
        chunks.append(chunk)
    path.write_text("\n".join(map(str, np.concatenate(chunks).tolist())) + "\n")


def libcachesim_misses(trace: Path, frames: int, policy: str) -> tuple[float, int]:
    """(seconds, misses) of libCacheSim's process replaying *trace*."""
    elapsed, out = timed(
        [sys.executable, "-c", LIBCACHESIM_SCRIPT, str(trace), str(frames), policy]
    )
    return elapsed, int(json.loads(out.strip().splitlines()[-1])["misses"])


def vmsim_replay_misses(trace: Path, frames: int, policy: str, *options: str) -> tuple[float, int]:
    """(seconds, misses) of `vmsim replay` as a user runs it, with --json or --addr in *options*."""
    elapsed, out = timed(
        [
            *vmsim_command(),
            "replay",
            "--policy",
            policy,
            "--frames",
            str(frames),
            *options,
            str(trace),
        ]
    )
    if "--json" in options:
        return elapsed, int(json.loads(out)["misses"])
    found = _TEXT_MISSES.search(out)
    if found is None:
        raise RuntimeError(f"no 'hits N  misses M' line in vmsim replay's output:\n{out[-500:]}")
    return elapsed, int(found.group(2))


def _same_misses(ours: list[int], theirs: list[int]) -> bool:
    return len(set(ours) | set(theirs)) == 1


def _miss_note(side: str, ours: list[int], theirs: list[int]) -> str:
    if _same_misses(ours, theirs):
        return f"misses {ours[0]:,} = libCacheSim {theirs[0]:,}"
    return f"MISS COUNTS DIFFER ({side}): vmsim {sorted(set(ours))} vs libCacheSim {sorted(set(theirs))}"


def replay_rows(trace: Path, references: int, address: str) -> list[Row]:
    """`vmsim replay` offline (text and --json) and with --addr, against libCacheSim."""
    size = f"{references // 1000}k references"
    result = []
    for policy in ("lru", "fifo"):
        for frames in (1000, 100):
            # Offline rows only for the command the issue quotes (LRU, 1000 frames); the
            # anchor run each repeat is shared by the rows measured right after it.
            offline = policy == "lru" and frames == 1000
            anchor: list[float] = []
            anchor_misses: list[int] = []
            runs: dict[str, tuple[list[float], list[int]]] = {}
            variants: dict[str, tuple[str, ...]] = {"--addr": ("--addr", address)}
            if offline:
                variants = {"offline": (), "offline --json": ("--json",), **variants}
            for _ in range(repeats()):
                seconds, misses = libcachesim_misses(trace, frames, policy)
                anchor.append(seconds)
                anchor_misses.append(misses)
                for name, options in variants.items():
                    seconds, misses = vmsim_replay_misses(trace, frames, policy, *options)
                    runs.setdefault(name, ([], []))
                    runs[name][0].append(seconds)
                    runs[name][1].append(misses)
            for name, (samples, misses_seen) in runs.items():
                note = _miss_note(name, misses_seen, anchor_misses)
                print(f"  replay {policy} {frames} frames {name}: {note}", flush=True)
                result.append(
                    Row(
                        f"vmsim replay --policy {policy} --frames {frames} ({name}), {size}",
                        "s",
                        samples,
                        "libCacheSim process",
                        anchor,
                        goal="<= 1.0x, same misses",
                        # A different answer fails the goal however fast it came.
                        goal_met=ratio_at_most(1.0)
                        if _same_misses(misses_seen, anchor_misses)
                        else lambda _ratio, _value: False,
                        note=note,
                    )
                )
    return result


def command_row(
    name: str, ours: list[str], anchor_name: str, anchor: list[str], at_most: float
) -> Row:
    """Seconds of our command against an anchor command, the runs interleaved."""
    anchor_samples, samples = interleaved(
        lambda: timed(anchor)[0],
        lambda: timed(ours)[0],
        count=COMMAND_PAIRS_PER_REPEAT * repeats(),
    )
    return Row(
        name,
        "s",
        samples,
        anchor_name,
        anchor_samples,
        goal=f"<= {at_most}x",
        goal_met=ratio_at_most(at_most),
    )


def lab_row() -> Row:
    """`vmsim lab question translate --seed 7 --answers` against OSTEP's generator, -s 7 -c."""
    return command_row(
        "vmsim lab question translate --seed 7 --answers (offline)",
        [*vmsim_command(), "lab", "question", "translate", "--seed", "7", "--answers"],
        "OSTEP paging-multilevel-translate.py -s 7 -c",
        [sys.executable, str(OSTEP_TRANSLATE), "-s", "7", "-c"],
        at_most=1.0,
    )


def lab_floor_rows() -> list[Row]:
    """The question's own floors against the same anchor: importing the generator and
    generating, with no command line around it; importing the lab's protobuf messages, which
    a server's answer comes in and the offline answer (plain records) no longer loads."""
    anchor = [sys.executable, str(OSTEP_TRANSLATE), "-s", "7", "-c"]
    floors = {
        "  floor: the translate generator alone (vmsim_lab.questions)": (
            "from vmsim_lab import questions; questions('translate', 7, 1)"
        ),
        '  floor: python -c "from vmsim_proto.v1 import lab_pb2" (the messages)': (
            "from vmsim_proto.v1 import lab_pb2"
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in floors}
    anchor_samples = []
    for _ in range(COMMAND_PAIRS_PER_REPEAT * repeats()):
        anchor_samples.append(timed(anchor)[0])
        for name, code in floors.items():
            samples[name].append(timed([sys.executable, "-c", code])[0])
    return [Row(name, "s", samples[name], "OSTEP", anchor_samples) for name in floors]


def ps_row(address: str) -> Row:
    """`vmsim ps --addr` against the import of grpc alone, the same interpreter."""
    return command_row(
        "vmsim ps --addr (a running server)",
        [*vmsim_command(), "ps", "--addr", address],
        'python -c "import grpc"',
        [sys.executable, "-c", "import grpc"],
        at_most=2.0,
    )


# A `vmsim` command run as the console script runs it, under python -X importtime.
_RUN_VMSIM = "import sys; sys.argv = ['vmsim', *sys.argv[1:]]; from vmsim.cli import main; main()"


def import_times(*arguments: str) -> dict[str, float]:
    """Milliseconds of each import's own work (-X importtime's self column) in `python
    ARGUMENTS`: summed, the time the process spent importing."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stderr.splitlines():
        match = _IMPORT_TIME.match(line)
        if match:
            found[match.group(3)] = int(match.group(1)) / 1000
    return found


def _by_package(run: dict[str, float]) -> dict[str, float]:
    packages: dict[str, float] = {}
    for module, ms in run.items():
        package = module.partition(".")[0]
        packages[package] = packages.get(package, 0.0) + ms
    return packages


def import_rows(name: str, arguments: tuple[str, ...]) -> list[Row]:
    """What `vmsim ARGUMENTS` imports, in all, against `import grpc`; then the five packages
    it spends most of it in (python -X importtime, self times summed)."""
    grpc_runs = [import_times("-c", "import grpc") for _ in range(repeats())]
    grpc_totals = [sum(run.values()) for run in grpc_runs]
    runs = [_by_package(import_times("-c", _RUN_VMSIM, *arguments)) for _ in range(repeats())]
    result = [
        Row(
            f"imports of {name}, in all (python -X importtime)",
            "ms",
            [sum(run.values()) for run in runs],
            "import grpc",
            grpc_totals,
        )
    ]
    medians = {
        package: statistics.median(run.get(package, 0.0) for run in runs)
        for package in set().union(*runs)
    }
    heaviest = sorted(medians, key=medians.__getitem__, reverse=True)[:5]
    print(f"  python -X importtime, {name}: the heaviest packages (ms, median):")
    for package in heaviest:
        print(f"    {medians[package]:8.1f}  {package}", flush=True)
        result.append(Row(f"  imports of {package}", "ms", [run.get(package, 0.0) for run in runs]))
    return result


def _swapped_pages(inspector: Inspector) -> int:
    values = inspector.vmstat().values
    return values["pswpin"] + values["pswpout"]


def swap_row(quick: bool) -> Row:
    """Pages swapped in + out per second while one process thrashes, against raw file I/O."""
    passes = 1 if quick else 2
    with tempfile.TemporaryDirectory(dir=os.environ.get("VMSIM_BENCH_DIR")) as directory:
        swap_file = f"{directory}/swap"
        server_args = (
            *("--ram", f"{SWAP_RAM_MIB}M", "--swap", f"{SWAP_SIZE_MIB}M"),
            *("--swap-file", swap_file),
        )
        with (
            vmsim_server(*server_args) as (address, _pid),
            Inspector(address) as inspector,
            vmsim.connect(address, name="thrash") as process,
        ):
            base = process.mmap(THRASH_BYTES, flags=vmsim.MAP_PRIVATE | vmsim.MAP_ANONYMOUS)
            addrs = np.arange(base, base + THRASH_BYTES, vmsim.PAGE_SIZE, dtype=np.uint64)
            addrs = addrs.astype(np.uint32)
            # The first pass fills RAM and starts swapping; the timed passes only move pages.
            process.touch_many(addrs, write=True, timeout=600)
            raw, ours = [], []
            for _ in range(repeats()):
                before = _swapped_pages(inspector)
                began = time.perf_counter()
                for _ in range(passes):
                    process.touch_many(addrs, write=True, timeout=600)
                elapsed = time.perf_counter() - began
                moved = _swapped_pages(inspector) - before
                ours.append(moved / elapsed)
                # The same number of 4 KiB writes + reads, on the file system of the swap file.
                raw.append(raw_io_once(moved, directory))
    return Row(
        f"swap out + in, {THRASH_BYTES // vmsim.MiB} MiB process on a {SWAP_RAM_MIB} MiB "
        "server, TouchMany over gRPC",
        "pages/s",
        ours,
        "raw 4 KiB pwrite+pread, same fs",
        raw,
        higher_is_better=True,
        goal=">= 0.5x",
        goal_met=ratio_at_least(0.5),
        note=f"{moved:,} pages moved in the last sample",
    )


@contextmanager
def mixed_trace(references: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        trace = Path(directory) / "trace.txt"
        write_mixed_trace(trace, references)
        yield trace


def replay_section(quick: bool) -> list[Row]:
    """`vmsim replay`, offline and against a server, on the mixed trace, against libCacheSim."""
    compile_bytecode()
    if not libcachesim_available():
        return [Row("vmsim replay", "s", [], note="libCacheSim missing: pip install -e '.[dev]'")]
    references = QUICK_TRACE_REFERENCES if quick else TRACE_REFERENCES
    with mixed_trace(references) as trace, vmsim_server() as (address, _pid):
        print(f"  trace: {references:,} references, seed {TRACE_SEED}; server {address}")
        # Once each first: the page cache holds the trace, bytecode is written.
        libcachesim_misses(trace, 1000, "lru")
        vmsim_replay_misses(trace, 1000, "lru", "--json")
        return replay_rows(trace, references, address)


def ps_section(_quick: bool) -> list[Row]:
    """`vmsim ps` against a running server, and what it imports."""
    compile_bytecode()
    with vmsim_server() as (address, _pid):
        return [ps_row(address), *import_rows("vmsim ps --addr", ("ps", "--addr", address))]


def lab_section(_quick: bool) -> list[Row]:
    """`vmsim lab question` offline against OSTEP's generator, its floors, what it imports."""
    compile_bytecode()
    arguments = ("lab", "question", "translate", "-s", "7")
    return [
        lab_row(),
        *lab_floor_rows(),
        *import_rows("vmsim lab question translate (offline)", arguments),
    ]


# In the order of issue 23's table; `--section NAME` runs one alone.
SECTIONS: dict[str, Callable[[bool], list[Row]]] = {
    "replay": replay_section,
    "ps": ps_section,
    "lab": lab_section,
    "swap": lambda quick: [swap_row(quick)],
}

rows = every_section(SECTIONS)


if __name__ == "__main__":
    run_sections_as_script(__doc__.splitlines()[0], SECTIONS)
