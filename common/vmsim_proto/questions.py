"""A practice question as plain data: lab.proto's Question field for field, as both sides hold it.

The server's lab package makes these (vmsim_lab.question_record) and its ExerciseService sends
them as messages; the client's offline `vmsim lab question` prints them as they are, with no
protobuf loaded (issue 23). The dicts are also the question's JSON (`--json`).

Both sides import this module for type checking only: at run time the records are dicts.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["ItemRecord", "QuestionRecord"]


class ItemRecord(TypedDict):
    """One answerable item: lab.proto's QuestionItem (answer empty unless asked for)."""

    id: str
    prompt: str
    answer: str


class QuestionRecord(TypedDict):
    """One question: lab.proto's Question (working empty unless the answers were asked for)."""

    kind: str
    number: int
    text: str
    items: list[ItemRecord]
    working: str
