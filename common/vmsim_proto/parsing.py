"""The one parser of sizes and the one parser of trace files, for every command line and file.

Sizes follow the kernel's memparse() (lib/cmdline.c): a decimal or 0x-hex number with an
optional binary suffix k, M or G (also written Ki/KiB, Mi/MiB, Gi/GiB), so `64M`, `64Mi`,
`64MiB`, `67108864` and `0x4000000` are the same size everywhere.
"""

from __future__ import annotations

import re

__all__ = ["parse_size", "parse_trace"]

_SIZE = re.compile(r"^\s*(0x[0-9a-f]+|\d+)\s*([kmg]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TRACE_SEPARATORS = re.compile(r"[\s,]+")


def parse_size(text: str) -> int:
    """'4096', '0x1000', '16k', '64M', '64Mi', '64MiB', '1G' -> bytes.

    Raises:
        ValueError: *text* is not a size (the message shows what is allowed).
    """
    match = _SIZE.match(str(text))
    if not match or (match.group(3) and not match.group(2) and match.group(3).lower() != "b"):
        raise ValueError(
            f"{text!r} is not a size (examples: 4096, 0x1000, 16k, 64M, 64Mi, 64MiB, 1G)"
        )
    return int(match.group(1), 0) * _SIZE_UNITS[match.group(2).lower()]


def parse_trace(text: str) -> list[int]:
    """A reference string: integers separated by whitespace or commas, decimal or 0x-hex;
    '#' starts a comment.

    Raises:
        ValueError: a token is not a non-negative integer (the message names its line).
    """
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in _TRACE_SEPARATORS.split(line.split("#", 1)[0].strip()):
            if not token:
                continue
            try:
                value = int(token, 0)
            except ValueError:
                raise ValueError(f"line {number}: {token!r} is not a number") from None
            if value < 0:
                raise ValueError(f"line {number}: {token!r} is negative")
            values.append(value)
    return values
