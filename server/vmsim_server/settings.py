"""Server configuration from command-line flags and VMSIM_* environment variables.

Flags win over the environment, the environment over the lab defaults. Sizes are parsed by
the parser the command line uses too (vmsim_proto.parse_size: "64M", "64Mi", "0x4000000").
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from vmsim_kernel import LOCK_CLASSES, MachineConfig, OvercommitMode, ReplacementPolicy
from vmsim_proto import parse_size

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "ServerSettings",
    "address_from_environment",
    "build_parser",
    "parse_settings",
    "parse_size",
]

LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
# opt needs the future, so it exists only in trace replay.
SERVED_POLICIES = tuple(p.value for p in ReplacementPolicy if p is not ReplacementPolicy.OPT)


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs; the machine's part becomes a MachineConfig.

    Attributes:
        address: host:port to listen on; port 0 picks a free port.
        ram_bytes: simulated RAM.
        swap_bytes: swap device size; 0 for none.
        swap_path: swap file; None makes a temporary file, removed at shutdown.
        policy: page replacement policy of reclaim (a ReplacementPolicy value except opt).
        overcommit_memory: vm.overcommit_memory, 0 heuristic, 1 always, 2 never.
        overcommit_ratio: vm.overcommit_ratio.
        swappiness: vm.swappiness.
        nr_cpus: simulated CPUs.
        seed: seeds every random choice of the kernel.
        lease_seconds: a process whose client is silent this long (and has no open Run
            stream) is killed.
        max_processes: most live processes.
        max_batch: most addresses in one TouchMany (and references in one Replay).
        max_io_bytes: largest single Read or Write.
        max_message_bytes: largest gRPC message either way.
        max_concurrent_rpcs: more concurrent calls are refused with RESOURCE_EXHAUSTED.
        admin_token: token of AdminService calls; empty makes serve() generate and log one.
        log_format: json, console, or auto (console when stderr is a terminal).
        log_level: debug (one line per RPC), info, warning or error.
        grace_seconds: how long calls in flight may finish at shutdown.
        metrics_port: port of the Prometheus /metrics endpoint; 0 = off.
        direct_map_pse: build the direct map from 4 MiB PSE pages instead of 4 KiB PTEs.
        realtime_factor: each reply is held for its simulated cost times this (0 = as fast
            as possible, 1 = real time), without blocking other clients.
        lock_kinds: waiting discipline per lock class ("zone", "lru", "mmap", "swap",
            "pkmap"): "spin" or "sleep".
    """

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
    realtime_factor: float = 0.0
    direct_map_pse: bool = False
    lock_kinds: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        """Refuse settings the server cannot run with (the machine's own are checked by MachineConfig).

        Raises:
            ValueError: naming the setting and what is allowed.
        """
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"address {self.address!r} is not host:port")
        positive = {
            "lease_seconds": self.lease_seconds,
            "max_batch": self.max_batch,
            "max_io_bytes": self.max_io_bytes,
            "max_message_bytes": self.max_message_bytes,
            "max_concurrent_rpcs": self.max_concurrent_rpcs,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        if self.policy not in SERVED_POLICIES:
            raise ValueError(f"policy {self.policy!r}: one of {', '.join(SERVED_POLICIES)}")
        if self.overcommit_memory not in (0, 1, 2):
            raise ValueError(f"overcommit_memory {self.overcommit_memory}: 0, 1 or 2")
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must not be negative, not {self.grace_seconds}")
        if not 0 <= self.realtime_factor <= 1000:
            raise ValueError(f"realtime_factor {self.realtime_factor}: 0 (off) .. 1000")
        for lock_class, kind in self.lock_kinds:
            if lock_class not in LOCK_CLASSES or kind not in ("spin", "sleep"):
                raise ValueError(
                    f"lock kind {lock_class}={kind}: CLASS=spin|sleep with CLASS one of "
                    + ", ".join(LOCK_CLASSES)
                )
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port {self.metrics_port} is not a port (0 = off)")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format {self.log_format!r}: one of {', '.join(LOG_FORMATS)}")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level {self.log_level!r}: one of {', '.join(LOG_LEVELS)}")

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
            lock_kinds=dict(self.lock_kinds),
            direct_map_pse=self.direct_map_pse,
        )


def _env(name: str, default: str) -> str:
    return os.environ.get(f"VMSIM_{name}", default)


def address_from_environment(default: str = "127.0.0.1:50051") -> str:
    """VMSIM_ADDR, the variable every vmsim command reads; VMSIM_ADDRESS is its deprecated
    old name, still honoured with a warning."""
    if "VMSIM_ADDR" in os.environ:
        return os.environ["VMSIM_ADDR"]
    if "VMSIM_ADDRESS" in os.environ:
        warnings.warn("VMSIM_ADDRESS is deprecated: use VMSIM_ADDR", FutureWarning, stacklevel=2)
        return os.environ["VMSIM_ADDRESS"]
    return default


