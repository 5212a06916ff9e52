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


def test_page_cache_pages_are_told_apart_from_their_flags_clean_and_dirty() -> None:
    """A frame the wire calls kernel that holds data (uptodate, on an LRU list or mlocked) and
    is neither anonymous, swap-backed nor reserved is a file's page, as page-types reads
    kpageflags; PG_dirty splits it."""
    kernel, user, shmem = (FRAME_USES.index(name) for name in ("kernel", "user", "shmem"))
    uptodate, dirty, lru, reserved = 1 << 2, 1 << 3, 1 << 4, 1 << 7
    swapbacked, anon, mlocked = 1 << 9, 1 << 12, 1 << 16
    frames = FrameMap(
        bytes([kernel, kernel, kernel, kernel, kernel, user, shmem]),
        pids=(0, 0, 0, 0, 0, 5, 5),
        flags=(
            uptodate,
            uptodate | dirty,
            0,  # a kernel page
            reserved | uptodate,  # a boot reservation
            mlocked | lru,
            uptodate | anon | swapbacked | dirty,
            uptodate | swapbacked,
        ),
        zones=(),
        mapcounts=(1, 0, 0, 0, 2, 1, 1),
    )
    cells = frame_cells(frames, max_cells=7)
    names = [cells["use_names"][u] for u in base64.b64decode(cells["uses"])]
    assert names == [
        "page_cache",
        "page_cache_dirty",
        "kernel",
        "kernel",
        "page_cache",
        "user",
        "shmem",
    ]
    assert cells["mapcounts"] == [1, 0, 0, 0, 2, 1, 1]
