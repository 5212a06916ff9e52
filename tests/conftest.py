"""Shared pytest set-up: make server/ and client/ importable from a plain checkout."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for part in ("server", "client"):
    path = str(ROOT / part)
    if path not in sys.path:
        sys.path.insert(0, path)
