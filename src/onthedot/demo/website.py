"""A producer's website on loopback, as the seed's: an nginx origin serving a folder, a Varnish
cache in front of it keeping files an hour, and an FTP server writing into that folder.

``missing()`` says which Debian packages the demo still needs, ``start_website(folder)`` starts
the three (the notices' folder is served without caching, as docs/configuration.md asks) and
``Website.fill`` puts last quarter's files on it and has users fetch them, so the cache holds them.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from onthedot.demo.seed import SiteAddresses
from onthedot.sandbox import pam
from onthedot.sandbox.base import ServerProcess
from onthedot.sandbox.nginx import Nginx
from onthedot.sandbox.varnish import Varnish
from onthedot.sandbox.vsftpd import Vsftpd

FTP_USER, FTP_PASSWORD = "publisher", "demo-only-password"
PASSWORD_VARIABLE = "ONTHEDOT_SECRET_PUBLISHER_127_0_0_1_PASSWORD"
"""Where onthedot finds the FTP password (docs/configuration.md, "Secrets"): never in a file."""
NOTICES = "/statistics/notices/"
TOUR_PORTS = (8080, 8081, 2121)
"""The cache, the origin and the FTP server of the website the demo leaves up, where free: the
addresses examples/onthedot.toml names (the README's five-minute tour publishes there)."""
_PROGRAMS = {
    Nginx.binary: Nginx.apt_package,
    Varnish.binary: Varnish.apt_package,
    "varnishadm": Varnish.apt_package,
    Vsftpd.binary: Vsftpd.apt_package,
    "openssl": "openssl",
}


def missing() -> list[str]:
    """The Debian packages to install before the demo can start its servers (none: ready)."""
    needed = [pkg for program, pkg in _PROGRAMS.items() if shutil.which(program) is None]
    if not pam.available():
        needed.append("libpam-pwdfile")
    return list(dict.fromkeys(needed))


def has_mail_sink() -> bool:
    """The mail sink's Python package (aiosmtpd, in onthedot's test extras) is installed."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return False
    return True


def is_root() -> bool:
    """The FTP server logs its user in through a PAM service of its own, which only root adds."""
    return os.geteuid() == 0


@dataclass
class Website:
    """The three servers of one website, and the folder the origin serves (``www`` in the FTP
    server's folder; staged copies wait beside it, in ``staging``, where no one can fetch them)."""

    webroot: Path
    ftp: Vsftpd
    origin: Nginx
    cache: Varnish

    def addresses(self, purge: bool = False) -> SiteAddresses:
        purgers = (f"varnish://{self.cache.host}:{self.cache.port}",) if purge else ()
        ftp = f"{self.ftp.url_without_password}www/?staging=/staging"
        return SiteAddresses(self.cache.url, self.origin.url, ftp, purgers)

    def fill(self, files: Mapping[str, bytes]) -> None:
        """Put ``files`` (path → bytes) on the origin and fetch each through the cache, as users
        did all quarter: the cache now keeps them for an hour."""
        for path, data in files.items():
            local = self.webroot / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            with urllib.request.urlopen(self.cache.url + path, timeout=5) as response:
                response.read()

    @property
    def on_tour_ports(self) -> bool:
        return (self.cache.port, self.origin.port, self.ftp.port) == TOUR_PORTS

    def stop(self) -> None:
        servers: list[ServerProcess] = [self.cache, self.origin, self.ftp]
        for server in servers:
            server.stop()


def start_website(folder: Path, ports: tuple[int, int, int] | None = None) -> Website:
    """Start the origin, the cache (one-hour TTL) and the FTP server of a website in ``folder``;
    ``ports`` (cache, origin, FTP) are taken where free, else free ones on loopback."""
    cache_port, origin_port, ftp_port = ports or (None, None, None)
    webroot = folder / "www"
    (webroot / NOTICES.strip("/")).mkdir(parents=True, exist_ok=True)
    (folder / "staging").mkdir(exist_ok=True)
    started: list[ServerProcess] = []
    try:
        ftp = Vsftpd(folder, FTP_USER, FTP_PASSWORD)
        ftp.wanted_port = ftp_port
        started.append(ftp.start())
        origin = Nginx(webroot, headers={NOTICES: {"Cache-Control": "no-cache"}})
        origin.wanted_port = origin_port
        started.append(origin.start())
        cache = Varnish(origin.host, origin.port, default_ttl=3600)
        cache.wanted_port = cache_port
        cache.start()
    except BaseException:
        for server in started:
            server.stop()
        raise
    return Website(webroot, ftp, origin, cache)
