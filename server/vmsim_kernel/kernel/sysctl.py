"""The vm.* sysctls at run time: their limits, how they read and what a write changes.

Models kernel/sysctl.c's vm_table (proc_dointvec_minmax, proc_doulongvec_minmax and their
extra1/extra2 limits) with the handlers of mm/page_alloc.c (min_free_kbytes_sysctl_handler,
watermark_scale_factor_sysctl_handler, lowmem_reserve_ratio_sysctl_handler) and mm/util.c
(overcommit_ratio_handler, overcommit_kbytes_handler), and /proc/sys/vm as `sysctl -a` shows
it. A value out of the kernel's limits is refused with InvalidArgument naming the limit, and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from vmsim_kernel.config import OvercommitMode
from vmsim_kernel.errors import InvalidArgument
from vmsim_kernel.mm.truncate import drop_pagecache

if TYPE_CHECKING:
    from vmsim_kernel.init.main import Kernel

__all__ = [
    "SYSCTL_TABLE",
    "SysctlEntry",
    "VmSysctl",
    "format_proc_sys_vm",
    "sysctl_name",
    "sysctl_names",
    "sysctl_read",
    "sysctl_write",
]

INT_MAX: Final = 2**31 - 1
ULONG_MAX: Final = 2**32 - 1  # unsigned long on i386


@dataclass
class VmSysctl:
    """The vm.* settings mm reads at run time (the kernel's sysctl_* globals).

    The watermark settings (min_free_kbytes, watermark_scale_factor, lowmem_reserve_ratio)
    belong to the page allocator, which recomputes its zones from them; these are the rest.

    Attributes:
        overcommit_memory: vm.overcommit_memory.
        overcommit_ratio: vm.overcommit_ratio, percent of RAM in CommitLimit.
        overcommit_kbytes: vm.overcommit_kbytes; when non-zero it replaces the ratio.
        admin_reserve_kbytes: kept free for root in mode 2 (3% of free memory at boot).
        user_reserve_kbytes: kept free for a shell in mode 2 (3% of free memory at boot).
        swappiness: vm.swappiness, reclaim's anon/file balance (mm/vmscan.c reads it).
        page_cluster: vm.page-cluster, log2 of the swap readahead window (mm/swap_state.c).
        dirty_ratio: vm.dirty_ratio, percent of dirtyable memory a writer may dirty.
        dirty_background_ratio: vm.dirty_background_ratio, percent of dirtyable memory
            above which dirty page cache pages are written back (mm/page-writeback.c).
        drop_caches: vm.drop_caches, the last value written (fs/drop_caches.c).
    """

    overcommit_memory: OvercommitMode
    overcommit_ratio: int
    overcommit_kbytes: int
    admin_reserve_kbytes: int
    user_reserve_kbytes: int
    swappiness: int
    page_cluster: int
    dirty_ratio: int = 20
    dirty_background_ratio: int = 10
    drop_caches: int = 0


@dataclass(frozen=True)
class SysctlEntry:
    """One vm.* file: its limits per value, how it reads, and the write with its side effects.

    Attributes:
        name: the name after "vm." (page-cluster keeps its dash).
        minimum, maximum: the kernel's extra1/extra2 (or the type's range), per value.
        nr_values: how many integers the file holds (lowmem_reserve_ratio has one per zone).
        read: the current values.
        write: store validated values and run the handler's side effects.
    """

    name: str
    minimum: int
    maximum: int
    read: Callable[[Kernel], tuple[int, ...]]
    write: Callable[[Kernel, tuple[int, ...]], None]
    nr_values: int = 1


def _set_vm(field: str) -> Callable[[Kernel, tuple[int, ...]], None]:
    def write(kernel: Kernel, values: tuple[int, ...]) -> None:
        setattr(kernel.vm_sysctl, field, values[0])

    return write


def _get_vm(field: str) -> Callable[[Kernel], tuple[int, ...]]:
    def read(kernel: Kernel) -> tuple[int, ...]:
        return (int(getattr(kernel.vm_sysctl, field)),)

    return read


def _read_min_free_kbytes(kernel: Kernel) -> tuple[int, ...]:
    return (kernel.allocator.min_free_kbytes,)


def _read_watermark_scale_factor(kernel: Kernel) -> tuple[int, ...]:
    return (kernel.allocator.watermark_scale_factor,)


def _read_lowmem_reserve_ratio(kernel: Kernel) -> tuple[int, ...]:
    return tuple(kernel.allocator.lowmem_reserve_ratio)


def _write_min_free_kbytes(kernel: Kernel, values: tuple[int, ...]) -> None:
    """min_free_kbytes_sysctl_handler: new watermarks (and the reserves they sit on)."""
    kernel.allocator.setup_per_zone_wmarks(values[0])
    kernel.allocator.setup_per_zone_lowmem_reserve()


def _write_watermark_scale_factor(kernel: Kernel, values: tuple[int, ...]) -> None:
    allocator = kernel.allocator
    allocator.watermark_scale_factor = values[0]
    allocator.setup_per_zone_wmarks(allocator.min_free_kbytes)


def _write_lowmem_reserve_ratio(kernel: Kernel, values: tuple[int, ...]) -> None:
    kernel.allocator.lowmem_reserve_ratio = values
    kernel.allocator.setup_per_zone_lowmem_reserve()


def _write_overcommit_memory(kernel: Kernel, values: tuple[int, ...]) -> None:
    kernel.vm_sysctl.overcommit_memory = OvercommitMode(values[0])


def _write_overcommit_ratio(kernel: Kernel, values: tuple[int, ...]) -> None:
    """overcommit_ratio_handler: the ratio takes over from overcommit_kbytes."""
    kernel.vm_sysctl.overcommit_ratio = values[0]
    kernel.vm_sysctl.overcommit_kbytes = 0


def _write_overcommit_kbytes(kernel: Kernel, values: tuple[int, ...]) -> None:
    """overcommit_kbytes_handler: the kbytes take over from overcommit_ratio."""
    kernel.vm_sysctl.overcommit_kbytes = values[0]
    kernel.vm_sysctl.overcommit_ratio = 0


def _write_drop_caches(kernel: Kernel, values: tuple[int, ...]) -> None:
    """drop_caches_sysctl_handler: bit 1 drops the clean page cache pages nothing maps (bit 2,
    the slab's dentries and inodes, has nothing to drop here)."""
    kernel.vm_sysctl.drop_caches = values[0]
    if values[0] & 1:
        drop_pagecache(kernel)


SYSCTL_TABLE: Final[tuple[SysctlEntry, ...]] = (
    SysctlEntry(
        "admin_reserve_kbytes",
        0,
        ULONG_MAX,
        _get_vm("admin_reserve_kbytes"),
        _set_vm("admin_reserve_kbytes"),
    ),
    SysctlEntry(
        "dirty_background_ratio",
        0,
        100,
        _get_vm("dirty_background_ratio"),
        _set_vm("dirty_background_ratio"),
    ),
    SysctlEntry("dirty_ratio", 0, 100, _get_vm("dirty_ratio"), _set_vm("dirty_ratio")),
    SysctlEntry("drop_caches", 1, 4, _get_vm("drop_caches"), _write_drop_caches),
    SysctlEntry(
        "lowmem_reserve_ratio",
        0,
        INT_MAX,
        _read_lowmem_reserve_ratio,
        _write_lowmem_reserve_ratio,
        nr_values=3,
    ),
    SysctlEntry(
        "min_free_kbytes",
        0,
        INT_MAX,
        _read_min_free_kbytes,
        _write_min_free_kbytes,
    ),
    SysctlEntry(
        "overcommit_kbytes",
        0,
        ULONG_MAX,
        _get_vm("overcommit_kbytes"),
        _write_overcommit_kbytes,
    ),
    SysctlEntry("overcommit_memory", 0, 2, _get_vm("overcommit_memory"), _write_overcommit_memory),
    SysctlEntry(
        "overcommit_ratio", 0, INT_MAX, _get_vm("overcommit_ratio"), _write_overcommit_ratio
    ),
    # 6.1 sets no upper bound; 31 is the one 6.4 added (a larger shift overflows the window).
    SysctlEntry("page-cluster", 0, 31, _get_vm("page_cluster"), _set_vm("page_cluster")),
    SysctlEntry("swappiness", 0, 200, _get_vm("swappiness"), _set_vm("swappiness")),
    SysctlEntry(
        "user_reserve_kbytes",
        0,
        ULONG_MAX,
        _get_vm("user_reserve_kbytes"),
        _set_vm("user_reserve_kbytes"),
    ),
    SysctlEntry(
        "watermark_scale_factor",
        1,
        3000,
        _read_watermark_scale_factor,
        _write_watermark_scale_factor,
    ),
)
_BY_NAME: Final = {entry.name: entry for entry in SYSCTL_TABLE}


def sysctl_names() -> list[str]:
    """Every settable name, with its "vm." prefix, in `sysctl -a` order."""
    return [f"vm.{entry.name}" for entry in SYSCTL_TABLE]


def _entry(name: str) -> SysctlEntry:
    """The entry of "vm.NAME" (or "NAME"; vm/NAME as a /proc/sys path too)."""
    short = name.removeprefix("vm.").removeprefix("vm/")
    entry = _BY_NAME.get(short)
    if entry is None:
        raise InvalidArgument("name", f"{name!r} is not a vm sysctl", ", ".join(sysctl_names()))
    return entry


def sysctl_name(name: str) -> str:
    """The full name ("vm.NAME") of "vm.NAME", "NAME" or "vm/NAME".

    Raises:
        InvalidArgument: no such vm sysctl.
    """
    return f"vm.{_entry(name).name}"


def _format(values: tuple[int, ...]) -> str:
    return "\t".join(str(value) for value in values)


def sysctl_read(kernel: Kernel, name: str) -> str:
    """The value of vm.NAME as /proc/sys/vm/NAME prints it (tab-separated when several).

    Raises:
        InvalidArgument: no such vm sysctl.
    """
    entry = _entry(name)
    return _format(entry.read(kernel))


def sysctl_write(kernel: Kernel, name: str, value: str) -> str:
    """Write vm.NAME = *value* (integers separated by blanks) and return the value now read.

    Raises:
        InvalidArgument: no such sysctl, not integers, the wrong count, or a value out of the
            kernel's limits; nothing is changed then.
    """
    entry = _entry(name)
    allowed = f"{entry.nr_values} integer(s) in {entry.minimum}..{entry.maximum}"
    try:
        values = tuple(int(word) for word in value.split())
    except ValueError:
        raise InvalidArgument(f"vm.{entry.name}", f"{value!r} is not an integer", allowed) from None
    if len(values) != entry.nr_values:
        raise InvalidArgument(f"vm.{entry.name}", f"{len(values)} values given", allowed)
    for number in values:
        if not entry.minimum <= number <= entry.maximum:
            raise InvalidArgument(
                f"vm.{entry.name}",
                f"{number} is out of the kernel's limits",
                f"{entry.minimum}..{entry.maximum}",
            )
    entry.write(kernel, values)
    return _format(entry.read(kernel))


def format_proc_sys_vm(kernel: Kernel) -> str:
    """`sysctl -a` for the vm.* settings this kernel models: "vm.NAME = VALUE" lines."""
    return "".join(f"vm.{entry.name} = {_format(entry.read(kernel))}\n" for entry in SYSCTL_TABLE)
