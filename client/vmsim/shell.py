"""`vmsim shell`: one simulated process driven interactively, one command per syscall.

Like poking a process with gdb: each line is an mmap/touch/read/write on the server;
errors are printed, never raised, and a killed process can be replaced with `respawn`.
"""

from __future__ import annotations

import cmd
import contextlib
import difflib
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from .client import File, Inspector, Process
from .constants import (
    MADV_DONTNEED,
    MADV_FREE,
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    MS_ASYNC,
    MS_SYNC,
    O_APPEND,
    O_CREAT,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
)
from .errors import ProcessKilled, VmsimError
from .render import hexdump, parse_address, parse_flags, parse_prot, parse_size
from .views import VMSTAT_HEADER, format_files, format_shm, read_vmstat_sample, vmstat_line

__all__ = ["HISTORY", "ProcessShell"]

HISTORY = Path.home() / ".vmsim_history"
_ADVICE = {
    "normal": MADV_NORMAL,
    "random": MADV_RANDOM,
    "sequential": MADV_SEQUENTIAL,
    "willneed": MADV_WILLNEED,
    "dontneed": MADV_DONTNEED,
    "free": MADV_FREE,
}
_ACCESS = {"r": False, "w": True}  # the access letter of touch and touchrange -> is a write
_OPEN_ACCESS = {"r": O_RDONLY, "w": O_WRONLY, "rw": O_RDWR}
_OPEN_FLAGS = {"creat": O_CREAT, "excl": O_EXCL, "trunc": O_TRUNC, "append": O_APPEND}
_WHENCE = {"set": SEEK_SET, "cur": SEEK_CUR, "end": SEEK_END}
_MAP_KIND = {"shared": MAP_SHARED, "private": MAP_PRIVATE}
_MSYNC = {"sync": MS_SYNC, "async": MS_ASYNC}
_MREMAP = {"maymove": MREMAP_MAYMOVE, "fixed": MREMAP_FIXED, "dontunmap": MREMAP_DONTUNMAP}


def _word(table: dict[str, int], word: str, what: str) -> int:
    """*word* looked up in *table*; a ValueError naming what is allowed otherwise."""
    if word not in table:
        raise ValueError(f"{what} {word!r}: one of {', '.join(table)}")
    return table[word]


def _open_flags(text: str) -> int:
    """open's flags as the shell spells them: r, w or rw, then ,creat ,excl ,trunc ,append."""
    access, *extra = text.split(",")
    flags = _word(_OPEN_ACCESS, access, "access")
    for word in extra:
        flags |= _word(_OPEN_FLAGS, word, "open flag")
    return flags


def _mremap_flags(text: str) -> int:
    """mremap's flags as the shell spells them: maymove,fixed,dontunmap, or - for none."""
    flags = 0
    for word in text.split(",") if text != "-" else ():
        flags |= _word(_MREMAP, word, "mremap flag")
    return flags


def _target_and_payload(line: str, usage: str) -> tuple[str, bytes]:
    """The first word of *line* (an address, a descriptor) and the bytes of the rest: TEXT,
    or hex:48656c6c6f for any bytes.

    Raises:
        ValueError: *usage*, when either is missing.
    """
    target, _, text = line.strip().partition(" ")
    if not target or not text:
        raise ValueError(usage)
    return target, bytes.fromhex(text[4:]) if text.startswith("hex:") else text.encode()


def _is_write(args: list[str], position: int) -> bool:
    """The optional access letter at *position*: r (a read, the default) or w (a write).

    Raises:
        ValueError: any other word.
    """
    if len(args) <= position:
        return False
    if args[position] not in _ACCESS:
        raise ValueError(f"access {args[position]!r}: r (read, the default) or w (write)")
    return _ACCESS[args[position]]


