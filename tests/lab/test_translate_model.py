"""Are the translate exercise's questions the kernel's? vmsim_lab.translate models a freshly
booted machine's first process instead of booting one: each question's setting is replayed
on a real Machine here, and every word of the dump, every answer and every reason compared."""

from __future__ import annotations

import random
import re
from contextlib import closing

import pytest

from vmsim_kernel import MAP_FIXED, PAGE_OFFSET, PAGE_SIZE, Machine, MachineConfig, MiB, Translation
from vmsim_lab import questions
from vmsim_lab.exercise import ANON, RW
from vmsim_lab.translate import (
    FRESH_MACHINE,
    KERNEL_ACCESS_SPAN,
    FreshMachine,
    translate_setting,
)

SEEDS = range(40)
_ENTRY = re.compile(r"\s+\[0x([0-9a-f]+)\] 0x([0-9a-f]{8})$")
_TABLE = re.compile(r"(?:Page directory|Page table) at 0x([0-9a-f]{8})")


def fresh_machine(ram_bytes: int, nr_frames: int) -> FreshMachine:
    """What a freshly booted kernel Machine gives its first process, read off the kernel."""
    with closing(Machine(MachineConfig(ram_bytes=ram_bytes, swap_bytes=0))) as machine:
        pid = machine.spawn("probe")
        start = 0x04000000
        frames: list[int] = []
        while len(frames) < nr_frames:  # a page table, then its page: two allocations
            va = start + len(frames) // 2 * (1 << 22)
            machine.mmap(pid, va, 2 * PAGE_SIZE, RW, ANON | MAP_FIXED)
            machine.touch(pid, va, write=True)
            walk = machine.translate(pid, va)
            assert walk.pfn is not None
            frames += [walk.pde >> 12, walk.pfn]
        machine.touch(pid, start + PAGE_SIZE, write=False)
        zero = machine.translate(pid, start + PAGE_SIZE)
        span = range(PAGE_OFFSET, PAGE_OFFSET + KERNEL_ACCESS_SPAN, 1 << 22)
        kernel = [machine.translate(pid, va) for va in span]
        direct_map = machine.translate(pid, PAGE_OFFSET)
        assert zero.pfn is not None and direct_map.pte is not None
        return FreshMachine(
            ram_bytes=ram_bytes,
            pgd_pfn=zero.cr3 >> 12,
            frames=tuple(frames[:nr_frames]),
            zero_pfn=zero.pfn,
            kernel_pdes={walk.pde_index: walk.pde for walk in kernel},
            direct_map_pte_bits=direct_map.pte & 0xFFF,
        )


def test_the_fresh_machine_of_the_model_is_the_kernels() -> None:
    measured = fresh_machine(FRESH_MACHINE.ram_bytes, len(FRESH_MACHINE.frames))
    assert measured == FRESH_MACHINE, f"set FRESH_MACHINE in vmsim_lab/translate.py to {measured}"


def _kernel_answer(walk: Translation, write: bool) -> str:
    """A user-mode access as the MMU ends it, from the kernel's own walk."""
    if walk.present and walk.user and (walk.writable or not write):
        return f"0x{walk.physical:08x}"
    return "fault"


@pytest.mark.parametrize("seed", SEEDS)
def test_every_question_is_what_the_kernel_does_with_its_setting(seed: int) -> None:
    for number, question in enumerate(questions("translate", seed, 2), start=1):
        setting = translate_setting(random.Random(f"translate:{seed}:{number}"))
        machine = Machine(MachineConfig(ram_bytes=16 * MiB, swap_bytes=0))
        with closing(machine):
            pid = machine.spawn("student")
            for start, nr_pages in setting.regions:
                machine.mmap(pid, start, nr_pages * PAGE_SIZE, RW, ANON | MAP_FIXED)
            for va, write in setting.touches:
                machine.touch(pid, va, write=write)
            # every entry the dump shows is the word in the machine's RAM ...
            table, shown = 0, {}
            for line in question.text.splitlines():
                if found := _TABLE.match(line):
                    table = int(found.group(1), 16)
                    shown[table] = {}
                elif found := _ENTRY.match(line):
                    index, word = int(found.group(1), 16), int(found.group(2), 16)
                    shown[table][index] = word
                    assert int(machine.kernel.ram_words[table // 4 + index]) == word, line
            # ... and a page table's entries not shown are 0 in it
            for table, entries in list(shown.items())[1:]:
                words = machine.kernel.ram_words[table // 4 : table // 4 + 1024]
                assert {i for i, word in enumerate(words) if word} == set(entries)
            assert len(question.items) == len(setting.accesses)
            for item, (va, write), working in zip(
                question.items,
                setting.accesses,
                re.split(r"\n(?=\d+[a-z]\) )", question.working),
                strict=True,
            ):
                walk = machine.translate(pid, va)
                assert item.answer == _kernel_answer(walk, write), (seed, item)
                assert f"0x{va:08x}" in item.prompt
                assert f"holds 0x{walk.pde:08x}" in working
                if walk.pte is not None:
                    assert f"PTE at 0x{walk.pte_address:08x} holds 0x{walk.pte:08x}" in working
                if not walk.present:
                    assert f"-> {walk.fault} (#PF)" in working, (seed, working)
