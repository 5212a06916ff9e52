"""Shared memory on vmsim against the real i686 Linux 6.1 kernel: MAP_SHARED|MAP_ANONYMOUS
across fork (shanon-1g-4k), backed by a shmem object whose pages every process finds.

Figures are read from the capture and compared exactly: the faults of the writes (one per
page, the child's too: its PTEs are not copied, its faults find the parent's pages), no new
page for the child, smaps' Rss/Pss/Shared_Dirty of both, and nr_shmem / nr_mapped /
nr_anon_pages. Linux's parent faults once in its read-verify phase (its own code, not the
mapping: the pages are mapped already); vmsim's parent does not fault at all there.
"""

from __future__ import annotations

import pytest
from tests.kernel import golden_figures as golden
from tests.kernel import linux32
from tests.kernel.linux32_run import VMA_FIELDS, Vmprobe, run_shanon, run_shm

from vmsim_kernel import Machine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shanon() -> golden.Run:
    return golden.run_scenario(
        "shanon-1g-4k", lambda machine, capture: run_shanon(machine, golden.vma_pages(capture))
    )


# MAP_SHARED|MAP_ANONYMOUS across fork, every figure exact: smaps of both processes, the
# faults of the writes, and Shmem growing by the mapping's pages once (the child's writes add
# none), Mapped with it.
SHANON_FIGURES: list[golden.Figure] = [
    *golden.figures(
        "vma",
        [
            ("P", "p0a-mmap-shared"),
            ("P", "p0-parent-write-all"),
            ("P", "fork"),
            ("C", "fork"),
            ("P", "p1-child-write-all"),
            ("C", "p1-child-write-all"),
            ("P", "p2-parent-read-verify"),
            ("C", "p2-parent-read-verify"),
            ("P", "p3-parent-write-half-child-verify"),
            ("C", "p3-parent-write-half-child-verify"),
            ("P", "p4-child-exited"),
        ],
        VMA_FIELDS,
    ),
    *golden.figures(
        "proc",
        [
            ("P", "p0-parent-write-all"),
            ("C", "p1-child-write-all"),
            ("P", "p3-parent-write-half-child-verify"),
            ("C", "p3-parent-write-half-child-verify"),
        ],
        golden.FAULTS,
    ),
    *golden.figures(
        "vmdelta",
        ["p0-parent-write-all", "p1-child-write-all", "p4-child-exited", "p5-parent-munmap"],
        ("nr_shmem", "nr_mapped"),
    ),
]


@golden.each_figure(SHANON_FIGURES)
def test_shared_anon_figures_match_linux(shanon: golden.Run, figure: golden.Figure) -> None:
    golden.assert_matches_linux(*shanon, figure)


def test_the_parent_reads_the_childs_bytes_without_a_fault(
    shanon: golden.Run,
) -> None:
    capture, probe = shanon
    assert capture.vp_values("proc", "p2-parent-read-verify", "P")["d_minflt"] <= 1
    assert probe.row("proc", "p2-parent-read-verify", "P")["d_minflt"] == 0


@pytest.mark.parametrize(
    "phase", ["p0-parent-write-all", "p1-child-write-all", "p4-child-exited", "p5-parent-munmap"]
)
def test_shared_anon_pages_are_no_anonymous_pages(shanon: golden.Run, phase: str) -> None:
    """AnonPages does not move at all (Linux's few anon pages of a phase are its processes'
    own)."""
    capture, probe = shanon
    assert probe.row("vmdelta", phase)["nr_anon_pages"] == 0
    assert abs(capture.vp_values("vmdelta", phase)["nr_anon_pages"]) <= 10


@pytest.fixture(scope="module")
def shm() -> golden.Run:
    def run(machine: Machine, capture: linux32.Capture) -> Vmprobe:
        (addr,) = {row.values["addr"] for row in capture.vp_rows_of_kind("vma")}
        return run_shm(machine, golden.vma_pages(capture), addr)

    return golden.run_scenario("shm-1g-4k", run)


# Named shared memory, every figure exact: smaps of the writer and the reader, the faults (the
# reader's read-verify faults once per 16 pages: fault-around), and Shmem staying until unlink.
SHM_FIGURES: list[golden.Figure] = [
    *golden.figures(
        "vma",
        [
            ("W", "p0-writer-shm_open-ftruncate-mmap"),
            ("W", "p1-writer-write-all"),
            ("W", "p2-reader-shm_open-mmap"),
            ("R", "p2-reader-shm_open-mmap"),
            ("W", "p3-reader-read-verify"),
            ("R", "p3-reader-read-verify"),
            ("W", "p4-reader-writes-16-writer-verifies"),
            ("R", "p4-reader-writes-16-writer-verifies"),
            ("R", "p5-writer-exited"),
        ],
        VMA_FIELDS,
    ),
    *golden.figures(
        "proc",
        [
            ("W", "p1-writer-write-all"),
            ("R", "p3-reader-read-verify"),
            ("R", "p4-reader-writes-16-writer-verifies"),
            ("W", "p4-reader-writes-16-writer-verifies"),
        ],
        golden.FAULTS,
    ),
    *golden.figures(
        "vmdelta",
        [
            "p1-writer-write-all",
            "p3-reader-read-verify",
            "p5-writer-exited",
            "p6-reader-munmap",
            "p7-shm_unlink",
        ],
        ("nr_shmem", "nr_mapped"),
    ),
]


@golden.each_figure(SHM_FIGURES)
def test_named_shm_figures_match_linux(shm: golden.Run, figure: golden.Figure) -> None:
    golden.assert_matches_linux(*shm, figure)
