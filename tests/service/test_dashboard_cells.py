"""The dashboard's frame cells carry each cell's mapcount and tell shared pages apart."""

from __future__ import annotations

from vmsim.dashboard.app import frame_cells
from vmsim.results import FRAME_USES, FrameMap


def test_a_cell_shows_the_highest_mapcount_of_its_frames_and_the_shared_uses() -> None:
    shared, shmem, user = (FRAME_USES.index(name) for name in ("shared", "shmem", "user"))
    frames = FrameMap(
        bytes([shared, user, shmem, user]),
        pids=(7, 7, 8, 8),
        flags=(0, 0, 0, 0),
        zones=(),
        mapcounts=(2, 1, 3, 1),
    )
    cells = frame_cells(frames, max_cells=2)
    assert cells["group"] == 2
    assert cells["mapcounts"] == [2, 3]
    assert {"shared", "shmem"} <= set(cells["use_names"])
