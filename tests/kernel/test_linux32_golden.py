"""vmsim against the real i686 Linux 6.1 kernel: the rows of issue 22 that already match.

Each test runs a capture's scenario on a vmsim machine built like the capture's guest
(tests/kernel/linux32_run.py) and compares with the figure the capture recorded (read from
data/linux32/<scenario>.log, never typed here). Tolerances are the issue's: exact for counts
that are exact in Linux (fault counts without pressure, victims, survivors), a stated ratio
where timing or the known lowmem/e820 differences of issue 22 move the figure. The swap rows
(c- and h-256m-swap-4k, tens of seconds each) are in test_linux32_golden_swap*.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from tests.kernel import linux32
from tests.kernel.conftest import field_shape
from tests.kernel.linux32_run import (
    MemtouchResult,
    OomRun,
    booted,
    run_memtouch,
    run_ocprobe,
    run_oom,
    run_shared_anon_write,
)

# Each scenario boots a machine the size of the capture and runs it (seconds in all): the slow tier.
pytestmark = pytest.mark.slow

# MemTotal differs by up to 0.5% (issue 22's boot tolerance, test_linux32_boot.py), which
# moves every limit derived from it; the reserves are still sized from total RAM, not free.
COMMIT_TOLERANCE = 0.015
# oom_score scales badness by totalpages (RAM + swap): the same 0.8-2.8% (802/938/1078 vs
# 808/948/1080 in issue 22).
OOM_SCORE_TOLERANCE = 0.02
# Normal's free pages when the OOM killer runs are min + lowmem_reserve, and the reserve is
# HighMem's managed pages / 32: HighMem is 1.7% smaller on vmsim at 2 GiB (lowmem end row).
OOM_ZONE_TOLERANCE = 0.02
# mode 1 refuses only what the address space cannot hold: the largest free gap, which on
# Linux is cut by the binary at 0x08048000, its heap and the vDSO; vmsim maps none of them.
ADDRESS_SPACE_TOLERANCE = 0.05


MemtouchOf = Callable[[str], MemtouchResult]


@pytest.fixture(scope="module")
def memtouch_of() -> MemtouchOf:
    """The capture's memtouch run on vmsim (with its snapshots), run once per scenario and
    module: several tests read a-1g-4k's 400 MiB write, and none of them changes it."""
    runs: dict[str, MemtouchResult] = {}

    def memtouch(name: str) -> MemtouchResult:
        if name not in runs:
            capture = linux32.load(name)
            linux = capture.run()
            with booted(capture) as machine:
                runs[name] = run_memtouch(machine, linux.mib, read_pass=linux.read_pass)
        return runs[name]

    return memtouch


# ---- fault counts without pressure -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["a-1g-4k", "b-1g-4k"])
def test_fault_counts_of_each_pass_are_linuxs_exactly(name: str, memtouch_of: MemtouchOf) -> None:
    """a: write 400 MiB, rewrite; b: read 8 MiB (zero page), write, rewrite."""
    linux = linux32.load(name).run()
    ours = memtouch_of(name).run
    passes = ["read", "write", "rewrite"] if linux.read_pass else ["write", "rewrite"]
    for phase in passes:
        assert (ours.phases[phase].d_minflt, ours.phases[phase].d_majflt) == (
            linux.phases[phase].d_minflt,
            linux.phases[phase].d_majflt,
        ), phase


def test_the_page_tables_of_a_400_mib_mapping_are_linuxs(memtouch_of: MemtouchOf) -> None:
    """VmPTE grows by one page table per 4 MiB written (Linux's also holds the binary's)."""
    linux = linux32.load("a-1g-4k").run()
    ours = memtouch_of("a-1g-4k").run
    linux_growth = linux.phases["write"].vm_pte_kb - linux.phases["mmap"].vm_pte_kb
    assert ours.phases["write"].vm_pte_kb - ours.phases["mmap"].vm_pte_kb == linux_growth


# ---- zone order ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a-1g-4k", pytest.param("g-2g-4k", marks=pytest.mark.slow)])
def test_highmem_is_drained_to_its_low_mark_before_normal_gives_pages(
    name: str, memtouch_of: MemtouchOf
) -> None:
    linux = linux32.load(name).snapshots["held"]
    ours = memtouch_of(name).snapshots["held"]
    for who, snap in (("linux", linux), ("vmsim", ours)):
        high = snap.zone("HighMem")
        assert high.free <= high.low, who  # HighMem went first, down to its watermark
        assert snap.vmstat_delta["pgalloc_normal"] > 0, who  # then Normal
        assert snap.vmstat_delta["pgalloc_dma"] == 0, who  # DMA is the last fallback
    # The share of the write HighMem took differs only by the zones' sizes (issue 22's
    # lowmem-end row): compare it as a share of HighMem's managed pages.
    assert ours.vmstat_delta["pgalloc_high"] / ours.zone("HighMem").managed == pytest.approx(
        linux.vmstat_delta["pgalloc_high"] / linux.zone("HighMem").managed, rel=0.03
    )


