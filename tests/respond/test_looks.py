"""How often the responder looks: at once when the morning records something, but a crowded
morning's nudges (every release's sweeps at T) are read a few at a time, not a look each."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import respond
from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.problems import Reading
from onthedot.respond.responder import LOOK_GAP_S, READ, Responder
from onthedot.settings import NotifySettings
from tests.respond.conftest import MovedClock, T, seen

RELEASE_ID = "retail-sales-2026-02"


class _Counted(Responder):
    """A responder that counts its looks."""

    looks = 0

    async def look(self) -> None:
        self.looks += 1
        await super().look()


async def test_a_crowded_mornings_nudges_are_read_together(store: AsyncEngine) -> None:
    responder = _Counted(
        store, NotifySettings(), MovedClock(T), ZoneInfo("Europe/London"), look_every_s=30
    )
    running = asyncio.create_task(responder.run_forever())
    started = time.monotonic()
    try:
        for _ in range(100):  # (sweeps of many releases recording, 10 ms apart)
            respond.observe()
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await responder.aclose()
    assert 2 <= responder.looks <= took / LOOK_GAP_S + 2, (responder.looks, took)


async def test_what_the_gap_held_back_at_a_stop_is_read_before_the_responder_closes(
    store: AsyncEngine,
) -> None:
    """The origin answers again just before the release is done and the service stops: the
    look the gap held back never comes, so the stop looks once more (the chaos case of a frozen
    origin: its error incident stayed open)."""
    clock = MovedClock(T + dt.timedelta(minutes=1))
    responder = Responder(
        store, NotifySettings(), clock, ZoneInfo("Europe/London"), look_every_s=30
    )
    running = asyncio.create_task(responder.run_forever())
    try:
        await seen(store, Status.STALE, clock.now())
        respond.observe()
        async with asyncio.timeout(10):
            while not await responder.book.of_release(RELEASE_ID):
                await asyncio.sleep(0.01)
        await seen(store, Status.LIVE, clock.now())
        respond.observe()  # (read by the next look, which the stop comes before)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await responder.catch_up()
        await responder.aclose()
    (incident,) = await responder.book.of_release(RELEASE_ID)
    assert (incident.problem, incident.state) == ("stale", "resolved")


async def test_an_error_that_came_and_went_between_two_looks_is_an_incident_resolved(
    store: AsyncEngine,
) -> None:
    """The origin frozen for a few seconds after T: its errors and the file live again are
    recorded within the same gap between two looks (the chaos case of a frozen origin)."""
    clock = MovedClock(T - dt.timedelta(minutes=1))
    responder = Responder(store, NotifySettings(), clock, ZoneInfo("Europe/London"))
    try:
        await seen(store, Status.EMBARGOED, clock.now())
        await responder.tick()
        clock.move(62)
        await seen(store, Status.ERROR, T + dt.timedelta(seconds=1))
        await seen(store, Status.LIVE, T + dt.timedelta(seconds=2))
        await responder.tick()
        await responder.tick()  # (nothing new: nothing moves)
    finally:
        await responder.aclose()
    (incident,) = await responder.book.of_release(RELEASE_ID)
    assert (incident.problem, incident.state) == ("error", "resolved")
    events = await Timeline(store).events(RELEASE_ID)
    assert [e.kind for e in events if e.kind.startswith("incident.")] == [
        kinds.INCIDENT_OPENED,
        kinds.INCIDENT_RESOLVED,
    ]


async def test_a_look_reads_only_the_kinds_of_event_the_responder_acts_on(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At T a sweep records a ``verify.first-live`` for every URL, the purge its attempts: none
    changes what the responder does, and each look read them all. Now it reads what it acts on
    (the stale result: an incident), and what it did not read is not asked about again."""
    fed: list[str] = []
    real_feed = Reading.feed

    def feed(reading: Reading, event: Event) -> None:
        fed.append(event.kind)
        real_feed(reading, event)

    monkeypatch.setattr(Reading, "feed", feed)
    clock = MovedClock(T + dt.timedelta(seconds=2))
    responder = Responder(store, NotifySettings(), clock, ZoneInfo("Europe/London"))
    timeline = Timeline(store)
    try:
        await timeline.append(RELEASE_ID, kinds.PURGE_ATTEMPT, {"ok": True}, at=clock.now())
        await seen(store, Status.STALE, clock.now())
        for n in range(3):
            first_live = {"url": f"/statistics/{n}.csv", "vantage": "origin", "at": "…"}
            await timeline.append(RELEASE_ID, kinds.VERIFY_FIRST_LIVE, first_live, at=clock.now())
        await responder.tick()
        assert fed == [kinds.VERIFY_RESULT]
        (incident,) = await responder.book.of_release(RELEASE_ID)
        assert incident.problem == "stale"
        head = (await timeline.events(RELEASE_ID))[-1].seq
        assert await timeline.moved({RELEASE_ID: head}, of=READ) == {}  # (nothing to ask again)
        await timeline.append(RELEASE_ID, kinds.PURGE_DONE, {"urls": []}, at=clock.now())
        await responder.tick()
        await responder.tick()
        assert fed == [kinds.VERIFY_RESULT]
    finally:
        await responder.aclose()
