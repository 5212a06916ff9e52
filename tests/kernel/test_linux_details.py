"""Small things Linux does that the simulator must do the same way (issue 9's list)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from tests.fresh_python import run_fresh_python
from tests.kernel.conftest import ANON, RW, MachineFactory

from vmsim_kernel import (
    Machine,
    MachineConfig,
    MiB,
    NoSuchProcess,
    OvercommitMode,
    ProcessKilled,
    SegmentationFault,
)
from vmsim_kernel.arch.x86.constants import PAGE_OFFSET, PAGE_SIZE, Prot
from vmsim_kernel.mm.highmem import kernel_walk
from vmsim_kernel.mm.oom_kill import oom_badness
from vmsim_kernel.results import Event, EventKind


def test_user_and_kernel_pdes_carry_page_table_and_kernpg_table(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)
    machine.touch(pid, addr, write=True)
    assert machine.translate(pid, addr).pde & 0xFFF == 0x067  # _PAGE_TABLE
    walk = kernel_walk(machine.kernel.init_mm, PAGE_OFFSET + 0x100000)
    assert walk.pde & 0xFFF == 0x063  # _KERNPG_TABLE
    assert walk.pte is not None and walk.pte & 0xFFF == 0x163  # PAGE_KERNEL | _PAGE_GLOBAL


def test_vmalloc_ptes_are_page_kernel_with_dirty_set(machine: Machine) -> None:
    addr = machine.vmalloc(PAGE_SIZE)
    walk = kernel_walk(machine.kernel.init_mm, addr)
    assert walk.pte is not None and walk.pte & 0xFFF == 0x163


def test_segv_carries_its_si_code(make_machine: MachineFactory) -> None:
    machine = make_machine()
    cases = []
    pid = machine.spawn()
    with pytest.raises(SegmentationFault) as unmapped:
        machine.touch(pid, 0x1000)
    cases.append(unmapped.value)
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, int(Prot.READ), ANON)
    with pytest.raises(SegmentationFault) as read_only:
        machine.touch(pid, addr, write=True)
    cases.append(read_only.value)
    pid = machine.spawn()
    with pytest.raises(SegmentationFault) as kernel_space:
        machine.touch(pid, PAGE_OFFSET)
    cases.append(kernel_space.value)
    assert [c.si_code for c in cases] == ["SEGV_MAPERR", "SEGV_ACCERR", "SEGV_MAPERR"]
    assert all(c.reason.endswith(f"({c.si_code})") for c in cases)


def test_oom_score_is_the_2_3_scaled_badness_and_a_proc_file(machine: Machine) -> None:
    pid = machine.spawn(oom_score_adj=100)
    addr = machine.mmap(pid, 0, 4 * MiB, RW, ANON)
    machine.touch_many(pid, range(addr, addr + 4 * MiB, PAGE_SIZE), True)
    # Worked by hand, as mm/oom_kill.c and fs/proc/base.c count: totalpages is RAM + swap,
    # MemTotal 13764 kB + SwapTotal 32764 kB = 3441 + 8191 = 11632 pages; badness is
    # 1024 resident + 0 swapped + 1 page table + oom_score_adj 100 * (11632 // 1000) = 2125;
    # oom_score = (1000 + 2125 * 1000 // 11632) * 2 // 3 = (1000 + 182) * 2 // 3 = 788.
    info = machine.meminfo()
    assert (info["MemTotal"], info["SwapTotal"]) == (13764, 32764)
    assert machine.kernel.oom_totalpages == 11632
    assert oom_badness(machine.tasks[pid], 11632) == 2125
    assert machine.process(pid).oom_score == 788
    assert machine.report("oom_score", pid) == "788\n"
    assert machine.report("oom_score_adj", pid) == "100\n"
    idle = machine.spawn(oom_score_adj=-1000)
    assert machine.report("oom_score", idle) == "0\n"


def test_status_counts_threads(machine: Machine) -> None:
    pid = machine.spawn()
    tids = [machine.spawn_thread(pid) for _ in range(3)]
    assert "Threads:\t4\n" in machine.report("status", pid)
    machine.exit_thread(pid, tids[0])
    assert "Threads:\t3\n" in machine.report("status", pid)


def test_the_oom_kill_event_comes_before_the_victims_exit(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=0, overcommit_memory=OvercommitMode.ALWAYS)
    seen: list[Event] = []
    machine.add_event_listener(seen.append, frozenset({EventKind.OOM_KILL, EventKind.PROCESS_EXIT}))
    pid = machine.spawn("hog")
    addr = machine.mmap(pid, 0, 16 * MiB, RW, ANON)
    with pytest.raises(ProcessKilled):  # the hog is the victim
        machine.touch_many(pid, range(addr, addr + 16 * MiB, PAGE_SIZE), True)
    kinds = [(event.kind, event.pid) for event in seen]
    assert kinds == [(EventKind.OOM_KILL, pid), (EventKind.PROCESS_EXIT, pid)]


def test_a_call_on_an_exited_process_is_esrch_not_a_kill(machine: Machine) -> None:
    pid = machine.spawn()
    machine.exit(pid)
    with pytest.raises(NoSuchProcess, match="exited"):
        machine.mmap(pid, 0, PAGE_SIZE, RW, ANON)


def test_prot_none_is_p_clear_with_protnone_and_keeps_the_frame(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 2 * PAGE_SIZE, RW, ANON)
    machine.write(pid, addr, b"kept")
    pfn = machine.translate(pid, addr).pfn
    machine.mprotect(pid, addr, 2 * PAGE_SIZE, int(Prot.NONE))
    walk = machine.translate(pid, addr)
    assert walk.pte is not None and walk.pte & 0x1 == 0 and walk.pte & 0x100
    assert walk.pfn == pfn and walk.swap_offset is None and "PROT_NONE" in (walk.fault or "")
    assert machine.process(pid).vm_rss == PAGE_SIZE
    machine.check_invariants()
    machine.mprotect(pid, addr, 2 * PAGE_SIZE, RW)
    assert machine.read(pid, addr, 4) == b"kept"
    machine.mprotect(pid, addr, 2 * PAGE_SIZE, int(Prot.NONE))
    with pytest.raises(SegmentationFault) as fault:
        machine.touch(pid, addr)
    assert fault.value.si_code == "SEGV_ACCERR"


@pytest.mark.slow
def test_map_shared_anonymous_memory_is_shmem(make_machine: MachineFactory) -> None:
    machine = make_machine(ram_bytes=8 * MiB, swap_bytes=16 * MiB)
    pid = machine.spawn()
    shared = machine.mmap(pid, 0, 16 * PAGE_SIZE, RW, 0x21)  # MAP_SHARED | MAP_ANONYMOUS
    private = machine.mmap(pid, 0, 4 * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, range(shared, shared + 16 * PAGE_SIZE, PAGE_SIZE), True)
    machine.touch_many(pid, range(private, private + 4 * PAGE_SIZE, PAGE_SIZE), True)
    meminfo, status = machine.meminfo(), machine.report("status", pid)
    assert meminfo["Shmem"] == meminfo["Cached"] == 64 and meminfo["AnonPages"] == 16
    assert "RssShmem:\t      64 kB" in status and "RssAnon:\t      16 kB" in status
    assert machine.process(pid).vm_rss == 80 * 1024
    assert machine.vmstat()["nr_shmem"] == 16
    smaps = {info.start: info for info in machine.maps(pid)}
    assert smaps[shared].anonymous == 0 and smaps[private].anonymous == 4 * PAGE_SIZE
    # Under pressure shmem pages swap like anonymous ones and keep their kind.
    hog = machine.spawn()
    big = machine.mmap(hog, 0, 12 * MiB, RW, ANON)
    machine.touch_many(hog, range(big, big + 12 * MiB, PAGE_SIZE), True)
    machine.check_invariants()
    machine.touch_many(pid, range(shared, shared + 16 * PAGE_SIZE, PAGE_SIZE), False)
    assert machine.tasks[pid].mm.rss_shmem == 16
    machine.check_invariants()


def test_ps_lists_the_live_processes_unless_asked_for_all(machine: Machine) -> None:
    alive, ended = machine.spawn("alive"), machine.spawn("ended")
    machine.exit(ended)
    assert [p.pid for p in machine.processes()] == [alive]
    assert [p.pid for p in machine.processes(include_dead=True)] == [alive, ended]


@pytest.mark.subprocess
def test_a_machine_never_closed_leaves_no_swap_file(tmp_path: Path) -> None:
    script = (
        "from vmsim_kernel import Machine, MachineConfig\n"
        "machine = Machine(MachineConfig(swap_bytes=1 << 20))\n"
        "print(machine.swap.path)\n"
    )
    done = run_fresh_python(script, timeout=60)
    assert not Path(done.stdout.strip()).exists()
    # The temporary swap file is anonymous from the start (unlinked at once, as /proc/swaps
    # shows with "(deleted)"), so even a process that dies without closing leaves nothing.
    machine = Machine(MachineConfig(swap_bytes=1 << 20))
    assert machine.swap is not None
    assert machine.swap.path.endswith("(deleted)")
    assert not Path(machine.swap.path).exists()
    del machine
    gc.collect()
