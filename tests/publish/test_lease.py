"""The SQLite lease's renewer: a failed renewal is tried again, a taken lease stays fenced."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import LeaseLostError, StoreError
from onthedot.publish.lease import Lease
from onthedot.store.db import open_store
from onthedot.store.tables import leases

TTL_S = 1.5  # renewed every 0.5 s (a loop held up longer than that on a busy machine would flake)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite:///{tmp_path / 'onthedot.db'}")
    try:
        yield eng
    finally:
        await eng.dispose()


async def _row(engine: AsyncEngine) -> tuple[str, dt.datetime] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(leases.c.holder, leases.c.expires_at))).first()
    if row is None:
        return None
    expires = row.expires_at
    return row.holder, expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)


def _fail_renewals(engine: AsyncEngine, times: int) -> list[int]:
    """The next ``times`` lease renewals raise StoreError (as a store locked past its busy
    timeout, or full); returns the count of renewals attempted."""
    seen = [0]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE LEASES") and "expires_at <" not in (
            statement
        ):
            seen[0] += 1
            if seen[0] <= times:
                raise StoreError("The store is busy: try again in a moment.")

    return seen


async def test_failed_renewal_is_tried_again_and_release_deletes_the_row(
    engine: AsyncEngine,
) -> None:
    lease = Lease(engine, "r", ttl_s=TTL_S)
    await lease.acquire(wait=False)
    renewals = _fail_renewals(engine, times=1)
    await asyncio.sleep(TTL_S * 2.5)  # past the time to live: only renewals keep it
    assert renewals[0] >= 2  # the first failed, the renewer went on
    row = await _row(engine)
    assert row is not None and row[0] == lease.holder
    assert row[1] > dt.datetime.now(dt.UTC)  # renewed after the failure: not expired
    assert not await Lease(engine, "r").try_acquire()
    await lease.check()
    await lease.release()  # the failed renewal does not come out here
    assert await _row(engine) is None


async def test_renewal_of_a_lease_taken_over_leaves_it_and_the_fence_stops_the_old_holder(
    engine: AsyncEngine,
) -> None:
    lease = Lease(engine, "r", ttl_s=TTL_S)
    await lease.acquire(wait=False)
    async with engine.begin() as conn:  # it lapsed meanwhile and another instance took it
        await conn.execute(update(leases).values(holder="other"))
    await asyncio.sleep(TTL_S)  # renewals run: they must not take it back
    row = await _row(engine)
    assert row is not None and row[0] == "other"
    with pytest.raises(LeaseLostError, match="lost its hold on r"):
        await lease.check()
    await lease.release()  # leaves the other holder's row
    row = await _row(engine)
    assert row is not None and row[0] == "other"
