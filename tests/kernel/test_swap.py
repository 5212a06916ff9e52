"""The swap device: header, slot allocation, reference counts, slot I/O, /proc/swaps, entries."""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.kernel.conftest import ANON, RW

from vmsim_kernel import (
    PAGE_SIZE,
    Machine,
)
from vmsim_kernel.arch.x86.constants import GiB, MiB
from vmsim_kernel.errors import KernelBug
from vmsim_kernel.mm.swap import (
    MAX_SWAP_OFFSET,
    PROC_SWAPS_HEADER,
    SWAPFILE_CLUSTER,
    SwapDevice,
    is_swap_pte,
    swp_entry,
    swp_offset,
    swp_type,
)

PAGE = 4096
MachineFactory = Callable[..., Machine]  # the make_machine fixture of conftest.py


def make_device(tmp_path: Path, nr_slots: int, name: str = "swap", **kwargs: int) -> SwapDevice:
    return SwapDevice(nr_slots * PAGE, str(tmp_path / name), **kwargs)


def alloc(device: SwapDevice) -> int:
    slot = device.alloc_slot()
    assert slot is not None
    return slot


# ---- header ------------------------------------------------------------------------------------
def test_header_fields_sit_at_the_offsets_of_union_swap_header(tmp_path: Path) -> None:
    with make_device(tmp_path, 256):
        raw = (tmp_path / "swap").read_bytes()[:PAGE]
    assert raw[:1024] == bytes(1024)  # bootbits
    assert struct.unpack_from("<III", raw, 1024) == (1, 255, 0)  # version, last_page, bad
    assert uuid.UUID(bytes=raw[1036:1052]).version == 4
    assert raw[1052:1068] == b"vmsim" + bytes(11)  # sws_volume, NUL padded
    assert raw[1068:4086] == bytes(4086 - 1068)
    assert raw[4086:4096] == b"SWAPSPACE2"


def test_read_header_parses_back_what_was_written(tmp_path: Path) -> None:
    with make_device(tmp_path, 100, seed=7) as device:
        header = device.read_header()
    assert (header.version, header.last_page, header.nr_badpages) == (1, 99, 0)
    assert header.label == "vmsim" and header.magic == b"SWAPSPACE2"
    assert header.uuid.version == 4


