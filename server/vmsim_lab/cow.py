"""Copy-on-write exercises: a process that wrote N pages forks, then each side reads and writes
ranges in turn; the answers are what a fresh kernel counted (kernel/fork.c dup_mmap,
mm/memory.c do_wp_page's copy or reuse, fs/proc/task_mmu.c smaps' Pss and Shared_Dirty).
"""

from __future__ import annotations

import enum
import random
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vmsim_kernel import PAGE_SIZE, InvalidArgument, KiB, Machine, MachineConfig, MiB, VmaInfo

from .exercise import ANON, RW, Item, Question, item_ids, prompt_lines, register

__all__ = [
    "MAX_REGION_PAGES",
    "MAX_STEPS",
    "CowPhase",
    "CowRun",
    "CowScenario",
    "CowStep",
    "Side",
    "cow_question",
    "random_scenario",
    "run_cow_scenario",
    "scenario_question",
]

# 390 MiB: both sides' copies of the largest region fit in a 1 GiB machine with no reclaim
MAX_REGION_PAGES = 100_000
MAX_STEPS = 4  # 2 + 5 per step + 4 items: one letter each, a .. z


class Side(enum.StrEnum):
    """Which process of the fork acts."""

    PARENT = "parent"  # the process that wrote the region and called fork()
    CHILD = "child"  # fork()'s copy, until it exits


@dataclass(frozen=True)
class CowStep:
    """*side* reads or writes pages first .. first + count - 1 of the region, in order."""

    side: Side
    write: bool
    first: int
    count: int

    def describe(self) -> str:
        """ "the child writes pages 4-11" ."""
        verb = "writes" if self.write else "reads"
        pages = f"page {self.first}" if self.count == 1 else f"pages {self.first}-{self.last}"
        return f"the {self.side} {verb} {pages}"

    @property
    def last(self) -> int:
        """The last page the step touches."""
        return self.first + self.count - 1


@dataclass(frozen=True)
class CowScenario:
    """The parent maps and writes *nr_pages* private anonymous pages and forks; *steps* run in
    order; the child exits; then the parent does *after_exit*."""

    nr_pages: int
    steps: tuple[CowStep, ...]
    after_exit: CowStep

    def check(self) -> None:
        """Refuse a scenario the exercise cannot run.

        Raises:
            InvalidArgument: pages outside 1..MAX_REGION_PAGES, no step or more than
                MAX_STEPS, a range outside the region, or a step after the exit by the child.
        """
        if not 1 <= self.nr_pages <= MAX_REGION_PAGES:
            raise InvalidArgument("nr_pages", f"{self.nr_pages}", f"1 .. {MAX_REGION_PAGES}")
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise InvalidArgument("steps", f"{len(self.steps)} steps", f"1 .. {MAX_STEPS}")
        for step in (*self.steps, self.after_exit):
            if step.first < 0 or step.count < 1 or step.first + step.count > self.nr_pages:
                raise InvalidArgument(
                    "step",
                    f"{step.describe()} of a {self.nr_pages}-page region",
                    f"pages 0 .. {self.nr_pages - 1}, at least one",
                )
        if self.after_exit.side is not Side.PARENT:
            raise InvalidArgument("after_exit", "the child has exited", "a step of the parent")


@dataclass(frozen=True)
class CowPhase:
    """What the kernel counted for one step.

    Attributes:
        step: the step.
        minor_faults: the acting process's minor faults (ru_minflt) during the step.
        copies: pages do_wp_page copied: new anonymous pages (nr_anon_pages).
        reuses: write faults on a page its process alone mapped, made writable in place
            (pgreuse).
        pss_kb: the region's Pss in the parent's smaps afterwards.
        shared_dirty_kb: the region's Shared_Dirty in the parent's smaps afterwards.
    """

    step: CowStep
    minor_faults: int
    copies: int
    reuses: int
    pss_kb: int
    shared_dirty_kb: int


@dataclass(frozen=True)
class CowRun:
    """A scenario as the kernel ran it.

    Attributes:
        scenario: what ran.
        fork_pss_kb: the region's Pss in the parent's smaps right after fork().
        fork_shared_dirty_kb: its Shared_Dirty then.
        phases: one per step, in order.
        freed_at_exit: anonymous pages the child's exit freed (nr_anon_pages fell by).
        after_exit: the parent's step after the exit.
    """

    scenario: CowScenario
    fork_pss_kb: int
    fork_shared_dirty_kb: int
    phases: tuple[CowPhase, ...]
    freed_at_exit: int
    after_exit: CowPhase


