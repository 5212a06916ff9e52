"""Student names as a class list compares them: NFKC, case folded, look-alikes caught.

Two names are the same student when their keys are equal (`ADA`, `ada` and the full-width
`ａｄａ` are one key). Two different keys whose skeletons are equal are look-alikes (Cyrillic
`аlice` and `alice`): the second is refused, so nobody can pass for someone else on a
scoreboard. The skeleton map is a small subset of Unicode's confusables (UTS #39): the
Cyrillic and Greek letters that render as Latin ones in common fonts, and 0/1 for o/l.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_NAME", "display_name", "name_key", "skeleton"]

MAX_NAME = 64

_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "в": "b",
        "с": "c",
        "ԁ": "d",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "ӏ": "l",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "ԛ": "q",
        "ѕ": "s",
        "т": "t",
        "у": "y",
        "ԝ": "w",
        "х": "x",
        # Greek
        "α": "a",
        "β": "b",
        "ϲ": "c",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "γ": "y",
        # Latin and digits that pass for each other
        "0": "o",
        "1": "l",
        "ı": "i",
    }
)


def display_name(text: str) -> str:
    """*text* in NFKC with outer spaces removed: the name as stored and shown.

    Raises:
        ValueError: empty, longer than MAX_NAME, or holding a control or format character
            (zero-width spaces and direction marks make a name look like another).
    """
    name = unicodedata.normalize("NFKC", text).strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"1..{MAX_NAME} printable characters, no invisible ones")
    return name


def name_key(text: str) -> str:
    """The identity of a name: NFKC, case folded, NFKC again (folding can denormalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).strip().casefold())


def skeleton(text: str) -> str:
    """What *text* looks like: its key with look-alike letters mapped to Latin ones."""
    return name_key(text).translate(_LOOK_ALIKES)
