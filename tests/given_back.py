"""What a machine holds once nothing runs, as the tests that check it was all given back read it.

A freed page may wait on a CPU's per-cpu list instead of going back to the buddy lists, and
such pages are not in MemFree (as on Linux): MemFree alone need not come back to its boot
value after every process exits, MemFree plus the pages on the per-cpu lists must.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

GIVEN_BACK_FIELDS = ("MemFree+pcp", "SwapFree", "Committed_AS")


def held_kb(meminfo: Mapping[str, int], zones: Iterable[Any]) -> dict[str, int]:
    """GIVEN_BACK_FIELDS in kB from a meminfo and the zones' pcp counts (the kernel's
    ZoneInfo or the client's Zone: both carry pcp_count, in pages)."""
    pcp_kb = sum(int(zone.pcp_count) for zone in zones) * 4
    return {
        "MemFree+pcp": meminfo["MemFree"] + pcp_kb,
        "SwapFree": meminfo["SwapFree"],
        "Committed_AS": meminfo["Committed_AS"],
    }