# ---- OOM -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def oom_256m() -> OomRun:
    """e-256m-4k: A 50, B 100 and C 30 MiB (oom_score_adj 500) held; D writes 150 MiB."""
    capture = linux32.load("e-256m-4k")
    held = [run for run in capture.memtouch if run.title.startswith("held")]
    adj = {score.who: score.oom_score_adj for score in capture.oom_scores}
    with booted(capture) as machine:
        return run_oom(
            machine,
            {who: (run.mib, adj[who]) for who, run in zip("ABC", held, strict=True)},
            capture.run("memtouch").mib,
        )


def test_oom_score_of_each_held_process_is_linuxs(oom_256m: OomRun) -> None:
    linux = {score.who: score.oom_score for score in linux32.load("e-256m-4k").oom_scores}
    ours = {score.who: score.oom_score for score in oom_256m.oom_scores}
    assert sorted(ours, key=ours.__getitem__) == sorted(linux, key=linux.__getitem__)
    for who, score in linux.items():
        assert ours[who] == pytest.approx(score, rel=OOM_SCORE_TOLERANCE), (who, ours[who], score)


def test_the_oom_killer_takes_the_same_victims_and_the_writer_finishes(oom_256m: OomRun) -> None:
    capture = linux32.load("e-256m-4k")
    assert oom_256m.survivors == capture.survivors
    assert oom_256m.vmstat_delta["oom_kill"] == capture.snapshots["after-oom"].vmstat["oom_kill"]
    linux_victims = [kill.victim_pid for kill in capture.oom_kills]
    pids = {score.who: score for score in capture.oom_scores}
    by_pid = {
        int(re.search(r"pid=(\d+)", line).group(1)): line.split()[1]  # type: ignore[union-attr]
        for line in capture.sections["oom_score before"].splitlines()
        if line.startswith("OOMSCORE") and line.split()[1] in pids
    }
    assert [kill.victim_comm for kill in oom_256m.kills] == [by_pid[pid] for pid in linux_victims]
    linux_write = capture.run("memtouch").phases["write"]
    assert oom_256m.last.exit_status == capture.run("memtouch").exit_status
    assert oom_256m.last.phases["write"].d_minflt == linux_write.d_minflt


@pytest.mark.slow
def test_lowmem_reserve_holds_normal_back_when_2_gib_runs_out() -> None:
    """j-2g-4k: a 2000 MiB writer without swap is killed with HighMem at its min and Normal
    still holding its lowmem_reserve for HighMem allocations."""
    capture = linux32.load("j-2g-4k")
    (linux,) = capture.oom_kills
    with booted(capture) as machine:
        result = run_oom(machine, {}, capture.run().mib)
    (ours,) = result.kills
    assert result.last.exit_status == 137  # killed, as memtouch was
    assert ours.zone_free_kb["HighMem"] <= ours.zone_min_kb["HighMem"]
    assert linux.zone_free_kb["HighMem"] <= linux.zone_min_kb["HighMem"]
    for zone in ("Normal", "DMA"):
        assert ours.zone_free_kb[zone] == pytest.approx(
            linux.zone_free_kb[zone], rel=OOM_ZONE_TOLERANCE
        )
    assert ours.lowmem_reserve["Normal"][2] == pytest.approx(
        linux.lowmem_reserve["Normal"][2], rel=OOM_ZONE_TOLERANCE
    )


# ---- overcommit ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["d-1g-4k", "d-256m-swap-4k"])
def test_the_largest_mmap_in_each_overcommit_mode_is_linuxs(name: str) -> None:
    capture = linux32.load(name)
    ours_by_mode = {mode: run_ocprobe(capture, mode) for mode in capture.ocprobe}
    for mode, linux in capture.ocprobe.items():
        ours = ours_by_mode[mode]
        tolerance = ADDRESS_SPACE_TOLERANCE if mode == 1 else COMMIT_TOLERANCE
        assert ours.largest_ok_kb == pytest.approx(linux.largest_ok_kb, rel=tolerance), (
            mode,
            ours,
            linux,
        )
        assert ours.commit_limit_kb == pytest.approx(linux.commit_limit_kb, rel=COMMIT_TOLERANCE), (
            mode
        )
    # Mode 0 refuses what RAM + swap cannot hold, in both.
    heuristic, ours = capture.ocprobe[0], ours_by_mode[0]
    assert heuristic.largest_ok_kb == heuristic.mem_total_kb + heuristic.swap_total_kb
    assert ours.largest_ok_kb == ours.mem_total_kb + ours.swap_total_kb


