"""Run every benchmark in one go, print the ratios and write bench/results.md.

python bench/run_all.py            # about two minutes on a 2-core machine
python bench/run_all.py --quick    # smaller sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_kernel  # noqa: E402
import bench_service  # noqa: E402


def machine_description() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    grpc_version = subprocess.run(
        [sys.executable, "-c", "import grpc; print(grpc.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kb // 1024 // 1024} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, grpcio {grpc_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args()
    quick = args.quick
    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: str, ratio: str = "") -> None:
        rows.append((name, value, ratio))
        print(f"{name:62} {value:>18} {ratio:>12}", flush=True)

    began = time.time()
    print(f"{'benchmark':62} {'value':>18} {'ratio':>12}")
    host = bench_kernel.host_first_touch(2000 if quick else 20000)
    fault = bench_kernel.vmsim_first_touch(2000 if quick else 20000, batched=True)
    add("1. host kernel minor fault (mmap + write per page)", f"{host * 1e6:.2f} us")
    add(
        "   vmsim minor fault, embedded, batched",
        f"{fault * 1e6:.2f} us",
        f"{fault / host:.1f}x host",
    )
    rpc = bench_service.rpc_overhead(32, 1.0 if quick else 3.0)
    add("2. empty RPC (health Check), 32 in flight", f"{rpc['empty_rpc_per_s']:,.0f} /s")
    add(
        "   Touch RPC on a resident page, 32 in flight",
        f"{rpc['touch_rpc_per_s']:,.0f} /s",
        f"{rpc['touch_vs_empty']:.2f}x empty",
    )
    touches = bench_service.batched_touches(4096, 50_000 if quick else 200_000, 2 if quick else 5)
    add(
        "3. resident touches/s, embedded touch_many", f"{touches['embedded_touches_per_s']:,.0f} /s"
    )
    add(
        "   resident touches/s, TouchMany over gRPC",
        f"{touches['remote_touches_per_s']:,.0f} /s",
        f"{touches['remote_vs_embedded']:.2f}x embedded",
    )
    swap = bench_service.swap_throughput(3000 if quick else 6000)
    add("4. raw 4 KiB pwrite/pread on the swap file", f"{swap['raw_pwrite_pread_per_s']:,.0f} /s")
    add(
        "   kernel swap-out + swap-in pages",
        f"{swap['kernel_swap_pages_per_s']:,.0f} /s",
        f"{swap['kernel_vs_raw']:.2f}x raw",
    )
    many = bench_service.many_processes(200 if quick else 1000)
    add(
        f"5. {many['processes']} connected processes: probe touch p50",
        f"{many['touch_p50_ms']:.2f} ms",
    )
    add("   probe touch p99 with all connected", f"{many['touch_p99_ms']:.2f} ms")
    add("   p99 when all touch at once (all in flight)", f"{many['burst_p99_ms']:.1f} ms")
    add("   errors", f"{many['errors']}")
    add("   server RSS per connected process", f"{many['server_rss_per_process_kb']:.0f} kB")
    elapsed = time.time() - began
    table = "\n".join(f"| {name.strip()} | {value} | {ratio} |" for name, value, ratio in rows)
    args.output.write_text(
        "# vmsim benchmark results\n\n"
        f"Machine: {machine_description()}.\n\n"
        f"Produced by `python bench/run_all.py{' --quick' if quick else ''}` in {elapsed:.0f} s; every ratio compares two "
        "numbers measured side by side in that one run.\n\n"
        "| benchmark | value | ratio |\n|---|---|---|\n" + table + "\n"
    )
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
