"""`vmsim shell`: an interactive process, one command per syscall, with readline history."""

from __future__ import annotations

import cmd
import contextlib
import shlex
from collections.abc import Callable
from pathlib import Path

from .client import Inspector, Process
from .constants import (
    MADV_DONTNEED,
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    PAGE_SIZE,
)
from .errors import ProcessKilled, VmsimError

__all__ = ["ProcessShell", "hexdump", "parse_flags", "parse_prot"]

HISTORY = Path.home() / ".vmsim_history"
_PROT = {"r": 1, "w": 2, "x": 4, "-": 0}
_FLAGS = {
    "private": 0x02,
    "shared": 0x01,
    "fixed": 0x10,
    "noreserve": 0x4000,
    "populate": 0x8000,
    "fixed_noreplace": 0x100000,
}
_ADVICE = {
    "normal": MADV_NORMAL,
    "random": MADV_RANDOM,
    "sequential": MADV_SEQUENTIAL,
    "willneed": MADV_WILLNEED,
    "dontneed": MADV_DONTNEED,
}


def parse_prot(text: str) -> int:
    """'rw', 'r-x', 'none' -> PROT_* bits."""
    if text in ("none", "---"):
        return 0
    try:
        return sum(_PROT[c] for c in text)
    except KeyError:
        raise ValueError(f"protection {text!r}: use letters r, w, x (e.g. rw) or none") from None


def parse_flags(text: str) -> int:
    """'private,populate' -> MAP_* bits (MAP_ANONYMOUS always added)."""
    flags = 0x20
    for word in text.split(","):
        if word not in _FLAGS:
            raise ValueError(f"flag {word!r}: one of {', '.join(_FLAGS)}")
        flags |= _FLAGS[word]
    return flags


def _number(text: str) -> int:
    from .cli import parse_size

    return parse_size(text)


def hexdump(address: int, data: bytes) -> str:
    """Classic 16-bytes-a-line dump."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{address + offset:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines)


class ProcessShell(cmd.Cmd):
    """Each command is a syscall of one simulated process."""

    intro = "vmsim shell: one simulated process. Type help or ? for commands, exit to leave."

    def __init__(self, address: str, name: str = "shell") -> None:
        super().__init__()
        self.address = address
        self.name = name
        self.process = Process(address, name)
        self.inspector = Inspector(address)
        self.prompt = f"vmsim[{self.process.pid}]> "
        with contextlib.suppress(ImportError, OSError):
            import readline

            readline.read_history_file(HISTORY)

    def _run(self, action: Callable[[], str | None]) -> None:
        try:
            text = action()
        except (ValueError, IndexError) as error:
            print(f"usage error: {error}")
            return
        except ProcessKilled as error:
            print(f"the process died: {error.message}\n(type respawn for a new process)")
            return
        except VmsimError as error:
            print(f"{error.code}: {error.message}")
            return
        if text:
            print(text)

    def _args(self, line: str, minimum: int) -> list[str]:
        args = shlex.split(line)
        if len(args) < minimum:
            raise ValueError(f"needs {minimum} argument(s); see help")
        return args

    def do_mmap(self, line: str) -> None:
        """mmap SIZE [PROT=rw] [FLAGS=private] [ADDR]   e.g. mmap 16M rw private,populate"""

        def act() -> str:
            args = self._args(line, 1)
            prot = parse_prot(args[1]) if len(args) > 1 else 3
            flags = parse_flags(args[2]) if len(args) > 2 else 0x22
            addr = self.process.mmap(
                _number(args[0]), prot, flags, int(args[3], 0) if len(args) > 3 else 0
            )
            return f"0x{addr:08x}"

        self._run(act)

    def do_munmap(self, line: str) -> None:
        """munmap ADDR SIZE"""
        self._run(lambda: self.process.munmap(*(_number(a) for a in self._args(line, 2)[:2])))

    def do_mprotect(self, line: str) -> None:
        """mprotect ADDR SIZE PROT   e.g. mprotect 0xb7000000 4k r"""

        def act() -> None:
            args = self._args(line, 3)
            self.process.mprotect(_number(args[0]), _number(args[1]), parse_prot(args[2]))

        self._run(act)

    def do_brk(self, line: str) -> None:
        """brk [ADDR]   without ADDR prints the current break"""
        self._run(lambda: f"0x{self.process.brk(_number(line) if line.strip() else 0):08x}")

    def do_madvise(self, line: str) -> None:
        """madvise ADDR SIZE ADVICE   (normal, random, sequential, willneed, dontneed)"""

        def act() -> None:
            args = self._args(line, 3)
            self.process.madvise(_number(args[0]), _number(args[1]), _ADVICE[args[2]])

        self._run(act)

    def do_touch(self, line: str) -> None:
        """touch ADDR [w]   one access; w makes it a write"""

        def act() -> str:
            args = self._args(line, 1)
            return self.process.touch(_number(args[0]), len(args) > 1 and args[1] == "w")

        self._run(act)

    def do_touchrange(self, line: str) -> None:
        """touchrange START SIZE [w]   touch every page of a range in one batch"""

        def act() -> str:
            args = self._args(line, 2)
            start, size = _number(args[0]), _number(args[1])
            s = self.process.touch_many(
                range(start, start + size, PAGE_SIZE), len(args) > 2 and args[2] == "w"
            )
            return f"{s.touched} touches: {s.hits} hits, {s.minor} minor faults, {s.major} major faults"

        self._run(act)

    def do_read(self, line: str) -> None:
        """read ADDR N   hexdump N bytes"""

        def act() -> str:
            args = self._args(line, 2)
            address = _number(args[0])
            return hexdump(address, self.process.read(address, _number(args[1])))

        self._run(act)

    def do_write(self, line: str) -> None:
        """write ADDR TEXT   or   write ADDR hex:48656c6c6f"""

        def act() -> str:
            address, _, payload = line.strip().partition(" ")
            data = bytes.fromhex(payload[4:]) if payload.startswith("hex:") else payload.encode()
            return f"{self.process.write(_number(address), data)} bytes written"

        self._run(act)

    def do_translate(self, line: str) -> None:
        """translate ADDR   the page walk"""
        self._run(lambda: self.process.translate(_number(self._args(line, 1)[0])).text.rstrip())

    def do_maps(self, line: str) -> None:
        """maps   /proc/self/maps"""
        self._run(lambda: self.process.maps().text.rstrip())

    def do_smaps(self, line: str) -> None:
        """smaps   /proc/self/smaps"""
        self._run(lambda: self.process.smaps().text.rstrip())

    def do_status(self, line: str) -> None:
        """status   /proc/self/status"""
        self._run(lambda: self.inspector.status(self.process.pid)[1].rstrip())

    def do_meminfo(self, line: str) -> None:
        """meminfo   /proc/meminfo"""
        self._run(lambda: self.inspector.meminfo().text.rstrip())

    def do_vmstat(self, line: str) -> None:
        """vmstat   /proc/vmstat"""
        self._run(lambda: self.inspector.vmstat().text.rstrip())

    def do_respawn(self, line: str) -> None:
        """respawn   start a fresh process (after the old one died)"""
        self.process.close()
        self.process = Process(self.address, self.name)
        self.prompt = f"vmsim[{self.process.pid}]> "

    def do_exit(self, line: str) -> bool:
        """exit   end the process and leave"""
        with contextlib.suppress(ImportError, OSError):
            import readline

            readline.write_history_file(HISTORY)
        self.process.close()
        self.inspector.close()
        return True

    do_EOF = do_exit  # noqa: N815 - cmd.Cmd's name for Ctrl-D

    def emptyline(self) -> bool:
        return False
