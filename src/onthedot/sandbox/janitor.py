"""Clean up after test processes that died without stopping their servers (SIGKILL, os._exit).

Every server dir records its owner (the test process) and its server process, each as
``pid start-time`` so a reused pid is never mistaken for them. The first ``start()`` in a
process sweeps ``/tmp/onthedot-*`` dirs whose owner is gone: it SIGKILLs what is left of the
server (its whole session; Squid and vsftpd sessions drop root, which clears PDEATHSIG),
removes the PAM service named after the dir and deletes the dir. Live owners are never touched,
so parallel xdist workers are safe.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

from onthedot.sandbox import pam

OWNER_FILE = "onthedot-owner"
SERVER_FILE = "onthedot-server"


def start_time(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[19]


def identity(pid: int) -> str:
    """``"pid start-time"`` of a live process."""
    return f"{pid} {start_time(pid)}"


def _same_process(recorded: Path) -> int | None:
    """The pid recorded in a file if that very process still runs, else None."""
    try:
        pid_text, start = recorded.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if start_time(pid) == start else None


def _kill_session(pid: int) -> None:
    from onthedot.sandbox.base import process_tree  # base imports this module

    for member in process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def sweep() -> list[Path]:
    """Remove the leftovers of dead test processes; return the dirs removed."""
    removed: list[Path] = []
    for path in Path(tempfile.gettempdir()).glob("onthedot-*"):
        owner_file = path / OWNER_FILE
        if not owner_file.exists() or _same_process(owner_file) is not None:
            continue
        server = _same_process(path / SERVER_FILE)
        if server is not None:
            _kill_session(server)
        pam.remove_service(path.name)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
