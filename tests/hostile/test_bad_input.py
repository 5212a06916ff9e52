"""Items 11 and 12: what a client sends never makes an error unreadable. Input echoed into an
error is cut ("... (N bytes)") so the status stays under grpc's 16 KiB metadata limit, a huge
KillProcess reason is refused, and a request that does not decode is INVALID_ARGUMENT naming
the method (it was UNKNOWN "Unexpected DecodeError")."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_status import rpc_status
from tests.hostile.conftest import ServerProcess, StartServerProcess, write_lab_file

from vmsim.endpoint import stub_class
from vmsim_proto.v1 import (
    admin_pb2,
    inspect_pb2,
    lab_pb2,
    process_pb2,
)

MIB = 1 << 20
HUGE = "x" * MIB


@pytest.fixture
def lab_server(start_server_process: StartServerProcess, tmp_path: Path) -> ServerProcess:
    lab_file = write_lab_file(tmp_path)
    return start_server_process("--lab", str(lab_file), "--admin-token", "admin-secret")


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def assert_bounded_invalid_argument(error: grpc.RpcError, field: str) -> None:
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
    details = error.details() or ""
    # The input is either cut ("... (N bytes)") or not echoed at all (a name's length is
    # refused before it is quoted); never the whole megabyte.
    assert len(details) < 1000 and HUGE[:300] not in details, details
    assert re.search(r"\.\.\. \(10\d{5} bytes\)", details) or "characters" in details, details
    assert details.startswith(f"{field}: ") and "allowed: " in details  # still says what is
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None and status.ByteSize() < 4096


def test_huge_kind_item_id_and_name_come_back_as_short_invalid_argument(
    lab_server: ServerProcess,
) -> None:
    with grpc.insecure_channel(lab_server.address) as channel:
        exercises = stub_class("exercise")(channel)
        lab = stub_class("lab")(channel)
        kind = refusal(
            lambda: exercises.GetQuestions(lab_pb2.GetQuestionsRequest(kind=HUGE), timeout=30)
        )
        assert_bounded_invalid_argument(kind, "kind")
        item = refusal(
            lambda: exercises.CheckAnswers(
                lab_pb2.CheckAnswersRequest(kind="replace", answers={HUGE: "1"}), timeout=30
            )
        )
        assert_bounded_invalid_argument(item, "answers")
        name = refusal(lambda: lab.JoinLab(lab_pb2.JoinLabRequest(name=HUGE), timeout=30))
        assert_bounded_invalid_argument(name, "name")


def test_a_huge_kill_reason_is_refused_and_kills_nothing(lab_server: ServerProcess) -> None:
    with grpc.insecure_channel(lab_server.address) as channel:
        processes = stub_class("process")(channel)
        admin = stub_class("admin")(channel)
        spawned = processes.Spawn(process_pb2.SpawnRequest(name="victim"), timeout=10)
        kill = admin_pb2.KillProcessRequest(pid=spawned.pid, reason=HUGE)
        error = refusal(
            lambda: admin.KillProcess(
                kill, metadata=(("x-vmsim-admin-token", "admin-secret"),), timeout=30
            )
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 256 characters" in (error.details() or "")
        heartbeat = process_pb2.HeartbeatRequest(pid=spawned.pid)
        processes.Heartbeat(heartbeat, metadata=(("x-vmsim-token", spawned.token),), timeout=10)
    assert HUGE[:10_000] not in lab_server.log()


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        ("/vmsim.v1.ProcessService/Touch", b"\x08"),  # a varint field cut short
        ("/vmsim.v1.ProcessService/Spawn", b"\x0a\x02\xff\xfe"),  # name: bad UTF-8
        ("/vmsim.v1.InspectService/GetSmaps", b"\xff\xff\xff"),
        ("/vmsim.v1.ExerciseService/GetQuestions", b"\x0a\x05ab"),  # length past the end
    ],
)
def test_an_undecodable_request_is_invalid_argument_naming_the_method(
    lab_server: ServerProcess, method: str, raw: bytes
) -> None:
    with grpc.insecure_channel(lab_server.address) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        error = refusal(lambda: call(raw, timeout=10))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert f"{method.strip('/')}: the request could not be decoded" in (error.details() or "")
        # The server is whole: the same method with a good request works.
        inspect = stub_class("inspect")(channel)
        inspect.GetMeminfo(inspect_pb2.GetMeminfoRequest(), timeout=10)


def test_an_undecodable_message_on_a_run_stream_ends_it_with_invalid_argument(
    lab_server: ServerProcess,
) -> None:
    with grpc.insecure_channel(lab_server.address) as channel:
        processes = stub_class("process")(channel)
        spawned = processes.Spawn(process_pb2.SpawnRequest(name="streamer"), timeout=10)
        run = channel.stream_stream(
            "/vmsim.v1.ProcessService/Run", request_serializer=None, response_deserializer=None
        )
        replies = run(iter([b"\x08"]), metadata=(("x-vmsim-token", spawned.token),), timeout=10)
        error = refusal(lambda: list(replies))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert "vmsim.v1.ProcessService/Run: the request could not be decoded" in (
            error.details() or ""
        )
