"""A remote agent that stops posting is noticed: an agent the release's site names that falls
silent for ``[web] agent_silent_after_s`` before the release is live everywhere (one that never
posted, from the release time) opens the *vantage* incident, alerted like the others (IT at
once); it is resolved when the agent posts again. An agent outside its window, or one that stops
once the release is live, is not missed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import CheckResult, Release, Site, Status
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import Incident
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings, WebSettings
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
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
            "Checks from agent:edinburgh stopped: nothing was posted since 09:30:02 UTC, so the "
            "release is not seen from there; check that the agent is running"
        )
        assert len(received) == 2  # the statistician and IT, at once
        assert all("Checks from agent:edinburgh stopped" in m["message"] for m in received)

        await posted(store, "edinburgh", clock.at)  # it is back
        clock.move(1)  # (the store is read once a second)
        (incident,) = await vantage(responder)
        assert incident.state == "resolved"
        await responder.aclose()


async def test_an_agent_that_never_posted_is_missed_from_the_release_time_and_only_in_its_window(
    store: AsyncEngine,
) -> None:
    clock = MovedClock(T - dt.timedelta(seconds=50))  # in the window (60 s before T)
    responder = Responder(store, NotifySettings(), clock, ZoneInfo("Europe/London"), web=WEB)
    assert await vantage(responder) == []  # before T, an agent that never posted is not missed
    clock.at = T + dt.timedelta(seconds=SILENT_S)
    await posted(store, "cardiff", clock.at)
    assert await vantage(responder) == []  # (not yet more than the limit)
    clock.move(1)
    await posted(store, "cardiff", clock.at)
    (incident,) = await vantage(responder)
    assert incident.places == ("agent:edinburgh",) and incident.state == "open"
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
