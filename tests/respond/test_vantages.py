"""A remote agent that stops posting is noticed: an agent the release's site names that falls
silent for ``[web] agent_silent_after_s`` before the release is live everywhere (one that never
posted, from the release time) opens the *vantage* incident, alerted like the others (IT at
once); it is resolved when the agent posts again. An agent outside its window, or one that stops
once the release is live, is not missed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import CheckResult, Release, Site, Status
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import Incident
from onthedot.respond.responder import Responder
from onthedot.respond.vantages import latest_posts
from onthedot.settings import NotifySettings, WebSettings
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.conftest import _postgres_url
from tests.respond.conftest import URL, MovedClock, T
from tests.respond.receivers import webhook

SILENT_S = 10.0
WEB = WebSettings(agent_silent_after_s=SILENT_S, agents_before_s=60, agents_after_s=600)


def probed(agents: tuple[str, ...] = ("edinburgh", "cardiff")) -> Release:
    return Release(
        id="retail-sales-2026-02",
        title="Retail sales, Great Britain: February 2026",
        producer="Office for National Statistics",
        release_at=T,
        site=Site(public="http://127.0.0.1:9", agents=agents),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await ReleaseRepository(engine).sync(probed(), actor="test")
    try:
        yield engine
    finally:
        await engine.dispose()


async def posted(engine: AsyncEngine, agent: str, at: dt.datetime) -> None:
    """What the server records when ``agent`` posts a result checked at ``at``."""
    result = CheckResult(
        url=URL,
        status=Status.LIVE if at >= T else Status.EMBARGOED,
        served_sha256="a" * 64,
        expected_sha256="a" * 64,
        diagnosis="Seen from the agent.",
        checked_at=at,
        vantage=f"agent:{agent}",
    )
    await CheckRecorder(engine).record("retail-sales-2026-02", [result])


async def vantage(responder: Responder) -> list[Incident]:
    await responder.tick()
    await responder.sent()
    found = await responder.book.changed_since(T - dt.timedelta(days=1))
    return [i for i in found if i.problem == "vantage"]


async def test_an_agent_that_stops_posting_opens_an_incident_until_it_posts_again(
    store: AsyncEngine,
) -> None:
    clock = MovedClock(T - dt.timedelta(seconds=5))
    with webhook() as (address, received):
        settings = NotifySettings.model_validate({"statistician": [address], "it": [address]})
        responder = Responder(store, settings, clock, ZoneInfo("Europe/London"), web=WEB)
        for _ in range(8):  # both post every second, from T - 5 s to T + 2 s
            await posted(store, "edinburgh", clock.at)
            await posted(store, "cardiff", clock.at)
            assert await vantage(responder) == []
            clock.move(1)
        cut_at = clock.at - dt.timedelta(seconds=1)  # edinburgh's last post; cardiff goes on
        while clock.at - cut_at <= dt.timedelta(seconds=SILENT_S):
            assert await vantage(responder) == [], clock.at
            await posted(store, "cardiff", clock.at)
            clock.move(1)
        (incident,) = await vantage(responder)
        assert (incident.state, incident.places) == ("open", ("agent:edinburgh",))
        assert incident.diagnosis.startswith(
            "The checks from Edinburgh stopped at 09:30:02, so the release is not seen from "
            "there: check that the agent is running and can reach this server"
        )
        assert len(received) == 2  # the statistician and IT, at once
        for message in (m["message"] for m in received):  # in words, local times only
            assert "Where: Edinburgh (a remote agent)." in message, message
            assert "The checks from Edinburgh stopped at 09:30:02" in message, message
            assert not any(code in message for code in ("agent:", "[site]", "UTC")), message

        await posted(store, "edinburgh", clock.at)  # it is back
        clock.move(1)  # (the store is read once a second)
        (incident,) = await vantage(responder)
        assert incident.state == "resolved"
        await responder.aclose()


async def test_an_agent_that_never_posted_is_missed_from_the_release_time_and_only_in_its_window(
    store: AsyncEngine,
) -> None:
    clock = MovedClock(T - dt.timedelta(seconds=50))  # in the window (60 s before T)
    paris = ZoneInfo("Europe/Paris")  # (a producer an hour ahead of UTC)
    responder = Responder(store, NotifySettings(), clock, paris, web=WEB)
    assert await vantage(responder) == []  # before T, an agent that never posted is not missed
    clock.at = T + dt.timedelta(seconds=SILENT_S)
    await posted(store, "cardiff", clock.at)
    assert await vantage(responder) == []  # (not yet more than the limit)
    clock.move(1)
    await posted(store, "cardiff", clock.at)
    (incident,) = await vantage(responder)
    assert incident.places == ("agent:edinburgh",) and incident.state == "open"
    assert incident.diagnosis.startswith(  # (not "stopped": it never began)
        "No checks came from Edinburgh by the release time, 10:30:00, so the release is not seen "
        "from there"
    )
    clock.at = T + dt.timedelta(seconds=WEB.agents_after_s + 1)  # its window is over
    (incident,) = await vantage(responder)
    assert incident.state == "resolved"
    await responder.aclose()


async def test_an_agent_that_stops_once_the_release_is_live_is_not_missed(
    store: AsyncEngine,
) -> None:
    clock = MovedClock(T + dt.timedelta(seconds=1))
    responder = Responder(store, NotifySettings(), clock, ZoneInfo("Europe/London"), web=WEB)
    for _ in range(3):  # both post from T + 1 s to T + 3 s; live everywhere at T + 2 s
        await posted(store, "edinburgh", clock.at)
        await posted(store, "cardiff", clock.at)
        if clock.at == T + dt.timedelta(seconds=2):
            data = {"urls": [URL], "vantages": ["agent:cardiff", "agent:edinburgh"]}
            await Timeline(store).append(
                "retail-sales-2026-02", kinds.VERIFY_ALL_LIVE, data, at=clock.at
            )
        clock.move(1)
    for _ in range(int(SILENT_S) + 5):  # edinburgh stops; cardiff goes on
        await posted(store, "cardiff", clock.at)
        assert await vantage(responder) == [], clock.at
        clock.move(1)
    await responder.aclose()


async def test_an_agent_with_a_slow_clock_posting_often_is_not_missed(store: AsyncEngine) -> None:
    """Its ``checked_at`` is as far behind as the server accepts (``agent_clock_skew_s``), which
    is about the silence allowed (``agent_silent_after_s``): silence is measured from when the
    server received its posts, not from its own clock."""
    web = WebSettings(agents_before_s=60, agents_after_s=600)  # the default skew and silence
    slow = dt.timedelta(seconds=web.agent_clock_skew_s - 0.5)  # (as far as the server accepts)
    clock = MovedClock(T - dt.timedelta(seconds=5))
    responder = Responder(store, NotifySettings(), clock, ZoneInfo("Europe/London"), web=web)
    for step in range(int(web.agent_silent_after_s) * 4):
        if step % 4 == 0:  # both post every 2 s, edinburgh's clock 29.5 s slow
            await posted(store, "edinburgh", clock.at - slow)
            await posted(store, "cardiff", clock.at)
        assert await vantage(responder) == [], clock.at
        clock.move(0.5)
    cut_at = clock.at - dt.timedelta(seconds=2)  # it stops: missed once the silence has passed
    clock.at = cut_at + dt.timedelta(seconds=web.agent_silent_after_s + 1)
    await posted(store, "cardiff", clock.at)
    (incident,) = await vantage(responder)
    assert incident.places == ("agent:edinburgh",) and incident.state == "open"
    await responder.aclose()


async def test_a_responder_started_after_an_agent_fell_silent_misses_it_at_once(
    store: AsyncEngine,
) -> None:
    """What it finds at its first look is taken as received as late as its ``checked_at``
    allows (the agent's clock may be ``agent_clock_skew_s`` slow), and no later."""
    web = WebSettings(agents_before_s=60, agents_after_s=600, agent_clock_skew_s=5)
    await posted(store, "edinburgh", T)
    await posted(store, "cardiff", T + dt.timedelta(seconds=40))
    clock = MovedClock(T + dt.timedelta(seconds=40))  # silent for 40 s: 35 s even if 5 s slow
    responder = Responder(store, NotifySettings(), clock, ZoneInfo("Europe/London"), web=web)
    (incident,) = await vantage(responder)
    assert incident.places == ("agent:edinburgh",) and incident.state == "open"
    assert incident.diagnosis.startswith("The checks from Edinburgh stopped at 09:30:05,")
    await responder.aclose()


@pytest.fixture
def postgres() -> Iterator[str]:
    yield from _postgres_url()


@pytest.mark.postgres
async def test_an_agents_latest_result_is_found_without_reading_every_check(postgres: str) -> None:
    """The responder asks once a second; a release probed from its edge and its agents for a
    morning has tens of thousands of checks: each agent's latest is one probe of an index."""
    engine = await open_store(postgres)
    try:
        await ReleaseRepository(engine).sync(probed(), actor="test")
        async with engine.begin() as conn:
            await conn.execute(
                text(  # the agents stopped early on; the edge went on, for this and others
                    "INSERT INTO checks (release_id, url, vantage, status, checked_at, result) "
                    "SELECT CASE WHEN n % 4 = 0 THEN 'retail-sales-2026-02' ELSE 'other-' || "
                    "(n % 4) END, :url || (n % 50), CASE WHEN n > 2000 THEN 'edge' ELSE (ARRAY["
                    "'edge', 'agent:edinburgh', 'agent:cardiff'])[1 + n % 3] END, 'live', "
                    "now() + n * interval '1 ms', '{}' FROM generate_series(1, 40000) AS n"
                ),
                {"url": URL},
            )
            await conn.execute(text("ANALYZE checks"))
            query = latest_posts([probed()]).compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {query}"))).scalar_one()
            rows = (await conn.execute(latest_posts([probed()]))).all()
        nodes = list(_nodes(plan[0]["Plan"]))
        assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
        used = {n.get("Index Name") for n in nodes}
        assert "ix_checks_release_vantage" in used, nodes
        assert sorted(vantage for _, vantage, _, _ in rows) == ["agent:cardiff", "agent:edinburgh"]
    finally:
        await engine.dispose()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
