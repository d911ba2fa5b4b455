"""A message is sent at most once per incident state, role and address, across restarts: one a
killed process was sending (it may have arrived) is never sent again but marked unsure, on the
timeline and on health; one whose tries all failed is tried again by the next process."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.deliveries import open_failures
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings
from onthedot.store.tables import alerts
from tests.respond.conftest import MovedClock, T, seen
from tests.respond.receivers import smtp_server, webhook

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Europe/London")


async def _statuses(store: AsyncEngine) -> list[str]:
    async with store.connect() as conn:
        return list((await conn.scalars(select(alerts.c.status).order_by(alerts.c.id))).all())


async def test_a_message_being_sent_when_onthedot_was_killed_is_not_sent_again(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.5))
    with smtp_server(hold_s=60) as (address, box):
        alerting = subprocess.Popen(
            [sys.executable, "-m", "tests.respond.alerting", f"sqlite:///{tmp_path / 'store.db'}", address],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not box.messages and alerting.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(box.messages) == 1  # the server has it, and has not answered yet
        finally:
            os.kill(alerting.pid, signal.SIGKILL)
            alerting.communicate()
        assert await _statuses(store) == ["sending"]
        settings = NotifySettings.model_validate({"statistician": [address]})
        again = Responder(store, settings, MovedClock(T + dt.timedelta(seconds=5)), ZONE)
        await again.tick()
        await again.tick()
        await again.sent()
        await asyncio.sleep(0.5)
        assert len(box.messages) == 1  # not sent twice
    assert await _statuses(store) == ["unsure"]
    (failed,) = await Timeline(store).events("retail-sales-2026-02", kinds.ALERT_FAILED)
    assert failed.data["final"] is True and "not sent twice" in failed.data["error"]
    (failure,) = await open_failures(store)
    assert failure.unsure and "may not have arrived" in failure.message
    assert "tell them" in failure.message


async def test_a_message_whose_tries_all_failed_so_far_is_sent_by_the_next_process(
    store: AsyncEngine,
) -> None:
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.5))
    with webhook(refuse=1) as (address, received):
        settings = NotifySettings.model_validate({"statistician": [address]})
        clock = MovedClock(T + dt.timedelta(seconds=1))
        first = Responder(store, settings, clock, ZONE, pauses_s=(3600,))
        await first.tick()
        deadline = time.monotonic() + 30
        while await _statuses(store) != ["retrying"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await first.aclose()  # stopped while it waited to try again
        assert await _statuses(store) == ["retrying"] and received == []
        second = Responder(store, settings, clock, ZONE)
        await second.tick()
        await second.sent()
        await second.tick()
        await second.sent()
    assert len(received) == 1
    assert await _statuses(store) == ["sent"]
    sent = await Timeline(store).events("retail-sales-2026-02", kinds.ALERT_SENT)
    assert len(sent) == 1
