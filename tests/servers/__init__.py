"""Real servers (nginx, Varnish, vsftpd, sshd, moto, Squid, Traffic Server) for tests/benchmarks.

Each runs as a subprocess on 127.0.0.1 with free ports and its own temp dir; see README.md.
"""

from __future__ import annotations

from tests.servers.base import ServerProcess, ServerStartError
from tests.servers.moto import MotoS3
from tests.servers.nginx import Nginx, NginxCache
from tests.servers.ports import free_port, free_port_range, release_port
from tests.servers.squid import Squid
from tests.servers.sshd import Sshd
from tests.servers.trafficserver import TrafficServer
from tests.servers.varnish import Varnish
from tests.servers.vsftpd import Vsftpd

__all__ = [
    "MotoS3",
    "Nginx",
    "NginxCache",
    "ServerProcess",
    "ServerStartError",
    "Squid",
    "Sshd",
    "TrafficServer",
    "Varnish",
    "Vsftpd",
    "free_port",
    "free_port_range",
    "release_port",
]
