"""Embedded-kernel benchmarks: fault cost against the host's own, swap against raw file I/O.

Run: python bench/bench_kernel.py   (prints one table; everything measured side by side
in this one run, so the ratios mean something on a noisy machine). run_all.py takes rows().
"""

from __future__ import annotations

import argparse
import contextlib
import mmap
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
from common import (
    ANON,
    REPEATS,
    RW,
    Row,
    interleaved,
    ratio_at_least,
    ratio_at_most,
    repeats,
    set_repeats,
    value_at_least,
)

from vmsim_kernel import (
    MAP_NORESERVE,
    PAGE_SIZE,
    GiB,
    Machine,
    MachineConfig,
    MiB,
)


def best_of(runs: int, run: Callable[[], float]) -> float:
    """The fastest of *runs* runs (least disturbed by other load), in seconds."""
    return min(run() for _ in range(runs))


def host_first_touch_once(pages: int) -> float:
    """Seconds per host minor fault: a fresh anonymous mmap (no THP), one write per page.

    The count comes from getrusage's ru_minflt, so the time is per fault the host really took.
    """
    region = mmap.mmap(-1, pages * PAGE_SIZE)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        region.madvise(mmap.MADV_NOHUGEPAGE)
    view = np.frombuffer(region, dtype=np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    view[::PAGE_SIZE] = 1
    elapsed = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del view
    region.close()
    return elapsed / max(faults, 1)


def host_first_touch(pages: int) -> float:
    """The best of repeats() host_first_touch_once runs."""
    return best_of(repeats(), lambda: host_first_touch_once(pages))


def vmsim_first_touch_once(pages: int, batched: bool = True) -> float:
    """Seconds per vmsim minor fault (zeroed frame, PTE, rmap, LRU), embedded."""
    with tempfile.TemporaryDirectory() as directory:
        machine = Machine(
            MachineConfig(ram_bytes=1 * GiB, swap_bytes=64 * MiB, swap_path=f"{directory}/swap")
        )
        pid = machine.spawn("bench")
        addr = machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON)
        addrs = np.arange(addr, addr + pages * PAGE_SIZE, PAGE_SIZE, dtype=np.uint64).astype(
            np.uint32
        )
        start = time.perf_counter()
        if batched:
            summary = machine.touch_many(pid, addrs, write=True)
            assert summary.nr_minor == pages, summary
        else:
            for a in addrs.tolist():
                machine.touch(pid, a, write=True)
        elapsed = time.perf_counter() - start
        machine.close()
        return elapsed / pages


def vmsim_first_touch(pages: int, batched: bool) -> float:
    """The best of repeats() vmsim_first_touch_once runs."""
    return best_of(repeats(), lambda: vmsim_first_touch_once(pages, batched))


def swap_once(pages: int, directory: str) -> tuple[float, int]:
    """(pages swapped out + in per second, pages moved) by the embedded kernel, 8 MiB RAM."""
    swap_path = f"{directory}/swap"
    machine = Machine(MachineConfig(ram_bytes=8 * MiB, swap_bytes=64 * MiB, swap_path=swap_path))
    pid = machine.spawn()
    base = machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON | MAP_NORESERVE)
    addrs = np.arange(base, base + pages * PAGE_SIZE, PAGE_SIZE, dtype=np.uint64).astype(np.uint32)
    machine.touch_many(pid, addrs, write=True)
    before = machine.vmstat()
    began = time.perf_counter()
    for _ in range(3):
        machine.touch_many(pid, addrs, write=True)
    elapsed = time.perf_counter() - began
    after = machine.vmstat()
    moved = (after["pswpout"] - before["pswpout"]) + (after["pswpin"] - before["pswpin"])
    machine.close()
    return moved / elapsed, moved


