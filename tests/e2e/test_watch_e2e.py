"""``onthedot publish`` keeps watching until the public sees the new file, with no other command.

Real nginx origin sending ``max-age=6``, real Varnish in front (default TTL one hour) holding the
old file, no purger: the edge serves the old file until its 6 s are up. ``publish`` without
``--watch`` must record the release live at that moment, from its own watch; so must the service
(``onthedot run``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from tests.e2e.helpers import (
    cli,
    fetch,
    start_service,
    until_live,
    write_config,
    write_site_release,
)
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer
from tests.servers.ports import free_port
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

OLD = b"old figures" * 100
NEW = b"new figures, April to September 2019" * 100
PATH = "/statistics/fatalquarterly.xlsx"
ID = "fatal-injuries-2019-apr-sep"
runner = CliRunner()


async def events(db: str, kind: str) -> list[dict[str, object]]:
    engine = await open_store(db)
    try:
        return [{"at": e.at, **e.data} for e in await Timeline(engine).events(ID, kind)]
    finally:
        await engine.dispose()


def old_file_cached(
    tmp_path: Path,
    webroot: Path,
    start_server: StartServer,
    max_age: int,
    in_s: float = 2.5,
    folder: str = "rel",
) -> tuple[Path, dt.datetime, dt.datetime]:
    """The old file in the edge's cache for ``max_age`` s; a release of the new one ``in_s`` s on
    (in ``tmp_path / folder``). (release file, when the edge cached the old file, release time)"""
    headers = {"/statistics/": {"Cache-Control": f"max-age={max_age}"}}
    origin = start_server(Nginx(webroot, headers=headers))
    edge = start_server(Varnish(origin.host, origin.port, default_ttl=3600))
    (webroot / "statistics").mkdir()
    (webroot / PATH.lstrip("/")).write_bytes(OLD)
    assert fetch(edge.url + PATH)[1] == OLD
    cached_at = dt.datetime.now(dt.UTC)
    release_at = cached_at + dt.timedelta(seconds=in_s)
    release = write_site_release(
        tmp_path / folder,
        public=edge.url,
        origin=origin.url,
        release_at=release_at,
        artefacts=[(PATH, NEW, None)],
        target=f"file://{webroot}",
    )
    return release, cached_at, release_at


def test_publish_watches_until_the_cache_lets_go_of_the_old_file(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    release, cached_at, release_at = old_file_cached(tmp_path, webroot, start_server, 6)
    config = write_config(tmp_path, "[publish]\nwatch_until_live_s = 120\n")  # (a hang's limit)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    started = time.monotonic()
    code, data = cli(db, "publish", str(release), config=config)
    assert code == 0, data
    assert data["live"] is True and data["watch_ended"] == "all-live"
    assert time.monotonic() - started < 60
    (first,) = asyncio.run(events(db, kinds.VERIFY_FIRST_LIVE))
    live_at = dt.datetime.fromisoformat(str(first["at"]))
    expires = cached_at + dt.timedelta(seconds=6)
    assert release_at + dt.timedelta(seconds=1) < live_at  # stale at T: the watch kept looking
    assert expires - dt.timedelta(seconds=0.5) <= live_at <= expires + dt.timedelta(seconds=4)
    stale = [e for e in asyncio.run(events(db, kinds.VERIFY_RESULT)) if e["status"] == "stale"]
    assert stale and all(e["layer"] == "cache" for e in stale)
    (ended,) = asyncio.run(events(db, kinds.WATCH_ENDED))
    assert ended["reason"] == "all-live" and ended["not_live"] == []


def test_publish_watch_seconds_still_means_at_most_that_long(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    release, _cached_at, _release_at = old_file_cached(tmp_path, webroot, start_server, 600)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    started = time.monotonic()
    result = runner.invoke(app, ["--database", db, "publish", str(release), "--watch", "2"])
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 30
    assert "onthedot stopped checking at the watch's limit; not every address is live yet." in (
        result.stdout
    )
    (ended,) = asyncio.run(events(db, kinds.WATCH_ENDED))
    assert ended["reason"] == "limit" and ended["not_live"] == [release_url(release)]
    assert 2 <= float(str(ended["after_s"])) < 5


def release_url(release: Path) -> str:
    from onthedot.config import load_release

    loaded = load_release(release)
    assert loaded.site is not None
    return loaded.site.url(PATH)


def test_the_service_watches_until_the_cache_lets_go_of_the_old_file(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    """``onthedot run`` (no person, no other command) keeps looking after T as ``publish`` does:
    the edge holds the old file 6 s past T, and the service records it live when it lets go."""
    # the release 8 s on: time for the service to start and stage
    _, cached_at, release_at = old_file_cached(
        tmp_path, webroot, start_server, 14, in_s=8, folder="releases"
    )
    config = write_config(
        tmp_path, 'releases = ["releases/*.toml"]\n[publish]\nwatch_until_live_s = 120\n'
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    port = free_port()
    service = start_service(config, db, port)
    try:
        detail = until_live(f"http://127.0.0.1:{port}", ID, seconds=60)
        assert detail.get("live"), detail
        # (live is shown once the results are stored; the watch records its end just after,
        # and a service stopped in between never records it: wait for it)
        for _ in range(100):
            if asyncio.run(events(db, kinds.WATCH_ENDED)):
                break
            time.sleep(0.1)
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert (webroot / PATH.lstrip("/")).read_bytes() == NEW, output
    (first,) = asyncio.run(events(db, kinds.VERIFY_FIRST_LIVE))
    live_at = dt.datetime.fromisoformat(str(first["at"]))
    expires = cached_at + dt.timedelta(seconds=14)
    assert release_at + dt.timedelta(seconds=1) < live_at  # stale at T: the service kept looking
    assert expires - dt.timedelta(seconds=0.5) <= live_at <= expires + dt.timedelta(seconds=4)
    (ended,) = asyncio.run(events(db, kinds.WATCH_ENDED))
    assert ended["reason"] == "all-live" and ended["not_live"] == []
