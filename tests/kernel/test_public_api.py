"""The kernel's public names are pinned (to docs/api.md)."""

from __future__ import annotations

import pytest
from tests.api_doc import documented_names
from tests.fresh_python import run_fresh_python

import vmsim_kernel


def test_public_names_are_pinned() -> None:
    # The pin is docs/api.md: a name added or removed must be added or removed there too.
    documented = documented_names("vmsim_kernel")
    assert len(documented) == len(set(documented)), "a name listed twice in docs/api.md"
    assert sorted(vmsim_kernel.__all__) == sorted(documented)
    for name in vmsim_kernel.__all__:
        assert hasattr(vmsim_kernel, name)


def test_dir_lists_every_public_name_before_it_is_loaded() -> None:
    assert set(vmsim_kernel.__all__) <= set(dir(vmsim_kernel))
    assert not hasattr(vmsim_kernel, "NoSuchName")


@pytest.mark.subprocess
def test_replay_loads_the_replay_code_and_not_the_machine() -> None:
    # A fresh interpreter: this one has long imported everything.
    script = (
        "import sys\n"
        "import vmsim_teach.replay\n"
        "from vmsim_kernel import replay\n"
        "print(callable(replay), sorted(m for m in sys.modules if m.startswith('vmsim_kernel.')))"
    )
    done = run_fresh_python(script)
    is_function, modules = done.stdout.split(" ", 1)
    assert is_function == "True"  # the function, not its submodule of the same name
    assert "vmsim_kernel.machine" not in modules
    assert "vmsim_kernel.arch.x86.layout" not in modules
