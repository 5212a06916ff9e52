"""swapon's claim on its file: a swap file in use by one device (one server) is refused to a
second one, which leaves it untouched, and is free again once the first device is closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmsim_kernel import PAGE_SIZE, InvalidArgument
from vmsim_kernel.mm.swap import SwapDevice


def test_a_swap_file_in_use_is_refused_to_a_second_device_and_left_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "swap"
    page = bytes(range(256)) * (PAGE_SIZE // 256)
    with SwapDevice(8 * PAGE_SIZE, str(path)) as first:
        slot = first.alloc_slot()
        assert slot is not None
        first.write_slot(slot, page)
        before = path.read_bytes()
        with pytest.raises(InvalidArgument, match="in use: another server holds its lock"):
            SwapDevice(16 * PAGE_SIZE, str(path), overwrite=True)
        assert path.read_bytes() == before  # not truncated, not re-headed
        assert first.read_slot(slot) == page
    with SwapDevice(8 * PAGE_SIZE, str(path)):  # released with the first device
        pass
