from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Prot(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROT_UNSPECIFIED: _ClassVar[Prot]
    PROT_READ: _ClassVar[Prot]
    PROT_WRITE: _ClassVar[Prot]
    PROT_EXEC: _ClassVar[Prot]

class MapFlag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MAP_FLAG_UNSPECIFIED: _ClassVar[MapFlag]
    MAP_FLAG_SHARED: _ClassVar[MapFlag]
    MAP_FLAG_PRIVATE: _ClassVar[MapFlag]
    MAP_FLAG_FIXED: _ClassVar[MapFlag]
    MAP_FLAG_ANONYMOUS: _ClassVar[MapFlag]
    MAP_FLAG_NORESERVE: _ClassVar[MapFlag]
    MAP_FLAG_POPULATE: _ClassVar[MapFlag]
    MAP_FLAG_FIXED_NOREPLACE: _ClassVar[MapFlag]

class MremapFlag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MREMAP_FLAG_UNSPECIFIED: _ClassVar[MremapFlag]
    MREMAP_FLAG_MAYMOVE: _ClassVar[MremapFlag]
    MREMAP_FLAG_FIXED: _ClassVar[MremapFlag]
    MREMAP_FLAG_DONTUNMAP: _ClassVar[MremapFlag]

class FaultKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAULT_KIND_UNSPECIFIED: _ClassVar[FaultKind]
    FAULT_KIND_HIT: _ClassVar[FaultKind]
    FAULT_KIND_MINOR: _ClassVar[FaultKind]
    FAULT_KIND_MAJOR: _ClassVar[FaultKind]
PROT_UNSPECIFIED: Prot
PROT_READ: Prot
PROT_WRITE: Prot
PROT_EXEC: Prot
MAP_FLAG_UNSPECIFIED: MapFlag
MAP_FLAG_SHARED: MapFlag
MAP_FLAG_PRIVATE: MapFlag
MAP_FLAG_FIXED: MapFlag
MAP_FLAG_ANONYMOUS: MapFlag
MAP_FLAG_NORESERVE: MapFlag
MAP_FLAG_POPULATE: MapFlag
MAP_FLAG_FIXED_NOREPLACE: MapFlag
MREMAP_FLAG_UNSPECIFIED: MremapFlag
MREMAP_FLAG_MAYMOVE: MremapFlag
MREMAP_FLAG_FIXED: MremapFlag
MREMAP_FLAG_DONTUNMAP: MremapFlag
FAULT_KIND_UNSPECIFIED: FaultKind
FAULT_KIND_HIT: FaultKind
FAULT_KIND_MINOR: FaultKind
FAULT_KIND_MAJOR: FaultKind

class Vma(_message.Message):
    __slots__ = ("start", "end", "perms", "name", "rss", "swap", "anonymous", "referenced", "shared_clean", "shared_dirty", "private_clean", "private_dirty", "pss", "pss_dirty", "swap_pss")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PERMS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RSS_FIELD_NUMBER: _ClassVar[int]
    SWAP_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    REFERENCED_FIELD_NUMBER: _ClassVar[int]
    SHARED_CLEAN_FIELD_NUMBER: _ClassVar[int]
    SHARED_DIRTY_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_CLEAN_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_DIRTY_FIELD_NUMBER: _ClassVar[int]
    PSS_FIELD_NUMBER: _ClassVar[int]
    PSS_DIRTY_FIELD_NUMBER: _ClassVar[int]
    SWAP_PSS_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    perms: str
    name: str
    rss: int
    swap: int
    anonymous: int
    referenced: int
    shared_clean: int
    shared_dirty: int
    private_clean: int
    private_dirty: int
    pss: int
    pss_dirty: int
    swap_pss: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., perms: _Optional[str] = ..., name: _Optional[str] = ..., rss: _Optional[int] = ..., swap: _Optional[int] = ..., anonymous: _Optional[int] = ..., referenced: _Optional[int] = ..., shared_clean: _Optional[int] = ..., shared_dirty: _Optional[int] = ..., private_clean: _Optional[int] = ..., private_dirty: _Optional[int] = ..., pss: _Optional[int] = ..., pss_dirty: _Optional[int] = ..., swap_pss: _Optional[int] = ...) -> None: ...

