"""fork() and copy-on-write on vmsim against the real i686 Linux 6.1 kernel (cow-1g-4k).

vmprobe writes 300 MiB of private anonymous memory, forks, and the two sides read and write
it in turns (tests/kernel/linux32_run.run_cow replays the same phases). Every figure of the
test VMA is exact on Linux and compared exactly here, read from the capture: the faults of
each phase, the COW copies (nr_anon_pages) and reuses (pgreuse), smaps' Rss, Pss,
Shared_*/Private_*.

Not modelled, so not compared: the faults fork() itself costs on Linux (parent 2, child 12:
libc's and the stack's pages the two processes touch around the call; a vmsim process runs no
code) and the page-table pages of those other VMAs (Linux +78 at fork, vmsim the parent's own
tables for the test VMA plus a page directory); the few anonymous pages outside the test VMA
(the child's exit frees 76806 pages on Linux, the test VMA's 76800 on vmsim).
"""

from __future__ import annotations

import pytest
from tests.kernel import golden_figures as golden
from tests.kernel.linux32_run import VMA_FIELDS, run_cow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs() -> golden.Run:
    return golden.run_scenario(
        "cow-1g-4k", lambda machine, capture: run_cow(machine, golden.vma_pages(capture))
    )


# Every figure exact on Linux: smaps of the shared VMA in each phase and process, the faults
# of the copy-on-write phases, and their copies (a new anonymous page each: nr_anon_pages) and
# reuses (a pgreuse event each).
FIGURES: list[golden.Figure] = [
    *golden.figures(
        "vma",
        [
            ("P", "p0-parent-write-all"),
            ("P", "fork"),
            ("C", "fork"),
            ("P", "p1-child-read-all"),
            ("C", "p1-child-read-all"),
            ("P", "p2-child-write-first-half"),
            ("C", "p2-child-write-first-half"),
            ("P", "p3-parent-write-all"),
            ("C", "p3-parent-write-all"),
            ("P", "p4a-child-exited"),
            ("P", "x0-fork2"),
            ("C2", "x0-fork2"),
            ("P", "x1-child2-exited"),
        ],
        VMA_FIELDS,
    ),
    *golden.figures(
        "proc",
        [
            ("C", "p1-child-read-all"),
            ("C", "p2-child-write-first-half"),
            ("P", "p3-parent-write-all"),
            ("P", "p4-parent-rewrite-all"),
            ("P", "x2-parent-write-all"),
            ("P", "x3-parent-rewrite-all"),
        ],
        golden.FAULTS,
    ),
    *golden.figures(
        "vmdelta",
        [
            "p2-child-write-first-half",
            "p3-parent-write-all",
            "p4-parent-rewrite-all",
            "x2-parent-write-all",
            "x3-parent-rewrite-all",
        ],
        ("nr_anon_pages", "pgreuse", "pgfault"),
    ),
]


@golden.each_figure(FIGURES)
def test_fork_and_copy_on_write_figures_match_linux(
    runs: golden.Run, figure: golden.Figure
) -> None:
    golden.assert_matches_linux(*runs, figure)


def test_fork_copies_no_page_and_the_childs_exit_frees_its_copies(
    runs: golden.Run,
) -> None:
    capture, probe = runs
    pages = golden.vma_pages(capture)
    assert probe.row("vmdelta", "fork")["nr_anon_pages"] == 0
    assert probe.row("proc", "fork", "P") == {"d_minflt": 0, "d_majflt": 0}
    # Linux frees the test VMA's pages and the child's few others (libc, stack).
    linux_freed = -capture.vp_values("vmdelta", "p4a-child-exited")["nr_anon_pages"]
    assert pages <= linux_freed <= pages + 10
    assert probe.row("vmdelta", "p4a-child-exited")["nr_anon_pages"] == -pages
    assert probe.row("vmdelta", "x1-child2-exited")["nr_anon_pages"] == 0
