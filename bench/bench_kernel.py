"""Embedded-kernel benchmarks: fault cost against the host's own, and batched hit rate.

Run: python bench/bench_kernel.py   (prints one table; everything measured side by side
in this one run, so the ratios mean something on a noisy machine).
"""

from __future__ import annotations

import argparse
import mmap
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    GiB,
    Machine,
    MachineConfig,
    MiB,
)

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """The fastest of *repeats* runs (least disturbed by other load), in seconds."""
    return min(run() for _ in range(repeats))


def host_first_touch(pages: int) -> float:
    """Seconds per page for the host kernel's minor fault: fresh anonymous mmap, one write per page."""

    def run() -> float:
        region = mmap.mmap(-1, pages * PAGE_SIZE)
        view = np.frombuffer(region, dtype=np.uint8)
        start = time.perf_counter()
        view[::PAGE_SIZE] = 1
        elapsed = time.perf_counter() - start
        del view
        region.close()
        return elapsed / pages

    return best_of(3, run)


def vmsim_first_touch(pages: int, batched: bool) -> float:
    """Seconds per page for a vmsim minor fault (zeroed frame, PTE, rmap, LRU)."""

    def run() -> float:
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
                machine.touch_many(pid, addrs, write=True)
            else:
                for a in addrs.tolist():
                    machine.touch(pid, a, write=True)
            elapsed = time.perf_counter() - start
            machine.close()
            return elapsed / pages

    return best_of(3, run)


def vmsim_resident_touches(pages: int, touches: int) -> tuple[float, float]:
    """(batched, single-call) resident touches per second on already-mapped pages."""
    with tempfile.TemporaryDirectory() as directory:
        machine = Machine(
            MachineConfig(ram_bytes=256 * MiB, swap_bytes=64 * MiB, swap_path=f"{directory}/swap")
        )
        pid = machine.spawn("bench")
        addr = machine.mmap(pid, 0, pages * PAGE_SIZE, RW, ANON)
        machine.touch_many(
            pid,
            np.arange(addr, addr + pages * PAGE_SIZE, PAGE_SIZE, dtype=np.uint64).astype(np.uint32),
            True,
        )
        rng = np.random.default_rng(0)
        addrs = (addr + rng.integers(0, pages * PAGE_SIZE, touches)).astype(np.uint32)

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

        rate_batched = touches / best_of(3, batched)
        rate_single = len(single_addrs) / best_of(3, single)
        machine.close()
        return rate_batched, rate_single


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=20000, help="pages to first-touch")
    parser.add_argument("--touches", type=int, default=2_000_000, help="resident touches per batch")
    args = parser.parse_args(argv)
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
