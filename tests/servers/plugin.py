"""pytest fixtures that start real servers (register with ``pytest_plugins``).

Every fixture is function-scoped (own ports, own temp dir, stopped after the test) except the
moto server, which is shared per xdist worker and reset before each test. A fixture skips only
when its program is not installed, naming the Debian package to install.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from tests.servers import pam
from tests.servers.base import ServerProcess
from tests.servers.moto import MotoS3
from tests.servers.nginx import Nginx, NginxCache
from tests.servers.squid import Squid
from tests.servers.sshd import Sshd
from tests.servers.trafficserver import TrafficServer
from tests.servers.varnish import Varnish
from tests.servers.vsftpd import Vsftpd

S = TypeVar("S", bound=ServerProcess)


class StartServer(Protocol):
    """Type of the ``start_server`` fixture: starts a server, stops it after the test."""

    def __call__(self, server: S, /) -> S: ...


FTP_USER = "publisher"
FTP_PASSWORD = "s3cret-test"
SFTP_PASSWORD = "s3cret-test"


def require(server_class: type[ServerProcess]) -> None:
    """Skip the test when ``server_class``'s program is not installed."""
    binary = server_class.binary
    if server_class is MotoS3:
        try:
            import moto.server  # noqa: F401
        except ImportError:
            pytest.skip("moto_server is missing: pip install 'moto[server]'")
        return
    if not (Path(binary).exists() or shutil.which(binary)):
        pytest.skip(f"{binary} is not installed: apt-get install {server_class.apt_package}")
    if server_class is Vsftpd and not pam.available():
        pytest.skip("pam_pwdfile is not installed: apt-get install libpam-pwdfile")


@pytest.fixture
def start_server(request: pytest.FixtureRequest) -> StartServer:
    """Start any harness server for this test; it is stopped when the test ends.

    ``nginx = start_server(Nginx(webroot, headers={"/": {"Cache-Control": "no-cache"}}))``
    """

    def start(server: S) -> S:
        require(type(server))
        request.addfinalizer(server.stop)
        return server.start()

    return start


@pytest.fixture
def webroot(tmp_path: Path) -> Path:
    """An empty directory that ``origin`` serves."""
    path = tmp_path / "webroot"
    path.mkdir()
    return path


@pytest.fixture
def origin(webroot: Path, start_server: StartServer) -> Nginx:
    """nginx serving ``webroot`` with nginx's default headers (ETag, Last-Modified)."""
    return start_server(Nginx(webroot))


@pytest.fixture
def varnish(origin: Nginx, start_server: StartServer) -> Varnish:
    """Varnish over ``origin`` (default_ttl 3600; PURGE, BAN and xkey enabled)."""
    return start_server(Varnish(origin.host, origin.port, default_ttl=3600))


@pytest.fixture
def nginx_cache(origin: Nginx, start_server: StartServer) -> NginxCache:
    """nginx proxy_cache over ``origin`` (X-Cache-Status header)."""
    return start_server(NginxCache(origin.host, origin.port))


@pytest.fixture
def squid_cache(origin: Nginx, start_server: StartServer) -> Squid:
    """Squid accelerator over ``origin`` with Debian's refresh_pattern rules."""
    return start_server(Squid(origin.host, origin.port))


@pytest.fixture
def ats_cache(origin: Nginx, start_server: StartServer) -> TrafficServer:
    """Apache Traffic Server over ``origin`` with Debian's records.config defaults."""
    return start_server(TrafficServer(origin.host, origin.port))


@pytest.fixture
def ftp_server(tmp_path: Path, start_server: StartServer) -> Vsftpd:
    """vsftpd, plain FTP, user ``publisher`` / ``s3cret-test``, root ``tmp_path/ftp-root``."""
    return start_server(Vsftpd(tmp_path / "ftp-root", FTP_USER, FTP_PASSWORD))


@pytest.fixture
def anonymous_ftp_server(tmp_path: Path, start_server: StartServer) -> Vsftpd:
    """vsftpd for anonymous logins (any password), writable in ``statistics/``."""
    return start_server(Vsftpd(tmp_path / "anonymous-ftp-root", anonymous=True))


@pytest.fixture
def ftps_server(tmp_path: Path, start_server: StartServer) -> Vsftpd:
    """vsftpd requiring explicit TLS; trust ``ftps_server.cert_path``."""
    return start_server(Vsftpd(tmp_path / "ftps-root", FTP_USER, FTP_PASSWORD, tls=True))


@pytest.fixture
def sftp_server(tmp_path: Path, start_server: StartServer) -> Sshd:
    """sshd (SFTP only) for the current account: key ``client_key`` or password."""
    return start_server(Sshd(tmp_path / "sftp-root", password=SFTP_PASSWORD))


@pytest.fixture(scope="session")
def _moto_session() -> Iterator[MotoS3]:
    require(MotoS3)
    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3_server(_moto_session: MotoS3) -> MotoS3:
    """moto S3 server, emptied before the test (shared per worker; ~1 s to start once)."""
    _moto_session.reset()
    return _moto_session
