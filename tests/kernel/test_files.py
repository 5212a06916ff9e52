"""The simulated file system and its page cache: open/read/write/lseek/truncate/unlink/fsync,
bytes kept on the disk's host file, errors with their errno, and the page cache's counters."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import MachineFactory, pages

from vmsim_kernel import PAGE_SIZE, Machine, MapFlag, MiB, Prot, Signal
from vmsim_kernel.errors import (
    AccessDenied,
    BadFileDescriptor,
    FileExists,
    FileNotFound,
    FileTooLarge,
    InvalidArgument,
    NoSpaceOnDevice,
    PermissionDenied,
    ProcessKilled,
)
from vmsim_kernel.fs.vfs import MsyncFlag, OpenFlag
from vmsim_kernel.journal import replay_journal

O_RDONLY, O_WRONLY, O_RDWR = OpenFlag.O_RDONLY, OpenFlag.O_WRONLY, OpenFlag.O_RDWR
O_CREAT, O_EXCL, O_TRUNC, O_APPEND = (
    OpenFlag.O_CREAT,
    OpenFlag.O_EXCL,
    OpenFlag.O_TRUNC,
    OpenFlag.O_APPEND,
)


def pattern(nr_bytes: int, seed: int = 0) -> bytes:
    """Bytes that differ from page to page and from a zero page."""
    return bytes((i * 7 + seed + i // PAGE_SIZE) % 251 + 1 for i in range(nr_bytes))


def drop_caches(machine: Machine) -> None:
    machine.set_sysctl("vm.drop_caches", "1")


def test_write_then_read_back_through_the_page_cache(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "/data", O_RDWR | O_CREAT, 0o644)
    data = pattern(5 * PAGE_SIZE + 123)
    assert machine.write_file(pid, fd, data) == len(data)
    assert machine.lseek(pid, fd, 0, 0) == 0
    assert machine.read_file(pid, fd, len(data) + 100) == data  # short at the end of file
    assert machine.read_file(pid, fd, 10) == b""
    info = machine.file_info("data")
    assert (info.size, info.blocks, info.nlink, info.open_count) == (len(data), 6, 1, 1)
    assert info.cached == 6 * PAGE_SIZE and info.dirty == 6 * PAGE_SIZE
    machine.check_invariants()


def test_write_takes_no_fault_and_leaves_dirty_page_cache_pages(machine: Machine) -> None:
    pid = machine.spawn()
    before_info, before = machine.process(pid), machine.meminfo()
    fd = machine.open_file(pid, "f", O_WRONLY | O_CREAT)
    machine.write_file(pid, fd, pattern(64 * PAGE_SIZE))
    after_info, after = machine.process(pid), machine.meminfo()
    assert (after_info.minor_faults, after_info.major_faults) == (
        before_info.minor_faults,
        before_info.major_faults,
    )
    assert after["Cached"] - before["Cached"] == 64 * 4
    assert after["Dirty"] - before["Dirty"] == 64 * 4
    assert after["Inactive(file)"] + after["Active(file)"] == 64 * 4
    assert after["AnonPages"] == before["AnonPages"]


def test_fsync_writes_dirty_pages_and_dropped_pages_read_back_from_disk(
    machine: Machine,
) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    data = pattern(40 * PAGE_SIZE, seed=3)
    machine.write_file(pid, fd, data)
    pgpgout = machine.vmstat()["pgpgout"]
    machine.fsync(pid, fd)
    assert machine.vmstat()["pgpgout"] - pgpgout == 40 * 4
    assert machine.meminfo()["Dirty"] == 0
    drop_caches(machine)
    assert machine.file_info("f").cached == 0
    pgpgin = machine.vmstat()["pgpgin"]
    assert machine.pread_file(pid, fd, len(data), 0) == data
    assert machine.vmstat()["pgpgin"] - pgpgin == 40 * 4
    machine.check_invariants()


def test_sequential_read_uses_readahead_windows(make_machine: MachineFactory) -> None:
    machine = make_machine()
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, pattern(128 * PAGE_SIZE))
    machine.fsync(pid, fd)
    drop_caches(machine)
    machine.lseek(pid, fd, 0, 0)
    machine.read_file(pid, fd, PAGE_SIZE)
    # get_init_ra_size(1, 32) = 4 pages: the first read brings 4 pages, not one
    assert machine.file_info("f").cached == 4 * PAGE_SIZE
    for _ in range(127):
        machine.read_file(pid, fd, PAGE_SIZE)
    cached = machine.file_info("f").cached
    assert cached == 128 * PAGE_SIZE
    assert machine.vmstat()["pgpgin"] >= 128 * 4


def test_pwrite_and_pread_leave_f_pos_and_append_writes_at_the_end(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, b"abcdef")
    machine.pwrite_file(pid, fd, b"XY", 2)
    assert machine.pread_file(pid, fd, 6, 0) == b"abXYef"
    assert machine.lseek(pid, fd, 0, 1) == 6  # SEEK_CUR: pwrite/pread did not move it
    fd2 = machine.open_file(pid, "f", O_WRONLY | O_APPEND)
    machine.write_file(pid, fd2, b"!!")
    assert machine.pread_file(pid, fd, 100, 0) == b"abXYef!!"
    assert machine.lseek(pid, fd, 0, 2) == 8  # SEEK_END


def test_a_write_past_the_end_leaves_a_hole_of_zeroes(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    machine.pwrite_file(pid, fd, b"end", 10 * PAGE_SIZE)
    assert machine.file_info("f").blocks == 1  # the hole has no blocks
    assert machine.pread_file(pid, fd, 8, 5 * PAGE_SIZE) == bytes(8)
    assert machine.file_info("f").size == 10 * PAGE_SIZE + 3


def test_ftruncate_shrinks_and_grows_back_with_zeroes(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, pattern(8 * PAGE_SIZE))
    machine.fsync(pid, fd)
    drop_caches(machine)  # the last page kept is on disk only: its tail is zeroed there
    machine.ftruncate(pid, fd, 2 * PAGE_SIZE + 10)
    info = machine.file_info("f")
    assert (info.size, info.blocks) == (2 * PAGE_SIZE + 10, 3)
    machine.ftruncate(pid, fd, 4 * PAGE_SIZE)
    tail = machine.pread_file(pid, fd, 2 * PAGE_SIZE, 2 * PAGE_SIZE)
    assert tail[:10] == pattern(8 * PAGE_SIZE)[2 * PAGE_SIZE : 2 * PAGE_SIZE + 10]
    assert tail[10:] == bytes(2 * PAGE_SIZE - 10)
    machine.check_invariants()


def test_unlinked_file_lives_until_its_last_descriptor_closes(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, pattern(16 * PAGE_SIZE))
    free = machine.meminfo()["MemFree"]
    machine.unlink(pid, "f")
    assert machine.files() == []
    with pytest.raises(FileNotFound):
        machine.open_file(pid, "f")
    assert machine.pread_file(pid, fd, 4, 0) == pattern(4)  # still readable through fd
    assert machine.meminfo()["Cached"] >= 16 * 4
    machine.close_file(pid, fd)
    assert machine.meminfo()["Cached"] == 0
    assert machine.meminfo()["MemFree"] >= free  # its pages went back
    machine.check_invariants()


def test_exit_closes_files_and_fork_shares_the_open_file(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    child = machine.fork(pid)
    machine.write_file(child, fd, b"from the child")
    assert machine.lseek(pid, fd, 0, 1) == 14  # f_pos is the shared file's
    assert machine.open_files(child)[0].pos == 14
    machine.unlink(pid, "f")
    machine.exit(child)
    assert machine.pread_file(pid, fd, 14, 0) == b"from the child"
    machine.exit(pid)
    assert machine.meminfo()["Cached"] == 0
    machine.check_invariants()


def test_bad_open_calls_are_refused_with_their_errno_and_change_nothing(machine: Machine) -> None:
    pid = machine.spawn()
    with pytest.raises(FileNotFound) as missing:
        machine.open_file(pid, "nope")
    assert missing.value.errno_name == "ENOENT"
    machine.close_file(pid, machine.open_file(pid, "f", O_WRONLY | O_CREAT, 0o600))
    with pytest.raises(FileExists) as exists:
        machine.open_file(pid, "f", O_RDWR | O_CREAT | O_EXCL)
    assert exists.value.errno_name == "EEXIST"
    for bad_flags in (0o3, 0o4000000):
        with pytest.raises(InvalidArgument):
            machine.open_file(pid, "g", bad_flags | O_CREAT)
    with pytest.raises(InvalidArgument):
        machine.open_file(pid, "a/b", O_RDWR | O_CREAT)
    with pytest.raises(InvalidArgument):
        machine.open_file(pid, "g", O_RDWR | O_CREAT, 0o1777)
    other = machine.spawn(uid=2000)
    with pytest.raises(AccessDenied) as denied:
        machine.open_file(other, "f", O_RDONLY)
    assert denied.value.errno_name == "EACCES"
    with pytest.raises(PermissionDenied):
        machine.unlink(other, "f")
    assert [info.name for info in machine.files()] == ["f"]
    assert machine.open_files(pid) == [] and machine.open_files(other) == []


def test_bad_descriptors_are_ebadf(machine: Machine) -> None:
    pid = machine.spawn()
    with pytest.raises(BadFileDescriptor) as bad:
        machine.read_file(pid, 3, 10)
    assert bad.value.errno_name == "EBADF"
    fd = machine.open_file(pid, "f", O_WRONLY | O_CREAT)
    with pytest.raises(BadFileDescriptor):
        machine.read_file(pid, fd, 10)
    ro = machine.open_file(pid, "f", O_RDONLY)
    with pytest.raises(BadFileDescriptor):
        machine.write_file(pid, ro, b"x")
    with pytest.raises(BadFileDescriptor):
        machine.ftruncate(pid, ro, 0)
    machine.close_file(pid, ro)
    with pytest.raises(BadFileDescriptor):
        machine.close_file(pid, ro)
    with pytest.raises(InvalidArgument):
        machine.lseek(pid, fd, -1, 0)
    with pytest.raises(InvalidArgument):
        machine.lseek(pid, fd, 0, 7)


def test_full_disk_is_enospc_and_a_write_too_far_is_efbig(make_machine: MachineFactory) -> None:
    machine = make_machine(disk_bytes=64 * PAGE_SIZE)  # 63 blocks after the superblock
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    assert machine.write_file(pid, fd, pattern(70 * PAGE_SIZE)) == 63 * PAGE_SIZE  # short
    fd2 = machine.open_file(pid, "g", O_RDWR | O_CREAT)
    with pytest.raises(NoSpaceOnDevice) as full:
        machine.write_file(pid, fd2, b"x")
    assert full.value.errno_name == "ENOSPC"
    assert machine.file_info("g").size == 0
    with pytest.raises(FileTooLarge) as too_big:
        machine.pwrite_file(pid, fd2, b"x", 64 * PAGE_SIZE)
    assert too_big.value.errno_name == "EFBIG"
    machine.unlink(pid, "f")
    machine.close_file(pid, fd)
    assert machine.write_file(pid, fd2, b"x") == 1  # its blocks were freed
    machine.check_invariants()


def test_disk_blocks_hold_the_bytes_in_a_host_file_with_a_checked_crc(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=16 * MiB)
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", O_RDWR | O_CREAT)
    data = pattern(3 * PAGE_SIZE, seed=9)
    machine.write_file(pid, fd, data)
    machine.fsync(pid, fd)
    disk = machine.kernel.fs.disk
    assert disk is not None
    block = machine.kernel.fs.names["f"].blocks[1]
    assert disk.read_slot(block) == data[PAGE_SIZE : 2 * PAGE_SIZE]
    assert int(disk.nr_writes) == 3


# ---- mmap of a file --------------------------------------------------------------------------
RW_PROT = int(Prot.READ | Prot.WRITE)


def mapped_file(machine: Machine, nr_pages: int, flags: int) -> tuple[int, int, int, bytes]:
    """A process with a file of *nr_pages* written, synced and mapped whole with *flags*:
    (pid, fd, address, the file's bytes)."""
    pid = machine.spawn()
    fd = machine.open_file(pid, "m", O_RDWR | O_CREAT)
    data = pattern(nr_pages * PAGE_SIZE, seed=5)
    machine.write_file(pid, fd, data)
    machine.fsync(pid, fd)
    return pid, fd, machine.mmap_file(pid, fd, 0, len(data), RW_PROT, flags), data


def faults(machine: Machine, pid: int) -> tuple[int, int]:
    info = machine.process(pid)
    return info.minor_faults, info.major_faults


def test_reading_a_cached_file_through_mmap_faults_once_per_16_pages(machine: Machine) -> None:
    pid, _fd, addr, data = mapped_file(machine, 64, int(MapFlag.PRIVATE))
    before, anon = faults(machine, pid), machine.meminfo()["AnonPages"]
    summary = machine.touch_many(pid, pages(addr, 64), False)
    assert (summary.nr_minor, summary.nr_major) == (4, 0)  # fault-around: 65536 bytes each
    assert faults(machine, pid) == (before[0] + 4, before[1])
    assert machine.read(pid, addr + 5 * PAGE_SIZE, 64) == data[5 * PAGE_SIZE : 5 * PAGE_SIZE + 64]
    meminfo = machine.meminfo()
    assert meminfo["AnonPages"] == anon  # the page cache's pages, mapped: no copy
    assert meminfo["Mapped"] >= 64 * 4
    assert machine.file_info("m").mapped == 64 * PAGE_SIZE
    rollup = machine.smaps_rollup(pid).sizes
    assert rollup["Pss_File"] == 64 * PAGE_SIZE and rollup["Pss_Anon"] == 0
    assert machine.process(pid).vm_rss >= 64 * PAGE_SIZE  # RssFile counts in VmRSS
    machine.check_invariants()


def test_a_mapped_read_from_disk_is_a_major_fault_with_readahead(machine: Machine) -> None:
    pid, _fd, addr, data = mapped_file(machine, 64, int(MapFlag.PRIVATE))
    drop_caches(machine)
    before = machine.vmstat()
    assert machine.touch(pid, addr, False).name == "MAJOR"
    after = machine.vmstat()
    # the read-around window: ra_pages (32) around the page, from the start of the file
    assert after["pgpgin"] - before["pgpgin"] == 32 * 4
    # filemap_fault let go of mmap_lock for the read: the fault was retried (pgfault counts
    # both attempts, pgmajfault the miss), and the retry's fault-around mapped its window
    assert (after["pgfault"] - before["pgfault"], after["pgmajfault"] - before["pgmajfault"]) == (
        2,
        1,
    )
    assert machine.touch(pid, addr + 15 * PAGE_SIZE, False).name == "HIT"
    assert machine.touch(pid, addr + 16 * PAGE_SIZE, False).name == "MINOR"  # the next window
    assert machine.read(pid, addr + 31 * PAGE_SIZE, 8) == data[31 * PAGE_SIZE : 31 * PAGE_SIZE + 8]


def test_private_write_copies_the_page_and_leaves_the_file_alone(machine: Machine) -> None:
    pid, fd, addr, data = mapped_file(machine, 16, int(MapFlag.PRIVATE))
    machine.touch_many(pid, pages(addr, 16), False)
    anon, cached = machine.meminfo()["AnonPages"], machine.meminfo()["Cached"]
    summary = machine.touch_many(pid, pages(addr, 10), True)
    assert (summary.nr_minor, summary.nr_major) == (10, 0)  # one COW fault per page
    assert machine.meminfo()["AnonPages"] - anon == 40  # AnonPages +4 kB each
    assert machine.meminfo()["Cached"] == cached
    machine.write(pid, addr, b"private")
    assert machine.read(pid, addr, 7) == b"private"
    assert machine.pread_file(pid, fd, 7, 0) == data[:7]  # the file did not change
    assert machine.meminfo()["Dirty"] == 0
    machine.munmap(pid, addr, 16 * PAGE_SIZE)
    assert machine.meminfo()["AnonPages"] == anon - 0  # the copies went with the mapping
    machine.check_invariants()


def test_shared_write_dirties_the_file_and_msync_writes_it_back(machine: Machine) -> None:
    pid, fd, addr, _data = mapped_file(machine, 16, int(MapFlag.SHARED))
    anon = machine.meminfo()["AnonPages"]
    machine.write(pid, addr + 3 * PAGE_SIZE, b"shared write")
    assert machine.pread_file(pid, fd, 12, 3 * PAGE_SIZE) == b"shared write"
    assert machine.meminfo()["Dirty"] == 4
    assert machine.meminfo()["AnonPages"] == anon  # no copy
    pgpgout = machine.vmstat()["pgpgout"]
    machine.msync(pid, addr, 16 * PAGE_SIZE, int(MsyncFlag.MS_SYNC))
    assert machine.vmstat()["pgpgout"] - pgpgout == 4
    assert machine.meminfo()["Dirty"] == 0
    # written back, the page is write-protected again: the next write faults and dirties it
    before = faults(machine, pid)
    machine.write(pid, addr + 3 * PAGE_SIZE, b"again")
    assert faults(machine, pid)[0] == before[0] + 1
    assert machine.meminfo()["Dirty"] == 4
    machine.check_invariants()


def test_munmap_leaves_dirty_shared_pages_for_writeback(machine: Machine) -> None:
    pid, fd, addr, _data = mapped_file(machine, 8, int(MapFlag.SHARED))
    machine.touch_many(pid, pages(addr, 8), True)
    machine.munmap(pid, addr, 8 * PAGE_SIZE)
    assert machine.meminfo()["Dirty"] == 8 * 4
    machine.fsync(pid, fd)
    drop_caches(machine)
    assert machine.file_info("m").cached == 0
    assert machine.pread_file(pid, fd, 4, 0) == pattern(4, seed=5)  # the bytes of the file
    machine.check_invariants()


def test_bad_file_mappings_are_refused(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "m", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, pattern(4 * PAGE_SIZE))
    ro = machine.open_file(pid, "m", O_RDONLY)
    wo = machine.open_file(pid, "m", O_WRONLY)
    with pytest.raises(AccessDenied):
        machine.mmap_file(pid, ro, 0, PAGE_SIZE, RW_PROT, int(MapFlag.SHARED))
    with pytest.raises(AccessDenied):
        machine.mmap_file(pid, wo, 0, PAGE_SIZE, int(Prot.READ), int(MapFlag.PRIVATE))
    with pytest.raises(InvalidArgument):
        machine.mmap_file(pid, fd, 0, PAGE_SIZE, RW_PROT, int(MapFlag.SHARED), 100)
    with pytest.raises(InvalidArgument):
        machine.mmap_file(pid, fd, 0, PAGE_SIZE, RW_PROT, int(MapFlag.SHARED | MapFlag.ANONYMOUS))
    with pytest.raises(BadFileDescriptor):
        machine.mmap_file(pid, 99, 0, PAGE_SIZE, RW_PROT, int(MapFlag.SHARED))
    assert machine.maps(pid) == machine.maps(pid)  # nothing was mapped
    assert not [vma for vma in machine.maps(pid) if "/m" in str(vma)]


def test_an_access_past_the_end_of_the_file_is_sigbus(machine: Machine) -> None:
    pid = machine.spawn()
    fd = machine.open_file(pid, "m", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, b"short")
    addr = machine.mmap_file(pid, fd, 0, 4 * PAGE_SIZE, RW_PROT, int(MapFlag.SHARED))
    assert machine.read(pid, addr, 5) == b"short"
    with pytest.raises(ProcessKilled) as killed:
        machine.touch(pid, addr + 2 * PAGE_SIZE, False)
    assert killed.value.signal is Signal.SIGBUS


def test_file_calls_replay_from_the_journal_to_the_same_costs(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(record=True)
    pid = machine.spawn()
    fd = machine.open_file(pid, "j", O_RDWR | O_CREAT)
    machine.write_file(pid, fd, pattern(20 * PAGE_SIZE))
    machine.sync()
    drop_caches(machine)
    addr = machine.mmap_file(pid, fd, 0, 20 * PAGE_SIZE, RW_PROT, int(MapFlag.PRIVATE))
    machine.touch_many(pid, pages(addr, 20), True)
    machine.pread_file(pid, fd, 20 * PAGE_SIZE, 0)
    assert machine.journal is not None
    replayed = replay_journal(machine.config, machine.journal)
    assert replayed[-1] == machine.last_cost and machine.last_cost.total_ns > 0
