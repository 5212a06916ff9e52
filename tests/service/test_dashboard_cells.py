"""The dashboard's frame cells carry each cell's mapcount and tell shared pages apart."""

from __future__ import annotations

import base64

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


def test_the_page_caches_dirty_pages_are_told_apart_by_pg_dirty() -> None:
    """The wire names page cache pages (use page_cache); the cells split off the dirty ones
    (PG_dirty) and leave every other use, dirty or not, as it came."""
    page_cache, user, shmem = (FRAME_USES.index(n) for n in ("page_cache", "user", "shmem"))
    uptodate, dirty, anon, swapbacked = 1 << 2, 1 << 3, 1 << 12, 1 << 9
    frames = FrameMap(
        bytes([page_cache, page_cache, user, shmem]),
        pids=(0, 3, 5, 5),
        flags=(uptodate, uptodate | dirty, uptodate | anon | swapbacked | dirty, dirty),
        zones=(),
        mapcounts=(0, 1, 1, 1),
    )
    cells = frame_cells(frames, max_cells=4)
    names = [cells["use_names"][u] for u in base64.b64decode(cells["uses"])]
    assert names == ["page_cache", "page_cache_dirty", "user", "shmem"]
    assert cells["pids"] == [0, 3, 5, 5] and cells["mapcounts"] == [0, 1, 1, 1]
