"""A sequential read through a file mapping, fault by fault as Linux 6.1 takes it
(mm/filemap.c filemap_fault, mm/memory.c do_read_fault/do_fault_around): a fault that had
to start I/O lets go of mmap_lock and is retried, and the retry's fault-around maps the
window the I/O brought in. The counts below are those of a model of 6.1's rules, which gives
the pcache capture's 6400 minor / 3201 major faults for its 102400 pages at its address."""

from __future__ import annotations

import pytest
from tests.kernel.conftest import MachineFactory, pages

from vmsim_kernel import MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ, MiB
from vmsim_kernel.fs.vfs import OpenFlag

NR_PAGES = 1024  # 32 read-around windows of ra_pages (32), 64 fault-around windows (16)


@pytest.mark.parametrize(
    ("addr", "minor", "major"),
    [
        # on a 16-page boundary: per 32 pages the marker's fault is retried (major, it
        # started the next window) and one fault-around window is minor; the first fault
        # (the read-around) is one major more
        (0x90000000, 32, 33),
        # 10 pages off a boundary, as the capture's 0x9effa000: each 32-page window is cut
        # by three fault-around windows, so one minor fault more per window
        (0x9EFFA000, 64, 33),
    ],
    ids=["aligned", "capture-address"],
)
def test_a_sequential_mapped_read_from_disk_faults_as_linux(
    make_machine: MachineFactory, addr: int, minor: int, major: int
) -> None:
    machine = make_machine(ram_bytes=32 * MiB)
    pid = machine.spawn()
    fd = machine.open_file(pid, "f", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
    machine.write_file(pid, fd, b"\x5a" * NR_PAGES * PAGE_SIZE)
    machine.fsync(pid, fd)
    machine.set_sysctl("vm.drop_caches", "1")
    start = machine.mmap_file(
        pid, fd, addr, NR_PAGES * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED
    )
    before, events = machine.process(pid), machine.vmstat()
    summary = machine.touch_many(pid, pages(start, NR_PAGES), False)
    after, events_after = machine.process(pid), machine.vmstat()
    assert (summary.nr_minor, summary.nr_major) == (minor, major)
    assert after.minor_faults - before.minor_faults == minor
    assert after.major_faults - before.major_faults == major
    # pgfault counts the retried attempts too; pgmajfault only the fault that missed the cache
    assert events_after["pgfault"] - events["pgfault"] == minor + 2 * major
    assert events_after["pgmajfault"] - events["pgmajfault"] == 1
    machine.check_invariants()
