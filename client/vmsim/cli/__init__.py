"""The `vmsim` command line.

`main` is the console script. `vmsim ps` and `vmsim lab question` run through the argparse
front end (fast.py) when their arguments parse plainly, importing neither typer nor the
other commands; everything else goes to the typer app (`app`, in group.py), which declares
those two from the same table (spec.py). `app`, `COMMANDS` and `VmsimGroup` load on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .group import COMMANDS, VmsimGroup, app

__all__ = ["COMMANDS", "VmsimGroup", "app", "main"]


def main() -> None:
    """Console-script entry point: a client error that no command caught (say, an unreadable
    TLS file when the channel opens) is still one line and exit 1, never a traceback."""
    from ..errors import VmsimError
    from . import fast

    try:
        if fast.run(sys.argv[1:]):
            fast.end_process()
        from .group import app

        app(prog_name="vmsim")
    except VmsimError as error:
        from ..cli_common import fail

        fail(error)


if not TYPE_CHECKING:  # hidden from mypy, which then still flags a misspelt name

    def __getattr__(name: str) -> object:
        """The typer app and its command table, imported on first use."""
        if name not in ("COMMANDS", "VmsimGroup", "app"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from . import group

        return getattr(group, name)