def build_parser() -> argparse.ArgumentParser:
    """Flags; each default comes from the matching VMSIM_* variable when set.

    Defaults are strings converted by each flag's type, so a bad environment value is
    reported by argparse like a bad flag.
    """
    parser = argparse.ArgumentParser(
        prog="vmsim-server",
        description="Run one simulated 32-bit x86 Linux machine behind a gRPC API.",
        epilog="Every flag can also be set as VMSIM_<NAME> in the environment "
        "(e.g. VMSIM_RAM=256M, VMSIM_ADMIN_TOKEN=...).",
    )
    add = parser.add_argument
    add(
        "--address",
        "--addr",
        default=address_from_environment(),
        help="host:port (port 0 picks one); env VMSIM_ADDR, as for the vmsim commands",
    )
    add("--ram", default=_env("RAM", "64M"), type=parse_size, help="simulated RAM, 4M..4G (64M)")
    add("--swap", default=_env("SWAP", "128M"), type=parse_size, help="swap size, 0 = none (128M)")
    add(
        "--swap-file",
        default=os.environ.get("VMSIM_SWAP_FILE"),
        help="swap file path (default: a temporary file, removed at exit)",
    )
    add(
        "--policy",
        default=_env("POLICY", "linux"),
        choices=SERVED_POLICIES,
        help="page replacement policy (linux)",
    )
    add(
        "--overcommit",
        default=_env("OVERCOMMIT", "0"),
        type=int,
        choices=[0, 1, 2],
        help="vm.overcommit_memory: 0 heuristic, 1 always, 2 never (0)",
    )
    add("--overcommit-ratio", default=_env("OVERCOMMIT_RATIO", "50"), type=int, help="(50)")
    add("--swappiness", default=_env("SWAPPINESS", "60"), type=int, help="vm.swappiness (60)")
    add("--cpus", default=_env("CPUS", "2"), type=int, help="simulated CPUs (2)")
    add("--seed", default=_env("SEED", "0"), type=int, help="seed of every random choice (0)")
    add(
        "--lease",
        default=_env("LEASE", "120"),
        type=float,
        help="seconds a silent client's process lives (120)",
    )
    add("--max-processes", default=_env("MAX_PROCESSES", "4096"), type=int, help="(4096)")
    add(
        "--max-batch",
        default=_env("MAX_BATCH", "1000000"),
        type=int,
        help="most addresses in one TouchMany (1000000)",
    )
    add("--max-io", default=_env("MAX_IO", "4M"), type=parse_size, help="largest Read/Write (4M)")
    add(
        "--max-message",
        default=_env("MAX_MESSAGE", "16M"),
        type=parse_size,
        help="largest gRPC message (16M)",
    )
    add(
        "--max-concurrent-rpcs",
        default=_env("MAX_CONCURRENT_RPCS", "4096"),
        type=int,
        help="(4096)",
    )
    add(
        "--admin-token",
        default=_env("ADMIN_TOKEN", ""),
        help="token of AdminService calls (default: generated and logged at start)",
    )
    add("--log-format", default=_env("LOG_FORMAT", "auto"), choices=LOG_FORMATS)
    add("--log-level", default=_env("LOG_LEVEL", "info"), choices=LOG_LEVELS)
    add(
        "--grace",
        default=_env("GRACE", "5"),
        type=float,
        help="seconds calls in flight may finish at shutdown (5)",
    )
    add(
        "--metrics-port",
        default=_env("METRICS_PORT", "0"),
        type=int,
        help="port of the Prometheus /metrics endpoint, 0 = off (0)",
    )
    add(
        "--direct-map-pse",
        action="store_true",
        default=_env("DIRECT_MAP_PSE", "") in ("1", "true", "yes"),
        help="map the kernel's direct map with 4 MiB PSE pages instead of 4 KiB PTEs",
    )
    add(
        "--realtime-factor",
        default=_env("REALTIME_FACTOR", "0"),
        type=float,
        help="hold each reply for its simulated cost times this: 0 = as fast as possible, 1 = real time (0)",
    )
    add(
        "--lock-kind",
        action="append",
        default=[item for item in _env("LOCK_KINDS", "").split(",") if item],
        metavar="CLASS=spin|sleep",
        help="waiting discipline of a lock class (zone, lru, mmap, swap, pkmap); repeatable; "
        "env VMSIM_LOCK_KINDS=zone=sleep,mmap=spin",
    )
    return parser


def _lock_kind(item: str) -> tuple[str, str]:
    """'zone=sleep' -> ("zone", "sleep"); ServerSettings checks the names."""
    lock_class, _, kind = item.partition("=")
    return lock_class.strip(), kind.strip()


def parse_settings(argv: Sequence[str] | None = None) -> ServerSettings:
    """Settings from *argv* (default sys.argv[1:]) and the environment; exits 2 on a bad value."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
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
            admin_token=args.admin_token,
            log_format=args.log_format,
            log_level=args.log_level,
            grace_seconds=args.grace,
            metrics_port=args.metrics_port,
            realtime_factor=args.realtime_factor,
            direct_map_pse=args.direct_map_pse,
            lock_kinds=tuple(_lock_kind(item) for item in args.lock_kind),
        )
    except ValueError as error:
        parser.error(str(error))
