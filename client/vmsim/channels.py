"""Channels to a vmsim server: plaintext, TLS or mutual TLS; who the client says it is; and
where the admin token comes from.

Every client class takes `tls=` (a Tls) and otherwise reads the environment, so the command
line and scripts need no code change to talk to a TLS server:

    VMSIM_TLS_CA=ca.pem VMSIM_TLS_CERT=me.pem VMSIM_TLS_KEY=me.key vmsim ps
    vmsim.connect(addr, tls=vmsim.Tls(ca="ca.pem", cert="me.pem", key="me.key"))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmsim_proto.metadata import ADMIN_TOKEN_METADATA_KEY, CLIENT_METADATA_KEY

from .calls import CHANNEL_OPTIONS
from .errors import InvalidArgument

if TYPE_CHECKING:
    import grpc

__all__ = [
    "Tls",
    "admin_token_from",
    "aio_channel",
    "client_metadata",
    "open_channel",
]


@dataclass(frozen=True)
class Tls:
    """TLS settings of a channel (paths of PEM files).

    Attributes:
        ca: the CA certificate(s) that signed the server's certificate; None trusts the
            system's roots.
        cert: this client's certificate chain, for mutual TLS.
        key: the private key of *cert*.
        server_name: the name to check the server's certificate against, when the address
            is not that name (e.g. an IP address).
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise ValueError("a client certificate needs its key: give both cert and key")

    @classmethod
    def from_env(cls) -> Tls | None:
        """VMSIM_TLS_CA, VMSIM_TLS_CERT, VMSIM_TLS_KEY, VMSIM_TLS_SERVER_NAME; None if none is set."""
        values = {
            field: os.environ.get(f"VMSIM_TLS_{field.upper()}") or None
            for field in ("ca", "cert", "key", "server_name")
        }
        return cls(**values) if any(values.values()) else None

    def credentials(self) -> grpc.ChannelCredentials:
        """grpc.ssl_channel_credentials from the files.

        Raises:
            InvalidArgument: a file cannot be read (which one, and why).
        """
        import grpc  # here and below, not at the top: practice answered in-process needs none

        return grpc.ssl_channel_credentials(
            root_certificates=_read_pem("VMSIM_TLS_CA", self.ca),
            private_key=_read_pem("VMSIM_TLS_KEY", self.key),
            certificate_chain=_read_pem("VMSIM_TLS_CERT", self.cert),
        )

    def options(self) -> list[tuple[str, Any]]:
        """Channel options: the usual ones, plus the name override when one is set."""
        if self.server_name:
            return [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", self.server_name)]
        return CHANNEL_OPTIONS


def _read_pem(variable: str, path: str | None) -> bytes | None:
    """The PEM file *path* names (None when none is given), or InvalidArgument saying which."""
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        option = variable.removeprefix("VMSIM_").lower().replace("_", "-")
        raise InvalidArgument(
            f"cannot read the --{option} / {variable} file {path}: {error.strerror}",
            "INVALID_ARGUMENT",
            {"field": variable, "allowed": "a readable PEM file"},
        ) from None


def open_channel(address: str, tls: Tls | None = None) -> grpc.Channel:
    """A blocking channel: TLS with *tls* (or the environment's), plaintext otherwise."""
    import grpc

    tls = tls or Tls.from_env()
    if tls is None:
        return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.secure_channel(address, tls.credentials(), options=tls.options())


def aio_channel(address: str, tls: Tls | None = None) -> grpc.aio.Channel:
    """The asyncio flavour of open_channel."""
    import grpc.aio

    tls = tls or Tls.from_env()
    if tls is None:
        return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(address, tls.credentials(), options=tls.options())


def client_metadata(client_name: str | None = None) -> tuple[tuple[str, str], ...]:
    """The x-vmsim-client metadata naming this client (or VMSIM_CLIENT_NAME); empty if unnamed.

    A label only: the server never counts its per-client limits by a name a client chooses.
    """
    name = client_name or os.environ.get("VMSIM_CLIENT_NAME")
    return ((CLIENT_METADATA_KEY, name),) if name else ()


def admin_token_from(token: str | None = None) -> str:
    """*token*, else VMSIM_ADMIN_TOKEN, else the content of VMSIM_ADMIN_TOKEN_FILE, else ''.

    Raises:
        OSError: VMSIM_ADMIN_TOKEN_FILE names a file that cannot be read.
    """
    if token:
        return token
    if os.environ.get("VMSIM_ADMIN_TOKEN"):
        return os.environ["VMSIM_ADMIN_TOKEN"]
    path = os.environ.get("VMSIM_ADMIN_TOKEN_FILE")
    return Path(path).read_text().strip() if path else ""


def admin_metadata(token: str | None = None) -> tuple[tuple[str, str], ...]:
    """The call metadata of a privileged handle: the admin token, as admin_token_from finds it.

    Raises:
        OSError: VMSIM_ADMIN_TOKEN_FILE names a file that cannot be read.
    """
    return ((ADMIN_TOKEN_METADATA_KEY, admin_token_from(token)),)
