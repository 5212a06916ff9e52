"""Shared copy-on-write pages pushed to swap on vmsim against the real i686 Linux 6.1 kernel
(cowsh-256m-swap512-4k: 200 MiB forked, a third process writes 100 MiB so the still-shared
pages go to swap, then the child and the parent read everything).

Read from the capture: SwapPss is half of Swap while the swapped pages are shared (exact on
both kernels); the child's read-back within 10% (pswpin, pswpout, its major faults) and the
swap cache it leaves (SwapCached, Linux 200568 kB here; issue 21 quotes a peak of 203764);
the parent then finds nearly every page in the swap cache, which kept its slot while the
child mapped it (minor faults within 10%). Known gap (not asserted): the child's write of
everything afterwards swaps out 39739 pages on vmsim, 30105 on Linux.
"""

from __future__ import annotations

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import Vmprobe, booted, run_cowsh

pytestmark = pytest.mark.slow

TOLERANCE = 0.10


@pytest.fixture(scope="module")
def cowsh() -> tuple[linux32.Capture, Vmprobe]:
    capture = linux32.load("cowsh-256m-swap512-4k")
    sizes = {row.who: row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    with booted(capture) as machine:
        probe = run_cowsh(machine, sizes["P"], sizes["H"])
        machine.check_invariants()
    return capture, probe


def _near(vmsim: int, linux: int) -> bool:
    return abs(vmsim - linux) <= TOLERANCE * linux


@pytest.mark.parametrize("who", ["P", "C"])
def test_swap_pss_is_half_of_swap_for_shared_pages(
    cowsh: tuple[linux32.Capture, Vmprobe], who: str
) -> None:
    capture, probe = cowsh
    linux = capture.vp_values("vma", "s1-hog-write", who)
    vmsim = probe.row("vma", "s1-hog-write", who)
    assert linux["Swap"] == 2 * linux["SwapPss"] > 0
    assert vmsim["Swap"] == 2 * vmsim["SwapPss"] > 0


@pytest.mark.parametrize("counter", ["pswpin", "pswpout", "pgmajfault"])
def test_the_childs_read_back_swaps_as_linux(
    cowsh: tuple[linux32.Capture, Vmprobe], counter: str
) -> None:
    capture, probe = cowsh
    linux = capture.vp_values("vmdelta", "s2-child-read-all")[counter]
    vmsim = probe.row("vmdelta", "s2-child-read-all")[counter]
    assert _near(vmsim, linux), (vmsim, linux)


def test_the_swap_cache_holds_what_linuxs_holds(cowsh: tuple[linux32.Capture, Vmprobe]) -> None:
    capture, probe = cowsh
    linux = capture.vp_values("meminfo", "s2-child-read-all")["SwapCached"]
    vmsim = probe.row("meminfo", "s2-child-read-all")["SwapCached"]
    assert _near(vmsim, linux), (vmsim, linux)


def test_the_parent_finds_the_childs_swapped_in_pages_in_the_swap_cache(
    cowsh: tuple[linux32.Capture, Vmprobe],
) -> None:
    capture, probe = cowsh
    linux = capture.vp_values("proc", "s3-parent-read-all", "P")
    vmsim = probe.row("proc", "s3-parent-read-all", "P")
    (pages,) = {row.values["pages"] for row in capture.vp_rows("vma", "P")}
    assert _near(vmsim["d_minflt"], linux["d_minflt"]), (vmsim, linux)
    assert linux["d_majflt"] < pages // 50 and vmsim["d_majflt"] < pages // 50
