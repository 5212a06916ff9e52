"""Run a script in a fresh interpreter (shared by the tests): what a test of what an import
loads, or of what a process leaves behind at exit, needs, since the test's own interpreter has
long imported everything."""

from __future__ import annotations

import subprocess
import sys


def run_fresh_python(script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run *script* with `python -c` in a new interpreter; it must succeed, else the test
    fails showing the script's stderr."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done
