"""Graded labs over gRPC: join, fetch, answer, scoreboard, restart, scoreboard again."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
from tests.service.conftest import ADMIN_TOKEN, StartServer

import vmsim
from vmsim.endpoint import stub_class
from vmsim.lab import Exercises, Lab, scoreboard
from vmsim_proto.v1 import lab_pb2

LAB_FILE = """
title = "Paging lab"
deadline = 2999-01-01T00:00:00Z

[[exercise]]
kind = "replace"
count = 2
weight = 2.0

[[exercise]]
kind = "kmap"
count = 1
weight = 1.0
attempts = 2
"""


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(LAB_FILE)
    return path


def test_two_students_join_fetch_answer_and_the_scoreboard_survives_a_restart(
    start_server: StartServer, lab_file: Path, tmp_path: Path
) -> None:
    database = tmp_path / "lab.sqlite3"
    server = start_server(lab_path=str(lab_file), lab_db=str(database))
    address = server.address
    assert server.running is not None and server.running.lab is not None
    store = server.running.lab
    outcomes: dict[str, object] = {}
    errors: list[BaseException] = []

    def student(name: str, right: bool) -> None:
        try:
            with Lab(address, name) as lab:
                assert lab.title == "Paging lab"
                assert set(lab.exercises) == {"replace", "kmap"}
                questions = lab.questions("replace")
                assert len(questions) == 2 and all(q.text for q in questions)
                expected = {
                    item.id: item.answer
                    for q in store.questions_of(name, "replace")
                    for item in q.items
                }
                assert [i.id for q in questions for i in q.items] == list(expected)
                answers = expected if right else {key: "hit" for key in expected}
                outcomes[name] = (lab.token, lab.submit("replace", answers), questions)
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    threads = [
        threading.Thread(target=student, args=("ada", True)),
        threading.Thread(target=student, args=("bob", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    ada_token, ada, ada_questions = outcomes["ada"]  # type: ignore[misc]
    _, bob, bob_questions = outcomes["bob"]  # type: ignore[misc]
    assert ada.result.correct == ada.result.total and ada.score == pytest.approx(2.0)
    assert bob.result.correct < bob.result.total and bob.score < 2.0
    assert ada.result.working  # one attempt allowed: the working comes with it
    assert [q.text for q in ada_questions] != [q.text for q in bob_questions]  # per-student seeds

    before = scoreboard(address, ADMIN_TOKEN)
    assert [s.name for s in before.students] == ["ada", "bob"]
    assert before.students[0].scores == {"replace": pytest.approx(2.0)}
    assert before.students[0].possible == pytest.approx(3.0)

    server.stop()
    again = start_server(lab_path=str(lab_file), lab_db=str(database))
    after = scoreboard(again.address, ADMIN_TOKEN)
    assert after == before
    with Lab(again.address, "ada", token=ada_token) as lab:  # rejoin: same questions
        assert [q.text for q in lab.questions("replace")] == [q.text for q in ada_questions]
        with pytest.raises(vmsim.LabClosed, match="no attempt left"):
            lab.submit("replace", {"1a": "hit"})


def test_bad_submissions_get_clear_errors(start_server: StartServer, lab_file: Path) -> None:
    server = start_server(lab_path=str(lab_file))
    with Lab(server.address, "eve") as lab:
        with pytest.raises(vmsim.InvalidArgument, match="no exercise 'translate'"):
            lab.questions("translate")
        with pytest.raises(vmsim.InvalidArgument, match="no item 9z"):
            lab.submit("kmap", {"9z": "0x1000"})
        with pytest.raises(vmsim.InvalidArgument, match="holds no answer"):
            lab.submit("kmap", {})
        with pytest.raises(vmsim.InvalidArgument, match="too long"):
            lab.submit("kmap", {"1a": "0" * 1000})
        first = lab.submit("kmap", {"1a": "0xc0000000"})  # the refused ones used no attempt
        assert first.attempt == 1 and first.result.working == ()  # an attempt is left
        assert all(item.expected == "" for item in first.result.items)
    with pytest.raises(vmsim.PermissionDenied, match="joined already"):
        Lab(server.address, "eve")
    with pytest.raises(vmsim.PermissionDenied):
        scoreboard(server.address, "wrong-token")
    channel = grpc.insecure_channel(server.address)
    stub = stub_class("lab")(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetLabQuestions(lab_pb2.GetLabQuestionsRequest(kind="kmap"), timeout=10)
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_submissions_after_the_deadline_are_refused(
    start_server: StartServer, tmp_path: Path
) -> None:
    path = tmp_path / "late.toml"
    path.write_text('deadline = 2000-01-01T00:00:00Z\n[[exercise]]\nkind = "replace"\n')
    server = start_server(lab_path=str(path))
    with Lab(server.address, "late") as lab:
        assert lab.questions("replace")
        with pytest.raises(vmsim.LabClosed, match="closed at 2000-01-01"):
            lab.submit("replace", {"1a": "miss"})


def test_a_server_without_a_lab_says_how_to_start_one(server_address: str) -> None:
    with pytest.raises(vmsim.VmsimError, match="start it with --lab FILE"):
        Lab(server_address, "ada")
    with Exercises(server_address) as exercises:  # practice is always served
        assert {e.kind for e in exercises.kinds()} >= {"translate", "replace", "buddy"}
