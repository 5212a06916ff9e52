"""swap_info[] order (mm/swapfile.c): priorities, round-robin, automatic priorities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from vmsim_kernel.arch.x86.constants import PAGE_SIZE
from vmsim_kernel.errors import InvalidArgument, LimitExceeded
from vmsim_kernel.fs.proc.reports import format_swaps, swaps
from vmsim_kernel.mm.swap import MAX_SWAPFILES, PROC_SWAPS_HEADER, SwapDevice
from vmsim_kernel.mm.swapfile import SWAP_PRIO_AUTO, SwapInfo

pytestmark = pytest.mark.fast


@dataclass
class Area:
    name: str
    priority: int = 0


def test_automatic_priorities_start_at_minus_two_and_descend() -> None:
    info: SwapInfo[Area] = SwapInfo()
    areas = [Area(f"a{i}") for i in range(3)]
    for area in areas:
        info.add(area, SWAP_PRIO_AUTO)
    assert [a.priority for a in areas] == [-2, -3, -4]


def test_swapoff_of_an_automatic_area_moves_lower_ones_up() -> None:
    info: SwapInfo[Area] = SwapInfo()
    areas = [Area(f"a{i}") for i in range(3)]
    types = [info.add(area, SWAP_PRIO_AUTO) for area in areas]
    info.remove(types[0])
    assert [a.priority for a in areas[1:]] == [-2, -3]
    assert info.add(Area("again"), SWAP_PRIO_AUTO) == types[0]
    assert info.area(types[0]).priority == -4


def test_higher_priority_area_is_taken_first() -> None:
    info: SwapInfo[Area] = SwapInfo()
    low = info.add(Area("low"), 1)
    high = info.add(Area("high"), 10)
    assert [info.pick() for _ in range(4)] == [high] * 4
    assert info.pick(usable={low}) == low  # high is full: the next priority takes over


def test_equal_priorities_alternate_round_robin() -> None:
    info: SwapInfo[Area] = SwapInfo()
    first = info.add(Area("first"), 5)
    second = info.add(Area("second"), 5)
    info.add(Area("lower"), SWAP_PRIO_AUTO)
    assert [info.pick() for _ in range(4)] == [first, second, first, second]


@pytest.mark.parametrize("priority", [-2, 32768])
def test_priority_outside_range_is_refused_naming_the_limit(priority: int) -> None:
    info: SwapInfo[Area] = SwapInfo()
    area = Area("x", priority=7)
    with pytest.raises(InvalidArgument, match="32767"):
        info.add(area, priority)
    assert info.types() == [] and area.priority == 7


def test_more_than_max_swapfiles_is_refused() -> None:
    info: SwapInfo[Area] = SwapInfo()
    for i in range(MAX_SWAPFILES):
        info.add(Area(f"a{i}"), 0)
    with pytest.raises(LimitExceeded, match="active already"):
        info.add(Area("extra"), 0)
    assert len(info.types()) == MAX_SWAPFILES


def test_proc_swaps_lists_every_area_with_its_priority(tmp_path: Path) -> None:
    info: SwapInfo[SwapDevice] = SwapInfo()
    with (
        SwapDevice(8 * PAGE_SIZE, str(tmp_path / "first")) as first,
        SwapDevice(4 * PAGE_SIZE, str(tmp_path / "second")) as second,
    ):
        info.add(first, SWAP_PRIO_AUTO)
        info.add(second, 5)
        offset = second.alloc_slot()
        assert offset is not None
        text = format_swaps([info.area(t) for t in info.types()])
        lines = text.splitlines()
        assert text.startswith(PROC_SWAPS_HEADER) and len(lines) == 3
        assert lines[1].split() == [str(tmp_path / "first"), "file", "28", "0", "-2"]
        assert lines[2].split() == [str(tmp_path / "second"), "file", "12", "4", "5"]
        rows = swaps([first, second])
        assert [(r["used_kb"], r["priority"]) for r in rows] == [(0, -2), (4, 5)]
        assert format_swaps(first) == first.proc_swaps()
