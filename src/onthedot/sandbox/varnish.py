"""Varnish in front of an origin, with the purge/ban/xkey hooks the purger adapters talk to.

Requests accepted from 127.0.0.1 / ::1 only:

* ``PURGE /path`` — drop that URL (all variants); 200 "Purged".
* ``BAN /anything`` with header ``X-Ban-Prefix: /statistics/`` — ban every object whose URL
  matches ``^<prefix>`` (a regex anchored at the start, so ``.`` matches any character);
  ``X-Ban-Regex: \\.xlsx$`` bans by an unanchored regex. 200 "Banned".
* ``PURGE`` with header ``xkey-purge: key1 key2`` (or ``Surrogate-Key``) — drop every object
  tagged with one of the keys, when vmod_xkey (Debian ``varnish-modules``) is installed; the
  origin tags objects with an ``xkey:`` or ``Surrogate-Key:`` response header. Without the vmod
  ``has_xkey`` is False and such a request answers 501.

Responses carry ``X-Cache: HIT|MISS``, ``X-Cache-Hits``, plus Varnish's own ``Age``,
``X-Varnish`` and ``Via``. TTLs follow the built-in VCL (Cache-Control / Expires / Age),
``default_ttl`` is ``-t`` for responses without them. ``vcl_extra`` is appended verbatim.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from onthedot.sandbox.base import ServerProcess, tcp_ready

XKEY_VMOD = Path("/usr/lib/x86_64-linux-gnu/varnish/vmods/libvmod_xkey.so")

_VCL = """\
vcl 4.1;
{imports}
backend default {{
    .host = "{backend_host}";
    .port = "{backend_port}";
}}

acl onthedot_purgers {{ {purgers} }}

sub vcl_recv {{
    if (req.method == "PURGE" || req.method == "BAN") {{
        if (client.ip !~ onthedot_purgers) {{
            return (synth(405, "Not allowed from " + client.ip));
        }}
    }}
    if (req.method == "PURGE" && (req.http.xkey-purge || req.http.Surrogate-Key)) {{
{xkey_purge}
    }}
    if (req.method == "PURGE") {{
        return (purge);
    }}
    if (req.method == "BAN") {{
        if (req.http.X-Ban-Prefix) {{
            ban("obj.http.x-onthedot-url ~ ^" + req.http.X-Ban-Prefix);
        }} elsif (req.http.X-Ban-Regex) {{
            ban("obj.http.x-onthedot-url ~ " + req.http.X-Ban-Regex);
        }} else {{
            ban("obj.http.x-onthedot-url == " + req.url);
        }}
        return (synth(200, "Banned"));
    }}
}}

sub vcl_backend_response {{
    set beresp.http.x-onthedot-url = bereq.url;
    if (beresp.http.Surrogate-Key && !beresp.http.xkey) {{
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }}
}}

sub vcl_deliver {{
    unset resp.http.x-onthedot-url;
    if (obj.hits > 0) {{
        set resp.http.X-Cache = "HIT";
    }} else {{
        set resp.http.X-Cache = "MISS";
    }}
    set resp.http.X-Cache-Hits = obj.hits;
}}

{extra}
"""

_XKEY_PURGE = """\
        if (!req.http.xkey-purge) {
            set req.http.xkey-purge = req.http.Surrogate-Key;
        }
        set req.http.x-onthedot-gone = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Invalidated " + req.http.x-onthedot-gone + " objects"));"""

_NO_XKEY = """\
        return (synth(501, "vmod_xkey is not installed: apt-get install varnish-modules"));"""


class Varnish(ServerProcess):
    """varnishd -F on 127.0.0.1:port, admin CLI on 127.0.0.1:admin_port, own workdir."""

    name = "varnish"
    binary = "/usr/sbin/varnishd"
    apt_package = "varnish"

    def __init__(
        self,
        backend_host: str,
        backend_port: int,
        default_ttl: int = 3600,
        vcl_extra: str | None = None,
        *,
        storage: str = "malloc,64m",
        params: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.default_ttl = default_ttl
        self.vcl_extra = vcl_extra or ""
        self.storage = storage
        self.params = list(params)  # extra "name=value" for -p, e.g. "thread_pool_max=1000"
        self.has_xkey = XKEY_VMOD.exists()
        self.admin_port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def workdir(self) -> Path:
        return self.dir / "work"

    @property
    def secret_file(self) -> Path:
        return self.dir / "secret"

    @property
    def vcl_path(self) -> Path:
        return self.dir / "default.vcl"

    def render_vcl(self) -> str:
        return _VCL.format(
            imports="import xkey;" if self.has_xkey else "",
            backend_host=self.backend_host,
            backend_port=self.backend_port,
            purgers=" ".join(f'"{a}";' for a in dict.fromkeys(("127.0.0.1", "::1", self.host))),
            xkey_purge=_XKEY_PURGE if self.has_xkey else _NO_XKEY,
            extra=self.vcl_extra,
        )

    def _prepare(self) -> None:
        self.admin_port = self._take_port()
        self.secret_file.write_bytes(b"onthedot-test-secret\n")
        self.secret_file.chmod(0o600)
        self.vcl_path.write_text(self.render_vcl())

    def _command(self) -> list[str]:
        # -j none: no privilege separation jail (we are root in a sandbox; keeps files ours).
        # A small thread pool keeps startup and memory low on 2-core CI.
        return [
            self.binary,
            "-F",
            "-j",
            "none",
            "-n",
            str(self.workdir),
            "-a",
            f"{self.host}:{self.port}",
            "-T",
            f"{self.host}:{self.admin_port}",
            "-S",
            str(self.secret_file),
            "-f",
            str(self.vcl_path),
            "-t",
            str(self.default_ttl),
            "-s",
            self.storage,
            "-p",
            "thread_pools=1",
            "-p",
            "thread_pool_min=8",
            "-p",
            "thread_pool_max=200",
            *[arg for param in self.params for arg in ("-p", param)],
        ]

    def _ready(self) -> bool:
        if not tcp_ready(self.admin_port, self.host) or not tcp_ready(self.port, self.host):
            return False
        try:
            return "running" in self.varnishadm("status")
        except RuntimeError:
            return False

    def varnishadm(self, command: str) -> str:
        """Run one CLI command (e.g. ``ban req.url ~ ^/``) and return its output."""
        result = subprocess.run(
            [
                "varnishadm",
                "-T",
                f"{self.host}:{self.admin_port}",
                "-S",
                str(self.secret_file),
                "-t",
                "5",
                command,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"varnishadm {command!r} failed: {result.stdout}{result.stderr}")
        return result.stdout
