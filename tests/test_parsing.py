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


@pytest.mark.slow
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


TRACE_TEXTS = [
    "7 0 1 2\n0, 3 ,0\t4 # comment 99\n0x10 0XfF 0\n",
    "1,2,,3\r\n# only a comment\n\n4",
    "",
    " \n\t ",
    "007 1",  # not Python syntax: the token parser explains
    "1_000 2",  # underscores: Python's int() takes them
    "0o17 0b101 +3",  # other bases and a sign: the token parser
    "12 abc",
    "0x 1",
    "0 0x0 00",
    "1 0xFFFFFFFF",
    "0x100000000",  # beyond a 32-bit address
    "0 10 0\n3\t40\r\n 4294967295",
    "123456789012345678901234567890",
]


@pytest.mark.parametrize("text", TRACE_TEXTS)
def test_the_vectorised_reader_agrees_with_the_token_parser(text: str) -> None:
    from vmsim_proto import parsing

    try:
        expected: list[int] | str = parsing._parse_trace_tokens(text, parsing.LARGEST_ADDRESS)
    except ValueError as error:
        expected = str(error)
    try:
        found: list[int] | str = parse_trace(text)
    except ValueError as error:
        found = str(error)
    assert found == expected
    vectorised = parsing._vectorised_trace(text.encode(), parsing.LARGEST_ADDRESS)
    if vectorised is not None:  # None: it left the text to the token parser
        assert vectorised.tolist() == expected


def test_plain_decimal_and_hex_traces_are_read_without_the_token_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vmsim_proto import parsing

    monkeypatch.setattr(parsing, "_parse_trace_tokens", lambda *args: pytest.fail("tokens"))
    assert parsing.parse_trace_array(b"1 2\r\n3\t40\n").tolist() == [1, 2, 3, 40]
    assert parse_trace("0x10, 0XfF # c\n7") == [16, 255, 7]
