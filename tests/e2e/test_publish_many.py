"""A release of several files goes live together over one FTP connection (commands take turns)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, fetch, write_site_release
from tests.servers.nginx import Nginx
from tests.servers.vsftpd import Vsftpd

pytestmark = pytest.mark.services

FILES = {f"/statistics/table-{n}.csv": f"table {n}\n".encode() * 200 for n in range(4)}


@pytest.mark.parametrize("server", ["ftp_server", "ftps_server"])
def test_four_files_by_ftp(
    tmp_path: Path,
    server: str,
    request: pytest.FixtureRequest,
    start_server: Callable[[Nginx], Nginx],
) -> None:
    ftp: Vsftpd = request.getfixturevalue(server)
    site = start_server(Nginx(ftp.root))
    target = ftp.url + ("?verify=no" if ftp.tls else "")
    release = write_site_release(
        tmp_path / "rel",
        public=site.url,
        origin=site.url,
        target=target,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2),
        artefacts=[(path, data, None) for path, data in FILES.items()],
    )
    code, data = cli(f"sqlite:///{tmp_path / 's.db'}", "publish", str(release), "--watch", "3")
    assert code == 0 and data["live"], data
    for path, body in FILES.items():
        assert fetch(site.url + path)[1] == body
    assert not [p for p in (ftp.root / "statistics").iterdir() if p.name.startswith(".onthedot-")]
