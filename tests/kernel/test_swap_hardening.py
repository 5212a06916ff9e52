"""Disk faults contained: safe swap files, slot checksums, swap write and read errors."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kernel.conftest import ANON, RW, free_with_pcp

from vmsim_kernel import (
    PAGE_SIZE,
    InvalidArgument,
    Machine,
    MachineConfig,
    MiB,
    OutOfMemory,
    ProcessKilled,
    ProcessState,
    Signal,
)
from vmsim_kernel.errors import SwapIoError
from vmsim_kernel.kernel.printk import RATELIMIT_BURST, RATELIMIT_INTERVAL_NS, KernelLog, LogLevel
from vmsim_kernel.mm.physmem import PageFlag
from vmsim_kernel.mm.swap import SWAP_MAGIC, SwapDevice, SwapIo
from vmsim_kernel.mm.vmscan import PageoutResult, pageout


# ---- fault injection ---------------------------------------------------------------------------
class FailingIo(SwapIo):
    """A block layer that fails writes and/or reads with an errno, or returns short counts."""

    def __init__(
        self,
        write_errno: int | None = None,
        read_errno: int | None = None,
        short_read: bool = False,
        short_write: bool = False,
    ) -> None:
        self.write_errno = write_errno
        self.read_errno = read_errno
        self.short_read = short_read
        self.short_write = short_write

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        if self.write_errno is not None:
            raise OSError(self.write_errno, os.strerror(self.write_errno))
        if self.short_write:
            return os.pwrite(fd, data[:100], offset)
        return super().pwrite(fd, data, offset)

    def preadv(self, fd: int, buffer: memoryview, offset: int) -> int:
        if self.read_errno is not None:
            raise OSError(self.read_errno, os.strerror(self.read_errno))
        got = super().preadv(fd, buffer, offset)
        return got // 2 if self.short_read else got


def stamp(pid: int, index: int) -> bytes:
    """A page whose every byte says which process and page it belongs to."""
    return struct.pack("<II", pid, index) * (PAGE_SIZE // 8)


def fill(machine: Machine, pid: int, nr_pages: int) -> int:
    """Map *nr_pages* and write a distinct stamp into each; returns the address."""
    addr = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    for index in range(nr_pages):
        machine.write(pid, addr + index * PAGE_SIZE, stamp(pid, index))
    return addr


def first_swapped_page(machine: Machine, pid: int, addr: int, nr_pages: int) -> int:
    """The index of the first of the *nr_pages* pages at *addr* that is in swap (each walk
    costs the VMA's smaps: the tests read one page, so the search stops there)."""
    for index in range(nr_pages):
        if machine.translate(pid, addr + index * PAGE_SIZE).swap_offset is not None:
            return index
    raise AssertionError("no page of the mapping is in swap")


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Machine]:
    """8 MiB of RAM, 16 MiB of swap in tmp_path."""
    machine = Machine(
        MachineConfig(ram_bytes=8 * MiB, swap_bytes=16 * MiB, swap_path=str(tmp_path / "swap"))
    )
    yield machine
    machine.close()


# ---- swap files (swapon's checks) --------------------------------------------------------------
def test_a_symbolic_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_bytes(b"33 bytes of someone else's data.\n")
    (tmp_path / "swap").symlink_to(target)
    with pytest.raises(InvalidArgument, match="symbolic link"):
        SwapDevice(16 * PAGE_SIZE, str(tmp_path / "swap"))
    assert target.read_bytes() == b"33 bytes of someone else's data.\n"


def test_an_existing_file_without_a_swap_signature_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a swap file")
    with pytest.raises(InvalidArgument, match="no swap signature") as caught:
        SwapDevice(16 * PAGE_SIZE, str(path))
    assert "--swap-file-overwrite" in caught.value.allowed
    assert path.read_text() == "not a swap file"


def test_a_directory_is_not_a_swap_file(tmp_path: Path) -> None:
    with pytest.raises((InvalidArgument, IsADirectoryError)):
        SwapDevice(16 * PAGE_SIZE, str(tmp_path))


def test_a_new_file_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        SwapDevice(16 * PAGE_SIZE, str(tmp_path / "swap")).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "swap").st_mode) == 0o600


def test_an_existing_swap_file_is_reused_and_made_private(tmp_path: Path) -> None:
    path = tmp_path / "swap"
    SwapDevice(16 * PAGE_SIZE, str(path)).close()
    os.chmod(path, 0o644)
    with SwapDevice(8 * PAGE_SIZE, str(path)) as device:
        assert device.read_header().last_page == 7
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes()[PAGE_SIZE - 10 : PAGE_SIZE] == SWAP_MAGIC


