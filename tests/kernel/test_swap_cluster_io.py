"""Clustered swap I/O: consecutive slots, one vectored request per run, per-slot outcomes."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmsim_kernel import PAGE_SIZE, MiB
from vmsim_kernel.mm.swap import SwapDevice, SwapIo


class CountingIo(SwapIo):
    """The real vectored calls, counted; optionally failing the write that starts at a slot."""

    def __init__(self, fail_at_slot: int | None = None) -> None:
        self.writes: list[tuple[int, int]] = []  # (first slot, pages)
        self.reads: list[tuple[int, int]] = []
        self.fail_at_slot = fail_at_slot

    def pwritev(self, fd: int, buffers: list[memoryview], offset: int) -> int:
        self.writes.append((offset // PAGE_SIZE, len(buffers)))
        if self.fail_at_slot is not None:
            stop = self.fail_at_slot - offset // PAGE_SIZE
            if stop == 0:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            if 0 < stop < len(buffers):
                return super().pwritev(fd, buffers[:stop], offset)
        return super().pwritev(fd, buffers, offset)

    def preadv_pages(self, fd: int, buffers: list[memoryview], offset: int) -> int:
        self.reads.append((offset // PAGE_SIZE, len(buffers)))
        return super().preadv_pages(fd, buffers, offset)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[SwapDevice]:
    with SwapDevice(4 * MiB, str(tmp_path / "swap")) as swap:
        yield swap


def page(value: int) -> memoryview:
    return memoryview(bytearray(value.to_bytes(4, "little") * (PAGE_SIZE // 4)))


def test_a_reclaim_batch_gets_consecutive_slots_as_single_allocations_would(
    device: SwapDevice, tmp_path: Path
) -> None:
    assert device.alloc_slots(32) == list(range(1, 33))
    with SwapDevice(4 * MiB, str(tmp_path / "other")) as single:
        assert [single.alloc_slot() for _ in range(32)] == list(range(1, 33))
    device.free_slot(5)
    assert device.alloc_slots(3) == [33, 34, 35]  # next-fit goes on inside the cluster
    device.check_invariants()


def test_a_batch_is_written_with_one_request_per_run_and_reads_back(device: SwapDevice) -> None:
    io = CountingIo()
    device.io = io
    slots = device.alloc_slots(40)
    for slot in slots[30:]:  # a hole: two runs
        device.free_slot(slot)
    chosen = slots[:10] + slots[20:30]
    outcome, tried = device.write_slots(chosen, [page(slot) for slot in chosen])
    assert outcome == [None] * 20 and tried == 20
    assert io.writes == [(1, 10), (21, 10)]
    buffers = [memoryview(bytearray(PAGE_SIZE)) for _ in chosen]
    assert device.read_slots_into(chosen, buffers) == [None] * 20
    assert io.reads == [(1, 10), (21, 10)]
    assert [bytes(b) for b in buffers] == [bytes(page(slot)) for slot in chosen]
    assert device.nr_writes == 20 and device.nr_reads == 20


def test_a_failed_page_fails_alone_and_the_rest_of_its_run_is_written(
    device: SwapDevice,
) -> None:
    slots = device.alloc_slots(8)
    device.io = CountingIo(fail_at_slot=slots[3])
    outcome, tried = device.write_slots(slots, [page(slot) for slot in slots])
    failed = [slot for slot, error in zip(slots, outcome, strict=True) if error is not None]
    assert failed == [slots[3]] and tried == 8
    assert device.nr_write_errors == 1 and device.nr_writes == 7
    error = outcome[3]
    assert error is not None and "Write-error on swap-device" in error.message
    # The read of the slot whose write failed raises the same kind of error, not any exception.
    with pytest.raises(type(error), match="not written in generation"):
        device.read_slot(slots[3])
    assert device.read_slot(slots[4]) == bytes(page(slots[4]))


def test_a_batch_stops_after_the_errors_it_may_make(device: SwapDevice) -> None:
    slots = device.alloc_slots(8)

    class Broken(SwapIo):
        def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    device.io = Broken()
    outcome, tried = device.write_slots(slots, [page(slot) for slot in slots], max_errors=3)
    assert tried == 3 and len(outcome) == 3 and all(error is not None for error in outcome)
    assert device.nr_write_errors == 3


def test_a_damaged_slot_fails_its_read_only(device: SwapDevice) -> None:
    slots = device.alloc_slots(4)
    device.write_slots(slots, [page(slot) for slot in slots])
    fd = os.open(device.path, os.O_WRONLY)
    os.pwrite(fd, b"\xff" * 16, slots[1] * PAGE_SIZE)
    os.close(fd)
    buffers = [memoryview(bytearray(PAGE_SIZE)) for _ in slots]
    outcome = device.read_slots_into(slots, buffers)
    assert [error is not None for error in outcome] == [False, True, False, False]
    assert "checksum" in str(outcome[1])
