"""Releases GOV.UK publishes, under ``onthedot run``: five real nginx servers play the CMS (one
with a real Varnish in front), each doing one thing at its release time, and one service watches
them all. onthedot neither stages nor flips; each behaviour gets the right status at the right
moment, an incident and an alert (a real SMTP sink), and a report whose account says what GOV.UK
did and when; the release published on time gets none of them.

The service runs on the real clock, so "late" is seconds late and "early" is published before the
service first looks (the same rules as minutes and hours: the late rule is one second).
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from onthedot.cli import app
from tests.e2e.cms import (
    LANDING,
    OLD,
    SERVES_PAGES,
    Cms,
    write_external_release,
)
from tests.e2e.helpers import cli, fetch, runner, start_service, write_config
from tests.respond.receivers import smtp_server
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer
from tests.servers.ports import free_port
from tests.servers.varnish import Varnish

pytestmark = [pytest.mark.services, pytest.mark.slow]

LEAD_S = 25.0  # the service starts, reads the releases and probes before T
LATE_S = 8.0
FILE = "#lms-march-2026.xlsx"


@dataclass
class Case:
    id: str
    title: str
    at: float | None  # seconds after T the CMS publishes (None: before the service starts)
    publish: Callable[[Cms], object]
    cms: Cms | None = None
    public: str = ""


def publish_new(cms: Cms) -> object:
    return cms.publish()


def publish_old(cms: Cms) -> object:
    return cms.publish(OLD, "lms-december-2025.xlsx")


CASES = [
    Case("on-time", "Labour market overview on time", -0.4, publish_new),
    Case("late", "Labour market overview late", LATE_S, publish_new),
    Case("early", "Labour market overview early", None, publish_new),
    Case("old-file", "Labour market overview with last quarter's file", -0.4, publish_old),
    Case("cached", "Labour market overview behind a cache", -0.4, publish_new),
]


def sites(tmp_path: Path, start_server: StartServer) -> None:
    """Each case's CMS (nginx), the cached one behind a Varnish that keeps the announcement."""
    for case in CASES:
        root = tmp_path / f"cms-{case.id}"
        case.cms = Cms(root)
        headers = {"/government/": {"Cache-Control": "max-age=3600"}}
        origin = start_server(Nginx(root, SERVES_PAGES, headers=headers))
        case.public = origin.url
        if case.id == "cached":
            cache = start_server(Varnish(origin.host, origin.port, default_ttl=3600))
            assert b"announcement" in fetch(cache.url + LANDING)[1]  # the cache keeps it
            case.public = cache.url
        if case.at is None:
            case.publish(case.cms)


