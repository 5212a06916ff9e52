"""The wire types written once: client records and server converters generated from the protos.

A report field used to be written six times: the kernel's value, the .proto, the server's
converter (convert.py), the client's dataclass and its reader (results.py). Measured: with the
copies written by hand, server/vmsim_server/convert.py had 303 lines and client/vmsim/results.py
546; generated, they keep 214 and 233 (what no message mirrors: texts, enums, replay, frame map).

Two designs were weighed. A declarative table read at run time by both sides would still need
the client's dataclasses written by hand (mypy and the users see their attributes), and it
would walk descriptors on every reply, per call. Generating code from the .proto descriptors
gives typed dataclasses and straight-line converters with no per-call reflection, checked for
freshness in CI like the *_pb2 files. So the .proto is the one source, and RECORDS below only
says which messages become records and what the proto cannot say (a client-side name, a
field the server computes instead of reading it from the kernel's value of the same name).

A new field is then: the .proto edit, the kernel's value (an attribute of the same name),
`python scripts/gen_protos.py`.

Generated (never edit them; ruff skips them, mypy --strict checks them):
    client/vmsim/generated/records.py      frozen dataclasses + <record>_from_message readers
    server/vmsim_server/generated/messages.py  <name>(value, *, computed...) -> message

The client's records are dataclasses whose __init__, __repr__, __eq__ and __hash__ are written
out here, the bodies `dataclass(frozen=True)` would give them, rather than made by dataclasses
at import: it compiles six methods per class with exec, and for these twelve records that was
~20 ms of every `vmsim` command's start (issue 23), against ~2 ms to load them written out.
`_record` (dataclass_transform, frozen by default) keeps them dataclasses for fields(),
asdict() and replace(), and frozen for mypy; `_Record` refuses assignment at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

__all__ = ["CLIENT_OUTPUT", "RECORDS", "SERVER_OUTPUT", "Record", "render_client", "render_server"]

CLIENT_OUTPUT = Path("client") / "vmsim" / "generated" / "records.py"
SERVER_OUTPUT = Path("server") / "vmsim_server" / "generated" / "messages.py"

_FDP = descriptor_pb2.FieldDescriptorProto
_SCALAR_TYPES = {
    _FDP.TYPE_BOOL: "bool",
    _FDP.TYPE_STRING: "str",
    _FDP.TYPE_BYTES: "bytes",
    _FDP.TYPE_DOUBLE: "float",
    _FDP.TYPE_FLOAT: "float",
}
_ZERO = {"bool": "False", "str": '""', "bytes": 'b""', "float": "0.0", "int": "0"}
_COUNTER = ".vmsim.v1.Counter"  # repeated Counter reads as dict[str, int] on the client


@dataclass(frozen=True)
class Record:
    """One message that is a value on both sides of the wire.

    Attributes:
        message: the .proto message ("Vma", "GetCpuTimesResponse").
        client: the client's class name (vmsim.results), or "" for none.
        doc: the client class's docstring.
        server: the server converter's name (vmsim_server.generated.messages), or "" for none.
        computed: fields the server's caller passes in, because the kernel's value has no
            attribute of that name and type (an enum turned into a string, a name kept as a key).
        omit: fields the client record leaves out.
        extra: client-only fields (name, type, default), also parameters of the reader.
        methods: client methods (name, "module:function"), e.g. a notebook's _repr_html_.
    """

    message: str
    client: str
    doc: str
    server: str = ""
    computed: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()
    extra: tuple[tuple[str, str, str], ...] = ()
    methods: tuple[tuple[str, str], ...] = ()


RECORDS = (
    Record("Vma", "Vma", "A maps/smaps row (sizes in bytes).", server="vma"),
    Record(
        "Translation",
        "Translation",
        "A page walk with every intermediate value; `text` is the readable form.",
        server="translation",
        computed=("logical",),
        extra=(("text", "str", '""'),),
        methods=(("_repr_html_", "vmsim.html:translation_html"),),
    ),
    Record(
        "ProcessStatus",
        "ProcessStatus",
        "/proc/<pid>/status numbers (bytes); `text` is the /proc text (empty in a listing).",
        server="process_status",
        computed=("state", "killed_by"),
        extra=(("text", "str", '""'),),
    ),
    Record("CallCost", "CallCost", "What one call cost its thread in simulated nanoseconds."),
    Record("Zone", "Zone", "One zone of zoneinfo/buddyinfo (pages).", server="zone"),
    Record("SwapArea", "SwapArea", "A /proc/swaps row."),
    Record(
        "ShmObject",
        "ShmObject",
        "A named shared memory object, as ls -l /dev/shm shows it (sizes in bytes).",
        server="shm_object",
    ),
    Record(
        "FileInfo",
        "FileInfo",
        "A file of the machine's file system: stat(2) and the page cache's view (sizes in bytes).",
        server="file_info",
    ),
    Record(
        "OpenFileInfo",
        "OpenFileInfo",
        "An open file descriptor of a process (/proc/PID/fdinfo/N).",
        server="open_file_info",
    ),
    Record(
        "MigrateTypeCount",
        "MigrateTypeCount",
        "Free blocks per order and pageblocks of one migratetype in one zone (pagetypeinfo).",
        server="migratetype_count",
    ),
    Record(
        "ZonePageTypes",
        "ZonePageTypes",
        "One zone of /proc/pagetypeinfo: every migratetype's free blocks and pageblocks.",
        server="zone_page_types",
    ),
    Record(
        "LockClass",
        "LockClass",
        "One /proc/lock_stat row (times in nanoseconds).",
        server="lock_class",
        computed=("name", "kind"),
    ),
    Record(
        "GetCpuTimesResponse",
        "CpuTimes",
        "Machine-wide simulated time (nanoseconds) and its /proc/stat-style text.",
    ),
    Record(
        "WatchEventsResponse",
        "Event",
        "One event of the feed.",
        server="watch_event",
        computed=("kind", "dropped"),
    ),
    Record("TouchManyResponse", "TouchSummary", "Outcome of a batched touch.", omit=("cost",)),
    # The client reads these into vmsim_proto.replay_results' classes, which the offline
    # replay shares: no client record, only the server's converters.
    Record("ReplayStep", "", "", server="replay_step"),
    Record("ReplayResponse", "", "", server="replay"),
    Record(
        "SegmentStep",
        "",
        "",
        server="segment_step",
        computed=("descriptor", "base", "limit", "dpl"),
    ),
)


def snake(name: str) -> str:
    """CamelCase -> snake_case."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class _Message:
    """A message of the descriptor set, with where it was declared."""

    proto: descriptor_pb2.DescriptorProto
    module: str  # "common_pb2"
    comments: dict[str, str]  # field name -> its comment