def _machine_for(nr_pages: int, seed: int) -> Machine:
    """A machine with room for both sides' copies of the region and no swap: the counts are
    copy-on-write's alone, never reclaim's."""
    needed = 2 * nr_pages * PAGE_SIZE + 16 * MiB
    ram_bytes = 16 * MiB
    while ram_bytes < needed:
        ram_bytes *= 2
    return Machine(MachineConfig(ram_bytes=ram_bytes, swap_bytes=0, nr_cpus=1, seed=seed))


class _Probe:
    """The counters one phase is measured by, read off the machine before and after it."""

    def __init__(self, machine: Machine, pids: dict[Side, int], addr: int) -> None:
        self.machine, self.pids, self.addr = machine, pids, addr
        self._vmstat = machine.vmstat()

    def region(self) -> VmaInfo:
        """The parent's smaps numbers of the region."""
        (info,) = [
            info for info in self.machine.maps(self.pids[Side.PARENT]) if info.start == self.addr
        ]
        return info

    def vmstat_delta(self) -> dict[str, int]:
        """How nr_anon_pages and pgreuse moved since the last call."""
        vmstat = self.machine.vmstat()
        delta = {name: vmstat[name] - self._vmstat[name] for name in ("nr_anon_pages", "pgreuse")}
        self._vmstat = vmstat
        return delta

    def run(self, step: CowStep) -> CowPhase:
        """Run *step* and measure it."""
        pid = self.pids[step.side]
        faults_before = self.machine.process(pid).minor_faults
        self.machine.touch_many(pid, self.pages(step), step.write)
        minor_faults = self.machine.process(pid).minor_faults - faults_before
        delta = self.vmstat_delta()
        region = self.region()
        return CowPhase(
            step=step,
            minor_faults=minor_faults,
            copies=delta["nr_anon_pages"],
            reuses=delta["pgreuse"],
            pss_kb=region.pss // KiB,
            shared_dirty_kb=region.shared_dirty // KiB,
        )

    def pages(self, step: CowStep) -> npt.NDArray[np.uint32]:
        """The addresses of the step's pages, in order."""
        first = self.addr + step.first * PAGE_SIZE
        return (first + np.arange(step.count, dtype=np.int64) * PAGE_SIZE).astype(np.uint32)


def run_cow_scenario(scenario: CowScenario, seed: int = 0) -> CowRun:
    """Run *scenario* on a fresh kernel and read every answer off it.

    Raises:
        InvalidArgument: as CowScenario.check.
    """
    scenario.check()
    with closing(_machine_for(scenario.nr_pages, seed)) as machine:
        parent = machine.spawn("parent")
        addr = machine.mmap(parent, 0, scenario.nr_pages * PAGE_SIZE, RW, ANON)
        probe = _Probe(machine, {Side.PARENT: parent}, addr)
        probe.run(CowStep(Side.PARENT, True, 0, scenario.nr_pages))
        probe.pids[Side.CHILD] = machine.fork(parent)
        probe.vmstat_delta()
        after_fork = probe.region()
        phases = tuple(probe.run(step) for step in scenario.steps)
        machine.exit(probe.pids.pop(Side.CHILD))
        freed = -probe.vmstat_delta()["nr_anon_pages"]
        after_exit = probe.run(scenario.after_exit)
        machine.check_invariants()
    return CowRun(
        scenario=scenario,
        fork_pss_kb=after_fork.pss // KiB,
        fork_shared_dirty_kb=after_fork.shared_dirty // KiB,
        phases=phases,
        freed_at_exit=freed,
        after_exit=after_exit,
    )


def _random_step(rng: random.Random, side: Side, write: bool, nr_pages: int) -> CowStep:
    first = rng.randrange(nr_pages)
    return CowStep(side, write, first, rng.randint(1, nr_pages - first))


def random_scenario(rng: random.Random) -> CowScenario:
    """Both sides write a range, in either order, and one more read or write falls among them;
    after the child's exit the parent writes a range."""
    nr_pages = rng.randrange(8, 49, 4)
    steps = [
        _random_step(rng, Side.CHILD, True, nr_pages),
        _random_step(rng, Side.PARENT, True, nr_pages),
    ]
    rng.shuffle(steps)
    extra = _random_step(rng, rng.choice(list(Side)), rng.random() < 0.5, nr_pages)
    steps.insert(rng.randrange(len(steps) + 1), extra)
    after_exit = _random_step(rng, Side.PARENT, True, nr_pages)
    return CowScenario(nr_pages, tuple(steps), after_exit)


