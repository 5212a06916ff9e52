"""Refresh the dashboard's chart library from the npm registry (a development-time step).

    python scripts/vendor_dashboard_js.py            # the pinned version below
    python scripts/vendor_dashboard_js.py 1.6.33     # another version (then update UPLOT_VERSION)

Runs `npm pack uplot@VERSION` and copies its minified build, stylesheet and license into
client/vmsim/dashboard/static/vendor/, which ships as package data.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

UPLOT_VERSION = "1.6.32"
VENDOR = Path(__file__).resolve().parent.parent / "client/vmsim/dashboard/static/vendor"
FILES = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "uPlot.LICENSE",
}


def main(version: str = UPLOT_VERSION) -> None:
    """Download uplot@*version* with npm and copy the shipped files."""
    with tempfile.TemporaryDirectory() as work:
        packed = subprocess.run(
            ["npm", "pack", f"uplot@{version}"],
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        with tarfile.open(Path(work) / packed) as archive:
            archive.extractall(work, filter="data")
        for source, target in FILES.items():
            shutil.copyfile(Path(work) / source, VENDOR / target)
    print(f"uPlot {version} -> {VENDOR}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
