"""vmsim against Linux itself: a whole swap run against the real i686 kernel, teardown per page.

- c-256m-swap: what a user runs, timed from the server's launch to its exit: `python -m
  vmsim_server` (256 MiB RAM, 256 MiB swap, 1 CPU, vm.page-cluster 3, as the capture's
  guest), then a client process (memtouch_client.py) that writes 400 MiB, reads it and
  writes it again in three TouchMany calls, then the server stopped. The anchor is
  `scripts/linux32/run.sh c-256m-swap-4k`, the real i686 Linux 6.1 kernel booted under
  qemu-system-i386 TCG doing memtouch's 400 MiB write and rewrite, boot included, the whole
  process. Both sides' fault and swap counts are in the row, so it shows the work each did:
  the first write is the same 102,400 minor faults; memtouch's rewrite is a load and a
  store per page, vmsim's a read pass then a write pass, which moves more pages. Needs the rig's build ($BUILD, default /tmp/linux32-build) and qemu; without
  them the row says so (the benchmark never builds it).
- teardown: on a 4 GiB server, one process writes 1 GiB (first touch, one TouchMany) and
  munmaps it; another writes 1 GiB and exits. munmap and exit per page against the first
  touch of the same run (issue 23: teardown no slower per page than fault-in). Beside them
  the host kernel's own figures for the same sizes, each in a child process: mmap 1 GiB,
  write one byte a page, munmap; and a child holding 1 GiB that exits.

python bench/bench_linux.py [--quick] [--repeats N] [--section c-256m-swap|teardown]
(run_all.py takes rows(), every section)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import (
    HERE,
    ROOT,
    Row,
    every_section,
    interleaved,
    ratio_at_most,
    repeats,
    run_sections_as_script,
    vmsim_server,
)

import vmsim

sys.path.insert(0, str(ROOT))  # the capture parser lives with the tests that read the captures
from tests.kernel.linux32 import parse_vmstat_deltas, sections

SCENARIO = "c-256m-swap-4k"
RUN_SH = ROOT / "scripts" / "linux32" / "run.sh"
MEMTOUCH_CLIENT = HERE / "memtouch_client.py"
SWAP_RAM = "256M"
SWAP_SIZE = "256M"  # the guest's 262,140 kB swap device plus mkswap's header page
SWAP_RUN_MIB = 400
QUICK_SWAP_RUN_MIB = 300  # still past RAM: the quick run swaps too
# A pair (a QEMU boot, a vmsim run) takes 1.5-3 minutes on the shared 2-core host: three
# would pass the ~4 minutes this row may take of run_all.py, so it runs two.
SWAP_RUN_MAX_REPEATS = 2
RUN_SH_TIMEOUT_SECONDS = 900  # run.sh's own TIMEOUT per boot
TEARDOWN_RAM = "4G"
TEARDOWN_BYTES = 1 * vmsim.GiB
QUICK_TEARDOWN_BYTES = 256 * vmsim.MiB
ADMIN_TOKEN = "bench-linux-admin"  # vm.page-cluster is an admin sysctl
_ANCHOR_KERNEL = re.compile(r"^ANCHOR scenario=\S+ kernel=(\S+)", re.M)
_MEMTOUCH_PHASE = re.compile(r"^MEMTOUCH phase=(\S+)\s.*\bd_minflt=(\d+) d_majflt=(\d+)", re.M)


# ---- c-256m-swap: the whole run against the real kernel under QEMU --------------------------


class RigFailed(RuntimeError):
    """run.sh failed, or its capture shows the scenario's work was not done."""


@dataclass
class SwapRunCounts:
    """What one run did: each phase's minor and major faults of the test process, and the
    machine's pswpin / pswpout over the run."""

    faults: dict[str, tuple[int, int]] = field(default_factory=dict)
    pswpin: int = 0
    pswpout: int = 0
    kernel: str = ""  # the guest kernel's release, on the anchor's side

    def describe(self) -> str:
        phases = ", ".join(f"{name} {mi:,}/{ma:,}" for name, (mi, ma) in self.faults.items())
        kernel = f" ({self.kernel})" if self.kernel else ""
        return f"minor/major {phases}; pswpout {self.pswpout:,}, pswpin {self.pswpin:,}{kernel}"