def _index(
    files: descriptor_pb2.FileDescriptorSet,
) -> tuple[dict[str, _Message], dict[str, dict[int, str]]]:
    """Every top-level vmsim message by full name; every enum's value names by full name."""
    messages: dict[str, _Message] = {}
    enums: dict[str, dict[int, str]] = {}
    for file in files.file:
        if not file.package.startswith("vmsim."):
            continue
        module = Path(file.name).stem + "_pb2"
        comments: dict[tuple[int, ...], str] = {}
        for location in file.source_code_info.location:
            text = (location.leading_comments or location.trailing_comments).strip()
            if text:
                comments[tuple(location.path)] = " ".join(text.split())
        for m_index, message in enumerate(file.message_type):
            field_comments = {
                f.name: comments.get((4, m_index, 2, f_index), "")
                for f_index, f in enumerate(message.field)
            }
            messages[f".{file.package}.{message.name}"] = _Message(message, module, field_comments)
        for enum in file.enum_type:
            prefix = _enum_prefix(enum.name)
            enums[f".{file.package}.{enum.name}"] = {
                v.number: v.name.removeprefix(prefix).lower() for v in enum.value
            }
    return messages, enums


def _enum_prefix(enum_name: str) -> str:
    return snake(enum_name).upper() + "_"


