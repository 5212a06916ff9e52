"""The client of bench_linux.py's c-256m-swap row: memtouch's work as a user's script does it.

python bench/memtouch_client.py ADDRESS MIB

Sets vm.page-cluster to the capture's (Admin; the token file from VMSIM_ADMIN_TOKEN_FILE),
maps MIB MiB and touches every page in three TouchMany calls: write, read, write again
(memtouch writes, then rewrites with a load and a store per page). Prints one JSON line:
each phase's minor and major faults (the process's own counts, as memtouch's getrusage
deltas) and the machine's vmstat change over the run (pswpin, pswpout ...).
"""

from __future__ import annotations

import json
import sys

import numpy as np

import vmsim

PAGE_CLUSTER = 3  # Linux's default, which c-256m-swap-4k ran with (h-256m-swap-4k sets 0)
CALL_TIMEOUT_SECONDS = 900  # a 400 MiB pass through swap on a shared, loaded machine
PHASES = (("write", True), ("read", False), ("rewrite", True))


def main(address: str, mib: int) -> None:
    with vmsim.Admin(address) as admin:
        admin.set_sysctl("vm.page-cluster", PAGE_CLUSTER)
    with vmsim.Inspector(address, CALL_TIMEOUT_SECONDS) as inspector:
        before = inspector.vmstat().values
        with vmsim.connect(address, "memtouch", timeout=CALL_TIMEOUT_SECONDS) as process:
            length = mib * vmsim.MiB
            base = process.mmap(length)
            pages = np.arange(base, base + length, vmsim.PAGE_SIZE, dtype=np.uint64)
            pages = pages.astype(np.uint32)
            phases: dict[str, dict[str, int]] = {}
            minor = major = 0
            for name, write in PHASES:
                process.touch_many(pages, write=write)
                status = process.status()
                phases[name] = {
                    "minor": status.minor_faults - minor,
                    "major": status.major_faults - major,
                }
                minor, major = status.minor_faults, status.major_faults
            after = inspector.vmstat().values
    vmstat = {name: value - before.get(name, 0) for name, value in after.items()}
    print(json.dumps({"pages": len(pages), "phases": phases, "vmstat": vmstat}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
