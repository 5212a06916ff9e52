"""Server configuration: one table of settings, read from flags and VMSIM_* variables.

Each field of ServerSettings carries its flag (`setting(...)`): name, help, environment
variable, parser. The `vmsim-server` command line (Typer, as every `vmsim` command) is
generated from those fields, so a setting is written once. Flags win over the environment,
the environment over the defaults. Sizes go through the parser every `vmsim` command uses
(vmsim_proto.parse_size: "64M", "64Mi", "0x4000000"); the address is VMSIM_ADDR, the
variable every `vmsim` command reads.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import typer

from vmsim_kernel import (
    LOCK_CLASSES,
    InvalidArgument,
    MachineConfig,
    OvercommitMode,
    ReplacementPolicy,
)
from vmsim_proto import parse_size

__all__ = [
    "CLIENT_IDENTITIES",
    "EVENT_LOOPS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "Flag",
    "ServerSettings",
    "check_number",
    "command_line",
    "parse_settings",
    "parse_size",
    "refused_setting",
]

LOG_FORMATS = ("auto", "json", "console")
# Who a per-client limit applies to: the TLS client certificate's name, or its network
# address; auto takes the certificate, else a graded lab's student token, else the address.
# Never the x-vmsim-client name a client gives itself: that is only a label in the logs.
CLIENT_IDENTITIES = ("auto", "cert", "peer")
LOG_LEVELS = ("debug", "info", "warning", "error")
# The event loop vmsim-server runs on: uvloop (libuv) spends less CPU per RPC than asyncio's.
EVENT_LOOPS = ("uvloop", "asyncio")
# OPT and UNOPT need the future reference string: trace replay only.
SERVED_POLICIES = tuple(
    p.value for p in ReplacementPolicy if p not in (ReplacementPolicy.OPT, ReplacementPolicy.UNOPT)
)

MACHINE, LIMITS, ACCESS, RUNNING, LAB = "Machine", "Limits", "Access", "Running", "Lab"

# What one call needs in a message (a page of Read/Write, a batch of addresses, a report);
# below it every call would be refused. grpc keeps message sizes in a signed 32-bit int.
MIN_MESSAGE_BYTES = 64 << 10
MAX_MESSAGE_BYTES = (2 << 30) - 1
WEEK_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Flag:
    """How one setting is given: on the command line and in the environment.

    Attributes:
        names: the flag and its aliases ("--address", "--addr").
        help: what it means (the --help text).
        panel: the --help section it is listed in.
        env: the environment variable; VMSIM_ and the flag's name by default.
        parse: converts the text of a flag or variable (parse_size for sizes).
        choices: the allowed values, when they are few.
        metavar: how --help names the value.
        bounds: the lowest and highest value of a number (check_number); None for a
            number whose limits the kernel keeps (MachineConfig checks it, at parse time).
    """

    names: tuple[str, ...]
    help: str
    panel: str
    env: str = ""
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    bounds: tuple[float, float] | None = None

    @property
    def envvar(self) -> str:
        """The environment variable of this setting."""
        return self.env or "VMSIM_" + self.names[0].removeprefix("--").replace("-", "_").upper()


def setting(default: Any, *names: str, help: str, panel: str, **how: Any) -> Any:
    """A settings field with its flag (see Flag for *how*)."""
    return field(default=default, metadata={"flag": Flag(names, help, panel, **how)})


def _size_text(nr_bytes: int) -> str:
    """64 << 20 -> "64M": a default as people write it."""
    for suffix, shift in (("G", 30), ("M", 20), ("k", 10)):
        if nr_bytes and nr_bytes % (1 << shift) == 0:
            return f"{nr_bytes >> shift}{suffix}"
    return str(nr_bytes)


def check_number(
    flag: str, value: float, low: float, high: float, show: Callable[[Any], str] = str
) -> None:
    """Refuse a number that is not finite or not in low..high (the one check of every
    number a flag, variable or file gives the server).

    Args:
        flag: how the user gave it ("--lease"), named in the message.
        show: writes a number as the user would (sizes as 64M).

    Raises:
        ValueError: naming *flag*, the value and the allowed range.
    """
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(
            f"{flag} {show(value)} is out of range: allowed {show(low)} .. {show(high)}"
        )


def _shown(flag: Flag, value: float) -> str:
    """A number of *flag* as people write it: a size as 64M, 604800.0 as 604800."""
    if flag.parse is parse_size and math.isfinite(value):
        return _size_text(int(value))
    return str(int(value)) if float(value).is_integer() else str(value)


def refused_setting(error: InvalidArgument) -> str:
    """What the kernel refused, named by its flag: "ram_bytes: 2097152 ..." -> "--ram: 2097152 ..."."""
    flag = error.field
    for item in dataclasses.fields(ServerSettings):
        if item.name == error.field:
            flag = item.metadata["flag"].names[0]
    return flag + str(error).removeprefix(error.field)


def _lock_kinds(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """["zone=sleep,mmap=spin", "lru=spin"] -> (("zone", "sleep"), ...); __post_init__ checks."""
    pairs = []
    for item in items:
        for one in item.split(","):
            if one.strip():
                lock_class, _, kind = one.partition("=")
                pairs.append((lock_class.strip(), kind.strip()))
    return tuple(pairs)


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs; the machine's part becomes a MachineConfig.

    Each field's meaning is the help of its flag (`vmsim-server --help`). admin_token, when
    empty, is read from admin_token_file or generated by serve() into a private file.
    """

    address: str = setting(
        "127.0.0.1:50051",
        *("--address", "--addr"),
        env="VMSIM_ADDR",
        metavar="HOST:PORT",
        help="where to listen (port 0 picks a free one); VMSIM_ADDR is the variable every "
        "vmsim command reads",
        panel=RUNNING,
    )
    ram_bytes: int = setting(
        64 << 20, "--ram", parse=parse_size, help="simulated RAM, 4M..4G", panel=MACHINE
    )
    swap_bytes: int = setting(
        128 << 20,
        "--swap",
        parse=parse_size,
        help="swap size, 0 for none, else 8k..16G",
        panel=MACHINE,
    )
    swap_path: str | None = setting(
        None,
        "--swap-file",
        metavar="PATH",
        help="swap file, created 0600; an existing file must be a swap file (default: an "
        "anonymous file, gone with the server)",
        panel=MACHINE,
    )
    swap_file_overwrite: bool = setting(
        False,
        "--swap-file-overwrite",
        help="let --swap-file overwrite an existing file that has no swap signature",
        panel=MACHINE,
    )
    disk_bytes: int = setting(
        512 << 20,
        "--disk-bytes",
        parse=parse_size,
        help="the simulated disk under the file system, its superblock page included, "
        "8k..16G (its blocks live in an anonymous host file made on the first write)",
        panel=MACHINE,
    )
    swapon_budget_bytes: int = setting(
        1 << 30,
        "--swapon-budget",
        parse=parse_size,
        help="host disk the swap areas an admin adds at run time (vmsim swapon) may take "
        "together, 0..16G (0: swapon refused)",
        panel=MACHINE,
    )
    policy: str = setting(
        "linux",
        "--policy",
        choices=SERVED_POLICIES,
        help="page replacement policy of reclaim (linux: active/inactive lists)",
        panel=MACHINE,
    )
    overcommit_memory: int = setting(
        0,
        "--overcommit",
        bounds=(0, 2),
        help="vm.overcommit_memory: 0 heuristic, 1 always, 2 never",
        panel=MACHINE,
    )
    overcommit_ratio: int = setting(
        50, "--overcommit-ratio", help="vm.overcommit_ratio (mode 2), 0..1000", panel=MACHINE
    )
    swappiness: int = setting(
        60, "--swappiness", help="vm.swappiness (reported), 0..200", panel=MACHINE
    )
    nr_cpus: int = setting(
        2,
        "--cpus",
        help="simulated CPUs: each has a clock and runs calls in quanta, 1..64",
        panel=MACHINE,
    )
    seed: int = setting(
        0,
        "--seed",
        bounds=(0, (1 << 64) - 1),
        help="seed of every random choice (same seed + calls = same state)",
        panel=MACHINE,
    )
    direct_map_pse: bool = setting(
        False,
        "--direct-map-pse",
        help="build the kernel's direct map from 4 MiB PSE pages instead of 4 KiB PTEs",
        panel=MACHINE,
    )
    textbook_split: bool = setting(
        False,
        "--textbook-split",
        help="end low memory at 896 MiB (the textbook picture) instead of at the 875 MiB "
        "a 6.1 i386 kernel built for 32 CPUs leaves it",
        panel=MACHINE,
    )
    lock_kinds: tuple[tuple[str, str], ...] = setting(
        (),
        "--lock-kind",
        env="VMSIM_LOCK_KINDS",
        metavar="CLASS=spin|sleep",
        help="waiting discipline of a lock class (" + ", ".join(LOCK_CLASSES) + "); "
        "repeatable or comma-separated (VMSIM_LOCK_KINDS=zone=sleep,mmap=spin)",
        panel=MACHINE,
    )
    realtime_factor: float = setting(
        0.0,
        "--realtime-factor",
        bounds=(0, 1000),
        help="hold each reply for its simulated cost times this (0 = as fast as possible, "
        "1 = real time), without blocking other clients",
        panel=RUNNING,
    )
    lease_seconds: float = setting(
        120.0,
        "--lease",
        bounds=(0.1, WEEK_SECONDS),
        help="seconds a silent client's process lives (no call, no open Run stream)",
        panel=RUNNING,
    )
    max_processes: int = setting(
        4096, "--max-processes", help="live processes, 1..32768", panel=LIMITS
    )
    max_batch: int = setting(
        1_000_000,
        "--max-batch",
        bounds=(1, 10_000_000),  # the longest trace a replay takes
        help="addresses per TouchMany (and Replay)",
        panel=LIMITS,
    )
    max_io_bytes: int = setting(
        4 << 20,
        "--max-io",
        parse=parse_size,
        bounds=(1, MAX_MESSAGE_BYTES),
        help="bytes per Read/Write",
        panel=LIMITS,
    )
    max_message_bytes: int = setting(
        16 << 20,
        "--max-message",
        parse=parse_size,
        bounds=(MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES),
        help="gRPC message size (less than 64k would refuse every call)",
        panel=LIMITS,
    )
    max_concurrent_rpcs: int = setting(
        4096,
        "--max-concurrent-rpcs",
        bounds=(1, 1_000_000),
        help="RPCs in flight (more are RESOURCE_EXHAUSTED)",
        panel=LIMITS,
    )
    client_max_processes: int = setting(
        1024,
        "--client-max-processes",
        bounds=(1, 32768),
        help="live processes per client",
        panel=LIMITS,
    )
    client_reserve_processes: int = setting(
        16,
        "--client-reserve-processes",
        bounds=(0, 32768),
        help="the last process slots (of --max-processes, at most a quarter of them), kept "
        "for clients that hold none",
        panel=LIMITS,
    )
    max_map_count: int = setting(
        65530,
        "--max-map-count",
        bounds=(1, 2**31 - 1),  # sysctl_max_map_count is an int
        help="vm.max_map_count: mappings (VMAs) per process; one more mmap is ENOMEM",
        panel=LIMITS,
    )
    max_threads: int = setting(
        256,
        "--max-threads",
        bounds=(1, 32768),
        help="threads per process, the main thread included",
        panel=LIMITS,
    )
    client_max_watchers: int = setting(
        32,
        "--client-max-watchers",
        bounds=(1, 1_000_000),
        help="open WatchEvents streams per client",
        panel=LIMITS,
    )
    client_max_streams: int = setting(
        1024,
        "--client-max-streams",
        bounds=(1, 1_000_000),
        help="open Run streams per client (one per process: as --client-max-processes)",
        panel=LIMITS,
    )
    client_reserve_streams: int = setting(
        16,
        "--client-reserve-streams",
        bounds=(0, 1_000_000),
        help="the last streams (of --max-concurrent-rpcs, at most a quarter of them), kept "
        "for clients that hold none",
        panel=LIMITS,
    )
    client_heavy_calls_per_second: float = setting(
        4.0,
        "--client-heavy-rate",
        bounds=(0.01, 10_000),
        help="calls per second per client of the costly methods (questions, smaps, replay, "
        "miss-ratio curve); bursts of up to this many",
        panel=LIMITS,
    )
    client_max_inflight_bytes: int = setting(
        64 << 20,
        "--client-max-inflight",
        parse=parse_size,
        bounds=(1, 1 << 40),
        help="request bytes being handled per client (requests of 64 KiB and more count)",
        panel=LIMITS,
    )
    admin_token: str = setting(
        "",
        "--admin-token",
        help="the admin token itself (a command line is visible to every local user: prefer "
        "--admin-token-file or the environment)",
        panel=ACCESS,
    )
    admin_token_file: str | None = setting(
        None,
        "--admin-token-file",
        metavar="FILE",
        help="file holding the admin token, created 0600 with a new token if missing "
        "(default: a generated token in a private file, removed at exit)",
        panel=ACCESS,
    )
    tls_cert: str | None = setting(
        None, "--tls-cert", metavar="PEM", help="certificate chain: serve TLS", panel=ACCESS
    )
    tls_key: str | None = setting(
        None, "--tls-key", metavar="PEM", help="private key of --tls-cert", panel=ACCESS
    )
    tls_client_ca: str | None = setting(
        None,
        "--tls-client-ca",
        metavar="PEM",
        help="mutual TLS: clients must present a certificate signed by this CA",
        panel=ACCESS,
    )
    client_identity: str = setting(
        "auto",
        "--client-identity",
        choices=CLIENT_IDENTITIES,
        help="what per-client limits count by: cert (client certificate), peer (address), "
        "auto (the certificate, else a lab student token, else the address)",
        panel=ACCESS,
    )
    log_format: str = setting(
        "auto",
        "--log-format",
        choices=LOG_FORMATS,
        help="json, console, or auto (console on a terminal)",
        panel=RUNNING,
    )
    log_level: str = setting(
        "info",
        "--log-level",
        choices=LOG_LEVELS,
        help="debug logs every RPC with its request id",
        panel=RUNNING,
    )
    grace_seconds: float = setting(
        5.0,
        "--grace",
        bounds=(0, 3600),
        help="seconds calls in flight may finish at SIGTERM/SIGINT",
        panel=RUNNING,
    )
    event_loop: str = setting(
        "uvloop",
        "--event-loop",
        choices=EVENT_LOOPS,
        help="uvloop (less CPU per RPC) or asyncio's own loop",
        panel=RUNNING,
    )
    metrics_port: int = setting(
        0,
        "--metrics-port",
        bounds=(0, 65535),
        help="port of the Prometheus /metrics endpoint (0 = off)",
        panel=RUNNING,
    )
    lab_path: str | None = setting(
        None,
        "--lab",
        metavar="FILE",
        help="serve a graded lab (LabService) described by this TOML file",
        panel=LAB,
    )
    lab_db: str | None = setting(
        None,
        "--lab-db",
        metavar="PATH",
        help="SQLite database of the lab: secret, students, answers (default: FILE.sqlite3)",
        panel=LAB,
    )

    def __post_init__(self) -> None:
        """Refuse settings the server cannot run with (the machine's own are checked by MachineConfig).

        Raises:
            ValueError: naming the setting and what is allowed.
        """
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"address {self.address!r} is not host:port")
        for item in dataclasses.fields(self):
            flag: Flag = item.metadata["flag"]
            value = getattr(self, item.name)
            if flag.bounds is not None:
                show = functools.partial(_shown, flag)
                check_number(flag.names[0], value, *flag.bounds, show=show)
            if flag.choices and value not in flag.choices:
                raise ValueError(f"{item.name} {value!r}: one of {', '.join(flag.choices)}")
        for lock_class, kind in self.lock_kinds:
            if lock_class not in LOCK_CLASSES or kind not in ("spin", "sleep"):
                raise ValueError(
                    f"lock kind {lock_class}={kind}: CLASS=spin|sleep with CLASS one of "
                    + ", ".join(LOCK_CLASSES)
                )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("tls_client_ca needs tls_cert and tls_key (mutual TLS is TLS first)")
        if self.client_identity == "cert" and not self.tls_client_ca:
            raise ValueError("client_identity cert needs tls_client_ca (client certificates)")
        try:  # the machine's own numbers, checked where the kernel knows their limits
            self.machine_config()
        except InvalidArgument as error:
            raise ValueError(refused_setting(error)) from None

    def machine_config(self) -> MachineConfig:
        """The kernel's configuration (validated by MachineConfig itself)."""
        return MachineConfig(
            ram_bytes=self.ram_bytes,
            swap_bytes=self.swap_bytes,
            swap_path=self.swap_path,
            swap_file_overwrite=self.swap_file_overwrite,
            policy=ReplacementPolicy(self.policy),
            overcommit_memory=OvercommitMode(self.overcommit_memory),
            overcommit_ratio=self.overcommit_ratio,
            swappiness=self.swappiness,
            nr_cpus=self.nr_cpus,
            seed=self.seed,
            max_processes=self.max_processes,
            max_map_count=self.max_map_count,
            lock_kinds=dict(self.lock_kinds),
            direct_map_pse=self.direct_map_pse,
            textbook_split=self.textbook_split,
            disk_bytes=self.disk_bytes,
            swapon_budget_bytes=self.swapon_budget_bytes,
            realtime_clients=True,  # every call comes from a client waiting for its answer
        )


