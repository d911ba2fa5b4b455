"""Apache Traffic Server 9.2 (Debian) as a reverse proxy cache in front of one origin.

``traffic_server`` runs directly (no traffic_manager) with a *runroot*: a ``runroot.yaml``
in the temp dir (passed as ``TS_RUNROOT``) points sysconfdir, runtimedir, logdir and cachedir
into the temp dir while binaries and plugins stay in /usr. ``records.config`` is Debian's
shipped file (``/etc/trafficserver/records.config``, so its caching defaults apply: e.g.
``required_headers 2`` — only responses with explicit freshness are cached, and
``heuristic_min_lifetime 3600``) with test overrides appended (last value wins): the port,
no user switch, 1 thread, no DNS, no logging to disk, ``Via`` on responses.
``records``, e.g. ``{"proxy.config.http.cache.required_headers": "INT 0"}``, appends more.
``remap.config`` maps everything to the origin. Cache: a 32 MB file in the temp dir.

Responses carry ``Age`` and ``Via: ... (ApacheTrafficServer/9.2.x [cHs f ])`` — the bracketed
code says hit (``cH``) or miss (``cM``); decode it with ``traffic_via``. ``PURGE /path`` from
127.0.0.1 drops one URL (Debian's ip_allow.yaml allows it from loopback).
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from tests.servers.base import ServerProcess, tcp_ready

ETC = Path("/etc/trafficserver")
COPIED = (
    "body_factory",
    "cache.config",
    "hosting.config",
    "ip_allow.yaml",
    "logging.yaml",
    "parent.config",
    "plugin.config",
    "sni.yaml",
    "socks.config",
    "splitdns.config",
    "ssl_multicert.config",
    "strategies.yaml",
    "volume.config",
)

_RUNROOT = """\
prefix: /usr
exec_prefix: /usr
bindir: /usr/bin
sbindir: /usr/sbin
includedir: /usr/include
libdir: /usr/lib/trafficserver
libexecdir: /usr/lib/trafficserver/modules
sysconfdir: {dir}/etc
datadir: {dir}/cache
localstatedir: {dir}
runtimedir: {dir}/run
logdir: {dir}/log
cachedir: {dir}/cache
"""

_OVERRIDES = """
# --- onthedot test overrides (the last value of a record wins) ---
CONFIG proxy.config.http.server_ports STRING {port}:ip-in={host}
CONFIG proxy.config.admin.user_id STRING #-1
CONFIG proxy.config.crash_log_helper STRING NULL
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.accept_threads INT 0
CONFIG proxy.config.cache.threads_per_disk INT 1
CONFIG proxy.config.dns.nameservers STRING 127.0.0.1
CONFIG proxy.config.dns.resolv_conf STRING NULL
CONFIG proxy.config.log.logging_enabled INT 0
CONFIG proxy.config.http.insert_response_via_str INT 2
CONFIG proxy.config.http.cache.http INT 1
CONFIG proxy.config.reverse_proxy.enabled INT 1
CONFIG proxy.config.url_remap.remap_required INT 1
"""


class TrafficServer(ServerProcess):
    """``traffic_server`` caching backend_host:backend_port on 127.0.0.1:port."""

    name = "trafficserver"
    binary = "/usr/bin/traffic_server"
    apt_package = "trafficserver"
    # SIGTERM costs ATS ~1 s of shutdown; its cache lives in a temp dir we delete anyway.
    stop_signal = signal.SIGKILL

    def __init__(
        self,
        backend_host: str,
        backend_port: int,
        records: Mapping[str, str] | None = None,
        cache_size_mb: int = 32,
    ) -> None:
        super().__init__()
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.records = dict(records or {})
        self.cache_size_mb = cache_size_mb

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    def _records(self) -> str:
        shipped = (ETC / "records.config").read_text()
        extra = "".join(f"CONFIG {key} {value}\n" for key, value in self.records.items())
        return shipped + _OVERRIDES.format(port=self.port, host=self.host) + extra

    def _prepare(self) -> None:
        for sub in ("etc", "run", "log", "cache"):
            (self.dir / sub).mkdir()
        for name in COPIED:
            source = ETC / name
            if source.is_dir():
                shutil.copytree(source, self.etc / name)
            elif source.exists():
                shutil.copyfile(source, self.etc / name)
        (self.etc / "records.config").write_text(self._records())
        origin = f"http://{self.backend_host}:{self.backend_port}/"
        (self.etc / "remap.config").write_text(f"map / {origin}\n")
        cache = self.dir / "cache"
        (self.etc / "storage.config").write_text(f"{cache} {self.cache_size_mb}M\n")
        (self.dir / "runroot.yaml").write_text(_RUNROOT.format(dir=self.dir))

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env["TS_RUNROOT"] = str(self.dir / "runroot.yaml")
        return env

    def _command(self) -> list[str]:
        return [self.binary]

    def _ready(self) -> bool:
        diags = self.dir / "log" / "diags.log"
        try:
            initialized = "fully initialized" in diags.read_text(errors="replace")
        except OSError:
            return False
        return initialized and tcp_ready(self.port)

    def _log_files(self) -> list[Path]:
        return [self.dir / "log" / "diags.log"]
