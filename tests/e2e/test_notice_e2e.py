"""``onthedot run`` with a release that goes live stale (no purger, Varnish keeps the old file for
an hour): users see the notice through the cache within seconds of T + N, the briefing e-mail and
the press webhook are held, and only after the test purges the cache and the release is live do
the e-mail and the post arrive and the notice say it was published."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import fetch, start_service, write_config, write_site_release
from tests.respond.receivers import smtp_server, webhook
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer
from tests.servers.ports import free_port
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

PATH = "/statistics/fatalquarterly.xlsx"
RID = "fatal-injuries-2019-apr-sep"
NOTICE = f"/statistics/notices/{RID}.html"
AFTER_S = 3


def _wait(check: Callable[[], bool], until: float) -> bool:
    while time.time() < until:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_notice_and_gates_follow_what_the_public_sees_through_the_cache(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    no_cache = {"/statistics/notices/": {"Cache-Control": "no-cache"}}
    origin = start_server(Nginx(webroot, headers=no_cache))
    varnish = start_server(Varnish(origin.host, origin.port, default_ttl=3600))
    (webroot / "statistics").mkdir()
    (webroot / PATH.lstrip("/")).write_bytes(b"old")
    assert fetch(varnish.url + PATH)[1] == b"old"  # the cache keeps the old file for an hour
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
    release = write_site_release(
        tmp_path / "releases",
        public=varnish.url,
        origin=origin.url,
        release_at=release_at,
        artefacts=[(PATH, b"new spreadsheet", None)],
        target=f"file://{webroot}?staging={tmp_path}/staging",
    )
    with smtp_server() as (mail, box), webhook() as (hook, posts):
        release.write_text(
            release.read_text()
            + f"\n[notice]\nafter_s = {AFTER_S}\n"
            + f'\n[[gate]]\nname = "briefing for officials"\nsend = "{mail}"\n'
            + 'message = "The statistics are published."\n'
        )
        press = f'[[gates.{RID}]]\nname = "press office"\nsend = "{hook}"\n'  # it has a password
        config = write_config(
            tmp_path,
            'releases = ["releases/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'
            + press,
        )
        service = start_service(config, f"sqlite:///{tmp_path / 'store.db'}", free_port())
        try:
            due = release_at.timestamp() + AFTER_S
            shown = _wait(lambda: b"We are fixing" in fetch(varnish.url + NOTICE)[1], due + 20)
            arrived = time.time() - due
            stale = fetch(varnish.url + PATH)[1]
            held = (list(box.messages), list(posts))
            purged_at = time.time()
            httpx.request("PURGE", varnish.url + PATH, timeout=5).raise_for_status()
            sent = _wait(lambda: bool(box.messages and posts), purged_at + 20)
            replaced = _wait(
                lambda: b"Published at" in fetch(varnish.url + NOTICE)[1], purged_at + 60
            )
            time.sleep(3)  # more sweeps, still live: nothing sent again
        finally:
            service.send_signal(signal.SIGINT)
            try:
                output, _ = service.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                service.kill()
                output, _ = service.communicate()
    assert shown and 0 <= arrived <= 20, (arrived, output)
    assert stale == b"old"  # the notice went up while the public still got the old file
    assert held == ([], []), "a gate was sent before the release was live"
    assert sent and replaced, output
    assert box.messages[0][0] > purged_at
    assert [body.strip() for _subject, body in box.texts()] == ["The statistics are published."]
    assert len(posts) == 1 and "is published and available to everyone" in posts[0]["message"]
    page = fetch(varnish.url + NOTICE)[1].decode()
    assert "after a technical delay." in page and "We are fixing" not in page
    assert "Traceback" not in output, output
