"""Item 13: every number the server is given (flag or VMSIM_* variable) is finite and in its
range, or the server does not start: a usage error (exit 2) naming the flag and what is
allowed, never a traceback or a server that starts and then refuses every call. And a
secret file others may read is reported when the server starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from tests.hostile.conftest import ROOT, StartServerProcess, client_env
from tests.usage_text import flat, settings_usage_error

VMSIM = str(Path(sys.executable).with_name("vmsim"))

# (flags, what the message must say): each refused before anything listens.
BAD_VALUES = [
    (["--lease", "inf"], "--lease inf is out of range: allowed 0.1 .. 604800"),
    (["--lease", "nan"], "--lease nan is out of range"),
    (["--lease", "0"], "--lease 0 is out of range"),
    (["--grace", "nan"], "--grace nan is out of range: allowed 0 .. 3600"),
    (["--grace", "-1"], "--grace -1 is out of range"),
    (["--realtime-factor", "inf"], "--realtime-factor inf is out of range: allowed 0 .. 1000"),
    (["--max-message", "5G"], "--max-message 5G is out of range: allowed 64k .. 2147483647"),
    (["--max-message", "1"], "--max-message 1 is out of range: allowed 64k .. 2147483647"),
    (["--max-io", "0"], "--max-io 0 is out of range"),
    (["--client-max-inflight", "0x0"], "--client-max-inflight 0 is out of range"),
    (["--max-batch", "99999999999"], "--max-batch 99999999999 is out of range"),
    (["--max-concurrent-rpcs", "0"], "--max-concurrent-rpcs 0 is out of range"),
    (["--client-max-processes", "-5"], "--client-max-processes -5 is out of range"),
    (["--client-max-watchers", "0"], "--client-max-watchers 0 is out of range"),
    (["--max-threads", "100000"], "--max-threads 100000 is out of range"),
    (["--metrics-port", "70000"], "--metrics-port 70000 is out of range: allowed 0 .. 65535"),
    (["--seed", "-1"], "--seed -1 is out of range"),
    (["--overcommit", "7"], "--overcommit 7 is out of range: allowed 0 .. 2"),
    (["--ram", "2M"], "--ram: 2097152 is not a usable RAM size (allowed: 4 MiB .. 4 GiB"),
    (["--swap", "64G"], "--swap: 68719476736 is not a usable swap size"),
    (["--overcommit-ratio", "5000"], "--overcommit-ratio: 5000 (allowed: 0..1000)"),
    (["--swappiness", "300"], "--swappiness: 300 (allowed: 0..200)"),
    (["--cpus", "0"], "--cpus: 0 (allowed: 1..64)"),
    (["--max-processes", "0"], "--max-processes: 0 (allowed: 1..32768)"),
]


# The values the issue found, each run as its own process (the others are the same check
# through the same parser, run in-process below: a process spends most of a second importing).
AS_PROCESSES = ["--lease inf", "--grace nan", "--max-message 5G", "--max-message 1", "--ram 2M"]


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*argv, "--address", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**client_env(), "COLUMNS": "300", **(env or {})},
        cwd=ROOT,
    )


def assert_usage_error(done: subprocess.CompletedProcess[str], complaint: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert complaint in flat(done.stderr), done.stderr


@pytest.mark.parametrize(
    ("flags", "complaint"), BAD_VALUES, ids=[" ".join(f) for f, _ in BAD_VALUES]
)
def test_a_bad_number_is_a_usage_error_naming_the_flag(
    flags: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert complaint in settings_usage_error(flags, capsys)


@pytest.mark.parametrize(
    ("flags", "complaint"), [case for case in BAD_VALUES if " ".join(case[0]) in AS_PROCESSES]
)
def test_python_m_vmsim_server_exits_2_with_the_message(flags: list[str], complaint: str) -> None:
    assert_usage_error(run([sys.executable, "-m", "vmsim_server", *flags]), complaint)


def test_vmsim_server_refuses_ram_2m_naming_the_flag_not_the_field() -> None:
    done = run([VMSIM, "server", "--ram", "2M"])
    assert_usage_error(done, "--ram: 2097152 is not a usable RAM size (allowed: 4 MiB .. 4 GiB")
    assert "ram_bytes" not in done.stderr


def test_a_bad_number_in_the_environment_is_refused_the_same_way() -> None:
    done = run([VMSIM, "server"], {"VMSIM_GRACE": "nan"})
    assert_usage_error(done, "--grace nan is out of range: allowed 0 .. 3600")


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("VMSIM_LEASE", "inf", "--lease inf is out of range"),
        ("VMSIM_MAX_MESSAGE", "1", "--max-message 1 is out of range"),
        ("VMSIM_RAM", "2M", "--ram: 2097152 is not a usable RAM size"),
    ],
)
def test_every_variable_is_checked_as_its_flag(
    variable: str,
    value: str,
    complaint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert complaint in settings_usage_error([], capsys)


def test_the_smallest_and_largest_message_sizes_still_serve(
    start_server_process: StartServerProcess,
) -> None:
    for size in ("64k", "0x7fffffff"):
        server = start_server_process("--max-message", size)
        assert server.alive()
        assert server.stop() == 0


def test_a_token_file_or_key_others_may_read_is_warned_of_at_start(
    start_server_process: StartServerProcess, tmp_path: Path
) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("s3cret-token\n")
    os.chmod(token_file, 0o644)
    issued = trustme.CA().issue_cert("127.0.0.1")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    os.chmod(key, 0o640)
    server = start_server_process(
        "--admin-token-file", str(token_file), "--tls-cert", str(cert), "--tls-key", str(key)
    )
    private = tmp_path / "private-token"
    private.write_text("s3cret-token\n")
    os.chmod(private, 0o600)
    quiet = start_server_process("--admin-token-file", str(private))
    server.stop(), quiet.stop()
    warnings = [
        line
        for line in map(json.loads, server.log().splitlines())
        if line.get("level") == "warning" and "readable beyond its owner" in line["event"]
    ]
    assert [(w["kind"], w["file"], w["mode"]) for w in warnings] == [
        ("admin token file", str(token_file), "0644"),
        ("TLS key file", str(key), "0640"),
    ]
    assert "readable beyond its owner" not in quiet.log()
