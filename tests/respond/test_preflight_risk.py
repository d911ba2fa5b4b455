"""A preflight that finds a risk before the release time opens the *preflight* incident (IT is
alerted at once when a cache would hide the update); a later preflight that passes resolves it.
``onthedot run`` runs preflight by itself before T, on a real Varnish that keeps the old file."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.clock import SYSTEM_CLOCK
from onthedot.config import load_release
from onthedot.record import kinds
from onthedot.record.timeline import GENESIS, Event, Timeline
from onthedot.respond.incidents import IncidentBook
from onthedot.respond.preflights import checker, record
from onthedot.respond.problems import Reading
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings, VerifySettings
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.e2e.helpers import fetch, write_config, write_site_release
from tests.respond.receivers import webhook
from tests.servers.nginx import Nginx
from tests.servers.varnish import Varnish

T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
URL = "http://127.0.0.1:9/statistics/retail.xlsx"
PATH = "/statistics/fatalquarterly.xlsx"
AT_RISK = {
    "url": URL,
    "risk": "stale-after-T",
    "layer": "cache",
    "stale_until": "2026-03-12T10:30:00Z",
    "reason": "Varnish may keep serving the old version until 10:30:00, 1 hour after 09:30:00.",
    "fix": "Configure a purger, or send Cache-Control: max-age=60 before 09:29:00.",
}


def checked(seq: int, at: dt.datetime, ok: bool) -> Event:
    data = {"ok": ok, "risks": [] if ok else [AT_RISK]}
    return Event("retail", seq, at, kinds.PREFLIGHT_CHECKED, "onthedot", "cli", data, GENESIS, "x")


def test_a_preflight_risk_is_a_problem_until_a_preflight_passes_or_the_release_is_live() -> None:
    reading = Reading(T)
    reading.feed(checked(1, T - dt.timedelta(hours=1), ok=False))
    problem = reading.problems(T - dt.timedelta(minutes=59))["preflight"]
    assert (problem.cause, problem.places, problem.since) == (
        "cache",
        (URL,),
        T - dt.timedelta(hours=1),
    )
    assert problem.diagnosis.startswith(
        f"A check before the release time found one address ({URL})"
    )
    assert "Configure a purger" in problem.diagnosis  # the fix is in the sentence
    reading.feed(checked(2, T - dt.timedelta(minutes=50), ok=False))
    assert reading.problems(T)["preflight"].since == T - dt.timedelta(hours=1)  # still the same
    reading.feed(checked(3, T - dt.timedelta(minutes=40), ok=True))
    assert "preflight" not in reading.problems(T - dt.timedelta(minutes=39))
    reading.feed(checked(4, T - dt.timedelta(minutes=30), ok=False))
    live = Event("retail", 5, T, kinds.VERIFY_ALL_LIVE, "onthedot", "onthedot", {}, GENESIS, "x")
    reading.feed(live)
    assert "preflight" not in reading.problems(T + dt.timedelta(seconds=1))


def _cached(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, before: dt.timedelta
) -> Path:
    """A release file due ``before`` from now whose file's old version Varnish keeps for an
    hour (no purger)."""
    (webroot / "statistics").mkdir()
    (webroot / PATH.lstrip("/")).write_bytes(b"old")
    assert fetch(varnish.url + PATH)[1] == b"old"
    return write_site_release(
        tmp_path / "releases",
        public=varnish.url,
        origin=origin.url,
        release_at=SYSTEM_CLOCK.now().replace(microsecond=0) + before,
        artefacts=[(PATH, b"new", None)],
    )


@pytest.mark.services
async def test_run_s_preflight_before_t_alerts_it_and_a_passing_one_resolves_it(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    release = load_release(_cached(tmp_path, webroot, origin, varnish, dt.timedelta(minutes=30)))
    store = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        await ReleaseRepository(store).sync(release, actor="test")
        preflight = checker(VerifySettings(), 1.0, SYSTEM_CLOCK)
        with webhook() as (stats, to_stats), webhook() as (it, to_it):
            settings = NotifySettings.model_validate({"statistician": [stats], "it": [it]})
            zone = ZoneInfo("Europe/London")
            responder = Responder(store, settings, SYSTEM_CLOCK, zone, preflight=preflight)
            await responder.tick()  # 30 minutes before T: a preflight is due
            await responder.preflights.tasks.wait()
            await responder.tick()
            await responder.sent()
            (opened,) = await IncidentBook(store).of_release(release.id)
            assert (opened.problem, opened.state, opened.cause) == ("preflight", "open", "cache")
            assert opened.places == (varnish.url + PATH,)
            assert len(to_it) == 1 and len(to_stats) == 1  # IT at once: a cache is at fault
            assert "before the release time" in to_it[0]["title"] + to_it[0]["message"]
            await responder.tick()
            await responder.sent()
            assert len(to_it) == 1  # one message per state, not one per look
            assert release.site is not None
            purged = release.model_copy(
                update={"site": release.site.model_copy(update={"purge": ("varnish://x",)})}
            )  # a purger configured: the copy will be cleared at T
            passed = await preflight(purged)
            assert passed.ok
            await record(store, passed, SYSTEM_CLOCK.now(), source="cli")
            await responder.tick()
            await responder.sent()
            await responder.aclose()
        (resolved,) = await IncidentBook(store).of_release(release.id)
        assert resolved.state == "resolved"
        assert len(to_it) == 2 and "Resolved" in to_it[1]["title"]
        checks = await Timeline(store).events(release.id, kinds.PREFLIGHT_CHECKED)
        assert [e.data["ok"] for e in checks] == [False, True]
        assert checks[0].source == "responder" and checks[0].data["risks"][0]["layer"] == "cache"
    finally:
        await store.dispose()


@pytest.mark.services
def test_the_preflight_command_before_t_puts_its_findings_on_the_timeline(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    file = _cached(tmp_path, webroot, origin, varnish, dt.timedelta(hours=2))
    config = write_config(tmp_path, 'releases = ["releases/*.toml"]\n')
    database = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(
        app, ["--config", str(config), "--database", database, "preflight", str(file)]
    )
    assert result.exit_code == 1, result.output  # a URL at risk
    (event,) = asyncio.run(_preflights(database, load_release(file).id))
    assert event.source == "cli" and event.data["ok"] is False
    assert [r["url"] for r in event.data["risks"]] == [varnish.url + PATH]


async def _preflights(database: str, release_id: str) -> list[Event]:
    store = await open_store(database)
    try:
        return await Timeline(store).events(release_id, kinds.PREFLIGHT_CHECKED)
    finally:
        await store.dispose()
