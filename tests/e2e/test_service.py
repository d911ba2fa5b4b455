"""``onthedot run`` end to end: the scheduler publishes a release on the dot by itself, the
dashboard's API reports it live, and the timeline holds the whole sequence."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import fetch, write_config, write_site_release
from tests.servers.nginx import Nginx
from tests.servers.ports import free_port
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

PATH = "/statistics/fatalquarterly.xlsx"
METRICS = ("--role", "metrics", "--json")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_run_publishes_due_releases_on_the_dot(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    (webroot / "statistics").mkdir()
    (webroot / PATH.lstrip("/")).write_bytes(b"old")
    assert fetch(varnish.url + PATH)[1] == b"old"
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
    release = write_site_release(
        tmp_path / "releases",
        public=varnish.url,
        origin=origin.url,
        release_at=release_at,
        artefacts=[(PATH, b"new spreadsheet", None)],
        target=f"file://{webroot}",
        purge=(f"varnish://{varnish.host}:{varnish.port}",),
    )
    config = write_config(
        tmp_path,
        'releases = ["releases/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n',
    )
    store = ["--config", str(config), "--database", f"sqlite:///{tmp_path / 'store.db'}"]
    made = subprocess.run(
        [sys.executable, "-m", "onthedot.cli", *store, "token", "add", "prometheus", *METRICS],
        capture_output=True,
        text=True,
        check=True,
    )
    scrape = {"Authorization": f"Bearer {json.loads(made.stdout)['token']}"}
    port = free_port()
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onthedot.cli",
            "--config",
            str(config),
            "--database",
            f"sqlite:///{tmp_path / 'store.db'}",
            "run",
            "--port",
            str(port),
            "--poll",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        api = f"http://127.0.0.1:{port}/api/releases/fatal-injuries-2019-apr-sep"
        detail: Any = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                detail = _get(api)
            except OSError:
                continue
            if detail.get("live"):
                break
        assert detail is not None and detail["live"], detail
        assert fetch(varnish.url + PATH)[1] == b"new spreadsheet"
        (first,) = detail["first_live"]
        assert dt.datetime.fromisoformat(first["at"].replace("Z", "+00:00")) >= release_at
        # Live is seen by the watch; publishing is done once the purge and the staged copies
        # are settled after it, which a loaded machine may take a moment longer to record.
        deadline = time.monotonic() + 30
        while True:
            timeline = _get(api + "/timeline")
            kinds = [e["kind"] for e in timeline["events"]]
            if "publish.done" in kinds or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for kind in ("publish.staged", "publish.flipped", "purge.attempt", "publish.done"):
            assert kind in kinds, kinds
        assert timeline["chain"]["ok"] is True
        metrics_url = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=scrape)
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            metrics = response.read().decode()
        assert 'onthedot_last_sweep_duration_seconds{release="fatal-injuries-2019-apr-sep"}' in (
            metrics
        )
    finally:
        service.send_signal(signal.SIGINT)
        try:
            output, _ = service.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
            output, _ = service.communicate()
    assert "Traceback" not in output, output
    assert release.exists()