def raw_io_once(operations: int, directory: str) -> float:
    """Raw 4 KiB pwrite then pread operations per second on a file in *directory*."""
    path = f"{directory}/raw"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        block = os.urandom(PAGE_SIZE)
        began = time.perf_counter()
        for slot in range(operations // 2):
            os.pwrite(fd, block, (1 + slot % 16000) * PAGE_SIZE)
        for slot in range(operations - operations // 2):
            os.pread(fd, PAGE_SIZE, (1 + slot % 16000) * PAGE_SIZE)
        return operations / (time.perf_counter() - began)
    finally:
        os.close(fd)
        os.unlink(path)


@contextlib.contextmanager
def resident_pages(
    pages: int, touches: int
) -> Iterator[tuple[Machine, int, npt.NDArray[np.uint32]]]:
    """A machine whose process has *pages* written pages, and *touches* random addresses in
    them (seeded): resident touches measure the page walk, not the fault path."""
    with tempfile.TemporaryDirectory() as directory:
        machine = Machine(
            MachineConfig(ram_bytes=256 * MiB, swap_bytes=64 * MiB, swap_path=f"{directory}/swap")
        )
        try:
            pid = machine.spawn("bench")
            base = machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON)
            end = base + pages * PAGE_SIZE
            every_page = np.arange(base, end, PAGE_SIZE, dtype=np.uint64).astype(np.uint32)
            machine.touch_many(pid, every_page, True)
            rng = np.random.default_rng(0)
            yield (
                machine,
                pid,
                (base + rng.integers(0, pages * PAGE_SIZE, touches)).astype(np.uint32),
            )
        finally:
            machine.close()


def embedded_resident_once(pages: int, touches: int) -> float:
    """Resident touches per second through the embedded kernel's touch_many."""
    with resident_pages(pages, touches) as (machine, pid, addrs):
        machine.touch_many(pid, addrs)  # warm
        began = time.perf_counter()
        for _ in range(5):
            machine.touch_many(pid, addrs)
        return 5 * touches / (time.perf_counter() - began)


def rows(quick: bool) -> list[Row]:
    """First-touch fault vs the host's, swap vs raw I/O, embedded resident touches."""
    pages = 2000 if quick else 20000
    host, fault = interleaved(
        lambda: host_first_touch_once(pages), lambda: vmsim_first_touch_once(pages)
    )
    result = [
        Row(
            "first-touch fault, batched",
            "us/page",
            [f * 1e6 for f in fault],
            "host kernel minor fault (mmap first touch, ru_minflt)",
            [h * 1e6 for h in host],
            goal="<= 1.0x",
            goal_met=ratio_at_most(1.0),
        )
    ]
    with tempfile.TemporaryDirectory(dir=os.environ.get("VMSIM_BENCH_DIR")) as directory:
        swap_pages = 3000 if quick else 6000
        raw: list[float] = []
        kernel: list[float] = []
        for _ in range(repeats()):
            rate, moved = swap_once(swap_pages, directory)
            kernel.append(rate)
            raw.append(raw_io_once(moved, directory))
    result.append(
        Row(
            "swap out + in",
            "pages/s",
            kernel,
            "raw 4 KiB pwrite+pread, same file system",
            raw,
            higher_is_better=True,
            goal=">= 0.5x",
            goal_met=ratio_at_least(0.5),
        )
    )
    touches = 200_000 if quick else 1_000_000
    result.append(
        Row(
            "TouchMany embedded, resident",
            "addr/s",
            [embedded_resident_once(4096, touches) for _ in range(repeats())],
            higher_is_better=True,
            goal=">= 30M/s",
            goal_met=value_at_least(30e6),
        )
    )
    return result


def vmsim_resident_touches(pages: int, touches: int) -> tuple[float, float]:
    """(batched, single-call) resident touches per second on already-mapped pages."""
    with resident_pages(pages, touches) as (machine, pid, addrs):

        def batched() -> float:
            start = time.perf_counter()
            machine.touch_many(pid, addrs, write=False)
            return time.perf_counter() - start

        single_addrs = addrs[: touches // 20].tolist()

        def single() -> float:
            start = time.perf_counter()
            for a in single_addrs:
                machine.touch(pid, a)
            return time.perf_counter() - start

        rate_batched = touches / best_of(repeats(), batched)
        rate_single = len(single_addrs) / best_of(repeats(), single)
        return rate_batched, rate_single


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=20000, help="pages to first-touch")
    parser.add_argument("--touches", type=int, default=2_000_000, help="resident touches per batch")
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="runs of each measurement; the best is shown"
    )
    args = parser.parse_args(argv)
    set_repeats(args.repeats)
    host = host_first_touch(args.pages)
    batched = vmsim_first_touch(args.pages, batched=True)
    single = vmsim_first_touch(args.pages // 4, batched=False)
    rate_batched, rate_single = vmsim_resident_touches(4096, args.touches)
    print(f"{'measurement':58} {'value':>14} {'vs host fault':>14}")
    print(
        f"{'host kernel minor fault (mmap + numpy write per page)':58} {host * 1e6:>11.2f} us {1.0:>13.1f}x"
    )
    print(
        f"{'vmsim minor fault, batched touch_many':58} {batched * 1e6:>11.2f} us {batched / host:>13.1f}x"
    )
    print(
        f"{'vmsim minor fault, one touch() call per page':58} {single * 1e6:>11.2f} us {single / host:>13.1f}x"
    )
    print(f"{'vmsim resident touches/s, batched (2M random, 16 MiB)':58} {rate_batched:>14,.0f}")
    print(f"{'vmsim resident touches/s, one touch() call each':58} {rate_single:>14,.0f}")
    print(f"{'batched / single-call resident rate':58} {rate_batched / rate_single:>13.1f}x")


if __name__ == "__main__":
    main()