def test_overwrite_takes_any_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_bytes(b"\xaa" * (3 * PAGE_SIZE))
    with SwapDevice(4 * PAGE_SIZE, str(path), overwrite=True) as device:
        assert device.read_header().magic == SWAP_MAGIC
    assert b"\xaa" not in path.read_bytes()  # no stale byte survives in a slot


def test_the_machine_passes_the_overwrite_setting_on(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_text("data")
    with pytest.raises(InvalidArgument):
        Machine(MachineConfig(ram_bytes=4 * MiB, swap_bytes=MiB, swap_path=str(path)))
    Machine(
        MachineConfig(
            ram_bytes=4 * MiB, swap_bytes=MiB, swap_path=str(path), swap_file_overwrite=True
        )
    ).close()


# ---- slot integrity ----------------------------------------------------------------------------
@contextlib.contextmanager
def one_slot_written(path: Path, nr_slots: int = 8) -> Iterator[tuple[SwapDevice, int]]:
    """A swap device of *nr_slots* slots in *path* and its first slot, written with 0x11s."""
    with SwapDevice(nr_slots * PAGE_SIZE, str(path)) as device:
        slot = device.alloc_slot()
        assert slot is not None
        device.write_slot(slot, b"\x11" * PAGE_SIZE)
        yield device, slot


def test_a_corrupted_slot_fails_its_checksum(tmp_path: Path) -> None:
    with one_slot_written(tmp_path / "swap") as (device, slot):
        with open(tmp_path / "swap", "r+b") as raw:
            raw.seek(slot * PAGE_SIZE + 17)
            raw.write(b"\x12")
        with pytest.raises(SwapIoError, match=r"Read-error on swap-device \(0:1\): checksum"):
            device.read_slot(slot)
        assert device.nr_read_errors == 1 and device.nr_reads == 0


def test_a_truncated_file_is_a_short_read(tmp_path: Path) -> None:
    with one_slot_written(tmp_path / "swap") as (device, slot):
        os.truncate(tmp_path / "swap", 0)
        with pytest.raises(SwapIoError, match="short read: 0 of 4096"):
            device.read_slot(slot)


def test_a_slot_from_an_earlier_life_cannot_be_read(tmp_path: Path) -> None:
    with one_slot_written(tmp_path / "swap", nr_slots=2) as (device, slot):
        device.free_slot(slot)
        assert device.alloc_slot() == slot  # the only free slot: a new generation
        with pytest.raises(SwapIoError, match="not written in generation 2"):
            device.read_slot(slot)


def test_failed_and_short_writes_leave_nothing_readable(tmp_path: Path) -> None:
    with one_slot_written(tmp_path / "swap") as (device, slot):
        device.io = FailingIo(write_errno=errno.ENOSPC)
        with pytest.raises(SwapIoError, match=r"Write-error on swap-device.*No space left"):
            device.write_slot(slot, b"\x22" * PAGE_SIZE)
        device.io = FailingIo(short_write=True)
        with pytest.raises(SwapIoError, match="short write: 100 of 4096"):
            device.write_slot(slot, b"\x22" * PAGE_SIZE)
        device.io = SwapIo()
        with pytest.raises(SwapIoError, match="not written"):
            device.read_slot(slot)  # neither the old nor a half-new page comes back
        assert device.nr_write_errors == 2


# ---- swap write errors in reclaim --------------------------------------------------------------
@pytest.mark.slow
def test_a_failed_swap_write_keeps_the_page_resident_and_dirty(small: Machine) -> None:
    assert small.swap is not None
    keeper = small.spawn("keeper")
    kept = fill(small, keeper, 1024)
    small.swap.io = FailingIo(write_errno=errno.ENOSPC)
    hog = small.spawn("hog", oom_score_adj=1000)  # the OOM killer's choice
    with pytest.raises((OutOfMemory, ProcessKilled)):
        fill(small, hog, 3 * 1024)  # 12 MiB in 8 MiB of RAM: reclaim must try to swap
    swap = small.swap
    assert swap.nr_write_errors > 0 and swap.nr_writes == 0
    assert swap.inuse_pages == 0  # every failed slot was given back
    assert small.kernel.vm_events.pswpout == 0
    assert any(
        "Write-error on swap-device" in record.text for record in small.kernel.kernel_log.records
    )
    # The keeper's pages were tried and failed: still mapped, dirty, not in the swap cache.
    walks = [small.translate(keeper, kept + index * PAGE_SIZE) for index in range(1024)]
    assert all(walk.present for walk in walks)
    dirty = [
        walk.pfn
        for walk in walks
        if walk.pfn is not None and small.kernel.physmem.test_flags(walk.pfn, PageFlag.DIRTY)
    ]
    assert dirty
    assert not any(small.kernel.physmem.test_flags(pfn, PageFlag.SWAPCACHE) for pfn in dirty)
    assert small.read(keeper, kept + 5 * PAGE_SIZE, PAGE_SIZE) == stamp(keeper, 5)
    small.check_invariants()


@pytest.mark.slow
def test_a_full_disk_ends_in_oom_semantics_and_everything_can_exit(small: Machine) -> None:
    boot = small.meminfo()
    free_at_boot = free_with_pcp(small.kernel.allocator)  # MemFree and the per-cpu lists
    assert small.swap is not None
    bystander = small.spawn("bystander")
    kept = fill(small, bystander, 64)
    small.swap.io = FailingIo(write_errno=errno.ENOSPC)
    outcomes = []
    pids = []
    for round_ in range(3):
        pid = small.spawn(f"hog{round_}")
        pids.append(pid)
        try:
            fill(small, pid, 1024)
            outcomes.append("ok")
        except (OutOfMemory, ProcessKilled) as error:
            outcomes.append(type(error).__name__)
        small.check_invariants()
    # Memory ran out with nothing writable to swap: ENOMEM or OOM kills, never a KernelBug.
    assert set(outcomes) - {"ok"} or small.kernel.vm_events.oom_kill > 0, outcomes
    assert small.swap.nr_write_errors > 0 and small.swap.inuse_pages == 0
    for pid in [bystander, *pids]:
        if small.process(pid).state is ProcessState.RUNNING:
            if pid == bystander:
                assert small.read(bystander, kept, PAGE_SIZE) == stamp(bystander, 0)
            small.exit(pid)
    small.check_invariants()
    after = small.meminfo()
    assert free_with_pcp(small.kernel.allocator) == free_at_boot
    assert after["SwapFree"] == boot["SwapFree"]
    assert after["Committed_AS"] == boot["Committed_AS"]


@pytest.mark.slow
def test_a_transient_write_error_does_not_stop_reclaim(small: Machine) -> None:
    """One bad write: the page stays, reclaim writes the next victim instead."""
    assert small.swap is not None

    class FailOnce(SwapIo):
        failed = False

        def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
            if not self.failed:
                self.failed = True
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return super().pwrite(fd, data, offset)

    small.swap.io = FailOnce()
    pid = small.spawn()
    addr = fill(small, pid, 3 * 1024)
    assert small.swap.nr_write_errors == 1 and small.swap.nr_writes > 0
    assert small.kernel.vm_events.oom_kill == 0
    for index in (0, 1, 2, 1000, 3071):
        assert small.read(pid, addr + index * PAGE_SIZE, PAGE_SIZE) == stamp(pid, index)
    small.check_invariants()


# ---- swap read errors: SIGBUS for the owner only -----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "io", [FailingIo(read_errno=errno.EIO), FailingIo(short_read=True)], ids=["eio", "short"]
)
def test_a_failed_swap_read_kills_only_the_owner_with_sigbus(small: Machine, io: SwapIo) -> None:
    boot = small.meminfo()
    free_at_boot = free_with_pcp(small.kernel.allocator)  # MemFree and the per-cpu lists
    victim = small.spawn("victim")
    victim_addr = fill(small, victim, 1024)
    other = small.spawn("other")
    other_addr = fill(small, other, 2 * 1024)  # pushes the victim's pages out
    out = first_swapped_page(small, victim, victim_addr, 1024)  # the victim's, pushed out
    assert small.swap is not None
    small.swap.io = io
    with pytest.raises(ProcessKilled) as caught:
        small.read(victim, victim_addr + out * PAGE_SIZE, 8)
    assert caught.value.signal is Signal.SIGBUS
    assert "Read-error on swap-device" in caught.value.reason
    info = small.process(victim)
    assert info.state is ProcessState.ZOMBIE and info.killed_by is Signal.SIGBUS
    assert info.vm_rss == 0 and info.vm_swap == 0
    small.swap.io = SwapIo()
    for index in range(0, 2 * 1024, 97):  # the other process is untouched
        assert small.read(other, other_addr + index * PAGE_SIZE, PAGE_SIZE) == stamp(other, index)
    small.check_invariants()
    small.exit(other)
    assert free_with_pcp(small.kernel.allocator) == free_at_boot
    assert small.meminfo()["SwapFree"] == boot["SwapFree"]


