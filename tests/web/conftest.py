"""A store with a realistic release morning (the seed's 18 December 2019) and in-process clients.

- ``fatal-injuries-2019-apr-sep`` (T = 09:30 GMT): the page went live at T, the spreadsheet is
  still stale in Varnish at 09:40 (the seed's failure); a leak probe at 09:20 found both embargoed.
- ``labour-market-2019-12`` (the day before): live everywhere 1.2 s after T.
- ``regional-gdp-2019`` (the day after): nothing checked yet.

The app's clock is fixed at 09:41:00 on the release morning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Artefact, CheckResult, Release, Site, Status
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.store.tokens import AccessTokens
from onthedot.web.app import create_app

UTC = dt.UTC
T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=UTC)
NOW = T + dt.timedelta(minutes=11)
PUBLIC = "https://www.hse.gov.uk"
NEW = hashlib.sha256(b"new fatal injuries figures").hexdigest()
OLD = hashlib.sha256(b"last year's figures").hexdigest()
XLSX = f"{PUBLIC}/statistics/fatalquarterly.xlsx"
PAGE = f"{PUBLIC}/statistics/fatals.htm"
STALE_SENTENCE = (
    "The cache (Varnish) served the old file (Age 3,412 s of max-age 3,600 s) while the origin "
    "has the new one: purge /statistics/fatalquarterly.xlsx or wait 188 s — it is fresh in the "
    "cache until 09:44:08 unless purged."
)
TOKENS = {"tok-edinburgh-7f3a": "edinburgh", "tok-cardiff-91bc": "cardiff"}


class FixedClock:
    def __init__(self, now: dt.datetime) -> None:
        self.at = now

    def now(self) -> dt.datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def release(rid: str, title: str, at: dt.datetime, artefacts: tuple[Artefact, ...]) -> Release:
    return Release(
        id=rid,
        title=title,
        producer="Health and Safety Executive",
        release_at=at,
        announced_at=at - dt.timedelta(days=40),
        lead_statistician="A Statistician <stats@example.org>",
        site=Site(public=PUBLIC, origin="http://origin.hse.internal:8080", agents=("edinburgh",)),
        artefact=artefacts,
    )


FATAL = release(
    "fatal-injuries-2019-apr-sep",
    "Fatal injuries arising from accidents at work in Great Britain: April to September 2019",
    T,
    (
        Artefact(path="/statistics/fatalquarterly.xlsx", sha256=NEW, size=24),
        Artefact(path="/statistics/fatals.htm", expect_text="April to September 2019"),
    ),
)
LABOUR = release(
    "labour-market-2019-12",
    "Labour market overview, UK: December 2019",
    T - dt.timedelta(days=1),
    (Artefact(path="/statistics/lfs.xlsx", sha256=NEW, size=24),),
)
# tomorrow's release: what only its makers may see before its release time
GDP_SHA = hashlib.sha256(b"regional gdp: London up 2.9%").hexdigest()
GDP_SERVED = hashlib.sha256(b"regional gdp: a leaked draft").hexdigest()
GDP_SIZE = 318_877
GDP_STAGED = "/statistics/.onthedot-87229d4be1c0-gdp-itl-regions.xlsx"
GDP_PAGE_TEXT = "London grew by 2.9%"
GDP = release(
    "regional-gdp-2019",
    "Regional gross domestic product: all ITL regions",
    T + dt.timedelta(days=1),
    (
        Artefact(path="/statistics/gdp-itl-regions.xlsx", sha256=GDP_SHA, size=GDP_SIZE),
        Artefact(path="/statistics/gdp.htm", expect_text=GDP_PAGE_TEXT),
    ),
)
EMBARGOED_STRINGS = (GDP_SHA, GDP_SERVED, str(GDP_SIZE), GDP_STAGED, GDP_PAGE_TEXT, "gdp-itl")


def result(url: str, status: Status, at: dt.datetime, **extra: Any) -> CheckResult:
    values: dict[str, Any] = {
        "served_sha256": NEW if status is Status.LIVE else OLD,
        "expected_sha256": NEW if url.endswith(".xlsx") else None,
        "diagnosis": {
            Status.LIVE: "The new version is live (served by Varnish, Age 3 s).",
            Status.EMBARGOED: "The new version is not public yet, as it should be before 09:30.",
            Status.STALE: STALE_SENTENCE,
        }.get(status, "The site answered 503: ask IT to check the site, then check again."),
        "cache": {"product": "varnish", "age": 3412} if status is Status.STALE else {},
        "http_status": 200,
        "layer": "cache" if status is Status.STALE else None,
    }
    values.update(extra)
    return CheckResult(url=url, status=status, checked_at=at, **values)


async def fill(engine: AsyncEngine) -> None:
    repo = ReleaseRepository(engine)
    for item in (FATAL, LABOUR, GDP):
        await repo.sync(item, actor="test")
    recorder = CheckRecorder(engine)
    timeline = Timeline(engine)
    at = T - dt.timedelta(minutes=10)
    await recorder.record(
        FATAL.id, [result(XLSX, Status.EMBARGOED, at), result(PAGE, Status.EMBARGOED, at)]
    )
    await timeline.append(
        FATAL.id, kinds.PUBLISH_FLIPPED, {"target": "ftp://origin", "late_s": 0.004}, at=T
    )
    at = T + dt.timedelta(milliseconds=50)
    await recorder.record(FATAL.id, [result(XLSX, Status.STALE, at), result(PAGE, Status.LIVE, at)])
    at = T + dt.timedelta(minutes=10)
    await recorder.record(FATAL.id, [result(XLSX, Status.STALE, at), result(PAGE, Status.LIVE, at)])
    lfs = f"{PUBLIC}/statistics/lfs.xlsx"
    day_before = LABOUR.release_at
    await recorder.record(LABOUR.id, [result(lfs, Status.STALE, day_before)])
    await recorder.record(
        LABOUR.id, [result(lfs, Status.LIVE, day_before + dt.timedelta(seconds=1.2))]
    )
    await stage_gdp(recorder, timeline)


async def stage_gdp(recorder: CheckRecorder, timeline: Timeline) -> None:
    """Tomorrow's release staged an hour ago, and a leak probe that found it served early."""
    staged_at = NOW - dt.timedelta(hours=1)
    manifest = [
        {"path": "/statistics/gdp-itl-regions.xlsx", "sha256": GDP_SHA, "size": GDP_SIZE}
        | {"location": GDP_STAGED}
    ]
    await timeline.append(
        GDP.id, kinds.PUBLISH_STAGED, {"target": "ftp://origin", "manifest": manifest}, at=staged_at
    )
    leak = result(
        f"{PUBLIC}/statistics/gdp-itl-regions.xlsx",
        Status.EARLY,
        NOW - dt.timedelta(minutes=5),
        served_sha256=GDP_SERVED,
        expected_sha256=GDP_SHA,
        diagnosis=f"The new file (SHA-256 {GDP_SHA[:12]}) is served before its release time.",
    )
    await recorder.record(GDP.id, [leak])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite:///{tmp_path / 'onthedot.db'}")
    await fill(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


LIVE_S = 0.3
"""How long a release page's live stream lasts in process (ASGITransport reads it to its end)."""


@pytest.fixture
def app(store: AsyncEngine, clock: FixedClock) -> FastAPI:
    made = create_app(store, config=Config(), clock=clock, agent_tokens=TOKENS)
    made.state.onthedot.feed.lifetime_s = LIVE_S
    return made


async def token(engine: AsyncEngine, name: str, role: str) -> dict[str, str]:
    """The Authorization header of a new token of ``role``."""
    made = await AccessTokens(engine).add(name, role, NOW - dt.timedelta(days=1))
    return {"Authorization": f"Bearer {made}"}


@pytest.fixture
async def statistician(store: AsyncEngine) -> dict[str, str]:
    return await token(store, "a-statistician", "statistician")


@pytest.fixture
async def scraper(store: AsyncEngine) -> dict[str, str]:
    return await token(store, "prometheus", "metrics")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        yield c
