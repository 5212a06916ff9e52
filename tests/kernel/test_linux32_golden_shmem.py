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
from tests.kernel import linux32
from tests.kernel.linux32_run import VMA_FIELDS, Vmprobe, booted, run_shanon, run_shm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shanon() -> tuple[linux32.Capture, Vmprobe]:
    capture = linux32.load("shanon-1g-4k")
    (pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    with booted(capture) as machine:
        probe = run_shanon(machine, pages)
        machine.check_invariants()
    return capture, probe


SHANON_VMAS = [
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
]


@pytest.mark.parametrize(("who", "phase"), SHANON_VMAS)
def test_shared_anon_smaps_match_linux_exactly(
    shanon: tuple[linux32.Capture, Vmprobe], who: str, phase: str
) -> None:
    capture, probe = shanon
    linux = capture.vp_values("vma", phase, who)
    assert probe.row("vma", phase, who) == {name: linux[name] for name in VMA_FIELDS}


@pytest.mark.parametrize(
    ("who", "phase"),
    [
        ("P", "p0-parent-write-all"),
        ("C", "p1-child-write-all"),
        ("P", "p3-parent-write-half-child-verify"),
        ("C", "p3-parent-write-half-child-verify"),
    ],
)
def test_shared_anon_faults_match_linux_exactly(
    shanon: tuple[linux32.Capture, Vmprobe], who: str, phase: str
) -> None:
    capture, probe = shanon
    linux = capture.vp_values("proc", phase, who)
    assert probe.row("proc", phase, who) == {
        "d_minflt": linux["d_minflt"],
        "d_majflt": linux["d_majflt"],
    }


def test_the_parent_reads_the_childs_bytes_without_a_fault(
    shanon: tuple[linux32.Capture, Vmprobe],
) -> None:
    capture, probe = shanon
    assert capture.vp_values("proc", "p2-parent-read-verify", "P")["d_minflt"] <= 1
    assert probe.row("proc", "p2-parent-read-verify", "P")["d_minflt"] == 0


@pytest.mark.parametrize(
    "phase", ["p0-parent-write-all", "p1-child-write-all", "p4-child-exited", "p5-parent-munmap"]
)
def test_shmem_and_mapped_pages_match_linux_exactly(
    shanon: tuple[linux32.Capture, Vmprobe], phase: str
) -> None:
    """Shmem grows by the mapping's pages once (the child's writes add none), Mapped with it,
    AnonPages not at all (Linux's few anon pages of a phase are its processes' own)."""
    capture, probe = shanon
    linux = capture.vp_values("vmdelta", phase)
    vmsim = probe.row("vmdelta", phase)
    assert (vmsim["nr_shmem"], vmsim["nr_mapped"]) == (linux["nr_shmem"], linux["nr_mapped"])
    assert vmsim["nr_anon_pages"] == 0
    assert abs(linux["nr_anon_pages"]) <= 10


@pytest.fixture(scope="module")
def shm() -> tuple[linux32.Capture, Vmprobe]:
    capture = linux32.load("shm-1g-4k")
    (pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    (addr,) = {row.values["addr"] for row in capture.vp_rows_of_kind("vma")}
    with booted(capture) as machine:
        probe = run_shm(machine, pages, addr)
        machine.check_invariants()
    return capture, probe


SHM_VMAS = [
    ("W", "p0-writer-shm_open-ftruncate-mmap"),
    ("W", "p1-writer-write-all"),
    ("W", "p2-reader-shm_open-mmap"),
    ("R", "p2-reader-shm_open-mmap"),
    ("W", "p3-reader-read-verify"),
    ("R", "p3-reader-read-verify"),
    ("W", "p4-reader-writes-16-writer-verifies"),
    ("R", "p4-reader-writes-16-writer-verifies"),
    ("R", "p5-writer-exited"),
]


@pytest.mark.parametrize(("who", "phase"), SHM_VMAS)
def test_named_shm_smaps_match_linux_exactly(
    shm: tuple[linux32.Capture, Vmprobe], who: str, phase: str
) -> None:
    capture, probe = shm
    linux = capture.vp_values("vma", phase, who)
    assert probe.row("vma", phase, who) == {name: linux[name] for name in VMA_FIELDS}


@pytest.mark.parametrize(
    ("who", "phase"),
    [
        ("W", "p1-writer-write-all"),
        ("R", "p3-reader-read-verify"),  # fault-around: one fault per 16 pages
        ("R", "p4-reader-writes-16-writer-verifies"),
        ("W", "p4-reader-writes-16-writer-verifies"),
    ],
)
def test_named_shm_faults_match_linux_exactly(
    shm: tuple[linux32.Capture, Vmprobe], who: str, phase: str
) -> None:
    capture, probe = shm
    linux = capture.vp_values("proc", phase, who)
    assert probe.row("proc", phase, who) == {
        "d_minflt": linux["d_minflt"],
        "d_majflt": linux["d_majflt"],
    }


@pytest.mark.parametrize(
    "phase",
    [
        "p1-writer-write-all",
        "p3-reader-read-verify",
        "p5-writer-exited",
        "p6-reader-munmap",
        "p7-shm_unlink",
    ],
)
def test_shmem_stays_until_unlink_as_on_linux(
    shm: tuple[linux32.Capture, Vmprobe], phase: str
) -> None:
    capture, probe = shm
    linux = capture.vp_values("vmdelta", phase)
    vmsim = probe.row("vmdelta", phase)
    assert (vmsim["nr_shmem"], vmsim["nr_mapped"]) == (linux["nr_shmem"], linux["nr_mapped"])
