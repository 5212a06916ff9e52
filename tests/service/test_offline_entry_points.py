"""Does the offline path find the `vmsim.embedded` entry points as Python's own lookup does,
without importing importlib.metadata (issue 23: it costs more than the whole translate
question)?"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from tests.service.test_cli_startup import loaded, modules_of_command

from vmsim import offline


def test_every_registered_entry_point_is_found_as_importlib_metadata_finds_it() -> None:
    registered = {
        point.name: point.value for point in entry_points(group=offline.ENTRY_POINT_GROUP)
    }
    assert registered  # the server package is installed here
    for name, value in registered.items():
        assert offline._entry_point(name) == value
    assert offline._entry_point("no-such-name") is None


def test_the_first_distribution_along_sys_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "other_vmsim-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(
        f"[console_scripts]\nx = y:z\n\n[{offline.ENTRY_POINT_GROUP}]\ncalls = json:dumps\n"
    )
    (tmp_path / "broken-1.0.dist-info").mkdir()  # no entry_points.txt: skipped
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert offline._entry_point("calls") == "json:dumps"
    import json

    assert offline._embedded("calls") is json.dumps
    assert offline._entry_point("server") == "vmsim_server.embedded:embedded_server"


def test_an_entry_points_file_is_read_as_importlib_metadata_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "tricky-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tricky\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "# a comment\n[console_scripts]\ncalls = not.this:one\n\n"
        f"  [{offline.ENTRY_POINT_GROUP}]  \n"
        "  # server = commented:out\n"
        "server=a.b:c\n"
        "calls =  pkg.mod:obj.attr [extra]  \n"
    )
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    theirs = {point.name: point.value for point in entry_points(group=offline.ENTRY_POINT_GROUP)}
    assert theirs == {"server": "a.b:c", "calls": "pkg.mod:obj.attr [extra]"}
    for name, value in theirs.items():
        assert offline._entry_point(name) == value
    assert offline._entry_point("not") is None


@pytest.mark.subprocess
def test_lab_question_offline_reads_no_package_metadata_library(tmp_path: Path) -> None:
    out, modules = modules_of_command(tmp_path, "lab", "question", "translate", "--seed", "7")
    assert "--- translate question 1 ---" in out
    for absent in ("importlib.metadata", "email", "configparser", "numpy", "vmsim_kernel.machine"):
        assert not loaded(modules, absent), absent
