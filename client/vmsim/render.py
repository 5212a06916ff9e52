"""Parsing and formatting shared by the command line and the shell (sizes, addresses, traces, hexdumps).

Sizes and traces are parsed by vmsim_proto, the same parser the server uses.
"""

from __future__ import annotations

from vmsim_proto import MAX_TRACE_BYTES, parse_size, read_trace
from vmsim_proto import parse_trace as parse_trace_text

from .constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)

__all__ = [
    "MAX_TRACE_BYTES",
    "hexdump",
    "parse_address",
    "parse_flags",
    "parse_prot",
    "parse_size",
    "parse_trace_text",
    "read_trace",
]

_PROT_LETTERS = {"r": PROT_READ, "w": PROT_WRITE, "x": PROT_EXEC, "-": 0}
_MAP_WORDS = {
    "private": MAP_PRIVATE,
    "shared": MAP_SHARED,
    "fixed": MAP_FIXED,
    "noreserve": MAP_NORESERVE,
    "populate": MAP_POPULATE,
    "fixed_noreplace": MAP_FIXED_NOREPLACE,
}


def parse_address(text: str) -> int:
    """A virtual address in hex (0x...) or decimal.

    Raises:
        ValueError: *text* is not a number in 0..0xFFFFFFFF.
    """
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise ValueError(f"{text!r} is not an address (examples: 0xb7000000, 4096)") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{text!r} is outside the 32-bit linear address space")
    return value


def parse_prot(text: str) -> int:
    """'rw', 'r-x', 'none' -> PROT_* bits.

    Raises:
        ValueError: a letter other than r, w, x or -.
    """
    if text in ("none", "---"):
        return 0
    try:
        return sum({_PROT_LETTERS[c] for c in text})
    except KeyError:
        raise ValueError(f"protection {text!r}: use letters r, w, x (e.g. rw) or none") from None


def parse_flags(text: str) -> int:
    """'private,populate' -> MAP_* bits; MAP_ANONYMOUS always, MAP_PRIVATE unless 'shared'.

    Raises:
        ValueError: an unknown flag word.
    """
    flags = MAP_ANONYMOUS
    for word in filter(None, text.lower().split(",")):
        if word not in _MAP_WORDS:
            raise ValueError(f"flag {word!r}: one of {', '.join(_MAP_WORDS)}")
        flags |= _MAP_WORDS[word]
    if not flags & (MAP_PRIVATE | MAP_SHARED):
        flags |= MAP_PRIVATE
    return flags


def hexdump(address: int, data: bytes) -> str:
    """`hexdump -C` style: address, 16 hex bytes, printable characters."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{address + offset:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines)
