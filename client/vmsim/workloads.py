"""Access patterns for load generation: each yields batches of page indexes into a region.

Shared by `vmsim load` and the Locust user so both produce the same traffic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["THRASH_OVERCOMMIT", "WORKLOADS", "Workload", "page_batches", "thrash_region_pages"]

WORKLOADS = ("seq", "random", "zipf", "phases", "thrash", "stride", "trace")
THRASH_OVERCOMMIT = 1.5  # the thrash clients together loop over this many times the RAM
_THRASH_SWAP_SHARE = 0.8  # ... but never over this share of the free swap plus the RAM


def thrash_region_pages(mem_total_kb: int, swap_free_kb: int, clients: int) -> int:
    """Pages per client so that *clients* looping over their regions thrash without OOM.

    Together they walk THRASH_OVERCOMMIT x RAM (so every pass evicts pages the next pass
    needs: major faults), but within RAM plus most of the free swap (so nobody is OOM-killed).

    Raises:
        ValueError: the swap is too small for any working set larger than RAM.
    """
    ram_pages = mem_total_kb // 4
    room_pages = int((mem_total_kb + swap_free_kb) // 4 * _THRASH_SWAP_SHARE)
    total = min(int(ram_pages * THRASH_OVERCOMMIT), room_pages)
    if total <= ram_pages * 1.05:
        raise ValueError(
            f"thrash needs swap: {swap_free_kb} kB free swap leaves no room for a working set "
            f"larger than the {mem_total_kb} kB of RAM"
        )
    return max(1, total // clients)


@dataclass(frozen=True)
class Workload:
    """What one client process does.

    Attributes:
        pattern: one of WORKLOADS.
        region_pages: pages the process maps and walks over.
        batch: addresses per TouchMany.
        write_ratio: fraction of batches that write.
        zipf_s: skew of the zipfian hot set (> 1).
        phase_pages: working-set size of the `phases` pattern.
        phase_batches: batches before the working set moves.
        stride_pages: step of the `stride` pattern.
        trace: page numbers for the `trace` pattern (wrapped into the region).
    """

    pattern: str = "random"
    region_pages: int = 1024
    batch: int = 256
    write_ratio: float = 0.3
    zipf_s: float = 1.2
    phase_pages: int = 128
    phase_batches: int = 20
    stride_pages: int = 7
    trace: Sequence[int] = ()

    def __post_init__(self) -> None:
        if self.pattern not in WORKLOADS:
            raise ValueError(f"unknown workload {self.pattern!r}; one of {', '.join(WORKLOADS)}")
        if self.region_pages < 1 or self.batch < 1:
            raise ValueError("region_pages and batch must be positive")
        if not 0.0 <= self.write_ratio <= 1.0:
            raise ValueError("write_ratio is a fraction 0..1")
        if self.pattern == "trace" and not self.trace:
            raise ValueError("the trace workload needs a trace")


def _zipf_cdf(pages: int, s: float) -> npt.NDArray[np.float64]:
    weights = 1.0 / np.arange(1, pages + 1, dtype=np.float64) ** s
    cdf: npt.NDArray[np.float64] = np.cumsum(weights) / weights.sum()
    return cdf


def page_batches(workload: Workload, seed: int) -> Iterator[tuple[npt.NDArray[np.int64], bool]]:
    """Endless (page indexes, write?) batches of *workload*, reproducible from *seed*."""
    rng = np.random.default_rng(seed)
    pages, batch = workload.region_pages, workload.batch
    cursor = 0
    cdf = _zipf_cdf(pages, workload.zipf_s) if workload.pattern == "zipf" else None
    hot_order = rng.permutation(pages) if cdf is not None else None
    trace = (
        np.asarray(workload.trace, dtype=np.int64) % pages if workload.pattern == "trace" else None
    )
    count = 0
    while True:
        pattern = workload.pattern
        if pattern in ("seq", "thrash"):
            indexes = (cursor + np.arange(batch)) % pages
            cursor = (cursor + batch) % pages
        elif pattern == "random":
            indexes = rng.integers(0, pages, batch)
        elif pattern == "zipf":
            assert cdf is not None and hot_order is not None
            indexes = hot_order[np.searchsorted(cdf, rng.random(batch))]
        elif pattern == "phases":
            window = min(workload.phase_pages, pages)
            base = (count // workload.phase_batches) * window % pages
            indexes = (base + rng.integers(0, window, batch)) % pages
        elif pattern == "stride":
            indexes = (cursor + np.arange(batch) * workload.stride_pages) % pages
            cursor = int(indexes[-1] + workload.stride_pages) % pages
        else:
            assert trace is not None
            indexes = trace[(cursor + np.arange(batch)) % len(trace)]
            cursor = (cursor + batch) % len(trace)
        count += 1
        # thrash dirties its working set: a page only read maps the shared zero page (no RAM)
        write = pattern == "thrash" or bool(rng.random() < workload.write_ratio)
        yield indexes.astype(np.int64), write
