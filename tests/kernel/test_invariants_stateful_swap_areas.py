"""The random-syscall state machine with swap areas coming and going: swapon and swapoff
steps among the others, every invariant (and every byte the processes wrote) checked after
each step."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test
from tests.kernel.conftest import RW
from tests.kernel.test_invariants_stateful import VirtualMemory

from vmsim_kernel import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, KernelError
from vmsim_kernel.errors import AlreadyExists, OutOfMemory

ANON = MAP_PRIVATE | MAP_ANONYMOUS
NAMES = ("s0", "s1", "s2")
PRIORITIES = st.sampled_from([-1, -1, 0, 5, 5])  # repeated: equal priorities take turns


class VirtualMemoryWithSwapAreas(VirtualMemory):
    """VirtualMemory, plus swapon of small areas, swapoff of any area (the boot one too), and
    a hog that pushes the other processes' pages out to the areas."""

    hog: int | None = None

    @rule(pages=st.integers(256, 1200))
    def hog_memory(self, pages: int) -> None:
        """A process the model does not follow (OOM's first victim) writes *pages* pages."""
        if self.hog is not None:
            with contextlib.suppress(KernelError):
                self.machine.exit(self.hog)
        self.hog = self.machine.spawn(oom_score_adj=1000)
        try:
            addr = self.machine.mmap(self.hog, 0, pages * PAGE_SIZE, RW, ANON)
            self.machine.touch_many(self.hog, [addr + i * PAGE_SIZE for i in range(pages)], True)
        except KernelError:
            self.hog = None
        self._sync_deaths()

    @rule(name=st.sampled_from(NAMES), pages=st.integers(2, 512), priority=PRIORITIES)
    def swapon(self, name: str, pages: int, priority: int) -> None:
        active = [row["filename"] for row in self.machine.swaps()]
        if f"/swap/{name}" in active:
            with pytest.raises(AlreadyExists):
                self.machine.swapon(name, pages * PAGE_SIZE, priority)
            assert [row["filename"] for row in self.machine.swaps()] == active
            return
        row = self.machine.swapon(name, pages * PAGE_SIZE, priority)
        assert row["filename"] == f"/swap/{name}" and row["used_kb"] == 0

    @precondition(lambda self: self.machine.swaps())
    @rule(data=st.data())
    def swapoff(self, data: st.DataObject) -> None:
        rows = self.machine.swaps()
        name = str(data.draw(st.sampled_from([row["filename"] for row in rows])))
        swap_total = self.machine.meminfo()["SwapTotal"]
        try:
            self.machine.swapoff(name)
        except OutOfMemory:  # did not fit: the area stays on, unchanged
            assert self.machine.swaps() == rows
            return
        gone = next(row for row in rows if row["filename"] == name)
        assert name not in [row["filename"] for row in self.machine.swaps()]
        assert self.machine.meminfo()["SwapTotal"] == swap_total - int(gone["size_kb"])


# derandomize: some random runs of this machine take minutes (seen: over 70 s in boot, exit
# and lock bookkeeping, cause not found yet), past the suite's 300 s limit; CI runs a fixed
# set of examples (about 12 s), and the fast test below keeps exploring at random.
VirtualMemoryWithSwapAreas.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestVirtualMemoryWithSwapAreas = pytest.mark.slow(VirtualMemoryWithSwapAreas.TestCase)


@pytest.mark.fast
def test_a_few_short_random_runs_with_swap_areas_keep_every_invariant() -> None:
    brief = settings(
        max_examples=3,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    run_state_machine_as_test(VirtualMemoryWithSwapAreas, settings=brief)
