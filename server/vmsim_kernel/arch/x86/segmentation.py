"""Segmentation: Linux i386's GDT of flat segments and the logical -> linear translation.

Models arch/x86/include/asm/segment.h (GDT layout, __KERNEL_CS/__KERNEL_DS/__USER_CS/
__USER_DS), arch/x86/include/asm/desc_defs.h (struct desc_struct, GDT_ENTRY_INIT) and the
protection checks of the Intel SDM vol. 3A ch. 3 and 5 and the MOV/POP Sreg and far JMP
pseudo-code of vol. 2. The checks made, in the SDM's order, with the fault each raises:

    null selector (index 0, TI 0) used for an access   #GP(0)       (SDM 3.4.2, 5.4.1)
    TI = 1: the LDT; Linux tasks have none (LDTR null)  #GP(selector)
    index beyond the GDT limit                          #GP(selector) (SDM 3.5.1)
    system descriptor or unused entry (S = 0)           #GP(selector)
    DS/ES/FS/GS: data or readable code, and for data or
        non-conforming code max(CPL, RPL) <= DPL        #GP(selector) (SDM 5.6)
    SS: writable data, RPL = CPL = DPL                  #GP(selector) (SDM 5.7)
    CS (far jump/call): code; non-conforming needs
        DPL = CPL and RPL <= CPL, conforming DPL <= CPL  #GP(selector) (SDM 5.8.1)
    descriptor not present                              #NP(selector), #SS(selector) for SS
    write through a code or read-only data segment      #GP(0)        (SDM 5.5)
    offset beyond the limit (expand-down: at or below)  #GP(0), #SS(0) for SS (SDM 5.3)

Call gates, task switches and the accessed bit the CPU sets on a load are not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from vmsim_kernel.errors import InvalidArgument, KernelError

__all__ = [
    "GDT_ENTRIES",
    "GDT_ENTRY_KERNEL_CS",
    "GDT_ENTRY_KERNEL_DS",
    "GDT_ENTRY_USER_CS",
    "GDT_ENTRY_USER_DS",
    "KERNEL_CS",
    "KERNEL_DS",
    "SELECTOR_NAMES",
    "USER_CS",
    "USER_DS",
    "Gdt",
    "GeneralProtectionFault",
    "SegmentDescriptor",
    "SegmentRegister",
    "SegmentTranslation",
    "gdt_entry_init",
    "linux_gdt",
    "logical_to_linear",
    "parse_logical",
]

GDT_ENTRIES: Final = 32  # segment.h: the i386 GDT has 32 entries, 256 bytes
GDT_ENTRY_TLS_MIN: Final = 6  # set_thread_area's three entries (glibc uses 6 for %gs)
GDT_ENTRY_TLS_MAX: Final = 8
GDT_ENTRY_KERNEL_CS: Final = 12
GDT_ENTRY_KERNEL_DS: Final = 13
GDT_ENTRY_USER_CS: Final = 14  # GDT_ENTRY_DEFAULT_USER_CS
GDT_ENTRY_USER_DS: Final = 15  # GDT_ENTRY_DEFAULT_USER_DS

KERNEL_CS: Final = GDT_ENTRY_KERNEL_CS * 8  # 0x60, RPL 0
KERNEL_DS: Final = GDT_ENTRY_KERNEL_DS * 8  # 0x68
USER_CS: Final = GDT_ENTRY_USER_CS * 8 + 3  # 0x73, RPL 3
USER_DS: Final = GDT_ENTRY_USER_DS * 8 + 3  # 0x7b

SELECTOR_NAMES: Final[dict[int, str]] = {
    KERNEL_CS: "__KERNEL_CS",
    KERNEL_DS: "__KERNEL_DS",
    USER_CS: "__USER_CS",
    USER_DS: "__USER_DS",
}

# Descriptor type field (S = 1): bit 3 code, then conforming/expand-down, readable/writable,
# accessed.
_TYPE_CODE: Final = 0x8
_TYPE_CONFORMING_OR_EXPAND_DOWN: Final = 0x4
_TYPE_READABLE_OR_WRITABLE: Final = 0x2
_SELECTOR_RPL: Final = 0x3
_SELECTOR_TI: Final = 0x4
_FAULT_NAMES: Final = {
    "#GP": "general protection fault",
    "#NP": "segment not present",
    "#SS": "stack-segment fault",
}


class GeneralProtectionFault(KernelError):
    """A segment check failed: #GP (or #NP/#SS) with the SDM's error code.

    The error code is 0 for limit and access-type violations and the selector (RPL bits
    cleared) for a selector or descriptor that may not be used.
    """

    errno_name = "EFAULT"

    def __init__(self, error_code: int, reason: str, vector: str = "#GP") -> None:
        super().__init__(f"{_FAULT_NAMES[vector]}: {vector}(0x{error_code:04x}): {reason}")
        self.error_code = error_code
        self.vector = vector
        self.reason = reason


class SegmentRegister(StrEnum):
    """Which segment register the selector is loaded into: the checks differ."""

    CS = "cs"  # far jump or call: the code segment to execute from
    SS = "ss"  # the stack: writable data at exactly the current privilege
    DS = "ds"  # data references (also ES, FS, GS)
    ES = "es"
    FS = "fs"
    GS = "gs"


@dataclass(frozen=True)
class SegmentDescriptor:
    """An 8-byte GDT descriptor (struct desc_struct), decoded.

    Attributes:
        base: 32-bit segment base.
        limit: 20-bit limit, in bytes or (granularity) in 4 KiB units.
        type: 4-bit type: code/data, conforming/expand-down, readable/writable, accessed.
        s: True for a code or data segment, False for a system descriptor (TSS, LDT, gate).
        dpl: descriptor privilege level 0..3.
        present: the P bit.
        avl: the bit available to software.
        long_mode: the L bit (64-bit code, never set on i386).
        default_big: the D/B bit (32-bit segment).
        granularity: the G bit (limit in 4 KiB units).
    """

    base: int
    limit: int
    type: int
    s: bool
    dpl: int
    present: bool
    avl: bool = False
    long_mode: bool = False
    default_big: bool = True
    granularity: bool = True

    @classmethod
    def from_raw(cls, raw: int) -> SegmentDescriptor:
        """Decode the 64-bit little-endian descriptor value *raw*."""
        low, high = raw & 0xFFFFFFFF, raw >> 32
        # Bits 8..23 of the high word are GDT_ENTRY_INIT's flags, but for limit 19..16 among them.
        return gdt_entry_init(
            (high >> 8) & 0xF0FF,
            base=(low >> 16) | ((high & 0xFF) << 16) | (high & 0xFF000000),
            limit=(low & 0xFFFF) | (high & 0xF0000),
        )

    @property
    def raw(self) -> int:
        """The descriptor as the 64-bit value the GDT holds."""
        low = (self.limit & 0xFFFF) | ((self.base & 0xFFFF) << 16)
        high = (
            ((self.base >> 16) & 0xFF)
            | (self.type << 8)
            | (int(self.s) << 12)
            | (self.dpl << 13)
            | (int(self.present) << 15)
            | (self.limit & 0xF0000)
            | (int(self.avl) << 20)
            | (int(self.long_mode) << 21)
            | (int(self.default_big) << 22)
            | (int(self.granularity) << 23)
            | (self.base & 0xFF000000)
        )
        return (high << 32) | low

    def encode(self) -> bytes:
        """The 8 bytes in memory order."""
        return self.raw.to_bytes(8, "little")

    @property
    def effective_limit(self) -> int:
        """The last valid offset of an expand-up segment, in bytes."""
        return (self.limit << 12) | 0xFFF if self.granularity else self.limit

    @property
    def is_code(self) -> bool:
        """A code segment."""
        return self.s and bool(self.type & _TYPE_CODE)

    @property
    def is_data(self) -> bool:
        """A data segment."""
        return self.s and not self.type & _TYPE_CODE

    @property
    def conforming(self) -> bool:
        """A conforming code segment (callable from less privileged code)."""
        return self.is_code and bool(self.type & _TYPE_CONFORMING_OR_EXPAND_DOWN)

    @property
    def expand_down(self) -> bool:
        """An expand-down data segment (valid offsets lie above the limit)."""
        return self.is_data and bool(self.type & _TYPE_CONFORMING_OR_EXPAND_DOWN)

    @property
    def readable(self) -> bool:
        """Data is always readable; code only with the R bit."""
        return self.is_data or (self.is_code and bool(self.type & _TYPE_READABLE_OR_WRITABLE))

    @property
    def writable(self) -> bool:
        """Only data segments with the W bit are writable."""
        return self.is_data and bool(self.type & _TYPE_READABLE_OR_WRITABLE)

    @property
    def kind(self) -> str:
        """A short description: "code, execute/read", "data, read/write", "system" ..."""
        if not self.s:
            return "system" if self.raw else "unused"
        if self.is_code:
            access = "execute/read" if self.readable else "execute-only"
            return f"code, {access}{', conforming' if self.conforming else ''}"
        access = "read/write" if self.writable else "read-only"
        return f"data, {access}{', expand-down' if self.expand_down else ''}"


def gdt_entry_init(flags: int, base: int, limit: int) -> SegmentDescriptor:
    """GDT_ENTRY_INIT(flags, base, limit) of desc_defs.h (flags: type|S<<4|DPL<<5|P<<7|AVL<<12|L<<13|DB<<14|G<<15)."""
    return SegmentDescriptor(
        base=base,
        limit=limit,
        type=flags & 0xF,
        s=bool(flags >> 4 & 1),
        dpl=(flags >> 5) & 3,
        present=bool(flags >> 7 & 1),
        avl=bool(flags >> 12 & 1),
        long_mode=bool(flags >> 13 & 1),
        default_big=bool(flags >> 14 & 1),
        granularity=bool(flags >> 15 & 1),
    )


_EMPTY: Final = SegmentDescriptor.from_raw(0)


@dataclass(frozen=True)
class SegmentTranslation:
    """Every step of logical (selector:offset) -> linear address."""

    selector: int
    index: int  # selector bits 15..3
    ti: int  # table indicator: 0 GDT, 1 LDT
    rpl: int  # requested privilege level: selector bits 1..0
    cpl: int  # current privilege level of the access
    register: SegmentRegister
    offset: int
    descriptor: SegmentDescriptor
    linear: int
    name: str  # "__USER_DS" etc., or ""

    @property
    def descriptor_raw(self) -> int:
        """The descriptor's 64-bit value."""
        return self.descriptor.raw


