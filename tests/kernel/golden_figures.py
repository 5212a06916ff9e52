"""One comparison for the vmprobe golden scenarios: a figure of vmsim against the capture's.

A `Figure` row names where the figure stands in both (vmprobe's row kind, the phase, the
process) and how close vmsim must come (exactly, or within a tolerance relative to Linux's
value); `assert_matches_linux` reads the two and compares. A golden test is a table of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
from tests.kernel import linux32
from tests.kernel.linux32_run import Vmprobe, booted

from vmsim_kernel import Machine

__all__ = [
    "FAULTS",
    "Figure",
    "Run",
    "assert_matches_linux",
    "each_figure",
    "figures",
    "rows",
    "run_scenario",
    "vma_pages",
]

FAULTS = ("d_minflt", "d_majflt")  # a process's fault deltas in a phase (vmprobe's proc rows)
Run = tuple[linux32.Capture, Vmprobe]  # a scenario's capture and vmsim's run of it


@dataclass(frozen=True)
class Figure:
    """Where one or more figures stand in the capture and in vmsim's run, and how close."""

    kind: (
        str  # vmprobe's row kind: proc (faults), vma (smaps of the test VMA, kB), vmdelta, meminfo
    )
    phase: str
    who: str  # the process (P, C, W, R ...); "" for the machine-wide rows (vmdelta, meminfo)
    names: tuple[str, ...]  # the row's values compared
    tolerance: float = 0.0  # relative to Linux's value; 0.0 is exact

    def __str__(self) -> str:
        within = f"~{self.tolerance:.0%}" if self.tolerance else "exact"
        return f"{self.kind}:{self.who or '-'}:{self.phase}:{'+'.join(self.names)}:{within}"


def figures(
    kind: str,
    where: Iterable[tuple[str, str] | str],
    names: Iterable[str],
    tolerance: float = 0.0,
) -> list[Figure]:
    """The rows of one table: *names* of *kind* in each (who, phase) of *where* (a bare phase
    is a machine-wide row's)."""
    return [
        Figure(kind, place, "", tuple(names), tolerance)
        if isinstance(place, str)
        else Figure(kind, place[1], place[0], tuple(names), tolerance)
        for place in where
    ]


def each_figure(table: list[Figure]) -> pytest.MarkDecorator:
    """A test run once per row of *table*, given it as `figure` (named by the row)."""
    return pytest.mark.parametrize("figure", table, ids=str)


def rows(run: Run, kind: str, phase: str, who: str = "") -> tuple[dict[str, int], dict[str, int]]:
    """vmprobe's row *kind* of *phase* (and process *who*) in the capture and in vmsim's run:
    (Linux's values, vmsim's)."""
    capture, probe = run
    return capture.vp_values(kind, phase, who), probe.row(kind, phase, who)


def assert_matches_linux(capture: linux32.Capture, probe: Vmprobe, figure: Figure) -> None:
    """vmsim's values of *figure* are Linux's (within its tolerance)."""
    linux, vmsim = rows((capture, probe), figure.kind, figure.phase, figure.who)
    far = {
        name: (vmsim[name], linux[name])
        for name in figure.names
        if abs(vmsim[name] - linux[name]) > figure.tolerance * abs(linux[name])
    }
    assert far == {}, f"{figure}: (vmsim, linux) of the figures off"


def vma_pages(capture: linux32.Capture, who: str | None = None) -> int:
    """The pages of the scenario's test VMA (of process *who*'s, when the processes differ)."""
    rows = capture.vp_rows_of_kind("vma")
    (pages,) = {row.values["pages"] for row in rows if who is None or row.who == who}
    return pages


def run_scenario(
    name: str, run: Callable[[Machine, linux32.Capture], Vmprobe]
) -> tuple[linux32.Capture, Vmprobe]:
    """Capture *name* and vmsim's run of its scenario on a machine booted like its guest (the
    kernel's invariants checked after)."""
    capture = linux32.load(name)
    with booted(capture) as machine:
        probe = run(machine, capture)
        machine.check_invariants()
    return capture, probe
