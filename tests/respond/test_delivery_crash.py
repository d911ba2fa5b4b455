"""A delivery that ends in an error nobody foresaw (SQLAlchemy's "database is locked" once SQLite's
busy timeout ran out, a bug) is not lost: it is logged for IT, and a later look takes the message
up again from what the store says of it: not sent yet, sent then; maybe sent, never twice but
shown as a delivery that may not have arrived."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import MutableMapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.deliveries import SENDING, AlertLog, open_failures
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings
from onthedot.store.tables import alerts
from tests.respond.conftest import MovedClock, T, seen
from tests.respond.receivers import webhook

ZONE = ZoneInfo("Europe/London")
Logged = list[MutableMapping[str, Any]]


def _locked() -> OperationalError:
    return OperationalError(
        "UPDATE alerts SET status=?", {}, sqlite3.OperationalError("database is locked")
    )


async def _statuses(store: AsyncEngine) -> list[str]:
    async with store.connect() as conn:
        return list((await conn.scalars(select(alerts.c.status).order_by(alerts.c.id))).all())


def _crashes(logged: Logged) -> list[MutableMapping[str, Any]]:
    return [e for e in logged if e.get("exc_info") and e.get("alert") is not None]


async def test_an_alert_whose_sending_mark_raised_is_sent_on_a_later_look(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first try is refused (503, recorded ``retrying``); marking the second try ``sending``
    raises "database is locked": nothing of it can have arrived, so the next look sends it."""
    locked: list[int] = []
    mark = AlertLog.mark

    async def mark_once_locked(self: AlertLog, alert_id: int, status: str, *args: Any) -> None:
        if status == SENDING and not locked:
            locked.append(alert_id)
            raise _locked()
        await mark(self, alert_id, status, *args)

    monkeypatch.setattr(AlertLog, "mark", mark_once_locked)
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.5))
    with webhook(refuse=1) as (address, received):
        settings = NotifySettings.model_validate({"statistician": [address]})
        clock = MovedClock(T + dt.timedelta(seconds=1))
        responder = Responder(store, settings, clock, ZONE, pauses_s=(0, 0))
        try:
            with capture_logs() as logged:
                await responder.tick()
                await responder.sent()
                assert locked and received == []
                assert await _statuses(store) == ["retrying"]
                clock.move(5)
                await responder.tick()  # a later look
                await responder.sent()
        finally:
            await responder.aclose()
    assert len(received) == 1
    assert "Retail sales" in received[0]["title"] + received[0]["message"]
    assert await _statuses(store) == ["sent"]
    assert len(await Timeline(store).events("retail-sales-2026-02", kinds.ALERT_SENT)) == 1
    assert await open_failures(store) == []
    assert _crashes(logged)  # said for IT, with its traceback


async def test_an_alert_sent_whose_record_raised_is_not_sent_twice_and_shows_unsure(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message went out, then recording it sent raised: it may have arrived, so a later look
    does not send it again but marks it unsure, and it shows among the delivery failures."""
    append = Timeline.append
    failed: list[str] = []

    async def append_sent_once_locked(self: Timeline, release_id: str, kind: str,
                                      *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        if kind == kinds.ALERT_SENT and not failed:
            failed.append(kind)
            raise _locked()
        return await append(self, release_id, kind, *args, **kwargs)

    monkeypatch.setattr(Timeline, "append", append_sent_once_locked)
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.5))
    with webhook() as (address, received):
        settings = NotifySettings.model_validate({"statistician": [address]})
        clock = MovedClock(T + dt.timedelta(seconds=1))
        responder = Responder(store, settings, clock, ZONE, pauses_s=(0, 0))
        try:
            await responder.tick()
            await responder.sent()
            assert failed and len(received) == 1
            clock.move(5)
            await responder.tick()
            await responder.sent()
        finally:
            await responder.aclose()
    assert len(received) == 1  # not sent twice
    assert await _statuses(store) == ["unsure"]
    (failure,) = await open_failures(store)
    assert failure.unsure and "may not have arrived" in failure.message