class Gdt:
    """A global descriptor table of GDT_ENTRIES descriptors (one per CPU in Linux)."""

    def __init__(self, entries: Mapping[int, SegmentDescriptor] | None = None) -> None:
        """A table holding *entries* (index -> descriptor); the others are zero (unused).

        Raises:
            InvalidArgument: an index is 0 (the null descriptor) or beyond the table.
        """
        self._entries = [_EMPTY] * GDT_ENTRIES
        for index, descriptor in (entries or {}).items():
            self.set_descriptor(index, descriptor)

    @property
    def limit(self) -> int:
        """The GDTR limit: the last valid byte offset."""
        return GDT_ENTRIES * 8 - 1

    def descriptor(self, index: int) -> SegmentDescriptor:
        """Entry *index* (a zero descriptor when unused)."""
        if not 0 <= index < GDT_ENTRIES:
            raise InvalidArgument("index", f"{index}", f"0 .. {GDT_ENTRIES - 1}")
        return self._entries[index]

    def set_descriptor(self, index: int, descriptor: SegmentDescriptor) -> None:
        """Write entry *index* (set_thread_area writes TLS entries 6..8 this way)."""
        if not 1 <= index < GDT_ENTRIES:
            raise InvalidArgument(
                "index", f"{index}", f"1 .. {GDT_ENTRIES - 1} (entry 0 is the null descriptor)"
            )
        self._entries[index] = descriptor

    def encode(self) -> bytes:
        """The table as the CPU reads it: GDT_ENTRIES x 8 bytes."""
        return b"".join(entry.encode() for entry in self._entries)

    def logical_to_linear(
        self,
        selector: int,
        offset: int,
        cpl: int,
        *,
        register: SegmentRegister = SegmentRegister.DS,
        write: bool = False,
        size: int = 1,
    ) -> SegmentTranslation:
        """Translate selector:offset for an access of *size* bytes at privilege *cpl*.

        Raises:
            InvalidArgument: selector, offset, cpl or size out of range.
            GeneralProtectionFault: a check of the module docstring failed.
        """
        _check_field("selector", selector, 0xFFFF)
        _check_field("offset", offset, 0xFFFFFFFF)
        _check_field("cpl", cpl, 3)
        if not 1 <= size <= 4096:
            raise InvalidArgument("size", f"{size}", "1 .. 4096 bytes")
        index, ti, rpl = selector >> 3, (selector & _SELECTOR_TI) >> 2, selector & _SELECTOR_RPL
        code = selector & ~_SELECTOR_RPL  # the error code: index and TI, RPL cleared
        where = f"selector 0x{selector:04x}"
        if index == 0 and ti == 0:
            raise GeneralProtectionFault(0, f"{where} is the null selector")
        if ti:
            raise GeneralProtectionFault(
                code, f"{where} has TI=1 (the LDT), and Linux tasks have no LDT"
            )
        if index * 8 + 7 > self.limit:
            raise GeneralProtectionFault(
                code, f"{where}: index {index} is beyond the GDT limit 0x{self.limit:x}"
            )
        descriptor = self._entries[index]
        if not descriptor.s:
            raise GeneralProtectionFault(
                code, f"{where}: GDT entry {index} is {descriptor.kind}, not code or data"
            )
        _check_privilege(register, descriptor, cpl, rpl, code, where)
        if not descriptor.present:
            vector = "#SS" if register is SegmentRegister.SS else "#NP"
            raise GeneralProtectionFault(code, f"{where}: GDT entry {index} is not present", vector)
        if write and not descriptor.writable:
            raise GeneralProtectionFault(0, f"write through {where}, a {descriptor.kind} segment")
        _check_limit(register, descriptor, offset, size, where)
        return SegmentTranslation(
            selector=selector,
            index=index,
            ti=ti,
            rpl=rpl,
            cpl=cpl,
            register=register,
            offset=offset,
            descriptor=descriptor,
            linear=(descriptor.base + offset) & 0xFFFFFFFF,
            name=SELECTOR_NAMES.get(selector, ""),
        )


