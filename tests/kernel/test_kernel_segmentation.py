"""Segmentation: Linux's flat GDT, selector:offset -> linear, and general-protection faults."""

from __future__ import annotations

import pytest

from vmsim_kernel import InvalidArgument
from vmsim_kernel.arch.x86.segmentation import (
    GDT_ENTRIES,
    GDT_ENTRY_KERNEL_CS,
    GDT_ENTRY_KERNEL_DS,
    GDT_ENTRY_USER_CS,
    GDT_ENTRY_USER_DS,
    KERNEL_CS,
    KERNEL_DS,
    USER_CS,
    USER_DS,
    GeneralProtectionFault,
    SegmentDescriptor,
    SegmentRegister,
    gdt_entry_init,
    linux_gdt,
    logical_to_linear,
    parse_logical,
)


def test_linux_selectors_have_their_segment_h_values() -> None:
    assert (KERNEL_CS, KERNEL_DS, USER_CS, USER_DS) == (0x60, 0x68, 0x73, 0x7B)


@pytest.mark.parametrize(
    ("index", "raw", "dpl", "kind"),
    [
        (GDT_ENTRY_KERNEL_CS, 0x00CF9A000000FFFF, 0, "code, execute/read"),
        (GDT_ENTRY_KERNEL_DS, 0x00CF92000000FFFF, 0, "data, read/write"),
        (GDT_ENTRY_USER_CS, 0x00CFFA000000FFFF, 3, "code, execute/read"),
        (GDT_ENTRY_USER_DS, 0x00CFF2000000FFFF, 3, "data, read/write"),
    ],
)
def test_linux_gdt_holds_flat_4_gib_descriptors(index: int, raw: int, dpl: int, kind: str) -> None:
    descriptor = linux_gdt().descriptor(index)
    assert descriptor.raw == raw
    assert descriptor.encode() == raw.to_bytes(8, "little")
    assert descriptor.base == 0 and descriptor.limit == 0xFFFFF and descriptor.granularity
    assert descriptor.effective_limit == 0xFFFFFFFF
    assert descriptor.dpl == dpl and descriptor.present and descriptor.kind == kind


def test_descriptor_round_trips_through_its_raw_encoding() -> None:
    descriptor = gdt_entry_init(0x40F3, 0xB7E4_1234, 0x0ABCD)  # byte-granular TLS-like data
    assert SegmentDescriptor.from_raw(descriptor.raw) == descriptor
    assert descriptor.base == 0xB7E41234 and descriptor.effective_limit == 0xABCD


def test_gdt_is_32_entries_and_its_unused_entries_are_zero() -> None:
    gdt = linux_gdt()
    table = gdt.encode()
    assert len(table) == GDT_ENTRIES * 8 == gdt.limit + 1
    assert table[:8] == bytes(8)  # the null descriptor
    assert table[12 * 8 : 13 * 8] == (0x00CF9A000000FFFF).to_bytes(8, "little")
    assert gdt.descriptor(16).kind == "unused"


@pytest.mark.parametrize(
    ("selector", "cpl", "register"),
    [
        (USER_DS, 3, SegmentRegister.DS),
        (USER_DS, 3, SegmentRegister.SS),
        (USER_CS, 3, SegmentRegister.CS),
        (KERNEL_DS, 0, SegmentRegister.DS),
        (KERNEL_DS, 0, SegmentRegister.SS),
        (KERNEL_CS, 0, SegmentRegister.CS),
        (USER_DS, 0, SegmentRegister.DS),  # the kernel may use the user's data segment
        (KERNEL_CS, 0, SegmentRegister.DS),  # readable code through a data register
    ],
)
def test_flat_segments_make_the_linear_address_equal_the_offset(
    selector: int, cpl: int, register: SegmentRegister
) -> None:
    translation = logical_to_linear(selector, 0xB7000123, cpl, register=register)
    assert translation.linear == 0xB7000123
    assert translation.index == selector >> 3 and translation.ti == 0
    assert translation.rpl == selector & 3 and translation.cpl == cpl


def test_translation_names_the_selector_and_its_descriptor() -> None:
    translation = logical_to_linear(*parse_logical("0x7b:0x08048000"), 3)
    assert translation.name == "__USER_DS"
    assert translation.descriptor_raw == 0x00CFF2000000FFFF
    assert translation.linear == 0x08048000


def test_null_selector_is_a_general_protection_fault_with_error_code_0() -> None:
    with pytest.raises(GeneralProtectionFault, match="null selector") as fault:
        logical_to_linear(0x0003, 0x1000, 3)
    assert fault.value.error_code == 0 and fault.value.vector == "#GP"


def test_index_beyond_the_gdt_limit_faults_with_the_selector_as_error_code() -> None:
    with pytest.raises(GeneralProtectionFault, match="beyond the GDT limit") as fault:
        logical_to_linear(32 * 8 + 3, 0, 3)
    assert fault.value.error_code == 0x100


def test_an_ldt_selector_faults_because_linux_tasks_have_no_ldt() -> None:
    with pytest.raises(GeneralProtectionFault, match="LDT") as fault:
        logical_to_linear(0x0F, 0, 3)  # index 1, TI 1, RPL 3
    assert fault.value.error_code == 0x0C