class ProcessShell(cmd.Cmd):
    """Each command is a syscall of one simulated process (sizes take 4k, 16M, 1G)."""

    intro = "vmsim shell: one simulated process. Type help or ? for commands, exit to leave."

    def __init__(self, address: str, name: str = "shell", history: Path | None = HISTORY) -> None:
        super().__init__()
        self.address = address
        self.name = name
        self.history = history
        self.inspector = Inspector(address)
        self.process = Process(address, name)
        self.others: dict[int, Process] = {}  # the processes fork made, and the ones left by switch
        self.dead = False
        self._set_prompt()
        if self.history is not None:
            with contextlib.suppress(ImportError, OSError):
                import readline

                readline.read_history_file(self.history)

    def _set_prompt(self) -> None:
        mark = " (dead)" if self.dead else ""
        self.prompt = f"vmsim[{self.process.pid}{mark}]> "

    def cmdloop(self, intro: str | None = None) -> None:
        """Read commands until exit; Ctrl-C abandons the current line, not the shell."""
        while True:
            try:
                super().cmdloop(intro)
                return
            except KeyboardInterrupt:
                print("^C")
                intro = ""

    def _run(self, action: Callable[[], str | None]) -> None:
        try:
            text = action()
        except (ValueError, IndexError, KeyError) as error:
            print(f"usage: {error}")
            return
        except ProcessKilled as error:
            self.dead = True
            self._set_prompt()
            print(f"the process died: {error.message}\n(type respawn for a new process)")
            return
        except VmsimError as error:
            print(f"{error.code}: {error.message}")
            return
        if text:
            print(text)

    @staticmethod
    def _args(line: str, minimum: int, usage: str) -> list[str]:
        args = shlex.split(line)
        if len(args) < minimum:
            raise ValueError(usage)
        return args

    def _range_call(self, line: str, usage: str, call: Callable[[int, int], None]) -> None:
        """A command whose arguments are an address and a length (munmap, mlock, munlock)."""

        def act() -> None:
            args = self._args(line, 2, usage)
            call(parse_address(args[0]), parse_size(args[1]))

        self._run(act)

    def do_mmap(self, line: str) -> None:
        """mmap SIZE [PROT=rw] [FLAGS=private] [ADDR]   e.g. mmap 16M rw private,populate"""

        def act() -> str:
            args = self._args(line, 1, "mmap SIZE [PROT] [FLAGS] [ADDR]")
            prot = parse_prot(args[1]) if len(args) > 1 else PROT_READ | PROT_WRITE
            flags = parse_flags(args[2]) if len(args) > 2 else MAP_PRIVATE | MAP_ANONYMOUS
            addr = parse_address(args[3]) if len(args) > 3 else 0
            mapped = self.process.mmap(parse_size(args[0]), prot, flags, addr)
            return f"0x{mapped:08x}"

        self._run(act)

    def do_munmap(self, line: str) -> None:
        """munmap ADDR SIZE"""
        self._range_call(
            line, "munmap ADDR SIZE", lambda addr, length: self.process.munmap(addr, length)
        )

    def do_mremap(self, line: str) -> None:
        """mremap ADDR OLD_SIZE NEW_SIZE [FLAGS=-] [NEW_ADDR]   FLAGS: maymove,fixed,dontunmap
        e.g. mremap 0xb7000000 16k 1M maymove; prints where the mapping is now"""

        def act() -> str:
            args = self._args(line, 3, "mremap ADDR OLD_SIZE NEW_SIZE [FLAGS] [NEW_ADDR]")
            flags = _mremap_flags(args[3]) if len(args) > 3 else 0
            new_address = parse_address(args[4]) if len(args) > 4 else 0
            sizes = parse_size(args[1]), parse_size(args[2])
            return (
                f"0x{self.process.mremap(parse_address(args[0]), *sizes, flags, new_address):08x}"
            )

        self._run(act)

    def do_mprotect(self, line: str) -> None:
        """mprotect ADDR SIZE PROT   e.g. mprotect 0xb7000000 4k r"""

        def act() -> None:
            args = self._args(line, 3, "mprotect ADDR SIZE PROT")
            self.process.mprotect(parse_address(args[0]), parse_size(args[1]), parse_prot(args[2]))

        self._run(act)

    def do_brk(self, line: str) -> None:
        """brk [ADDR]   move the break; without ADDR prints the current break"""
        self._run(lambda: f"0x{self.process.brk(parse_address(line) if line.strip() else 0):08x}")

    def do_madvise(self, line: str) -> None:
        """madvise ADDR SIZE ADVICE   ADVICE: normal, random, sequential, willneed, dontneed, free"""

        def act() -> None:
            args = self._args(line, 3, "madvise ADDR SIZE ADVICE")
            if args[2] not in _ADVICE:
                raise ValueError(f"advice {args[2]!r}: one of {', '.join(_ADVICE)}")
            self.process.madvise(parse_address(args[0]), parse_size(args[1]), _ADVICE[args[2]])

        self._run(act)

    def do_touch(self, line: str) -> None:
        """touch ADDR [r|w]   one access (a read, or a write with w): hit, minor or major"""

        def act() -> str:
            args = self._args(line, 1, "touch ADDR [r|w]")
            return str(self.process.touch(parse_address(args[0]), _is_write(args, 1)))

        self._run(act)

    def do_touchrange(self, line: str) -> None:
        """touchrange START SIZE [r|w]   touch every page of a range in one batch"""

        def act() -> str:
            args = self._args(line, 2, "touchrange START SIZE [r|w]")
            start, size, write = parse_address(args[0]), parse_size(args[1]), _is_write(args, 2)
            pages = range(start - start % PAGE_SIZE, start + size, PAGE_SIZE)
            s = self.process.touch_many(pages, write)
            return (
                f"{s.touched} pages: {s.hits} hits, {s.minor} minor faults, {s.major} major faults"
            )

        self._run(act)

    def do_read(self, line: str) -> None:
        """read ADDR N   hexdump N bytes"""

        def act() -> str:
            args = self._args(line, 2, "read ADDR N")
            address = parse_address(args[0])
            return hexdump(address, self.process.read(address, parse_size(args[1])))

        self._run(act)

    def do_write(self, line: str) -> None:
        """write ADDR TEXT   or   write ADDR hex:48656c6c6f"""

        def act() -> str:
            address, payload = _target_and_payload(
                line, "write ADDR TEXT  or  write ADDR hex:BYTES"
            )
            return f"{self.process.write(parse_address(address), payload)} bytes written"

        self._run(act)

    def do_translate(self, line: str) -> None:
        """translate ADDR   the page walk: PDE, PTE, frame (or swap entry, or fault)"""

        def act() -> str:
            address = parse_address(self._args(line, 1, "translate ADDR")[0])
            return self.process.translate(address).text.rstrip()

        self._run(act)

    def _mappings(self, text: str) -> str:
        """A maps listing, or why there is none: a dead process has no address space left."""
        if text.strip():
            return text.rstrip()
        status = self.process.status()
        if self.dead or status.state == "Z":
            self.dead = True
            self._set_prompt()
            why = f" (killed by {status.killed_by})" if status.killed_by else ""
            return f"process {status.pid} is dead{why}: no address space (type respawn)"
        return "(no mappings)"

    def do_maps(self, line: str) -> None:
        """maps   /proc/self/maps"""
        self._run(lambda: self._mappings(self.process.maps().text))

    def do_smaps(self, line: str) -> None:
        """smaps   /proc/self/smaps"""
        self._run(lambda: self._mappings(self.process.smaps().text))

    def do_smaps_rollup(self, line: str) -> None:
        """smaps_rollup   /proc/self/smaps_rollup"""
        self._run(lambda: self._mappings(self.process.smaps_rollup().text))

    def do_status(self, line: str) -> None:
        """status   /proc/self/status"""
        self._run(lambda: self.process.status().text.rstrip())

    def do_meminfo(self, line: str) -> None:
        """meminfo   /proc/meminfo"""
        self._run(lambda: self.inspector.meminfo().text.rstrip())

    def do_vmstat(self, line: str) -> None:
        """vmstat [--full]   the vmstat(8) summary line since boot (--full: all of /proc/vmstat)"""

        def act() -> str:
            args = shlex.split(line)
            if args not in ([], ["--full"]):
                raise ValueError("vmstat [--full]")
            if args:
                return self.inspector.vmstat().text.rstrip()
            sample = read_vmstat_sample(self.inspector, time.monotonic())
            return f"{VMSTAT_HEADER}\n{vmstat_line(None, sample)}"

        self._run(act)

    def do_respawn(self, line: str) -> None:
        """respawn   a fresh process in place of this one (after it died)"""

        def act() -> str:
            old_pid = self.process.pid
            self.process.close()
            self.process = Process(self.address, self.name)
            self.dead = False
            self._set_prompt()
            return f"pid {old_pid} replaced by pid {self.process.pid}"

        self._run(act)

    def do_fork(self, line: str) -> None:
        """fork   a child process sharing this one's pages copy-on-write (switch PID to drive it)"""

        def act() -> str:
            self._args(line, 0, "fork")
            child = self.process.fork()
            self.others[child.pid] = child
            return (
                f"child pid {child.pid} (token {child.token}); "
                f"type switch {child.pid} to act as it, switch {self.process.pid} to come back"
            )

        self._run(act)

    def do_switch(self, line: str) -> None:
        """switch PID   act as another process of this shell (one that fork made)"""

        def act() -> str:
            (word,) = self._args(line, 1, "switch PID")
            pid = int(word, 0)
            if pid not in self.others:
                known = ", ".join(str(other) for other in self.others) or "none (fork makes one)"
                raise KeyError(f"switch PID: {pid} is not a process of this shell ({known})")
            self.others[self.process.pid] = self.process
            self.process = self.others.pop(pid)
            self.dead = False
            self._set_prompt()
            return f"now pid {pid}"

        self._run(act)

    def do_mlock(self, line: str) -> None:
        """mlock ADDR LEN   fault the range in and keep it in RAM (Mlocked)"""
        self._range_call(
            line, "mlock ADDR LEN", lambda addr, length: self.process.mlock(addr, length)
        )

    def do_munlock(self, line: str) -> None:
        """munlock ADDR LEN   make the range evictable again"""
        self._range_call(
            line, "munlock ADDR LEN", lambda addr, length: self.process.munlock(addr, length)
        )

    def do_shm_create(self, line: str) -> None:
        """shm_create NAME SIZE [MODE]   a named shared memory object (mode octal, default 600)"""

        def act() -> str:
            args = self._args(line, 2, "shm_create NAME SIZE [MODE]")
            mode = int(args[2], 8) if len(args) > 2 else 0o600
            self.process.shm_create(args[0], parse_size(args[1]), mode)
            return f"created {args[0]} (mode {mode:03o})"

        self._run(act)

    def do_shm_map(self, line: str) -> None:
        """shm_map NAME [r|rw]   map a named object (read-only with r); prints the address"""

        def act() -> str:
            args = self._args(line, 1, "shm_map NAME [r|rw]")
            access = args[1] if len(args) > 1 else "rw"
            if access not in ("r", "rw"):
                raise ValueError(
                    f"access {access!r}: r (read-only) or rw (read-write, the default)"
                )
            prot = PROT_READ | (PROT_WRITE if access == "rw" else 0)
            return f"0x{self.process.shm_map(args[0], prot):08x}"

        self._run(act)

    def do_shm_unlink(self, line: str) -> None:
        """shm_unlink NAME   remove the name (the object lives while it is mapped)"""

        def act() -> None:
            (name,) = self._args(line, 1, "shm_unlink NAME")
            self.process.shm_unlink(name)

        self._run(act)

    def do_shm(self, line: str) -> None:
        """shm   the named shared memory objects (ls -l /dev/shm)"""

        def act() -> str:
            objects = self.inspector.shm()
            return format_shm(objects).rstrip("\n") if objects else "no shared memory objects"

        self._run(act)

    def _file(self, fd: str) -> File:
        """The current process's open descriptor *fd* (the server says whether it is open)."""
        return File(self.process, int(fd), f"fd {fd}")

    def do_open(self, line: str) -> None:
        """open PATH [r|w|rw[,creat,excl,trunc,append]] [MODE]   open(2); prints the fd"""

        def act() -> str:
            args = self._args(line, 1, "open PATH [ACCESS[,creat,excl,trunc,append]] [MODE]")
            flags = _open_flags(args[1]) if len(args) > 1 else O_RDONLY
            mode = int(args[2], 8) if len(args) > 2 else 0o644
            return f"fd {self.process.open(args[0], flags, mode).fd}"

        self._run(act)

    def do_close(self, line: str) -> None:
        """close FD"""
        self._run(lambda: self._file(self._args(line, 1, "close FD")[0]).close())

    def do_fread(self, line: str) -> None:
        """fread FD N [OFFSET]   read(2) N bytes from the file position (pread at OFFSET); hexdump"""

        def act() -> str:
            args = self._args(line, 2, "fread FD N [OFFSET]")
            file, length = self._file(args[0]), parse_size(args[1])
            if len(args) > 2:
                offset = parse_size(args[2])
                return hexdump(offset, file.pread(length, offset))
            return hexdump(0, file.read(length))

        self._run(act)

    def do_fwrite(self, line: str) -> None:
        """fwrite FD TEXT   or   fwrite FD hex:48656c6c6f   write(2) at the file position"""

        def act() -> str:
            fd, payload = _target_and_payload(line, "fwrite FD TEXT  or  fwrite FD hex:BYTES")
            return f"{self._file(fd).write(payload)} bytes written"

        self._run(act)

    def do_lseek(self, line: str) -> None:
        """lseek FD OFFSET [set|cur|end]   move the file position; prints it"""

        def act() -> str:
            args = self._args(line, 2, "lseek FD OFFSET [set|cur|end]")
            whence = _word(_WHENCE, args[2], "whence") if len(args) > 2 else SEEK_SET
            return f"position {self._file(args[0]).lseek(int(args[1], 0), whence)}"

        self._run(act)

    def do_ftruncate(self, line: str) -> None:
        """ftruncate FD SIZE"""

        def act() -> None:
            args = self._args(line, 2, "ftruncate FD SIZE")
            self._file(args[0]).ftruncate(parse_size(args[1]))

        self._run(act)

    def do_fsync(self, line: str) -> None:
        """fsync FD   write the file's dirty pages back"""
        self._run(lambda: self._file(self._args(line, 1, "fsync FD")[0]).fsync())

    def do_sync(self, line: str) -> None:
        """sync   write every file's dirty pages back (Dirty in meminfo drops to 0)"""

        def act() -> None:
            if shlex.split(line):
                raise ValueError("sync takes no arguments (fsync FD writes back one file)")
            self.process.sync()

        self._run(act)

    def do_unlink(self, line: str) -> None:
        """unlink PATH   the name goes now, the file with its last fd and mapping"""
        self._run(lambda: self.process.unlink(self._args(line, 1, "unlink PATH")[0]))

    def do_mmapfile(self, line: str) -> None:
        """mmapfile FD SIZE [PROT=r] [shared|private] [OFFSET]   map a file; prints the address"""

        def act() -> str:
            args = self._args(line, 2, "mmapfile FD SIZE [PROT] [shared|private] [OFFSET]")
            prot = parse_prot(args[2]) if len(args) > 2 else PROT_READ
            kind = _word(_MAP_KIND, args[3], "mapping") if len(args) > 3 else MAP_SHARED
            offset = parse_size(args[4]) if len(args) > 4 else 0
            return f"0x{self._file(args[0]).mmap(parse_size(args[1]), prot, kind, offset):08x}"

        self._run(act)

    def do_msync(self, line: str) -> None:
        """msync ADDR LEN [sync|async]   write a file mapping's dirty pages back"""

        def act() -> None:
            args = self._args(line, 2, "msync ADDR LEN [sync|async]")
            flags = _word(_MSYNC, args[2], "msync flag") if len(args) > 2 else MS_SYNC
            self.process.msync(parse_address(args[0]), parse_size(args[1]), flags)

        self._run(act)

    def do_files(self, line: str) -> None:
        """files   the file system's files with their page cache pages (and this process's fds)"""

        def act() -> str:
            fds = [
                f"fd {o.fd}: {o.name} at {o.pos}"
                for o in self.inspector.open_files(self.process.pid)
            ]
            return (format_files(self.inspector.files()) + "\n".join(fds)).rstrip("\n")

        self._run(act)

    def do_exit(self, line: str) -> bool:
        """exit   end the process and leave (Ctrl-D too)"""
        if self.history is not None:
            with contextlib.suppress(ImportError, OSError):
                import readline

                readline.write_history_file(self.history)
        self.process.close()
        for other in self.others.values():
            other.close()
        self.inspector.close()
        return True

    do_EOF = do_exit  # noqa: N815 - cmd.Cmd's name for Ctrl-D

    def emptyline(self) -> bool:
        """An empty line does nothing (cmd.Cmd would repeat the last command)."""
        return False

    def default(self, line: str) -> None:
        """An unknown command: say so, suggest the nearest one (difflib), and point at help."""
        word = line.split()[0]
        commands = [name.removeprefix("do_") for name in self.get_names() if name.startswith("do_")]
        close = difflib.get_close_matches(word, commands, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        print(f"unknown command {word!r}{suggestion} (type help)")
