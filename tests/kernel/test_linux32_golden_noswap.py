"""vmsim against the real i686 Linux 6.1 kernel when no swap can take anonymous pages.

e-256m-4k (three processes held, a fourth pushes 256 MiB into OOM) and j-2g-4k (one process
writes 2000 MiB on 2 GiB) have no swap: can_reclaim_anon_pages is false, so reclaim scans no
anonymous page, by kswapd or directly, and the OOM killer ends it. Linux's figures are read
from the captures.
"""

from __future__ import annotations

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import OomRun, booted, run_oom

pytestmark = pytest.mark.slow

SCANNED = ("pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct")


def _oom_256m() -> tuple[linux32.Capture, OomRun]:
    capture = linux32.load("e-256m-4k")
    held = [run for run in capture.memtouch if run.title.startswith("held")]
    adj = {score.who: score.oom_score_adj for score in capture.oom_scores}
    with booted(capture) as machine:
        assert machine.kernel.swap is None
        result = run_oom(
            machine,
            {who: (run.mib, adj[who]) for who, run in zip("ABC", held, strict=True)},
            capture.run("memtouch").mib,
        )
    return capture, result


def test_without_swap_no_anonymous_page_is_scanned_before_the_oom_kills() -> None:
    capture, result = _oom_256m()
    linux = capture.snapshots["after-oom"].vmstat_delta
    for counter in SCANNED:
        assert result.vmstat_delta[counter] == linux[counter], counter
    assert result.vmstat_delta["oom_kill"] == linux["oom_kill"]
    # Linux's activations are of its file pages (vmsim has none): no anonymous page is
    # activated when reclaim cannot look at them.
    assert result.vmstat_delta["pgactivate"] <= linux["pgactivate"]
    # Direct reclaim was entered (and found nothing to scan) before each OOM kill.
    assert result.vmstat_delta["allocstall_movable"] >= linux["oom_kill"]


def test_2_gib_without_swap_kswapd_and_direct_reclaim_scan_nothing() -> None:
    capture = linux32.load("j-2g-4k")
    with booted(capture) as machine:
        result = run_oom(machine, {}, capture.run().mib)
    linux = capture.snapshots["after-oom"].vmstat_delta
    for counter in SCANNED:
        assert result.vmstat_delta[counter] == linux[counter], counter
    assert result.vmstat_delta["oom_kill"] == linux["oom_kill"] == 1
