"""Server configuration from command-line flags and VMSIM_* environment variables."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from vmsim_kernel import MachineConfig, OvercommitMode, ReplacementPolicy

__all__ = ["ServerSettings", "parse_settings", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)(i?[bB])?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """'64M', '1G', '4096', '512k' -> bytes (binary units)."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 4096, 512k, 64M, 1G)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs; the machine's part becomes a MachineConfig."""

    address: str = "127.0.0.1:50051"
    ram_bytes: int = 64 << 20
    swap_bytes: int = 128 << 20
    swap_path: str | None = None
    policy: str = "linux"
    overcommit_memory: int = 0
    overcommit_ratio: int = 50
    swappiness: int = 60
    nr_cpus: int = 2
    seed: int = 0
    lease_seconds: float = 120.0
    max_processes: int = 4096
    max_batch: int = 1_000_000
    max_io_bytes: int = 4 << 20
    max_message_bytes: int = 16 << 20
    max_concurrent_rpcs: int = 4096
    admin_token: str = ""
    log_format: str = "auto"
    log_level: str = "info"
    grace_seconds: float = 5.0
    metrics_port: int = 0

    def machine_config(self) -> MachineConfig:
        """The kernel's configuration (validated by MachineConfig itself)."""
        return MachineConfig(
            ram_bytes=self.ram_bytes,
            swap_bytes=self.swap_bytes,
            swap_path=self.swap_path,
            policy=ReplacementPolicy(self.policy),
            overcommit_memory=OvercommitMode(self.overcommit_memory),
            overcommit_ratio=self.overcommit_ratio,
            swappiness=self.swappiness,
            nr_cpus=self.nr_cpus,
            seed=self.seed,
            max_processes=self.max_processes,
        )


def _env(name: str, default: str) -> str:
    return os.environ.get(f"VMSIM_{name}", default)


def build_parser() -> argparse.ArgumentParser:
    """Flags; each default comes from the matching VMSIM_* variable when set."""
    defaults = ServerSettings()
    parser = argparse.ArgumentParser(
        prog="vmsim-server",
        description="Run one simulated 32-bit x86 Linux machine behind a gRPC API.",
        epilog="Every flag can also be set as VMSIM_<NAME> in the environment (e.g. VMSIM_RAM=256M).",
    )
    add = parser.add_argument
    add(
        "--address",
        default=_env("ADDRESS", defaults.address),
        help="host:port to listen on (port 0 picks one)",
    )
    add(
        "--ram",
        default=_env("RAM", "64M"),
        type=parse_size,
        help="simulated RAM, 4M..4G (default 64M)",
    )
    add(
        "--swap",
        default=_env("SWAP", "128M"),
        type=parse_size,
        help="swap size, 0 for none (default 128M)",
    )
    add(
        "--swap-file",
        default=os.environ.get("VMSIM_SWAP_FILE"),
        help="swap file path (default: a temporary file, removed at exit)",
    )
    add(
        "--policy",
        default=_env("POLICY", defaults.policy),
        choices=[p.value for p in ReplacementPolicy if p is not ReplacementPolicy.OPT],
        help="page replacement policy",
    )
    add(
        "--overcommit",
        default=int(_env("OVERCOMMIT", "0")),
        type=int,
        choices=[0, 1, 2],
        help="vm.overcommit_memory",
    )
    add(
        "--overcommit-ratio",
        default=int(_env("OVERCOMMIT_RATIO", "50")),
        type=int,
        help="vm.overcommit_ratio",
    )
    add("--swappiness", default=int(_env("SWAPPINESS", "60")), type=int, help="vm.swappiness")
    add("--cpus", default=int(_env("CPUS", "2")), type=int, help="simulated CPUs")
    add("--seed", default=int(_env("SEED", "0")), type=int, help="seed of every random choice")
    add(
        "--lease",
        default=float(_env("LEASE", "120")),
        type=float,
        help="seconds a silent client's process lives",
    )
    add("--max-processes", default=int(_env("MAX_PROCESSES", "4096")), type=int)
    add(
        "--max-batch",
        default=int(_env("MAX_BATCH", "1000000")),
        type=int,
        help="most addresses in one TouchMany",
    )
    add("--max-io", default=_env("MAX_IO", "4M"), type=parse_size, help="largest Read/Write")
    add(
        "--max-message",
        default=_env("MAX_MESSAGE", "16M"),
        type=parse_size,
        help="largest gRPC message",
    )
    add("--max-concurrent-rpcs", default=int(_env("MAX_CONCURRENT_RPCS", "4096")), type=int)
    add(
        "--admin-token",
        default=_env("ADMIN_TOKEN", ""),
        help="token for AdminService (default: generated and logged)",
    )
    add("--log-format", default=_env("LOG_FORMAT", "auto"), choices=["auto", "json", "console"])
    add(
        "--log-level",
        default=_env("LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    add(
        "--grace",
        default=float(_env("GRACE", "5")),
        type=float,
        help="seconds to finish calls on shutdown",
    )
    add(
        "--metrics-port",
        default=int(_env("METRICS_PORT", "0")),
        type=int,
        help="Prometheus port, 0 = off",
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> ServerSettings:
    """Settings from *argv* (default sys.argv[1:]) and the environment."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return ServerSettings(
        address=args.address,
        ram_bytes=args.ram,
        swap_bytes=args.swap,
        swap_path=args.swap_file,
        policy=args.policy,
        overcommit_memory=args.overcommit,
        overcommit_ratio=args.overcommit_ratio,
        swappiness=args.swappiness,
        nr_cpus=args.cpus,
        seed=args.seed,
        lease_seconds=args.lease,
        max_processes=args.max_processes,
        max_batch=args.max_batch,
        max_io_bytes=args.max_io,
        max_message_bytes=args.max_message,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        admin_token=args.admin_token or secrets.token_urlsafe(16),
        log_format=args.log_format,
        log_level=args.log_level,
        grace_seconds=args.grace,
        metrics_port=args.metrics_port,
    )
