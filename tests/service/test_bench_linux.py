"""bench/bench_linux.py: does it read the QEMU capture's work right, refuse a run that did none,
and time teardown on runs that really tore the memory down?"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.kernel import linux32
from tests.service.conftest import ServerThread

import vmsim

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "c-256m-swap-4k"


@pytest.fixture(scope="module")
def bench_linux() -> Iterator[ModuleType]:
    """The benchmark module, imported as run_all.py imports it (bench/ on sys.path); the
    PYTHONPATH its common.py sets for the servers it starts is put back afterwards."""
    saved_path, saved_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_linux

    yield bench_linux
    sys.path[:] = saved_path
    if saved_env is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved_env


def _capture_text() -> str:
    return (linux32.DATA_DIR / f"{SCENARIO}.log").read_text(errors="replace")


def test_capture_counts_are_the_memtouch_phases_and_swap_traffic_of_the_log(
    bench_linux: ModuleType,
) -> None:
    capture = linux32.load(SCENARIO)
    counts = bench_linux.capture_counts(_capture_text())
    phases = capture.run().phases
    assert counts.faults == {
        name: (phases[name].d_minflt, phases[name].d_majflt) for name in ("write", "rewrite")
    }
    held = capture.snapshots["held"].vmstat_delta
    assert (counts.pswpin, counts.pswpout) == (held["pswpin"], held["pswpout"])
    assert counts.kernel.startswith("6.1.0-")


def test_a_capture_whose_memtouch_did_no_work_is_an_error_not_a_sample(
    bench_linux: ModuleType,
) -> None:
    """A build whose virtio modules fail to load has no swap: memtouch's mmap fails, the boot
    still ends with ANCHOR done, and timing it would compare vmsim with an idle kernel."""
    text = _capture_text()
    no_work = re.sub(
        r"^MEMTOUCH phase=(write|rewrite) .*$", "mmap: Cannot allocate memory", text, flags=re.M
    )
    with pytest.raises(bench_linux.RigFailed, match="did not do the scenario's work"):
        bench_linux.capture_counts(no_work)


@pytest.mark.subprocess
def test_host_teardown_times_every_page_of_a_child_that_faulted_them_in(
    bench_linux: ModuleType,
) -> None:
    sample = bench_linux.host_teardown_once(16 * vmsim.MiB)
    assert sample.first_touch > 0 and sample.munmap > 0 and sample.exit > 0


def test_vmsim_teardown_frees_what_its_first_touch_took(
    bench_linux: ModuleType, server: ServerThread
) -> None:
    """Both 4 MiB (each first touch checked: one minor fault a page) come back to MemFree,
    but for a few pages kept on per-CPU lists and page tables: the teardown timed is real."""
    length = 4 * vmsim.MiB
    with vmsim.Inspector(server.address) as inspector:
        free_before_kb = inspector.meminfo().values["MemFree"]
        sample = bench_linux.vmsim_teardown_once(server.address, length)
        assert sample.first_touch > 0 and sample.munmap > 0 and sample.exit > 0
        still_taken_kb = free_before_kb - inspector.meminfo().values["MemFree"]
        assert still_taken_kb < length // vmsim.KiB // 8, still_taken_kb
        assert not [p for p in inspector.processes() if p.name.startswith("teardown")]


def test_a_failed_qemu_anchor_becomes_a_row_that_says_so_not_a_crash_of_run_all(
    bench_linux: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(_out: Path) -> tuple[float, object]:
        raise bench_linux.RigFailed("run.sh c-256m-swap-4k did not do the scenario's work")

    monkeypatch.setattr(bench_linux, "rig_missing", lambda: "")
    monkeypatch.setattr(bench_linux, "qemu_run_once", no_work)
    (row,) = bench_linux.swap_run_rows(quick=True)
    assert row.vmsim == [] and row.anchor == []
    assert "QEMU anchor FAILED" in row.note and "did not do" in row.note


@pytest.mark.subprocess
def test_memtouch_client_reports_each_phase_and_the_swap_traffic_it_caused(
    server: ServerThread, tmp_path: Path
) -> None:
    """The c-256m-swap row's client, as the benchmark runs it, on the 16 MiB test server:
    24 MiB written, read and written again must swap, and every page's first write is a
    minor fault."""
    token_file = tmp_path / "admin-token"
    token_file.write_text("admin-secret")
    token_file.chmod(0o600)
    with vmsim.Admin(server.address, "admin-secret") as admin:
        admin.set_sysctl("vm.page-cluster", 0)  # the client must set the capture's 3 itself
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "memtouch_client.py"), server.address, "24"],
        env=dict(os.environ, VMSIM_ADMIN_TOKEN_FILE=str(token_file)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert list(found["phases"]) == ["write", "read", "rewrite"]
    assert found["phases"]["write"]["minor"] == found["pages"] == 24 * vmsim.MiB // vmsim.PAGE_SIZE
    assert found["phases"]["read"]["major"] > 0
    assert found["vmstat"]["pswpout"] > 0 and found["vmstat"]["pswpin"] > 0
    with vmsim.Inspector(server.address) as inspector:
        assert inspector.sysctl("vm.page-cluster") == {"vm.page-cluster": "3"}