def _option(flag: Flag, kind: Any, default: Any) -> tuple[Any, Any]:
    """The Typer annotation and default of one setting's flag."""
    if flag.choices:
        kind = Literal[flag.choices]
    if kind == tuple[tuple[str, str], ...]:  # the repeatable --lock-kind
        kind, default = list[str], []
    elif flag.parse is parse_size:
        default = _size_text(default)
    if flag.bounds is not None:
        low, high = flag.bounds
        help_text = f"{flag.help}; {_shown(flag, low)}..{_shown(flag, high)}"
    else:
        help_text = flag.help
    option = typer.Option(
        *flag.names,
        envvar=flag.envvar,
        help=help_text,
        parser=flag.parse,
        metavar=flag.metavar or ("SIZE" if flag.parse is parse_size else None),
        rich_help_panel=flag.panel,
        show_default=default not in (None, "", []),
    )
    return Annotated[kind, option], default


def command_line(take: Callable[[ServerSettings], None]) -> typer.Typer:
    """The `vmsim-server` command line, one option per field of ServerSettings; it hands the
    settings to *take*. A refused combination is a usage error (exit 2)."""
    kinds = typing.get_type_hints(ServerSettings)
    parameters = []
    for item in dataclasses.fields(ServerSettings):
        annotation, default = _option(item.metadata["flag"], kinds[item.name], item.default)
        parameters.append(
            inspect.Parameter(
                item.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )

    def settings(**values: Any) -> None:
        values["lock_kinds"] = _lock_kinds(values["lock_kinds"])
        try:
            take(ServerSettings(**values))
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None

    settings.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    settings.__annotations__ = {p.name: p.annotation for p in parameters}
    settings.__doc__ = (
        "Run one simulated 32-bit x86 Linux machine behind a gRPC API.\n\n"
        "Every flag can also be set in the environment variable shown beside it "
        "(VMSIM_RAM=256M, VMSIM_ADMIN_TOKEN_FILE=...); sizes read as everywhere in vmsim: "
        "67108864, 0x4000000, 65536k, 64M, 64Mi, 64MiB."
    )
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(settings)
    return app


def parse_settings(argv: Sequence[str] | None = None) -> ServerSettings:
    """Settings from *argv* (default sys.argv[1:]) and the environment.

    Raises:
        SystemExit: 0 after --help, 2 after a usage message for a bad flag or value.
    """
    taken: list[ServerSettings] = []
    try:
        command_line(taken.append)(
            list(sys.argv[1:] if argv is None else argv), prog_name="vmsim-server"
        )
    except SystemExit as done:
        if done.code in (0, None) and taken:
            return taken[0]
        raise
    raise AssertionError("the command line returned without exiting")  # click always exits
