"""Memory management: zones and buddy, faults, rmap, LRU and reclaim, swap, slab, vmalloc,
highmem, mmap, OOM and overcommit.

Mirrors Linux's mm/ (page_alloc.c, memory.c, vmscan.c, swapfile.c, ...).
"""
