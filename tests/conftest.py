"""Shared pytest set-up: server/ and client/ importable from a plain checkout, and the tiers.

Tiers, as CPython's regrtest resources are (the markers are registered in pyproject.toml):

    slow        the test takes seconds of work on 2 cores (marked where it is written)
    timing      the outcome depends on host time or load (wall-clock pacing, real time)
    browser     drives chromium through Playwright (any test using the `browser` fixture)
    subprocess  starts Python processes: a server (`start_server_process`), the CLI, Locust
    fast        none of the above; added here to every other test

`python -m pytest -q -m fast -n 2 --dist loadfile` is the tier a developer runs between edits;
`-m 'not timing'` then a serial `-m timing` run every tier, as .ci/run does (pytest-xdist, one
worker per core; a file's tests stay on one worker, so its module-scoped servers and runs are
built once; timing tests measure real time and need the other core quiet). A new test file
is tiered here by what it uses (its directory and its fixtures), and by its own marks for the
rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_tiers.py runs this file's hooks on made-up tests

ROOT = Path(__file__).resolve().parent.parent
for part in ("server", "client"):
    path = str(ROOT / part)
    if path not in sys.path:
        sys.path.insert(0, path)

# The tiers that keep a test out of the fast one.
HEAVY_TIERS = ("slow", "timing", "browser", "subprocess")
# What makes a test heavy whoever wrote it: fixtures it uses, and directories it lives in.
FIXTURE_TIERS = {
    "start_server_process": ("subprocess",),  # tests/hostile: `python -m vmsim_server`
    "browser": ("browser",),  # tests/service/test_dashboard.py: Playwright's chromium
    "thrash_server": ("subprocess", "timing"),  # test_scheduling.py: a server process, latencies
}
DIRECTORY_TIERS = {
    "hostile": ("subprocess",),  # every hostile-client test runs the server in a child process
}


def tiers_of(item: pytest.Item) -> set[str]:
    """The heavy tiers of *item*: its own marks, then what its fixtures and folder imply."""
    tiers = {tier for tier in HEAVY_TIERS if item.get_closest_marker(tier) is not None}
    for fixture in getattr(item, "fixturenames", ()):
        tiers.update(FIXTURE_TIERS.get(fixture, ()))
    for folder in item.path.parts[:-1]:
        tiers.update(DIRECTORY_TIERS.get(folder, ()))
    return tiers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    heavy_files: set[Path] = set()
    for item in items:
        tiers = tiers_of(item)
        for tier in sorted(tiers):
            if item.get_closest_marker(tier) is None:
                item.add_marker(tier)
        if tiers:
            heavy_files.add(item.path)
        else:
            item.add_marker("fast")
    heaviest_first(items, heavy_files)


# The files that took the most CPU (their child processes included) or wall time in a full
# `-m 'not timing'` run, longest first, measured per test on the 2-core machine; every other
# file with a heavy-tier test follows them, then the fast files, which fill both workers' ends.
HEAVIEST_FILES = (
    "tests/service/test_kswapd_split.py",  # 85 s: two server processes, 400 MiB each
    "tests/kernel/test_linux32_golden_swpy.py",  # 82 s: three 400 MiB file scenarios
    "tests/service/test_readme.py",  # 79 s: every README command, a process each
    "tests/hostile/test_soak.py",  # its rounds of abuse: a minute whatever the CPU
    "tests/service/test_linux32_golden_api.py",  # 62 s: four scenarios through a server
    "tests/kernel/test_linux32_golden_pcache.py",  # 36 s: the 400 MiB page-cache scenario
    "tests/service/test_load.py",  # 32 s: Locust
)


def heaviest_first(items: list[pytest.Item], heavy_files: set[Path]) -> None:
    """Order *items* file by file, longest work first, as `-n 2 --dist loadfile` should hand
    them out: a worker that takes a long file last runs alone while the other idles. (xdist
    would order the files by their number of tests, which puts the long files with few tests,
    a server-process scenario or the soak, last; pyproject.toml turns that off with
    --no-loadscope-reorder.) A file's tests keep their order."""
    rank = {name: place for place, name in enumerate(HEAVIEST_FILES)}

    def order(item: pytest.Item) -> tuple[int, int]:
        file = item.nodeid.partition("::")[0]  # relative to the rootdir, the checkout
        if file in rank:
            return 0, rank[file]
        return (1 if item.path in heavy_files else 2), 0

    items.sort(key=order)  # stable: the files keep the collection's order within a group


# A fast-tier test slower than this (its call alone) is named at the end of the run: mark it slow.
FAST_TEST_SECONDS = 5.0


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reports = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", "") == "call" and "fast" in report.keywords
    ]
    over = sorted(
        (report for report in reports if report.duration > FAST_TEST_SECONDS),
        key=lambda report: -report.duration,
    )
    if over:
        terminalreporter.write_sep("-", f"fast-tier tests over {FAST_TEST_SECONDS:g} s")
        for report in over:
            terminalreporter.write_line(
                f"{report.duration:6.1f} s  {report.nodeid}  (mark it slow)"
            )
