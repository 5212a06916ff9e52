#!/usr/bin/env python3
"""Turn the 'VP ...' lines of vmprobe logs (<OUT>/<scenario>.log) into Markdown tables.

python3 vptables.py tests/kernel/data/linux32/cow-1g-4k.log [more logs...]
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.kernel.linux32 import VpRow, parse_vp_rows  # noqa: E402  (the captures' one VP reader)

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


def table(rows: list[VpRow], columns: list[str], title: str) -> str:
    present = [c for c in columns if any(c in row.values for row in rows)]
    out = ["", f"**{title}**", "", "| phase | " + " | ".join(present) + " |"]
    out.append("|---" * (len(present) + 1) + "|")
    for row in rows:
        cells = (str(row.values[c]) if c in row.values else "" for c in present)
        out.append(f"| {row.phase} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def tables_for(path: Path) -> str:
    text = path.read_text(errors="replace")
    rows = parse_vp_rows(text)
    by_kind: dict[str, dict[str, list[VpRow]]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, {}).setdefault(row.who, []).append(row)
    ops = [line[3:] for line in text.splitlines() if line.startswith("VP op ")]
    out = [f"## {path}", "\nops:\n```\n" + "\n".join(ops) + "\n```"]
    vmas, rollups = by_kind.get("vma", {}), by_kind.get("rollup", {})
    for who, procs in by_kind.get("proc", {}).items():
        out.append(table(procs, PROC, f"process {who}: /proc/PID/stat fault deltas + status (kB)"))
        if who in vmas:
            out.append(table(vmas[who], VMA, f"process {who}: smaps of the test VMA (kB)"))
        if who in rollups:
            out.append(table(rollups[who], ROLL, f"process {who}: smaps_rollup (kB)"))
    out.append(table(by_kind.get("meminfo", {}).get("", []), MI, "meminfo (kB)"))
    vmdeltas = by_kind.get("vmdelta", {}).get("", [])
    out.append(table(vmdeltas, VM, "vmstat deltas over the phase (pages / events)"))
    return "\n".join(out) + "\n"


def main() -> None:
    for name in sys.argv[1:]:
        print(tables_for(Path(name)))


if __name__ == "__main__":
    main()
