"""vmsim_server: the gRPC service around one simulated machine (a thin adapter over vmsim_kernel)."""

from .main import RunningServer, main, serve
from .settings import ServerSettings, parse_settings

__all__ = ["RunningServer", "ServerSettings", "main", "parse_settings", "serve"]
