"""`vmsim kernel`: the shared kernel space through a kernel session (needs the admin token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ..cli_common import emit_json, guarded, parsed_argument
from ..constants import DEFAULT_ADDRESS
from ..render import parse_address, parse_size
from .base import Address, AdminToken, App, JsonFlag

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["kernel_app"]

T = TypeVar("T")
KernelSize = Annotated[str, typer.Argument(help="bytes: 4096, 0x1000, 16k, 1M")]
KernelAddress = Annotated[str, typer.Argument(help="kernel virtual address, e.g. 0xc4800000")]

kernel_app = App(
    help="The shared kernel space (needs the admin token): kmalloc, vmalloc, kmap, __pa/__va, reports."
)
SessionOption = Annotated[
    int | None,
    typer.Option(
        help="a session from `vmsim kernel session`; without it the memory is freed when the command ends"
    ),
]


def _gfp(name: str) -> str:
    from ..kernel import GFP

    if name not in GFP:
        raise typer.BadParameter(f"{name!r} is not one of {', '.join(GFP)}", param_hint="--gfp")
    return name


def _kernel(addr: str, admin_token: str, session: int | None) -> Kernel:
    from ..kernel import Kernel

    return guarded(lambda: Kernel(addr, admin_token, session=session))


def _kernel_do(
    addr: str, admin_token: str, session: int | None, action: Callable[[Kernel], T]
) -> T:
    kernel = _kernel(addr, admin_token, session)
    try:
        return guarded(lambda: action(kernel))
    finally:
        kernel.close()


@kernel_app.command("session")
def kernel_session(addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = "") -> None:
    """Open a kernel session and print its id; it ends after the server's lease without calls."""
    kernel = _kernel(addr, admin_token, None)
    print(kernel.session)
    kernel.keep_session()  # the session outlives this command
    kernel.close()


@kernel_app.command("close")
def kernel_close(
    session: Annotated[int, typer.Argument(help="the session `vmsim kernel session` printed")],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
) -> None:
    """End a kernel session: everything it allocated or mapped is freed (an unknown or closed
    session is an error)."""
    freed = _kernel_do(addr, admin_token, session, lambda k: k.end_session())
    print(f"session {session} closed: {freed} allocations and mappings freed")


def _print_allocated(
    addr: str, admin_token: str, session: int | None, note: str, allocate: Callable[[Kernel], int]
) -> None:
    """Run *allocate* and print the address it returned; without a session the one-shot
    session has already freed it again, which the line says."""
    value = _kernel_do(addr, admin_token, session, allocate)
    borrowed = session is not None
    print(
        f"0x{value:08x}"
        + ("" if borrowed else f"  ({note} freed again as this one-shot session ended)")
    )


