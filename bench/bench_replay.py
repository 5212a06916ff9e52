"""Trace replay against libCacheSim: the same trace file, identical miss counts, whole processes.

Each side is a fresh Python process that reads the trace file, simulates and prints its
miss count: vmsim through its kernel API (replay_fast.load_trace + replay), the anchor
through libCacheSim's Python package (`pip install libcachesim`; a C simulator). Whole processes
include interpreter start and imports on both sides (each loading compiled bytecode, as
installed packages do); the in-process time of each is printed too.

python bench/bench_replay.py [--quick]     # run_all.py takes rows()
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Row, ratio_at_most, repeats, run_as_script

VMSIM_SCRIPT = """
import json, sys, time
began = time.perf_counter()
from vmsim_kernel import replay
from vmsim_teach.replay_fast import load_trace
pages = load_trace(sys.argv[1])
result = replay(pages, int(sys.argv[2]), sys.argv[3])
print(json.dumps({"misses": result.misses, "references": result.references,
                  "inside_s": time.perf_counter() - began}))
"""

LIBCACHESIM_SCRIPT = """
import json, sys, time
began = time.perf_counter()
import libcachesim as lcs
reader = lcs.TraceReader(sys.argv[1], lcs.TraceType.PLAIN_TXT_TRACE,
                         lcs.ReaderInitParam(ignore_obj_size=True))
cache = {"lru": lcs.LRU, "fifo": lcs.FIFO}[sys.argv[3]](int(sys.argv[2]))
miss_ratio, _ = cache.process_trace(reader)
references = reader.get_num_of_req()
print(json.dumps({"misses": round(miss_ratio * references), "references": references,
                  "inside_s": time.perf_counter() - began}))
"""


def write_trace(path: Path, references: int, seed: int = 0) -> None:
    """A zipf-like page reference string (a hot set and a long tail), one page per line."""
    rng = np.random.default_rng(seed)
    pages = rng.zipf(1.2, references) % 100_000
    path.write_text("\n".join(map(str, pages.tolist())) + "\n")


def _run(script: str, trace: Path, frames: int, policy: str) -> tuple[float, dict[str, float]]:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, str(trace), str(frames), policy],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"replay process failed:\n{done.stderr}")
    return elapsed, json.loads(done.stdout.strip().splitlines()[-1])


def compile_bytecode() -> None:
    """Write vmsim's .pyc files, as pip does when it installs a package (as libCacheSim's were).

    An editable checkout run with PYTHONDONTWRITEBYTECODE=1 never writes them: every vmsim
    process compiled its modules from source again (~25 ms of a ~0.4 s process) while the
    anchor loaded compiled ones. Python still checks each .pyc against its source's mtime.
    """
    packages = []
    # every package of the distribution: `vmsim lab question` runs vmsim_lab's generators
    for name in (
        "vmsim",
        "vmsim_server",
        "vmsim_kernel",
        "vmsim_lab",
        "vmsim_teach",
        "vmsim_proto",
    ):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            packages.extend(spec.submodule_search_locations)
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)


def libcachesim_available() -> bool:
    return (
        subprocess.run([sys.executable, "-c", "import libcachesim"], capture_output=True).returncode
        == 0
    )


def rows(quick: bool) -> list[Row]:
    references = 200_000 if quick else 1_000_000
    frames = 1000
    if not libcachesim_available():
        return [
            Row(
                "trace replay",
                "s",
                [],
                note="libCacheSim missing: pip install -e '.[dev]' (or pip install libcachesim)",
            )
        ]
    result = []
    with tempfile.TemporaryDirectory() as directory:
        trace = Path(directory) / "trace.txt"
        write_trace(trace, references)
        # Once each first: the bytecode and the page cache are warm for
        # every sample.
        compile_bytecode()
        _run(VMSIM_SCRIPT, trace, frames, "lru")
        for policy in ("lru", "fifo"):
            ours, anchor, inside_ours, inside_anchor = [], [], [], []
            notes = []
            for _ in range(repeats()):
                elapsed, found = _run(LIBCACHESIM_SCRIPT, trace, frames, policy)
                anchor.append(elapsed)
                inside_anchor.append(found["inside_s"])
                anchor_misses = found["misses"]
                elapsed, found = _run(VMSIM_SCRIPT, trace, frames, policy)
                ours.append(elapsed)
                inside_ours.append(found["inside_s"])
                if found["misses"] != anchor_misses:
                    notes.append(f"MISS COUNTS DIFFER: {found['misses']} vs {anchor_misses}")
            same = f"identical miss counts ({anchor_misses:,})" if not notes else notes[0]
            result.append(
                Row(
                    f"trace replay, {references // 1000}k references, {policy.upper()}, "
                    f"{frames} frames, whole process",
                    "s",
                    ours,
                    "libCacheSim, same trace file",
                    anchor,
                    goal="<= 1.0x",
                    goal_met=ratio_at_most(1.0),
                    note=same,
                )
            )
            result.append(
                Row(
                    f"  the same, inside the process (imports + read + simulate), {policy.upper()}",
                    "s",
                    inside_ours,
                    "libCacheSim, same",
                    inside_anchor,
                )
            )
    return result


if __name__ == "__main__":
    run_as_script(__doc__.splitlines()[0], rows)
