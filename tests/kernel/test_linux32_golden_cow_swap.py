"""fork + copy-on-write under memory pressure on vmsim against the real i686 Linux 6.1 kernel
(cowp-256m-swap-4k: 256 MiB RAM, 256 MiB swap, 200 MiB forked and written by both sides).

The swap counters move with the timing of reclaim, so they are compared within the 10% the
issue allows; SwapPss equals Swap while no page is shared, exactly, on both kernels. Read from
the capture. Known gap (not asserted): during the child's write of everything, vmsim swaps out
44800 pages where this capture has 51203 (issue 21 quotes 49355): vmsim leaves 6400 more of the
parent's originals resident.
"""

from __future__ import annotations

import pytest
from tests.kernel import golden_figures as golden
from tests.kernel.linux32_run import run_cowp

pytestmark = pytest.mark.slow

TOLERANCE = 0.10


@pytest.fixture(scope="module")
def cowp() -> golden.Run:
    return golden.run_scenario(
        "cowp-256m-swap-4k",
        lambda machine, capture: run_cowp(machine, golden.vma_pages(capture), verify=False),
    )


# The parent writing everything after the child: its swapping and its faults, within 10%.
FIGURES: list[golden.Figure] = [
    *golden.figures(
        "vmdelta", ["p2-parent-write-all"], ("pswpin", "pswpout", "pgmajfault"), TOLERANCE
    ),
    *golden.figures("proc", [("P", "p2-parent-write-all")], golden.FAULTS, TOLERANCE),
]


@golden.each_figure(FIGURES)
def test_the_parent_writing_everything_after_the_child_swaps_and_faults_as_linux(
    cowp: golden.Run, figure: golden.Figure
) -> None:
    golden.assert_matches_linux(*cowp, figure)


@pytest.mark.parametrize(
    ("who", "phase"),
    [
        ("P", "p1-child-write-all"),
        ("C", "p2-parent-write-all"),
    ],
)
def test_swap_pss_is_swap_while_no_page_is_shared(cowp: golden.Run, who: str, phase: str) -> None:
    linux, vmsim = golden.rows(cowp, "vma", phase, who)
    assert linux["SwapPss"] == linux["Swap"] > 0
    assert vmsim["SwapPss"] == vmsim["Swap"] > 0
    assert vmsim["Pss"] == vmsim["Rss"]