def cms_at(release_at: dt.datetime) -> threading.Thread:
    """The CMS publishing each release at its moment."""

    def run() -> None:
        for case in sorted((c for c in CASES if c.at is not None), key=lambda c: c.at or 0):
            assert case.cms is not None and case.at is not None
            wait = release_at.timestamp() + case.at - time.time()
            time.sleep(max(0.0, wait))
            case.publish(case.cms)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_what_the_cms_does_gives_its_status_incident_alert_and_report(
    tmp_path: Path, start_server: StartServer
) -> None:
    sites(tmp_path, start_server)
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LEAD_S)
    for case in CASES:
        write_external_release(
            tmp_path / "releases" / case.id,
            public=case.public,
            release_at=release_at,
            id=f"lms-{case.id}",
            title=case.title,
        )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with smtp_server() as (address, box):
        config = write_config(
            tmp_path,
            'releases = ["releases/*/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'
            f'[notify]\nstatistician = ["{address}"]\n',
        )
        service = start_service(config, db, free_port())
        try:
            cms = cms_at(release_at)
            time.sleep(max(0.0, release_at.timestamp() + LATE_S + 12 - time.time()))
            cms.join(timeout=5)
        finally:
            service.send_signal(signal.SIGINT)
            try:
                output, _ = service.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                service.kill()
                output, _ = service.communicate()
        mail = box.texts()
    assert "Traceback" not in output, output
    t = release_at
    seen = {case.id: _record(db, config, f"lms-{case.id}", tmp_path) for case in CASES}
    alerts = {c.id: [m for m in mail if c.title in m[0] + m[1]] for c in CASES}

    on_time = seen["on-time"]
    assert on_time.breaches == [] and on_time.incidents == [] and alerts["on-time"] == [], on_time
    assert on_time.status_at(LANDING, t) == "live" and on_time.status_at(FILE, t) == "live"
    assert "GOV.UK publishes this release" in on_time.report
    assert "onthedot" not in on_time.report.split("Annex B")[0]

    late = seen["late"]
    assert late.status_at(LANDING, t) == "stale" and late.status_at(FILE, t) == "missing"
    went_live = late.first("live")
    assert went_live is not None and went_live >= t + dt.timedelta(seconds=LATE_S), late.results
    assert late.status_by(FILE, t + dt.timedelta(seconds=LATE_S + 4)) == "live"
    assert [(b["kind"], b["cause"]) for b in late.breaches] == [("late", "not published")]
    assert {"stale", "missing"} <= {i["problem"] for i in late.incidents} and alerts["late"]
    assert any("GOV.UK has not published" in body for _, body in alerts["late"])
    assert "GOV.UK publishes this release: it was first seen published" in late.report

    early = seen["early"]
    first = early.first("early")
    assert first is not None and first < t, early.results[:3]  # at the first leak probe
    assert first == min(dt.datetime.fromisoformat(r["checked_at"]) for r in early.results)
    (breach,) = [b for b in early.breaches if b["kind"] == "early"]
    assert breach["cause"] == "published early"
    assert dt.datetime.fromisoformat(breach["started_at"]) == first
    assert alerts["early"]
    assert "early" in {i["problem"] for i in early.incidents}
    assert "before the release time" in early.report

    old = seen["old-file"]
    assert old.status_at(LANDING, t) == "live" and old.status_at(FILE, t) == "wrong-file"
    assert "wrong-file" in {i["problem"] for i in old.incidents} and alerts["old-file"]
    assert [(b["kind"], b["cause"]) for b in old.breaches] == [("late", "wrong file")]
    assert any("replace the attachment" in body for _, body in alerts["old-file"])
    assert "other contents than the release's" in old.report

    cached = seen["cached"]
    assert cached.status_at(LANDING, t) == "stale" and cached.status_at(FILE, t) == "missing"
    assert cached.layer_at(LANDING, t) == "cache"
    assert [(b["kind"], b["cause"]) for b in cached.breaches] == [("late", "cache")]
    assert "stale" in {i["problem"] for i in cached.incidents} and alerts["cached"]
    assert any("cache" in body.lower() for _, body in alerts["cached"])


@dataclass
class Record:
    results: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    report: str

    def _at(self, suffix: str, at: dt.datetime) -> dict[str, Any] | None:
        after = [
            r
            for r in self.results
            if r["url"].endswith(suffix) and dt.datetime.fromisoformat(r["checked_at"]) >= at
        ]
        return after[0] if after else None

    def status_at(self, suffix: str, at: dt.datetime) -> str | None:
        """The status of the first check of the address at or after ``at``."""
        found = self._at(suffix, at)
        return found["status"] if found else None

    def status_by(self, suffix: str, at: dt.datetime) -> str | None:
        """The status of the address as last recorded by ``at`` (the timeline records changes)."""
        before = [
            r
            for r in self.results
            if r["url"].endswith(suffix) and dt.datetime.fromisoformat(r["checked_at"]) <= at
        ]
        return before[-1]["status"] if before else None

    def layer_at(self, suffix: str, at: dt.datetime) -> str | None:
        found = self._at(suffix, at)
        return found["layer"] if found else None

    def first(self, status: str) -> dt.datetime | None:
        times = [
            dt.datetime.fromisoformat(r["checked_at"])
            for r in self.results
            if r["status"] == status
        ]
        return min(times) if times else None


def _record(db: str, config: Path, release_id: str, tmp_path: Path) -> Record:
    code, timeline = cli(db, "timeline", release_id, config=config)
    assert code == 0, timeline
    results = [e["data"] for e in timeline["events"] if e["kind"] == "verify.result"]
    results.sort(key=lambda r: r["checked_at"])
    code, found = cli(db, "breaches", release_id, config=config)
    _, incidents = cli(db, "incidents", "--all", config=config)
    out = tmp_path / f"{release_id}.md"
    done = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "--database",
            db,
            "report",
            release_id,
            "--format",
            "md",
            "-o",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.stdout
    mine = [i for i in incidents["incidents"] if i["release"] == release_id]
    # (the release time is now, not 09:30 on a weekday: the calendar's own breach is left out)
    of_the_morning = [b for b in found["breaches"] if b["kind"] != "time"]
    return Record(results, of_the_morning, mine, out.read_text())
