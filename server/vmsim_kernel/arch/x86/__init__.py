"""The x86 machine: page-table format and its access layer, segmentation, the boot layout.

Mirrors Linux's arch/x86/ (include/asm/pgtable*.h, kernel/cpu/common.c's GDT, mm/init_32.c).
"""
