"""Every command of README.md runs as written: here, or by the test or CI step named for it.

A command is a line of one of the README's ```sh blocks (a line ending in a backslash goes on
on the next; the indented lines under `vmsim shell` are its session, typed after the prompt
and printed otherwise). Each block runs in order in a fresh directory, line by line through
bash as a person would type it, with the README's venv and bench/ beside it. Only addresses
and ports change: every block gets a free loopback port in VMSIM_ADDR (the variable the
server and every command read), and 127.0.0.1:50051, HOST:PORT and SERVER:50051 become that
address, MASTER_HOST 127.0.0.1, `--port 8080` a free port; Locust's own ports come from its
LOCUST_* variables. A block without a server line runs against the tour's server
(`vmsim server --ram 64M --swap 128M --policy linux`). `NAME=$(...)` and `export NAME=...`
lines set NAME for the lines after them, as in one shell. Commands that follow a feed
(`top`, `events`, the dashboard, a Locust master and worker) must still be running after a
few seconds, doing their work, and stop cleanly on Ctrl-C.

ELSEWHERE names what runs the rest: the commands with a PID run in
test_the_commands_with_a_pid_run_on_a_live_process (the PID is the one thing filled in), the
install commands in .ci/run. A README command that is in neither place fails
test_every_readme_command_is_run_somewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import free_port

import vmsim

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
CI = ".ci/run"
PID_TEST = "tests/service/test_readme.py::test_the_commands_with_a_pid_run_on_a_live_process"
ELSEWHERE = {
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/vmsim demo": CI,
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest -q -n 2 --dist loadfile -m 'not timing' && .venv/bin/python -m pytest -q -m timing": CI,
    ".venv/bin/pip install -e '.[load]'": CI,
    "vmsim pmap -x PID": PID_TEST,
    "vmsim maps PID [--smaps]": PID_TEST,
    "vmsim smaps_rollup PID": PID_TEST,
    "vmsim status PID": PID_TEST,
    "vmsim translate PID 0xb7000000": PID_TEST,
    "vmsim translate PID 0x7b:0xb7000000": PID_TEST,
    "vmsim kill PID": PID_TEST,
}
# What a server is started with for a block that has no server line (the tour's).
TOUR_SERVER = "vmsim server --ram 64M --swap 128M --policy linux"
# Commands that run until Ctrl-C (a prefix of the command).
FOLLOWERS = (
    "vmsim top",
    "vmsim events",
    "vmsim dashboard",
    ".venv/bin/locust -f bench/locustfile.py --master",
    ".venv/bin/locust -f bench/locustfile.py --worker",
)
EXIT_STATUS = {"vmsim lab check replace --seed 7 -n 2 answers.txt": 1}  # as its comment says
ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_]\w*)=(.*)$")


@dataclass
class Command:
    """One README command: its text without the comment, and a shell session under it."""

    block: int
    text: str
    session: list[str] = field(default_factory=list)


def sh_blocks() -> list[str]:
    return [body for language, body in FENCE.findall(README) if language == "sh"]


def readme_commands() -> list[Command]:
    found: list[Command] = []
    for number, body in enumerate(sh_blocks()):
        pending = ""
        for line in body.splitlines():
            if line.startswith("  ") and not pending and found and found[-1].block == number:
                found[-1].session.append(line.strip())
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            text = re.sub(r"\s+#\s.*$", "", pending + line)
            found.append(Command(number, " ".join(text.split())))
            pending = ""
    return found


def test_every_readme_command_is_run_somewhere() -> None:
    commands = {command.text for command in readme_commands()}
    assert len(commands) >= 40  # the parse found the blocks
    ci = (ROOT / CI).read_text().splitlines()
    for text, where in ELSEWHERE.items():
        assert text in commands, f"ELSEWHERE names {text!r}, which the README no longer has"
        if where == CI:
            assert text in ci, f"{CI} does not run {text!r} as written"
        else:
            path, name = where.split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), where
    # every other command runs in test_the_block_runs_as_written, parametrized by block


class Shell:
    """The lines of one block, run as typed into one shell in *cwd*."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.address = f"127.0.0.1:{free_port()}"
        # A home of its own: `vmsim shell` keeps ~/.vmsim_history, never the tester's.
        self.home = cwd / "home"
        self.home.mkdir()
        self.env = dict(
            os.environ,
            HOME=str(self.home),
            PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            VMSIM_ADDR=self.address,
            COLUMNS="160",
            LOCUST_WEB_PORT=str(free_port()),
            LOCUST_MASTER_BIND_PORT=str(master := free_port()),
            LOCUST_MASTER_NODE_PORT=str(master),
        )
        for name in ("VMSIM_ADMIN_TOKEN", "VMSIM_ADMIN_TOKEN_FILE", "VMSIM_LAB_TOKEN"):
            self.env.pop(name, None)
        self.background: list[tuple[str, subprocess.Popen[str]]] = []
        self.dashboard_port = free_port()

    def as_written(self, text: str) -> str:
        """*text* with its addresses and ports pointed at this block's server."""
        for address in ("127.0.0.1:50051", "HOST:PORT", "SERVER:50051"):
            text = text.replace(address, self.address)
        text = text.replace("MASTER_HOST", "127.0.0.1")
        return text.replace("--port 8080", f"--port {self.dashboard_port}")

    def run(self, command: Command) -> None:
        text = self.as_written(command.text)
        if assignment := ASSIGNMENT.match(text):
            name = assignment.group(1)
            value = self._bash(f'{text}; printf %s "${name}"').stdout
            assert value, (command.text, "set nothing")
            self.env[name] = value
        elif text.endswith("&"):
            self._start(command.text, text[:-1].strip())
        elif command.text.startswith(FOLLOWERS):
            self._follow(command.text, text)
        elif command.session:
            self._session(command)
        else:
            done = self._bash(text, EXIT_STATUS.get(command.text, 0))
            assert "Traceback" not in done.stderr, (command.text, done.stderr[-2000:])

    def _bash(self, text: str, status: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", text],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == status, (text, done.stdout[-2000:], done.stderr[-2000:])
        return done

    def _start(self, name: str, text: str) -> subprocess.Popen[str]:
        log = (self.cwd / f"background-{len(self.background)}.log").open("w")
        process = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.background.append((name, process))
        if text.startswith("vmsim server"):
            self._wait_for_server(process)
        return process

    def _wait_for_server(self, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, self._log(process)
            with (
                contextlib.suppress(vmsim.Unavailable, vmsim.DeadlineExceeded),
                vmsim.Inspector(self.address, timeout=2) as inspector,
            ):
                inspector.meminfo()
                return
            time.sleep(0.2)
        raise AssertionError(f"no server at {self.address}")

    def _log(self, process: subprocess.Popen[str]) -> str:
        index = [p for _, p in self.background].index(process)
        return (self.cwd / f"background-{index}.log").read_text()[-3000:]

    def _follow(self, name: str, text: str) -> None:
        """A command that runs until Ctrl-C: started, watched doing its work."""
        process = self._start(name, text)
        if name.startswith("vmsim dashboard"):
            url = f"http://127.0.0.1:{self.dashboard_port}/api/snapshot"
            deadline = time.monotonic() + 60
            while "meminfo" not in (snapshot := json.loads(_get(url, process))):
                assert time.monotonic() < deadline, snapshot
                time.sleep(0.3)
        elif "--worker" in name:
            self._swarm(process)
        else:
            time.sleep(3)
        assert process.poll() is None, (name, self._log(process))

    def _swarm(self, worker: subprocess.Popen[str]) -> None:
        """Start users from the master's web UI; the worker runs them against the server."""
        web = f"http://127.0.0.1:{self.env['LOCUST_WEB_PORT']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = json.loads(_get(f"{web}/stats/requests", worker))
            if state.get("workers") and state["workers"][0]["state"] == "ready":
                break
            time.sleep(0.5)
        form = b"user_count=2&spawn_rate=2&host=" + self.address.encode()
        urllib.request.urlopen(f"{web}/swarm", data=form, timeout=10).close()
        while time.monotonic() < deadline:
            stats = json.loads(_get(f"{web}/stats/requests", worker))["stats"]
            if any(row["name"] == "TouchMany" and row["num_requests"] > 0 for row in stats):
                assert all(row["num_failures"] == 0 for row in stats), stats
                return
            time.sleep(0.5)
        raise AssertionError(f"the worker ran no request: {self._log(worker)}")

    def _session(self, command: Command) -> None:
        """An interactive command fed the README's typed lines; it prints the README's lines."""
        typed = [line.split("> ", 1)[1] for line in command.session if line.startswith("vmsim[")]
        shown = [line for line in command.session if not line.startswith("vmsim[")]
        done = subprocess.run(
            ["bash", "-c", self.as_written(command.text)],
            input="\n".join(typed) + "\n",
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert (self.home / ".vmsim_history").exists()  # written in the block's own home
        printed = " ".join(done.stdout.split())
        for line in shown:
            assert " ".join(line.split()) in printed, (line, done.stdout)

    def stop(self) -> None:
        """Ctrl-C for what still runs, last started first (a Locust master before its workers,
        which it stops; servers last); each must end without a traceback. Everything is stopped
        before any of that is asserted, so a failure leaves no process behind."""

        def order(item: tuple[str, subprocess.Popen[str]]) -> int:
            words = item[0].split()
            return 0 if "--master" in words else 2 if item[0].startswith("vmsim server") else 1

        failures = []
        for name, process in sorted(reversed(self.background), key=order):
            if process.poll() is None:
                process.send_signal(
                    signal.SIGINT if not name.startswith("vmsim server") else signal.SIGTERM
                )
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
                    failures.append(f"{name} did not stop on Ctrl-C")
            if "Traceback" in self._log(process):
                failures.append(f"{name} printed a traceback:\n{self._log(process)}")
        assert not failures, "\n".join(failures)


def _get(url: str, process: subprocess.Popen[str], seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return str(reply.read().decode())
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.3)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    """A directory as the README's reader has it: the project's venv and bench/, lab.toml."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "bench").symlink_to(ROOT / "bench")
    toml = [body for language, body in FENCE.findall(README) if language == "toml"]
    (tmp_path / "lab.toml").write_text(toml[0])
    running = Shell(tmp_path)
    yield running
    running.stop()


BLOCKS = sorted({c.block for c in readme_commands() if c.text not in ELSEWHERE})


@pytest.mark.subprocess
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{b}" for b in BLOCKS])
def test_the_block_runs_as_written(block: int, shell: Shell) -> None:
    commands = [c for c in readme_commands() if c.block == block]
    if not any(c.text.startswith("vmsim server") for c in commands):
        shell.run(Command(block, TOUR_SERVER + " &"))
    for command in commands:
        if command.text not in ELSEWHERE:
            shell.run(command)


@pytest.mark.subprocess
def test_the_commands_with_a_pid_run_on_a_live_process(shell: Shell) -> None:
    shell.run(Command(-1, TOUR_SERVER + " --admin-token-file admin.token &"))
    shell.env["VMSIM_ADMIN_TOKEN_FILE"] = "admin.token"
    with vmsim.connect(shell.address, name="reader") as proc:
        start = proc.mmap(16 * vmsim.MiB)
        assert start == 0xB7000000  # the address the README's commands walk
        proc.touch_many(range(start, start + vmsim.MiB, vmsim.PAGE_SIZE), write=True)
        texts = [t for t, where in ELSEWHERE.items() if where == PID_TEST]
        for text in sorted(texts, key=lambda t: t.startswith("vmsim kill")):  # kill last
            forms = (text.replace(" [--smaps]", ""), text.replace("[--smaps]", "--smaps"))
            for form in dict.fromkeys(forms):
                shell.run(Command(-1, form.replace("PID", str(proc.pid))))
        with pytest.raises(vmsim.ProcessKilled, match="killed by admin"):
            proc.brk()


@pytest.mark.subprocess
def test_the_python_example_runs_as_written(shell: Shell) -> None:
    shell.run(Command(-1, TOUR_SERVER + " &"))
    (example,) = [body for language, body in FENCE.findall(README) if language == "python"]
    code = shell.as_written(example)
    assert code != example  # it names the README's address, now this block's server
    namespace: dict[str, Any] = {"__name__": "readme"}
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["summary"].minor > 0  # (the example asserts what it reads back itself)


@pytest.mark.subprocess
def test_bench_run_all_as_written_runs_outside_the_venv(tmp_path: Path) -> None:
    """`python bench/run_all.py` from a python without vmsim's packages (-S: no site-packages)
    re-executes itself in the project's .venv instead of failing on an import."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("run_all.py re-executes in the checkout's .venv, which this run lacks")
    outside = Path(sys.base_prefix) / "bin" / "python3"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(outside), "-S", "bench/run_all.py", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--quick" in done.stdout and "--only" in done.stdout


LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of *markdown* (lower case, punctuation dropped)."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", ["README.md", "docs/architecture.md", "docs/operations.md"])
def test_every_link_between_the_readme_and_the_docs_leads_somewhere(page: str) -> None:
    """The README links to the guides that took its operations and design sections; a link
    to a file that moved, or to a heading that was renamed, fails here."""
    path = ROOT / page
    links = [link for link in LINK.findall(path.read_text()) if "://" not in link]
    assert links, f"{page} links to nothing"
    for link in links:
        target, _, anchor = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        assert resolved.exists(), f"{page}: {link} leads to no file"
        if anchor:
            assert anchor in heading_anchors(resolved.read_text()), f"{page}: no heading #{anchor}"
