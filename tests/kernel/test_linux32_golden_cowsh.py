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
from tests.kernel import golden_figures as golden
from tests.kernel.linux32_run import run_cowsh

pytestmark = pytest.mark.slow

TOLERANCE = 0.10


@pytest.fixture(scope="module")
def cowsh() -> golden.Run:
    return golden.run_scenario(
        "cowsh-256m-swap512-4k",
        lambda machine, capture: run_cowsh(
            machine, golden.vma_pages(capture, "P"), golden.vma_pages(capture, "H")
        ),
    )


@pytest.mark.parametrize("who", ["P", "C"])
def test_swap_pss_is_half_of_swap_for_shared_pages(cowsh: golden.Run, who: str) -> None:
    linux, vmsim = golden.rows(cowsh, "vma", "s1-hog-write", who)
    assert linux["Swap"] == 2 * linux["SwapPss"] > 0
    assert vmsim["Swap"] == 2 * vmsim["SwapPss"] > 0


# Within 10%: the child's read-back (its swapping and the swap cache it leaves), then the
# parent's read, whose minor faults find the pages in the swap cache.
FIGURES: list[golden.Figure] = [
    *golden.figures(
        "vmdelta", ["s2-child-read-all"], ("pswpin", "pswpout", "pgmajfault"), TOLERANCE
    ),
    *golden.figures("meminfo", ["s2-child-read-all"], ("SwapCached",), TOLERANCE),
    *golden.figures("proc", [("P", "s3-parent-read-all")], ("d_minflt",), TOLERANCE),
]


@golden.each_figure(FIGURES)
def test_the_read_back_of_shared_swapped_pages_matches_linux(
    cowsh: golden.Run, figure: golden.Figure
) -> None:
    golden.assert_matches_linux(*cowsh, figure)


def test_the_parent_finds_nearly_every_page_in_the_swap_cache(
    cowsh: golden.Run,
) -> None:
    pages = golden.vma_pages(cowsh[0], "P")
    linux, vmsim = golden.rows(cowsh, "proc", "s3-parent-read-all", "P")
    assert linux["d_majflt"] < pages // 50 and vmsim["d_majflt"] < pages // 50