def test_the_uuid_depends_only_on_the_seed(tmp_path: Path) -> None:
    def uuid_of(name: str, seed: int) -> uuid.UUID:
        with make_device(tmp_path, 8, name, seed=seed) as device:
            return device.read_header().uuid

    assert uuid_of("a", 1) == uuid_of("b", 1)
    assert uuid_of("c", 1) != uuid_of("d", 2)


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("mkswap") is None, reason="mkswap is not installed")
def test_header_is_byte_identical_to_mkswap(tmp_path: Path) -> None:
    with make_device(tmp_path, 256, "ours", seed=3) as device:
        header = device.read_header()
    theirs = tmp_path / "theirs"
    with open(theirs, "wb") as file:
        file.truncate(256 * PAGE)
    subprocess.run(
        ["mkswap", "-p", str(PAGE), "-L", "vmsim", "-U", str(header.uuid), str(theirs)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "ours").read_bytes()[:PAGE] == theirs.read_bytes()[:PAGE]


# ---- slot allocation ---------------------------------------------------------------------------
def test_consecutive_allocations_get_consecutive_slots_from_1(tmp_path: Path) -> None:
    with make_device(tmp_path, 4 * SWAPFILE_CLUSTER) as device:
        slots = [device.alloc_slot() for _ in range(device.nr_usable_slots)]
        assert slots == list(range(1, 4 * SWAPFILE_CLUSTER))
        assert device.inuse_pages == device.nr_usable_slots and device.nr_free_slots == 0
        device.check_invariants()


def test_a_full_device_returns_none_and_reuses_a_freed_slot(tmp_path: Path) -> None:
    with make_device(tmp_path, 5) as device:
        assert [device.alloc_slot() for _ in range(4)] == [1, 2, 3, 4]
        assert device.alloc_slot() is None
        assert device.free_slot(2) == 0
        assert device.alloc_slot() == 2
        assert device.alloc_slot() is None
        device.check_invariants()


def test_next_fit_goes_on_past_a_freed_slot_before_wrapping(tmp_path: Path) -> None:
    with make_device(tmp_path, 10) as device:
        for _ in range(6):
            alloc(device)
        device.free_slot(3)
        assert alloc(device) == 7  # the cursor is not moved back by a free
        assert [alloc(device), alloc(device)] == [8, 9]
        device.free_slot(5)
        assert alloc(device) == 3  # past the end: wrap to lowest_bit
        assert alloc(device) == 5
        assert device.alloc_slot() is None
        device.check_invariants()


def test_cursor_moves_to_the_lowest_wholly_free_cluster(tmp_path: Path) -> None:
    with make_device(tmp_path, 4 * SWAPFILE_CLUSTER) as device:
        first_clusters = [alloc(device) for _ in range(2 * SWAPFILE_CLUSTER - 1)]
        for slot in first_clusters[: SWAPFILE_CLUSTER - 1]:  # all of cluster 0
            device.free_slot(slot)
        assert alloc(device) == 1
        assert alloc(device) == 2
        device.check_invariants()


def test_cursor_skips_a_partly_used_cluster_for_a_wholly_free_one(tmp_path: Path) -> None:
    with make_device(tmp_path, 4 * SWAPFILE_CLUSTER) as device:
        for _ in range(3 * SWAPFILE_CLUSTER - 1):  # clusters 0, 1 and 2 used up
            alloc(device)
        for slot in range(2, 11):
            device.free_slot(slot)
        for slot in range(SWAPFILE_CLUSTER, 2 * SWAPFILE_CLUSTER):  # all of cluster 1
            device.free_slot(slot)
        # Not slot 2 (first fit), not slot 768 (plain next fit): the start of cluster 1.
        assert alloc(device) == SWAPFILE_CLUSTER
        device.check_invariants()


def test_random_alloc_free_and_duplicate_agree_with_a_reference_count_model(
    tmp_path: Path,
) -> None:
    rng = random.Random(5)
    model: dict[int, int] = {}
    with make_device(tmp_path, 3 * SWAPFILE_CLUSTER + 17) as device:
        for step in range(3000):
            choice = rng.random()
            if choice < 0.5:
                slot = device.alloc_slot()
                if slot is None:
                    assert len(model) == device.nr_usable_slots
                else:
                    assert slot not in model and 0 < slot < device.nr_slots
                    model[slot] = 1
            elif model and choice < 0.6:
                slot = rng.choice(sorted(model))
                device.duplicate(slot)
                model[slot] += 1
            elif model:
                slot = rng.choice(sorted(model))
                model[slot] -= 1
                assert device.free_slot(slot) == model[slot]
                if model[slot] == 0:
                    del model[slot]
            if step % 100 == 0:
                device.check_invariants()
            assert device.inuse_pages == len(model)
        assert {int(slot): int(device.swap_map[slot]) for slot in model} == model
        device.check_invariants()


@pytest.mark.slow
def test_same_operations_give_the_same_slots(tmp_path: Path) -> None:
    def run(name: str) -> list[int | None]:
        rng = random.Random(11)
        slots: list[int | None] = []
        with make_device(tmp_path, 700, name) as device:
            for _ in range(2000):
                live = [slot for slot in slots if slot and device.swap_map[slot]]
                if live and rng.random() < 0.4:
                    device.free_slot(rng.choice(live))
                else:
                    slots.append(device.alloc_slot())
        return slots

    assert run("a") == run("b")


# ---- reference counts --------------------------------------------------------------------------
def test_duplicate_and_free_count_references(tmp_path: Path) -> None:
    with make_device(tmp_path, 4) as device:
        slot = alloc(device)
        device.duplicate(slot)
        device.duplicate(slot)
        assert int(device.swap_map[slot]) == 3
        assert device.free_slot(slot) == 2 and device.inuse_pages == 1
        assert device.free_slot(slot) == 1 and device.inuse_pages == 1
        assert device.free_slot(slot) == 0 and device.inuse_pages == 0
        assert device.nr_free_slots == 3


def test_freeing_or_duplicating_a_free_slot_is_a_kernel_bug(tmp_path: Path) -> None:
    with make_device(tmp_path, 4) as device:
        slot = alloc(device)
        device.free_slot(slot)
        with pytest.raises(KernelBug):
            device.free_slot(slot)
        with pytest.raises(KernelBug):
            device.duplicate(slot)
        assert device.inuse_pages == 0


@pytest.mark.parametrize("offset", [0, 4, -1])
def test_the_header_slot_and_slots_past_the_end_are_a_kernel_bug(
    tmp_path: Path, offset: int
) -> None:
    with make_device(tmp_path, 4) as device:
        for slot in range(3):
            assert alloc(device) == slot + 1
        with pytest.raises(KernelBug):
            device.free_slot(offset)
        with pytest.raises(KernelBug):
            device.duplicate(offset)
        with pytest.raises(KernelBug):
            device.read_slot(offset)


def test_check_invariants_notices_a_corrupted_swap_map(tmp_path: Path) -> None:
    with make_device(tmp_path, 8) as device:
        device.swap_map[5] = 1
        with pytest.raises(KernelBug, match="inuse_pages"):
            device.check_invariants()
    with make_device(tmp_path, 8, "other") as device:
        device.swap_map[0] = 1
        with pytest.raises(KernelBug, match="header"):
            device.check_invariants()


# ---- slot I/O ----------------------------------------------------------------------------------
def test_pages_read_back_byte_for_byte(tmp_path: Path) -> None:
    rng = random.Random(9)
    written: dict[int, bytes] = {}
    with make_device(tmp_path, 600) as device:
        for _ in range(500):
            slot = alloc(device)
            written[slot] = rng.randbytes(PAGE)
            device.write_slot(slot, written[slot])
        frame = bytearray(PAGE)
        for slot, data in written.items():
            assert device.read_slot(slot) == data
            device.read_slot_into(slot, memoryview(frame))
            assert frame == data
        assert (device.nr_writes, device.nr_reads) == (500, 1000)
        raw = (tmp_path / "swap").read_bytes()
    for slot, data in written.items():
        assert raw[slot * PAGE : (slot + 1) * PAGE] == data  # slot n is file page n


def test_read_slot_into_fills_only_the_given_frame(tmp_path: Path) -> None:
    ram = bytearray(b"\xaa" * (3 * PAGE))
    with make_device(tmp_path, 4) as device:
        slot = alloc(device)
        device.write_slot(slot, bytes(range(256)) * 16)
        device.read_slot_into(slot, memoryview(ram)[PAGE : 2 * PAGE])
    assert ram[PAGE : 2 * PAGE] == bytes(range(256)) * 16
    assert ram[:PAGE] == b"\xaa" * PAGE and ram[2 * PAGE :] == b"\xaa" * PAGE


def test_a_page_is_written_from_a_memoryview(tmp_path: Path) -> None:
    ram = bytearray(os.urandom(2 * PAGE))
    with make_device(tmp_path, 4) as device:
        slot = alloc(device)
        device.write_slot(slot, memoryview(ram)[PAGE:])
        assert device.read_slot(slot) == ram[PAGE:]


def test_writing_a_free_slot_or_a_partial_page_is_a_kernel_bug(tmp_path: Path) -> None:
    with make_device(tmp_path, 4) as device:
        with pytest.raises(KernelBug):
            device.write_slot(2, bytes(PAGE))
        with pytest.raises(KernelBug):
            device.read_slot(2)
        slot = alloc(device)
        with pytest.raises(KernelBug):
            device.write_slot(slot, bytes(PAGE - 1))
        with pytest.raises(KernelBug):
            device.read_slot_into(slot, memoryview(bytearray(PAGE + 1)))
        assert device.nr_writes == 0 and device.nr_reads == 0


# ---- swap entries ------------------------------------------------------------------------------
@given(st.integers(0, 31), st.integers(1, MAX_SWAP_OFFSET))
def test_swap_entries_round_trip_with_the_present_bit_clear(swap_type: int, offset: int) -> None:
    entry = swp_entry(swap_type, offset)
    assert 0 < entry < 1 << 32
    assert entry & 1 == 0 and is_swap_pte(entry)
    assert (swp_type(entry), swp_offset(entry)) == (swap_type, offset)


def test_swap_entry_layout_matches_pgtable_2level() -> None:
    assert MAX_SWAP_OFFSET == (1 << 23) - 1
    assert swp_entry(1, 1) == (1 << 1) | (1 << 9)
    assert swp_entry(31, MAX_SWAP_OFFSET) == 0xFFFFFE3E  # bits 6..8 and 0 stay clear


@pytest.mark.parametrize(("swap_type", "offset"), [(0, 0), (0, 1 << 23), (32, 1), (-1, 1), (0, -1)])
def test_a_swap_entry_that_does_not_fit_is_a_kernel_bug(swap_type: int, offset: int) -> None:
    with pytest.raises(KernelBug):
        swp_entry(swap_type, offset)


def test_empty_and_present_ptes_are_not_swap_ptes() -> None:
    assert not is_swap_pte(0)
    assert not is_swap_pte(0x12345067)  # present, RW, USER, ACCESSED, DIRTY


# ---- /proc/swaps -------------------------------------------------------------------------------
def test_proc_swaps_is_the_text_of_swap_show(tmp_path: Path) -> None:
    with make_device(tmp_path, 8) as device:
        alloc(device)
        text = device.proc_swaps()
    path = str(tmp_path / "swap")
    padding = " " * max(40 - len(path), 1)
    assert text == (
        f"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n{path}{padding}file\t\t28\t\t4\t\t-2\n"
    )
    header, line = text.splitlines()
    assert header.split() == ["Filename", "Type", "Size", "Used", "Priority"]
    assert line.split() == [path, "file", "28", "4", "-2"]
    assert text.startswith(PROC_SWAPS_HEADER)


def test_proc_swaps_pads_short_names_to_40_columns(tmp_path: Path) -> None:
    with make_device(tmp_path, 3, priority=5) as device:
        device.path = "/s"  # as short as a path gets
        line = device.proc_swaps().splitlines()[1]
    assert line == "/s" + " " * 38 + "file\t\t8\t\t0\t\t5"


def test_proc_swaps_leaves_one_space_after_a_long_name(tmp_path: Path) -> None:
    with make_device(tmp_path, 3, "x" * 60) as device:
        line = device.proc_swaps().splitlines()[1]
    assert line == f"{tmp_path / ('x' * 60)} file\t\t8\t\t0\t\t-2"


def test_proc_swaps_escapes_blanks_in_the_file_name(tmp_path: Path) -> None:
    with make_device(tmp_path, 4, "my swap") as device:
        line = device.proc_swaps().splitlines()[1]
    assert line.split()[0] == str(tmp_path / "my\\040swap")


def test_size_and_used_follow_the_slots_in_kb(tmp_path: Path) -> None:
    with make_device(tmp_path, 1 + 256) as device:
        assert (device.size_kb, device.used_kb) == (1024, 0)
        slots = [alloc(device) for _ in range(10)]
        device.duplicate(slots[0])  # a shared slot is counted once
        assert device.used_kb == 40
        assert device.proc_swaps().splitlines()[1].split()[2:4] == ["1024", "40"]


# ---- the device in a kernel ---------------------------------------------------------------------
def test_a_swapped_on_device_owns_si_lock_and_its_request_queue(
    make_machine: MachineFactory,
) -> None:
    """swap_info holds si->lock (the kernel's lock_stat row) and the device's request queue."""
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=16 * MiB)
    swap = machine.swap
    assert swap is not None
    pid = machine.spawn("writer")
    region = machine.mmap(pid, 0, 12 * MiB, RW, ANON)
    machine.touch_many(pid, range(region, region + 12 * MiB, PAGE_SIZE), write=True)
    assert swap.nr_writes > 0
    assert swap.queue.requests >= swap.nr_writes  # every write went through its queue
    assert not swap.lock.free_after(0)  # slot allocations were held under si->lock
    assert machine.kernel.locks.stats()["&si->lock"].acquisitions > 0
    alone = SwapDevice(4 * PAGE)  # a device used alone: a lock and queue nobody shares
    assert alone.lock.free_after(0) and alone.queue.requests == 0
    alone.close()


