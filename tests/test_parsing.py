"""One size parser and one trace parser, shared by the server, the kernel's replay and the CLI."""

from __future__ import annotations

import pytest

import vmsim.render
import vmsim_kernel
import vmsim_server.settings
from vmsim_proto import parse_size, parse_trace
from vmsim_server.settings import parse_settings


@pytest.mark.parametrize(
    "text", ["64M", "64m", "64Mi", "64MiB", "64MB", "65536k", "67108864", "0x4000000", " 64M "]
)
def test_every_spelling_of_64_mib_is_the_same_size(text: str) -> None:
    assert parse_size(text) == 64 << 20


@pytest.mark.parametrize("text", ["", "lots", "64X", "-1", "64i", "1.5G", "0x", "64 M B"])
def test_what_is_not_a_size_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="examples: 4096, 0x1000"):
        parse_size(text)


def test_server_and_command_line_use_the_same_parsers() -> None:
    assert vmsim_server.settings.parse_size is vmsim.render.parse_size is parse_size
    assert vmsim.render.parse_trace_text is parse_trace


def test_the_server_accepts_binary_and_hex_sizes() -> None:
    assert parse_settings(["--ram", "64Mi"]).ram_bytes == 64 << 20
    assert parse_settings(["--ram", "0x4000000", "--swap", "128MiB"]).swap_bytes == 128 << 20


def test_traces_read_the_same_everywhere() -> None:
    text = "# header\n1, 2 0x10\n\n3 # tail\n"
    assert parse_trace(text) == vmsim_kernel.parse_trace(text) == [1, 2, 16, 3]
    with pytest.raises(ValueError, match="line 2: 'x' is not a number"):
        parse_trace("1 2\n3 x\n")
    with pytest.raises(vmsim_kernel.InvalidArgument, match="line 2"):
        vmsim_kernel.parse_trace("1 2\n3 x\n")


def test_one_address_variable_for_server_and_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from vmsim.cli import app

    monkeypatch.setenv("VMSIM_ADDR", "127.0.0.1:6001")
    assert parse_settings([]).address == "127.0.0.1:6001"
    assert parse_settings(["--addr", "127.0.0.1:6002"]).address == "127.0.0.1:6002"
    result = CliRunner().invoke(app, ["free"], env={"VMSIM_ADDR": "127.0.0.1:1"})
    assert result.exit_code == 1 and "127.0.0.1:1" in result.output
    # the old second name is read by neither side
    monkeypatch.delenv("VMSIM_ADDR")
    monkeypatch.setenv("VMSIM_ADDRESS", "127.0.0.1:6003")
    assert parse_settings([]).address == "127.0.0.1:50051"
    result = CliRunner().invoke(app, ["free"], env={"VMSIM_ADDRESS": "127.0.0.1:1"})
    assert "127.0.0.1:1" not in result.output


def test_client_and_lab_read_answers_with_the_one_shared_module() -> None:
    import vmsim.lab
    import vmsim_lab
    import vmsim_lab.exercise
    import vmsim_proto.answers

    assert vmsim.lab.parse_answers is vmsim_proto.answers.parse_answers
    assert vmsim_lab.normalize_answer is vmsim_proto.answers.normalize_answer
    assert vmsim.lab.ItemResult is vmsim_lab.ItemResult is vmsim_proto.answers.ItemResult
    assert not hasattr(vmsim_lab.exercise, "_SYNONYMS")  # no second copy of the rules


def test_an_item_id_is_the_same_item_whichever_side_spells_it() -> None:
    from vmsim_lab import check_answers, questions
    from vmsim_proto import parse_answers

    assert parse_answers("1A: 0x10  # mine\n\n 2b  miss\n") == {"1a": "0x10", "2b": "miss"}
    (first, *_) = questions("replace", 3, 1)[0].items
    # a client that does not go through parse_answers (the Python API) may send "1A"
    (checked, *_) = check_answers("replace", 3, 1, {first.id.upper(): first.answer.upper()}).items
    assert checked.id == first.id and checked.correct
    with pytest.raises(ValueError, match="line 1: 'nothing' is not 'ID: answer'"):
        parse_answers("nothing")
