"""The call metadata keys of the wire contract: the part of it a .proto cannot hold.

A client sends them and the server reads them, so both take them from here.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADMIN_TOKEN_METADATA_KEY",
    "CLIENT_METADATA_KEY",
    "LAB_TOKEN_METADATA_KEY",
    "TOKEN_METADATA_KEY",
]

TOKEN_METADATA_KEY: Final = "x-vmsim-token"  # a process's token (from Spawn) on its calls
ADMIN_TOKEN_METADATA_KEY: Final = "x-vmsim-admin-token"  # the server's admin token
LAB_TOKEN_METADATA_KEY: Final = "x-vmsim-lab-token"  # a student's token of a graded lab
CLIENT_METADATA_KEY: Final = "x-vmsim-client"  # the name a client gives itself (logs only)
