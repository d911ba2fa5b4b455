"""The sweeps after T shared by three ``onthedot run`` on one PostgreSQL store, one standby killed.

A release of twelve files on a site that serves each file after ``DELAY_S`` (so a chunk of two
URLs takes that long: the other instances have time to claim theirs, and the test to kill one
holding a chunk), ``[publish] spread_chunk_urls = 2``. The first sweep after T is split into six
chunks; the test SIGKILLs a standby the moment it holds one. Then: every file checked and live,
checks recorded by more than one instance, no URL in two chunks of one sweep nor recorded twice
for one sweep, the killed standby's chunk done by another instance after its lease ran out, one
flip, and ``timeline --verify`` passes. (The instances are those of ``tests/e2e/test_failover.py``:
``bench.bench_failover.Fleet``.)
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.bench_failover import START_S, Fleet, Instance, has_step, recorded

from tests.conftest import _postgres_url
from tests.e2e.helpers import write_site_release
from tests.servers.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DELAY_S = 1.0
FILES = 12
LEAD_S = 6.0
CONFIG = (  # (an instance looks at one chunk at a time: its prober fetches two URLs at once)
    'releases = ["releases/*.toml"]\n[publish]\nspread_chunk_urls = 2\n[verify]\nconcurrency = 2\n'
)


class _Slow(SimpleHTTPRequestHandler):
    """Slow to serve a file (once it is published: the leak probes before T are answered fast)."""

    def do_GET(self) -> None:
        if Path(self.translate_path(self.path)).is_file():
            time.sleep(DELAY_S)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def database() -> Iterator[str]:
    yield from _postgres_url()


@pytest.fixture
def webroot(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    (root / "statistics").mkdir(parents=True)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(_Slow, directory=str(root)))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _rows(database: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(database) as conn:
        return conn.execute(query, args).fetchall()


def _holding(database: str, instance: str) -> bool:
    return bool(
        _rows(
            database,
            "SELECT 1 FROM sweep_chunks WHERE claimed_by = %s AND done_at IS NULL",
            instance,
        )
    )


def _name(instance: Instance) -> str:
    health = instance.health()
    assert health is not None
    return str(health["instance"])


def test_three_instances_share_the_sweeps_and_a_killed_standbys_chunk_is_done_again(
    tmp_path: Path, database: str, webroot: tuple[Path, str]
) -> None:
    root, public = webroot
    config = tmp_path / "onthedot.toml"
    config.write_text(CONFIG, encoding="utf-8")
    fleet = Fleet(config, database)
    try:
        leader, first = fleet.pair()
        second = fleet.start()
        fleet.until("the third instance stands by", second.stands_by, START_S)
        names = {_name(i): i for i in (leader, first, second)}
        release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LEAD_S)
        paths = [f"/statistics/table-{n}.csv" for n in range(FILES)]
        write_site_release(
            tmp_path / "releases", public=public, origin=None, release_at=release_at,
            artefacts=[(p, f"new {p}\n".encode(), None) for p in paths],
            target=f"file://{root}?staging={tmp_path / 'staging'}", id="spread",
        )  # fmt: skip
        killed = None
        deadline = release_at.timestamp() + 20
        while killed is None and time.time() < deadline:
            killed = next((n for n in (_name(first), _name(second)) if _holding(database, n)), None)
            time.sleep(0.02)
        assert killed is not None, "no standby claimed a chunk"
        names[killed].kill()
        fleet.until("the release verified", partial(has_step, database, "spread", "verified"), 40)
    finally:
        fleet.stop()
    _every_url_checked_once_per_sweep(database, [public + p for p in paths], killed)
    record = recorded(database, config, "spread")
    assert record["verify_ok"] and record["kinds"].get("publish.flipped") == 1, record
    assert not fleet.tracebacks()


def _every_url_checked_once_per_sweep(database: str, urls: list[str], killed: str) -> None:
    chunks = _rows(
        database,
        "SELECT sweep, urls, done_by, claims FROM sweep_chunks WHERE release_id = 'spread'",
    )
    sweeps: dict[str, list[str]] = {}
    for sweep, chunk_urls, done_by, _claims in chunks:
        assert done_by is not None  # every chunk done
        sweeps.setdefault(sweep, []).extend(chunk_urls)
    for listed in sweeps.values():
        assert len(listed) == len(set(listed))  # no URL in two chunks of one sweep
    first = max(sweeps.values(), key=len)
    assert sorted(first) == sorted(urls)  # the sweep at T: every URL
    redone = [c for c in chunks if c[3] > 1]
    assert redone and all(c[2] != killed for c in redone)  # taken over, done by another
    assert killed not in {c[2] for c in chunks}
    after_t = _rows(
        database,
        "SELECT c.url, c.vantage, c.status, c.checked_by FROM checks c "
        "JOIN publish_steps s ON s.release_id = c.release_id AND s.step = 'flipped' "
        "WHERE c.release_id = 'spread' AND c.checked_at >= s.done_at",
    )
    assert {url for url, *_ in after_t} == set(urls)  # every URL classified
    assert all(status == "live" for _, _, status, _ in after_t)
    by = Counter(checked_by for *_, checked_by in after_t)
    assert len(by) >= 2 and None not in by, by  # recorded for more than one instance
    times = Counter((url, vantage) for url, vantage, *_ in after_t)
    in_sweeps = Counter(url for listed in sweeps.values() for url in listed)
    for (url, _vantage), seen in times.items():
        assert seen == in_sweeps[url]  # one record per URL and vantage point per sweep