def _phase_working(item_id: str, phase: CowPhase, with_smaps: bool) -> str:
    step = phase.step
    line = (
        f"{item_id}) {step.describe()}: {phase.minor_faults} minor faults; "
        f"{phase.copies} pages copied (nr_anon_pages {phase.copies:+d}), "
        f"{phase.reuses} reused (pgreuse {phase.reuses:+d})"
    )
    if with_smaps:
        line += (
            f"\n    the parent's region: Pss {phase.pss_kb} kB, Shared_Dirty "
            f"{phase.shared_dirty_kb} kB"
        )
    return line


@register(
    "cow",
    "fork and copy-on-write: faults, copies, reuses (pgreuse), Pss and Shared_Dirty per phase",
    "numbers: faults, pages, or kB",
)
def cow_question(rng: random.Random, number: int) -> Question:
    """A seeded fork scenario; the kernel runs it and counts."""
    scenario = random_scenario(rng)
    return scenario_question(scenario, number, seed=rng.randrange(1 << 16))


def scenario_question(scenario: CowScenario, number: int, seed: int = 0) -> Question:
    """Question *number* on *scenario*, answered by running it (run_cow_scenario).

    Raises:
        InvalidArgument: as CowScenario.check.
    """
    run = run_cow_scenario(scenario, seed)
    ids = iter(item_ids(number, 2 + 5 * len(run.phases) + 4))
    items: list[Item] = []
    working = [
        "Rules: fork copies the PTEs of private pages read-only into both processes, so a "
        "read is no fault; a write to a page still write-protected faults once and is copied "
        "while the other process maps it too, reused when only its own does; a page already "
        "its own is writable and costs nothing."
    ]

    def ask(*prompts: tuple[str, int]) -> str:
        """Add one item per (prompt, answer); returns the first one's id for the working."""
        asked = [Item(next(ids), prompt, str(answer)) for prompt, answer in prompts]
        items.extend(asked)
        return asked[0].id

    first = ask(
        ("right after fork: the region's Pss in the parent's smaps, kB", run.fork_pss_kb),
        ("right after fork: its Shared_Dirty, kB", run.fork_shared_dirty_kb),
    )
    working.append(
        f"{first}) after fork every page is mapped by both: Pss {run.fork_pss_kb} kB, "
        f"Shared_Dirty {run.fork_shared_dirty_kb} kB"
    )
    for position, phase in enumerate(run.phases, 1):
        first = ask(
            (f"step {position}: minor faults of the {phase.step.side}", phase.minor_faults),
            (f"step {position}: pages copied", phase.copies),
            (f"step {position}: pages reused (pgreuse)", phase.reuses),
            (f"step {position}: the parent's Pss of the region afterwards, kB", phase.pss_kb),
            (f"step {position}: its Shared_Dirty, kB", phase.shared_dirty_kb),
        )
        working.append(_phase_working(first, phase, with_smaps=True))
    first = ask(("anonymous pages the child's exit frees", run.freed_at_exit))
    working.append(
        f"{first}) the child's exit frees the pages only it mapped: {run.freed_at_exit}; "
        "a page both mapped loses one mapper and stays"
    )
    final = run.after_exit
    first = ask(
        ("after the exit: minor faults of the parent", final.minor_faults),
        ("after the exit: pages copied", final.copies),
        ("after the exit: pages reused (pgreuse)", final.reuses),
    )
    working.append(_phase_working(first, final, with_smaps=False))
    steps = "\n".join(
        f"  step {position}: {step.describe()}" for position, step in enumerate(scenario.steps, 1)
    )
    text = (
        f"A process maps {scenario.nr_pages} pages with mmap(PROT_READ|PROT_WRITE, "
        "MAP_PRIVATE|MAP_ANONYMOUS), writes every one of them, and calls fork(). Nothing else "
        "runs (plenty of free RAM, no swap). Then, in this order:\n"
        f"{steps}\n  the child exits\n  then {scenario.after_exit.describe()}\n"
        "A copy is a new anonymous page (nr_anon_pages); a reuse is a write fault on a page "
        "only its own process maps (pgreuse). Give:\n" + prompt_lines(items, "?")
    )
    return Question("cow", number, text, tuple(items), "\n".join(working))
