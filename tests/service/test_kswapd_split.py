"""kswapd's share of reclaim through the public API, against the real i686 Linux 6.1 kernel.

The c-256m-swap-4k scenario (256 MiB RAM, 256 MiB swap, 1 CPU, page-cluster 3) on a running
server: its 400 MiB write sent two ways by a client, as one TouchMany and as Touch calls in
batches of 64 over a Run stream. kswapd's share of the pages scanned, pgscan_kswapd /
(pgscan_kswapd + pgscan_direct) from /proc/vmstat, must not depend on how the client cut
its work (within 10%), and each must be within a factor 1.5 of the share in Linux's
capture (77%). tests/kernel/test_linux32_golden_kswapd.py asks the same of the embedded
Machine; this asks it of a real `python -m vmsim_server`, whose scheduler waits for clients
in real time. The server runs in a child process so that it and the client each have a
core: the 102,400 Touch messages take a third less time than with the server in a thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hostile.conftest import ServerProcess
from tests.kernel import linux32
from tests.kernel.linux32_run import machine_config

import vmsim
from vmsim import PAGE_SIZE, MiB, calls

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

SCENARIO = "c-256m-swap-4k"
ADMIN_TOKEN = "admin-secret"  # to set vm.page-cluster as the capture had it
SPLIT_AGREEMENT = 0.10  # issue 22: "the same whether ... one TouchMany or ... Touch calls"
LINUX_FACTOR = 1.5  # issue 22: "within a factor 1.5 of the real kernel's"
RUN_BATCH = 64  # Touch calls sent on the Run stream before their replies are read
CALL_TIMEOUT_SECONDS = 120  # the one TouchMany of 400 MiB, with reclaim, on a loaded machine

Vmstat = dict[str, int]


def _write(tmp_path: Path, one_touch_many: bool) -> Vmstat:
    """The scenario's write on a fresh server configured like the capture's guest; the
    /proc/vmstat change it caused."""
    capture = linux32.load(SCENARIO)
    config = machine_config(capture)
    token_path = tmp_path / "admin-token"
    token_path.write_text(ADMIN_TOKEN)
    token_path.chmod(0o600)
    server = ServerProcess(
        tmp_path,
        *("--ram", str(config.ram_bytes), "--swap", str(config.swap_bytes)),
        *("--swap-file", str(tmp_path / "swap"), "--swappiness", str(config.swappiness)),
        *("--cpus", str(config.nr_cpus), "--admin-token-file", str(token_path)),
    )
    try:
        with vmsim.Admin(server.address, ADMIN_TOKEN) as admin:
            admin.set_sysctl("vm.page-cluster", config.page_cluster)
        return _write_on(server.address, capture, one_touch_many)
    finally:
        assert server.stop() == 0, server.log()


def _write_on(address: str, capture: linux32.Capture, one_touch_many: bool) -> Vmstat:
    with vmsim.Inspector(address, CALL_TIMEOUT_SECONDS) as inspector:
        before = inspector.vmstat().values
        with vmsim.connect(address, "memtouch", timeout=CALL_TIMEOUT_SECONDS) as process:
            nr_pages = capture.run().mib * MiB // PAGE_SIZE
            base = process.mmap(nr_pages * PAGE_SIZE)
            pages = range(base, base + nr_pages * PAGE_SIZE, PAGE_SIZE)
            if one_touch_many:
                process.touch_many(pages, write=True)
            else:
                with process.stream() as stream:
                    for start in range(0, nr_pages, RUN_BATCH):
                        batch = pages[start : start + RUN_BATCH]
                        outcomes = stream.run([calls.touch(process.pid, a, True) for a in batch])
                        assert not any(isinstance(o, vmsim.VmsimError) for o in outcomes)
            after = inspector.vmstat().values
    return {name: value - before.get(name, 0) for name, value in after.items()}


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vmstat, Vmstat]:
    """(one TouchMany, Touch calls in batches of 64 on a Run stream), each on its own server."""
    return (
        _write(tmp_path_factory.mktemp("touch-many"), True),
        _write(tmp_path_factory.mktemp("run-stream"), False),
    )


def test_kswapds_share_is_the_same_for_one_touchmany_and_touches_over_a_run_stream(
    both_ways: tuple[Vmstat, Vmstat],
) -> None:
    one, streamed = (linux32.kswapd_share(vmstat) for vmstat in both_ways)
    assert abs(one - streamed) <= SPLIT_AGREEMENT * streamed, (one, streamed)


def test_kswapds_share_through_the_server_is_within_a_factor_1_5_of_linuxs(
    both_ways: tuple[Vmstat, Vmstat],
) -> None:
    linux = linux32.kswapd_share(linux32.load(SCENARIO).snapshots["held"].vmstat_delta)
    for way, vmstat in zip(("TouchMany", "Run stream"), both_ways, strict=True):
        ours = linux32.kswapd_share(vmstat)
        assert linux / LINUX_FACTOR <= ours <= linux * LINUX_FACTOR, (way, ours, linux)
