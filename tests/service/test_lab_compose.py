"""docker-compose.yml runs the shipped lab: the lab file and the admin token as secrets, the
server and the dashboard reading the same token file. The containers themselves need Docker;
here the file is validated with `docker-compose config` (as .ci/run does) and its server
settings are run on loopback with the same files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.service.conftest import StartServer

from vmsim.lab import Lab, Scoreboard

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = (ROOT / "docker-compose.yml").read_text()
TOKEN_PATH = "/var/lib/vmsim-secrets/admin.token"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    checked = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_server_and_the_dashboard_share_the_lab_secrets() -> None:
    server_args = re.search(r'"vmsim-server"\n((?:\s+- ".*"\n)+)', COMPOSE)
    assert server_args is not None
    args = re.findall(r'- "(.*)"', server_args.group(1))
    assert args[args.index("--lab") + 1] == "/run/secrets/vmsim_lab"
    assert args[args.index("--admin-token-file") + 1] == TOKEN_PATH
    assert "--admin-token" not in args
    assert f'VMSIM_ADMIN_TOKEN_FILE: "{TOKEN_PATH}"' in COMPOSE  # the dashboard's token
    assert "file: ./docs/labs/lab.toml" in COMPOSE
    assert "file: ./deploy/lab/admin.token" in COMPOSE
    assert "admin.token" in (ROOT / "deploy" / "lab" / ".gitignore").read_text()


def test_the_shipped_lab_runs_with_a_token_file_and_the_scoreboard_reads_it(
    start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "admin.token"  # as lab-secrets installs it: the vmsim user's, 0400
    token_file.write_text("compose-lab-token\n")
    token_file.chmod(0o400)
    server = start_server(
        lab_path=str(ROOT / "docs" / "labs" / "lab.toml"),
        lab_db=str(tmp_path / "lab.sqlite3"),
        admin_token="",
        admin_token_file=str(token_file),
    )
    with Lab(server.address, "ada") as lab:
        assert lab.title == "Virtual memory lab" and "deadline 2099-12-31" in lab.terms.describe()
    monkeypatch.setenv("VMSIM_ADMIN_TOKEN_FILE", str(token_file))
    monkeypatch.delenv("VMSIM_ADMIN_TOKEN", raising=False)
    with Scoreboard(server.address) as board:  # what the dashboard polls
        results = board.results()
    assert results.kinds == ("translate", "replace", "lazy", "buddy", "cow", "pagecache")
    assert [s.name for s in results.students] == ["ada"]
    assert oct(os.stat(tmp_path / "lab.sqlite3").st_mode & 0o777) == "0o600"
