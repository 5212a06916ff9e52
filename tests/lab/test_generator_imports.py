"""Does a question load only its own generator (vmsim_lab.exercise's GENERATOR_MODULES)?"""

from __future__ import annotations

import pytest
from tests.fresh_python import run_fresh_python

from vmsim_kernel import KernelBug
from vmsim_lab import EXERCISES
from vmsim_lab.exercise import GENERATOR_MODULES, Exercise, register


@pytest.mark.subprocess
def test_a_question_imports_its_generator_module_only() -> None:
    script = (
        "import sys\n"
        "from vmsim_lab import questions, EXERCISES\n"
        "assert 'replace' in EXERCISES and 'nosuch' not in EXERCISES\n"
        "before = sorted(m for m in sys.modules if m.startswith('vmsim_lab.'))\n"
        "questions('replace', 7)\n"
        "after = sorted(m for m in sys.modules if m.startswith('vmsim_lab.'))\n"
        "print(before, after, 'vmsim_kernel.machine' in sys.modules)"
    )
    done = run_fresh_python(script)
    assert done.stdout.split() == [
        "['vmsim_lab.exercise']",
        "['vmsim_lab.exercise',",
        "'vmsim_lab.replacement']",
        "False",  # replacement replays a string: no machine is booted
    ]


def test_every_kind_is_listed_in_the_order_of_its_modules() -> None:
    assert list(EXERCISES) == list(GENERATOR_MODULES)
    for kind, exercise in EXERCISES.items():
        assert exercise.kind == kind
        assert exercise.generate.__module__ == f"vmsim_lab.{GENERATOR_MODULES[kind]}"


def test_registering_a_kind_its_module_is_not_named_for_is_a_bug() -> None:
    with pytest.raises(KernelBug, match="GENERATOR_MODULES"):
        register("unlisted", "a kind nobody listed", "anything")(lambda rng, number: None)  # type: ignore[arg-type,return-value]
    assert "unlisted" not in EXERCISES
    assert isinstance(EXERCISES["translate"], Exercise)
