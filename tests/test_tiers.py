"""The tiers of tests/conftest.py: which marks a test gets from its fixtures, folder and own marks."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOKS = (ROOT / "tests" / "conftest.py").read_text()
MARKERS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
    "markers"
]
FIXTURES = """

@pytest.fixture
def start_server_process():
    return None


@pytest.fixture
def browser():
    return None
"""
TESTS = """
import pytest


def test_plain():
    pass


@pytest.mark.slow
def test_marked_slow():
    pass


def test_with_a_server_process(start_server_process):
    pass


def test_with_a_browser(browser):
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with this repository's tier hooks and markers, and one test of each kind."""
    markers = "\n    ".join(MARKERS)
    pytester.makeini(f"[pytest]\naddopts = --strict-markers\nmarkers =\n    {markers}\n")
    pytester.makeconftest(
        HOOKS.replace("FAST_TEST_SECONDS = 5.0", "FAST_TEST_SECONDS = 0.0") + FIXTURES
    )
    pytester.makepyfile(test_kinds=TESTS)
    pytester.mkpydir("hostile")
    (pytester.path / "hostile" / "test_attack.py").write_text("def test_attack():\n    pass\n")
    return pytester


def tiers(project: pytest.Pytester) -> dict[str, set[str]]:
    """Each collected test's name -> its tier marks (one collection, in this process)."""
    items, _ = project.inline_genitems("-p", "no:cacheprovider")
    names = {"fast", "slow", "timing", "browser", "subprocess"}
    return {item.name: {mark.name for mark in item.iter_markers()} & names for item in items}


def test_fixtures_folders_and_marks_choose_the_tiers(project: pytest.Pytester) -> None:
    assert tiers(project) == {
        "test_plain": {"fast"},  # nothing heavy: the fast tier
        "test_marked_slow": {"slow"},
        "test_with_a_server_process": {"subprocess"},  # from its fixture
        "test_with_a_browser": {"browser"},
        "test_attack": {"subprocess"},  # from its folder, hostile/
    }


@pytest.mark.slow
def test_a_misspelt_marker_is_an_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_typo="import pytest\n\n@pytest.mark.slwo\ndef test_x():\n    pass\n")
    result = project.runpytest("test_typo.py", "--collect-only", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'slwo' not found in `markers` configuration option*"])


@pytest.mark.slow
def test_a_fast_test_over_the_budget_is_named_at_the_end(project: pytest.Pytester) -> None:
    result = project.runpytest("-m", "fast", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(
        ["*fast-tier tests over 0 s*", "*test_kinds.py::test_plain*mark it slow*"]
    )


def test_the_files_with_heavy_tests_run_first_and_the_fast_ones_fill_the_end(
    project: pytest.Pytester,
) -> None:
    """`--dist loadfile` hands files out in this order: a long file must not come last."""
    project.makepyfile(test_a_fast_file="def test_quick():\n    pass\n")
    collected = project.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    ids = [line for line in collected.outlines if "::" in line]  # in the order they will run
    files = list(dict.fromkeys(line.partition("::")[0] for line in ids))
    assert files == ["hostile/test_attack.py", "test_kinds.py", "test_a_fast_file.py"]
    assert [line.partition("::")[2] for line in ids if line.startswith("test_kinds.py")] == [
        "test_plain",
        "test_marked_slow",
        "test_with_a_server_process",
        "test_with_a_browser",
    ]  # a file's own tests keep their order


def test_xdist_keeps_the_order_the_hooks_give() -> None:
    """xdist's default orders the files by how many tests they hold, not by their cost."""
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "addopts"
    ]
    assert "--no-loadscope-reorder" in addopts.split()
