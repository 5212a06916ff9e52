"""The capture parser (tests/kernel/linux32.py) reads the real kernel's logs right.

The figures asserted here are the ones data/linux32/README.md lists for each log: they check
the parser, not vmsim (test_linux32_golden.py compares vmsim with the captures).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from tests.kernel import linux32


def test_every_capture_in_the_data_folder_parses() -> None:
    names = linux32.scenario_names()
    assert len(names) == 28
    for name in names:
        capture = linux32.load(name)
        assert capture.ram_mib in (256, 1024, 2048), name
        assert capture.thp in ("always", "never"), name
        assert capture.sysctl["min_free_kbytes"] > 0, name
        # Every scenario ran something that printed figures.
        assert capture.memtouch or capture.vp or capture.zones, name


@pytest.mark.parametrize(
    ("name", "mem_total_kb", "zones"),
    [
        ("base-256m", 243728, ["DMA", "Normal"]),
        ("base-1g", 1021900, ["DMA", "Normal", "HighMem"]),
        ("base-2g", 2060236, ["DMA", "Normal", "HighMem"]),
    ],
)
def test_boot_meminfo_is_the_sum_of_the_managed_pages(
    name: str, mem_total_kb: int, zones: list[str]
) -> None:
    capture = linux32.load(name)
    assert capture.meminfo["MemTotal"] == mem_total_kb
    assert [zone.name for zone in capture.zones] == zones
    # totalram_pages is the zones' managed pages: two parts of the log agree.
    assert sum(zone.managed for zone in capture.zones) * 4 == mem_total_kb
    assert list(capture.buddyinfo) == zones


def test_the_1_gib_zones_are_the_readmes() -> None:
    capture = linux32.load("base-1g-4k")
    dma, normal, high = capture.zones
    assert (dma.start_pfn, dma.spanned, dma.present, dma.managed) == (1, 4095, 3998, 3840)
    assert (normal.start_pfn, normal.spanned, normal.managed) == (4096, 220158, 213777)
    assert (high.start_pfn, high.managed) == (224254, 37858)
    assert dma.protection == (0, 835, 982, 982)
    assert capture.buddyinfo["Normal"] == (5, 2, 1, 3, 1, 2, 0, 1, 2, 3, 203)
    assert capture.meminfo["LowTotal"] == 870468 and capture.meminfo["HighTotal"] == 151432
    assert capture.sysctl["min_free_kbytes"] == 3714
    assert normal.pcp_count is not None and high.pcp_count is not None


def test_a_memtouch_run_has_its_phases_and_the_snapshot_while_held() -> None:
    capture = linux32.load("c-256m-swap-4k")
    assert (capture.ram_mib, capture.swap_kb, capture.page_cluster) == (256, 262140, 3)
    run = capture.run()
    assert (run.mib, run.nr_pages, run.read_pass) == (400, 102400, False)
    assert list(run.phases) == ["start", "mmap", "write", "rewrite", "hook", "munmap"]
    assert run.phases["write"].d_minflt == 102400
    assert (run.phases["rewrite"].d_minflt, run.phases["rewrite"].d_majflt) == (191503, 12894)
    assert run.phases["write"].vm_pte_kb == 412 and run.vm_swap_kb == 185196
    assert "9effa000-b7ffa000 rw-p 00000000 00:00 0 " in run.maps
    held = capture.snapshots["held"]
    assert held.vmstat_delta["pswpout"] == 148664
    assert held.vmstat_delta["pswpin"] == 102063
    assert held.vmstat_delta["pgscan_kswapd"] == 356269
    assert held.vmstat_delta["allocstall_movable"] == 697
    assert held.meminfo["SwapCached"] == 412
    assert [zone.name for zone in held.zones] == ["DMA", "Normal"]
    assert held.buddyinfo["Normal"][0] == 49


def test_page_cluster_zero_is_read_from_its_anchor() -> None:
    assert linux32.load("h-256m-swap-4k").page_cluster == 0
    assert linux32.load("c-1g-swap-4k").page_cluster == 3


def test_the_oom_scenario_has_scores_survivors_and_the_zones_at_each_kill() -> None:
    capture = linux32.load("e-256m-4k")
    scores = {score.who: score for score in capture.oom_scores}
    assert [scores[who].oom_score for who in "ABC"] == [808, 948, 1080]
    assert scores["C"].oom_score_adj == 500
    assert capture.survivors == {"A": True, "B": False, "C": False}
    held = [run for run in capture.memtouch if run.title.startswith("held")]
    assert [run.mib for run in held] == [50, 100, 30]
    last = capture.run("memtouch 150")
    assert last.phases["write"].d_minflt == 38400 and last.exit_status == 0
    assert len(capture.oom_kills) == 2
    assert capture.snapshots["after-oom"].vmstat_delta["oom_kill"] == 2


def test_the_2_gib_oom_report_shows_normal_held_back_by_lowmem_reserve() -> None:
    (kill,) = linux32.load("j-2g-4k").oom_kills
    assert kill.anon_rss_kb == 1990232 and kill.pgtables_kb == 1960
    assert kill.zone_free_kb == {"DMA": 8040, "Normal": 40980, "HighMem": 484}
    assert kill.lowmem_reserve["Normal"] == (0, 0, 9375, 9375)
    assert kill.zone_min_kb["HighMem"] == 512


def test_ocprobe_lines_give_the_limit_of_each_overcommit_mode() -> None:
    probes = linux32.load("d-256m-swap-4k").ocprobe
    assert [probes[mode].largest_ok_kb for mode in (0, 1, 2)] == [505852, 2882464, 377500]
    assert probes[2].commit_limit_kb == 383996
    assert linux32.load("d-1g-4k").sysctl["user_reserve_kbytes"] == 31727


def test_vmprobe_rows_are_read_per_process_and_phase() -> None:
    capture = linux32.load("cow-1g-4k")
    parent = capture.vp_rows("proc", "P")
    assert parent[0].phase == "start" and parent[0].values["minflt"] == 58
    meminfo = capture.vp_rows("meminfo")
    assert meminfo and "MemFree" in meminfo[0].values
    deltas = capture.vp_rows("vmdelta")
    assert deltas[0].values["pgalloc_high"] == 5  # "+5" in the log


def test_vptables_rebuilds_its_committed_tables_from_the_parsers_vp_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # scripts/linux32/vptables.py reads VP lines with parse_vp_rows, not a parser of its own;
    # run.sh wrote data/linux32/vptables-generated.md from its output, run in the data folder.
    script = Path(__file__).resolve().parents[2] / "scripts" / "linux32" / "vptables.py"
    spec = importlib.util.spec_from_file_location("linux32_vptables", script)
    assert spec is not None and spec.loader is not None
    vptables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vptables)
    monkeypatch.chdir(linux32.DATA_DIR)
    logs = sorted(
        path.name
        for path in linux32.DATA_DIR.glob("*.log")
        if re.search(r"^VP scenario", path.read_text(errors="replace"), re.MULTILINE)
    )
    assert len(logs) == 9
    rebuilt = "".join(vptables.tables_for(Path(name)) + "\n" for name in logs)
    assert rebuilt == Path("vptables-generated.md").read_text()


def test_single_file_parsers_ignore_printk_lines_inside_a_block() -> None:
    text = (
        "MemTotal:         243712 kB\n[   22.8] oom-kill: noise\nMemFree:  1 kB\nHugepagesize: 4\n"
    )
    assert linux32.parse_meminfo(text) == {"MemTotal": 243712, "MemFree": 1, "Hugepagesize": 4}
    values, deltas = linux32.parse_vmstat_deltas("pswpin    7  delta=-3\n[ 1.0] x 2 delta=1\n")
    assert values == {"pswpin": 7} and deltas == {"pswpin": -3}
