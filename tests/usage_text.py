"""What a refused command line tells the user, as the user reads it (shared by the tests)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from vmsim_server import parse_settings


def flat(text: str) -> str:
    """*text* without rich's panel borders and line wrapping: a message is found whole."""
    return " ".join(text.replace("│", " ").split())


def settings_usage_error(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The flattened complaint of `vmsim-server ARGV`, which must be a usage error (exit 2)."""
    with pytest.raises(SystemExit) as exited:
        parse_settings(list(argv))
    assert exited.value.code == 2
    return flat(capsys.readouterr().err)
