"""What the public is not told even once a release is out, or while an incident is open: the
names of staged copies (a way in to a copy not yet flipped, or to a draft replaced before T whose
copy could not be removed), and which release an undelivered alert was about."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.deliveries import DeliveryFailure
from onthedot.web.app import create_app
from tests.web.conftest import GDP, GDP_STAGED, FixedClock

DRAFT = "/statistics/.onthedot-0a1b2c3d4e5f-gdp-itl-regions.xlsx"  # replaced before T, not removed


async def test_the_public_timeline_names_no_staged_copy(
    store: AsyncEngine, statistician: dict[str, str]
) -> None:
    timeline = Timeline(store)
    path = "/statistics/gdp-itl-regions.xlsx"
    staged = {"target": "file:///var/www", "manifest": [{"path": path, "location": GDP_STAGED}]}
    discarded = {
        "target": "file:///var/www",
        "manifest": [{"path": path, "location": DRAFT}],
        "not_removed": [{"path": path, "location": DRAFT, "error": "permission denied"}],
    }
    before = GDP.release_at - dt.timedelta(hours=1)
    await timeline.append(GDP.id, kinds.PUBLISH_DISCARDED, discarded, at=before)
    await timeline.append(GDP.id, kinds.PUBLISH_STAGED, staged, at=before)
    app = create_app(store, config=Config(), clock=FixedClock(GDP.release_at))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        url = f"/api/releases/{GDP.id}/timeline"
        public, staff = await client.get(url), await client.get(url, headers=statistician)
    assert public.status_code == staff.status_code == 200
    assert ".onthedot-" not in public.text
    events = {e["kind"]: e["data"] for e in public.json()["events"]}
    assert events[kinds.PUBLISH_STAGED]["manifest"] == [{"path": path}]
    assert events[kinds.PUBLISH_DISCARDED]["not_removed"] == [
        {"path": path, "error": "permission denied"}
    ]
    assert public.json()["chain"]["ok"] is True  # (checked on what is stored)
    assert GDP_STAGED in staff.text and DRAFT in staff.text  # (they may see the detail)


async def test_health_names_an_undelivered_alerts_release_only_to_those_who_may_see_it(
    store: AsyncEngine, statistician: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = GDP.release_at - dt.timedelta(minutes=20)
    failure = DeliveryFailure(GDP.id, 12, "it", "mailto://a***@example.org", "refused", before)

    async def failures(_: AsyncEngine) -> list[DeliveryFailure]:
        return [failure]

    monkeypatch.setattr("onthedot.web.api.open_failures", failures)
    app = create_app(store, config=Config(), clock=FixedClock(before))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        public = await client.get("/api/health")
        staff = await client.get("/api/health", headers=statistician)
    assert public.json()["status"] == staff.json()["status"] == "degraded"
    (told,) = public.json()["problems"]
    assert told == {
        "file": None,
        "release": None,
        "message": "An alert about an open incident could not be delivered: sign in to see "
        "which, then check the addresses alerts go to.",
    }
    assert GDP.id not in public.text and "example.org" not in public.text
    (named,) = staff.json()["problems"]
    assert named["release"] == GDP.id and named["message"] == failure.message
