"""The kernel log buffer: a bounded ring of leveled lines, read like dmesg.

Models kernel/printk/printk.c: printk() appends to log_buf (the oldest records are
overwritten when it is full) and hands each record to the registered consoles; the server
registers one that writes its log. Records carry the simulated clock, never wall time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

__all__ = [
    "LOG_BUF_RECORDS",
    "RATELIMIT_BURST",
    "RATELIMIT_INTERVAL_NS",
    "Console",
    "KernelLog",
    "LogLevel",
    "LogRecord",
]

LOG_BUF_RECORDS: Final = 1024
# include/linux/ratelimit_types.h: DEFAULT_RATELIMIT_INTERVAL (5 s) and _BURST (10).
RATELIMIT_INTERVAL_NS: Final = 5_000_000_000
RATELIMIT_BURST: Final = 10


class LogLevel(IntEnum):
    """The KERN_* levels of include/linux/kern_levels.h that the simulator uses."""

    ERR = 3  # an operation failed (an I/O error)
    WARNING = 4  # something is wrong but was handled
    INFO = 6  # informational


@dataclass(frozen=True)
class LogRecord:
    """One printk record: sequence number, level, simulated time and text."""

    seq: int
    level: LogLevel
    time_ns: int
    text: str

    def __str__(self) -> str:
        """dmesg's form: "[seconds.micros] text"."""
        return f"[{self.time_ns // 1_000_000_000:5d}.{self.time_ns // 1000 % 1_000_000:06d}] {self.text}"


Console = Callable[[LogRecord], None]


class KernelLog:
    """log_buf and its consoles."""

    def __init__(self, capacity: int = LOG_BUF_RECORDS) -> None:
        self.records: deque[LogRecord] = deque(maxlen=capacity)
        self._consoles: list[Console] = []
        self._seq = 0
        self._window_start_ns: int | None = None
        self._printed_in_window = 0
        self.nr_suppressed = 0  # ratelimited lines dropped since the last report of them

    def printk(self, level: LogLevel, text: str, time_ns: int) -> LogRecord:
        """Append a record and show it on every console."""
        self._seq += 1
        record = LogRecord(self._seq, level, time_ns, text)
        self.records.append(record)
        for console in list(self._consoles):
            console(record)
        return record

    def printk_ratelimited(self, level: LogLevel, text: str, time_ns: int) -> LogRecord | None:
        """printk, but at most RATELIMIT_BURST lines per RATELIMIT_INTERVAL_NS (___ratelimit).

        Returns the record, or None when the line was suppressed; the number suppressed is
        reported when the next interval opens.
        """
        start = self._window_start_ns
        if start is None or time_ns >= start + RATELIMIT_INTERVAL_NS:
            if self.nr_suppressed:
                self.printk(
                    LogLevel.WARNING, f"printk: {self.nr_suppressed} messages suppressed", time_ns
                )
                self.nr_suppressed = 0
            self._window_start_ns, self._printed_in_window = time_ns, 0
        if self._printed_in_window >= RATELIMIT_BURST:
            self.nr_suppressed += 1
            return None
        self._printed_in_window += 1
        return self.printk(level, text, time_ns)

    def add_console(self, console: Console) -> None:
        """register_console: *console* sees every later record."""
        self._consoles.append(console)

    def text(self) -> str:
        """The buffer as dmesg prints it, one record a line."""
        return "".join(f"{record}\n" for record in self.records)
