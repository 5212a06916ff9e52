"""Page replacement exercises: hits, misses and victims of a reference string, state per step.

The answers come from the kernel's trace replay (vmsim_teach.replay, the policy objects
reclaim uses, policies.py): FIFO, LRU, OPT, CLOCK (hand and use bits), RANDOM, MRU, UNOPT.
"""

from __future__ import annotations

import random

from vmsim_kernel import replay
from vmsim_kernel.results import ReplayResult

from .exercise import Item, Question, item_ids, prompt_lines, register

__all__ = ["POLICIES", "format_steps", "replacement_question"]

POLICIES = ("fifo", "lru", "opt", "clock", "random", "mru", "unopt")


def format_steps(result: ReplayResult) -> str:
    """The memory after every reference, one line each (OSTEP's paging-policy.py -c)."""
    lines = []
    for step in result.steps:
        outcome = "hit " if step.hit else "miss"
        victim = f" evict {step.victim}" if step.victim is not None else ""
        lines.append(
            f"access {step.page:>3}  {outcome}{victim:<10} frames {step.frames_text()}"
            f"  {result.policy} order {list(step.order)}"
        )
    if any(step.use_bits for step in result.steps):
        lines.append("(* use bit set, > the clock hand)")
    lines.append(f"hits {result.hits}  misses {result.misses}")
    return "\n".join(lines)


@register(
    "replace",
    "page replacement (FIFO, LRU, OPT, CLOCK, RANDOM, MRU, UNOPT): hit or miss and the victim",
    "'hit', 'miss', or 'miss N' when page N is evicted; the final memory as page numbers",
)
def replacement_question(rng: random.Random, number: int) -> Question:
    """A reference string over a few pages against 3 or 4 frames under one policy."""
    policy = rng.choice(POLICIES)
    frames = rng.choice((3, 4))
    nr_pages = frames + rng.randint(1, 3)
    trace = [rng.randrange(nr_pages) for _ in range(rng.randint(9, 12))]
    replay_seed = rng.randrange(1 << 16)
    result = replay(trace, frames, policy, seed=replay_seed, steps=True)
    ids = item_ids(number, len(trace) + 1)
    items = []
    for item_id, step in zip(ids, result.steps, strict=False):
        answer = "hit" if step.hit else "miss" if step.victim is None else f"miss {step.victim}"
        items.append(Item(item_id, f"access {step.page}", answer))
    final = sorted(page for page in result.steps[-1].frames if page >= 0)
    items.append(Item(ids[-1], "pages in memory at the end", " ".join(map(str, final))))
    if policy == "random":
        rule = "RANDOM: the kernel's seeded generator picked these victims, in order: " + (
            " ".join(map(str, result.victims)) or "none"
        )
    elif policy == "clock":
        rule = (
            "CLOCK: one hand, a use bit per frame set on every access; a new page gets its bit "
            "set and goes just behind the hand"
        )
    else:
        rule = {
            "fifo": "FIFO: evict the page that came in first",
            "lru": "LRU: evict the least recently used page",
            "opt": "OPT: evict the page whose next use is furthest away (pages never used "
            "again first, the lowest page number among them)",
            "mru": "MRU: evict the most recently used page",
            "unopt": "UNOPT: evict the page whose next use is soonest (pages never used again "
            "last, the lowest page number among them)",
        }[policy]
    text = (
        f"Memory holds {frames} frames, empty at first. Policy {rule}.\n"
        f"Reference string: {' '.join(map(str, trace))}\n"
        "For each access write 'hit', 'miss', or 'miss N' if page N is evicted:\n"
        + prompt_lines(items[:-1])
        + f"\n  {items[-1].id}) {items[-1].prompt} (sorted)?"
    )
    return Question("replace", number, text, tuple(items), format_steps(result))