@pytest.mark.slow
def test_a_truncated_swap_file_returns_no_wrong_byte(small: Machine) -> None:
    """The real file is cut to nothing under a running machine: SIGBUS, never stale data."""
    boot = small.meminfo()
    free_at_boot = free_with_pcp(small.kernel.allocator)  # MemFree and the per-cpu lists
    pids = [small.spawn(f"p{i}") for i in range(3)]
    addrs = {pid: fill(small, pid, 1024) for pid in pids}
    assert small.swap is not None and small.swap.inuse_pages > 0
    os.truncate(small.swap.path, 0)
    wrong = 0
    killed = []
    for pid in pids:
        for index in range(1024):
            try:
                page = small.read(pid, addrs[pid] + index * PAGE_SIZE, PAGE_SIZE)
            except ProcessKilled as error:
                assert error.signal is Signal.SIGBUS
                killed.append(pid)
                break
            wrong += page != stamp(pid, index)
    assert wrong == 0
    assert killed  # some process had pages in the lost file
    small.check_invariants()
    for pid in pids:
        if pid not in killed:
            small.exit(pid)
    after = small.meminfo()
    assert free_with_pcp(small.kernel.allocator) == free_at_boot
    assert after["SwapFree"] == boot["SwapFree"]


@pytest.mark.slow
def test_a_file_zeroed_behind_the_kernel_fails_the_checksum(small: Machine) -> None:
    pid = small.spawn()
    addr = fill(small, pid, 3 * 1024)
    assert small.swap is not None
    size = os.path.getsize(small.swap.path)
    os.truncate(small.swap.path, PAGE_SIZE)  # keep the header, lose every slot ...
    os.truncate(small.swap.path, size)  # ... and get zeros back in their place
    out = first_swapped_page(small, pid, addr, 3 * 1024)
    with pytest.raises(ProcessKilled, match="checksum") as caught:
        small.read(pid, addr + out * PAGE_SIZE, PAGE_SIZE)
    assert caught.value.signal is Signal.SIGBUS
    small.check_invariants()


