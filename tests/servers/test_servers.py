"""Self-tests of the real-server harness: each server starts, does its key job, and leaves
nothing behind when stopped."""

from __future__ import annotations

import ftplib
import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import asyncssh
import httpx
import pytest
from aiobotocore.session import get_session

from tests.servers import janitor, pam
from tests.servers.base import ServerProcess, ServerStartError, is_alive, process_tree
from tests.servers.moto import MotoS3
from tests.servers.nginx import Nginx, NginxCache
from tests.servers.plugin import FTP_PASSWORD, FTP_USER, SFTP_PASSWORD, StartServer, require
from tests.servers.ports import free_port_range, release_port
from tests.servers.squid import Squid
from tests.servers.sshd import Sshd
from tests.servers.trafficserver import TrafficServer
from tests.servers.varnish import Varnish
from tests.servers.vsftpd import Vsftpd

STATS = "/statistics/fatalquarterly.xlsx"


def _publish(webroot: Path, path: str, body: bytes) -> None:
    target = webroot / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)


def _get(url: str, method: str = "GET", **headers: str) -> httpx.Response:
    return httpx.request(method, url, headers=headers, timeout=10)


# -- ports ------------------------------------------------------------------------------------


def test_free_port_range_is_consecutive_bindable_and_reserved() -> None:
    ports = free_port_range(3)
    try:
        assert ports == list(range(ports[0], ports[0] + 3))
        for port in ports:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))
        again = free_port_range(3)
        assert not set(again) & set(ports)
        for port in again:
            release_port(port)
    finally:
        for port in ports:
            release_port(port)


# -- lifecycle ----------------------------------------------------------------------------------


def _assert_gone(server: ServerProcess, pids: set[int]) -> None:
    assert pids, "the server had no processes to check"
    assert not [pid for pid in pids if is_alive(pid)]
    assert not server.dir.exists()
    assert not server.running


@pytest.mark.services
def test_start_failure_reports_the_log_tail_and_cleans_up(webroot: Path) -> None:
    require(Nginx)
    server = Nginx(webroot, extra_server_conf="no_such_directive on;")
    with pytest.raises(ServerStartError, match="no_such_directive"):
        server.start()
    assert not server.dir.exists()
    assert not server.running


@pytest.mark.services
async def test_sshd_stop_kills_session_children_that_called_setsid(tmp_path: Path) -> None:
    require(Sshd)
    server = Sshd(tmp_path / "root").start()
    conn = await asyncssh.connect(
        server.host,
        server.port,
        username=server.user,
        client_keys=[str(server.client_key)],
        known_hosts=str(server.known_hosts),
    )
    try:
        sftp = await conn.start_sftp_client()
        assert await sftp.getcwd() == str(server.root)
        pids = process_tree(server.pid)
        assert len(pids) > 1  # the per-connection sshd children
    finally:
        server.stop()
        conn.close()
        await conn.wait_closed()
    _assert_gone(server, pids)


def test_janitor_sweeps_leftovers_of_a_dead_owner_only() -> None:
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stale = Path(tempfile.mkdtemp(prefix="onthedot-selftest-"))
    live = Path(tempfile.mkdtemp(prefix="onthedot-selftest-"))
    try:
        (stale / janitor.OWNER_FILE).write_text("999999999 1")  # no such process
        (stale / janitor.SERVER_FILE).write_text(janitor.identity(orphan.pid))
        (live / janitor.OWNER_FILE).write_text(janitor.identity(os.getpid()))
        removed = janitor.sweep()
        assert stale in removed and live not in removed
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert not stale.exists() and live.exists()
    finally:
        orphan.kill()
        orphan.wait()
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


# -- nginx ------------------------------------------------------------------------------------


@pytest.mark.services
def test_nginx_serves_files_with_per_path_caching_headers(
    webroot: Path, start_server: StartServer
) -> None:
    _publish(webroot, STATS, b"v1")
    _publish(webroot, "/index.html", b"home")
    nginx = start_server(
        Nginx(
            webroot,
            headers={"/statistics/": {"Cache-Control": "public, max-age=3600", "X-Team": "stats"}},
            expires={"/index.html": "5m"},
        )
    )
    stats = _get(nginx.url + STATS)
    assert (stats.status_code, stats.content) == (200, b"v1")
    assert stats.headers["Cache-Control"] == "public, max-age=3600"
    assert stats.headers["X-Team"] == "stats"
    assert stats.headers["ETag"] and stats.headers["Last-Modified"]
    home = _get(nginx.url + "/index.html")
    assert home.headers["Cache-Control"] == "max-age=300"
    assert "X-Team" not in home.headers
    missing = _get(nginx.url + "/statistics/none.xlsx")
    assert missing.status_code == 404
    assert missing.headers["X-Team"] == "stats"  # `always` adds headers to errors too


