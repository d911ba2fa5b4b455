"""A sweep's batches stored on a thread of their own: all of them, in order, with the same
timeline; a store that fails stops the sweep with its error; a sweep that fails keeps what it
handed over."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import StoreError
from onthedot.model import CheckResult, Status
from onthedot.record import kinds
from onthedot.record.beside import Store, record_beside
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.store.tables import checks

AT = dt.datetime(2026, 1, 7, 9, 30, 1, tzinfo=dt.UTC)


def result(number: int, status: Status = Status.LIVE) -> CheckResult:
    return CheckResult(
        url=f"https://stats.example/f/{number}.csv",
        status=status,
        served_sha256="ab" * 32,
        expected_sha256="ab" * 32,
        diagnosis="The new version is live.",
        checked_at=AT,
    )


def opener(url: str) -> Store:
    @asynccontextmanager
    async def store() -> AsyncIterator[AsyncEngine]:
        engine = await open_store(url)
        try:
            yield engine
        finally:
            await engine.dispose()

    return store


async def stored_urls(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(checks.c.url).order_by(checks.c.id))
        return [url for (url,) in rows]


async def test_every_batch_is_stored_in_order_with_its_timeline(
    database_url: str, engine: AsyncEngine
) -> None:
    batches = [[result(n) for n in range(start, start + 700)] for start in (0, 700, 1400)]
    batches[1][5] = result(705, Status.STALE)

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        for batch in batches:
            yield batch

    await record_beside(opener(database_url), "r1", sweep())
    assert await stored_urls(engine) == [r.url for batch in batches for r in batch]
    events = await Timeline(engine).events("r1")
    assert [e.kind for e in events].count(kinds.VERIFY_RESULT) == 2100
    assert [e.kind for e in events].count(kinds.VERIFY_FIRST_LIVE) == 2099  # (one is stale)
    assert [e.seq for e in events] == list(range(1, 4200))
    assert "onthedot-recorder" not in {t.name for t in threading.enumerate()}  # (stopped)


async def test_a_store_that_fails_stops_the_sweep_with_its_error(sqlite_url: str) -> None:
    failed = threading.Event()

    @asynccontextmanager
    async def broken() -> AsyncIterator[AsyncEngine]:
        failed.set()
        raise StoreError("The store cannot be opened.")
        yield  # (never reached)

    pulled = 0

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        nonlocal pulled
        for number in range(100):
            pulled += 1
            yield [result(number)]
            if number == 0:
                await asyncio.to_thread(failed.wait)

    with pytest.raises(StoreError, match="cannot be opened"):
        await record_beside(broken, "r1", sweep())
    assert pulled < 100


async def test_a_sweep_that_fails_keeps_what_it_handed_over(
    database_url: str, engine: AsyncEngine
) -> None:
    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(0), result(1)]
        yield [result(2)]
        raise RuntimeError("the prober broke")

    with pytest.raises(RuntimeError, match="the prober broke"):
        await record_beside(opener(database_url), "r1", sweep())
    assert await stored_urls(engine) == [result(n).url for n in range(3)]


async def test_what_the_watch_recorded_is_taken_up_first(
    database_url: str, engine: AsyncEngine
) -> None:
    """A sweep after the watch's records every result, but on the timeline only the statuses that
    changed, and no URL's first sight of live again."""
    await CheckRecorder(engine).record("r1", [result(0), result(1, Status.STALE), result(2)])
    before = await Timeline(engine).events("r1")

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(0), result(1), result(2, Status.STALE)]

    await record_beside(opener(database_url), "r1", sweep())
    assert len(await stored_urls(engine)) == 6
    added = (await Timeline(engine).events("r1"))[len(before) :]
    assert [(e.kind, e.data["url"]) for e in added] == [
        (kinds.VERIFY_RESULT, result(1).url),
        (kinds.VERIFY_FIRST_LIVE, result(1).url),
        (kinds.VERIFY_RESULT, result(2).url),
    ]