@kernel_app.command("kmalloc")
def kernel_kmalloc(
    size: KernelSize,
    gfp: Annotated[
        str, typer.Option(help="kernel, atomic or dma (user pages are highmem)")
    ] = "kernel",
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """kmalloc(SIZE, GFP): an object from the kmalloc-N slab caches (pages above 8 KiB)."""
    nr_bytes, gfp = parsed_argument(parse_size, size, "SIZE"), _gfp(gfp)
    _print_allocated(addr, admin_token, session, "object", lambda k: k.kmalloc(nr_bytes, gfp))


def _add_free_command(name: str, free: Callable[[Kernel, int], None]) -> None:
    """`vmsim kernel NAME ADDRESS`: give back what the allocator of the same family returned."""

    @kernel_app.command(name, help=f"{name}(ADDRESS).")
    def free_command(
        address: KernelAddress,
        addr: Address = DEFAULT_ADDRESS,
        admin_token: AdminToken = "",
        session: SessionOption = None,
    ) -> None:
        vaddr = parsed_argument(parse_address, address, "ADDRESS")
        _kernel_do(addr, admin_token, session, lambda k: free(k, vaddr))


_add_free_command("kfree", lambda kernel, vaddr: kernel.kfree(vaddr))
_add_free_command("vfree", lambda kernel, vaddr: kernel.vfree(vaddr))


@kernel_app.command("vmalloc")
def kernel_vmalloc(
    size: KernelSize,
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """vmalloc(SIZE): virtually contiguous, physically scattered, a guard page after it."""
    nr_bytes = parsed_argument(parse_size, size, "SIZE")
    _print_allocated(addr, admin_token, session, "area", lambda k: k.vmalloc(nr_bytes))


@kernel_app.command("kmap")
def kernel_kmap(
    pfn: Annotated[int, typer.Argument(help="page frame number to map")],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for a free pkmap slot")] = 30.0,
) -> None:
    """kmap(page PFN): its kernel address (a pkmap slot for a high page)."""
    _print_allocated(addr, admin_token, session, "mapping", lambda k: k.kmap(pfn, wait))


@kernel_app.command("kunmap")
def kernel_kunmap(
    pfn_or_address: Annotated[
        str, typer.Argument(help="the page frame number or the address kmap returned")
    ],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    session: SessionOption = None,
) -> None:
    """kunmap(page): by PFN or by its kmap address."""
    page = parsed_argument(parse_address, pfn_or_address, "PFN_OR_ADDRESS")
    _kernel_do(addr, admin_token, session, lambda k: k.kunmap(page))


@kernel_app.command("pa")
def kernel_pa(
    vaddr: KernelAddress, addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = ""
) -> None:
    """__pa(VADDR): direct-map addresses only."""
    linear = parsed_argument(parse_address, vaddr, "VADDR")
    print(f"0x{_kernel_do(addr, admin_token, None, lambda k: k.pa(linear)):08x}")


@kernel_app.command("va")
def kernel_va(
    paddr: Annotated[str, typer.Argument(help="physical address, e.g. 0x100000")],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
) -> None:
    """__va(PADDR): low memory only (a high page must be kmapped)."""
    physical = parsed_argument(parse_address, paddr, "PADDR")
    print(f"0x{_kernel_do(addr, admin_token, None, lambda k: k.va(physical)):08x}")


@kernel_app.command("translate")
def kernel_translate(
    address: Annotated[
        str, typer.Argument(help="linear or logical address: 0xc0100000, __KERNEL_DS:0xc0100000")
    ],
    addr: Address = DEFAULT_ADDRESS,
    admin_token: AdminToken = "",
    as_json: JsonFlag = False,
) -> None:
    """The walk of a kernel address, or selector:offset (e.g. __KERNEL_DS:0xc0100000) through the GDT."""
    logical = address if ":" in address else ""
    linear = 0 if logical else parsed_argument(parse_address, address, "ADDRESS")
    walk = _kernel_do(addr, admin_token, None, lambda k: k.translate(linear, logical))
    if as_json:
        emit_json(walk)
    else:
        print(walk.text, end="")


def _print_report(
    addr: str,
    admin_token: str,
    as_json: bool,
    read: Callable[[Kernel], str],
    parse: Callable[[str], object],
) -> None:
    """A /proc report as the kernel wrote it, or (--json) as *parse* reads it."""
    text = _kernel_do(addr, admin_token, None, read)
    if as_json:
        emit_json(parse(text))
    else:
        print(text, end="")


@kernel_app.command("slabinfo")
def kernel_slabinfo(
    addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = "", as_json: JsonFlag = False
) -> None:
    """/proc/slabinfo (--json: one object per cache, named by the header's columns)."""
    from ..kernel import parse_slabinfo

    _print_report(addr, admin_token, as_json, lambda k: k.slabinfo(), parse_slabinfo)


@kernel_app.command("vmallocinfo")
def kernel_vmallocinfo(
    addr: Address = DEFAULT_ADDRESS, admin_token: AdminToken = "", as_json: JsonFlag = False
) -> None:
    """/proc/vmallocinfo (--json: one object per area)."""
    from ..kernel import parse_vmallocinfo

    _print_report(addr, admin_token, as_json, lambda k: k.vmallocinfo(), parse_vmallocinfo)
