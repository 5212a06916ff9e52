"""The fast replay loops (replay_fast.py: compiled, and CPython's) give the Python reference's
answers, and libCacheSim's counts."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsim_kernel import InvalidArgument, ReplacementPolicy, ReplayResult, parse_trace, replay
from vmsim_teach import replay_fast as fast

POLICIES = ("fifo", "lru", "clock", "opt", "random")


def reference(trace: Sequence[int], frames: int, policy: str, seed: int = 0) -> ReplayResult:
    """replay() on the Python policies of policies.py alone: the reference answer."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "try_replay", lambda *args: None)
        return replay(trace, frames, policy, seed=seed)


def in_python(trace: Sequence[int], frames: int, policy: str, seed: int = 0) -> ReplayResult:
    """replay() as a process without numba runs it: FIFO, LRU and CLOCK on the CPython loops."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "_numba", False)
        patch.setattr(fast, "_kernel", lambda name: pytest.fail(f"compiled {name}"))
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


def test_compiled_loops_are_there() -> None:
    assert fast.compiled(), "numba is a dependency: pip install -e ."


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
    seen = []
    original = fast.try_replay

    def spy(*args: object) -> object:
        seen.append(args[2])
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fast, "try_replay", spy)
    assert fast.compiled()  # numba loaded: even a short trace takes the compiled loops
    assert (
        replay([7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1], 3, "lru").misses == 12
    )
    assert seen == [ReplacementPolicy.LRU]


def test_a_process_without_numba_loaded_replays_a_short_trace_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast, "_numba", None)  # as in a fresh process
    monkeypatch.setattr(fast, "_kernel", lambda name: pytest.fail(f"compiled {name}"))
    result = replay(np.asarray([7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3], dtype=np.int64), 3, "fifo")
    assert (result.misses, result.victims) == (10, (7, 0, 1, 2, 3, 0, 4))
    assert result.faults_at == (0, 1, 2, 3, 5, 6, 7, 8, 9, 10)
    assert not fast.loaded()


def test_opt_and_random_without_numba_take_the_python_policies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast, "_numba", None)
    for policy in ("opt", "random"):
        assert fast.try_replay([1, 2, 1], 1, ReplacementPolicy(policy), 0, False) is None
    assert replay([1, 2, 3, 1], 2, "opt").victims == (2,)
    assert not fast.loaded()


def test_a_trace_long_enough_to_repay_numba_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast, "_numba", None)
    assert not fast.worth_compiling(fast.COMPILE_FROM_REFERENCES)
    assert fast.worth_compiling(fast.COMPILE_FROM_REFERENCES + 1)
    monkeypatch.setattr(fast, "_numba", fast._numba or __import__("numba"))
    assert fast.worth_compiling(1)


def test_a_plain_decimal_file_is_read_without_numba(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast, "_numba", None)
    path = tmp_path / "t.txt"
    path.write_text("1 2\r\n3\t40\n\n 987654321012345678\n")
    assert fast.load_trace(path).tolist() == [1, 2, 3, 40, 987654321012345678]
    assert not fast.loaded()


@pytest.mark.parametrize(
    "text", ["0x10 2", "1,2", "1 # c", "01 2", "1234567890123456789", "-1", "1 2 a", "\x00"]
)
def test_numpy_reader_leaves_anything_but_plain_decimals_to_the_others(text: str) -> None:
    assert fast._parse_plain_decimal(text.encode()) is None


def test_numpy_reader_reads_nothing_from_blank_text() -> None:
    values = fast._parse_plain_decimal(b" \n\t ")
    assert values is not None and values.size == 0


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
            assert fast.compiled()
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


def test_miss_ratio_curve_of_the_textbook_string() -> None:
    curve = fast.lru_miss_curve([1, 2, 3, 1, 2, 3, 4, 1])
    assert curve.misses == (8, 8, 5, 4)  # a loop of 3 pages thrashes 2 frames


def test_miss_ratio_curve_refuses_a_bad_trace() -> None:
    with pytest.raises(InvalidArgument, match="page numbers"):
        fast.lru_miss_curve([1, 1 << 20])


TRACE_TEXTS = [
    "7 0 1 2\n0, 3 ,0\t4 # comment 99\n0x10 0XfF 0\n",
    "1,2,,3\r\n# only a comment\n\n4",
    "",
    "007 1",  # not Python syntax: the Python parser explains
    "1_000 2",  # underscores: Python's int() takes them
    "0o17 0b101 +3",  # other bases and a sign: Python's parser
    "12 abc",
    "0 10 0\n3\t40\r\n 987654321012345678",  # plain decimals: numpy reads them too
]


@pytest.mark.parametrize("text", TRACE_TEXTS)
def test_compiled_and_numpy_parsers_agree_with_the_python_parser(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fast.compiled()  # loaded: parse_trace takes the compiled parser
    try:
        compiled: list[int] | str = parse_trace(text)
    except InvalidArgument as error:
        compiled = str(error)
    numpy_read = fast._parse_plain_decimal(text.encode())
    with monkeypatch.context() as patch:
        patch.setattr(fast, "parse_trace_bytes", lambda data: None)  # Python's parser alone
        try:
            reference: list[int] | str = parse_trace(text)
        except InvalidArgument as error:
            reference = str(error)
    assert compiled == reference
    if numpy_read is not None:
        assert numpy_read.tolist() == reference


def test_load_trace_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("# pages\n1 2 3\n0x4\n")
    assert fast.load_trace(path).tolist() == [1, 2, 3, 4]
