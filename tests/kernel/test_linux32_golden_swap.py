"""vmsim against the real i686 Linux 6.1 kernel under swap pressure (issue 22's matching rows).

c-256m-swap-4k: 400 MiB written then rewritten on 256 MiB RAM + 256 MiB swap, page-cluster 3.
pswpin and pswpout depend on reclaim's timing: issue 21 allows 10%. c-1g-swap-4k: the same
400 MiB on 1 GiB swaps nothing. page-cluster 0 (h-256m-swap-4k) is test_linux32_golden_swap0.py.
"""

from __future__ import annotations

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import MemtouchResult, booted, run_memtouch

pytestmark = pytest.mark.slow

SWAP_TOLERANCE = 0.10  # issue 21: "within 10% for the swap ... counters (pswpin/pswpout ...)"


@pytest.fixture(scope="module")
def rewrite_256m() -> MemtouchResult:
    capture = linux32.load("c-256m-swap-4k")
    with booted(capture) as machine:
        return run_memtouch(machine, capture.run().mib)


def test_the_write_pass_faults_once_per_page_even_under_pressure(
    rewrite_256m: MemtouchResult,
) -> None:
    linux = linux32.load("c-256m-swap-4k").run().phases["write"]
    ours = rewrite_256m.run.phases["write"]
    assert (ours.d_minflt, ours.d_majflt) == (linux.d_minflt, linux.d_majflt)


def test_a_page_a_load_swaps_in_is_read_only_so_its_store_faults_again_as_on_linux(
    rewrite_256m: MemtouchResult,
) -> None:
    """do_swap_page maps a load's page read-only; the store after it reuses the page
    (do_wp_page), a second, minor, fault counted as pgreuse: Linux's rewrite has about two
    minor faults per page it finds in swap (a swap-cache hit, then the store's)."""
    linux = linux32.load("c-256m-swap-4k").run().phases["rewrite"].d_minflt
    ours = rewrite_256m.run.phases["rewrite"]
    assert abs(ours.d_minflt - linux) <= SWAP_TOLERANCE * linux, (ours.d_minflt, linux)
    # every load that found its page in swap (read, or in the swap cache) is followed by the
    # store's reuse: the rewrite's faults come in pairs
    reuses = rewrite_256m.snapshots["held"].vmstat_delta["pgreuse"]
    assert 2 * reuses == ours.d_minflt + ours.d_majflt > 0


def test_swapped_in_pages_stay_on_the_inactive_list_as_on_linux(
    rewrite_256m: MemtouchResult,
) -> None:
    """workingset: refaults go to the inactive list unless their refault distance puts them
    in the workingset, and a page is activated only when referenced on two trips through
    the inactive list. Linux keeps 98% of the anon LRU inactive (Active(anon) 3432 kB of
    227528) with pgactivate 348 and pgrefill 34; vmsim activated 185539 pages (533x) and
    split the lists half and half before. The shape must hold: the inactive share within
    10% of Linux's, activations and refills at most 10x Linux's."""
    capture = linux32.load("c-256m-swap-4k").snapshots["held"]
    ours = rewrite_256m.snapshots["held"]

    def inactive_share(meminfo: dict[str, int]) -> float:
        return meminfo["Inactive(anon)"] / (meminfo["Inactive(anon)"] + meminfo["Active(anon)"])

    linux_share = inactive_share(capture.meminfo)
    assert abs(inactive_share(ours.meminfo) - linux_share) <= SWAP_TOLERANCE * linux_share
    for counter in ("pgactivate", "pgrefill", "workingset_activate_anon"):
        assert ours.vmstat_delta[counter] <= 10 * capture.vmstat_delta[counter], counter
    linux_refaults = capture.vmstat_delta["workingset_refault_anon"]
    our_refaults = ours.vmstat_delta["workingset_refault_anon"]
    assert abs(our_refaults - linux_refaults) <= SWAP_TOLERANCE * linux_refaults


@pytest.mark.parametrize("counter", ["pswpin", "pswpout"])
def test_swap_traffic_of_the_rewrite_is_linuxs_within_10_percent(
    rewrite_256m: MemtouchResult, counter: str
) -> None:
    linux = linux32.load("c-256m-swap-4k").snapshots["held"].vmstat_delta[counter]
    ours = rewrite_256m.snapshots["held"].vmstat_delta[counter]
    assert abs(ours - linux) <= SWAP_TOLERANCE * linux, (ours, linux)


def test_400_mib_on_1_gib_swaps_nothing_as_on_linux() -> None:
    capture = linux32.load("c-1g-swap-4k")
    with booted(capture) as machine:
        ours = run_memtouch(machine, capture.run().mib).snapshots["held"].vmstat_delta
    linux = capture.snapshots["held"].vmstat_delta
    for counter in ("pswpin", "pswpout", "pgscan_kswapd", "pgscan_direct"):
        assert ours[counter] == linux[counter], counter