def _record_of(records: dict[str, Record], type_name: str) -> Record | None:
    return records.get(type_name.rsplit(".", 1)[-1])


def _client_field(
    field: descriptor_pb2.FieldDescriptorProto, records: dict[str, Record]
) -> tuple[str, str, str]:
    """(annotation, default, read expression on `message`) of one field in the client record."""
    name = field.name
    repeated = field.label == _FDP.LABEL_REPEATED
    if field.type == _FDP.TYPE_MESSAGE:
        if repeated and field.type_name == _COUNTER:
            return (
                "dict[str, int]",
                "field(default_factory=dict)",
                f"{{c.name: c.value for c in message.{name}}}",
            )
        record = _record_of(records, field.type_name)
        if record is None or not record.client:
            raise SystemExit(f"{field.type_name} (field {name}) needs a client record in RECORDS")
        reader = f"{snake(record.client)}_from_message"
        if repeated:
            return (
                f"tuple[{record.client}, ...]",
                "()",
                f"tuple({reader}(m) for m in message.{name})",
            )
        return (
            f"{record.client} | None",
            "None",
            f'{reader}(message.{name}) if message.HasField("{name}") else None',
        )
    if field.type == _FDP.TYPE_ENUM:
        table = f"_{snake(field.type_name.rsplit('.', 1)[-1]).upper()}_NAMES"
        base, read = "str", f'{table}.get(message.{name}, "")'
    else:
        base = _SCALAR_TYPES.get(field.type, "int")
        read = f"message.{name}"
    if repeated:
        return f"tuple[{base}, ...]", "()", f"tuple(message.{name})"
    if field.proto3_optional:
        return f"{base} | None", "None", f'{read} if message.HasField("{name}") else None'
    return base, _ZERO[base], read


def _enums_used(records: dict[str, Record], messages: dict[str, _Message]) -> list[str]:
    used = []
    for record in records.values():
        for field in messages[f".vmsim.v1.{record.message}"].proto.field:
            if field.type == _FDP.TYPE_ENUM and field.type_name not in used:
                used.append(field.type_name)
    return used