def test_an_unused_gdt_entry_is_not_a_code_or_data_segment() -> None:
    with pytest.raises(GeneralProtectionFault, match="unused, not code or data"):
        logical_to_linear(16 * 8, 0, 0)


def test_user_mode_cannot_use_the_kernel_data_segment() -> None:
    with pytest.raises(GeneralProtectionFault, match=r"max\(CPL, RPL\) > DPL") as fault:
        logical_to_linear(KERNEL_DS, 0xC0000000, 3)
    assert fault.value.error_code == KERNEL_DS


def test_rpl_3_lowers_the_kernels_rights_to_the_users() -> None:
    with pytest.raises(GeneralProtectionFault, match="CPL 0, RPL 3, DPL 0"):
        logical_to_linear(KERNEL_DS | 3, 0, 0)


def test_user_code_cannot_jump_into_the_kernel_code_segment() -> None:
    with pytest.raises(GeneralProtectionFault, match="non-conforming code"):
        logical_to_linear(KERNEL_CS, 0xC1000000, 3, register=SegmentRegister.CS)


def test_the_stack_segment_must_be_at_the_current_privilege() -> None:
    with pytest.raises(GeneralProtectionFault, match="SS needs RPL = DPL = CPL"):
        logical_to_linear(USER_DS, 0, 0, register=SegmentRegister.SS)
    with pytest.raises(GeneralProtectionFault, match="SS needs writable data"):
        logical_to_linear(USER_CS, 0, 3, register=SegmentRegister.SS)


def test_a_write_through_a_code_segment_faults() -> None:
    with pytest.raises(GeneralProtectionFault, match="write through") as fault:
        logical_to_linear(USER_CS, 0x1000, 3, write=True)
    assert fault.value.error_code == 0


def test_an_access_past_the_4_gib_limit_faults() -> None:
    assert logical_to_linear(USER_DS, 0xFFFFFFFC, 3, size=4).linear == 0xFFFFFFFC
    with pytest.raises(GeneralProtectionFault, match="beyond the limit 0xffffffff") as fault:
        logical_to_linear(USER_DS, 0xFFFFFFFF, 3, size=4)
    assert fault.value.error_code == 0


def test_a_small_tls_segment_adds_its_base_and_enforces_its_limit() -> None:
    gdt = linux_gdt()
    gdt.set_descriptor(6, gdt_entry_init(0x40F2, 0xB7E00000, 0xFFF))  # set_thread_area, bytes
    tls = 6 * 8 + 3  # 0x33, glibc's %gs
    assert gdt.logical_to_linear(tls, 0x10, 3).linear == 0xB7E00010
    assert gdt.logical_to_linear(tls, 0xFFF, 3).linear == 0xB7E00FFF
    with pytest.raises(GeneralProtectionFault, match="beyond the limit 0xfff"):
        gdt.logical_to_linear(tls, 0x1000, 3)
    assert logical_to_linear(tls, 0, 3, gdt=gdt).linear == 0xB7E00000
    # The shared Linux GDT is not affected.
    with pytest.raises(GeneralProtectionFault):
        logical_to_linear(tls, 0, 3)


def test_a_not_present_segment_is_a_segment_not_present_fault() -> None:
    gdt = linux_gdt()
    gdt.set_descriptor(7, gdt_entry_init(0xC072, 0, 0xFFFFF))  # P = 0
    with pytest.raises(GeneralProtectionFault, match="segment not present") as fault:
        gdt.logical_to_linear(7 * 8 + 3, 0, 3)
    assert fault.value.vector == "#NP" and fault.value.error_code == 7 * 8


def test_an_expand_down_segment_is_valid_only_above_its_limit() -> None:
    gdt = linux_gdt()
    gdt.set_descriptor(8, gdt_entry_init(0x40F6, 0, 0xFFFF))  # data, expand-down, byte limit
    assert gdt.logical_to_linear(8 * 8 + 3, 0x10000, 3).linear == 0x10000
    with pytest.raises(GeneralProtectionFault, match="expand-down"):
        gdt.logical_to_linear(8 * 8 + 3, 0xFFFF, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x7b:0xb7000000", (0x7B, 0xB7000000)),
        (" 0x73 : 0x08048000 ", (0x73, 0x08048000)),
        ("__USER_DS:0x10", (0x7B, 0x10)),
        ("104:4096", (0x68, 0x1000)),
    ],
)
def test_parse_logical_reads_selector_and_offset(text: str, expected: tuple[int, int]) -> None:
    assert parse_logical(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0x7b", "0x7b:0x1:0x2", "ds:0x10", "0x7b:zz", "0x10000:0", "0x7b:0x100000000", "0x7b:-1"],
)
def test_parse_logical_refuses_garbage(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_logical(text)


@pytest.mark.parametrize(
    ("selector", "offset", "cpl"), [(-1, 0, 0), (0x7B, 1 << 32, 3), (0x7B, 0, 4)]
)
def test_logical_to_linear_refuses_out_of_range_arguments(
    selector: int, offset: int, cpl: int
) -> None:
    with pytest.raises(InvalidArgument):
        logical_to_linear(selector, offset, cpl)


def test_gdt_entry_0_cannot_be_replaced() -> None:
    with pytest.raises(InvalidArgument):
        linux_gdt().set_descriptor(0, gdt_entry_init(0xC0F2, 0, 0xFFFFF))
