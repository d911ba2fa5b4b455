"""A network namespace of its own, joined to this one by a veth pair, for chaos tests that cut a
process off the network: ``ip netns`` (root only).

Each one has names of its own (``onthedot-<hex>``, ``otdh<hex>`` on this side, ``otdn<hex>``
inside) and a private /30 of its own in 10.231.0.0/16, one no interface here uses yet: this side
is ``host_address``, the namespace's side ``inner_address``. Nothing else is routed: a process in
the namespace reaches only the servers listening on ``host_address``. ``cut()`` takes this end of
the pair down (the cable pulled: the namespace's packets go nowhere), ``mend()`` brings it back. The namespace and both ends
of the pair are removed on exit, whatever happened (and each step undone if making it failed).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import uuid
from types import TracebackType
from typing import Self

SUBNET = "10.231"
MEND_S = 10.0


def unavailable() -> str | None:
    """Why no namespace can be made here (not root, no ``ip``), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns)"
    if shutil.which("ip") is None:
        return "ip is not installed (apt-get install iproute2)"
    return None


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _free_slash_30() -> tuple[str, str]:
    """(this side, the namespace's side) of a /30 in 10.231.0.0/16 no interface here has."""
    used = _ip("-4", "-o", "addr", "show")
    for _ in range(100):
        third, fourth = random.randrange(256), random.randrange(0, 256, 4)
        if f" {SUBNET}.{third}." not in used:
            return f"{SUBNET}.{third}.{fourth + 1}", f"{SUBNET}.{third}.{fourth + 2}"
    raise RuntimeError(f"no free /30 in {SUBNET}.0.0/16")


class VethNamespace:
    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.name = f"onthedot-{suffix}"
        self.host_if, self.inner_if = f"otdh{suffix}", f"otdn{suffix}"
        self.host_address, self.inner_address = _free_slash_30()
        self.is_cut = False

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def __enter__(self) -> Self:
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if)
            _ip("link", "set", self.inner_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            inside = ("netns", "exec", self.name, "ip")
            _ip(*inside, "addr", "add", f"{self.inner_address}/30", "dev", self.inner_if)
            _ip(*inside, "link", "set", self.inner_if, "up")
            _ip(*inside, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def cut(self) -> None:
        """Take this end of the pair down: nothing the namespace sends arrives any more."""
        _ip("link", "set", self.host_if, "down")
        self.is_cut = True

    def mend(self) -> None:
        """Bring it up again, and return once the kernel says both ends carry packets (a link
        set up is first "lower layer down" until the carrier is seen, which a busy machine can
        take a while to do)."""
        if self.is_cut:
            _ip("link", "set", self.host_if, "up")
            self.is_cut = False
            deadline = time.monotonic() + MEND_S
            while not self._carries():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.host_if} was set up but not running {MEND_S} s on")
                time.sleep(0.02)

    def _carries(self) -> bool:
        inside = ("netns", "exec", self.name, "ip")
        shown = _ip("link", "show", self.host_if), _ip(*inside, "link", "show", self.inner_if)
        return all("LOWER_UP" in one and " state UP " in one for one in shown)

    def remove(self) -> None:
        """Remove the namespace (its end of the pair goes with it) and this end; idempotent."""
        for argv in (["netns", "del", self.name], ["link", "del", self.host_if]):
            subprocess.run(["ip", *argv], capture_output=True, timeout=10)
