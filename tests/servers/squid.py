"""Squid as a reverse proxy (accelerator) in front of one origin, memory cache only.

Freshness follows Squid's rules: the origin's Cache-Control/Expires first, then the
``refresh_pattern`` lines. By default these are the four Debian ships in
``/etc/squid/squid.conf`` (:data:`DEBIAN_REFRESH_PATTERNS`): without explicit freshness an
object is fresh for 20 % of its Last-Modified age, at most 4320 minutes (3 days), and URLs
with ``?`` or ``/cgi-bin/`` are not heuristically cached. Pass ``refresh_patterns=[...]`` to put
your own lines *before* them (first match wins), or ``extra_conf`` for anything else.

Responses carry Squid's ``X-Cache: HIT|MISS from <host>``, ``Age`` and ``Via``. No disk cache
(``squid -z`` would cost seconds), no DNS (``never_direct``; resolver pointed at 127.0.0.1).
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Sequence
from pathlib import Path

from tests.servers.base import ServerProcess, tcp_ready

DEBIAN_REFRESH_PATTERNS: tuple[str, ...] = (
    r"^ftp:		1440	20%	10080",
    r"^gopher:	1440	0%	1440",
    r"-i (/cgi-bin/|\?) 0	0%	0",
    r".		0	20%	4320",
)

_CONF = """\
http_port {host}:{port} accel defaultsite={host}:{backend_port} vhost
cache_peer {backend_host} parent {backend_port} 0 no-query no-digest originserver name=origin
cache_peer_access origin allow all
never_direct allow all
http_access allow all
icp_port 0
htcp_port 0
snmp_port 0
pinger_enable off
dns_nameservers 127.0.0.1
visible_hostname onthedot-squid
cache_effective_user proxy
cache_mem 64 MB
maximum_object_size_in_memory 8 MB
memory_cache_shared off
workers 1
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log stdio:{dir}/access.log
cache_store_log none
coredump_dir {dir}
netdb_filename none
shutdown_lifetime 0 seconds
via on
{refresh}
{extra}
"""


class Squid(ServerProcess):
    """``squid -N`` accelerating backend_host:backend_port on 127.0.0.1:port."""

    name = "squid"
    binary = "/usr/sbin/squid"
    apt_package = "squid"
    # SIGTERM costs Squid ~2 s however short shutdown_lifetime is; with a memory-only cache
    # and logs in a dir we delete anyway there is nothing to lose by SIGKILL.
    stop_signal = signal.SIGKILL

    def __init__(
        self,
        backend_host: str,
        backend_port: int,
        refresh_patterns: Sequence[str] = (),
        extra_conf: str = "",
    ) -> None:
        super().__init__()
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.refresh_patterns = [*refresh_patterns, *DEBIAN_REFRESH_PATTERNS]
        self.extra_conf = extra_conf

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def conf_path(self) -> Path:
        return self.dir / "squid.conf"

    def _prepare(self) -> None:
        refresh = "\n".join(f"refresh_pattern {line}" for line in self.refresh_patterns)
        self.conf_path.write_text(
            _CONF.format(
                host=self.host,
                port=self.port,
                backend_host=self.backend_host,
                backend_port=self.backend_port,
                dir=self.dir,
                refresh=refresh,
                extra=self.extra_conf,
            )
        )
        # Squid drops root for `proxy` and must still write its logs and pid here.
        for path in (self.dir, self.conf_path):
            shutil.chown(path, "proxy", "proxy")

    def _command(self) -> list[str]:
        return [self.binary, "-N", "-d", "1", "-f", str(self.conf_path)]

    def _ready(self) -> bool:
        return tcp_ready(self.port)

    def _log_files(self) -> list[Path]:
        return [self.dir / "cache.log"]
