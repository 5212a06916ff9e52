"""The one parser of sizes and the one parser of trace files, for every command line and file.

Sizes follow the kernel's memparse() (lib/cmdline.c): a decimal or 0x-hex number with an
optional binary suffix k, M or G (also written Ki/KiB, Mi/MiB, Gi/GiB), so `64M`, `64Mi`,
`64MiB`, `67108864` and `0x4000000` are the same size everywhere.
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import BinaryIO

__all__ = [
    "LARGEST_ADDRESS",
    "LARGEST_PAGE",
    "MAX_TRACE_BYTES",
    "parse_size",
    "parse_trace",
    "read_trace",
]

# A trace entry is a 32-bit linear address, or the page number of one (address >> 12).
LARGEST_ADDRESS = 0xFFFF_FFFF
LARGEST_PAGE = LARGEST_ADDRESS >> 12
# The most a trace file may hold unless the caller allows more (about 10M references).
MAX_TRACE_BYTES = 64 << 20
_READ_CHUNK = 1 << 20
# Text as a trace is written: printable ASCII, tab, newline, carriage return.
_NOT_TRACE_TEXT = re.compile(rb"[^\t\n\r\x20-\x7e]")

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


def parse_trace(text: str, largest: int = LARGEST_ADDRESS) -> list[int]:
    """A reference string: integers separated by whitespace or commas, decimal or 0x-hex;
    '#' starts a comment.

    Args:
        largest: the largest value an entry may have (LARGEST_PAGE for page numbers).

    Raises:
        ValueError: a token is not an integer in 0..*largest* (the message names its line).
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
            if value > largest:
                raise ValueError(
                    f"line {number}: {token[:24]!r} is too large "
                    f"(allowed: 0 .. {largest:#x}, the largest {_entry_kind(largest)})"
                )
            values.append(value)
    return values


def _entry_kind(largest: int) -> str:
    return "page number" if largest == LARGEST_PAGE else "32-bit address"


def read_trace(
    path: str, *, addresses: bool = False, max_bytes: int = MAX_TRACE_BYTES
) -> list[int]:
    """Read and parse the trace file at *path* ("-" for standard input), refusing what is
    not a trace before it costs memory: more than *max_bytes* bytes (read in chunks, so
    /dev/zero or an endless pipe stops there), a byte that is not trace text (a binary or a
    UTF-16 file), an entry beyond a page number (or a 32-bit address with *addresses*).

    Raises:
        ValueError: what is wrong and where (the byte offset or the line), and what is allowed.
        OSError: the file cannot be read.
    """
    chunks: list[bytes] = []
    nr_bytes = 0
    with _open_trace(path) as source:
        while chunk := source.read(min(_READ_CHUNK, max_bytes + 1 - nr_bytes)):
            odd = _NOT_TRACE_TEXT.search(chunk)
            if odd is not None:
                raise ValueError(
                    f"byte {nr_bytes + odd.start()}: 0x{chunk[odd.start()]:02x} is not trace text "
                    "(allowed: ASCII numbers, spaces, commas, newlines and # comments; "
                    "a binary or UTF-16 file is not a trace)"
                )
            nr_bytes += len(chunk)
            if nr_bytes > max_bytes:
                raise ValueError(f"more than {max_bytes} bytes (allowed: at most {max_bytes})")
            chunks.append(chunk)
    return parse_trace(
        b"".join(chunks).decode("ascii"), LARGEST_ADDRESS if addresses else LARGEST_PAGE
    )


def _open_trace(path: str) -> contextlib.AbstractContextManager[BinaryIO]:
    if path == "-":  # standard input stays open for whoever reads it next
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(path, "rb")
