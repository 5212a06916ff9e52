"""What the server and the client share: the text formats both accept (sizes, traces, lab
answers), the values a trace replay answers (replay_results), a practice question as plain
data (questions) and the call metadata keys (metadata).

A neutral package: the server (vmsim_server, and vmsim_kernel for trace files and replay
results) and the client (vmsim) both import it, and it imports neither of them. Its names load
on first use (PEP 562, through its own `lazy`), so `import vmsim` pays for none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_names

if TYPE_CHECKING:
    from .answers import ItemResult, normalize_answer, normalize_item_id, parse_answers
    from .parsing import MAX_TRACE_BYTES, parse_size, parse_trace, read_trace
    from .questions import ItemRecord, QuestionRecord

__all__ = [
    "MAX_TRACE_BYTES",
    "ItemRecord",
    "ItemResult",
    "QuestionRecord",
    "normalize_answer",
    "normalize_item_id",
    "parse_answers",
    "parse_size",
    "parse_trace",
    "read_trace",
]

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(
        ("ItemResult", "normalize_answer", "normalize_item_id", "parse_answers"), "answers"
    ),
    **dict.fromkeys(("MAX_TRACE_BYTES", "parse_size", "parse_trace", "read_trace"), "parsing"),
    **dict.fromkeys(("ItemRecord", "QuestionRecord"), "questions"),
}

if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name
    __getattr__, __dir__ = lazy_names(globals(), _LAZY)
