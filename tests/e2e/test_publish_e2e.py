"""``onthedot publish`` end to end: stage under embargo, go live at T (never before), purge, verify.

Real nginx origin, real Varnish (1-hour TTL) in front, and each publish target's real server. An
observer polls the Varnish edge every 5 ms from before T and records the first moment the new
bytes appear: it must never be before T.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import cli, fetch, write_config, write_site_release
from tests.servers.moto import MotoS3
from tests.servers.nginx import Nginx
from tests.servers.sshd import Sshd
from tests.servers.varnish import Varnish
from tests.servers.vsftpd import Vsftpd

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
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    body = response.read()
            except OSError:
                body = b""
            # the edge served these bytes at or before this instant: an answer that arrived before
            # T is an early one. (Not the instant before sending: on a busy machine the request may
            # leave that thread milliseconds later, after T, and meet the flip.)
            answered = dt.datetime.now(dt.UTC)
            self.polls += 1
            if body == self.new:
                self.first_new = answered
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


def _old_in_cache(served_root: Path, edge_url: str) -> None:
    target = served_root / PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(OLD)
    assert fetch(edge_url + PATH)[1] == OLD


Outcome = tuple[int, dict[str, Any], dt.datetime, EdgeObserver]


def _publish(
    tmp_path: Path, public: str, origin: str, target: str, purge: tuple[str, ...], watch: str = "5"
) -> Outcome:
    """``onthedot publish`` of a release due 3 s from now, watched at the edge every 5 ms."""
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    release = write_site_release(
        tmp_path / "rel",
        public=public,
        origin=origin,
        release_at=release_at,
        artefacts=[(PATH, NEW, None)],
        purge=purge,
    )
    # the target is the operator's: its ?endpoint= or ?password_env= may be set only there
    config = write_config(
        tmp_path,
        "[verify.caches]\nvarnish = {default_ttl = 3600}\n\n[site]\n"
        f"target = {json.dumps(target)}\n",
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with EdgeObserver(public + PATH, NEW).watching() as observer:
        code, data = cli(db, "publish", str(release), "--watch", watch, config=config)
        deadline = time.monotonic() + 2
        while observer.first_new is None and time.monotonic() < deadline and code == 0:
            time.sleep(0.01)
    return code, data, release_at, observer


def _assert_on_the_dot(outcome: Outcome) -> None:
    code, data, release_at, observer = outcome
    assert code == 0, json.dumps(data, indent=1)
    assert data["live"] is True
    assert dt.datetime.fromisoformat(data["flipped_at"]) >= release_at
    assert observer.first_new is not None, "the edge never served the new bytes"
    assert observer.first_new >= release_at, (
        f"new bytes at the edge {release_at - observer.first_new} early"
    )
    assert observer.polls > 50  # it really was watching before T
    (result,) = data["verify"]["results"]
    assert result["status"] == "live"


@pytest.mark.parametrize("staging", ["", "?staging={tmp}/staging"], ids=["beside", "outside"])
def test_file_target_with_varnish_purger_goes_live_on_the_dot(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, staging: str
) -> None:
    """Staged beside the file (the default) or outside the web root: one rename at T either way."""
    _old_in_cache(webroot, varnish.url)
    outcome = _publish(
        tmp_path,
        varnish.url,
        origin.url,
        f"file://{webroot}" + staging.format(tmp=tmp_path),
        (f"varnish://{varnish.host}:{varnish.port}",),
    )
    _assert_on_the_dot(outcome)
    data = outcome[1]
    assert (webroot / PATH.lstrip("/")).read_bytes() == NEW
    # (nor the old file's second name, kept while staging so that the flip only renamed)
    assert not [*webroot.rglob(".onthedot-*"), *tmp_path.rglob(".onthedot-*")]
    assert any(a["ok"] for a in data["purge_attempts"])
    found = [(b["kind"], b["cause"]) for b in _breaches(tmp_path)]
    # on the dot; but nginx serves dot-files, so a staged copy beside the file was reachable
    assert found == ([] if staging else [("early", "staging exposed")])
    if staging:  # outside the web root: waited there, nothing the public could reach
        assert list((tmp_path / "staging").iterdir()) == []
        events = _events(tmp_path)
        (staged,) = [e for e in events if e["kind"] == "publish.staged"]
        assert staged["data"]["manifest"][0]["location"].startswith(f"{tmp_path}/staging/")
        assert "embargo.exposed" not in [e["kind"] for e in events]
        notes = [e["data"]["text"] for e in events if e["kind"] == "note"]
        assert any("outside the served web root" in text for text in notes)


def test_without_a_purger_the_edge_stays_stale_with_the_diagnosis(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    _old_in_cache(webroot, varnish.url)
    target = f"file://{webroot}?staging={tmp_path}/staging"  # (nothing reachable before T)
    code, data, _, _ = _publish(tmp_path, varnish.url, origin.url, target, (), watch="1.5")
    assert code == 1 and data["live"] is False
    (result,) = data["verify"]["results"]
    assert (result["status"], result["layer"]) == ("stale", "cache")
    assert "Varnish" in result["diagnosis"] and "purge" in result["diagnosis"]
    assert fetch(origin.url + PATH)[1] == NEW  # the origin has it: exactly the seed's failure
    assert [(b["kind"], b["cause"]) for b in _breaches(tmp_path)] == [("late", "cache")]


def _events(tmp_path: Path) -> list[dict[str, Any]]:
    """The release's timeline events."""
    (release,) = (tmp_path / "rel").glob("*.toml")
    _, data = cli(f"sqlite:///{tmp_path / 'store.db'}", "timeline", str(release))
    return list(data["events"])