class Translation(_message.Message):
    __slots__ = ("linear", "cr3", "pde_index", "pde_address", "pde", "pte_index", "pte_address", "pte", "present", "pfn", "physical", "writable", "user", "accessed", "dirty", "swap_type", "swap_offset", "fault", "vma", "logical")
    LINEAR_FIELD_NUMBER: _ClassVar[int]
    CR3_FIELD_NUMBER: _ClassVar[int]
    PDE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PDE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PDE_FIELD_NUMBER: _ClassVar[int]
    PTE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PTE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PTE_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    PFN_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_FIELD_NUMBER: _ClassVar[int]
    WRITABLE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ACCESSED_FIELD_NUMBER: _ClassVar[int]
    DIRTY_FIELD_NUMBER: _ClassVar[int]
    SWAP_TYPE_FIELD_NUMBER: _ClassVar[int]
    SWAP_OFFSET_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    VMA_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_FIELD_NUMBER: _ClassVar[int]
    linear: int
    cr3: int
    pde_index: int
    pde_address: int
    pde: int
    pte_index: int
    pte_address: int
    pte: int
    present: bool
    pfn: int
    physical: int
    writable: bool
    user: bool
    accessed: bool
    dirty: bool
    swap_type: int
    swap_offset: int
    fault: str
    vma: Vma
    logical: str
    def __init__(self, linear: _Optional[int] = ..., cr3: _Optional[int] = ..., pde_index: _Optional[int] = ..., pde_address: _Optional[int] = ..., pde: _Optional[int] = ..., pte_index: _Optional[int] = ..., pte_address: _Optional[int] = ..., pte: _Optional[int] = ..., present: _Optional[bool] = ..., pfn: _Optional[int] = ..., physical: _Optional[int] = ..., writable: _Optional[bool] = ..., user: _Optional[bool] = ..., accessed: _Optional[bool] = ..., dirty: _Optional[bool] = ..., swap_type: _Optional[int] = ..., swap_offset: _Optional[int] = ..., fault: _Optional[str] = ..., vma: _Optional[_Union[Vma, _Mapping]] = ..., logical: _Optional[str] = ...) -> None: ...

class ProcessStatus(_message.Message):
    __slots__ = ("pid", "name", "state", "vm_size", "vm_rss", "vm_swap", "vm_pte", "vm_peak", "vm_hwm", "minor_faults", "major_faults", "oom_score_adj", "oom_score", "killed_by", "kill_address", "kill_reason", "nr_threads", "user_ns", "system_ns", "iowait_ns", "lock_wait_ns")
    PID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VM_SIZE_FIELD_NUMBER: _ClassVar[int]
    VM_RSS_FIELD_NUMBER: _ClassVar[int]
    VM_SWAP_FIELD_NUMBER: _ClassVar[int]
    VM_PTE_FIELD_NUMBER: _ClassVar[int]
    VM_PEAK_FIELD_NUMBER: _ClassVar[int]
    VM_HWM_FIELD_NUMBER: _ClassVar[int]
    MINOR_FAULTS_FIELD_NUMBER: _ClassVar[int]
    MAJOR_FAULTS_FIELD_NUMBER: _ClassVar[int]
    OOM_SCORE_ADJ_FIELD_NUMBER: _ClassVar[int]
    OOM_SCORE_FIELD_NUMBER: _ClassVar[int]
    KILLED_BY_FIELD_NUMBER: _ClassVar[int]
    KILL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    KILL_REASON_FIELD_NUMBER: _ClassVar[int]
    NR_THREADS_FIELD_NUMBER: _ClassVar[int]
    USER_NS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_NS_FIELD_NUMBER: _ClassVar[int]
    IOWAIT_NS_FIELD_NUMBER: _ClassVar[int]
    LOCK_WAIT_NS_FIELD_NUMBER: _ClassVar[int]
    pid: int
    name: str
    state: str
    vm_size: int
    vm_rss: int
    vm_swap: int
    vm_pte: int
    vm_peak: int
    vm_hwm: int
    minor_faults: int
    major_faults: int
    oom_score_adj: int
    oom_score: int
    killed_by: str
    kill_address: int
    kill_reason: str
    nr_threads: int
    user_ns: int
    system_ns: int
    iowait_ns: int
    lock_wait_ns: int
    def __init__(self, pid: _Optional[int] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., vm_size: _Optional[int] = ..., vm_rss: _Optional[int] = ..., vm_swap: _Optional[int] = ..., vm_pte: _Optional[int] = ..., vm_peak: _Optional[int] = ..., vm_hwm: _Optional[int] = ..., minor_faults: _Optional[int] = ..., major_faults: _Optional[int] = ..., oom_score_adj: _Optional[int] = ..., oom_score: _Optional[int] = ..., killed_by: _Optional[str] = ..., kill_address: _Optional[int] = ..., kill_reason: _Optional[str] = ..., nr_threads: _Optional[int] = ..., user_ns: _Optional[int] = ..., system_ns: _Optional[int] = ..., iowait_ns: _Optional[int] = ..., lock_wait_ns: _Optional[int] = ...) -> None: ...

class Counter(_message.Message):
    __slots__ = ("name", "value", "unit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: int
    unit: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class CallCost(_message.Message):
    __slots__ = ("total_ns", "user_ns", "system_ns", "iowait_ns", "lock_wait_ns")
    TOTAL_NS_FIELD_NUMBER: _ClassVar[int]
    USER_NS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_NS_FIELD_NUMBER: _ClassVar[int]
    IOWAIT_NS_FIELD_NUMBER: _ClassVar[int]
    LOCK_WAIT_NS_FIELD_NUMBER: _ClassVar[int]
    total_ns: int
    user_ns: int
    system_ns: int
    iowait_ns: int
    lock_wait_ns: int
    def __init__(self, total_ns: _Optional[int] = ..., user_ns: _Optional[int] = ..., system_ns: _Optional[int] = ..., iowait_ns: _Optional[int] = ..., lock_wait_ns: _Optional[int] = ...) -> None: ...
