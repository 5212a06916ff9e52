"""Item 8: a second server given the --swap-file of a running one refuses to start (the swap
file's exclusive lock), instead of truncating the first one's live swap under it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.hostile.conftest import ROOT, StartServerProcess, client_env
from tests.usage_text import flat

from vmsim import connect
from vmsim.client import Inspector

PAGE = 4096
CHUNK_PAGES = 256  # one Write or Read of 1 MiB
NR_CHUNKS = 16  # 16 MiB written into 8 MiB of RAM: most of it goes to swap


def chunk_bytes(chunk: int) -> bytes:
    """1 MiB nobody else would write: each page holds its own number, repeated."""
    pages = range(chunk * CHUNK_PAGES, (chunk + 1) * CHUNK_PAGES)
    return b"".join(number.to_bytes(4, "little") * (PAGE // 4) for number in pages)


@pytest.mark.parametrize("program", ["python -m vmsim_server", "vmsim server"])
def test_a_second_server_on_the_same_swap_file_refuses_and_the_first_keeps_its_pages(
    program: str, start_server_process: StartServerProcess, tmp_path: Path
) -> None:
    swap_file = tmp_path / "shared.swap"
    first = start_server_process("--ram", "8M", "--swap", "32M", "--swap-file", str(swap_file))
    with connect(first.address, name="owner") as process:
        base = process.mmap(NR_CHUNKS * CHUNK_PAGES * PAGE)
        for chunk in range(NR_CHUNKS):
            process.write(base + chunk * CHUNK_PAGES * PAGE, chunk_bytes(chunk))
        with Inspector(first.address) as inspector:
            swapped = [area.used_kb for area in inspector.swaps().items]
        assert swapped and swapped[0] > 4096  # pages of the first server live in the file

        command = (
            [sys.executable, "-m", "vmsim_server"]
            if program == "python -m vmsim_server"
            else [str(Path(sys.executable).with_name("vmsim")), "server"]
        )
        second = subprocess.run(
            [*command, "--address", "127.0.0.1:0", "--swap-file", str(swap_file)],
            capture_output=True,
            text=True,
            timeout=60,
            env=client_env(),
            cwd=ROOT,
        )
        assert second.returncode == 2, second.stderr
        message = flat(second.stderr)
        assert "--swap-file" in message and str(swap_file) in message.replace(" ", "")
        assert "another server holds its lock" in message
        assert "Traceback" not in second.stderr

        for chunk in range(NR_CHUNKS):
            read = process.read(base + chunk * CHUNK_PAGES * PAGE, CHUNK_PAGES * PAGE)
            assert read == chunk_bytes(chunk), chunk
    assert first.alive()
    assert first.stop() == 0
    # The lock went with the first server: the file is free for the next one.
    after = start_server_process("--ram", "8M", "--swap", "32M", "--swap-file", str(swap_file))
    assert after.alive()
