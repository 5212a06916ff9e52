"""HTML tables for Jupyter: the `_repr_html_` of reports, walks, listings and replays.

The standard library's html (and its table of entities) loads when a table is made, in a
notebook: every command imports this module through the records, and none prints HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the generated records name translation_html as their _repr_html_
    from .generated.records import Translation

__all__ = ["html_table", "translation_html"]


def html_table(headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """A plain <table>: one header row, one row per item, every cell escaped."""
    from html import escape

    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def translation_html(walk: Translation) -> str:
    """A page walk as a table: linear -> CR3 -> PDE -> PTE -> physical (Translation._repr_html_)."""

    def hex32(value: int | None) -> str:
        return "-" if value is None else f"0x{value:08x}"

    rows = [
        ("linear", hex32(walk.linear), f"PDE index {walk.pde_index}, PTE index {walk.pte_index}"),
        ("CR3", hex32(walk.cr3), ""),
        ("PDE", hex32(walk.pde), f"at {hex32(walk.pde_address)}"),
        ("PTE", hex32(walk.pte), f"at {hex32(walk.pte_address)}"),
        ("physical", hex32(walk.physical), "" if walk.pfn is None else f"pfn {walk.pfn}"),
    ]
    if walk.fault:
        rows.append(("fault", "", walk.fault))
    return html_table(("step", "value", "note"), rows, f"walk of 0x{walk.linear:08x}")
