"""The /proc texts (meminfo, vmstat, zoneinfo, maps, smaps, status ...) and the frame map.

Mirrors Linux's fs/proc/ (meminfo.c, task_mmu.c, array.c, page.c).
"""
