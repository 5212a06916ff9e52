"""The public names docs/api.md documents, per package (the pin of every package's __all__)."""

from __future__ import annotations

import re
from pathlib import Path

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def documented_names(package: str) -> list[str]:
    """The names in the first column of the table under "## `package`" in docs/api.md.

    Raises:
        LookupError: the page has no section for *package*.
    """
    sections = re.split(r"^## ", API_DOC.read_text(), flags=re.MULTILINE)
    for section in sections:
        heading, _, body = section.partition("\n")
        if heading.strip() == f"`{package}`":
            rows = (line.split("|")[1] for line in body.splitlines() if line.startswith("| `"))
            return [name for row in rows for name in re.findall(r"`([^`]+)`", row)]
    raise LookupError(f"docs/api.md has no section for {package}")
