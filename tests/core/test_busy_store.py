"""A morning of many releases on PostgreSQL: the store's connections all busy, the publish goes on.

With hundreds of releases sweeping at once, every connection of the service's pool can be checked
out when a release flips. The publish path (its steps, its flip and their records) must never wait
behind them, let alone give up and crash after the rename.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.clock import ShiftedClock
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from tests.conftest import _postgres_url
from tests.core.test_publisher import NEW, PATH, publisher, release_file

pytestmark = pytest.mark.postgres

POOL = 5 + 10  # SQLAlchemy's pool: 5 kept, 10 more on demand


@pytest.fixture
async def engines() -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """The service's engine and an onlooker's, on one throwaway database."""
    urls = _postgres_url()
    url = next(urls)
    service, onlooker = await open_store(url), await open_store(url)
    try:
        yield service, onlooker
    finally:
        await service.dispose()
        await onlooker.dispose()
        next(urls, None)


async def _recorded(onlooker: AsyncEngine, kind: str, limit_s: float) -> float:
    """Seconds until the onlooker sees ``kind`` in the timeline (fails past ``limit_s``)."""
    started = time.monotonic()
    while not await Timeline(onlooker).events("r", kind):
        assert time.monotonic() - started < limit_s, f"{kind} not recorded within {limit_s} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_release_flips_and_records_it_while_every_pooled_connection_is_busy(
    engines: tuple[AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    service, onlooker = engines
    name = uuid.uuid4().hex
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    release = release_file(tmp_path, release_at, name)
    clock = ShiftedClock(dt.datetime.now(dt.UTC))
    seen: list[tuple[dt.datetime, bytes | None]] = []
    pub = publisher(service, name, clock, seen, leak_probes=False)
    busy: list[AsyncConnection] = [await service.connect() for _ in range(POOL)]  # the sweeps'
    task = asyncio.create_task(pub.publish(release))
    try:
        await _recorded(onlooker, kinds.PUBLISH_FLIPPED, limit_s=10.0)
    finally:
        for conn in busy:  # the sweeps' records done: the watch can record its own
            await conn.close()
    outcome = await task
    assert outcome.live and outcome.flipped_at is not None
    assert outcome.flipped_at >= release_at
    assert all(at >= release_at for at, body in seen if body == NEW), PATH
    assert (await Timeline(onlooker).verify("r")).ok
