from vmsim_proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Gfp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GFP_UNSPECIFIED: _ClassVar[Gfp]
    GFP_KERNEL: _ClassVar[Gfp]
    GFP_ATOMIC: _ClassVar[Gfp]
    GFP_DMA: _ClassVar[Gfp]
GFP_UNSPECIFIED: Gfp
GFP_KERNEL: Gfp
GFP_ATOMIC: Gfp
GFP_DMA: Gfp

class OpenSessionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OpenSessionResponse(_message.Message):
    __slots__ = ("session", "lease_seconds")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    session: int
    lease_seconds: int
    def __init__(self, session: _Optional[int] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: int
    def __init__(self, session: _Optional[int] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("freed",)
    FREED_FIELD_NUMBER: _ClassVar[int]
    freed: int
    def __init__(self, freed: _Optional[int] = ...) -> None: ...

class KmallocRequest(_message.Message):
    __slots__ = ("session", "size", "gfp")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    GFP_FIELD_NUMBER: _ClassVar[int]
    session: int
    size: int
    gfp: Gfp
    def __init__(self, session: _Optional[int] = ..., size: _Optional[int] = ..., gfp: _Optional[_Union[Gfp, str]] = ...) -> None: ...

class KmallocResponse(_message.Message):
    __slots__ = ("addr",)
    ADDR_FIELD_NUMBER: _ClassVar[int]
    addr: int
    def __init__(self, addr: _Optional[int] = ...) -> None: ...

class KfreeRequest(_message.Message):
    __slots__ = ("session", "addr")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    session: int
    addr: int
    def __init__(self, session: _Optional[int] = ..., addr: _Optional[int] = ...) -> None: ...

class KfreeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VmallocRequest(_message.Message):
    __slots__ = ("session", "size")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    session: int
    size: int
    def __init__(self, session: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class VmallocResponse(_message.Message):
    __slots__ = ("addr",)
    ADDR_FIELD_NUMBER: _ClassVar[int]
    addr: int
    def __init__(self, addr: _Optional[int] = ...) -> None: ...

class VfreeRequest(_message.Message):
    __slots__ = ("session", "addr")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    session: int
    addr: int
    def __init__(self, session: _Optional[int] = ..., addr: _Optional[int] = ...) -> None: ...

class VfreeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KmapRequest(_message.Message):
    __slots__ = ("session", "pfn")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PFN_FIELD_NUMBER: _ClassVar[int]
    session: int
    pfn: int
    def __init__(self, session: _Optional[int] = ..., pfn: _Optional[int] = ...) -> None: ...

class KmapResponse(_message.Message):
    __slots__ = ("addr", "waited_ms")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    WAITED_MS_FIELD_NUMBER: _ClassVar[int]
    addr: int
    waited_ms: int
    def __init__(self, addr: _Optional[int] = ..., waited_ms: _Optional[int] = ...) -> None: ...

class KunmapRequest(_message.Message):
    __slots__ = ("session", "pfn_or_addr")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PFN_OR_ADDR_FIELD_NUMBER: _ClassVar[int]
    session: int
    pfn_or_addr: int
    def __init__(self, session: _Optional[int] = ..., pfn_or_addr: _Optional[int] = ...) -> None: ...

class KunmapResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KmapAtomicRequest(_message.Message):
    __slots__ = ("session", "pfn", "cpu")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PFN_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    session: int
    pfn: int
    cpu: int
    def __init__(self, session: _Optional[int] = ..., pfn: _Optional[int] = ..., cpu: _Optional[int] = ...) -> None: ...

class KmapAtomicResponse(_message.Message):
    __slots__ = ("addr",)
    ADDR_FIELD_NUMBER: _ClassVar[int]
    addr: int
    def __init__(self, addr: _Optional[int] = ...) -> None: ...

class KunmapAtomicRequest(_message.Message):
    __slots__ = ("session", "addr", "cpu")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    session: int
    addr: int
    cpu: int
    def __init__(self, session: _Optional[int] = ..., addr: _Optional[int] = ..., cpu: _Optional[int] = ...) -> None: ...

class KunmapAtomicResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PaRequest(_message.Message):
    __slots__ = ("vaddr",)
    VADDR_FIELD_NUMBER: _ClassVar[int]
    vaddr: int
    def __init__(self, vaddr: _Optional[int] = ...) -> None: ...

class PaResponse(_message.Message):
    __slots__ = ("paddr",)
    PADDR_FIELD_NUMBER: _ClassVar[int]
    paddr: int
    def __init__(self, paddr: _Optional[int] = ...) -> None: ...

class VaRequest(_message.Message):
    __slots__ = ("paddr",)
    PADDR_FIELD_NUMBER: _ClassVar[int]
    paddr: int
    def __init__(self, paddr: _Optional[int] = ...) -> None: ...

class VaResponse(_message.Message):
    __slots__ = ("vaddr",)
    VADDR_FIELD_NUMBER: _ClassVar[int]
    vaddr: int
    def __init__(self, vaddr: _Optional[int] = ...) -> None: ...

class KernelReadRequest(_message.Message):
    __slots__ = ("addr", "length")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    addr: int
    length: int
    def __init__(self, addr: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class KernelReadResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class KernelWriteRequest(_message.Message):
    __slots__ = ("addr", "data")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    addr: int
    data: bytes
    def __init__(self, addr: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class KernelWriteResponse(_message.Message):
    __slots__ = ("written",)
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    written: int
    def __init__(self, written: _Optional[int] = ...) -> None: ...

class KernelTranslateRequest(_message.Message):
    __slots__ = ("addr", "logical", "pid")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    addr: int
    logical: str
    pid: int
    def __init__(self, addr: _Optional[int] = ..., logical: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

class SegmentStep(_message.Message):
    __slots__ = ("selector", "index", "rpl", "cpl", "descriptor", "base", "limit", "dpl", "name", "linear")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RPL_FIELD_NUMBER: _ClassVar[int]
    CPL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    DPL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINEAR_FIELD_NUMBER: _ClassVar[int]
    selector: int
    index: int
    rpl: int
    cpl: int
    descriptor: int
    base: int
    limit: int
    dpl: int
    name: str
    linear: int
    def __init__(self, selector: _Optional[int] = ..., index: _Optional[int] = ..., rpl: _Optional[int] = ..., cpl: _Optional[int] = ..., descriptor: _Optional[int] = ..., base: _Optional[int] = ..., limit: _Optional[int] = ..., dpl: _Optional[int] = ..., name: _Optional[str] = ..., linear: _Optional[int] = ...) -> None: ...

class KernelTranslateResponse(_message.Message):
    __slots__ = ("translation", "segment", "text")
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    translation: _common_pb2.Translation
    segment: SegmentStep
    text: str
    def __init__(self, translation: _Optional[_Union[_common_pb2.Translation, _Mapping]] = ..., segment: _Optional[_Union[SegmentStep, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class GetSlabinfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSlabinfoResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class GetVmallocinfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVmallocinfoResponse(_message.Message):
    __slots__ = ("text", "used_bytes", "largest_free_chunk", "total_bytes")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    LARGEST_FREE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    text: str
    used_bytes: int
    largest_free_chunk: int
    total_bytes: int
    def __init__(self, text: _Optional[str] = ..., used_bytes: _Optional[int] = ..., largest_free_chunk: _Optional[int] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class DumpPageTableRequest(_message.Message):
    __slots__ = ("addr", "pages")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    addr: int
    pages: int
    def __init__(self, addr: _Optional[int] = ..., pages: _Optional[int] = ...) -> None: ...

class DumpPageTableResponse(_message.Message):
    __slots__ = ("entries", "text")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.Translation]
    text: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.Translation, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...
