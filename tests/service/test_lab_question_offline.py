"""Is `vmsim lab question` offline, which answers with plain records and no protobuf (issue 23),
still the server's answer: one wire contract, whichever way the questions come?

The records (vmsim_proto.questions) are what the server's messages are made of
(vmsim_lab.question_record). These tests hold the offline records and the offline command's
output equal to a running server's for several seeds and every kind (its refusals:
test_cli_startup.py::test_offline_answers_are_the_servers).
"""

from __future__ import annotations

import pytest
from tests.service.conftest import ServerThread, StartServer

from vmsim import offline
from vmsim.cli import fast
from vmsim.lab import Exercises
from vmsim.practice import question_record
from vmsim_lab import EXERCISES

SEEDS = (0, 7, 23)


@pytest.fixture(scope="module")
def served(start_module_server: StartServer) -> ServerThread:
    """A server that admits every practice question of the module at once."""
    return start_module_server(client_heavy_calls_per_second=1000.0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXERCISES))
def test_offline_records_are_the_servers_questions(served: ServerThread, kind: str) -> None:
    with Exercises(served.address) as there:
        for seed in SEEDS:
            for with_answers in (True, False):
                asked = there.questions(kind, seed, 2, with_answers=with_answers)
                records = offline.practice_questions(kind, seed, 2, with_answers)
                assert records == [question_record(question) for question in asked]
                assert records[0]["kind"] == kind and records[1]["number"] == 2
                assert bool(records[0]["working"]) is with_answers


def _printed(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """What `vmsim ARGUMENTS` prints, run by the argparse front end as the console script does."""
    assert fast.run(arguments)
    return capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXERCISES))
def test_the_offline_command_prints_what_it_prints_from_a_server(
    served: ServerThread, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    for seed in SEEDS[:2]:
        for options in (("--answers",), ("--key",), ("--json",)):
            asked = ("lab", "question", kind, "--seed", str(seed), "-n", "2", *options)
            here = _printed(capsys, *asked)
            assert "1a" in here and "2a" in here  # two questions, each with its items
            assert here == _printed(capsys, *asked, "--addr", served.address), (seed, options)


def test_an_install_without_the_questions_entry_point_gets_the_same_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = offline.practice_questions("translate", 7, 2, True)
    registered = offline._embedded
    asked: list[str] = []

    def without_questions(name: str) -> object:
        asked.append(name)
        return None if name == "questions" else registered(name)

    monkeypatch.setattr(offline, "_embedded", without_questions)
    assert offline.practice_questions("translate", 7, 2, True) == expected
    assert asked == ["questions", "calls"]  # through the in-process ExerciseService's messages
