"""The instructor's and the students' side of a graded lab from the command line and gRPC:
terms shown at join and fetch, dry runs, the gradebook export, regrade and token reset."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import grpc
import pytest
from tests.service.conftest import ADMIN_TOKEN, StartServer, read_until_closed
from typer.testing import CliRunner

from vmsim.cli import app
from vmsim.endpoint import stub_class
from vmsim_proto.v1 import lab_pb2

runner = CliRunner()

LAB = """title = "Graded"
deadline = 2000-01-01T00:00:00Z
late_penalty = 0.5
[extensions]
bob = 2999-01-01T00:00:00Z
[[exercise]]
kind = "kmap"
weight = 2.0
attempts = 2
[[exercise]]
kind = "translate"
"""


def admin(*words: str) -> list[str]:
    return ["lab", *words, "--admin-token", ADMIN_TOKEN]


def join(address: str, name: str) -> str:
    joined = runner.invoke(app, ["lab", "join", name, "--addr", address])
    assert joined.exit_code == 0, joined.output
    return joined.stdout.splitlines()[0]


@pytest.fixture
def address(start_server: StartServer, tmp_path: Path) -> str:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(LAB)
    return start_server(lab_path=str(lab_file)).address


def test_an_empty_lab_lists_every_exercise_and_prints_dashes(address: str) -> None:
    join(address, "ada")
    table = runner.invoke(app, [*admin("results"), "--addr", address])
    assert table.exit_code == 0, table.output
    assert "Graded (best attempt counts)" in table.output
    header, ada = table.output.splitlines()[1:3]
    kinds = ["name", "kmap", "translate"]
    assert header.split() == [*kinds, "total", "possible", "percent", "submissions"]
    assert ada.split() == ["ada", "-", "-", "0", "3", "0.0", "0"]
    as_csv = runner.invoke(app, [*admin("results"), "--csv", "--addr", address]).stdout
    assert next(csv.reader(io.StringIO(as_csv)))[:3] == ["name", "kmap", "translate"]
    as_json = json.loads(
        runner.invoke(app, [*admin("results"), "--json", "--addr", address]).stdout
    )
    assert as_json["kinds"] == ["kmap", "translate"] and as_json["policy"] == "best"


def test_join_and_fetch_show_the_policy_the_deadline_and_the_extension(address: str) -> None:
    joined = runner.invoke(app, ["lab", "join", "ada", "--addr", address])
    assert "your best attempt counts; deadline 2000-01-01 00:00 UTC" in joined.stderr
    assert "late submissions lose 50%" in joined.stderr
    token = join(address, "bob")
    fetched = runner.invoke(app, ["lab", "fetch", "kmap", "--token", token, "--addr", address])
    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.startswith(
        "your best attempt counts; deadline 2999-01-01 00:00 UTC (your extension); "
        "late submissions lose 50%; kmap: attempt 0 of 2 used"
    )


@pytest.mark.slow
def test_a_dry_run_spends_no_attempt_and_a_partial_file_needs_yes(
    address: str, tmp_path: Path
) -> None:
    token = join(address, "ada")
    where = ["--token", token, "--addr", address]
    partial = tmp_path / "answers.txt"
    partial.write_text("1a) 0xc0000000\n")  # an item id as the questions print it
    dry = runner.invoke(app, ["lab", "submit", "kmap", str(partial), "--dry-run", *where])
    assert dry.exit_code == 0, dry.output
    assert "dry run: kmap would be attempt 1 of 2; unanswered: 1b, 1c, 1d, 1e, 1f" in dry.stdout
    assert "this one would be LATE" in dry.stdout and "right" not in dry.stdout
    refused = runner.invoke(app, ["lab", "submit", "kmap", str(partial), *where])
    assert refused.exit_code == 1 and "5 of 6 item(s) unanswered" in refused.stderr
    assert "pass --yes" in refused.stderr
    board = json.loads(runner.invoke(app, [*admin("results"), "--json", "--addr", address]).stdout)
    assert board["students"][0]["submissions"] == 0
    sent = runner.invoke(app, ["lab", "submit", "kmap", str(partial), "--yes", *where])
    assert sent.exit_code == 0 and "attempt 1 of 2, LATE" in sent.stdout


def test_the_export_has_items_times_late_flags_percent_and_no_formulas(
    address: str, tmp_path: Path
) -> None:
    evil = "=cmd|' /C calc'!A0"
    for name in (evil, "bob"):
        token = join(address, name)
        answers = tmp_path / "answers.txt"
        answers.write_text("1a: 0\n1b: 0\n1c: 0\n1d: 0\n")
        done = runner.invoke(
            app, ["lab", "submit", "translate", str(answers), "--token", token, "--addr", address]
        )
        assert done.exit_code == 0, done.output
    scoreboard = runner.invoke(app, [*admin("results"), "--csv", "--addr", address]).stdout
    assert [row[0] for row in csv.reader(io.StringIO(scoreboard))][1:] == ["'" + evil, "bob"]
    exported = runner.invoke(app, [*admin("export"), "--addr", address])
    assert exported.exit_code == 0, exported.output
    header, attacker, bob = list(csv.reader(io.StringIO(exported.stdout)))  # "=" sorts first
    assert attacker[0] == "'" + evil and bob[0] == "bob"
    row = dict(zip(header, bob, strict=True))
    assert row["kmap"] == "" and row["translate attempt"] == "1"
    assert (
        row["translate late"] == "no"
        and dict(zip(header, attacker, strict=True))["translate late"] == "yes"
    )
    assert row["translate submitted at"].startswith("20")
    assert {row[f"translate 1{c}"] for c in "abcd"} <= {"0", "1"}
    assert float(row["percent"]) == pytest.approx(100 * float(row["total"]) / 3, abs=0.05)
    output = tmp_path / "grades.json"
    written = runner.invoke(app, [*admin("export"), "--json", "-o", str(output), "--addr", address])
    assert written.exit_code == 0, written.output
    book = json.loads(output.read_text())
    assert book["kinds"] == ["kmap", "translate"]
    graded = book["students"][1]["exercises"]["translate"]
    assert graded["submitted_at"].startswith("20") and graded["late"] is False
    assert [item for item, _ in graded["items"]] == ["1a", "1b", "1c", "1d"]


def test_the_instructor_resets_a_lost_token_and_regrades(address: str) -> None:
    old = join(address, "ada")
    lost = runner.invoke(app, ["lab", "join", "ADA", "--addr", address])
    assert lost.exit_code == 1 and "vmsim lab reset-token NAME" in lost.stderr
    reset = runner.invoke(app, [*admin("reset-token", "Ada"), "--addr", address])
    assert reset.exit_code == 0, reset.output
    new = reset.stdout.strip()
    assert new and new != old and "new token for 'ada'" in reset.stderr
    stale = runner.invoke(app, ["lab", "fetch", "kmap", "--token", old, "--addr", address])
    assert stale.exit_code == 1 and "UNAUTHENTICATED" in stale.stderr
    fresh = runner.invoke(app, ["lab", "fetch", "kmap", "--token", new, "--addr", address])
    assert fresh.exit_code == 0, fresh.output
    regraded = runner.invoke(app, [*admin("regrade"), "--addr", address])
    assert regraded.exit_code == 0 and "regraded 0 submission(s): 0 changed" in regraded.stdout


def test_the_instructors_calls_need_the_admin_token(address: str) -> None:
    channel = grpc.insecure_channel(address)
    stub = stub_class("lab")(channel)
    calls = [
        (stub.GetLabResults, lab_pb2.GetLabResultsRequest()),
        (stub.RegradeLab, lab_pb2.RegradeLabRequest()),
        (stub.ResetLabToken, lab_pb2.ResetLabTokenRequest(name="ada")),
    ]
    for method, request in calls:
        for metadata in ((), (("x-vmsim-admin-token", "wrong"),)):
            with pytest.raises(grpc.RpcError) as raised:
                method(request, metadata=metadata, timeout=10)
            assert raised.value.code() in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
            )
    channel.close()


def test_an_item_id_as_printed_is_accepted_by_check() -> None:
    checked = runner.invoke(app, ["lab", "check", "lazy", "--seed", "11"], input="1a) minor\n")
    assert "1a) right  minor" in checked.output
    assert "1 of 9 right" in checked.output


@pytest.mark.slow
def test_a_partial_file_is_confirmed_at_a_prompt_on_a_terminal(
    address: str, tmp_path: Path
) -> None:
    """Typed `n`: nothing is submitted; typed `y`: the attempt is made."""
    import os
    import pty
    import subprocess
    import sys

    token = join(address, "ada")
    partial = tmp_path / "answers.txt"
    partial.write_text("1a: 0xc0000000\n")
    root = Path(__file__).resolve().parents[2]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(str(root / part) for part in ("server", "client", "common")),
        VMSIM_ADDR=address,
        VMSIM_LAB_TOKEN=token,
    )
    outputs = []
    for reply in ("n", "y"):
        controller, terminal = pty.openpty()
        submit = subprocess.Popen(
            [sys.executable, "-m", "vmsim", "lab", "submit", "kmap", str(partial)],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        output = b""
        while b"anyway?" not in output:
            chunk = os.read(controller, 4096)
            assert chunk, output.decode()
            output += chunk
        os.write(controller, f"{reply}\n".encode())
        output = read_until_closed(controller, output)
        os.close(controller)
        outputs.append((submit.wait(60), output.decode()))
    (declined, said_no), (accepted, said_yes) = outputs
    assert "5 of 6 item(s) unanswered (1b, 1c, 1d, 1e, 1f)" in said_no
    assert declined == 1 and "not submitted" in said_no
    assert accepted == 0 and "attempt 1 of 2, LATE" in said_yes


def test_a_look_alike_name_is_refused_over_the_wire(address: str) -> None:
    join(address, "alice")
    cyrillic = runner.invoke(app, ["lab", "join", "\u0430lice", "--addr", address])
    assert cyrillic.exit_code == 1
    assert "PERMISSION_DENIED" in cyrillic.stderr and "looks like 'alice'" in cyrillic.stderr
    huge = runner.invoke(app, ["lab", "join", "x" * 100_000, "--addr", address])
    assert huge.exit_code == 1 and "INVALID_ARGUMENT" in huge.stderr
    assert len(huge.stderr) < 400  # the name is not echoed in full
