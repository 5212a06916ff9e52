"""Each client operation as data: which RPC, which request, how to read the reply.

The sync (client.py) and asyncio (aio.py) flavours execute the same descriptions, so
request building and reply conversion exist once. The process calls double as the
operations of a Run stream:

    with proc.stream() as stream:
        results = stream.run([calls.touch_many(proc.pid, addrs), calls.read(proc.pid, a, 64)])
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from vmsim_proto.v1 import admin_pb2, inspect_pb2, process_pb2

from . import results
from .call import Call
from .constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    O_RDONLY,
    PROT_READ,
    PROT_WRITE,
    SEEK_SET,
)
from .html import html_table

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "CHANNEL_OPTIONS",
    "EVENT_KINDS",
    "RUN_OPERATIONS",
    "Call",
    "Listing",
    "brk",
    "buddyinfo",
    "close_file",
    "exit_process",
    "files",
    "fork",
    "frame_map",
    "fsync",
    "ftruncate",
    "heartbeat",
    "kill",
    "lseek",
    "madvise",
    "maps",
    "meminfo",
    "miss_ratio_curve",
    "mlock",
    "mmap",
    "mmap_file",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munmap",
    "open_file",
    "open_files",
    "packed_addresses",
    "packed_trace",
    "pagetypeinfo",
    "processes",
    "read",
    "read_file",
    "replay",
    "run_request",
    "shm",
    "shm_create",
    "shm_map",
    "shm_unlink",
    "smaps",
    "smaps_rollup",
    "spawn",
    "status",
    "swaps",
    "sync",
    "touch",
    "touch_many",
    "translate",
    "translation",
    "unlink",
    "vmstat",
    "watch_request",
    "whole_report",
    "whole_report_async",
    "write",
    "write_file",
    "zoneinfo",
]

T = TypeVar("T")

# Inspection calls are read-only, so gRPC's own retry policy may repeat them on UNAVAILABLE.
_SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{"service": "vmsim.v1.InspectService"}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


@dataclass(frozen=True)
class Listing(Generic[T]):
    """Structured rows of a report plus its Linux text (next_addr: where the next part of a
    report sent in parts starts, 0 for the last or only part)."""

    items: list[T]
    text: str
    next_addr: int = 0

    def followed_by(self, part: Listing[T]) -> Listing[T]:
        """This part of a report and the next one as one listing."""
        return Listing(self.items + part.items, self.text + part.text, part.next_addr)

    def _repr_html_(self) -> str:
        """The rows as a table (dataclass fields as columns), else the text."""
        if self.items and dataclasses.is_dataclass(self.items[0]):
            names = [f.name for f in dataclasses.fields(self.items[0]) if f.name != "text"]
            rows = [[_cell(getattr(item, name)) for name in names] for item in self.items]
            return html_table(names, rows)
        from html import escape  # a notebook's call, not a command's

        return f"<pre>{escape(self.text)}</pre>"


def _cell(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1 << 16:
        return f"0x{value:08x}"
    return "" if value is None else str(value)


def _ignore(_reply: Any) -> None:
    return None


def as_addresses(addrs: Sequence[int] | npt.NDArray[Any]) -> list[int]:
    """Addresses as a list of 32-bit ints (numpy arrays are converted in one step)."""
    import numpy as np  # here, not above: only batched touches need it, /proc readers never

    return (
        np.asarray(addrs, dtype=np.uint32).tolist()
        if isinstance(addrs, np.ndarray)
        else list(addrs)
    )


# ---- process calls ------------------------------------------------------------------------------
def spawn(name: str, oom_score_adj: int) -> Call[process_pb2.SpawnResponse]:
    """Spawn a process (the reply carries pid, token and lease)."""
    return Call(
        "process",
        "Spawn",
        process_pb2.SpawnRequest(name=name, oom_score_adj=oom_score_adj),
        lambda r: r,
    )


def fork(pid: int) -> Call[process_pb2.ForkResponse]:
    """fork(2) (the reply carries the child's pid, token and lease)."""
    return Call("process", "Fork", process_pb2.ForkRequest(pid=pid), lambda r: r)


def shm_create(pid: int, name: str, size: int, mode: int = 0o600) -> Call[None]:
    """shm_open(O_CREAT|O_EXCL) + ftruncate: a named shared memory object of *size* bytes."""
    return Call(
        "process",
        "ShmCreate",
        process_pb2.ShmCreateRequest(pid=pid, name=name, size=size, mode=mode),
        _ignore,
    )


def shm_map(
    pid: int, name: str, prot: int = PROT_READ | PROT_WRITE, flags: int = MAP_SHARED, addr: int = 0
) -> Call[int]:
    """shm_open + mmap(MAP_SHARED) of the whole named object; reads the address."""
    return Call(
        "process",
        "ShmMap",
        process_pb2.ShmMapRequest(pid=pid, name=name, prot=prot, flags=flags, addr=addr),
        lambda r: r.addr,
    )


def shm_unlink(pid: int, name: str) -> Call[None]:
    """shm_unlink: the name goes; the object with its last mapping."""
    return Call("process", "ShmUnlink", process_pb2.ShmUnlinkRequest(pid=pid, name=name), _ignore)


def shm() -> Call[list[results.ShmObject]]:
    """The named shared memory objects (ls -l /dev/shm)."""
    return Call(
        "inspect",
        "ListShm",
        inspect_pb2.ListShmRequest(),
        lambda r: [results.shm_object(o) for o in r.objects],
    )


# ---- files ---------------------------------------------------------------------------------------
def open_file(pid: int, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> Call[int]:
    """open(2) (creat with O_CREAT, *mode* for a file it creates); reads the descriptor."""
    return Call(
        "process",
        "OpenFile",
        process_pb2.OpenFileRequest(pid=pid, path=path, flags=flags, mode=mode),
        lambda r: r.fd,
    )


def close_file(pid: int, fd: int) -> Call[None]:
    """close(2)."""
    return Call("process", "CloseFile", process_pb2.CloseFileRequest(pid=pid, fd=fd), _ignore)


def read_file(pid: int, fd: int, length: int, offset: int | None = None) -> Call[bytes]:
    """read(2) from f_pos, or pread(2) at *offset*; reads the bytes (short at the end)."""
    request = process_pb2.ReadFileRequest(pid=pid, fd=fd, length=length, offset=offset)
    return Call("process", "ReadFile", request, lambda r: r.data)


def write_file(pid: int, fd: int, data: bytes, offset: int | None = None) -> Call[int]:
    """write(2) at f_pos, or pwrite(2) at *offset*; reads the bytes written."""
    request = process_pb2.WriteFileRequest(pid=pid, fd=fd, data=data, offset=offset)
    return Call("process", "WriteFile", request, lambda r: r.written)


def lseek(pid: int, fd: int, offset: int, whence: int = SEEK_SET) -> Call[int]:
    """lseek(2); reads the new position."""
    request = process_pb2.LseekRequest(pid=pid, fd=fd, offset=offset, whence=whence)
    return Call("process", "Lseek", request, lambda r: r.offset)


def ftruncate(pid: int, fd: int, length: int) -> Call[None]:
    """ftruncate(2)."""
    request = process_pb2.FtruncateRequest(pid=pid, fd=fd, length=length)
    return Call("process", "Ftruncate", request, _ignore)


def fsync(pid: int, fd: int) -> Call[None]:
    """fsync(2)."""
    return Call("process", "Fsync", process_pb2.FsyncRequest(pid=pid, fd=fd), _ignore)


def unlink(pid: int, path: str) -> Call[None]:
    """unlink(2)."""
    request = process_pb2.UnlinkFileRequest(pid=pid, path=path)
    return Call("process", "UnlinkFile", request, _ignore)


def mmap_file(
    pid: int,
    fd: int,
    length: int,
    prot: int = PROT_READ,
    flags: int = MAP_SHARED,
    offset: int = 0,
    addr: int = 0,
) -> Call[int]:
    """mmap(2) of an open file from byte *offset*; reads the address."""
    request = process_pb2.MmapFileRequest(
        pid=pid, fd=fd, addr=addr, length=length, prot=prot, flags=flags, offset=offset
    )
    return Call("process", "MmapFile", request, lambda r: r.addr)


def msync(pid: int, addr: int, length: int, flags: int) -> Call[None]:
    """msync(2)."""
    request = process_pb2.MsyncRequest(pid=pid, addr=addr, length=length, flags=flags)
    return Call("process", "Msync", request, _ignore)


def sync(pid: int) -> Call[None]:
    """sync(2): the whole page cache written back."""
    return Call("process", "Sync", process_pb2.SyncRequest(pid=pid), _ignore)


def files() -> Call[list[results.FileInfo]]:
    """The files of the machine's file system, with their page cache pages."""
    return Call(
        "inspect",
        "ListFiles",
        inspect_pb2.ListFilesRequest(),
        lambda r: [results.file_info(f) for f in r.files],
    )


def open_files(pid: int) -> Call[list[results.OpenFileInfo]]:
    """A process's open descriptors (/proc/PID/fdinfo)."""
    return Call(
        "inspect",
        "ListOpenFiles",
        inspect_pb2.ListOpenFilesRequest(pid=pid),
        lambda r: [results.open_file_info(f) for f in r.files],
    )


def mlock(pid: int, addr: int, length: int) -> Call[None]:
    """mlock(2): fault the range in and keep it in RAM."""
    return Call(
        "process", "Mlock", process_pb2.MlockRequest(pid=pid, addr=addr, length=length), _ignore
    )


def munlock(pid: int, addr: int, length: int) -> Call[None]:
    """munlock(2): the range evictable again."""
    return Call(
        "process",
        "Munlock",
        process_pb2.MunlockRequest(pid=pid, addr=addr, length=length),
        _ignore,
    )


def heartbeat(pid: int) -> Call[int]:
    """Renew the process's lease; reads the lease in seconds."""
    return Call(
        "process", "Heartbeat", process_pb2.HeartbeatRequest(pid=pid), lambda r: r.lease_seconds
    )


def mmap(
    pid: int,
    length: int,
    prot: int = PROT_READ | PROT_WRITE,
    flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
    addr: int = 0,
) -> Call[int]:
    """mmap(2) of an anonymous range; reads the mapped address."""
    request = process_pb2.MmapRequest(pid=pid, addr=addr, length=length, prot=prot, flags=flags)
    return Call("process", "Mmap", request, lambda r: r.addr)


def munmap(pid: int, addr: int, length: int) -> Call[None]:
    """munmap(2)."""
    return Call(
        "process", "Munmap", process_pb2.MunmapRequest(pid=pid, addr=addr, length=length), _ignore
    )


def mremap(
    pid: int, old_address: int, old_size: int, new_size: int, flags: int = 0, new_address: int = 0
) -> Call[int]:
    """mremap(2) with MREMAP_* flags; reads where the mapping is now."""
    request = process_pb2.MremapRequest(
        pid=pid,
        old_address=old_address,
        old_size=old_size,
        new_size=new_size,
        flags=flags,
        new_address=new_address,
    )
    return Call("process", "Mremap", request, lambda r: r.addr)


def mprotect(pid: int, addr: int, length: int, prot: int) -> Call[None]:
    """mprotect(2) with PROT_* bits."""
    request = process_pb2.MprotectRequest(pid=pid, addr=addr, length=length, prot=prot)
    return Call("process", "Mprotect", request, _ignore)


def brk(pid: int, addr: int = 0) -> Call[int]:
    """brk(2); addr 0 asks for the current break; reads the break."""
    return Call("process", "Brk", process_pb2.BrkRequest(pid=pid, addr=addr), lambda r: r.brk)


def madvise(pid: int, addr: int, length: int, advice: int) -> Call[None]:
    """madvise(2) with a MADV_* advice."""
    request = process_pb2.MadviseRequest(pid=pid, addr=addr, length=length, advice=advice)
    return Call("process", "Madvise", request, _ignore)


def touch(pid: int, addr: int, write: bool = False) -> Call[results.FaultKind]:
    """One access to *addr*; reads what it cost (FaultKind)."""
    request = process_pb2.TouchRequest(pid=pid, addr=addr, write=write)
    return Call("process", "Touch", request, lambda r: results.FAULT_KINDS[r.result])


def packed_addresses(addrs: range | npt.NDArray[Any]) -> bytes:
    """A numpy array or a range as little-endian uint32 bytes, never as a Python list.

    Values wrap to 32 bits as numpy's astype does (addresses are 32-bit).
    """
    import numpy as np

    if isinstance(addrs, range):
        array = np.arange(addrs.start, addrs.stop, addrs.step, dtype=np.int64)
    else:
        array = np.asarray(addrs)
    return array.astype("<u4", copy=False).tobytes()


def touch_many(
    pid: int, addrs: Sequence[int] | npt.NDArray[Any], write: bool = False
) -> Call[results.TouchSummary]:
    """Many accesses in one message; reads a TouchSummary.

    Arrays and ranges travel as raw little-endian bytes (packed_addrs); other sequences as
    the repeated field.
    """
    import numpy as np

    if isinstance(addrs, range | np.ndarray):
        request = process_pb2.TouchManyRequest(
            pid=pid, packed_addrs=packed_addresses(addrs), write=write
        )
    else:
        request = process_pb2.TouchManyRequest(pid=pid, addrs=as_addresses(addrs), write=write)
    return Call("process", "TouchMany", request, results.touch_summary)


def read(pid: int, addr: int, length: int) -> Call[bytes]:
    """Read *length* bytes of the process's memory."""
    return Call(
        "process",
        "Read",
        process_pb2.ReadRequest(pid=pid, addr=addr, length=length),
        lambda r: r.data,
    )


def write(pid: int, addr: int, data: bytes) -> Call[int]:
    """Write *data* into the process's memory; reads the bytes written."""
    request = process_pb2.WriteRequest(pid=pid, addr=addr, data=bytes(data))
    return Call("process", "Write", request, lambda r: r.written)


def translate(pid: int, addr: int) -> Call[results.Translation]:
    """The page walk of *addr* as the process's MMU does it."""
    return Call(
        "process",
        "Translate",
        process_pb2.TranslateRequest(pid=pid, addr=addr),
        results.translation,
    )


def exit_process(pid: int) -> Call[None]:
    """exit(2): the process ends and its memory is freed."""
    return Call("process", "Exit", process_pb2.ExitRequest(pid=pid), _ignore)


# ---- inspection calls ---------------------------------------------------------------------------
def meminfo() -> Call[results.Report]:
    """/proc/meminfo."""
    return Call("inspect", "GetMeminfo", inspect_pb2.GetMeminfoRequest(), results.report)


def vmstat() -> Call[results.Report]:
    """/proc/vmstat."""
    return Call("inspect", "GetVmstat", inspect_pb2.GetVmstatRequest(), results.report)


def layout() -> Call[results.Report]:
    """The boot layout (addresses by name, and the text)."""
    return Call("inspect", "GetLayout", inspect_pb2.GetLayoutRequest(), results.report)


def _zone_listing(
    reply: inspect_pb2.GetZoneinfoResponse | inspect_pb2.GetBuddyinfoResponse,
) -> Listing[results.Zone]:
    """The zones of a GetZoneinfo or GetBuddyinfo reply, with the report's text."""
    return Listing([results.zone(z) for z in reply.zones], reply.text)


def zoneinfo() -> Call[Listing[results.Zone]]:
    """/proc/zoneinfo."""
    return Call("inspect", "GetZoneinfo", inspect_pb2.GetZoneinfoRequest(), _zone_listing)


def buddyinfo() -> Call[Listing[results.Zone]]:
    """/proc/buddyinfo."""
    return Call("inspect", "GetBuddyinfo", inspect_pb2.GetBuddyinfoRequest(), _zone_listing)


def pagetypeinfo() -> Call[Listing[results.ZonePageTypes]]:
    """/proc/pagetypeinfo."""
    return Call(
        "inspect",
        "GetPagetypeinfo",
        inspect_pb2.GetPagetypeinfoRequest(),
        lambda r: Listing([results.zone_page_types(z) for z in r.zones], r.text),
    )


def swaps() -> Call[Listing[results.SwapArea]]:
    """/proc/swaps."""
    return Call(
        "inspect",
        "GetSwaps",
        inspect_pb2.GetSwapsRequest(),
        lambda r: Listing([results.swap_area(a) for a in r.areas], r.text),
    )


def processes(all: bool = False) -> Call[list[results.ProcessStatus]]:
    """The live processes' status; *all* adds the ended ones (zombies)."""
    return Call(
        "inspect",
        "ListProcesses",
        inspect_pb2.ListProcessesRequest(all=all),
        lambda r: [results.process_status(p) for p in r.processes],
    )


def _vma_listing(
    reply: inspect_pb2.GetMapsResponse | inspect_pb2.GetSmapsResponse,
) -> Listing[results.Vma]:
    """One part of a maps or smaps report: its VMAs, its text, where the next part starts."""
    return Listing([results.vma(v) for v in reply.vmas], reply.text, reply.next_addr)


def maps(pid: int, start_addr: int = 0) -> Call[Listing[results.Vma]]:
    """/proc/<pid>/maps, the part from the first VMA ending above *start_addr* (the server
    sends a long report in parts: see whole_report)."""
    return Call(
        "inspect",
        "GetMaps",
        inspect_pb2.GetMapsRequest(pid=pid, start_addr=start_addr),
        _vma_listing,
    )


def smaps(pid: int, start_addr: int = 0) -> Call[Listing[results.Vma]]:
    """/proc/<pid>/smaps, the part from the first VMA ending above *start_addr* (the server
    sends a long report in parts: see whole_report)."""
    return Call(
        "inspect",
        "GetSmaps",
        inspect_pb2.GetSmapsRequest(pid=pid, start_addr=start_addr),
        _vma_listing,
    )


def smaps_rollup(pid: int) -> Call[results.Report]:
    """/proc/<pid>/smaps_rollup: the smaps sizes of every VMA summed (kB by name)."""
    return Call(
        "inspect",
        "GetSmapsRollup",
        inspect_pb2.GetSmapsRollupRequest(pid=pid),
        results.report,
    )


def whole_report(
    call: Callable[[int], Call[Listing[T]]], invoke: Callable[[Call[Listing[T]]], Listing[T]]
) -> Listing[T]:
    """Every part of a report the server sends in parts (maps, smaps), as one listing."""
    listing = invoke(call(0))
    while listing.next_addr:
        listing = listing.followed_by(invoke(call(listing.next_addr)))
    return listing


async def whole_report_async(
    call: Callable[[int], Call[Listing[T]]],
    invoke: Callable[[Call[Listing[T]]], Awaitable[Listing[T]]],
) -> Listing[T]:
    """whole_report for the asyncio client."""
    listing = await invoke(call(0))
    while listing.next_addr:
        listing = listing.followed_by(await invoke(call(listing.next_addr)))
    return listing


def status(pid: int) -> Call[results.ProcessStatus]:
    """/proc/<pid>/status: structured, with the Linux text as .text."""
    return Call(
        "inspect",
        "GetStatus",
        inspect_pb2.GetStatusRequest(pid=pid),
        lambda r: results.process_status(r.status, r.text),
    )


def translation(pid: int, addr: int, logical: str = "") -> Call[results.Translation]:
    """The page walk of *addr* (or of "selector:offset" through the GDT) in *pid*; nothing faults."""
    request = inspect_pb2.GetTranslationRequest(pid=pid, addr=addr, logical=logical)
    return Call("inspect", "GetTranslation", request, results.translation)


def replay(
    trace: Sequence[int] | npt.NDArray[Any],
    frames: int,
    policy: str,
    seed: int = 0,
    addresses: bool = False,
    steps: bool = False,
    counts_only: bool = False,
) -> Call[results.ReplayResult]:
    """Replay a reference string against *frames* frames under *policy* (*steps*: state per
    reference; *counts_only*: no victims or fault positions in the reply).

    Raises:
        ValueError: an entry of *trace* is not an integer in 0 .. 2**32 - 1.
    """
    request = inspect_pb2.ReplayRequest(
        packed_trace=packed_trace(trace),
        frames=frames,
        policy=policy,
        seed=seed,
        addresses=addresses,
        steps=steps,
        counts_only=counts_only,
    )
    return Call("inspect", "Replay", request, results.replay_result)


def miss_ratio_curve(
    trace: Sequence[int] | npt.NDArray[Any], addresses: bool = False
) -> Call[results.MissRatioCurve]:
    """LRU misses for every number of frames, from one pass over *trace*."""
    request = inspect_pb2.GetMissRatioCurveRequest(
        packed_trace=packed_trace(trace), addresses=addresses
    )
    return Call("inspect", "GetMissRatioCurve", request, results.miss_ratio_curve)


_LARGEST_TRACE_ENTRY = 0xFFFF_FFFF


def packed_trace(trace: Sequence[int] | npt.NDArray[Any]) -> bytes:
    """*trace* as the requests' `packed_trace` field carries it (packed_addresses, after a
    check: a trace entry that does not fit 32 bits is refused, not wrapped).

    Raises:
        ValueError: an entry is not an integer in 0 .. 2**32 - 1.
    """
    import numpy as np  # here, as above: only replays need it

    values = np.asarray(trace)
    if values.size and (
        values.ndim != 1
        or values.dtype.kind not in "iu"
        or int(values.min()) < 0
        or int(values.max()) > _LARGEST_TRACE_ENTRY
    ):
        raise ValueError(
            "a trace holds integers in 0 .. 4294967295 (page numbers or 32-bit addresses)"
        )
    return packed_addresses(values)


EVENT_KINDS = [
    value.name.removeprefix("EVENT_KIND_").lower()
    for value in inspect_pb2.DESCRIPTOR.enum_types_by_name["EventKind"].values
    if value.number != 0
]


def watch_request(
    kinds: Sequence[str] = (), pid: int | None = None
) -> inspect_pb2.WatchEventsRequest:
    """The WatchEvents request for event kind names (see EVENT_KINDS) and an optional pid."""
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown:
        raise ValueError(f"unknown event kinds {unknown}; known: {', '.join(EVENT_KINDS)}")
    values: list[Any] = [inspect_pb2.EventKind.Value(f"EVENT_KIND_{k.upper()}") for k in kinds]
    request = inspect_pb2.WatchEventsRequest(kinds=values)
    if pid is not None:
        request.pid = pid
    return request


# ---- admin calls --------------------------------------------------------------------------------
def kill(pid: int, reason: str = "") -> Call[None]:
    """SIGKILL *pid* (admin token needed)."""
    return Call(
        "admin", "KillProcess", admin_pb2.KillProcessRequest(pid=pid, reason=reason), _ignore
    )


# ---- stream operations ----------------------------------------------------------------------------
def on_thread(call: Call[T], tid: int) -> Call[T]:
    """The same process call made by thread *tid* (from Process.spawn_thread)."""
    request = type(call.request)()
    request.CopyFrom(call.request)
    request.tid = tid
    return Call(call.service, call.method, request, call.read)


def spawn_thread(pid: int) -> Call[int]:
    """A new thread in the process (shared address space, own clock); reads its tid."""
    return Call("process", "SpawnThread", process_pb2.SpawnThreadRequest(pid=pid), lambda r: r.tid)


def exit_thread(pid: int, tid: int) -> Call[None]:
    """End a thread other than the main one."""
    return Call("process", "ExitThread", process_pb2.ExitThreadRequest(pid=pid, tid=tid), _ignore)


def lock_stat() -> Call[Listing[results.LockClass]]:
    """/proc/lock_stat."""
    return Call(
        "inspect",
        "GetLockStat",
        inspect_pb2.GetLockStatRequest(),
        lambda r: Listing([results.lock_class(c) for c in r.classes], r.text),
    )


def cpu_times() -> Call[results.CpuTimes]:
    """Machine-wide simulated CPU time."""
    return Call("inspect", "GetCpuTimes", inspect_pb2.GetCpuTimesRequest(), results.cpu_times)


def frame_map() -> Call[results.FrameMap]:
    """Every physical frame's use, owner and flags."""
    return Call("inspect", "GetFrameMap", inspect_pb2.GetFrameMapRequest(), results.frame_map)


def sysctl(name: str = "") -> Call[dict[str, str]]:
    """vm sysctls by full name ("vm.swappiness": "60"): *name*'s, or all if empty (anyone)."""
    return Call(
        "admin",
        "GetSysctl",
        admin_pb2.GetSysctlRequest(name=name),
        lambda r: {entry.name: entry.value for entry in r.sysctls},
    )


def set_sysctl(name: str, value: str | int) -> Call[str]:
    """Write vm.NAME (admin); reads back the value now in effect."""
    return Call(
        "admin",
        "SetSysctl",
        admin_pb2.SetSysctlRequest(name=name, value=str(value)),
        lambda r: r.sysctl.value,
    )


def swapon(name: str, size: int, priority: int = -1) -> Call[results.SwapArea]:
    """mkswap + swapon of /swap/NAME (admin); -1 lets the kernel choose the priority."""
    return Call(
        "admin",
        "SwapOn",
        admin_pb2.SwapOnRequest(name=name, size_bytes=size, priority=priority),
        lambda r: results.swap_area(r.area),
    )


def swapoff(name: str) -> Call[None]:
    """swapoff of an area (admin): its pages come back into memory first."""
    return Call("admin", "SwapOff", admin_pb2.SwapOffRequest(name=name), _ignore)


def reset_lock_stat() -> Call[None]:
    """Clear /proc/lock_stat (admin)."""
    return Call("admin", "ResetLockStat", admin_pb2.ResetLockStatRequest(), _ignore)


# The process calls a Run stream carries: RPC method -> its field of RunRequest's op.
RUN_OPERATIONS = {
    "Mmap": "mmap",
    "Munmap": "munmap",
    "Mprotect": "mprotect",
    "Mremap": "mremap",
    "Brk": "brk",
    "Madvise": "madvise",
    "Touch": "touch",
    "TouchMany": "touch_many",
    "Read": "read",
    "Write": "write",
    "Translate": "translate",
}


def run_request(op_id: int, call: Call[Any]) -> process_pb2.RunRequest:
    """Wrap a process call as one operation of a Run stream.

    Raises:
        ValueError: the call is not one a Run stream carries (its RPC is sent on its own).
    """
    field = RUN_OPERATIONS.get(call.method)
    if field is None:
        raise ValueError(
            f"{call.method} is not an operation of a Run stream: one of "
            + ", ".join(RUN_OPERATIONS)
        )
    return process_pb2.RunRequest(id=op_id, **{field: call.request})
