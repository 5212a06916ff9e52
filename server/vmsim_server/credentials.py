"""The server's secrets: the admin token (from a file, the environment, or generated into a
private file) and the TLS credentials of its port.

The token is never logged: the log shows where it is and its fingerprint, the first hex
digits of its SHA-256, so two people can check they hold the same token without showing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc

__all__ = [
    "AdminToken",
    "fingerprint",
    "load_admin_token",
    "loose_permissions",
    "server_credentials",
]

TOKEN_FILE_NAME = "admin-token"


def fingerprint(token: str) -> str:
    """sha256:<12 hex digits> of *token*: enough to compare, useless to guess from."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class AdminToken:
    """The admin token and where an operator finds it.

    Attributes:
        token: the secret itself.
        path: the file holding it, or None when it came from the command line or environment.
        generated: made by this server (so *path* is new).
        private_dir: a directory this server created for the file, removed by remove().
    """

    token: str
    path: str | None
    generated: bool
    private_dir: str | None = None

    def remove(self) -> None:
        """Delete a token file this server generated in its own private directory."""
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)


def _write_new_token(path: Path) -> str:
    token = secrets.token_urlsafe(24)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def load_admin_token(token: str, token_file: str | None) -> AdminToken:
    """The token from *token* (flag or VMSIM_ADMIN_TOKEN), else *token_file*, else a new one.

    A named file that does not exist is created (0600) with a generated token; with neither,
    the token is generated into a new private directory (0700).

    Raises:
        ValueError: the token file is empty or is a symbolic link.
        OSError: the file cannot be read or created.
    """
    if token:
        return AdminToken(token, None, generated=False)
    if token_file:
        path = Path(token_file)
        if path.is_symlink():
            raise ValueError(f"admin token file {path} is a symbolic link")
        if path.exists():
            value = path.read_text().strip()
            if not value:
                raise ValueError(f"admin token file {path} is empty")
            return AdminToken(value, str(path.resolve()), generated=False)
        return AdminToken(_write_new_token(path), str(path.resolve()), generated=True)
    private_dir = tempfile.mkdtemp(prefix="vmsim-")  # mode 0700
    path = Path(private_dir) / TOKEN_FILE_NAME
    try:
        value = _write_new_token(path)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(private_dir)
        raise
    return AdminToken(value, str(path), generated=True, private_dir=private_dir)


def loose_permissions(path: str) -> str | None:
    """The mode of the file at *path* as octal text ("0644") when its group or other users
    may read or write it; None for a private file (or one that is gone)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return f"{mode:04o}" if mode & 0o066 else None


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str | None
) -> grpc.ServerCredentials:
    """TLS for the listening port; with *client_ca_file*, clients must present a certificate
    signed by that CA (mutual TLS).

    Raises:
        OSError: a PEM file cannot be read.
    """
    chain = Path(cert_file).read_bytes()
    key = Path(key_file).read_bytes()
    client_ca = Path(client_ca_file).read_bytes() if client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
