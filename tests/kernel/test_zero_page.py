"""The shared zero page, checked against the host kernel and a real 32-bit Linux.

The same access script runs on the host (Python mmap, getrusage ru_minflt, RssAnon) and on
the simulated machine: mmap N anonymous pages with MADV_NOHUGEPAGE; read all; write all;
write all again; munmap. Linux maps the zero page on each first read (a minor fault, no
RSS), copies it on the first write (a second minor fault, RSS grows), and the rewrite is free.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from tests.kernel.conftest import ANON, RW, MachineFactory, free_with_pcp, pages

from vmsim_kernel import Machine
from vmsim_kernel.arch.x86.constants import PAGE_SIZE, Madvise, MiB
from vmsim_kernel.results import FaultResult

ANON_SHARED = 0x21
NR_PAGES = 2000

HOST_SCRIPT = textwrap.dedent(
    """
    import json, mmap, resource, sys

    def minflt():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def rss_anon_kb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        raise SystemExit("no RssAnon in /proc/self/status")

    n = int(sys.argv[1])
    page = mmap.PAGESIZE
    area = mmap.mmap(-1, n * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    area.madvise(mmap.MADV_NOHUGEPAGE)
    offsets = range(0, n * page, page)
    out = {"rss0": rss_anon_kb()}
    before = minflt()
    total = 0
    for offset in offsets:
        total += area[offset]
    out["read"] = minflt() - before
    out["rss_read"] = rss_anon_kb()
    for phase in ("write", "rewrite"):
        before = minflt()
        for offset in offsets:
            area[offset] = 1
        out[phase] = minflt() - before
        out["rss_" + phase] = rss_anon_kb()
    area.close()
    out["rss_unmapped"] = rss_anon_kb()
    print(json.dumps(out))
    """
)


def run_on_host(nr_pages: int) -> dict[str, int]:
    """The access script on the host kernel; minor faults per phase and RssAnon in kB."""
    done = subprocess.run(
        [sys.executable, "-c", HOST_SCRIPT, str(nr_pages)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


def run_on_vmsim(machine: Machine, nr_pages: int) -> dict[str, int]:
    """The same script on the simulated machine, measured the same way."""
    pid = machine.spawn("script")

    def minflt() -> int:
        return machine.process(pid).minor_faults

    def rss_anon_kb() -> int:
        return machine.process(pid).vm_rss // 1024

    addr = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.madvise(pid, addr, nr_pages * PAGE_SIZE, Madvise.NOHUGEPAGE)
    every = pages(addr, nr_pages)
    out = {"rss0": rss_anon_kb()}
    before = minflt()
    machine.touch_many(pid, every, False)
    out["read"] = minflt() - before
    out["rss_read"] = rss_anon_kb()
    for phase in ("write", "rewrite"):
        before = minflt()
        machine.touch_many(pid, every, True)
        out[phase] = minflt() - before
        out["rss_" + phase] = rss_anon_kb()
    machine.munmap(pid, addr, nr_pages * PAGE_SIZE)
    out["rss_unmapped"] = rss_anon_kb()
    return out


def within_two_percent(host: int, simulated: int, scale: int) -> bool:
    return abs(host - simulated) <= 0.02 * scale


@pytest.mark.subprocess
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs the host's Linux kernel")
def test_fault_counts_and_rss_match_the_host_kernel(make_machine: MachineFactory) -> None:
    host = run_on_host(NR_PAGES)
    simulated = run_on_vmsim(make_machine(ram_bytes=64 * MiB), NR_PAGES)
    print(f"\ndifferential ({NR_PAGES} pages): host {host}\n{' ' * 30}vmsim {simulated}")
    # The simulated machine follows Linux exactly.
    assert simulated["read"] == simulated["write"] == NR_PAGES and simulated["rewrite"] == 0
    assert simulated["rss_read"] == simulated["rss0"]
    assert simulated["rss_write"] - simulated["rss0"] == NR_PAGES * PAGE_SIZE // 1024
    assert simulated["rss_unmapped"] == simulated["rss0"]
    # The host agrees within 2% (its interpreter faults on a few pages of its own).
    for phase in ("read", "write", "rewrite"):
        assert within_two_percent(host[phase], simulated[phase], NR_PAGES), phase
    grown_kb = NR_PAGES * PAGE_SIZE // 1024
    for phase in ("rss_read", "rss_write", "rss_rewrite", "rss_unmapped"):
        assert within_two_percent(
            host[phase] - host["rss0"], simulated[phase] - simulated["rss0"], grown_kb
        ), phase


def test_reading_8_mib_faults_2048_times_without_rss_like_linux32(machine: Machine) -> None:
    """linux32 b-1g-4k: read 8 MiB = 2048 minor faults, VmRSS unchanged; writing = 2048 more."""
    simulated = run_on_vmsim(machine, 8 * MiB // PAGE_SIZE)
    assert (simulated["read"], simulated["write"], simulated["rewrite"]) == (2048, 2048, 0)
    assert simulated["rss_read"] == simulated["rss0"]
    assert simulated["rss_write"] - simulated["rss0"] == 8 * 1024


def test_a_read_maps_the_zero_page_read_only_and_a_write_copies_it(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 2 * PAGE_SIZE, RW, ANON)
    free_before = free_with_pcp(machine.kernel.allocator)
    assert machine.touch(pid, addr) is FaultResult.MINOR
    assert machine.touch(pid, addr + PAGE_SIZE) is FaultResult.MINOR
    for page in (addr, addr + PAGE_SIZE):
        walk = machine.translate(pid, page)
        assert walk.pfn == machine.kernel.zero_pfn and not walk.writable
    assert machine.read(pid, addr, 16) == bytes(16)
    assert free_with_pcp(machine.kernel.allocator) == free_before - 1  # only the page table
    assert machine.vmstat()["nr_anon_pages"] == 0 and len(machine.kernel.lruvec.policy) == 0
    assert machine.touch(pid, addr) is FaultResult.HIT
    # The first write is a write-protect fault that gives the page a zeroed frame of its own.
    assert machine.touch(pid, addr, write=True) is FaultResult.MINOR
    walk = machine.translate(pid, addr)
    assert walk.pfn != machine.kernel.zero_pfn and walk.writable and walk.dirty
    assert machine.read(pid, addr, 16) == bytes(16)
    assert machine.process(pid).vm_rss == PAGE_SIZE
    assert machine.kernel.physmem.read_phys(
        machine.kernel.zero_pfn * PAGE_SIZE, PAGE_SIZE
    ) == bytes(PAGE_SIZE)
    smaps = machine.maps(pid)[0]
    assert smaps.rss == PAGE_SIZE  # the zero-page mapping is not in Rss
    machine.check_invariants()


def test_mprotect_never_makes_the_zero_page_writable(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, 1, ANON)  # PROT_READ
    machine.touch(pid, addr)
    machine.mprotect(pid, addr, PAGE_SIZE, RW)
    assert not machine.translate(pid, addr).writable
    machine.write(pid, addr, b"mine")
    assert machine.read(pid, addr, 4) == b"mine"
    assert machine.kernel.physmem.read_phys(machine.kernel.zero_pfn * PAGE_SIZE, 4) == bytes(4)
    machine.check_invariants()


def test_shared_anonymous_reads_allocate_like_shmem(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, PAGE_SIZE, RW, ANON_SHARED)
    machine.touch(pid, addr)
    assert machine.translate(pid, addr).pfn != machine.kernel.zero_pfn


def test_zero_page_mappings_go_away_with_munmap_dontneed_and_exit(machine: Machine) -> None:
    pid = machine.spawn()
    addr = machine.mmap(pid, 0, 64 * PAGE_SIZE, RW, ANON)
    every = pages(addr, 64)
    machine.touch_many(pid, every, False)
    machine.madvise(pid, addr, 32 * PAGE_SIZE, Madvise.DONTNEED)
    assert machine.translate(pid, addr).pte == 0
    machine.munmap(pid, addr + 32 * PAGE_SIZE, 16 * PAGE_SIZE)
    machine.check_invariants()
    machine.exit(pid)
    machine.check_invariants()
