"""Free loopback ports that no other test process picks at the same time.

Ports come from 20000–32767, below Linux's ephemeral range (32768+), so an outgoing connection
never takes a port we are about to hand to a server. Each port handed out is locked with
``flock`` on a file in ``/tmp/onthedot-ports`` until :func:`release_port` (or process exit), so
pytest-xdist workers and benchmarks running side by side never get the same one.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import threading
from pathlib import Path

LOCK_DIR = Path("/tmp/onthedot-ports")
LOW, HIGH = 20000, 32767

_held: dict[int, int] = {}  # port -> fd of its lock file
_mutex = threading.Lock()


def _bindable(port: int) -> bool:
    """True when nothing listens on (or is bound to) 127.0.0.1:port, TCP and UDP."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _try_lock(port: int) -> bool:
    LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held[port] = fd
    return True


def _claim(port: int) -> bool:
    if port in _held or not _try_lock(port):
        return False
    if _bindable(port):
        return True
    release_port(port)
    return False


def reserve(port: int) -> bool:
    """Reserve this very port (e.g. 8080, outside the range handed out) if it is free."""
    with _mutex:
        return _claim(port)


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1, reserved for this process until released."""
    return free_port_range(1)[0]


def free_port_range(count: int) -> list[int]:
    """Return ``count`` consecutive free ports on 127.0.0.1 (e.g. an FTP passive range)."""
    with _mutex:
        for _ in range(500):
            first = random.randrange(LOW, HIGH - count)
            claimed: list[int] = []
            for port in range(first, first + count):
                if not _claim(port):
                    break
                claimed.append(port)
            if len(claimed) == count:
                return claimed
            for port in claimed:
                release_port(port)
    raise RuntimeError(f"No {count} free consecutive port(s) on 127.0.0.1 after 500 tries.")


def release_port(port: int) -> None:
    """Give a port handed out by :func:`free_port` back to the pool (idempotent)."""
    fd = _held.pop(port, None)
    if fd is not None:
        os.close(fd)  # closing drops the flock; the lock file stays for reuse
