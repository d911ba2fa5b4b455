"""The one base class every real server in the harness shares.

A subclass says what to write (``_prepare``), what to run (``_command``) and when it is ready
(``_ready``); the base gives it a private temp dir, starts it in its own session on 127.0.0.1,
waits up to ``start_timeout`` seconds, and on ``stop()`` kills the whole process tree (children
that called ``setsid`` included), releases its ports and deletes the dir. Anything still running
at interpreter exit is stopped by an ``atexit`` hook, and servers started from the main thread
get ``PR_SET_PDEATHSIG`` (via ``setpriv``) so they die with the test process even on SIGKILL.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from onthedot.sandbox import janitor
from onthedot.sandbox.ports import free_port, free_port_range, release_port, reserve

HOST = "127.0.0.1"
_RUNNING: set[ServerProcess] = set()
_swept = False


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its logs."""


def _proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, session id, state) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[3]), fields[0]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_tree(root: int) -> set[int]:
    """Live pids of ``root``, its descendants and anything in its session (zombies excluded)."""
    stats = {pid: st for pid in _all_pids() if (st := _proc_stat(pid)) is not None}
    found = {pid for pid, (_, sid, _) in stats.items() if sid == root}
    found.add(root)
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in stats.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return {pid for pid in found if pid in stats and stats[pid][2] != "Z"}


def is_alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[2] != "Z"


def _snapshot(pids: set[int]) -> dict[int, str | None]:
    return {pid: janitor.start_time(pid) for pid in pids}


def _survivors(known: dict[int, str | None]) -> dict[int, str | None]:
    """The processes of ``known`` still running (same pid *and* start time, not zombies)."""
    return {p: t for p, t in known.items() if is_alive(p) and janitor.start_time(p) == t}


def kill_tree(
    proc: subprocess.Popen[bytes], grace: float, first: signal.Signals = signal.SIGTERM
) -> None:
    """Send ``first`` to the process tree of ``proc``, SIGKILL whatever outlives ``grace`` s.

    Processes are remembered with their start time, so a pid reused meanwhile is never hit.
    """
    known = _snapshot(process_tree(proc.pid))
    for sig in dict.fromkeys((first, signal.SIGKILL)):
        for pid in _survivors(known):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig != signal.SIGKILL else 5.0)
        while time.monotonic() < deadline and _survivors(known):
            proc.poll()
            time.sleep(0.01)
        if proc.poll() is None:  # still our child: its pid cannot have been reused
            known |= _snapshot(process_tree(proc.pid))
        known = _survivors(known)
        if not known:
            break
    proc.wait(timeout=5)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path.name}: not written)"
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return f"--- {path.name} ---\n{tail or '(empty)'}"


def tcp_ready(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def banner_ready(port: int, prefix: bytes, host: str = HOST) -> bool:
    """True when host:port accepts a connection and greets with ``prefix`` (FTP, SSH)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            return sock.recv(256).startswith(prefix)
    except OSError:
        return False


class ServerProcess:
    """A real server running as a subprocess on 127.0.0.1 with its own ports and temp dir."""

    name: ClassVar[str] = "server"
    binary: ClassVar[str] = ""
    apt_package: ClassVar[str] = ""
    start_timeout: ClassVar[float] = 10.0
    stop_grace: ClassVar[float] = 3.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    host: str = HOST

    def __init__(self) -> None:
        self.dir = Path()
        self.port = 0
        self.wanted_port: int | None = None  # its main port if free (the demo's 8080), else any
        self._ports: list[int] = []
        self._proc: subprocess.Popen[bytes] | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def _prepare(self) -> None:
        """Write config files into ``self.dir`` (ports are already allocated)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _ready(self) -> bool:
        return tcp_ready(self.port)

    def _log_files(self) -> list[Path]:
        return []

    def _cleanup(self) -> None:
        """Undo anything done outside ``self.dir`` (called by stop, must be idempotent)."""

    # -- ports -------------------------------------------------------------------------------
    def _take_port(self, wanted: int | None = None) -> int:
        port = wanted if wanted is not None and reserve(wanted) else free_port()
        self._ports.append(port)
        return port

    def _take_ports(self, count: int) -> list[int]:
        ports = free_port_range(count)
        self._ports.extend(ports)
        return ports

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._proc.pid

    def start(self) -> Self:
        """Start the server and wait until it answers; retry on a port lost to a race."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} is already started")
        for attempt in range(3):
            try:
                self._start_once()
                return self
            except ServerStartError as exc:
                self.stop()
                if "in use" not in str(exc).lower() or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        global _swept
        if not _swept:
            _swept = True
            janitor.sweep()
        self.dir = Path(tempfile.mkdtemp(prefix=f"onthedot-{self.name}-"))
        (self.dir / janitor.OWNER_FILE).write_text(janitor.identity(os.getpid()))
        self.port = self._take_port(self.wanted_port)
        self._prepare()
        command = self._command()
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
        with (self.dir / "console.log").open("wb") as console:
            self._proc = subprocess.Popen(
                command,
                cwd=self.dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _RUNNING.add(self)
        (self.dir / janitor.SERVER_FILE).write_text(janitor.identity(self._proc.pid))
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise ServerStartError(self._failure(f"exited with code {code} while starting"))
            if self._ready():
                return
            time.sleep(0.02)
        raise ServerStartError(self._failure(f"was not ready within {self.start_timeout:.0f} s"))

    def _failure(self, what: str) -> str:
        tails = "\n".join(log_tail(p) for p in [self.dir / "console.log", *self._log_files()])
        return f"{self.name} on {self.host}:{self.port} {what}; its logs follow.\n{tails}"

    def stop(self) -> None:
        """Stop the server and everything it spawned, free its ports, delete its temp dir."""
        if self._proc is not None:
            kill_tree(self._proc, self.stop_grace, self.stop_signal)
            self._proc = None
        self._cleanup()
        for port in self._ports:
            release_port(port)
        self._ports.clear()
        if self.dir.name.startswith("onthedot-"):
            shutil.rmtree(self.dir, ignore_errors=True)
        _RUNNING.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.dir}>"


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()