# ---- file lifetime -----------------------------------------------------------------------------
def test_a_temporary_file_has_no_name_from_the_start(tmp_path: Path) -> None:
    """Nothing to leave behind even on SIGKILL: the file is anonymous (O_TMPFILE) or unlinked."""
    device = SwapDevice(4 * PAGE)
    assert device.is_temporary and device.path.endswith(" (deleted)")
    assert not os.path.exists(device.path.removesuffix(" (deleted)"))
    fd_target = os.readlink(f"/proc/self/fd/{device._require_fd()}")
    assert fd_target.endswith("(deleted)")
    slot = alloc(device)
    device.write_slot(slot, b"x" * PAGE)
    assert device.read_slot(slot) == b"x" * PAGE
    device.close()
    assert device.closed


def test_a_given_path_is_kept_and_close_is_idempotent(tmp_path: Path) -> None:
    device = make_device(tmp_path, 4)
    assert not device.is_temporary and device.path == str(tmp_path / "swap")
    device.close()
    device.close()
    assert (tmp_path / "swap").exists()
    with pytest.raises(KernelBug, match="closed"):
        device.alloc_slot()
    with pytest.raises(KernelBug, match="closed"):
        device.read_header()


def test_close_with_remove_deletes_a_given_path(tmp_path: Path) -> None:
    make_device(tmp_path, 4).close(remove=True)
    assert not (tmp_path / "swap").exists()


def test_an_existing_file_is_overwritten_with_a_fresh_area_only_when_asked(
    tmp_path: Path,
) -> None:
    (tmp_path / "swap").write_bytes(b"\xff" * (20 * PAGE))
    with make_device(tmp_path, 4, overwrite=True) as device:
        assert device.read_header().last_page == 3
        slot = alloc(device)
        device.write_slot(slot, bytes(PAGE))
        assert device.read_slot(slot) == bytes(PAGE)
    assert os.path.getsize(tmp_path / "swap") == 4 * PAGE


def test_a_16_gib_device_is_created_sparse(tmp_path: Path) -> None:
    with SwapDevice(16 * GiB, str(tmp_path / "big")) as device:
        stat = os.stat(tmp_path / "big")
        assert stat.st_size == 16 * GiB
        assert stat.st_blocks * 512 < 1 * MiB
        assert device.read_header().last_page == 16 * GiB // PAGE - 1
        assert device.size_kb == 16 * GiB // 1024 - 4
        # 8 digits: swap_show drops the alignment tab after the size.
        line = device.proc_swaps().splitlines()[1]
        assert line.endswith("file\t\t16777212\t0\t\t-2")
        device.check_invariants()
