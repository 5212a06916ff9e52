"""kswapd as a kernel thread, against the real i686 Linux 6.1 kernel (c-256m-swap-4k).

kswapd, once woken, takes turns on the CPU with the faulting task (one CPU, as the capture's
guest): the scheduler owes it as much simulated time as the tasks' quanta ran, so how the
client cuts its work into calls does not change how much of the reclaim kswapd does. The
400 MiB write on 256 MiB + 256 MiB swap runs two ways, one TouchMany and Touch calls of 64
pages (as a Run stream sends them): kswapd's share of the pages scanned must agree within
10%, and each within a factor 1.5 of Linux's share (pgscan_kswapd / (pgscan_kswapd +
pgscan_direct) in the capture: 77%).
"""

from __future__ import annotations

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import ANON_PRIVATE, RW, _pages, booted

from vmsim_kernel import PAGE_SIZE, MiB

pytestmark = pytest.mark.slow

SPLIT_AGREEMENT = 0.10  # the issue: "the same whether ... one TouchMany or ... Touch calls"
LINUX_FACTOR = 1.5  # the issue: "within a factor 1.5 of the real kernel's"
RUN_BATCH_PAGES = 64


def _write(one_call: bool) -> dict[str, int]:
    capture = linux32.load("c-256m-swap-4k")
    with booted(capture) as machine:
        before = machine.vmstat()
        pid = machine.spawn("memtouch")
        nr_pages = capture.run().mib * MiB // PAGE_SIZE
        pages = _pages(machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON_PRIVATE), nr_pages)
        if one_call:
            machine.touch_many(pid, pages, True)
        else:
            for start in range(0, nr_pages, RUN_BATCH_PAGES):
                machine.touch_many(pid, pages[start : start + RUN_BATCH_PAGES], True)
        return {name: value - before.get(name, 0) for name, value in machine.vmstat().items()}


@pytest.fixture(scope="module")
def both_ways() -> tuple[dict[str, int], dict[str, int]]:
    return _write(one_call=True), _write(one_call=False)


def test_kswapds_share_is_the_same_for_one_touchmany_and_calls_of_64_pages(
    both_ways: tuple[dict[str, int], dict[str, int]],
) -> None:
    one, batched = (linux32.kswapd_share(vmstat) for vmstat in both_ways)
    assert abs(one - batched) <= SPLIT_AGREEMENT * batched, (one, batched)


def test_kswapds_share_is_within_a_factor_1_5_of_linuxs(
    both_ways: tuple[dict[str, int], dict[str, int]],
) -> None:
    linux = linux32.kswapd_share(linux32.load("c-256m-swap-4k").snapshots["held"].vmstat_delta)
    for vmstat in both_ways:
        ours = linux32.kswapd_share(vmstat)
        assert linux / LINUX_FACTOR <= ours <= linux * LINUX_FACTOR, (ours, linux)


def test_kswapd_sleeps_when_balanced_and_is_woken_again_as_on_linux(
    both_ways: tuple[dict[str, int], dict[str, int]],
) -> None:
    """Linux woke kswapd 941 times for the write and rewrite, 940 of them during its short
    nap after balancing (kswapd_low_wmark_hit_quickly): it balances, sleeps, and the
    writer's allocations wake it again within HZ/10. Direct reclaim still happens when an
    allocation finds no page even at the min mark (allocstall)."""
    for vmstat in both_ways:
        assert vmstat["pageoutrun"] > 1
        assert 0 < vmstat["kswapd_low_wmark_hit_quickly"] < vmstat["pageoutrun"]
        assert vmstat["allocstall_movable"] > 0
