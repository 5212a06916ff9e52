#!/usr/bin/env python3
"""Turn the 'VP ...' lines of vmprobe logs (<OUT>/<scenario>.log) into Markdown tables.

python3 vptables.py tests/kernel/data/linux32/cow-1g-4k.log [more logs...]
"""

import re
import sys
from pathlib import Path

PROC = ["d_minflt", "d_majflt", "d_ru_minflt", "VmRSS", "RssAnon", "RssFile", "RssShmem"]
PROC += ["VmSwap", "VmPTE"]
VMA = ["Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty"]
VMA += ["Swap", "SwapPss"]
ROLL = ["Rss", "Pss", "Pss_Anon", "Pss_Shmem", "Shared_Dirty", "Private_Dirty", "Swap", "SwapPss"]
MI = ["MemFree", "Cached", "Shmem", "Mapped", "AnonPages", "Active(file)", "Inactive(file)"]
MI += ["Dirty", "Writeback", "SwapCached", "SwapFree", "Buffers"]
VM = [
    "pgfault",
    "pgmajfault",
    "pgreuse",
    "pswpin",
    "pswpout",
    "pgpgin",
    "pgpgout",
    "nr_anon_pages",
    "nr_file_pages",
    "nr_shmem",
    "nr_mapped",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_anon",
    "pgsteal_file",
    "pgactivate",
    "pgdeactivate",
    "pgrotated",
    "pgalloc_normal",
    "pgalloc_high",
    "pgalloc_dma",
    "allocstall_normal",
    "allocstall_movable",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgfree",
    "nr_page_table_pages",
    "swap_ra",
    "swap_ra_hit",
    "pgmigrate_success",
    "oom_kill",
]

Rows = list[tuple[str, dict[str, str]]]


def key_values(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\S+?)=(\S+)", line))


def table(rows: Rows, columns: list[str], title: str) -> str:
    present = [c for c in columns if any(c in values for _, values in rows)]
    out = ["", f"**{title}**", "", "| phase | " + " | ".join(present) + " |"]
    out.append("|---" * (len(present) + 1) + "|")
    for phase, values in rows:
        out.append(f"| {phase} | " + " | ".join(values.get(c, "") for c in present) + " |")
    return "\n".join(out)


def tables_for(path: Path) -> str:
    procs: dict[str, Rows] = {}
    vmas: dict[str, Rows] = {}
    rollups: dict[str, Rows] = {}
    meminfos: Rows = []
    vmdeltas: Rows = []
    ops: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("VP "):
            continue
        kind = line.split()[1]
        values = key_values(line)
        phase = values.get("phase", "")
        if kind == "proc":
            procs.setdefault(values["who"], []).append((phase, values))
        elif kind == "vma":
            vmas.setdefault(values["who"], []).append((phase, values))
        elif kind == "rollup":
            rollups.setdefault(values["who"], []).append((phase, values))
        elif kind == "meminfo":
            meminfos.append((phase, values))
        elif kind == "vmdelta":
            vmdeltas.append((phase, {k: v.lstrip("+") for k, v in values.items()}))
        elif kind == "op":
            ops.append(line[3:])
    out = [f"## {path}", "\nops:\n```\n" + "\n".join(ops) + "\n```"]
    for who, rows in procs.items():
        out.append(table(rows, PROC, f"process {who}: /proc/PID/stat fault deltas + status (kB)"))
        if who in vmas:
            out.append(table(vmas[who], VMA, f"process {who}: smaps of the test VMA (kB)"))
        if who in rollups:
            out.append(table(rollups[who], ROLL, f"process {who}: smaps_rollup (kB)"))
    out.append(table(meminfos, MI, "meminfo (kB)"))
    out.append(table(vmdeltas, VM, "vmstat deltas over the phase (pages / events)"))
    return "\n".join(out) + "\n"


def main() -> None:
    for name in sys.argv[1:]:
        print(tables_for(Path(name)))


if __name__ == "__main__":
    main()
