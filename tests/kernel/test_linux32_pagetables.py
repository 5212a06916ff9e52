"""meminfo's PageTables against the real i686 Linux 6.1 kernel's (issue 22: kernel memory).

Linux 6.1 counts a page in NR_PAGETABLE in pgtable_pte_page_ctor, which only pte_alloc_one
(a user PTE page) calls: i686 non-PAE's pgd_alloc and the kernel's own page tables
(pte_alloc_one_kernel) are not counted. So PageTables is the sum of the processes' VmPTE:
in cow-1g-4k's capture a fork adds exactly the child's VmPTE (312 kB), with no page for its
page directory. Linux's figures are read from the capture, never typed here.
"""

from __future__ import annotations

from tests.kernel import linux32
from tests.kernel.conftest import ANON, RW
from tests.kernel.linux32_run import booted

from vmsim_kernel import PAGE_SIZE

PTE_SPAN = 1024 * PAGE_SIZE  # the user memory one PTE page maps


def test_a_fork_adds_the_childs_vmpte_to_pagetables_and_no_page_directory() -> None:
    capture = linux32.load("cow-1g-4k")
    linux_before = capture.vp_values("meminfo", "p0-parent-write-all", "")["PageTables"]
    linux_after = capture.vp_values("meminfo", "fork", "")["PageTables"]
    linux_child_vmpte = capture.vp_values("proc", "fork", "C")["VmPTE"]
    assert linux_after - linux_before == linux_child_vmpte

    nr_pages = capture.vp_rows_of_kind("vma")[0].values["pages"]
    with booted(capture) as machine:
        parent = machine.spawn("P")
        addr = machine.mmap(parent, 0, nr_pages * PAGE_SIZE, RW, ANON)
        # one page per PTE page is enough to make every table the written mapping has
        machine.touch_many(parent, range(addr, addr + nr_pages * PAGE_SIZE, PTE_SPAN), True)
        before = machine.meminfo()["PageTables"]
        child = machine.fork(parent)
        after = machine.meminfo()["PageTables"]
        child_vmpte_kb = machine.process(child).vm_pte // 1024
        assert child_vmpte_kb == -(-nr_pages * PAGE_SIZE // PTE_SPAN) * PAGE_SIZE // 1024
        assert after - before == child_vmpte_kb
        machine.check_invariants()


def test_pagetables_is_the_sum_of_the_processes_vmpte() -> None:
    """Three processes, one of them with no page table yet: no page for any directory."""
    with booted(linux32.load("base-256m")) as machine:
        assert machine.meminfo()["PageTables"] == 0  # no process (Linux: init's sh and cat)
        pids = [machine.spawn() for _ in range(3)]
        for nr_tables, pid in enumerate(pids):
            addr = machine.mmap(pid, 0, max(1, nr_tables) * PTE_SPAN, RW, ANON)
            machine.touch_many(pid, range(addr, addr + nr_tables * PTE_SPAN, PTE_SPAN), True)
        vmpte_kb = [machine.process(pid).vm_pte // 1024 for pid in pids]
        assert vmpte_kb == [0, 4, 8]
        assert machine.meminfo()["PageTables"] == sum(vmpte_kb)
        assert machine.vmstat()["nr_page_table_pages"] == sum(vmpte_kb) // 4
        machine.check_invariants()
