"""nginx as the origin (serving a webroot) or as a cache in front of an upstream (proxy_cache).

Per-path caching headers: ``headers={"/statistics/": {"Cache-Control": "max-age=3600"}}``
renders ``location /statistics/ { add_header Cache-Control "max-age=3600" always; }`` (a
prefix location; ``"= /x"`` or ``"~ regex"`` keys pass through as nginx location modifiers), and
``expires={"/static/": "1h"}`` adds nginx's ``expires`` there (Expires + Cache-Control max-age).
nginx's own defaults are kept: ETag and Last-Modified from the file, no Cache-Control unless
asked. Values are nginx strings, so ``$variables`` work. Paths without an entry get no extra
headers. ``extra_server_conf`` is pasted verbatim inside ``server { }``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from onthedot.sandbox.base import ServerProcess, tcp_ready
from onthedot.sandbox.tls import copy_cert

HeaderMap = Mapping[str, Mapping[str, str]]

_HTTP_TEMPLATE = """\
worker_processes {workers};
daemon off;
master_process on;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 4096; }}
worker_rlimit_nofile 10000;
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    sendfile on;
    keepalive_timeout 30;
{http_extra}
    server {{
        listen {host}:{port};
{tls}
        server_name localhost;
{server_body}
{locations}
{extra}
    }}
}}
"""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _NginxBase(ServerProcess):
    binary = "/usr/sbin/nginx"
    apt_package = "nginx"

    def __init__(
        self,
        *,
        headers: HeaderMap | None = None,
        expires: Mapping[str, str] | None = None,
        extra_server_conf: str = "",
        tls: bool = False,
        workers: int = 1,
    ) -> None:
        super().__init__()
        self.workers = workers
        self.headers: HeaderMap = headers or {}
        self.expires: Mapping[str, str] = expires or {}
        self.extra_server_conf = extra_server_conf
        self.tls = tls
        self.tls_port = 0
        self.cert_path = Path()

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:24567``."""
        return f"http://{self.host}:{self.port}"

    @property
    def https_url(self) -> str:
        """HTTPS base URL (``tls=True`` only); trust ``cert_path`` as the CA."""
        if not self.tls:
            raise RuntimeError("start nginx with tls=True to get an https_url")
        return f"https://{self.host}:{self.tls_port}"

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    def _common_location_lines(self) -> list[str]:
        return []

    def _server_body(self) -> str:
        return ""

    def _http_extra(self) -> str:
        return ""

    def _location(self, prefix: str) -> str:
        lines = list(self._common_location_lines())
        if prefix in self.expires:
            lines.append(f"expires {self.expires[prefix]};")
        for name, value in self.headers.get(prefix, {}).items():
            lines.append(f"add_header {name} {_quote(value)} always;")
        body = "\n".join(f"            {line}" for line in lines)
        return f"        location {prefix} {{\n{body}\n        }}"

    def _locations(self) -> str:
        prefixes = sorted(set(self.headers) | set(self.expires))
        if not any(p in ("/", "^~ /") for p in prefixes) and self._common_location_lines():
            prefixes.append("/")
        return "\n".join(self._location(p) for p in prefixes)

    def _tls_lines(self) -> str:
        if not self.tls:
            return ""
        self.tls_port = self._take_port()
        pair = copy_cert(self.dir)
        self.cert_path = pair.cert
        return (
            f"        listen {self.host}:{self.tls_port} ssl;\n"
            f"        ssl_certificate {pair.cert};\n        ssl_certificate_key {pair.key};"
        )

    def _prepare(self) -> None:
        (self.dir / "tmp").mkdir()
        conf = _HTTP_TEMPLATE.format(
            dir=self.dir,
            workers=self.workers,
            host=self.host,
            port=self.port,
            tls=self._tls_lines(),
            http_extra=self._http_extra(),
            server_body=self._server_body(),
            locations=self._locations(),
            extra=self.extra_server_conf,
        )
        (self.dir / "nginx.conf").write_text(conf)

    def _command(self) -> list[str]:
        conf = self.dir / "nginx.conf"
        return [
            self.binary,
            "-p",
            str(self.dir),
            "-e",
            str(self.dir / "error.log"),
            "-c",
            str(conf),
        ]

    def _ready(self) -> bool:
        return tcp_ready(self.port, self.host) and (
            not self.tls or tcp_ready(self.tls_port, self.host)
        )

    def _log_files(self) -> list[Path]:
        return [self.dir / "error.log"]


class Nginx(_NginxBase):
    """nginx serving ``webroot`` over HTTP (and HTTPS with ``tls=True``) on 127.0.0.1."""

    name = "nginx"

    def __init__(
        self,
        webroot: Path,
        extra_server_conf: str = "",
        *,
        headers: HeaderMap | None = None,
        expires: Mapping[str, str] | None = None,
        tls: bool = False,
        workers: int = 1,
    ) -> None:
        super().__init__(
            headers=headers,
            expires=expires,
            extra_server_conf=extra_server_conf,
            tls=tls,
            workers=workers,
        )
        self.webroot = Path(webroot).resolve()

    def _server_body(self) -> str:
        return f"        root {self.webroot};\n        autoindex off;"


class NginxCache(_NginxBase):
    """nginx as a caching reverse proxy (``proxy_cache``) in front of backend_host:backend_port.

    Every response carries ``X-Cache-Status: MISS|HIT|EXPIRED|STALE|BYPASS|...``. nginx honours
    the upstream's Cache-Control/Expires; ``proxy_cache_valid`` (e.g. ``["200 302 10m",
    "404 1m"]``) applies only to responses without them, as in nginx.
    """

    name = "nginx-cache"

    def __init__(
        self,
        backend_host: str,
        backend_port: int,
        proxy_cache_valid: Sequence[str] = ("200 301 302 10m", "404 1m"),
        *,
        headers: HeaderMap | None = None,
        expires: Mapping[str, str] | None = None,
        extra_server_conf: str = "",
        tls: bool = False,
        workers: int = 1,
    ) -> None:
        super().__init__(
            headers=headers,
            expires=expires,
            extra_server_conf=extra_server_conf,
            tls=tls,
            workers=workers,
        )
        self.backend = f"{backend_host}:{backend_port}"
        self.proxy_cache_valid = list(proxy_cache_valid)

    def _http_extra(self) -> str:
        return (
            f"    proxy_cache_path {self.dir}/cache levels=1:2 keys_zone=onthedot:4m"
            " max_size=256m inactive=1d use_temp_path=off;"
        )

    def _server_body(self) -> str:
        lines = ["proxy_cache onthedot;", "proxy_http_version 1.1;"]
        lines += [f"proxy_cache_valid {rule};" for rule in self.proxy_cache_valid]
        return "\n".join(f"        {line}" for line in lines)

    def _common_location_lines(self) -> list[str]:
        # add_header in a location replaces the server's, so every location repeats it.
        return [
            f"proxy_pass http://{self.backend};",
            "add_header X-Cache-Status $upstream_cache_status always;",
        ]