def _header(purpose: str) -> list[str]:
    return [
        f'"""{purpose}',
        "",
        "Generated by scripts/gen_protos.py from protos/vmsim_proto/v1 and the RECORDS table of",
        "scripts/wire_records.py: do not edit (change the .proto, then regenerate).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]


def _modules(records: dict[str, Record], messages: dict[str, _Message], side: str) -> list[str]:
    return sorted(
        {messages[f".vmsim.v1.{r.message}"].module for r in records.values() if getattr(r, side)}
    )


def render_client(files: descriptor_pb2.FileDescriptorSet) -> str:
    """The client's records module: one frozen dataclass and one reader per client record."""
    messages, enums = _index(files)
    records = {r.message: r for r in RECORDS}
    clients = [r for r in RECORDS if r.client]
    lines = _header("The client's result records and their readers, one per wire message.")
    lines += [
        "from dataclasses import FrozenInstanceError, dataclass, field",
        "from typing import Any, TypeVar, dataclass_transform",
        "",
    ]
    methods = sorted({target for r in clients for _, target in r.methods})
    for target in methods:
        module, function = target.split(":")
        lines.append(f"from {module} import {function}")
    modules = _modules(records, messages, "client")
    lines += [f"from vmsim_proto.v1 import {', '.join(modules)}", ""]
    names = [r.client for r in clients] + [f"{snake(r.client)}_from_message" for r in clients]
    lines += ["__all__ = [", *[f'    "{n}",' for n in sorted(names)], "]", ""]
    lines += _RECORD_BASE
    for enum in _enums_used(records, messages):
        table = f"_{snake(enum.rsplit('.', 1)[-1]).upper()}_NAMES"
        lines += [
            f"# {enum[1:]} values by number, as lower-case names without the enum's prefix.",
            f"{table}: dict[int, str] = {enums[enum]!r}",
            "",
        ]
    for record in clients:
        message = messages[f".vmsim.v1.{record.message}"]
        fields = [f for f in message.proto.field if f.name not in record.omit]
        lines += [
            "",
            "@_record",
            f"class {record.client}(_Record):",
            f'    """{record.doc}"""',
            "",
        ]
        reads = []
        declared = []  # (name, annotation, default) of every field, in order
        for f in fields:
            annotation, default, read = _client_field(f, records)
            if message.comments[f.name]:
                lines.append(f"    # {message.comments[f.name]}")
            lines.append(f"    {f.name}: {annotation} = {default}")
            reads.append(read)
            declared.append((f.name, annotation, default))
        for name, annotation, default in record.extra:
            lines.append(f"    {name}: {annotation} = {default}")
            declared.append((name, annotation, default))
        lines += _dataclass_methods(record.client, declared)
        for name, target in record.methods:
            lines += ["", f"    {name} = {target.split(':')[1]}"]
        extra_params = "".join(f", {n}: {a} = {d}" for n, a, d in record.extra)
        reads += [name for name, _, _ in record.extra]
        lines += [
            "",
            "",
            f"def {snake(record.client)}_from_message(message: "
            f"{message.module}.{record.message}{extra_params}) -> {record.client}:",
            f'    """{record.client} from a vmsim.v1.{record.message}."""',
            f"    return {record.client}(",
            *[f"        {read}," for read in reads],
            "    )",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


# What every client record shares, written once at the top of records.py.
_RECORD_BASE = [
    '_T = TypeVar("_T")',
    "# The default of a field made by its default_factory (dataclasses' own sentinel's role).",
    "_FACTORY: Any = object()",
    "",
    "",
    "@dataclass_transform(frozen_default=True, field_specifiers=(field,))",
    "def _record(cls: type[_T]) -> type[_T]:",
    '    """A dataclass whose __init__, __repr__, __eq__ and __hash__ the class writes out',
    '    (see scripts/wire_records.py: dataclasses would compile them with exec at import)."""',
    "    return dataclass(init=False, repr=False, eq=False)(cls)",
    "",
    "",
    "class _Record:",
    '    """Fields set once, by __init__, as a frozen dataclass\'s are."""',
    "",
    "    __slots__ = ()",
    "",
    "    def __setattr__(self, name: str, value: object) -> None:",
    '        raise FrozenInstanceError(f"cannot assign to field {name!r}")',
    "",
    "    def __delattr__(self, name: str) -> None:",
    '        raise FrozenInstanceError(f"cannot delete field {name!r}")',
    "",
    "",
]


def _dataclass_methods(cls: str, declared: list[tuple[str, str, str]]) -> list[str]:
    """__init__, __repr__, __eq__ and __hash__ as `dataclass(frozen=True)` makes them."""
    params, sets = [], []
    for name, annotation, default in declared:
        if default.startswith("field(default_factory="):
            factory = default.removeprefix("field(default_factory=").removesuffix(")")
            params.append(f"{name}: {annotation} = _FACTORY")
            sets.append(
                f'        _set(self, "{name}", {factory}() if {name} is _FACTORY else {name})'
            )
        else:
            params.append(f"{name}: {annotation} = {default}")
            sets.append(f'        _set(self, "{name}", {name})')
    names = [name for name, _, _ in declared]
    shown = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
    ours = ", ".join(f"self.{n}" for n in names) + ","
    theirs = ", ".join(f"other.{n}" for n in names) + ","
    return [
        "",
        "    def __init__(",
        "        self,",
        *[f"        {param}," for param in params],
        "    ) -> None:",
        "        _set = object.__setattr__",
        *sets,
        "",
        "    def __repr__(self) -> str:",
        f'        return f"{{self.__class__.__qualname__}}({shown})"',
        "",
        "    def __eq__(self, other: object) -> bool:",
        f"        if isinstance(other, {cls}) and other.__class__ is self.__class__:",
        f"            return ({ours}) == ({theirs})",
        "        return NotImplemented",
        "",
        "    def __hash__(self) -> int:",
        f"        return hash(({ours}))",
    ]


def render_server(files: descriptor_pb2.FileDescriptorSet) -> str:
    """The server's converters: each copies the kernel value's same-named attributes."""
    messages, _ = _index(files)
    records = {r.message: r for r in RECORDS}
    servers = [r for r in RECORDS if r.server]
    lines = _header("Kernel values -> vmsim.v1 messages, one converter per wire record.")
    lines += ["from typing import Any", ""]
    modules = _modules(records, messages, "server")
    if (
        any(
            f.type_name == _COUNTER
            for r in servers
            for f in messages[f".vmsim.v1.{r.message}"].proto.field
        )
        and "common_pb2" not in modules
    ):
        modules = sorted([*modules, "common_pb2"])
    lines += [f"from vmsim_proto.v1 import {', '.join(modules)}", ""]
    lines += [
        "__all__ = [",
        *[f'    "{r.server}",' for r in sorted(servers, key=lambda r: r.server)],
        "]",
        "",
    ]
    for record in servers:
        message = messages[f".vmsim.v1.{record.message}"]
        params = "".join(
            f", {f.name}: {_server_parameter_type(f, files)}"
            for f in message.proto.field
            if f.name in record.computed
        )
        star = ", *" if record.computed else ""
        lines += [
            "",
            f"def {record.server}(value: Any{star}{params}) -> {message.module}.{record.message}:",
            f'    """vmsim.v1.{record.message} from *value*\'s attributes of the same names'
            + (f" ({', '.join(record.computed)} given)." if record.computed else ".")
            + '"""',
            f"    return {message.module}.{record.message}(",
        ]
        lines += [f"        {arg}," for arg in _server_arguments(message, record, records)]
        lines += ["    )", ""]
    return "\n".join(lines).rstrip() + "\n"


def _server_parameter_type(
    field: descriptor_pb2.FieldDescriptorProto, files: descriptor_pb2.FileDescriptorSet
) -> str:
    """The annotation of a computed field's parameter (an enum by its generated type)."""
    if field.type == _FDP.TYPE_ENUM:
        base = next(
            f"{Path(file.name).stem}_pb2.{enum.name}"
            for file in files.file
            for enum in file.enum_type
            if f".{file.package}.{enum.name}" == field.type_name
        )
    else:
        base = _SCALAR_TYPES.get(field.type, "int")
    return f"{base} | None" if field.proto3_optional else base


def _server_arguments(
    message: _Message, record: Record, records: dict[str, Record]
) -> Iterator[str]:
    for field in message.proto.field:
        name = field.name
        if name in record.computed:
            yield f"{name}={name}"
        elif field.type == _FDP.TYPE_MESSAGE and field.type_name == _COUNTER:
            yield (
                f"{name}=[common_pb2.Counter(name=k, value=max(0, v)) "
                f"for k, v in value.{name}.items()]"
            )
        elif field.type == _FDP.TYPE_MESSAGE:
            nested = _record_of(records, field.type_name)
            if nested is None or not nested.server:
                raise SystemExit(f"{field.type_name} (field {name}) needs a server converter")
            if field.label == _FDP.LABEL_REPEATED:
                yield f"{name}=[{nested.server}(v) for v in value.{name}]"
            else:
                yield f"{name}=None if value.{name} is None else {nested.server}(value.{name})"
        else:
            # None leaves an optional field unset (protobuf's constructor skips it).
            yield f"{name}=value.{name}"
