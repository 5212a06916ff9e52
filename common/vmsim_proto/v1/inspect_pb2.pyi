from vmsim_proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_MINOR_FAULT: _ClassVar[EventKind]
    EVENT_KIND_MAJOR_FAULT: _ClassVar[EventKind]
    EVENT_KIND_SWAP_OUT: _ClassVar[EventKind]
    EVENT_KIND_SWAP_IN: _ClassVar[EventKind]
    EVENT_KIND_OOM_KILL: _ClassVar[EventKind]
    EVENT_KIND_SEGV: _ClassVar[EventKind]
    EVENT_KIND_PROCESS_SPAWN: _ClassVar[EventKind]
    EVENT_KIND_PROCESS_EXIT: _ClassVar[EventKind]

class FrameUse(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_USE_UNSPECIFIED: _ClassVar[FrameUse]
    FRAME_USE_FREE: _ClassVar[FrameUse]
    FRAME_USE_USER: _ClassVar[FrameUse]
    FRAME_USE_PAGE_TABLE: _ClassVar[FrameUse]
    FRAME_USE_KERNEL: _ClassVar[FrameUse]
    FRAME_USE_SLAB: _ClassVar[FrameUse]
    FRAME_USE_VMALLOC: _ClassVar[FrameUse]
    FRAME_USE_SWAP_CACHE: _ClassVar[FrameUse]
    FRAME_USE_KMALLOC: _ClassVar[FrameUse]
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_MINOR_FAULT: EventKind
EVENT_KIND_MAJOR_FAULT: EventKind
EVENT_KIND_SWAP_OUT: EventKind
EVENT_KIND_SWAP_IN: EventKind
EVENT_KIND_OOM_KILL: EventKind
EVENT_KIND_SEGV: EventKind
EVENT_KIND_PROCESS_SPAWN: EventKind
EVENT_KIND_PROCESS_EXIT: EventKind
FRAME_USE_UNSPECIFIED: FrameUse
FRAME_USE_FREE: FrameUse
FRAME_USE_USER: FrameUse
FRAME_USE_PAGE_TABLE: FrameUse
FRAME_USE_KERNEL: FrameUse
FRAME_USE_SLAB: FrameUse
FRAME_USE_VMALLOC: FrameUse
FRAME_USE_SWAP_CACHE: FrameUse
FRAME_USE_KMALLOC: FrameUse

class GetMeminfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMeminfoResponse(_message.Message):
    __slots__ = ("entries", "text")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.Counter]
    text: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.Counter, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class GetVmstatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVmstatResponse(_message.Message):
    __slots__ = ("entries", "text")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.Counter]
    text: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.Counter, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class Zone(_message.Message):
    __slots__ = ("name", "start_pfn", "spanned", "present", "managed", "free", "min", "low", "high", "free_area", "counters", "protection", "pcp_count", "pcp_high", "pcp_batch")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_PFN_FIELD_NUMBER: _ClassVar[int]
    SPANNED_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    MANAGED_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    FREE_AREA_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    PCP_COUNT_FIELD_NUMBER: _ClassVar[int]
    PCP_HIGH_FIELD_NUMBER: _ClassVar[int]
    PCP_BATCH_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_pfn: int
    spanned: int
    present: int
    managed: int
    free: int
    min: int
    low: int
    high: int
    free_area: _containers.RepeatedScalarFieldContainer[int]
    counters: _containers.RepeatedCompositeFieldContainer[_common_pb2.Counter]
    protection: _containers.RepeatedScalarFieldContainer[int]
    pcp_count: int
    pcp_high: int
    pcp_batch: int
    def __init__(self, name: _Optional[str] = ..., start_pfn: _Optional[int] = ..., spanned: _Optional[int] = ..., present: _Optional[int] = ..., managed: _Optional[int] = ..., free: _Optional[int] = ..., min: _Optional[int] = ..., low: _Optional[int] = ..., high: _Optional[int] = ..., free_area: _Optional[_Iterable[int]] = ..., counters: _Optional[_Iterable[_Union[_common_pb2.Counter, _Mapping]]] = ..., protection: _Optional[_Iterable[int]] = ..., pcp_count: _Optional[int] = ..., pcp_high: _Optional[int] = ..., pcp_batch: _Optional[int] = ...) -> None: ...

class GetZoneinfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetZoneinfoResponse(_message.Message):
    __slots__ = ("zones", "text")
    ZONES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    zones: _containers.RepeatedCompositeFieldContainer[Zone]
    text: str
    def __init__(self, zones: _Optional[_Iterable[_Union[Zone, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class GetBuddyinfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBuddyinfoResponse(_message.Message):
    __slots__ = ("zones", "text")
    ZONES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    zones: _containers.RepeatedCompositeFieldContainer[Zone]
    text: str
    def __init__(self, zones: _Optional[_Iterable[_Union[Zone, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class GetPagetypeinfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MigrateTypeCount(_message.Message):
    __slots__ = ("migratetype", "nr_free", "nr_blocks")
    MIGRATETYPE_FIELD_NUMBER: _ClassVar[int]
    NR_FREE_FIELD_NUMBER: _ClassVar[int]
    NR_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    migratetype: str
    nr_free: _containers.RepeatedScalarFieldContainer[int]
    nr_blocks: int
    def __init__(self, migratetype: _Optional[str] = ..., nr_free: _Optional[_Iterable[int]] = ..., nr_blocks: _Optional[int] = ...) -> None: ...

class ZonePageTypes(_message.Message):
    __slots__ = ("zone", "migratetypes")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    MIGRATETYPES_FIELD_NUMBER: _ClassVar[int]
    zone: str
    migratetypes: _containers.RepeatedCompositeFieldContainer[MigrateTypeCount]
    def __init__(self, zone: _Optional[str] = ..., migratetypes: _Optional[_Iterable[_Union[MigrateTypeCount, _Mapping]]] = ...) -> None: ...

class GetPagetypeinfoResponse(_message.Message):
    __slots__ = ("zones", "text")
    ZONES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    zones: _containers.RepeatedCompositeFieldContainer[ZonePageTypes]
    text: str
    def __init__(self, zones: _Optional[_Iterable[_Union[ZonePageTypes, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class SwapArea(_message.Message):
    __slots__ = ("filename", "type", "size_kb", "used_kb", "priority")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_KB_FIELD_NUMBER: _ClassVar[int]
    USED_KB_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    filename: str
    type: str
    size_kb: int
    used_kb: int
    priority: int
    def __init__(self, filename: _Optional[str] = ..., type: _Optional[str] = ..., size_kb: _Optional[int] = ..., used_kb: _Optional[int] = ..., priority: _Optional[int] = ...) -> None: ...

class GetSwapsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSwapsResponse(_message.Message):
    __slots__ = ("areas", "text")
    AREAS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    areas: _containers.RepeatedCompositeFieldContainer[SwapArea]
    text: str
    def __init__(self, areas: _Optional[_Iterable[_Union[SwapArea, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class ListProcessesRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class ListProcessesResponse(_message.Message):
    __slots__ = ("processes",)
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    processes: _containers.RepeatedCompositeFieldContainer[_common_pb2.ProcessStatus]
    def __init__(self, processes: _Optional[_Iterable[_Union[_common_pb2.ProcessStatus, _Mapping]]] = ...) -> None: ...

class GetMapsRequest(_message.Message):
    __slots__ = ("pid", "start_addr", "max_vmas")
    PID_FIELD_NUMBER: _ClassVar[int]
    START_ADDR_FIELD_NUMBER: _ClassVar[int]
    MAX_VMAS_FIELD_NUMBER: _ClassVar[int]
    pid: int
    start_addr: int
    max_vmas: int
    def __init__(self, pid: _Optional[int] = ..., start_addr: _Optional[int] = ..., max_vmas: _Optional[int] = ...) -> None: ...

class GetMapsResponse(_message.Message):
    __slots__ = ("vmas", "text", "next_addr")
    VMAS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ADDR_FIELD_NUMBER: _ClassVar[int]
    vmas: _containers.RepeatedCompositeFieldContainer[_common_pb2.Vma]
    text: str
    next_addr: int
    def __init__(self, vmas: _Optional[_Iterable[_Union[_common_pb2.Vma, _Mapping]]] = ..., text: _Optional[str] = ..., next_addr: _Optional[int] = ...) -> None: ...

class GetSmapsRequest(_message.Message):
    __slots__ = ("pid", "start_addr", "max_vmas")
    PID_FIELD_NUMBER: _ClassVar[int]
    START_ADDR_FIELD_NUMBER: _ClassVar[int]
    MAX_VMAS_FIELD_NUMBER: _ClassVar[int]
    pid: int
    start_addr: int
    max_vmas: int
    def __init__(self, pid: _Optional[int] = ..., start_addr: _Optional[int] = ..., max_vmas: _Optional[int] = ...) -> None: ...

class GetSmapsResponse(_message.Message):
    __slots__ = ("vmas", "text", "next_addr")
    VMAS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ADDR_FIELD_NUMBER: _ClassVar[int]
    vmas: _containers.RepeatedCompositeFieldContainer[_common_pb2.Vma]
    text: str
    next_addr: int
    def __init__(self, vmas: _Optional[_Iterable[_Union[_common_pb2.Vma, _Mapping]]] = ..., text: _Optional[str] = ..., next_addr: _Optional[int] = ...) -> None: ...

class GetSmapsRollupRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class GetSmapsRollupResponse(_message.Message):
    __slots__ = ("entries", "text")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.Counter]
    text: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.Counter, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("status", "text")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.ProcessStatus
    text: str
    def __init__(self, status: _Optional[_Union[_common_pb2.ProcessStatus, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class GetTranslationRequest(_message.Message):
    __slots__ = ("pid", "addr", "logical")
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_FIELD_NUMBER: _ClassVar[int]
    pid: int
    addr: int
    logical: str
    def __init__(self, pid: _Optional[int] = ..., addr: _Optional[int] = ..., logical: _Optional[str] = ...) -> None: ...

class GetTranslationResponse(_message.Message):
    __slots__ = ("translation", "text")
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    translation: _common_pb2.Translation
    text: str
    def __init__(self, translation: _Optional[_Union[_common_pb2.Translation, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class ReplayRequest(_message.Message):
    __slots__ = ("trace", "frames", "policy", "seed", "addresses", "steps", "packed_trace", "counts_only")
    TRACE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PACKED_TRACE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_ONLY_FIELD_NUMBER: _ClassVar[int]
    trace: _containers.RepeatedScalarFieldContainer[int]
    frames: int
    policy: str
    seed: int
    addresses: bool
    steps: bool
    packed_trace: bytes
    counts_only: bool
    def __init__(self, trace: _Optional[_Iterable[int]] = ..., frames: _Optional[int] = ..., policy: _Optional[str] = ..., seed: _Optional[int] = ..., addresses: _Optional[bool] = ..., steps: _Optional[bool] = ..., packed_trace: _Optional[bytes] = ..., counts_only: _Optional[bool] = ...) -> None: ...

class ReplayStep(_message.Message):
    __slots__ = ("page", "hit", "victim", "frames", "order", "use_bits", "hand")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    HIT_FIELD_NUMBER: _ClassVar[int]
    VICTIM_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    USE_BITS_FIELD_NUMBER: _ClassVar[int]
    HAND_FIELD_NUMBER: _ClassVar[int]
    page: int
    hit: bool
    victim: int
    frames: _containers.RepeatedScalarFieldContainer[int]
    order: _containers.RepeatedScalarFieldContainer[int]
    use_bits: _containers.RepeatedScalarFieldContainer[bool]
    hand: int
    def __init__(self, page: _Optional[int] = ..., hit: _Optional[bool] = ..., victim: _Optional[int] = ..., frames: _Optional[_Iterable[int]] = ..., order: _Optional[_Iterable[int]] = ..., use_bits: _Optional[_Iterable[bool]] = ..., hand: _Optional[int] = ...) -> None: ...

class ReplayResponse(_message.Message):
    __slots__ = ("policy", "frames", "references", "hits", "misses", "victims", "faults_at", "steps")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    VICTIMS_FIELD_NUMBER: _ClassVar[int]
    FAULTS_AT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    policy: str
    frames: int
    references: int
    hits: int
    misses: int
    victims: _containers.RepeatedScalarFieldContainer[int]
    faults_at: _containers.RepeatedScalarFieldContainer[int]
    steps: _containers.RepeatedCompositeFieldContainer[ReplayStep]
    def __init__(self, policy: _Optional[str] = ..., frames: _Optional[int] = ..., references: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., victims: _Optional[_Iterable[int]] = ..., faults_at: _Optional[_Iterable[int]] = ..., steps: _Optional[_Iterable[_Union[ReplayStep, _Mapping]]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("kinds", "pid")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[EventKind]
    pid: int
    def __init__(self, kinds: _Optional[_Iterable[_Union[EventKind, str]]] = ..., pid: _Optional[int] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("seq", "kind", "pid", "address", "pfn", "detail", "dropped")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PFN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: EventKind
    pid: int
    address: int
    pfn: int
    detail: str
    dropped: int
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[_Union[EventKind, str]] = ..., pid: _Optional[int] = ..., address: _Optional[int] = ..., pfn: _Optional[int] = ..., detail: _Optional[str] = ..., dropped: _Optional[int] = ...) -> None: ...

class GetLockStatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LockClass(_message.Message):
    __slots__ = ("name", "kind", "con_bounces", "contentions", "wait_min_ns", "wait_max_ns", "wait_total_ns", "acq_bounces", "acquisitions", "hold_min_ns", "hold_max_ns", "hold_total_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CON_BOUNCES_FIELD_NUMBER: _ClassVar[int]
    CONTENTIONS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MIN_NS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MAX_NS_FIELD_NUMBER: _ClassVar[int]
    WAIT_TOTAL_NS_FIELD_NUMBER: _ClassVar[int]
    ACQ_BOUNCES_FIELD_NUMBER: _ClassVar[int]
    ACQUISITIONS_FIELD_NUMBER: _ClassVar[int]
    HOLD_MIN_NS_FIELD_NUMBER: _ClassVar[int]
    HOLD_MAX_NS_FIELD_NUMBER: _ClassVar[int]
    HOLD_TOTAL_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    con_bounces: int
    contentions: int
    wait_min_ns: int
    wait_max_ns: int
    wait_total_ns: int
    acq_bounces: int
    acquisitions: int
    hold_min_ns: int
    hold_max_ns: int
    hold_total_ns: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., con_bounces: _Optional[int] = ..., contentions: _Optional[int] = ..., wait_min_ns: _Optional[int] = ..., wait_max_ns: _Optional[int] = ..., wait_total_ns: _Optional[int] = ..., acq_bounces: _Optional[int] = ..., acquisitions: _Optional[int] = ..., hold_min_ns: _Optional[int] = ..., hold_max_ns: _Optional[int] = ..., hold_total_ns: _Optional[int] = ...) -> None: ...

class GetLockStatResponse(_message.Message):
    __slots__ = ("classes", "text")
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    classes: _containers.RepeatedCompositeFieldContainer[LockClass]
    text: str
    def __init__(self, classes: _Optional[_Iterable[_Union[LockClass, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class GetCpuTimesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCpuTimesResponse(_message.Message):
    __slots__ = ("user_ns", "system_ns", "iowait_ns", "lock_wait_ns", "kswapd_ns", "clock_ns", "text")
    USER_NS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_NS_FIELD_NUMBER: _ClassVar[int]
    IOWAIT_NS_FIELD_NUMBER: _ClassVar[int]
    LOCK_WAIT_NS_FIELD_NUMBER: _ClassVar[int]
    KSWAPD_NS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    user_ns: int
    system_ns: int
    iowait_ns: int
    lock_wait_ns: int
    kswapd_ns: int
    clock_ns: int
    text: str
    def __init__(self, user_ns: _Optional[int] = ..., system_ns: _Optional[int] = ..., iowait_ns: _Optional[int] = ..., lock_wait_ns: _Optional[int] = ..., kswapd_ns: _Optional[int] = ..., clock_ns: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class GetLayoutRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLayoutResponse(_message.Message):
    __slots__ = ("entries", "text")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.Counter]
    text: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.Counter, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class GetMissRatioCurveRequest(_message.Message):
    __slots__ = ("trace", "addresses", "packed_trace")
    TRACE_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    PACKED_TRACE_FIELD_NUMBER: _ClassVar[int]
    trace: _containers.RepeatedScalarFieldContainer[int]
    addresses: bool
    packed_trace: bytes
    def __init__(self, trace: _Optional[_Iterable[int]] = ..., addresses: _Optional[bool] = ..., packed_trace: _Optional[bytes] = ...) -> None: ...

class GetMissRatioCurveResponse(_message.Message):
    __slots__ = ("references", "distinct_pages", "misses")
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_PAGES_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    references: int
    distinct_pages: int
    misses: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, references: _Optional[int] = ..., distinct_pages: _Optional[int] = ..., misses: _Optional[_Iterable[int]] = ...) -> None: ...

class GetFrameMapRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetFrameMapResponse(_message.Message):
    __slots__ = ("nr_frames", "uses", "pids", "flags", "zones", "mapcounts")
    NR_FRAMES_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    MAPCOUNTS_FIELD_NUMBER: _ClassVar[int]
    nr_frames: int
    uses: bytes
    pids: _containers.RepeatedScalarFieldContainer[int]
    flags: _containers.RepeatedScalarFieldContainer[int]
    zones: _containers.RepeatedCompositeFieldContainer[Zone]
    mapcounts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, nr_frames: _Optional[int] = ..., uses: _Optional[bytes] = ..., pids: _Optional[_Iterable[int]] = ..., flags: _Optional[_Iterable[int]] = ..., zones: _Optional[_Iterable[_Union[Zone, _Mapping]]] = ..., mapcounts: _Optional[_Iterable[int]] = ...) -> None: ...

class ListShmRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShmObject(_message.Message):
    __slots__ = ("name", "size", "mode", "owner", "resident", "swapped", "mappings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_FIELD_NUMBER: _ClassVar[int]
    SWAPPED_FIELD_NUMBER: _ClassVar[int]
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    mode: int
    owner: int
    resident: int
    swapped: int
    mappings: int
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., owner: _Optional[int] = ..., resident: _Optional[int] = ..., swapped: _Optional[int] = ..., mappings: _Optional[int] = ...) -> None: ...

class ListShmResponse(_message.Message):
    __slots__ = ("objects",)
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[ShmObject]
    def __init__(self, objects: _Optional[_Iterable[_Union[ShmObject, _Mapping]]] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FileInfo(_message.Message):
    __slots__ = ("name", "ino", "size", "mode", "owner", "nlink", "blocks", "cached", "dirty", "mapped", "open_count", "mappings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INO_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    NLINK_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    DIRTY_FIELD_NUMBER: _ClassVar[int]
    MAPPED_FIELD_NUMBER: _ClassVar[int]
    OPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    ino: int
    size: int
    mode: int
    owner: int
    nlink: int
    blocks: int
    cached: int
    dirty: int
    mapped: int
    open_count: int
    mappings: int
    def __init__(self, name: _Optional[str] = ..., ino: _Optional[int] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., owner: _Optional[int] = ..., nlink: _Optional[int] = ..., blocks: _Optional[int] = ..., cached: _Optional[int] = ..., dirty: _Optional[int] = ..., mapped: _Optional[int] = ..., open_count: _Optional[int] = ..., mappings: _Optional[int] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileInfo]
    def __init__(self, files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ...) -> None: ...

class ListOpenFilesRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class OpenFileInfo(_message.Message):
    __slots__ = ("fd", "name", "flags", "pos")
    FD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    POS_FIELD_NUMBER: _ClassVar[int]
    fd: int
    name: str
    flags: int
    pos: int
    def __init__(self, fd: _Optional[int] = ..., name: _Optional[str] = ..., flags: _Optional[int] = ..., pos: _Optional[int] = ...) -> None: ...

class ListOpenFilesResponse(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[OpenFileInfo]
    def __init__(self, files: _Optional[_Iterable[_Union[OpenFileInfo, _Mapping]]] = ...) -> None: ...
