"""The example notebook of docs/labs runs top to bottom and shows HTML tables."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "labs" / "replacement.ipynb"


@pytest.mark.subprocess
def test_the_example_notebook_runs_and_renders_html_tables(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    html = [
        output["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]
    assert len(html) == 4  # the replay, the walk, the maps and meminfo
    assert all(table.startswith("<table>") for table in html)
    assert "clock, 3 frames" in html[0] and "&gt;1*" in html[0]
    assert "MemTotal" in html[3]
