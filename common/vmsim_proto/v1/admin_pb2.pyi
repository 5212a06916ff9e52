from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

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
