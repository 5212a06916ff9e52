"""Lab answers as both sides read them: answer files, item ids, and when two answers agree.

The client parses what a student types or files (`parse_answers`); the server checks what
arrives (`vmsim_lab.check_answers`). Both use these functions, so "1A: 0x10" typed at the
command line and {"1a": "16"} sent from Python are the same answer to the same item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ItemResult", "normalize_answer", "normalize_item_id", "parse_answers"]

_SYNONYMS = {"h": "hit", "m": "miss", "y": "yes", "n": "no", "-": "none", "segfault": "segv"}
_SEPARATORS = re.compile(r"[\s,;\[\]]+")


@dataclass(frozen=True)
class ItemResult:
    """The check of one answered item.

    Attributes:
        id: the item ("1a").
        correct: the answer given agrees with the expected one (normalize_answer).
        given: the answer as given ("" when none was).
        expected: the right answer ("" when it is not revealed).
    """

    id: str
    correct: bool
    given: str
    expected: str


def normalize_item_id(text: str) -> str:
    """An item id as the questions write it: "1A " -> "1a", and "1a)" as printed -> "1a"."""
    return text.strip().removesuffix(")").strip().lower()


def normalize_answer(text: str) -> str:
    """Canonical form of an answer: case, spacing and number bases do not matter.

    "0x10" and "16" are the same number; "M 7" is "miss 7"; "[1, 2]" is "1 2".
    """
    tokens = []
    for token in _SEPARATORS.split(text.strip().lower()):
        if not token:
            continue
        try:
            tokens.append(str(int(token, 0)))
        except ValueError:
            tokens.append(_SYNONYMS.get(token, token))
    return " ".join(tokens)


def parse_answers(text: str) -> dict[str, str]:
    """Answers as lines "ID: answer" (or "ID answer"); '#' starts a comment.

    Raises:
        ValueError: a non-empty line without an item id and an answer.
    """
    answers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        item, sep, answer = body.partition(":")
        if not sep:
            item, _, answer = body.partition(" ")
        if not item.strip() or not answer.strip():
            raise ValueError(
                f"line {number}: {line.strip()!r} is not 'ID: answer' (e.g. '1a: 0x1000')"
            )
        answers[normalize_item_id(item)] = answer.strip()
    return answers
