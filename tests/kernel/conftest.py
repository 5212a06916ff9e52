"""Fixtures for kernel tests: small machines whose swap file lives in tmp_path."""

from __future__ import annotations

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


@pytest.fixture
def make_machine(tmp_path: Path) -> Iterator[MachineFactory]:
    """Build machines with config overrides; all are closed after the test."""
    machines: list[Machine] = []

    def factory(**overrides: Any) -> Machine:
        settings: dict[str, Any] = {
            "ram_bytes": 16 * MiB,
            "swap_bytes": 32 * MiB,
            "swap_path": str(tmp_path / f"swap{len(machines)}"),
        }
        settings.update(overrides)
        machine = Machine(MachineConfig(**settings))
        machines.append(machine)
        return machine

    yield factory
    for machine in machines:
        machine.close()


@pytest.fixture
def machine(make_machine: MachineFactory) -> Machine:
    """A 16 MiB machine with 32 MiB of swap."""
    return make_machine()
