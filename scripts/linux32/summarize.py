#!/usr/bin/env python3
"""Extract key figures from the captured serial logs (<OUT>/*.log) into Markdown.

python3 summarize.py [OUT]   # OUT defaults to tests/kernel/data/linux32
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.kernel.linux32 import sections  # noqa: E402  (the captures' one block reader)

DEFAULT_OUT = ROOT / "tests" / "kernel" / "data" / "linux32"
LAYOUT_SECTION = "vmlayout (module re-creating the old mem_init printout)"
BOOT_LOG_LINES = (
    r"HIGHMEM available|LOWMEM available|low ram|Zone ranges|  DMA |  Normal |  HighMem |node   0:"
    r"|Memory: |Total pages|Initializing HighMem|unavailable"
)
ZONE_FIELDS = (
    r"\s+(pages free|nr_free_pages|boost|min|low|high|spanned|present|managed|start_pfn:|protection:)"
    r"\s*(.*)"
)
MI_KEYS = [
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "HighTotal",
    "HighFree",
    "LowTotal",
    "LowFree",
    "AnonPages",
    "AnonHugePages",
    "PageTables",
    "SwapTotal",
    "SwapFree",
    "SwapCached",
    "Cached",
    "Slab",
    "KernelStack",
]
VM_KEYS = [
    "pgalloc_dma",
    "pgalloc_normal",
    "pgalloc_high",
    "pgalloc_movable",
    "pgfree",
    "pgfault",
    "pgmajfault",
    "pswpin",
    "pswpout",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgscan_anon",
    "pgscan_file",
    "pgactivate",
    "pgdeactivate",
    "pgrefill",
    "allocstall_normal",
    "allocstall_high",
    "allocstall_movable",
    "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly",
    "pageoutrun",
    "workingset_refault_anon",
    "workingset_activate_anon",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_zero_page_alloc",
    "thp_split_pmd",
    "thp_split_page",
    "thp_swpout",
    "thp_swpout_fallback",
    "nr_anon_pages",
    "nr_anon_transparent_hugepages",
    "nr_page_table_pages",
    "nr_free_pages",
    "nr_zone_active_anon",
    "nr_zone_inactive_anon",
    "oom_kill",
]
# The phases init.sh snapshots with vm_delta: while the mapping is held, and after it is gone.
SNAPSHOT_PHASES = ("held", "after-munmap", "after-oom")


def zoneinfo(text: str) -> list[dict[str, str]]:
    zones: list[dict[str, str]] = []
    zone: dict[str, str] | None = None
    for line in text.splitlines():
        header = re.match(r"Node (\d+), zone\s+(\S+)", line)
        if header:
            zone = {"zone": header.group(2)}
            zones.append(zone)
            continue
        field = re.match(ZONE_FIELDS, line) if zone is not None else None
        if zone is not None and field:
            zone.setdefault(field.group(1).rstrip(":"), field.group(2).strip())
    return [z for z in zones if z.get("spanned", "0") != "0" or z["zone"] != "Movable"]


def meminfo(text: str) -> dict[str, int]:
    pairs = (re.match(r"(\S+):\s+(\d+)", line) for line in text.splitlines())
    return {m.group(1): int(m.group(2)) for m in pairs if m}


def vmstat_deltas(text: str) -> dict[str, tuple[int, int]]:
    rows = (re.match(r"(\S+)\s+(-?\d+)\s+delta=(-?\d+)", line) for line in text.splitlines())
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in rows if m}


def zone_table(zones: list[dict[str, str]]) -> str:
    columns = ["zone", "start_pfn", "spanned", "present", "managed", "pages free", "boost"]
    columns += ["min", "low", "high", "protection"]
    rows = ["| " + " | ".join(c.replace("pages ", "") for c in columns) + " |"]
    rows.append("|---" * len(columns) + "|")
    rows += ["| " + " | ".join(z.get(c, "") for c in columns) + " |" for z in zones]
    return "\n".join(rows)


def meminfo_line(label: str, text: str) -> str:
    values = meminfo(text)
    return label + ", ".join(f"{k}={values[k]}" for k in MI_KEYS if k in values)


def block(title: str, lines: list[str]) -> list[str]:
    return [title, "```", *lines, "```", ""]


def summarize_log(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    secs = sections(text)
    head = [
        line
        for line in text.splitlines()
        if line.startswith(("ANCHOR ", "### host", "### wall", "### qemu rc"))
    ]
    out = [f"## {path.stem}", "", "```", *head, "```", ""]
    if LAYOUT_SECTION in secs:
        layout = [re.sub(r"^\[[^\]]*\] ", "", line) for line in secs[LAYOUT_SECTION].splitlines()]
        out += block("Layout (vmlayout.ko):", [line for line in layout if line.strip()])
    if "dmesg-layout" in secs:
        boot = [
            line for line in secs["dmesg-layout"].splitlines() if re.search(BOOT_LOG_LINES, line)
        ]
        out += block("Boot log:", boot)
    if "/proc/zoneinfo" in secs:
        zones = zone_table(zoneinfo(secs["/proc/zoneinfo"]))
        out += ["Zones at the start (/proc/zoneinfo, pages of 4 KiB):", "", zones, ""]
    if "/proc/meminfo" in secs:
        out += [meminfo_line("meminfo at the start (kB): ", secs["/proc/meminfo"]), ""]
    if "/proc/buddyinfo" in secs:
        out += block("buddyinfo at boot:", [secs["/proc/buddyinfo"].rstrip()])
    for name, body in secs.items():
        if name.startswith("memtouch "):
            wanted = ("MEMTOUCH phase", "mmap addr", "VmSwap", "exit=")
            out += block(
                f"{name}:", [line for line in body.splitlines() if any(w in line for w in wanted)]
            )
    if "oom_score before" in secs:
        out += block("oom_score before:", secs["oom_score before"].strip().splitlines())
    if "survivors" in secs:
        out += block("survivors:", secs["survivors"].strip().splitlines())
    for phase in SNAPSHOT_PHASES:
        if f"vmstat-delta {phase}" in secs:
            deltas = vmstat_deltas(secs[f"vmstat-delta {phase}"])
            out += [f"vmstat {phase} (value / delta since just before the test):", ""]
            out += ["| counter | value | delta |", "|---|---|---|"]
            out += [f"| {c} | {deltas[c][0]} | {deltas[c][1]} |" for c in VM_KEYS if c in deltas]
            out += [""]
        if f"meminfo {phase}" in secs:
            out += [meminfo_line(f"meminfo {phase} (kB): ", secs[f"meminfo {phase}"]), ""]
        if f"zoneinfo {phase}" in secs:
            zones = zone_table(zoneinfo(secs[f"zoneinfo {phase}"]))
            out += [f"Zones {phase}:", "", zones, ""]
    if "dmesg oom" in secs:
        kills = [line for line in secs["dmesg oom"].splitlines() if "Killed process" in line]
        out += block("OOM kills (dmesg):", kills)
    if "/proc/swaps" in secs:
        out += block("swaps:", [secs["/proc/swaps"].rstrip()])
    return out


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out = ["# Generated figures (summarize.py)", ""]
    for log in sorted(out_dir.glob("*.log")):
        out += summarize_log(log)
    print("\n".join(out))


if __name__ == "__main__":
    main()
