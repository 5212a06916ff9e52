"""Fairness and scheduler overhead: a probe's latency under a thrashing hog, and quanta's cost.

Run: python bench/bench_fairness.py [--repeats 3] [--quick]

1. Probe latency: a client touching one resident page, alone and while another client runs
   a thrashing TouchMany (400,000 addresses over 48 MiB on a 32 MiB machine, stopped by a
   3 s deadline). The server runs in its own process. Printed: p50/p99/max of each, and the
   ratio under the hog against alone (min and median over the repeats).
2. A probe whose clock ran ahead: the probe first thrashes (touches 120 MiB twice on a 64 MiB
   machine, so its simulated clock runs seconds ahead in swap I/O), then touches one resident
   page for the measured seconds while four processes spawned before it write 4 MiB at a
   time. Ordered by simulated time alone the probe waited for every writer to catch up with
   its clock (17 s for one touch, issue 19); the scheduler's real-time bound serves it within a
   few quanta. Printed: the probe's p50/max and touches done, the writers' writes.
3. Scheduler overhead: resident TouchMany through the scheduler (Machine.touch_many: a task
   stepped in quanta) against the pre-scheduler direct path (memory.touch_many on the whole
   batch, as the syscall used to run), on the same machine, side by side (target < 10%).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import threading
import time
from typing import Any

import numpy as np
from common import ANON, RW, vmsim_server

import vmsim
from vmsim_kernel import PAGE_SIZE, Machine, MachineConfig, MiB
from vmsim_kernel.mm import memory


def probe_latencies(address: str, seconds: float, hog: bool) -> tuple[np.ndarray[Any, Any], int]:
    """Milliseconds per probe touch for *seconds* (while a hog runs, if *hog*); and the number
    of addresses the hog got through."""
    probe = vmsim.connect(address, name="probe")
    page = probe.mmap(PAGE_SIZE)
    probe.touch(page, write=True)
    done = threading.Event()
    hog_touched = [0]

    def run_hog() -> None:
        with vmsim.connect(address, name="hog") as hog_proc:
            base = hog_proc.mmap(48 * MiB)
            pages = np.arange(400_000, dtype=np.uint64) % (48 * MiB // PAGE_SIZE)
            addrs = (base + pages * PAGE_SIZE).astype(np.uint32)
            with contextlib.suppress(vmsim.DeadlineExceeded):  # the deadline ends the hog
                hog_proc.touch_many(addrs, write=True, timeout=seconds)
            status = hog_proc.status()
            hog_touched[0] = status.minor_faults + status.major_faults
        done.set()

    if hog:
        threading.Thread(target=run_hog, daemon=True).start()
        time.sleep(0.2)  # the hog's batch is decoded and running
    latencies = []
    end = time.monotonic() + seconds - (0.3 if hog else 0)
    while time.monotonic() < end:
        began = time.perf_counter()
        probe.touch(page)
        latencies.append((time.perf_counter() - began) * 1000)
        time.sleep(0.005)
    if hog:
        done.wait(30)
    probe.close()
    return np.array(latencies), hog_touched[0]


def probe_after_swapping(
    address: str, seconds: float, thrash: bool = True
) -> tuple[np.ndarray[Any, Any], int]:
    """Milliseconds per touch of a probe whose clock ran ahead (unless not *thrash*: the same
    probe without its swapping first), beside four older writers; and the number of 4 MiB
    writes they did in the meantime."""
    writers = [vmsim.connect(address, name=f"writer{i}") for i in range(4)]
    buffers = [(writer, writer.mmap(4 * MiB)) for writer in writers]
    probe = vmsim.connect(address, name="probe", timeout=120)
    region = probe.mmap(120 * MiB)
    addrs = np.arange(region, region + 120 * MiB, PAGE_SIZE, dtype=np.uint32)
    for _ in range(
        2 if thrash else 0
    ):  # twice through 120 MiB on a 64 MiB machine: seconds of swap I/O
        probe.touch_many(addrs, write=True)
    page = probe.mmap(PAGE_SIZE)
    probe.touch(page, write=True)
    stop = threading.Event()
    writes = [0]
    data = b"w" * (4 * MiB)

    def write_loop(writer: vmsim.Process, base: int) -> None:
        while not stop.is_set():
            writer.write(base, data)
            writes[0] += 1

    threads = [threading.Thread(target=write_loop, args=pair, daemon=True) for pair in buffers]
    for thread in threads:
        thread.start()
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.perf_counter()
        probe.touch(page)
        latencies.append((time.perf_counter() - began) * 1000)
        time.sleep(0.005)
    stop.set()
    for thread in threads:
        thread.join(60)
    for writer in (*writers, probe):
        writer.close()
    return np.array(latencies), writes[0]


def scheduler_overhead(repeats: int, nr_touches: int) -> tuple[float, float, float]:
    """Seconds for *nr_touches* resident accesses: (direct path, through the scheduler) best
    of *repeats*, and the median of the per-repeat ratios."""
    machine = Machine(MachineConfig(ram_bytes=64 * MiB, swap_bytes=0))
    try:
        pid = machine.spawn()
        base = machine.mmap(pid, 0, 16 * MiB, RW, ANON)
        region = np.arange(base, base + 16 * MiB, PAGE_SIZE, dtype=np.uint32)
        machine.touch_many(pid, region, write=True)
        rng = np.random.default_rng(0)
        addrs = rng.choice(region, nr_touches).astype(np.uint32)
        task = machine.tasks[pid]
        direct, scheduled, ratios = [], [], []
        for repeat in range(repeats):
            timings = {}
            order = ("direct", "scheduled") if repeat % 2 == 0 else ("scheduled", "direct")
            for path in order:  # alternated, so neither always runs on a warmer cache
                began = time.perf_counter()
                if path == "direct":
                    memory.touch_many(machine.kernel, task, addrs, False)  # the pre-scheduler body
                else:
                    machine.touch_many(pid, addrs)
                timings[path] = time.perf_counter() - began
            direct.append(timings["direct"])
            scheduled.append(timings["scheduled"])
            ratios.append(timings["scheduled"] / timings["direct"])
        return min(direct), min(scheduled), statistics.median(ratios)
    finally:
        machine.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--repeats", type=int, default=None, help="repeats of each measurement (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="one repeat (run_all.py --quick)")
    parser.add_argument("--seconds", type=float, default=3.0, help="hog deadline and probe time")
    parser.add_argument("--touches", type=int, default=2_000_000, help="resident touches")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    print(f"bench_fairness: {args.repeats} repeats, {args.seconds:.1f} s each, 32 MiB machine")
    rows = []
    for _ in range(args.repeats):
        with vmsim_server("--ram", "32M", "--swap", "256M") as (address, _pid):
            alone, _ = probe_latencies(address, args.seconds, hog=False)
            loaded, hog_touched = probe_latencies(address, args.seconds, hog=True)
        rows.append((alone, loaded, hog_touched))
    print(f"{'probe touch latency (ms)':42} {'p50':>8} {'p99':>8} {'max':>8} {'n':>6}")
    for name, index in (("alone", 0), ("under a thrashing hog", 1)):
        p50 = statistics.median(float(np.percentile(r[index], 50)) for r in rows)
        p99 = statistics.median(float(np.percentile(r[index], 99)) for r in rows)
        worst = statistics.median(float(r[index].max()) for r in rows)
        count = statistics.median(len(r[index]) for r in rows)
        print(
            f"{name + ' (median of repeats)':42} {p50:>8.2f} {p99:>8.2f} {worst:>8.2f} {count:>6}"
        )
    for label, q in (("p50", 50), ("p99", 99)):
        ratios = [float(np.percentile(r[1], q) / np.percentile(r[0], q)) for r in rows]
        print(
            f"{'ratio hog/alone, ' + label:42} min {min(ratios):>6.1f}x  "
            f"median {statistics.median(ratios):>6.1f}x"
        )
    print(
        f"{'hog addresses done before its deadline':42} {statistics.median(r[2] for r in rows):>8,.0f}"
    )
    ahead = []
    for _ in range(args.repeats):
        with vmsim_server("--ram", "64M", "--swap", "256M") as (address, _pid):
            ahead.append(probe_after_swapping(address, args.seconds * 3))
    print(
        f"{'probe whose clock ran ahead, 4 writers (ms)':42} {'p50':>8} {'max':>8} "
        f"{'touches':>8} {'writes':>8}"
    )
    for index, (latencies, writes) in enumerate(ahead):
        p50, worst = float(np.percentile(latencies, 50)), float(latencies.max())
        print(
            f"{'  run ' + str(index + 1):42} {p50:>8.2f} {worst:>8.2f} {len(latencies):>8} {writes:>8}"
        )
    direct, scheduled, ratio = scheduler_overhead(max(3, args.repeats), args.touches)
    print(
        f"{'resident TouchMany, ' + f'{args.touches:,} touches':42} {'direct':>10} {'scheduled':>10}"
    )
    print(f"{'best seconds':42} {direct:>10.4f} {scheduled:>10.4f}")
    print(
        f"{'scheduler overhead (median of ratios)':42} {(ratio - 1) * 100:>9.1f}%  "
        f"(best-of: {(scheduled / direct - 1) * 100:.1f}%, target < 10%)"
    )


if __name__ == "__main__":
    main()
