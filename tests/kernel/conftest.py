"""Fixtures and helpers for kernel tests: small machines whose swap file lives in tmp_path
(`machine` configured by a test's or module's `pytest.mark.machine(**overrides)`), pages
written with stamps that say whose they are, and a page pushed out to swap on demand."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vmsim_kernel import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    Machine,
    MachineConfig,
    MiB,
)
from vmsim_kernel.mm.vmscan import PageoutResult, pageout

MachineFactory = Callable[..., Machine]
# the mapping most tests make: writable, private, anonymous
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS


def pages(base: int, count: int) -> np.ndarray[Any, Any]:
    """The addresses of *count* pages from *base*, as touch_many takes them."""
    return np.arange(base, base + count * PAGE_SIZE, PAGE_SIZE, dtype=np.uint32)


def free_with_pcp(free_area_owner: Any) -> int:
    """Free pages of a zone or of the whole allocator counting the per-cpu lists too: a
    freed page may sit on a CPU's list (not in MemFree, as on Linux) rather than in the
    buddy lists, and an allocation may leave a refill's other pages there."""
    if hasattr(free_area_owner, "per_cpu_pageset"):
        return int(free_area_owner.nr_free_pages + free_area_owner.nr_pcp_pages)
    return int(free_area_owner.nr_free_pages() + free_area_owner.nr_pcp_pages())


def write_pages(machine: Machine, pid: int, nr_pages: int) -> int:
    """mmap *nr_pages* and write each once in one call; return the mapping's address."""
    addr = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, ANON)
    machine.touch_many(pid, pages(addr, nr_pages), write=True)
    return addr


def spawn_stamped(
    machine: Machine,
    nr_pages: int,
    flags: int = ANON,
    *,
    name: str = "parent",
    stamp: str = "page {}",
) -> tuple[int, int]:
    """A new process *name* with *nr_pages* mapped read-write (*flags*), each page starting
    with *stamp* formatted with its number, so a test can tell whose bytes a page holds;
    (pid, addr)."""
    pid = machine.spawn(name)
    addr = machine.mmap(pid, 0, nr_pages * PAGE_SIZE, RW, flags)
    for page in range(nr_pages):
        machine.write(pid, addr + page * PAGE_SIZE, stamp.format(page).encode())
    return pid, addr


def fork_stamped(machine: Machine, nr_pages: int, flags: int = ANON) -> tuple[int, int, int]:
    """spawn_stamped's process, then its child by fork(); (parent, child, addr)."""
    parent, addr = spawn_stamped(machine, nr_pages, flags)
    return parent, machine.fork(parent), addr


def stamp_pages(machine: Machine, pid: int, addr: int, nr_pages: int, tag: bytes) -> None:
    """Write *tag* and the page's number (4 bytes, little-endian) at the start of each page."""
    for page in range(nr_pages):
        machine.write(pid, addr + page * PAGE_SIZE, tag + page.to_bytes(4, "little"))


def stamped(
    machine: Machine, pid: int, addr: int, nr_pages: int, tag: bytes, step: int = 1
) -> list[bool]:
    """For every *step*-th page: whether it still holds what stamp_pages wrote there."""
    return [
        machine.read(pid, addr + page * PAGE_SIZE, len(tag) + 4) == tag + page.to_bytes(4, "little")
        for page in range(0, nr_pages, step)
    ]


def swap_out(machine: Machine, pid: int, addr: int) -> None:
    """Reclaim the page *pid* maps at *addr* as choose_victim does: off the LRU, then pageout."""
    pfn = machine.translate(pid, addr).pfn
    assert pfn is not None
    machine.kernel.lruvec.policy.remove(pfn)
    assert pageout(machine.kernel, pfn) is PageoutResult.SUCCESS


def field_shape(line: str) -> str:
    """A line with each padded number (its leading spaces and digits) replaced by '#'s of the
    field's width: equal for two lines printed with the same format whatever the values."""
    return re.sub(r" *\d+", lambda match: "#" * len(match.group()), line)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "machine(**overrides): MachineConfig overrides of the kernel tests' `machine` fixture",
    )


@pytest.fixture
def make_machine(tmp_path: Path) -> Iterator[MachineFactory]:
    """Build machines with config overrides; all are closed after the test."""
    swap_paths = (str(tmp_path / f"swap{n}") for n in itertools.count())
    with contextlib.ExitStack() as made:

        def factory(**overrides: Any) -> Machine:
            settings: dict[str, Any] = {
                "ram_bytes": 16 * MiB,
                "swap_bytes": 32 * MiB,
                "swap_path": next(swap_paths),
                **overrides,
            }
            return made.enter_context(contextlib.closing(Machine(MachineConfig(**settings))))

        yield factory


@pytest.fixture
def machine(make_machine: MachineFactory, request: pytest.FixtureRequest) -> Machine:
    """A 16 MiB machine with 32 MiB of swap, or as the test's (or its module's)
    `pytest.mark.machine(**overrides)` configures it."""
    mark = request.node.get_closest_marker("machine")
    return make_machine(**(mark.kwargs if mark is not None else {}))


@pytest.fixture
def gib_machine(make_machine: MachineFactory) -> Machine:
    """1 GiB of RAM and no swap: 896 MiB of low memory, HIGHMEM from max_low_pfn (MAXMEM,
    pfn 224254) on."""
    return make_machine(ram_bytes=1024 * MiB, swap_bytes=0)
