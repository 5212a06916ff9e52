from vmsim_proto.v1 import inspect_pb2 as _inspect_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KillProcessRequest(_message.Message):
    __slots__ = ("pid", "reason")
    PID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    pid: int
    reason: str
    def __init__(self, pid: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class KillProcessResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetLockStatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetLockStatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Sysctl(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class GetSysctlRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSysctlResponse(_message.Message):
    __slots__ = ("sysctls",)
    SYSCTLS_FIELD_NUMBER: _ClassVar[int]
    sysctls: _containers.RepeatedCompositeFieldContainer[Sysctl]
    def __init__(self, sysctls: _Optional[_Iterable[_Union[Sysctl, _Mapping]]] = ...) -> None: ...

class SetSysctlRequest(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class SetSysctlResponse(_message.Message):
    __slots__ = ("sysctl",)
    SYSCTL_FIELD_NUMBER: _ClassVar[int]
    sysctl: Sysctl
    def __init__(self, sysctl: _Optional[_Union[Sysctl, _Mapping]] = ...) -> None: ...

class SwapOnRequest(_message.Message):
    __slots__ = ("name", "size_bytes", "priority")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    priority: int
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., priority: _Optional[int] = ...) -> None: ...

class SwapOnResponse(_message.Message):
    __slots__ = ("area",)
    AREA_FIELD_NUMBER: _ClassVar[int]
    area: _inspect_pb2.SwapArea
    def __init__(self, area: _Optional[_Union[_inspect_pb2.SwapArea, _Mapping]] = ...) -> None: ...

class SwapOffRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SwapOffResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
