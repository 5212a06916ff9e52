"""Replacement policies and trace replay against the textbook answers."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsim_kernel import InvalidArgument, ReplacementPolicy, parse_trace, replay
from vmsim_kernel.mm.policies import ClockPolicy, TwoListPolicy, make_policy

CLASSIC = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(("policy", "faults"), [("fifo", 15), ("lru", 12), ("opt", 9)])
def test_silberschatz_reference_string(policy: str, faults: int) -> None:
    result = replay(CLASSIC, 3, policy)
    assert (result.misses, result.hits, result.references) == (faults, 20 - faults, 20)


def test_fifo_and_opt_victims_are_the_textbook_ones() -> None:
    assert replay(CLASSIC, 3, "fifo").victims == (7, 0, 1, 2, 3, 0, 4, 2, 3, 0, 1, 2)
    assert replay(CLASSIC, 3, "opt").victims == (7, 1, 0, 4, 3, 2)
    assert replay(CLASSIC, 3, "lru").victims == (7, 1, 2, 3, 0, 4, 0, 3, 2)


def test_belady_anomaly_with_fifo() -> None:
    assert replay(BELADY, 3, "fifo").misses == 9
    assert replay(BELADY, 4, "fifo").misses == 10
    assert (
        replay(BELADY, 4, "lru").misses <= replay(BELADY, 3, "lru").misses
    )  # LRU is a stack algorithm


def test_clock_gives_referenced_pages_a_second_chance() -> None:
    clock = ClockPolicy()
    for key in (1, 2, 3):
        clock.insert(key)
    referenced = {1}
    victim = clock.choose_victim(lambda k: k in referenced and not referenced.discard(k))  # type: ignore[func-returns-value]
    assert victim == 2  # 1 was referenced: its bit is cleared and the hand moves on
    assert clock.choose_victim(lambda k: False) == 3
    assert clock.choose_victim(lambda k: False) == 1


def test_random_is_reproducible_with_a_seed() -> None:
    rng = random.Random(1)
    trace = [rng.randrange(50) for _ in range(2000)]
    assert replay(trace, 10, "random", seed=3) == replay(trace, 10, "random", seed=3)
    assert (
        replay(trace, 10, "random", seed=3).victims != replay(trace, 10, "random", seed=4).victims
    )


def test_two_list_policy_activates_pages_referenced_on_two_trips_and_evicts_cold_ones() -> None:
    """folio_check_references: a first reference only marks the page and rotates it (every
    mapped page has its fault's reference); referenced again on the next trip, it is active."""
    policy = TwoListPolicy()
    for key in range(2):
        policy.insert(key)
    hot = {0}
    assert policy.choose_victim(lambda k: k in hot) == 1  # 0 was referenced: marked, rotated
    assert policy.snapshot() == {"active": [], "inactive": [0]}
    assert policy.nr_activated == 0 and policy.nr_scanned == 2
    policy.insert(2)
    assert policy.choose_victim(lambda k: k in hot) == 2  # 0's second trip, referenced again
    assert policy.snapshot() == {"active": [0], "inactive": []}
    assert policy.nr_activated == 1


def test_two_list_policy_evicts_a_page_referenced_only_once() -> None:
    policy = TwoListPolicy()
    for key in range(2):
        policy.insert(key)
    references = {0: 1}  # 0 referenced by the fault that mapped it, never again

    def referenced(key: int) -> bool:
        left = references.get(key, 0)
        references[key] = max(left - 1, 0)
        return left > 0

    assert policy.choose_victim(referenced) == 1
    assert policy.choose_victim(referenced) == 0  # unreferenced on its second trip: reclaimed
    assert policy.nr_activated == 0


def test_a_refault_in_the_workingset_goes_to_the_active_list() -> None:
    policy = TwoListPolicy()
    policy.insert(1)
    policy.insert_active(2)
    assert policy.snapshot() == {"active": [2], "inactive": [1]}
    assert policy.nr_active == 1


def test_lru_tracks_accesses_in_batches() -> None:
    policy = make_policy(ReplacementPolicy.LRU)
    for key in range(5):
        policy.insert(key)
    policy.access_many(np.array([0, 1, 2], dtype=np.int64))
    assert policy.choose_victim(lambda k: False) == 3


def test_opt_needs_the_future() -> None:
    with pytest.raises(InvalidArgument, match="trace replay"):
        make_policy(ReplacementPolicy.OPT)


def test_addresses_are_turned_into_pages() -> None:
    result = replay([0x1000, 0x1FFF, 0x2000, 0x1004], 1, "lru", addresses=True)
    assert (result.hits, result.misses, result.victims) == (1, 3, (1, 2))


def test_bad_replay_arguments_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="frames"):
        replay([1, 2], 0, "lru")
    with pytest.raises(InvalidArgument, match="policy"):
        replay([1, 2], 2, "magic")
    with pytest.raises(InvalidArgument, match="entry 1"):
        replay([1, -2], 2, "lru")


@pytest.mark.slow
def test_parse_trace_reads_hex_commas_and_comments() -> None:
    assert parse_trace("# header\n1, 2 0x10\n\n3 # tail\n") == [1, 2, 16, 3]
    with pytest.raises(InvalidArgument, match="line 2"):
        parse_trace("1 2\n3 x\n")


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=120), st.integers(1, 6))
def test_every_policy_accounts_for_every_reference(trace: list[int], frames: int) -> None:
    optimal = replay(trace, frames, "opt").misses
    for policy in ("fifo", "lru", "clock", "random", "linux", "opt"):
        result = replay(trace, frames, policy)
        assert result.hits + result.misses == len(trace)
        assert len(result.victims) == max(0, result.misses - frames)
        assert result.misses >= optimal
        assert result.misses >= len(set(trace))  # every distinct page misses once at least
