"""The network namespace of a chaos test: reached only over its veth pair, cut and mended at
will, and gone afterwards even when the test inside failed."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from tests.servers.netns import VethNamespace, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"{unavailable()}")


def _reaches(ns: VethNamespace, host: str, port: int, timeout: float = 1) -> bool:
    code = (
        f"import socket; socket.create_connection(({host!r}, {port}), timeout={timeout}).close()"
    )
    tried = subprocess.run(
        ns.command([sys.executable, "-c", code]), capture_output=True, timeout=timeout + 10
    )
    return tried.returncode == 0


def _accept_twice(server: socket.socket) -> None:
    for _ in range(2):
        server.accept()[0].close()


def test_only_this_side_of_the_pair_is_reachable_and_a_cut_stops_it() -> None:
    with VethNamespace() as ns, socket.create_server((ns.host_address, 0)) as here:
        port = here.getsockname()[1]
        accepting = threading.Thread(target=_accept_twice, args=(here,), daemon=True)
        accepting.start()
        with socket.create_server(("127.0.0.1", 0)) as loopback:
            assert not _reaches(ns, "127.0.0.1", loopback.getsockname()[1])  # (its own loopback)
        assert _reaches(ns, ns.host_address, port)
        ns.cut()
        assert not _reaches(ns, ns.host_address, port)
        ns.mend()
        # A connection's first packet can still be lost while the mended link settles (the
        # neighbour entry the cut left failed is looked up again); TCP sends it again after a
        # second, so this attempt waits long enough for that.
        assert _reaches(ns, ns.host_address, port, timeout=5)
        accepting.join(timeout=5)


def test_the_namespace_and_its_pair_are_removed_even_when_the_test_fails() -> None:
    with pytest.raises(RuntimeError, match="the test failed"), VethNamespace() as ns:
        raise RuntimeError("the test failed")
    assert (
        ns.name
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    shown = subprocess.run(["ip", "link", "show", ns.host_if], capture_output=True)
    assert shown.returncode != 0
