"""Wire types are written once: the client's records and the server's converters come from the protos."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from dataclasses import MISSING
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from vmsim import results
from vmsim.generated import records
from vmsim_proto.v1 import common_pb2, inspect_pb2, kernel_pb2, process_pb2
from vmsim_server.generated import messages

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import wire_records  # noqa: E402  (a script, not a package)

MODULES = {
    "common_pb2": common_pb2,
    "inspect_pb2": inspect_pb2,
    "kernel_pb2": kernel_pb2,
    "process_pb2": process_pb2,
}


def message_class(record: wire_records.Record) -> Any:
    for module in MODULES.values():
        if record.message in module.DESCRIPTOR.message_types_by_name:
            return getattr(module, record.message)
    raise AssertionError(f"no message {record.message}")


# Every record the client has a class for, one test case each (named by its message).
each_client_record = pytest.mark.parametrize(
    "record", [r for r in wire_records.RECORDS if r.client], ids=lambda r: r.message
)


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    files = descriptor_pb2.FileDescriptorSet()
    for module in MODULES.values():
        module.DESCRIPTOR.CopyToProto(files.file.add())
    return files


@each_client_record
def test_every_message_field_is_an_attribute_of_the_client_record(
    record: wire_records.Record,
) -> None:
    record_class = getattr(results, record.client)
    fields = [f.name for f in dataclasses.fields(record_class)]
    wire = [f.name for f in message_class(record).DESCRIPTOR.fields if f.name not in record.omit]
    assert fields == wire + [name for name, _, _ in record.extra]


def test_a_kernel_value_crosses_the_wire_unchanged() -> None:
    vma = SimpleNamespace(
        start=0x8048000, end=0x804A000, perms="rw-p", name="[heap]", rss=4096, swap=0,
        anonymous=4096, referenced=4096, shared_clean=0, shared_dirty=0, private_clean=0,
        private_dirty=4096, pss=4096, pss_dirty=4096, swap_pss=0,
    )  # fmt: skip
    walk = SimpleNamespace(
        linear=0x8048123, cr3=0x1000, pde_index=32, pde_address=0x1080, pde=0x2067,
        pte_index=72, pte_address=0x2120, pte=0x5067, present=True, pfn=5, physical=0x5123,
        writable=True, user=True, accessed=True, dirty=False, swap_type=None, swap_offset=None,
        fault=None, vma=vma,
    )  # fmt: skip
    message = messages.translation(walk, logical="0x73:0x08048123")
    assert not message.HasField("swap_offset")  # None stays unset, not 0
    read = results.translation_of(message, "text")
    assert dataclasses.asdict(read) == {
        **vars(walk),
        "vma": vars(vma),
        "logical": "0x73:0x08048123",
        "text": "text",
    }
    assert "walk of 0x08048123" in read._repr_html_()


def test_a_status_with_computed_fields_crosses_the_wire() -> None:
    info = SimpleNamespace(
        pid=100, name="p", vm_size=1, vm_rss=2, vm_swap=3, vm_pte=4, vm_peak=5, vm_hwm=6,
        minor_faults=7, major_faults=8, oom_score_adj=-9, oom_score=10, kill_address=None,
        kill_reason="lease expired", nr_threads=2, user_ns=11, system_ns=12, iowait_ns=13,
        lock_wait_ns=14,
    )  # fmt: skip
    status = results.process_status(messages.process_status(info, state="Z", killed_by="SIGKILL"))
    assert (status.state, status.killed_by, status.kill_address) == ("Z", "SIGKILL", None)
    assert (status.oom_score_adj, status.kill_reason, status.lock_wait_ns) == (
        -9,
        "lease expired",
        14,
    )


def test_a_new_proto_field_reaches_both_sides_with_no_other_edit() -> None:
    files = descriptor_set()
    vma = next(m for f in files.file for m in f.message_type if m.name == "Vma")
    vma.field.add(
        name="nr_huge",
        number=99,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    client, server = wire_records.render_client(files), wire_records.render_server(files)
    assert "    nr_huge: int = 0\n" in client and "        message.nr_huge,\n" in client
    assert "        nr_huge=value.nr_huge,\n" in server


def _twin(record_class: type) -> Any:
    """The class `dataclass(frozen=True)` makes from the same fields, with its own methods."""
    return dataclasses.make_dataclass(
        record_class.__name__,
        [
            (
                f.name,
                f.type,
                dataclasses.field(default=f.default, default_factory=f.default_factory),
            )
            for f in dataclasses.fields(record_class)
        ],
        frozen=True,
    )


def _sample(value: object) -> object:
    """A value other than the default *value* of a field, of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, str):
        return value + "x"
    return value


@each_client_record
def test_a_record_behaves_as_the_frozen_dataclass_of_its_fields(
    record: wire_records.Record,
) -> None:
    """The generator writes the methods out (cheaper to import): they answer as dataclasses'."""
    ours = getattr(results, record.client)
    twin = _twin(ours)
    factories = {f.name for f in dataclasses.fields(ours) if f.default_factory is not MISSING}
    parameters = [
        (p.name, p.kind, p.annotation, None if p.name in factories else p.default)
        for p in inspect.signature(ours).parameters.values()
    ]
    assert parameters == [
        (p.name, p.kind, p.annotation, None if p.name in factories else p.default)
        for p in inspect.signature(twin).parameters.values()
    ]
    defaults = ours()
    values = {k: _sample(v) for k, v in dataclasses.asdict(defaults).items()}
    for kwargs in ({}, values):
        mine, theirs = ours(**kwargs), twin(**kwargs)
        assert repr(mine) == repr(theirs)
        assert dataclasses.asdict(mine) == dataclasses.asdict(theirs)
        assert dataclasses.astuple(mine) == dataclasses.astuple(theirs)
        assert mine == ours(**kwargs) and mine != theirs  # another class is never equal
        assert (mine == defaults) == (theirs == twin())
        try:
            expected_hash: object = hash(theirs)
        except TypeError as error:  # a dict field: unhashable, as the dataclass is
            expected_hash = str(error)
            with pytest.raises(TypeError, match=str(error)):
                hash(mine)
        else:
            assert hash(mine) == expected_hash
        name = dataclasses.fields(ours)[0].name
        with pytest.raises(
            dataclasses.FrozenInstanceError, match=f"cannot assign to field '{name}'"
        ):
            setattr(mine, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot delete field '{name}'"):
            delattr(mine, name)
        assert dataclasses.replace(mine, **{name: getattr(defaults, name)}) == ours(
            **{**kwargs, name: getattr(defaults, name)}
        )
    assert ours.__match_args__ == twin.__match_args__
    # written in the generated module, not compiled by dataclasses with exec at import
    for method in ("__init__", "__repr__", "__eq__", "__hash__"):
        assert vars(ours)[method].__code__.co_filename == records.__file__, method
