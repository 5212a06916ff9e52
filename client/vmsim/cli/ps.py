"""`vmsim ps`: the live processes, and the columns `vmsim top` shares.

It imports neither typer nor the other commands: the argparse front end (fast.py) runs it
as typer's command (process.py) does, from the one declaration spec.PS.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .. import cli_common
from ..cli_common import emit_json, guarded
from ..client import Inspector
from ..results import ProcessStatus

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["memory_cells", "ps", "rich_ps_table", "status_fields"]


def status_fields(status: ProcessStatus) -> dict[str, Any]:
    """The numbers of a status, for JSON (the text is for people)."""
    return {k: v for k, v in dataclasses.asdict(status).items() if k != "text"}


def _kb(value: int) -> str:
    return f"{value // 1024:,}"


def memory_cells(p: ProcessStatus) -> list[str]:
    """VSZ, RSS, SWAP, PTE (kB) and the minor and major fault counts, as ps and top print them."""
    sizes = (p.vm_size, p.vm_rss, p.vm_swap, p.vm_pte)
    return [*map(_kb, sizes), str(p.minor_faults), str(p.major_faults)]


# ps's columns (heading, justification) and caption
_PS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("PID", "right"),
    ("NAME", "left"),
    ("S", "left"),
    *(
        (heading, "right")
        for heading in (
            "VSZ",
            "RSS",
            "SWAP",
            "PTE",
            "MINFLT",
            "MAJFLT",
            "THR",
            "USR ms",
            "SYS ms",
            "IO ms",
            "LOCK ms",
        )
    ),
    ("KILLED BY", "left"),
)
_PS_CAPTION = "sizes in kB; times are simulated milliseconds"
_PS_MIN_WIDTH = 150  # the console width ps asks rich for at least: every column fits


def _ps_row(p: ProcessStatus) -> list[str]:
    times = (p.user_ns, p.system_ns, p.iowait_ns, p.lock_wait_ns)
    return [
        str(p.pid),
        p.name,
        p.state,
        *memory_cells(p),
        str(p.nr_threads),
        *(f"{ns / 1e6:.3f}" for ns in times),
        p.killed_by or "",
    ]


def ps(addr: str, as_json: bool, show_all: bool) -> None:
    """`vmsim ps` (spec.PS declares its options for both front ends)."""
    with Inspector(addr) as inspector:
        processes = guarded(lambda: inspector.processes(all=show_all))
    if as_json:
        emit_json([status_fields(p) for p in processes])
        return
    rows = [_ps_row(p) for p in processes]
    # rich only for the table (--json prints none)
    from rich.console import Console

    # A name is the client's text, not rich markup or :emoji: codes to render; and, as top's
    # table, no colours guessed for numbers (each costs a pass of rich's highlighter).
    width = max(cli_common.console.width, _PS_MIN_WIDTH)
    Console(width=width, markup=False, emoji=False, highlight=False).print(rich_ps_table(rows))


def rich_ps_table(rows: list[list[str]]) -> Table:
    """ps's table for rich to print."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, caption=_PS_CAPTION)
    for heading, justify in _PS_COLUMNS:
        no_wrap = heading in ("NAME", "KILLED BY")
        table.add_column(heading, justify=justify, no_wrap=no_wrap)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table