# ---- the kernel log --------------------------------------------------------------------------
def test_printk_ratelimited_lets_a_burst_through_then_counts_the_rest() -> None:
    log = KernelLog()
    seen: list[str] = []
    log.add_console(lambda record: seen.append(record.text))
    for _ in range(RATELIMIT_BURST + 5):
        log.printk_ratelimited(LogLevel.ERR, "Write-error on swap-device (0:1)", 1000)
    assert len(seen) == RATELIMIT_BURST and log.nr_suppressed == 5
    log.printk_ratelimited(LogLevel.ERR, "again", 1000 + RATELIMIT_INTERVAL_NS)
    assert seen[-2:] == ["printk: 5 messages suppressed", "again"]
    assert str(log.records[0]).startswith("[    0.000001] Write-error")


@pytest.mark.slow
def test_a_failed_rewrite_of_a_swap_cache_page_drops_its_slot(small: Machine) -> None:
    """A page read back from swap keeps its slot (swap cache); rewriting it fails: slot gone."""
    assert small.swap is not None
    pid = small.spawn("cached", oom_score_adj=-1000)  # never the OOM killer's choice
    addr = fill(small, pid, 1024)
    pusher = small.spawn("pusher", oom_score_adj=1000)
    fill(small, pusher, 1024 + 512)
    page_va = addr + first_swapped_page(small, pid, addr, 1024) * PAGE_SIZE
    small.read(pid, page_va, 8)  # swap-in by a read: the page joins the swap cache
    pfn = small.translate(pid, page_va).pfn
    assert pfn is not None and small.kernel.physmem.test_flags(pfn, PageFlag.SWAPCACHE)
    small.write(pid, page_va, b"changed!")  # dirty: the cached copy is stale
    used_before = small.swap.inuse_pages
    small.swap.io = FailingIo(write_errno=errno.EIO)
    assert pageout(small.kernel, pfn) is PageoutResult.WRITE_ERROR
    walk = small.translate(pid, page_va)
    assert walk.present and walk.pfn == pfn
    assert not small.kernel.physmem.test_flags(pfn, PageFlag.SWAPCACHE)
    assert small.kernel.physmem.test_flags(pfn, PageFlag.DIRTY)
    assert small.swap.inuse_pages == used_before - 1  # the cache's slot was let go
    small.swap.io = SwapIo()
    assert small.read(pid, page_va, 8) == b"changed!"
    small.check_invariants()
    small.kernel.lruvec.policy.remove(pfn)  # as choose_victim takes it off the LRU
    assert pageout(small.kernel, pfn) is PageoutResult.SUCCESS  # a healthy device takes it again
    assert small.read(pid, page_va, 8) == b"changed!"
    small.check_invariants()
