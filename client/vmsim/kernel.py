"""The privileged kernel-space client: kmalloc, vmalloc, kmap, kmap_atomic, __pa/__va, kernel access.

with vmsim.Kernel(addr, admin_token) as kernel:      # opens a kernel session
    obj = kernel.kmalloc(128)
    area = kernel.vmalloc(100 * vmsim.PAGE_SIZE)
# closing the session frees both, like unloading a module
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from vmsim_proto.v1 import kernel_pb2

from . import results
from .calls import Call
from .channels import Tls, admin_metadata
from .client import _Endpoint
from .constants import DEFAULT_ADDRESS, DEFAULT_TIMEOUT
from .endpoint import ClosedOnExit
from .errors import VmsimError

__all__ = ["GFP", "Kernel", "KernelTranslation", "parse_slabinfo", "parse_vmallocinfo"]

GFP = {"kernel": kernel_pb2.GFP_KERNEL, "atomic": kernel_pb2.GFP_ATOMIC, "dma": kernel_pb2.GFP_DMA}


@dataclass(frozen=True)
class KernelTranslation:
    """A kernel (or logical) address walk: the page walk, and the segment step when one was taken."""

    translation: results.Translation
    segment_name: str
    linear: int
    text: str


class Kernel(ClosedOnExit):
    """One kernel session on a server; needs the server's admin token (from its token file)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        admin_token: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        session: int | None = None,
        tls: Tls | None = None,
        client_name: str | None = None,
    ) -> None:
        self._endpoint = _Endpoint(address, timeout, admin_metadata(admin_token), tls, client_name)
        self._owns_session = session is None
        self.session = (
            session
            if session is not None
            else self._call("OpenSession", kernel_pb2.OpenSessionRequest()).session
        )

    def _call(self, method: str, request: object, timeout: float | None = None) -> Any:
        """KernelService.*method*'s reply (*timeout*: the call's own deadline, as
        `Process.call`'s: 0 or less has passed already, None is the connection's)."""
        return self._endpoint.invoke(Call("kernel", method, request, lambda reply: reply), timeout)

    def kmalloc(self, size: int, gfp: str = "kernel") -> int:
        """kmalloc(size, GFP_KERNEL|GFP_ATOMIC|GFP_DMA): a direct-map address."""
        if gfp not in GFP:
            raise ValueError(f"gfp {gfp!r}: one of {', '.join(GFP)}")
        return int(
            self._call(
                "Kmalloc", kernel_pb2.KmallocRequest(session=self.session, size=size, gfp=GFP[gfp])
            ).addr
        )

    def kfree(self, addr: int) -> None:
        """kfree(addr)."""
        self._call("Kfree", kernel_pb2.KfreeRequest(session=self.session, addr=addr))

    def vmalloc(self, size: int) -> int:
        """vmalloc(size): a virtually contiguous area in VMALLOC_START..VMALLOC_END."""
        return int(
            self._call("Vmalloc", kernel_pb2.VmallocRequest(session=self.session, size=size)).addr
        )

    def vfree(self, addr: int) -> None:
        """vfree(addr)."""
        self._call("Vfree", kernel_pb2.VfreeRequest(session=self.session, addr=addr))

    def kmap(self, pfn: int, timeout: float | None = None) -> int:
        """kmap(page): waits (up to *timeout*) while all 1024 pkmap slots are taken."""
        return int(
            self._call("Kmap", kernel_pb2.KmapRequest(session=self.session, pfn=pfn), timeout).addr
        )

    def kunmap(self, pfn_or_addr: int) -> None:
        """kunmap(page)."""
        self._call(
            "Kunmap", kernel_pb2.KunmapRequest(session=self.session, pfn_or_addr=pfn_or_addr)
        )

    def kmap_atomic(self, pfn: int, cpu: int = 0) -> int:
        """kmap_atomic(page) on *cpu*."""
        request = kernel_pb2.KmapAtomicRequest(session=self.session, pfn=pfn, cpu=cpu)
        return int(self._call("KmapAtomic", request).addr)

    def kunmap_atomic(self, addr: int, cpu: int = 0) -> None:
        """kunmap_atomic(addr) on *cpu*."""
        self._call(
            "KunmapAtomic", kernel_pb2.KunmapAtomicRequest(session=self.session, addr=addr, cpu=cpu)
        )

    def pa(self, vaddr: int) -> int:
        """__pa(vaddr)."""
        return int(self._call("Pa", kernel_pb2.PaRequest(vaddr=vaddr)).paddr)

    def va(self, paddr: int) -> int:
        """__va(paddr)."""
        return int(self._call("Va", kernel_pb2.VaRequest(paddr=paddr)).vaddr)

    def read(self, addr: int, length: int) -> bytes:
        """A kernel-mode read."""
        return bytes(
            self._call("KernelRead", kernel_pb2.KernelReadRequest(addr=addr, length=length)).data
        )

    def write(self, addr: int, data: bytes) -> None:
        """A kernel-mode write."""
        self._call("KernelWrite", kernel_pb2.KernelWriteRequest(addr=addr, data=data))

    def translate(
        self, addr: int = 0, logical: str = "", pid: int | None = None
    ) -> KernelTranslation:
        """The walk of a kernel address, or of "selector:offset" through the GDT first."""
        request = kernel_pb2.KernelTranslateRequest(addr=addr, logical=logical)
        if pid is not None:
            request.pid = pid
        reply = self._call("KernelTranslate", request)
        walk = results.translation(reply)
        return KernelTranslation(walk, reply.segment.name, walk.linear, reply.text)

    def slabinfo(self) -> str:
        """/proc/slabinfo."""
        return str(self._call("GetSlabinfo", kernel_pb2.GetSlabinfoRequest()).text)

    def vmallocinfo(self) -> str:
        """/proc/vmallocinfo."""
        return str(self._call("GetVmallocinfo", kernel_pb2.GetVmallocinfoRequest()).text)

    def page_table(self, addr: int, pages: int) -> list[results.Translation]:
        """The kernel PTEs of a range."""
        reply = self._call("DumpPageTable", kernel_pb2.DumpPageTableRequest(addr=addr, pages=pages))
        return [results.translation_of(t) for t in reply.entries]

    def end_session(self) -> int:
        """CloseSession now: free what the session holds; returns how many allocations and
        mappings that released.

        Raises:
            InvalidArgument: no such session is open (never opened, closed, or expired).
        """
        self._owns_session = False  # closed here: close() must not try again
        reply = self._call("CloseSession", kernel_pb2.CloseSessionRequest(session=self.session))
        return int(reply.freed)

    def keep_session(self) -> None:
        """Leave the session open when this client closes (it lives on until its lease ends)."""
        self._owns_session = False

    def close(self) -> None:
        """End the session (freeing what it holds) unless it was borrowed, and close the channel."""
        if self._owns_session:
            with contextlib.suppress(VmsimError):  # already expired: the server freed it then
                self._call("CloseSession", kernel_pb2.CloseSessionRequest(session=self.session))
        self._endpoint.close()


