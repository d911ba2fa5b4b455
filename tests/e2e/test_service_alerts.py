"""``onthedot run`` alerts: a release that goes live stale (no purger, a long-lived Varnish copy)
gives the statistician one e-mail within seconds of T, naming the release and the cause, and no
more until the incident's state changes."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import fetch, start_service, write_config, write_site_release
from tests.respond.receivers import smtp_server
from tests.servers.nginx import Nginx
from tests.servers.ports import free_port
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

PATH = "/statistics/fatalquarterly.xlsx"
TOOL_WORDS = ("onthedot", "apprise", "[notify]", "mailto", "varnishd", "toml")


def test_a_release_live_stale_alerts_the_statistician_once_within_seconds_of_t(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    (webroot / "statistics").mkdir()
    (webroot / PATH.lstrip("/")).write_bytes(b"old")
    assert fetch(varnish.url + PATH)[1] == b"old"  # the cache keeps the old file for an hour
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)
    write_site_release(
        tmp_path / "releases",
        public=varnish.url,
        origin=origin.url,
        release_at=release_at,
        artefacts=[(PATH, b"new spreadsheet", None)],
        target=f"file://{webroot}?staging={tmp_path}/staging",  # nothing exposed before T
    )
    with smtp_server() as (address, box):
        config = write_config(
            tmp_path,
            'releases = ["releases/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'
            f'[notify]\nstatistician = ["{address}"]\ndashboard = "http://127.0.0.1:8000"\n',
        )
        service = start_service(config, f"sqlite:///{tmp_path / 'store.db'}", free_port())
        try:
            deadline = time.time() + release_at.timestamp() - time.time() + 20
            while not box.messages and time.time() < deadline:
                time.sleep(0.1)
            assert box.messages, "no alert arrived"
            arrived = box.messages[0][0] - release_at.timestamp()
            time.sleep(6)  # more sweeps, still stale: no more messages
        finally:
            service.send_signal(signal.SIGINT)
            try:
                output, _ = service.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                service.kill()
                output, _ = service.communicate()
        assert 0 <= arrived <= 10.0, (arrived, output)  # ≤ 5 s when the machine is not loaded
        assert len(box.messages) == 1, box.texts()
        subject, body = box.texts()[0]
        assert "Fatal injuries arising from accidents at work" in subject + body
        assert "previous version is still served" in subject
        assert varnish.url + PATH in body and "Diagnosis: " in body and "cache" in body.lower()
        assert "http://127.0.0.1:8000/incidents/" in body  # the acknowledgement link
        prose = body.split("Dashboard:")[0]
        assert not [w for w in TOOL_WORDS if w in prose.lower()], prose
    assert "Traceback" not in output, output
