"""An address that cannot be reached is retried, every try recorded, the other addresses still
delivered; it shows as an open delivery failure; no secret of an address reaches the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.channels import channel
from onthedot.respond.deliveries import open_failures
from onthedot.respond.responder import ATTEMPTS, Responder
from onthedot.settings import NotifySettings
from onthedot.web.app import create_app
from tests.respond.conftest import MovedClock, T, seen
from tests.respond.receivers import smtp_server, unreachable, webhook
from tests.web.conftest import FixedClock, token


async def test_an_unreachable_address_is_retried_and_recorded_and_the_others_still_delivered(
    store: AsyncEngine, tmp_path: Path
) -> None:
    with webhook() as (good, received):
        settings = NotifySettings.model_validate(
            {"statistician": [unreachable(), good], "publishing": [good]}
        )
        clock = MovedClock(T + dt.timedelta(seconds=1))
        responder = Responder(store, settings, clock, ZoneInfo("Europe/London"), pauses_s=(0, 0))
        await seen(store, Status.STALE, T + dt.timedelta(seconds=0.5))
        await responder.tick()
        await responder.sent()
    assert len(received) == 2  # the statistician's webhook and publishing's
    assert (
        "Retail sales, Great Britain: February 2026"
        in received[0]["title"] + received[0]["message"]
    )
    failed = await Timeline(store).events("retail-sales-2026-02", kinds.ALERT_FAILED)
    assert [e.data["attempt"] for e in failed] == list(range(1, ATTEMPTS + 1))
    assert failed[-1].data["final"] is True
    (failure,) = await open_failures(store)
    assert failure.role == "statistician" and "could not be delivered" in failure.message
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))  # the WAL too
    assert b"s3cret-pass" not in raw  # addresses are stored masked only
    assert "s3cret-pass" not in failure.address
    app = create_app(store, config=Config(), clock=FixedClock(T + dt.timedelta(seconds=2)))
    transport = httpx.ASGITransport(app=app)
    staff = await token(store, "it-on-call", "it")
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as client:
        health = (await client.get("/api/health", headers=staff)).json()
        public = (await client.get("/api/health")).json()
    assert health["status"] == public["status"] == "degraded"
    assert [p["message"] for p in health["problems"]] == [failure.message]
    assert "s3cret-pass" not in str(health)
    assert "retail-sales" not in str(public)  # (which release: only to whoever may see it)


async def test_many_messages_to_one_address_go_out_within_seconds() -> None:
    """Twenty incidents at once: the twenty e-mails to one address arrive within 5 s, not 5.5 s
    apart (Apprise's own pace)."""
    with smtp_server() as (address, box):
        chan = channel("statistician", 0, address)
        started = time.time()
        await asyncio.gather(*(chan.send(f"Incident {n}", "What is wrong.") for n in range(20)))
        while len(box.messages) < 20 and time.time() < started + 30:
            await asyncio.sleep(0.05)
    assert len(box.messages) == 20
    assert box.messages[-1][0] - started <= 5.0