def rig_build() -> Path:
    """Where run.sh keeps the kernel and initramfs (its own default, or $BUILD)."""
    default = Path(os.environ.get("TMPDIR", "/tmp")) / "linux32-build"
    return Path(os.environ.get("BUILD", default))


def rig_missing() -> str:
    """Why the QEMU anchor cannot run here ("" when it can). run.sh would build what is
    missing (apt-get, minutes): the benchmark leaves that to a person."""
    build = rig_build()
    if not (build / "vmlinuz").exists() or not (build / "initramfs.cpio.gz").exists():
        return f"no linux32 build in {build}: scripts/linux32/run.sh build"
    if shutil.which("qemu-system-i386") is None:
        return "qemu-system-i386 missing: apt-get install qemu-system-x86"
    return ""


def qemu_run_once(out: Path) -> tuple[float, SwapRunCounts]:
    """(seconds, counts) of `run.sh c-256m-swap-4k` writing its capture into *out* (never the
    tests' data folder)."""
    env = dict(os.environ, OUT=str(out), BUILD=str(rig_build()))
    began = time.perf_counter()
    done = subprocess.run(
        [str(RUN_SH), SCENARIO],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SH_TIMEOUT_SECONDS + 60,
    )
    elapsed = time.perf_counter() - began
    log = out / f"{SCENARIO}.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    if done.returncode or "ANCHOR done" not in text:
        raise RigFailed(
            f"run.sh {SCENARIO} failed ({done.returncode}):\n{done.stdout[-1000:]}"
            f"{done.stderr[-1000:]}\n{text[-1000:]}"
        )
    return elapsed, capture_counts(text)


def capture_counts(log: str) -> SwapRunCounts:
    """memtouch's phases (d_minflt, d_majflt) and the held snapshot's pswpin / pswpout.

    A capture without them timed a run that did not do the work (a build whose virtio
    modules do not load has no swap device, and memtouch's mmap fails): that is an error,
    never a sample."""
    faults = {
        phase: (int(minor), int(major))
        for phase, minor, major in _MEMTOUCH_PHASE.findall(log)
        if phase in ("write", "rewrite")
    }
    _, deltas = parse_vmstat_deltas(sections(log).get("vmstat-delta held", ""))
    found = _ANCHOR_KERNEL.search(log)
    kernel = found.group(1) if found else "unknown"
    if len(faults) < 2 or not deltas.get("pswpout"):
        raise RigFailed(
            f"run.sh {SCENARIO} did not do the scenario's work (kernel "
            f"{kernel}; memtouch phases {sorted(faults)}, "
            f"pswpout {deltas.get('pswpout', 0)}): check its log's /proc/swaps and memtouch "
            "blocks; a build of the captures' kernel: KPKG=linux-image-6.1.0-50-686 "
            "BUILD=<scratch> scripts/linux32/run.sh build"
        )
    return SwapRunCounts(faults, deltas.get("pswpin", 0), deltas["pswpout"], kernel)


def vmsim_run_once(directory: Path, mib: int) -> tuple[float, SwapRunCounts]:
    """(seconds from the server's launch to its exit, counts) of the scenario on vmsim."""
    token_file = directory / "admin-token"
    token_file.write_text(ADMIN_TOKEN)
    token_file.chmod(0o600)
    swap_file = directory / "swap"
    swap_file.unlink(missing_ok=True)
    server_args = (
        *("--ram", SWAP_RAM, "--swap", SWAP_SIZE, "--swap-file", str(swap_file)),
        *("--cpus", "1", "--admin-token-file", str(token_file)),
    )
    env = dict(os.environ, VMSIM_ADMIN_TOKEN_FILE=str(token_file))
    began = time.perf_counter()
    with vmsim_server(*server_args) as (address, _pid):
        done = subprocess.run(
            [sys.executable, str(MEMTOUCH_CLIENT), address, str(mib)],
            env=env,
            capture_output=True,
            text=True,
        )
    elapsed = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"memtouch_client.py exited with {done.returncode}:\n{done.stderr}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return elapsed, SwapRunCounts(
        faults={name: (p["minor"], p["major"]) for name, p in found["phases"].items()},
        pswpin=found["vmstat"]["pswpin"],
        pswpout=found["vmstat"]["pswpout"],
    )