@pytest.mark.services
def test_nginx_tls_uses_the_generated_certificate(webroot: Path, start_server: StartServer) -> None:
    _publish(webroot, STATS, b"secure")
    nginx = start_server(Nginx(webroot, tls=True))
    context = ssl.create_default_context(cafile=str(nginx.cert_path))
    response = httpx.get(nginx.https_url + STATS, verify=context, timeout=10)
    assert response.content == b"secure"
    with pytest.raises(httpx.ConnectError):
        httpx.get(nginx.https_url + STATS, timeout=10)  # not trusted by default


@pytest.mark.services
def test_nginx_cache_misses_then_hits(webroot: Path, nginx_cache: NginxCache) -> None:
    _publish(webroot, STATS, b"cached")
    first, second = _get(nginx_cache.url + STATS), _get(nginx_cache.url + STATS)
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    _publish(webroot, STATS, b"changed")
    assert _get(nginx_cache.url + STATS).content == b"cached"


# -- varnish ----------------------------------------------------------------------------------


@pytest.mark.services
def test_varnish_hit_then_purge_then_miss(webroot: Path, varnish: Varnish) -> None:
    _publish(webroot, STATS, b"old")
    url = varnish.url + STATS
    miss, hit = _get(url), _get(url)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.headers["X-Cache-Hits"] == "1"
    assert "Age" in hit.headers and "Varnish" in hit.headers["Via"]
    assert len(hit.headers["X-Varnish"].split()) == 2  # this request and the cached one
    _publish(webroot, STATS, b"new")
    assert _get(url).content == b"old"
    assert _get(url, "PURGE").status_code == 200
    after = _get(url)
    assert (after.headers["X-Cache"], after.content) == ("MISS", b"new")


@pytest.mark.services
def test_varnish_ban_by_prefix_spares_other_paths(webroot: Path, varnish: Varnish) -> None:
    paths = [STATS, "/statistics/fatals.htm", "/index.html"]
    for path in paths:
        _publish(webroot, path, b"x")
        _get(varnish.url + path)
    assert _get(varnish.url + "/", "BAN", **{"X-Ban-Prefix": "/statistics/"}).status_code == 200
    states = {path: _get(varnish.url + path).headers["X-Cache"] for path in paths}
    assert states == {STATS: "MISS", "/statistics/fatals.htm": "MISS", "/index.html": "HIT"}
    assert "/statistics/" in varnish.varnishadm("ban.list")


@pytest.mark.services
def test_varnish_xkey_purge_drops_tagged_objects(webroot: Path, start_server: StartServer) -> None:
    tagged = start_server(Nginx(webroot, headers={"/statistics/": {"Surrogate-Key": "rel-1"}}))
    cache = start_server(Varnish(tagged.host, tagged.port))
    for path in (STATS, "/index.html"):
        _publish(webroot, path, b"x")
        _get(cache.url + path)
    purge = _get(cache.url + "/", "PURGE", **{"xkey-purge": "rel-1"})
    if not cache.has_xkey:  # varnish-modules not installed: the VCL says so
        assert purge.status_code == 501
        return
    assert purge.status_code == 200
    assert "Invalidated 1 objects" in purge.text
    assert _get(cache.url + STATS).headers["X-Cache"] == "MISS"
    assert _get(cache.url + "/index.html").headers["X-Cache"] == "HIT"


@pytest.mark.services
def test_varnishadm_ban_everything(webroot: Path, varnish: Varnish) -> None:
    _publish(webroot, STATS, b"x")
    _get(varnish.url + STATS)
    varnish.varnishadm("ban req.url ~ ^/")
    assert _get(varnish.url + STATS).headers["X-Cache"] == "MISS"


# -- squid / traffic server ------------------------------------------------------------------


@pytest.mark.services
def test_squid_hits_on_second_fetch(
    webroot: Path, origin: Nginx, start_server: StartServer
) -> None:
    # nginx's default headers only (Last-Modified): Squid's heuristic refresh_pattern applies.
    _publish(webroot, STATS, b"squid")
    squid = start_server(Squid(origin.host, origin.port))
    first, second = _get(squid.url + STATS), _get(squid.url + STATS)
    assert first.headers["X-Cache"].startswith("MISS")
    assert second.headers["X-Cache"].startswith("HIT")
    assert "squid" in second.headers["Via"]


