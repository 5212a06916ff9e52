"""The fast replay loops (replay_fast.py: the C module built at install, and CPython's) give
the Python reference's answers, and libCacheSim's counts."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsim_kernel import InvalidArgument, ReplacementPolicy, ReplayResult, replay
from vmsim_teach import replay_fast as fast

POLICIES = ("fifo", "lru", "mru", "clock", "opt", "unopt", "random")


def reference(trace: Sequence[int], frames: int, policy: str, seed: int = 0) -> ReplayResult:
    """replay() on the Python policies of policies.py alone: the reference answer."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "try_replay", lambda *args: None)
        return replay(trace, frames, policy, seed=seed)


def in_python(trace: Sequence[int], frames: int, policy: str, seed: int = 0) -> ReplayResult:
    """replay() as an install without the C module runs it: FIFO, LRU, MRU and CLOCK on the CPython
    loops, the others on the Python policies."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "_loops", None)
        return replay(trace, frames, policy, seed=seed)


def random_traces(count: int, seed: int = 0) -> Iterator[tuple[list[int], int]]:
    rng = random.Random(seed)
    for _ in range(count):
        pages = rng.randrange(1, 60)
        # a hot set plus uniform noise, so every policy both hits and evicts
        trace = [
            rng.randrange(max(1, pages // 5)) if rng.random() < 0.5 else rng.randrange(pages)
            for _ in range(rng.randrange(1, 400))
        ]
        yield trace, rng.randrange(1, 16)


def test_the_c_loops_are_built_at_install() -> None:
    assert fast.compiled(), "pip install -e . builds vmsim_teach/_replay_loops.c (gcc, Python.h)"
    assert "numba" not in sys.modules


@pytest.mark.slow
def test_compiled_replay_gives_the_python_reference_answer_for_every_policy() -> None:
    for index, (trace, frames) in enumerate(random_traces(120)):
        for policy in POLICIES:
            compiled = fast.try_replay(trace, frames, ReplacementPolicy(policy), index, False)
            assert compiled == reference(trace, frames, policy, seed=index), (policy, frames)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    trace=st.lists(st.integers(0, 40), max_size=300),
    frames=st.integers(1, 20),
    policy=st.sampled_from(POLICIES),
)
def test_the_cpython_loops_give_the_python_reference_answer(
    trace: list[int], frames: int, policy: str
) -> None:
    assert in_python(trace, frames, policy, seed=5) == reference(trace, frames, policy, seed=5)


@pytest.mark.parametrize("policy", POLICIES)
def test_the_textbook_string_gives_one_answer_on_every_path(policy: str) -> None:
    classic = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    compiled = fast.try_replay(classic, 3, ReplacementPolicy(policy), 0, False)
    assert compiled == in_python(classic, 3, policy) == reference(classic, 3, policy)


def test_replay_dispatches_to_the_compiled_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    loops = fast._loops
    assert loops is not None

    def spy(*args: object) -> object:
        calls.append(len(args))
        return loops.lru(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fast, "_loops", SimpleNamespace(lru=spy))
    assert (
        replay([7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1], 3, "lru").misses == 12
    )
    assert calls == [5]


def test_an_install_without_the_c_module_replays_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast, "_loops", None)
    result = replay(np.asarray([7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3], dtype=np.int64), 3, "fifo")
    assert (result.misses, result.victims) == (10, (7, 0, 1, 2, 3, 0, 4))
    assert result.faults_at == (0, 1, 2, 3, 5, 6, 7, 8, 9, 10)


def test_opt_and_random_without_the_c_module_take_the_python_policies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast, "_loops", None)
    for policy in ("opt", "unopt", "random", "linux"):
        assert fast.try_replay([1, 2, 1], 1, ReplacementPolicy(policy), 0, False) is None
    assert replay([1, 2, 3, 1], 2, "opt").victims == (2,)


def test_the_c_randrange_draws_what_random_random_draws() -> None:
    assert fast._random_matches_python()
    loops = fast._loops
    assert loops is not None
    for seed in (0, 1, 99):
        state, cursor = fast._mersenne_state(seed)
        bounds = np.arange(1, 3000, dtype=np.int64)
        draws = np.empty_like(bounds)
        loops.random_draws(state, cursor, bounds, draws)
        reference = random.Random(seed)
        assert draws.tolist() == [reference.randrange(int(n)) for n in bounds]


def test_counts_only_leaves_the_lists_out_on_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    classic = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    full = replay(classic, 3, "lru")
    assert full.victims and full.faults_at
    counted = replay(classic, 3, "lru", lists=False)
    assert (counted.hits, counted.misses, counted.victims, counted.faults_at) == (
        full.hits,
        full.misses,
        (),
        (),
    )
    assert replay(classic, 3, "linux", lists=False).victims == ()  # the Python policies
    monkeypatch.setattr(fast, "_loops", None)
    assert replay(classic, 3, "lru", lists=False) == counted


def test_the_c_loops_refuse_pages_outside_their_tables() -> None:
    loops = fast._loops
    assert loops is not None
    out = np.empty(3, np.int64)
    with pytest.raises(ValueError, match=r"outside 0 \.\. 4"):
        loops.lru(np.asarray([1, 5, 2], np.int64), 2, 5, out, out.copy())
    with pytest.raises(ValueError, match="frames"):
        loops.ring(np.asarray([1, 2], np.int64), 0, 5, False, out, out.copy())
    with pytest.raises(ValueError, match="at least 3"):
        loops.opt(np.asarray([1, 2, 3], np.int64), 1, 5, out[:2], out)


def test_bad_entries_still_get_the_python_error() -> None:
    with pytest.raises(InvalidArgument, match="entry 1"):
        replay([1, -2], 2, "lru")
    with pytest.raises(InvalidArgument, match="entry 0"):
        replay([1 << 20], 2, "fifo")


def test_addresses_become_pages_in_the_compiled_path_too() -> None:
    result = replay(
        np.asarray([0x1000, 0x1FFF, 0x2000, 0x1004], dtype=np.uint32), 1, "lru", addresses=True
    )
    assert (result.hits, result.misses, result.victims) == (1, 3, (1, 2))


@pytest.mark.slow
def test_libcachesim_counts_the_same_misses_as_every_path(tmp_path: Path) -> None:
    import libcachesim as lcs  # a dev dependency: a broken install fails here, not skips

    rng = np.random.default_rng(7)
    for trial in range(4):
        trace = (rng.zipf(1.3, 5000) % 500).tolist()
        path = tmp_path / f"trace{trial}.txt"
        path.write_text("\n".join(map(str, trace)) + "\n")
        for policy, cache_class in (("lru", lcs.LRU), ("fifo", lcs.FIFO)):
            frames = int(rng.integers(2, 200))
            reader = lcs.TraceReader(
                str(path), lcs.TraceType.PLAIN_TXT_TRACE, lcs.ReaderInitParam(ignore_obj_size=True)
            )
            miss_ratio, _ = cache_class(frames).process_trace(reader)
            theirs = round(miss_ratio * reader.get_num_of_req())
            python = reference(trace, frames, policy).misses
            loops = in_python(fast.load_trace(path), frames, policy).misses
            compiled = fast.try_replay(
                fast.load_trace(path), frames, ReplacementPolicy(policy), 0, False
            )
            assert compiled is not None
            assert compiled.misses == loops == python == theirs, (policy, frames)


@pytest.mark.slow
def test_miss_ratio_curve_equals_an_lru_run_per_frame_count() -> None:
    for trace, _frames in random_traces(25, seed=3):
        curve = fast.lru_miss_curve(trace)
        assert curve.references == len(trace)
        assert curve.distinct_pages == len(set(trace))
        for frames in range(1, curve.distinct_pages + 3):
            assert curve.misses_with(frames) == replay(trace, frames, "lru").misses, frames


def test_miss_ratio_curve_in_c_equals_the_python_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for trace, _frames in random_traces(25, seed=4):
        compiled = fast.lru_miss_curve(trace)
        with monkeypatch.context() as patch:
            patch.setattr(fast, "_loops", None)
            assert fast.lru_miss_curve(trace) == compiled


def test_miss_ratio_curve_of_the_textbook_string() -> None:
    curve = fast.lru_miss_curve([1, 2, 3, 1, 2, 3, 4, 1])
    assert curve.misses == (8, 8, 5, 4)  # a loop of 3 pages thrashes 2 frames


def test_miss_ratio_curve_refuses_a_bad_trace() -> None:
    with pytest.raises(InvalidArgument, match="page numbers"):
        fast.lru_miss_curve([1, 1 << 20])


def test_load_trace_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("# pages\n1 2 3\n0x4\n")
    assert fast.load_trace(path).tolist() == [1, 2, 3, 4]