def swap_run_rows(quick: bool) -> list[Row]:
    """The c-256m-swap whole run on vmsim against run.sh c-256m-swap-4k, interleaved."""
    mib = QUICK_SWAP_RUN_MIB if quick else SWAP_RUN_MIB
    path = (
        f"c-256m-swap: {mib} MiB written, read, written again on 256 MiB RAM + 256 MiB "
        "swap, server launch to exit"
    )
    missing = rig_missing()
    if missing:
        return [Row(path, "s", [], note=f"QEMU anchor skipped: {missing}")]
    linux: list[SwapRunCounts] = []
    ours: list[SwapRunCounts] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("VMSIM_BENCH_DIR")) as scratch:
        directory = Path(scratch)

        def anchor() -> float:
            seconds, counts = qemu_run_once(directory)
            linux.append(counts)
            return seconds

        def measured() -> float:
            seconds, counts = vmsim_run_once(directory, mib)
            ours.append(counts)
            return seconds

        nr_pairs = min(repeats(), SWAP_RUN_MAX_REPEATS)
        try:
            anchor_samples, samples = interleaved(anchor, measured, count=nr_pairs)
        except RigFailed as failed:
            # The row says why rather than ending run_all.py's other rows with it.
            print(f"  c-256m-swap: {failed}", flush=True)
            return [Row(path, "s", [], note=f"QEMU anchor FAILED: {str(failed)[:300]}")]
    note = f"{nr_pairs} repeats; vmsim {ours[-1].describe()}; Linux {linux[-1].describe()}"
    print(f"  c-256m-swap, last repeat: {note}", flush=True)
    return [
        Row(
            path,
            "s",
            samples,
            "i686 Linux 6.1 under QEMU TCG, run.sh c-256m-swap-4k, boot included",
            anchor_samples,
            goal="< 1.0x",
            goal_met=lambda ratio, _value: ratio is not None and ratio < 1.0,
            note=note + ("" if mib == SWAP_RUN_MIB else "; --quick: Linux still does 400 MiB"),
        )
    ]


# ---- teardown against first touch -----------------------------------------------------------


@dataclass
class TeardownSample:
    """Microseconds per page of one repeat: first touch, munmap, exit of a holder."""

    first_touch: float
    munmap: float
    exit: float


def vmsim_teardown_once(address: str, length: int) -> TeardownSample:
    """One process writes *length* bytes (one TouchMany) and munmaps them; another writes as
    much and exits. Each call timed from the client, as a user's script sees it."""
    nr_pages = length // vmsim.PAGE_SIZE
    with vmsim.connect(address, "teardown-munmap", timeout=600) as process:
        base = process.mmap(length)
        pages = np.arange(base, base + length, vmsim.PAGE_SIZE, dtype=np.uint64).astype(np.uint32)
        began = time.perf_counter()
        summary = process.touch_many(pages, write=True)
        first_touch = time.perf_counter() - began
        if summary.minor != nr_pages:
            raise RuntimeError(f"first touch of {nr_pages} pages took {summary}")
        began = time.perf_counter()
        process.munmap(base, length)
        munmap = time.perf_counter() - began
    holder = vmsim.connect(address, "teardown-exit", timeout=600)
    try:
        base = holder.mmap(length)
        holder.touch_many(pages - pages[0] + np.uint32(base), write=True)
        began = time.perf_counter()
        holder.exit()
        exited = time.perf_counter() - began
    finally:
        holder.close()
    return TeardownSample(
        first_touch / nr_pages * 1e6, munmap / nr_pages * 1e6, exited / nr_pages * 1e6
    )