def _check_field(field: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise InvalidArgument(field, f"{value}", f"0 .. 0x{maximum:x}")


def _check_privilege(
    register: SegmentRegister,
    descriptor: SegmentDescriptor,
    cpl: int,
    rpl: int,
    code: int,
    where: str,
) -> None:
    """The type and privilege rules of loading *register* (SDM 5.6-5.8)."""
    dpl = descriptor.dpl
    levels = f"CPL {cpl}, RPL {rpl}, DPL {dpl}"
    if register is SegmentRegister.SS:
        if not descriptor.writable:
            raise GeneralProtectionFault(
                code, f"{where} is {descriptor.kind}: SS needs writable data"
            )
        if rpl != cpl or dpl != cpl:
            raise GeneralProtectionFault(code, f"{where}: SS needs RPL = DPL = CPL ({levels})")
    elif register is SegmentRegister.CS:
        if not descriptor.is_code:
            raise GeneralProtectionFault(code, f"{where} is {descriptor.kind}: CS needs code")
        if descriptor.conforming and dpl > cpl:
            raise GeneralProtectionFault(
                code, f"{where}: conforming code needs DPL <= CPL ({levels})"
            )
        if not descriptor.conforming and (dpl != cpl or rpl > cpl):
            raise GeneralProtectionFault(
                code,
                f"{where}: a far jump to non-conforming code needs DPL = CPL, RPL <= CPL ({levels})",
            )
    else:
        if not descriptor.readable:
            raise GeneralProtectionFault(code, f"{where} is {descriptor.kind}: not readable")
        if not descriptor.conforming and max(cpl, rpl) > dpl:
            raise GeneralProtectionFault(
                code, f"{where}: privilege violation, max(CPL, RPL) > DPL ({levels})"
            )


def _check_limit(
    register: SegmentRegister, descriptor: SegmentDescriptor, offset: int, size: int, where: str
) -> None:
    """Every byte of the access must lie within the segment (SDM 5.3)."""
    last = offset + size - 1
    limit = descriptor.effective_limit
    vector = "#SS" if register is SegmentRegister.SS else "#GP"
    if descriptor.expand_down:
        upper = 0xFFFFFFFF if descriptor.default_big else 0xFFFF
        if offset <= limit or last > upper:
            raise GeneralProtectionFault(
                0,
                f"offset 0x{offset:x}+{size} outside the expand-down segment of {where} "
                f"(valid 0x{limit + 1:x} .. 0x{upper:x})",
                vector,
            )
    elif last > limit:
        raise GeneralProtectionFault(
            0, f"offset 0x{offset:x}+{size} is beyond the limit 0x{limit:x} of {where}", vector
        )


def linux_gdt() -> Gdt:
    """The GDT Linux i386 sets up (cpu/common.c gdt_page): four flat 4 GiB segments."""
    return Gdt(
        {
            GDT_ENTRY_KERNEL_CS: gdt_entry_init(0xC09A, 0, 0xFFFFF),
            GDT_ENTRY_KERNEL_DS: gdt_entry_init(0xC092, 0, 0xFFFFF),
            GDT_ENTRY_USER_CS: gdt_entry_init(0xC0FA, 0, 0xFFFFF),
            GDT_ENTRY_USER_DS: gdt_entry_init(0xC0F2, 0, 0xFFFFF),
        }
    )


_LINUX_GDT: Final = linux_gdt()  # never handed out, so never changed


def logical_to_linear(
    selector: int,
    offset: int,
    cpl: int,
    *,
    register: SegmentRegister = SegmentRegister.DS,
    write: bool = False,
    size: int = 1,
    gdt: Gdt | None = None,
) -> SegmentTranslation:
    """Translate selector:offset through *gdt* (Linux's flat GDT by default); see Gdt."""
    return (gdt or _LINUX_GDT).logical_to_linear(
        selector, offset, cpl, register=register, write=write, size=size
    )


def parse_logical(text: str) -> tuple[int, int]:
    """Parse "selector:offset" ("0x7b:0xb7000000", "__USER_DS:0x8048000") into two ints.

    Raises:
        InvalidArgument: not two numbers (or a selector name) joined by one colon, or out of
            range.
    """
    allowed = "selector:offset such as 0x7b:0xb7000000 or __USER_DS:0xb7000000"
    parts = text.strip().split(":")
    if len(parts) != 2:
        raise InvalidArgument("address", f"{text!r} is not selector:offset", allowed)
    by_name = {name: selector for selector, name in SELECTOR_NAMES.items()}
    selector_text, offset_text = (part.strip() for part in parts)
    try:
        selector = by_name.get(selector_text)
        if selector is None:
            selector = int(selector_text, 0)
        offset = int(offset_text, 0)
    except ValueError:
        raise InvalidArgument("address", f"{text!r} is not selector:offset", allowed) from None
    _check_field("selector", selector, 0xFFFF)
    _check_field("offset", offset, 0xFFFFFFFF)
    return selector, offset
