"""The one parser of sizes and the one parser of trace files, for every command line and file.

Sizes follow the kernel's memparse() (lib/cmdline.c): a decimal or 0x-hex number with an
optional binary suffix k, M or G (also written Ki/KiB, Mi/MiB, Gi/GiB), so `64M`, `64Mi`,
`64MiB`, `67108864` and `0x4000000` are the same size everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "LARGEST_ADDRESS",
    "LARGEST_PAGE",
    "MAX_TRACE_BYTES",
    "parse_size",
    "parse_trace",
    "parse_trace_array",
    "read_trace",
]

# A trace entry is a 32-bit linear address, or the page number of one (address >> 12).
LARGEST_ADDRESS = 0xFFFF_FFFF
LARGEST_PAGE = LARGEST_ADDRESS >> 12
# The most a trace file may hold unless the caller allows more (about 10M references).
MAX_TRACE_BYTES = 64 << 20
_READ_CHUNK = 1 << 20
# Text as a trace is written: printable ASCII, tab, newline, carriage return.
_TRACE_TEXT = b"\t\n\r" + bytes(range(0x20, 0x7F))
_NOT_TRACE_TEXT = re.compile(rb"[^\t\n\r\x20-\x7e]")

_SIZE = re.compile(r"^\s*(0x[0-9a-f]+|\d+)\s*([kmg]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TRACE_SEPARATORS = re.compile(r"[\s,]+")
_COMMENT = re.compile(rb"#[^\r\n]*")


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
    return parse_trace_array(text.encode(), largest).tolist()  # type: ignore[no-any-return]


def parse_trace_array(data: bytes, largest: int = LARGEST_ADDRESS) -> npt.NDArray[np.int64]:
    """parse_trace of the bytes *data*, as an int64 array: vectorised with numpy for the
    tokens numpy can read (decimal and 0x-hex of up to 15 digits, which is every value up to
    LARGEST_ADDRESS and more), token by token in Python for anything else, which also
    explains what is wrong.

    Raises:
        ValueError: a token is not an integer in 0..*largest* (the message names its line).
    """
    import numpy as np  # here: importing vmsim_proto (every command does) stays without numpy

    values = _vectorised_trace(data, largest)
    if values is None:
        return np.asarray(_parse_trace_tokens(data.decode(), largest), dtype=np.int64)
    return values


def _parse_trace_tokens(text: str, largest: int) -> list[int]:
    """parse_trace token by token: the reference grammar, and its error messages."""
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


# Byte classes of the vectorised reader; anything else (a sign, '_', 'o', other letters)
# leaves the text to the token-by-token parser.
_SEPARATOR, _DECIMAL, _OTHER = 0, 1, 2
_SEPARATOR_BYTES = b" \t\n\r,"
_LONGEST_DECIMAL = 18  # digits: below 2**63 whatever they are
_LONGEST_HEX = 15  # digits after 0x: below 2**60
_COMMA_TO_SPACE = bytes.maketrans(b",", b" ")
_DECIMAL_TEXT = _SEPARATOR_BYTES + b"0123456789"


@functools.cache
def _byte_tables() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """(class of each byte value, its value as a hex digit or 99)."""
    import numpy as np

    kind = np.full(256, _OTHER, np.uint8)
    kind[list(_SEPARATOR_BYTES)] = _SEPARATOR
    kind[list(b"0123456789")] = _DECIMAL
    digit_value = np.full(256, 99, np.int64)  # 99: not a digit of either base
    for value, byte in enumerate(b"0123456789abcdef"):
        digit_value[byte] = digit_value[bytes([byte]).upper()[0]] = value
    return kind, digit_value


def _token_edges(
    in_token: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(starts, ends) of the runs of True in *in_token*: run k is [starts[k], ends[k])."""
    import numpy as np

    padded = np.zeros(in_token.size + 2, np.bool_)
    padded[1:-1] = in_token
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def _vectorised_trace(data: bytes, largest: int) -> npt.NDArray[np.int64] | None:
    """The values of *data*, or None where the token-by-token parser must answer (a token
    numpy does not read, a value beyond *largest*: that parser names the line)."""
    import numpy as np

    if b"#" in data:
        data = _COMMENT.sub(b"", data)
    raw = np.frombuffer(data, dtype=np.uint8)
    decimals_only = not data.translate(None, _DECIMAL_TEXT)  # most traces
    # Every separator byte is below "0" and every digit at or above: one compare then.
    in_token = raw >= ord("0") if decimals_only else _byte_tables()[0][raw] != _SEPARATOR
    starts, ends = _token_edges(in_token)  # each token is raw[start:end]
    if not starts.size:
        return np.empty(0, np.int64)
    lengths = ends - starts
    first = raw[starts]
    if decimals_only:  # numpy's own text reader
        if lengths.max() > _LONGEST_DECIMAL or ((first == ord("0")) & (lengths > 1)).any():
            return None  # a leading zero (007) or a number int64 cannot hold
        if b"," in data:
            data = data.translate(_COMMA_TO_SPACE)
        values = np.fromstring(data, dtype=np.int64, sep=" ")
        return values if int(values.max()) <= largest else None
    digit_value = _byte_tables()[1]
    hexadecimal = (
        (lengths > 2)
        & (first == ord("0"))
        & ((raw[np.minimum(starts + 1, raw.size - 1)] | 0x20) == ord("x"))
    )
    # Digits start after a 0x prefix; a decimal token may not have a leading zero (007).
    digits_from = starts + 2 * hexadecimal
    nr_digits = ends - digits_from
    too_long = np.where(hexadecimal, nr_digits > _LONGEST_HEX, nr_digits > _LONGEST_DECIMAL)
    if too_long.any() or (~hexadecimal & (first == ord("0")) & (lengths > 1)).any():
        return None
    # Digit by digit across all tokens at once: the k-th digit of every token that has one.
    base = np.where(hexadecimal, 16, 10)
    values = np.zeros(starts.size, np.int64)
    last_byte = raw.size - 1
    for k in range(int(nr_digits.max())):
        has_digit = nr_digits > k
        digit = digit_value[raw[np.minimum(digits_from + k, last_byte)]]
        if (has_digit & (digit >= base)).any():
            return None
        values = np.where(has_digit, values * base + digit, values)
    return values if int(values.max()) <= largest else None


def _entry_kind(largest: int) -> str:
    return "page number" if largest == LARGEST_PAGE else "32-bit address"


def read_trace(
    path: str, *, addresses: bool = False, max_bytes: int = MAX_TRACE_BYTES
) -> npt.NDArray[np.int64]:
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
            # Deleting the text bytes is a C loop (1 ms a megabyte); the regex, 4x slower,
            # only finds where the first other byte is.
            odd = _NOT_TRACE_TEXT.search(chunk) if chunk.translate(None, _TRACE_TEXT) else None
            if odd is not None:
                at = odd.start()
                raise ValueError(
                    f"byte {nr_bytes + at}: 0x{chunk[at]:02x} is not trace text "
                    "(allowed: ASCII numbers, spaces, commas, newlines and # comments; "
                    "a binary or UTF-16 file is not a trace)"
                )
            nr_bytes += len(chunk)
            if nr_bytes > max_bytes:
                raise ValueError(f"more than {max_bytes} bytes (allowed: at most {max_bytes})")
            chunks.append(chunk)
    return parse_trace_array(b"".join(chunks), LARGEST_ADDRESS if addresses else LARGEST_PAGE)


def _open_trace(path: str) -> contextlib.AbstractContextManager[BinaryIO]:
    if path == "-":  # standard input stays open for whoever reads it next
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(path, "rb")
