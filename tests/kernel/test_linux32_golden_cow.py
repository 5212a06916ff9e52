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
from tests.kernel import linux32
from tests.kernel.linux32_run import VMA_FIELDS, Vmprobe, booted, run_cow

pytestmark = pytest.mark.slow

CAPTURE = "cow-1g-4k"


@pytest.fixture(scope="module")
def runs() -> tuple[linux32.Capture, Vmprobe]:
    capture = linux32.load(CAPTURE)
    (vma,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    with booted(capture) as machine:
        probe = run_cow(machine, vma)
        machine.check_invariants()
    return capture, probe


SMAPS_PHASES = [
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
]


@pytest.mark.parametrize(("who", "phase"), SMAPS_PHASES)
def test_smaps_of_the_shared_vma_match_linux_exactly(
    runs: tuple[linux32.Capture, Vmprobe], who: str, phase: str
) -> None:
    capture, probe = runs
    linux = capture.vp_values("vma", phase, who)
    assert probe.row("vma", phase, who) == {name: linux[name] for name in VMA_FIELDS}


FAULT_PHASES = [
    ("C", "p1-child-read-all"),
    ("C", "p2-child-write-first-half"),
    ("P", "p3-parent-write-all"),
    ("P", "p4-parent-rewrite-all"),
    ("P", "x2-parent-write-all"),
    ("P", "x3-parent-rewrite-all"),
]


@pytest.mark.parametrize(("who", "phase"), FAULT_PHASES)
def test_copy_on_write_faults_match_linux_exactly(
    runs: tuple[linux32.Capture, Vmprobe], who: str, phase: str
) -> None:
    capture, probe = runs
    linux = capture.vp_values("proc", phase, who)
    assert probe.row("proc", phase, who) == {
        "d_minflt": linux["d_minflt"],
        "d_majflt": linux["d_majflt"],
    }


@pytest.mark.parametrize(
    "phase",
    [
        "p2-child-write-first-half",
        "p3-parent-write-all",
        "p4-parent-rewrite-all",
        "x2-parent-write-all",
        "x3-parent-rewrite-all",
    ],
)
def test_copies_and_reuses_match_linux_exactly(
    runs: tuple[linux32.Capture, Vmprobe], phase: str
) -> None:
    """A copy is a new anonymous page (nr_anon_pages), a reuse a pgreuse event."""
    capture, probe = runs
    linux = capture.vp_values("vmdelta", phase)
    vmsim = probe.row("vmdelta", phase)
    assert vmsim["nr_anon_pages"] == linux["nr_anon_pages"]
    assert vmsim["pgreuse"] == linux["pgreuse"]
    assert vmsim["pgfault"] == linux["pgfault"]


def test_fork_copies_no_page_and_the_childs_exit_frees_its_copies(
    runs: tuple[linux32.Capture, Vmprobe],
) -> None:
    capture, probe = runs
    (pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    assert probe.row("vmdelta", "fork")["nr_anon_pages"] == 0
    assert probe.row("proc", "fork", "P") == {"d_minflt": 0, "d_majflt": 0}
    # Linux frees the test VMA's pages and the child's few others (libc, stack).
    linux_freed = -capture.vp_values("vmdelta", "p4a-child-exited")["nr_anon_pages"]
    assert pages <= linux_freed <= pages + 10
    assert probe.row("vmdelta", "p4a-child-exited")["nr_anon_pages"] == -pages
    assert probe.row("vmdelta", "x1-child2-exited")["nr_anon_pages"] == 0