def _breaches(tmp_path: Path) -> list[dict[str, Any]]:
    """The release's breaches, less the calendar ones (these tests release at odd times on purpose)."""
    (release,) = (tmp_path / "rel").glob("*.toml")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    _, data = cli(db, "breaches", str(release), config=tmp_path / "onthedot.toml")
    return [b for b in data["breaches"] if b["kind"] != "time"]


def _through_varnish(
    tmp_path: Path, backend: tuple[str, int], target: str, prefix: str = ""
) -> Outcome:
    """Publish to ``target`` with a real Varnish (1-hour TTL) in front of ``backend``."""
    cache = Varnish(*backend, default_ttl=3600).start()
    try:
        public = cache.url + prefix
        fetch(public + PATH)  # whatever is there now is in the cache
        return _publish(
            tmp_path,
            public,
            f"http://{backend[0]}:{backend[1]}{prefix}",
            target,
            (f"varnish://{cache.host}:{cache.port}",),
        )
    finally:
        cache.stop()


def test_ftp_target(
    tmp_path: Path, ftp_server: Vsftpd, start_server: Callable[[Nginx], Nginx]
) -> None:
    origin = start_server(Nginx(ftp_server.root))
    _old_in_cache(ftp_server.root, origin.url)
    _assert_on_the_dot(_through_varnish(tmp_path, (origin.host, origin.port), ftp_server.url))


def test_sftp_target(
    tmp_path: Path,
    sftp_server: Sshd,
    start_server: Callable[[Nginx], Nginx],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    origin = start_server(Nginx(sftp_server.root))
    _old_in_cache(sftp_server.root, origin.url)
    monkeypatch.setenv("ONTHEDOT_E2E_SFTP_PASSWORD", sftp_server.password or "")
    target = f"{sftp_server.url}?known_hosts={sftp_server.known_hosts}&password_env=ONTHEDOT_E2E_SFTP_PASSWORD"
    _assert_on_the_dot(_through_varnish(tmp_path, (origin.host, origin.port), target))


def test_s3_target(tmp_path: Path, s3_server: MotoS3) -> None:
    s3_server.create_bucket("statistics")
    endpoint = urlsplit(s3_server.endpoint_url)
    target = f"s3://testing:testing@statistics/?endpoint={s3_server.endpoint_url}&acl=public-read"
    backend = (endpoint.hostname or "127.0.0.1", endpoint.port or 80)
    _assert_on_the_dot(_through_varnish(tmp_path, backend, target, prefix="/statistics"))
