from google.rpc import status_pb2 as _status_pb2
from vmsim_proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpawnRequest(_message.Message):
    __slots__ = ("name", "oom_score_adj")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OOM_SCORE_ADJ_FIELD_NUMBER: _ClassVar[int]
    name: str
    oom_score_adj: int
    def __init__(self, name: _Optional[str] = ..., oom_score_adj: _Optional[int] = ...) -> None: ...

class SpawnResponse(_message.Message):
    __slots__ = ("pid", "token", "lease_seconds")
    PID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    pid: int
    token: str
    lease_seconds: int
    def __init__(self, pid: _Optional[int] = ..., token: _Optional[str] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("lease_seconds",)
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    lease_seconds: int
    def __init__(self, lease_seconds: _Optional[int] = ...) -> None: ...

class MmapRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "prot", "flags", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    PROT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    prot: int
    flags: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., prot: _Optional[int] = ..., flags: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MmapResponse(_message.Message):
    __slots__ = ("addr", "cost")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    addr: int
    cost: _common_pb2.CallCost
    def __init__(self, addr: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class MunmapRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MunmapResponse(_message.Message):
    __slots__ = ("cost",)
    COST_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.CallCost
    def __init__(self, cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class MremapRequest(_message.Message):
    __slots__ = ("pid", "old_address", "old_size", "new_size", "flags", "new_address", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    OLD_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    NEW_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    old_address: int
    old_size: int
    new_size: int
    flags: int
    new_address: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., old_address: _Optional[int] = ..., old_size: _Optional[int] = ..., new_size: _Optional[int] = ..., flags: _Optional[int] = ..., new_address: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MremapResponse(_message.Message):
    __slots__ = ("addr", "cost")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    addr: int
    cost: _common_pb2.CallCost
    def __init__(self, addr: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class MprotectRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "prot", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    PROT_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    prot: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., prot: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MprotectResponse(_message.Message):
    __slots__ = ("cost",)
    COST_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.CallCost
    def __init__(self, cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class BrkRequest(_message.Message):
    __slots__ = ("pid", "addr", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class BrkResponse(_message.Message):
    __slots__ = ("brk", "cost")
    BRK_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    brk: int
    cost: _common_pb2.CallCost
    def __init__(self, brk: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class MadviseRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "advice", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    ADVICE_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    advice: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., advice: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MadviseResponse(_message.Message):
    __slots__ = ("cost",)
    COST_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.CallCost
    def __init__(self, cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class TouchRequest(_message.Message):
    __slots__ = ("pid", "addr", "write", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    write: bool
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., write: _Optional[bool] = ..., tid: _Optional[int] = ...) -> None: ...

class TouchResponse(_message.Message):
    __slots__ = ("result", "cost")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.FaultKind
    cost: _common_pb2.CallCost
    def __init__(self, result: _Optional[_Union[_common_pb2.FaultKind, str]] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class TouchManyRequest(_message.Message):
    __slots__ = ("pid", "addrs", "write", "packed_addrs", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    PACKED_ADDRS_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addrs: _containers.RepeatedScalarFieldContainer[int]
    write: bool
    packed_addrs: bytes
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addrs: _Optional[_Iterable[int]] = ..., write: _Optional[bool] = ..., packed_addrs: _Optional[bytes] = ..., tid: _Optional[int] = ...) -> None: ...

class TouchManyResponse(_message.Message):
    __slots__ = ("touched", "hits", "minor", "major", "cost")
    TOUCHED_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MINOR_FIELD_NUMBER: _ClassVar[int]
    MAJOR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    touched: int
    hits: int
    minor: int
    major: int
    cost: _common_pb2.CallCost
    def __init__(self, touched: _Optional[int] = ..., hits: _Optional[int] = ..., minor: _Optional[int] = ..., major: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class ReadResponse(_message.Message):
    __slots__ = ("data", "cost")
    DATA_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    cost: _common_pb2.CallCost
    def __init__(self, data: _Optional[bytes] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class WriteRequest(_message.Message):
    __slots__ = ("pid", "addr", "data", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    data: bytes
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., data: _Optional[bytes] = ..., tid: _Optional[int] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("written", "cost")
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    written: int
    cost: _common_pb2.CallCost
    def __init__(self, written: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("pid", "addr")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("translation", "text")
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    translation: _common_pb2.Translation
    text: str
    def __init__(self, translation: _Optional[_Union[_common_pb2.Translation, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class ExitRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class ExitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunRequest(_message.Message):
    __slots__ = ("id", "mmap", "munmap", "mprotect", "brk", "madvise", "touch", "touch_many", "read", "write", "translate", "mremap")
    ID_FIELD_NUMBER: _ClassVar[int]
    MMAP_FIELD_NUMBER: _ClassVar[int]
    MUNMAP_FIELD_NUMBER: _ClassVar[int]
    MPROTECT_FIELD_NUMBER: _ClassVar[int]
    BRK_FIELD_NUMBER: _ClassVar[int]
    MADVISE_FIELD_NUMBER: _ClassVar[int]
    TOUCH_FIELD_NUMBER: _ClassVar[int]
    TOUCH_MANY_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATE_FIELD_NUMBER: _ClassVar[int]
    MREMAP_FIELD_NUMBER: _ClassVar[int]
    id: int
    mmap: MmapRequest
    munmap: MunmapRequest
    mprotect: MprotectRequest
    brk: BrkRequest
    madvise: MadviseRequest
    touch: TouchRequest
    touch_many: TouchManyRequest
    read: ReadRequest
    write: WriteRequest
    translate: TranslateRequest
    mremap: MremapRequest
    def __init__(self, id: _Optional[int] = ..., mmap: _Optional[_Union[MmapRequest, _Mapping]] = ..., munmap: _Optional[_Union[MunmapRequest, _Mapping]] = ..., mprotect: _Optional[_Union[MprotectRequest, _Mapping]] = ..., brk: _Optional[_Union[BrkRequest, _Mapping]] = ..., madvise: _Optional[_Union[MadviseRequest, _Mapping]] = ..., touch: _Optional[_Union[TouchRequest, _Mapping]] = ..., touch_many: _Optional[_Union[TouchManyRequest, _Mapping]] = ..., read: _Optional[_Union[ReadRequest, _Mapping]] = ..., write: _Optional[_Union[WriteRequest, _Mapping]] = ..., translate: _Optional[_Union[TranslateRequest, _Mapping]] = ..., mremap: _Optional[_Union[MremapRequest, _Mapping]] = ...) -> None: ...

class RunResponse(_message.Message):
    __slots__ = ("id", "mmap", "munmap", "mprotect", "brk", "madvise", "touch", "touch_many", "read", "write", "translate", "error", "mremap")
    ID_FIELD_NUMBER: _ClassVar[int]
    MMAP_FIELD_NUMBER: _ClassVar[int]
    MUNMAP_FIELD_NUMBER: _ClassVar[int]
    MPROTECT_FIELD_NUMBER: _ClassVar[int]
    BRK_FIELD_NUMBER: _ClassVar[int]
    MADVISE_FIELD_NUMBER: _ClassVar[int]
    TOUCH_FIELD_NUMBER: _ClassVar[int]
    TOUCH_MANY_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MREMAP_FIELD_NUMBER: _ClassVar[int]
    id: int
    mmap: MmapResponse
    munmap: MunmapResponse
    mprotect: MprotectResponse
    brk: BrkResponse
    madvise: MadviseResponse
    touch: TouchResponse
    touch_many: TouchManyResponse
    read: ReadResponse
    write: WriteResponse
    translate: TranslateResponse
    error: _status_pb2.Status
    mremap: MremapResponse
    def __init__(self, id: _Optional[int] = ..., mmap: _Optional[_Union[MmapResponse, _Mapping]] = ..., munmap: _Optional[_Union[MunmapResponse, _Mapping]] = ..., mprotect: _Optional[_Union[MprotectResponse, _Mapping]] = ..., brk: _Optional[_Union[BrkResponse, _Mapping]] = ..., madvise: _Optional[_Union[MadviseResponse, _Mapping]] = ..., touch: _Optional[_Union[TouchResponse, _Mapping]] = ..., touch_many: _Optional[_Union[TouchManyResponse, _Mapping]] = ..., read: _Optional[_Union[ReadResponse, _Mapping]] = ..., write: _Optional[_Union[WriteResponse, _Mapping]] = ..., translate: _Optional[_Union[TranslateResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., mremap: _Optional[_Union[MremapResponse, _Mapping]] = ...) -> None: ...

class SpawnThreadRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class SpawnThreadResponse(_message.Message):
    __slots__ = ("tid",)
    TID_FIELD_NUMBER: _ClassVar[int]
    tid: int
    def __init__(self, tid: _Optional[int] = ...) -> None: ...

class ExitThreadRequest(_message.Message):
    __slots__ = ("pid", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class ExitThreadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ForkRequest(_message.Message):
    __slots__ = ("pid", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class ForkResponse(_message.Message):
    __slots__ = ("pid", "token", "lease_seconds", "cost")
    PID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    pid: int
    token: str
    lease_seconds: int
    cost: _common_pb2.CallCost
    def __init__(self, pid: _Optional[int] = ..., token: _Optional[str] = ..., lease_seconds: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class ShmCreateRequest(_message.Message):
    __slots__ = ("pid", "name", "size", "mode", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    name: str
    size: int
    mode: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., name: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class ShmCreateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShmMapRequest(_message.Message):
    __slots__ = ("pid", "name", "prot", "flags", "addr", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    name: str
    prot: int
    flags: int
    addr: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., name: _Optional[str] = ..., prot: _Optional[int] = ..., flags: _Optional[int] = ..., addr: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class ShmMapResponse(_message.Message):
    __slots__ = ("addr", "cost")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    addr: int
    cost: _common_pb2.CallCost
    def __init__(self, addr: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class ShmUnlinkRequest(_message.Message):
    __slots__ = ("pid", "name", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    name: str
    tid: int
    def __init__(self, pid: _Optional[int] = ..., name: _Optional[str] = ..., tid: _Optional[int] = ...) -> None: ...

class ShmUnlinkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MlockRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MlockResponse(_message.Message):
    __slots__ = ("cost",)
    COST_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.CallCost
    def __init__(self, cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class MunlockRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MunlockResponse(_message.Message):
    __slots__ = ("cost",)
    COST_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.CallCost
    def __init__(self, cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class OpenFileRequest(_message.Message):
    __slots__ = ("pid", "path", "flags", "mode", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    path: str
    flags: int
    mode: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., path: _Optional[str] = ..., flags: _Optional[int] = ..., mode: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class OpenFileResponse(_message.Message):
    __slots__ = ("fd",)
    FD_FIELD_NUMBER: _ClassVar[int]
    fd: int
    def __init__(self, fd: _Optional[int] = ...) -> None: ...

class CloseFileRequest(_message.Message):
    __slots__ = ("pid", "fd", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class CloseFileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadFileRequest(_message.Message):
    __slots__ = ("pid", "fd", "length", "offset", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    length: int
    offset: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., length: _Optional[int] = ..., offset: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class ReadFileResponse(_message.Message):
    __slots__ = ("data", "cost")
    DATA_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    cost: _common_pb2.CallCost
    def __init__(self, data: _Optional[bytes] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class WriteFileRequest(_message.Message):
    __slots__ = ("pid", "fd", "data", "offset", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    data: bytes
    offset: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., data: _Optional[bytes] = ..., offset: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class WriteFileResponse(_message.Message):
    __slots__ = ("written", "cost")
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    written: int
    cost: _common_pb2.CallCost
    def __init__(self, written: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class LseekRequest(_message.Message):
    __slots__ = ("pid", "fd", "offset", "whence", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    WHENCE_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    offset: int
    whence: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., offset: _Optional[int] = ..., whence: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class LseekResponse(_message.Message):
    __slots__ = ("offset",)
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    offset: int
    def __init__(self, offset: _Optional[int] = ...) -> None: ...

class FtruncateRequest(_message.Message):
    __slots__ = ("pid", "fd", "length", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    length: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., length: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class FtruncateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FsyncRequest(_message.Message):
    __slots__ = ("pid", "fd", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class FsyncResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnlinkFileRequest(_message.Message):
    __slots__ = ("pid", "path", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    path: str
    tid: int
    def __init__(self, pid: _Optional[int] = ..., path: _Optional[str] = ..., tid: _Optional[int] = ...) -> None: ...

class UnlinkFileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MmapFileRequest(_message.Message):
    __slots__ = ("pid", "fd", "addr", "length", "prot", "flags", "offset", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    PROT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    fd: int
    addr: int
    length: int
    prot: int
    flags: int
    offset: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., fd: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., prot: _Optional[int] = ..., flags: _Optional[int] = ..., offset: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MmapFileResponse(_message.Message):
    __slots__ = ("addr", "cost")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    addr: int
    cost: _common_pb2.CallCost
    def __init__(self, addr: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CallCost, _Mapping]] = ...) -> None: ...

class MsyncRequest(_message.Message):
    __slots__ = ("pid", "addr", "length", "flags", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    length: int
    flags: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., length: _Optional[int] = ..., flags: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class MsyncResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SyncRequest(_message.Message):
    __slots__ = ("pid", "tid")
    PID_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    tid: int
    def __init__(self, pid: _Optional[int] = ..., tid: _Optional[int] = ...) -> None: ...

class SyncResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
