"""The swap device: header, slots, reference counts, I/O, /proc/swaps, swap entries."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsim_kernel.errors import KernelBug
from vmsim_kernel.swap import SwapDevice, is_swap_pte, swp_entry, swp_offset, swp_type


def test_header_is_written_like_mkswap(tmp_path: Path) -> None:
    device = SwapDevice(1 << 20, str(tmp_path / "swap"))
    raw = (tmp_path / "swap").read_bytes()[:4096]
    assert raw[4086:4096] == b"SWAPSPACE2"
    version, last_page, bad = struct.unpack_from("<III", raw, 1024)
    assert (version, last_page, bad) == (1, 255, 0)
    header = device.read_header()
    assert header.label == "vmsim" and header.magic == b"SWAPSPACE2" and len(header.uuid) == 16
    device.close()


def test_slots_are_handed_out_consecutively_until_full(tmp_path: Path) -> None:
    device = SwapDevice(5 * 4096, str(tmp_path / "swap"))
    assert [device.alloc_slot() for _ in range(4)] == [1, 2, 3, 4]
    assert device.alloc_slot() is None
    assert device.free_slot(2) == 0
    assert device.alloc_slot() == 2
    device.check_invariants()
    device.close()


def test_reference_counts(tmp_path: Path) -> None:
    device = SwapDevice(4 * 4096, str(tmp_path / "swap"))
    slot = device.alloc_slot()
    assert slot is not None
    device.duplicate(slot)
    assert device.free_slot(slot) == 1 and device.inuse_pages == 1
    assert device.free_slot(slot) == 0 and device.inuse_pages == 0
    with pytest.raises(KernelBug):
        device.free_slot(slot)
    with pytest.raises(KernelBug):
        device.duplicate(slot)
    device.close()


def test_pages_read_back_identical(tmp_path: Path) -> None:
    device = SwapDevice(64 * 4096, str(tmp_path / "swap"))
    rng = random.Random(9)
    written = {}
    for _ in range(60):
        slot = device.alloc_slot()
        assert slot is not None
        written[slot] = rng.randbytes(4096)
        device.write_slot(slot, written[slot])
    buffer = bytearray(4096)
    for slot, data in written.items():
        assert device.read_slot(slot) == data
        device.read_slot_into(slot, memoryview(buffer))
        assert bytes(buffer) == data
    assert device.nr_writes == 60 and device.nr_reads == 120
    device.close()


def test_proc_swaps_format(tmp_path: Path) -> None:
    device = SwapDevice(8 * 4096, str(tmp_path / "swap"))
    device.alloc_slot()
    header, line = device.proc_swaps().splitlines()
    assert header.split() == ["Filename", "Type", "Size", "Used", "Priority"]
    assert line.split() == [str(tmp_path / "swap"), "file", "28", "4", "-2"]
    device.close()


def test_temporary_file_is_removed_and_a_given_path_kept(tmp_path: Path) -> None:
    temporary = SwapDevice(4 * 4096)
    assert os.path.exists(temporary.path)
    temporary.close()
    assert not os.path.exists(temporary.path)
    kept = SwapDevice(4 * 4096, str(tmp_path / "kept"))
    kept.close()
    kept.close()  # idempotent
    assert (tmp_path / "kept").exists()


def test_a_16_gib_device_is_sparse(tmp_path: Path) -> None:
    device = SwapDevice(16 << 30, str(tmp_path / "big"))
    stat = os.stat(tmp_path / "big")
    assert stat.st_size == 16 << 30 and stat.st_blocks * 512 < 1 << 20
    device.close()


@given(st.integers(0, 31), st.integers(1, (1 << 23) - 1))
def test_swap_entries_round_trip_and_are_not_present(swap_type: int, offset: int) -> None:
    entry = swp_entry(swap_type, offset)
    assert entry & 1 == 0 and entry != 0 and is_swap_pte(entry)
    assert (swp_type(entry), swp_offset(entry)) == (swap_type, offset)