def parse_slabinfo(text: str) -> list[dict[str, int | str]]:
    """/proc/slabinfo's rows as {column: value}, named by its "# name <active_objs> ..." header."""
    columns: list[str] = []
    rows: list[dict[str, int | str]] = []
    for line in text.splitlines():
        if line.startswith("# name"):
            columns = ["name", *(word.strip("<>") for word in line.split()[2:] if word[0] == "<")]
        elif columns and line and not line.startswith(("slabinfo", "#")):
            name, *numbers = (
                word for word in line.split() if word not in (":", "tunables", "slabdata")
            )
            rows.append({"name": name} | dict(zip(columns[1:], map(int, numbers), strict=True)))
    return rows


def parse_vmallocinfo(text: str) -> list[dict[str, int | str | list[str]]]:
    """/proc/vmallocinfo's areas: start, end, size, caller, pages (when shown) and the flag words."""
    areas: list[dict[str, int | str | list[str]]] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or "-" not in words[0]:
            continue
        start, end = (int(part, 16) for part in words[0].split("-"))
        area: dict[str, int | str | list[str]] = {
            "start": start,
            "end": end,
            "size": int(words[1]),
            "caller": words[2],
        }
        flags: list[str] = []
        for word in words[3:]:
            key, equals, value = word.partition("=")
            if equals and value.isdigit():
                area[key] = int(value)
            else:
                flags.append(word)
        areas.append(area | {"flags": flags})
    return areas
