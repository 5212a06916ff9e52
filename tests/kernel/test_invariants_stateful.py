"""A hypothesis state machine drives random syscalls; every invariant is checked after each step."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.kernel.conftest import RW

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    KernelError,
    Machine,
    MachineConfig,
    Madvise,
    MiB,
)
from vmsim_kernel.arch.x86.constants import TASK_SIZE, ZoneType
from vmsim_kernel.arch.x86.pgtable import PTE_MAPPED
from vmsim_kernel.fs.vfs import OpenFlag
from vmsim_kernel.mm.mremap import MremapFlag
from vmsim_kernel.mm.page_alloc import WatermarkLevel
from vmsim_kernel.mm.unmap import pte_runs
from vmsim_kernel.mm.vmscan import SWAP_CLUSTER_MAX
from vmsim_kernel.results import Event, EventKind

PROTS = st.sampled_from([PROT_NONE, PROT_READ, RW])
# mremap's ways, with their flags: in place or fail, may move, to a free address, leaving
# the old range mapped and empty
REMAPS = {
    "resize": 0,
    "maymove": int(MremapFlag.MAYMOVE),
    "fixed": int(MremapFlag.MAYMOVE | MremapFlag.FIXED),
    "dontunmap": int(MremapFlag.MAYMOVE | MremapFlag.DONTUNMAP),
}


FILES = ("a", "b")  # the files the processes write, read and map
FILE_PAGES = 48  # the largest page offset a file write starts at


class VirtualMemory(RuleBasedStateMachine):
    """Processes mmap/munmap/mremap/mprotect/touch/write/exit, and write, read and map files, on a
    small machine that must swap and drop page cache pages."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.machine = Machine(
            MachineConfig(
                ram_bytes=4 * MiB,
                swap_bytes=4 * MiB,
                swap_path=str(Path(self.directory.name) / "swap"),
            )
        )
        self.live: list[int] = []
        self.mappings: dict[int, list[tuple[int, int]]] = {}
        self.contents: dict[tuple[int, int], bytes] = {}
        # Pages MADV_FREE made lazyfree and nothing wrote since: reclaim may have discarded
        # them, so they read back as what was written or as zeros (then zeros for good).
        self.lazy: set[tuple[int, int]] = set()
        self.early_swap_outs: list[int] = []
        self.last_swap_out_seq = -2
        self.run_past_high = 0
        # What each file must hold: every byte written by pwrite or through a MAP_SHARED
        # mapping of it, whatever reclaim and writeback did to its pages since.
        self.files: dict[str, bytearray] = {}
        self.machine.add_event_listener(self._on_swap_out, frozenset({EventKind.SWAP_OUT}))

    def _on_swap_out(self, event: Event) -> None:
        """Reclaim must not start swapping while every zone a user page may use is above its
        high mark. A batch it started below the mark is written and freed whole, as Linux's
        shrink_folio_list does (it checks no watermark within its list), so its later pages
        may see the zones above high: up to SWAP_CLUSTER_MAX of them in one run of swap-outs
        (consecutive event numbers: nothing else happened between them)."""
        zones = [zone for zone in self.machine.kernel.allocator.zones if not zone.is_empty]
        above_high = all(
            z.watermark_ok(0, WatermarkLevel.HIGH, classzone=ZoneType.HIGHMEM) for z in zones
        )
        if event.seq != self.last_swap_out_seq + 1:  # a new run: reclaim's decision to swap
            self.run_past_high = 0
            if above_high:
                self.early_swap_outs.append(event.seq)
        elif above_high:
            self.run_past_high += 1
            if self.run_past_high > SWAP_CLUSTER_MAX:
                self.early_swap_outs.append(event.seq)
        self.last_swap_out_seq = event.seq

    def teardown(self) -> None:
        self.machine.close()
        self.directory.cleanup()

    def _forget(self, pid: int) -> None:
        self.live.remove(pid)
        self.mappings.pop(pid, None)
        for key in [k for k in self.contents if k[0] == pid]:
            del self.contents[key]

    def _sync_deaths(self) -> None:
        for pid in list(self.live):
            if self.machine.process(pid).state.value != "R":
                self._forget(pid)

    @rule(adj=st.integers(-100, 100))
    def spawn(self, adj: int) -> None:
        if len(self.live) < 4:
            pid = self.machine.spawn(oom_score_adj=adj)
            self.live.append(pid)
            self.mappings[pid] = []

    @precondition(lambda self: self.live)
    @rule(data=st.data(), pages=st.integers(1, 300), shared=st.booleans())
    def mmap(self, data: st.DataObject, pages: int, shared: bool) -> None:
        pid = data.draw(st.sampled_from(self.live))
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | MAP_ANONYMOUS
        try:
            addr = self.machine.mmap(pid, 0, pages * PAGE_SIZE, RW, flags)
        except KernelError:
            self._sync_deaths()
            return
        self.mappings[pid].append((addr, pages))

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data())
    def touch_range(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        addr, pages = data.draw(st.sampled_from(self.mappings[pid]))
        first = data.draw(st.integers(0, pages - 1))
        count = data.draw(st.integers(1, pages - first))
        write = data.draw(st.booleans())
        try:
            self.machine.touch_many(
                pid, [addr + (first + i) * PAGE_SIZE for i in range(count)], write
            )
        except KernelError:
            self._sync_deaths()

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data(), payload=st.binary(min_size=1, max_size=64))
    def write_and_remember(self, data: st.DataObject, payload: bytes) -> None:
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        addr, pages = data.draw(st.sampled_from(self.mappings[pid]))
        page = data.draw(st.integers(0, pages - 1))
        try:
            self.machine.write(pid, addr + page * PAGE_SIZE, payload)
        except KernelError:
            self._sync_deaths()
            return
        page_va = addr + page * PAGE_SIZE
        vma = self.machine.tasks[pid].mm.find_vma(page_va)
        if vma is not None and vma.file is not None and vma.shared:  # the file's bytes now
            offset = vma.shmem_index(page_va) * PAGE_SIZE
            self.files[vma.file.inode.name][offset : offset + len(payload)] = payload
            return
        if vma is not None and vma.shared:  # another process may map the same page
            for key in [k for k in self.contents if k[1] == page_va and k[0] != pid]:
                del self.contents[key]
        self.contents[(pid, page_va)] = payload
        self.lazy.discard((pid, page_va))

    @precondition(lambda self: self.contents)
    @rule(data=st.data())
    def read_back(self, data: st.DataObject) -> None:
        (pid, addr), payload = data.draw(st.sampled_from(sorted(self.contents.items())))
        try:
            got = self.machine.read(pid, addr, len(payload))
        except KernelError:
            self._sync_deaths()
            return
        if (pid, addr) in self.lazy and got == bytes(len(payload)):
            self.contents[(pid, addr)] = got  # discarded by reclaim: zeros from now on
            self.lazy.discard((pid, addr))
            return
        assert got == payload

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data())
    def munmap_part(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        index = data.draw(st.integers(0, len(self.mappings[pid]) - 1))
        addr, pages = self.mappings[pid][index]
        first = data.draw(st.integers(0, pages - 1))
        count = data.draw(st.integers(1, pages - first))
        self.machine.munmap(pid, addr + first * PAGE_SIZE, count * PAGE_SIZE)
        del self.mappings[pid][index]
        if first:
            self.mappings[pid].append((addr, first))
        if first + count < pages:
            self.mappings[pid].append((addr + (first + count) * PAGE_SIZE, pages - first - count))
        lo, hi = addr + first * PAGE_SIZE, addr + (first + count) * PAGE_SIZE
        for key in [k for k in self.contents if k[0] == pid and lo <= k[1] < hi]:
            del self.contents[key]

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data(), new_pages=st.integers(1, 96), how=st.sampled_from(tuple(REMAPS)))
    def mremap(self, data: st.DataObject, new_pages: int, how: str) -> None:
        """Shrink, grow (in place or moved) or move a mapping: private bytes go with it; a
        shared mapping's are forgotten (another process may write them at its old address)."""
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        index = data.draw(st.integers(0, len(self.mappings[pid]) - 1))
        addr, pages = self.mappings[pid][index]
        mm = self.machine.tasks[pid].mm
        vma = mm.find_vma(addr)
        flags, new_addr = REMAPS[how], 0
        if how == "dontunmap":
            new_pages = pages
        elif how == "fixed":
            new_addr = mm.get_unmapped_area(new_pages * PAGE_SIZE, 0) or 0
        try:
            moved = self.machine.mremap(
                pid, addr, pages * PAGE_SIZE, new_pages * PAGE_SIZE, flags, new_addr
            )
        except KernelError:  # the range spans two VMAs, no room, a limit, or an OOM kill
            self._sync_deaths()
            return
        if how != "dontunmap":
            del self.mappings[pid][index]
        self.mappings[pid].append((moved, new_pages))
        old_end = addr + pages * PAGE_SIZE
        for key in [k for k in self.contents if k[0] == pid and addr <= k[1] < old_end]:
            payload = self.contents.pop(key)
            offset = key[1] - addr
            if offset < new_pages * PAGE_SIZE and vma is not None and not vma.shared:
                self.contents[(pid, moved + offset)] = payload

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data(), prot=PROTS)
    def mprotect_then_restore(self, data: st.DataObject, prot: int) -> None:
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        addr, pages = data.draw(st.sampled_from(self.mappings[pid]))
        try:
            self.machine.mprotect(pid, addr, pages * PAGE_SIZE, prot)
            self.machine.mprotect(pid, addr, pages * PAGE_SIZE, RW)
        except KernelError:
            self._sync_deaths()

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data())
    def dontneed(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        addr, pages = data.draw(st.sampled_from(self.mappings[pid]))
        try:
            self.machine.madvise(pid, addr, pages * PAGE_SIZE, Madvise.DONTNEED)
        except KernelError:  # refused on an mlocked range: nothing was dropped
            return
        for key in [
            k for k in self.contents if k[0] == pid and addr <= k[1] < addr + pages * PAGE_SIZE
        ]:
            del self.contents[key]

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data())
    def madv_free(self, data: st.DataObject) -> None:
        """MADV_FREE a whole mapping: its private anonymous pages become lazyfree (a shared,
        file or mlocked mapping is refused and nothing changes)."""
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        addr, pages = data.draw(st.sampled_from(self.mappings[pid]))
        try:
            self.machine.madvise(pid, addr, pages * PAGE_SIZE, Madvise.FREE)
        except KernelError:
            return
        self.lazy |= {
            k for k in self.contents if k[0] == pid and addr <= k[1] < addr + pages * PAGE_SIZE
        }

    @precondition(lambda self: any(self.mappings.get(p) for p in self.live))
    @rule(data=st.data(), lock=st.booleans())
    def mlock_or_munlock(self, data: st.DataObject, lock: bool) -> None:
        pid = data.draw(st.sampled_from([p for p in self.live if self.mappings[p]]))
        addr, pages = data.draw(st.sampled_from(self.mappings[pid]))
        try:
            if lock:
                self.machine.mlock(pid, addr, min(pages, 64) * PAGE_SIZE)
            else:
                self.machine.munlock(pid, addr, pages * PAGE_SIZE)
        except KernelError:
            self._sync_deaths()

    @precondition(lambda self: self.live and len(self.live) < 4)
    @rule(data=st.data())
    def fork(self, data: st.DataObject) -> None:
        """The child sees every byte the parent wrote; later writes of either side are their
        own (copy-on-write), but for MAP_SHARED pages (write_and_remember forgets the
        other processes' copy of those)."""
        parent = data.draw(st.sampled_from(self.live))
        try:
            child = self.machine.fork(parent)
        except KernelError:
            self._sync_deaths()
            return
        self.live.append(child)
        self.mappings[child] = list(self.mappings[parent])
        for (pid, addr), payload in list(self.contents.items()):
            if pid == parent:
                self.contents[(child, addr)] = payload
                if (pid, addr) in self.lazy:
                    self.lazy.add((child, addr))

    @precondition(lambda self: self.live)
    @rule(
        data=st.data(),
        name=st.sampled_from(FILES),
        page=st.integers(0, FILE_PAGES),
        nr_pages=st.integers(1, 16),
        fill=st.integers(1, 255),
    )
    def file_write(
        self, data: st.DataObject, name: str, page: int, nr_pages: int, fill: int
    ) -> None:
        """pwrite whole pages (each its own bytes), so a file is always whole pages long."""
        pid = data.draw(st.sampled_from(self.live))
        payload = b"".join(bytes([fill, page + i]) * (PAGE_SIZE // 2) for i in range(nr_pages))
        try:
            fd = self.machine.open_file(pid, name, OpenFlag.O_RDWR | OpenFlag.O_CREAT)
            written = self.machine.pwrite_file(pid, fd, payload, page * PAGE_SIZE)
            self.machine.close_file(pid, fd)
        except KernelError:
            self._sync_deaths()
            return
        assert written == len(payload)
        model = self.files.setdefault(name, bytearray())
        end = page * PAGE_SIZE + len(payload)
        if len(model) < end:
            model.extend(bytes(end - len(model)))
        model[page * PAGE_SIZE : end] = payload

    @precondition(lambda self: self.live and self.files)
    @rule(data=st.data())
    def file_read_back(self, data: st.DataObject) -> None:
        """Every byte of the file is what was written, through read(2)."""
        pid = data.draw(st.sampled_from(self.live))
        name = data.draw(st.sampled_from(sorted(self.files)))
        try:
            fd = self.machine.open_file(pid, name)
            got = self.machine.read_file(pid, fd, len(self.files[name]) + PAGE_SIZE)
            self.machine.close_file(pid, fd)
        except KernelError:
            self._sync_deaths()
            return
        assert got == bytes(self.files[name])

    @precondition(lambda self: self.live and self.files)
    @rule(data=st.data(), shared=st.booleans())
    def file_mmap(self, data: st.DataObject, shared: bool) -> None:
        """Map a whole file; the touch, write, munmap, fork and exit rules then use it."""
        pid = data.draw(st.sampled_from(self.live))
        name = data.draw(st.sampled_from(sorted(self.files)))
        length = len(self.files[name])
        try:
            fd = self.machine.open_file(pid, name, OpenFlag.O_RDWR)
            addr = self.machine.mmap_file(
                pid, fd, 0, length, RW, MAP_SHARED if shared else MAP_PRIVATE
            )
            self.machine.close_file(pid, fd)  # the mapping keeps the file
        except KernelError:
            self._sync_deaths()
            return
        self.mappings[pid].append((addr, length // PAGE_SIZE))

    @precondition(lambda self: self.live and self.files)
    @rule(data=st.data())
    def sync_or_drop_caches(self, data: st.DataObject) -> None:
        if data.draw(st.booleans()):
            self.machine.sync()
        else:
            self.machine.set_sysctl("vm.drop_caches", "1")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def exit(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self.live))
        self.machine.exit(pid)
        self._forget(pid)

    @invariant()
    def no_swap_out_while_every_zone_is_above_high(self) -> None:
        assert self.early_swap_outs == []

    @invariant()
    def zero_page_mappings_are_never_in_rss(self) -> None:
        machine = self.machine
        zero_pfn = machine.kernel.zero_pfn
        assert (
            machine.kernel.physmem.mapcount[zero_pfn] == 0
            and zero_pfn not in machine.kernel.lruvec.policy
        )
        for pid in self.live:
            mm = machine.tasks[pid].mm
            present = zero_mapped = 0
            for _va, first, count in pte_runs(machine.kernel, mm, 0, TASK_SIZE):
                entries = machine.kernel.ram32[first : first + count]
                is_present = (entries & np.uint32(PTE_MAPPED)) != 0
                present += int(is_present.sum())
                zero_mapped += int(
                    np.count_nonzero(entries[is_present] >> np.uint32(12) == zero_pfn)
                )
            assert mm.rss == present - zero_mapped
            assert machine.process(pid).vm_rss == mm.rss * PAGE_SIZE

    @invariant()
    def page_cache_pages_are_each_files_once(self) -> None:
        """A file's pages are its own, counted once: Cached is the page cache plus shmem,
        and a file holds no page past its end."""
        kernel = self.machine.kernel
        for name, model in self.files.items():
            inode = kernel.fs.names[name]
            assert inode.size == len(model)
            assert all(index * PAGE_SIZE < inode.size for index in inode.mapping.pages)
        nr_cached = sum(len(inode.mapping.pages) for inode in kernel.fs.inodes.values())
        assert nr_cached == len(kernel.fs.owner_of) == len(set(kernel.fs.owner_of))

    @invariant()
    def everything_adds_up(self) -> None:
        self.machine.check_invariants()
        info = self.machine.meminfo()
        assert info["MemFree"] <= info["MemTotal"]
        stats = self.machine.vmstat()
        assert stats["pgfault"] >= stats["pgmajfault"]


VirtualMemory.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestVirtualMemory = pytest.mark.slow(VirtualMemory.TestCase)  # many random runs


def test_a_few_short_random_runs_keep_every_invariant() -> None:
    """The fast tier's share of the state machine above: the same rules, three short runs."""
    from hypothesis.stateful import run_state_machine_as_test

    brief = settings(
        max_examples=3,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    run_state_machine_as_test(VirtualMemory, settings=brief)
