"""``onthedot publish`` end to end: stage under embargo, go live at T (never before), purge, verify.

Real nginx origin, real Varnish (1-hour TTL) in front, and each publish target's real server. An
observer polls the Varnish edge every 5 ms from before T and records the first moment the new
bytes appear: it must never be before T.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, fetch, write_config, write_site_release
from tests.servers.nginx import Nginx
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

OLD = b"old spreadsheet" * 500
NEW = b"new spreadsheet, April to September 2019" * 500
PATH = "/statistics/fatalquarterly.xlsx"


class EdgeObserver:
    """Polls a URL every 5 ms; remembers when the new bytes were first served."""

    def __init__(self, url: str, new: bytes) -> None:
        self.url, self.new = url, new
        self.first_new: dt.datetime | None = None
        self.polls = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set() and self.first_new is None:
            started = dt.datetime.now(dt.UTC)
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    body = response.read()
            except OSError:
                body = b""
            self.polls += 1
            if body == self.new:
                self.first_new = started  # the request was sent at or after this instant
            time.sleep(0.005)

    @contextmanager
    def watching(self) -> Iterator[EdgeObserver]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)


def _old_in_cache(webroot: Path, varnish: Varnish) -> None:
    target = webroot / PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(OLD)
    assert fetch(varnish.url + PATH)[1] == OLD


def _publish(
    tmp_path: Path,
    varnish: Varnish,
    origin: Nginx,
    target: str,
    purge: tuple[str, ...],
    lead_s: float = 3.0,
    watch: str = "5",
) -> tuple[int, dict, dt.datetime, EdgeObserver]:  # type: ignore[type-arg]
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead_s)
    release = write_site_release(
        tmp_path / "rel",
        public=varnish.url,
        origin=origin.url,
        release_at=release_at,
        artefacts=[(PATH, NEW, None)],
        target=target,
        purge=purge,
    )
    config = write_config(tmp_path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with EdgeObserver(varnish.url + PATH, NEW).watching() as observer:
        code, data = cli(db, "publish", str(release), "--watch", watch, config=config)
        deadline = time.monotonic() + 2
        while observer.first_new is None and time.monotonic() < deadline and code == 0:
            time.sleep(0.01)
    return code, data, release_at, observer


def _assert_on_the_dot(
    code: int, data: dict, release_at: dt.datetime, observer: EdgeObserver
) -> None:  # type: ignore[type-arg]
    assert code == 0, data
    assert data["live"] is True
    flipped = dt.datetime.fromisoformat(data["flipped_at"])
    assert flipped >= release_at
    assert observer.first_new is not None, "the edge never served the new bytes"
    assert observer.first_new >= release_at, (
        f"new bytes at the edge {release_at - observer.first_new} early"
    )
    assert observer.polls > 50  # it really was watching before T
    (result,) = data["verify"]["results"]
    assert result["status"] == "live"


def test_file_target_with_varnish_purger_goes_live_on_the_dot(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    _old_in_cache(webroot, varnish)
    code, data, release_at, observer = _publish(
        tmp_path,
        varnish,
        origin,
        f"file://{webroot}",
        (f"varnish://{varnish.host}:{varnish.port}",),
    )
    _assert_on_the_dot(code, data, release_at, observer)
    assert (webroot / PATH.lstrip("/")).read_bytes() == NEW
    assert not [p for p in (webroot / "statistics").iterdir() if p.name.startswith(".onthedot-")]
    assert any(a["ok"] for a in data["purge_attempts"])


def test_without_a_purger_the_edge_stays_stale_with_the_diagnosis(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    _old_in_cache(webroot, varnish)
    code, data, _release_at, _observer = _publish(
        tmp_path, varnish, origin, f"file://{webroot}", (), watch="1.5"
    )
    assert code == 1 and data["live"] is False
    (result,) = data["verify"]["results"]
    assert (result["status"], result["layer"]) == ("stale", "cache")
    assert "Varnish" in result["diagnosis"] and "purge" in result["diagnosis"]
    assert fetch(origin.url + PATH)[1] == NEW  # the origin has it: exactly the seed's failure


def test_ftp_target(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, ftp_server
) -> None:  # type: ignore[no-untyped-def]
    ftp_root = Path(ftp_server.root)
    server = Nginx(ftp_root)
    server.start()
    try:
        cache = Varnish(server.host, server.port, default_ttl=3600)
        cache.start()
        try:
            _old_in_cache(ftp_root, cache)
            code, data, release_at, observer = _publish(
                tmp_path, cache, server, ftp_server.url, (f"varnish://{cache.host}:{cache.port}",)
            )
            _assert_on_the_dot(code, data, release_at, observer)
        finally:
            cache.stop()
    finally:
        server.stop()