@pytest.mark.services
def test_traffic_server_hits_on_second_fetch(webroot: Path, start_server: StartServer) -> None:
    origin = start_server(Nginx(webroot, headers={"/": {"Cache-Control": "max-age=600"}}))
    ats = start_server(TrafficServer(origin.host, origin.port))
    _publish(webroot, STATS, b"ats")
    first, second = _get(ats.url + STATS), _get(ats.url + STATS)
    assert "[cM" in first.headers["Via"]
    assert "[cH" in second.headers["Via"]
    assert second.content == b"ats"
    assert _get(ats.url + STATS, "PURGE").status_code == 200
    assert "[cM" in _get(ats.url + STATS).headers["Via"]


# -- ftp / ftps / sftp -------------------------------------------------------------------------


def _upload_and_rename(ftp: ftplib.FTP, root: Path) -> None:
    ftp.mkd("/statistics")
    ftp.storbinary("STOR /statistics/.fatalquarterly.xlsx.part", io.BytesIO(b"data"))
    ftp.rename("/statistics/.fatalquarterly.xlsx.part", STATS)
    assert ftp.nlst("/statistics") == [STATS]
    assert (root / STATS.lstrip("/")).read_bytes() == b"data"


@pytest.mark.services
def test_ftp_upload_and_rename(ftp_server: Vsftpd) -> None:
    assert ftp_server.url == f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{ftp_server.port}/"
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        with pytest.raises(ftplib.error_perm, match="530"):
            ftp.login(FTP_USER, "wrong")
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(FTP_USER, FTP_PASSWORD)
        _upload_and_rename(ftp, ftp_server.root)


@pytest.mark.services
def test_ftps_requires_tls_and_works_with_it(ftps_server: Vsftpd) -> None:
    with ftplib.FTP() as plain:
        plain.connect(ftps_server.host, ftps_server.port, timeout=10)
        with pytest.raises(ftplib.error_perm, match="530"):
            plain.login(FTP_USER, FTP_PASSWORD)
    context = ssl.create_default_context(cafile=str(ftps_server.cert_path))
    with ftplib.FTP_TLS(context=context) as ftps:
        ftps.connect(ftps_server.host, ftps_server.port, timeout=10)
        ftps.login(FTP_USER, FTP_PASSWORD)
        ftps.prot_p()
        _upload_and_rename(ftps, ftps_server.root)


@pytest.mark.services
def test_vsftpd_stop_removes_its_pam_service(tmp_path: Path) -> None:
    require(Vsftpd)
    with Vsftpd(tmp_path / "root", "someone", "pw") as server:
        service = pam.PAM_DIR / server.dir.name
        assert service.exists()
        pids = process_tree(server.pid)
    assert not service.exists()
    _assert_gone(server, pids)


@pytest.mark.services
@pytest.mark.parametrize("auth", ["key", "password"])
async def test_sftp_upload_and_rename(sftp_server: Sshd, auth: str) -> None:
    credentials: dict[str, object] = (
        {"client_keys": [str(sftp_server.client_key)]}
        if auth == "key"
        else {"client_keys": None, "password": SFTP_PASSWORD}
    )
    assert sftp_server.url.endswith(f"{sftp_server.root}/")
    async with (
        asyncssh.connect(
            sftp_server.host,
            sftp_server.port,
            username=sftp_server.user,
            known_hosts=str(sftp_server.known_hosts),
            **credentials,
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        await sftp.makedirs("statistics")
        async with sftp.open("statistics/.part", "wb") as handle:
            await handle.write(b"sftp")
        await sftp.rename("statistics/.part", f"{sftp_server.root}{STATS}")
    assert (sftp_server.root / STATS.lstrip("/")).read_bytes() == b"sftp"


@pytest.mark.services
async def test_sftp_rejects_a_wrong_password(sftp_server: Sshd) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            sftp_server.host,
            sftp_server.port,
            username=sftp_server.user,
            known_hosts=str(sftp_server.known_hosts),
            client_keys=None,
            password="wrong",
        )


# -- s3 ---------------------------------------------------------------------------------------


@pytest.mark.services
async def test_s3_put_and_get(s3_server: MotoS3) -> None:
    bucket = s3_server.create_bucket("onthedot-releases")
    async with get_session().create_client("s3", **s3_server.client_kwargs()) as s3:
        await s3.put_object(Bucket=bucket, Key=STATS.lstrip("/"), Body=b"s3 data")
        response = await s3.get_object(Bucket=bucket, Key=STATS.lstrip("/"))
        async with response["Body"] as body:
            assert await body.read() == b"s3 data"
        s3_server.reset()
        listed = await s3.list_buckets()
        assert listed["Buckets"] == []