# ---- shared anonymous memory (issue 21's part that needs no fork) ------------------------------
def test_writing_a_shared_anonymous_mapping_faults_and_counts_shmem_as_linux() -> None:
    """shanon-1g-4k, the parent's first phase: one minor fault per page, and Shmem, Cached and
    Mapped grow by the mapping's size (exact, as issue 21 asks for shared-anon faults)."""
    capture = linux32.load("shanon-1g-4k")
    (phase,) = [row for row in capture.vp_rows("proc", "P") if row.phase == "p0-parent-write-all"]
    (before,) = [row for row in capture.vp_rows("meminfo") if row.phase == "p0a-mmap-shared"]
    (after,) = [row for row in capture.vp_rows("meminfo") if row.phase == "p0-parent-write-all"]
    nr_pages = phase.values["d_minflt"]
    with booted(capture) as machine:
        ours = run_shared_anon_write(machine, nr_pages)
    assert ours.minflt == phase.values["d_minflt"]
    for key in ("Shmem", "Cached", "Mapped"):
        linux_growth = after.values[key] - before.values[key]
        assert ours.meminfo_after[key] - ours.meminfo_before[key] == linux_growth, key


# ---- /proc formats ---------------------------------------------------------------------------------
def hex_shape(line: str) -> str:
    """A maps line with each run of hex digits replaced by '#'s of the same width."""
    return re.sub(r"[0-9a-f]+", lambda match: "#" * len(match.group()), line)


@pytest.fixture(scope="module")
def boot_1g() -> tuple[linux32.Capture, dict[str, str], list[str]]:
    """base-1g-4k, and vmsim's reports on the same machine holding a 4 MiB mapping."""
    capture = linux32.load("base-1g-4k")
    with booted(capture, swap_bytes=linux32.load("c-1g-swap-4k").swap_kb * 1024 + 4096) as machine:
        held = run_memtouch(machine, 4, snapshots=False, hold=True)
        reports = {
            name: machine.report(name) for name in ("meminfo", "vmstat", "zoneinfo", "buddyinfo")
        }
        reports["swaps"] = machine.report("swaps")
        return capture, reports, machine.report("maps", held.pid).splitlines()


def test_meminfo_has_linuxs_lines_in_its_order_and_widths(
    boot_1g: tuple[linux32.Capture, dict[str, str], list[str]],
) -> None:
    capture, reports, _ = boot_1g
    linux = [line for line in capture.sections["/proc/meminfo"].splitlines() if line]
    ours = reports["meminfo"].splitlines()
    assert [line.split(":")[0] for line in ours] == [line.split(":")[0] for line in linux]
    assert [field_shape(line) for line in ours] == [field_shape(line) for line in linux]


def test_vmstat_has_linuxs_counters_in_its_order(
    boot_1g: tuple[linux32.Capture, dict[str, str], list[str]],
) -> None:
    capture, reports, _ = boot_1g
    linux = [line.split()[0] for line in capture.sections["/proc/vmstat"].splitlines() if line]
    assert [line.split()[0] for line in reports["vmstat"].splitlines()] == linux


@pytest.mark.parametrize("report", ["zoneinfo", "buddyinfo"])
def test_zone_reports_are_linuxs_line_for_line(
    boot_1g: tuple[linux32.Capture, dict[str, str], list[str]], report: str
) -> None:
    """Same lines in the same order; a number may be wider or narrower than Linux's."""
    capture, reports, _ = boot_1g

    def generic(line: str) -> str:
        return re.sub(r" *\d+", " #", line)

    linux = [generic(line) for line in capture.sections[f"/proc/{report}"].splitlines()]
    assert [generic(line) for line in reports[report].splitlines()] == linux
    if report == "buddyinfo":  # and every column is " %6lu", as Linux's
        linux_lines = {
            line.split()[3]: line for line in capture.sections["/proc/buddyinfo"].splitlines()
        }
        for line in reports[report].splitlines():
            assert field_shape(line) == field_shape(linux_lines[line.split()[3]]), line


def test_swaps_and_maps_lines_are_laid_out_as_linux_lays_them(
    boot_1g: tuple[linux32.Capture, dict[str, str], list[str]],
) -> None:
    _, reports, maps = boot_1g
    header, device = linux32.load("c-256m-swap-4k").swaps
    our_header, ours = reports["swaps"].splitlines()
    assert our_header == header
    # swap_show: "%-40s" the name, "%s\t" the type ("partition", or "file\t" for a file),
    # then "%u\t\t%u\t\t%d" size, used, priority.
    assert ours.index("file") == device.index("partition") == 40
    assert ours[40:].removeprefix("file\t\t") == device[40:].removeprefix("partition\t")
    linux_maps = linux32.load("c-256m-swap-4k").run().maps
    linux_anon = [line for line in linux_maps if line.endswith(" 0 ")]
    linux_stack = [line for line in linux_maps if line.endswith("[stack]")]
    our_anon = [line for line in maps if line.endswith(" 0 ")]
    our_stack = [line for line in maps if line.endswith("[stack]")]
    assert [hex_shape(line) for line in our_anon] == [hex_shape(line) for line in linux_anon]
    assert our_stack == linux_stack  # 0xbffdf000-0xc0000000: 132 KiB below TASK_SIZE
