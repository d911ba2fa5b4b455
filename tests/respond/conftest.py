"""A store with one release, a clock the test moves, and ways to record what the morning sees."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import CheckResult, Release, Site, Status
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.verifier import result_json

T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
URL = "http://127.0.0.1:9/statistics/retail-sales.xlsx"
DIAGNOSIS = (
    "The cache served the old file (Age 3,412 s of max-age 3,600): purge "
    "/statistics/retail-sales.xlsx or wait 188 s."
)


class MovedClock:
    """Stands at ``at`` until the test moves it."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    def move(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def retail() -> Release:
    return Release(
        id="retail-sales-2026-02",
        title="Retail sales, Great Britain: February 2026",
        producer="Office for National Statistics",
        release_at=T,
        site=Site(public="http://127.0.0.1:9"),
    )


@pytest.fixture
def release() -> Release:
    return retail()


@pytest.fixture
async def store(tmp_path: Path, release: Release) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await ReleaseRepository(engine).sync(release, actor="test")
    try:
        yield engine
    finally:
        await engine.dispose()


async def seen(
    engine: AsyncEngine, status: Status, at: dt.datetime, layer: str | None = "cache"
) -> None:
    """Record what a sweep saw of URL at ``at`` (as the check recorder does on a change)."""
    result = CheckResult(
        url=URL,
        status=status,
        served_sha256="a" * 64,
        expected_sha256="b" * 64,
        diagnosis=DIAGNOSIS if status is Status.STALE else "The new version is served.",
        checked_at=at,
        layer=layer if status is Status.STALE else None,
    )
    data = result_json(result)
    await Timeline(engine).append("retail-sales-2026-02", kinds.VERIFY_RESULT, data, at=at)
