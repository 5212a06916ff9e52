"""Dirty page cache pages met by reclaim (mm/vmscan.c shrink_folio_list, Linux 6.1): reclaim
does not free them, it activates them with PG_reclaim (the workingset clock ages for each
page put back active) while the flusher writes them, then rotates them to the inactive
tail, where the next scan frees them clean. And a small anon list beside a big file list."""

from __future__ import annotations

from tests.kernel.conftest import MachineFactory, write_pages

from vmsim_kernel import PAGE_SIZE, MiB
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.mm.vmscan import ScanBalance, get_scan_count, shrink_file_list, shrink_pages

NR_PAGES = 8


def test_a_dirty_file_page_is_written_rotated_and_freed_on_the_next_pass(
    make_machine: MachineFactory,
) -> None:
    machine = make_machine(ram_bytes=32 * MiB)
    kernel = machine.kernel
    pid = machine.spawn()
    fd = machine.open_file(pid, "dirty", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
    machine.write_file(pid, fd, b"d" * NR_PAGES * PAGE_SIZE)
    assert machine.meminfo()["Dirty"] == NR_PAGES * 4
    pfns = sorted(kernel.fs.names["dirty"].mapping.pages.values())
    file_lru = kernel.lruvec.file
    for pfn in pfns:  # isolated, as reclaim takes its victims off the list
        file_lru.remove(pfn)
    before, age = machine.vmstat(), kernel.lruvec.nonresident_age
    assert shrink_file_list(kernel, pfns) == 0  # none freed on this pass
    after = machine.vmstat()
    assert after["pgactivate"] - before["pgactivate"] == NR_PAGES
    assert after["pgrotated"] - before["pgrotated"] == NR_PAGES
    assert kernel.lruvec.nonresident_age - age == NR_PAGES
    assert machine.meminfo()["Dirty"] == 0  # the flusher wrote them
    assert list(file_lru.inactive)[:NR_PAGES] == pfns[::-1]  # at the tail, next to go
    cached = machine.meminfo()["Cached"]
    victims = [file_lru.choose_victim(kernel.rmap.page_referenced) for _ in range(NR_PAGES)]
    assert sorted(pfn for pfn in victims if pfn is not None) == pfns
    assert shrink_file_list(kernel, [pfn for pfn in victims if pfn is not None]) == NR_PAGES
    assert machine.meminfo()["Cached"] == cached - NR_PAGES * 4
    assert machine.pread_file(pid, fd, 4, 3 * PAGE_SIZE) == b"dddd"  # read back from disk
    machine.check_invariants()


def test_an_anon_list_under_4096_pages_waits_for_the_file_pages_at_def_priority(
    make_machine: MachineFactory,
) -> None:
    """get_scan_count's share of a list is its size >> priority: at DEF_PRIORITY (12) an anon
    list of fewer than 4096 pages gets none beside a file list that has more (as when the
    cache refaults, so it is not trimmed alone), and is scanned only once the file pages run
    dry."""
    machine = make_machine(ram_bytes=64 * MiB)
    kernel = machine.kernel
    pid = machine.spawn()
    fd = machine.open_file(pid, "big", OpenFlag.O_RDWR | OpenFlag.O_CREAT)
    machine.write_file(pid, fd, b"f" * 5000 * PAGE_SIZE)
    machine.fsync(pid, fd)
    write_pages(machine, pid, 100)
    lruvec = kernel.lruvec
    lruvec.refaults_file = kernel.vm_events.workingset_activate_file - 1  # refaulting
    balance, anon_weight, file_weight = get_scan_count(lruvec, kernel)
    assert (balance, anon_weight) == (ScanBalance.SCAN_FILE_FIRST, 0) and file_weight > 0
    before = machine.vmstat()
    assert shrink_pages(kernel, 64, direct=True) == 64
    after = machine.vmstat()
    assert after["pgsteal_anon"] == before["pgsteal_anon"]
    assert after["pgsteal_file"] - before["pgsteal_file"] == 64
    machine.check_invariants()