# The host side, in a child process: mmap LENGTH anonymous bytes (no THP), write one byte a
# page, then munmap, or (with "exit") wait for the parent's word and _exit while holding it.
# Prints the first touch's and munmap's seconds and the minor faults taken.
_HOST_CHILD = """\
import mmap, os, resource, sys, time
import numpy as np
length, mode = int(sys.argv[1]), sys.argv[2]
region = mmap.mmap(-1, length)
if hasattr(mmap, "MADV_NOHUGEPAGE"):
    region.madvise(mmap.MADV_NOHUGEPAGE)
view = np.frombuffer(region, dtype=np.uint8)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
began = time.perf_counter()
view[::mmap.PAGESIZE] = 1
touch = time.perf_counter() - began
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
del view
if mode == "exit":
    print(touch, 0.0, faults, flush=True)
    sys.stdin.readline()
    os._exit(0)
began = time.perf_counter()
region.close()
print(touch, time.perf_counter() - began, faults, flush=True)
"""


def host_teardown_once(length: int) -> TeardownSample:
    """The host kernel's microseconds per page for the same work: first touch and munmap in
    one child; exit timed by the parent, from its word to the child's reaping."""
    nr_pages = length // vmsim.PAGE_SIZE
    command = [sys.executable, "-c", _HOST_CHILD, str(length)]
    done = subprocess.run([*command, "munmap"], capture_output=True, text=True, check=True)
    touch, munmap, faults = done.stdout.split()
    if int(faults) < nr_pages:
        raise RuntimeError(f"the host took {faults} faults for {nr_pages} pages (THP?)")
    child = subprocess.Popen(
        [*command, "exit"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdout.readline()
    began = time.perf_counter()
    child.stdin.write("exit\n")
    child.stdin.flush()
    child.wait()
    exited = time.perf_counter() - began
    return TeardownSample(
        float(touch) / nr_pages * 1e6, float(munmap) / nr_pages * 1e6, exited / nr_pages * 1e6
    )


def teardown_rows(quick: bool) -> list[Row]:
    """munmap and exit per page against first touch per page, vmsim's and the host's."""
    length = QUICK_TEARDOWN_BYTES if quick else TEARDOWN_BYTES
    size = f"{length // vmsim.MiB:,} MiB" if length < vmsim.GiB else f"{length // vmsim.GiB} GiB"
    host: list[TeardownSample] = []
    ours: list[TeardownSample] = []
    with vmsim_server("--ram", TEARDOWN_RAM) as (address, _pid):

        def anchor() -> float:
            host.append(host_teardown_once(length))
            return host[-1].first_touch

        def measured() -> float:
            ours.append(vmsim_teardown_once(address, length))
            return ours[-1].first_touch

        interleaved(anchor, measured)
    first_touch = [s.first_touch for s in ours]
    host_touch = [s.first_touch for s in host]
    teardowns = {
        f"munmap of {size} resident": lambda sample: sample.munmap,
        f"exit of a process holding {size}": lambda sample: sample.exit,
    }
    # vmsim's rows carry the goal; the host kernel's, under them, show Linux's own ratio.
    result = [
        Row(
            f"{what} ({TEARDOWN_RAM}iB machine), per page",
            "us/page",
            [per_page(sample) for sample in ours],
            "vmsim first touch of it, same run",
            first_touch,
            goal="<= 1.0x",
            goal_met=ratio_at_most(1.0),
        )
        for what, per_page in teardowns.items()
    ]
    result += [
        Row(
            f"  host kernel: {what}, per page",
            "us/page",
            [per_page(sample) for sample in host],
            "host first touch",
            host_touch,
        )
        for what, per_page in teardowns.items()
    ]
    result.append(
        Row(
            f"  first touch of {size}: vmsim over gRPC (one TouchMany) against the host",
            "us/page",
            first_touch,
            "host first touch",
            host_touch,
        )
    )
    return result


SECTIONS: dict[str, Callable[[bool], list[Row]]] = {
    "c-256m-swap": swap_run_rows,
    "teardown": teardown_rows,
}
rows = every_section(SECTIONS)


if __name__ == "__main__":
    run_sections_as_script(__doc__.splitlines()[0], SECTIONS)
