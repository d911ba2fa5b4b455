"""Appends of many releases made at the same moment (200 releases recording at T) share their
transactions: on the leader's one event loop a transaction each was most of the morning's time."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.errors import OnthedotError
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.tables import publish_steps

RELEASES = 40


def count_transactions(engine: AsyncEngine) -> list[int]:
    """How many transactions the store has begun since (one counter, in a list)."""
    begun = [0]

    def began(_conn: Any) -> None:
        begun[0] += 1

    event.listen(engine.sync_engine, "begin", began)
    return begun


async def test_appends_made_at_once_share_transactions_and_chain_each_release(
    engine: AsyncEngine,
) -> None:
    timeline = Timeline(engine)
    ids = [f"r{n:02d}" for n in range(RELEASES)]
    await asyncio.gather(*(timeline.append(rid, kinds.PUBLISH_STAGED, {"n": 0}) for rid in ids))
    begun = count_transactions(engine)
    made = await asyncio.gather(
        *(timeline.append(rid, kinds.PUBLISH_FLIPPED, {"n": n}) for rid in ids for n in (1, 2))
    )
    assert begun[0] <= 3, f"{begun[0]} transactions for {len(made)} appends made at once"
    assert sorted((e.release_id, e.seq, e.data["n"]) for e in made) == sorted(
        (rid, n + 1, n) for rid in ids for n in (1, 2)
    )
    for rid in ids:
        assert (await timeline.verify(rid)).ok
        assert [e.seq for e in await timeline.events(rid)] == [1, 2, 3]


async def test_an_append_that_fails_in_company_fails_alone(engine: AsyncEngine) -> None:
    timeline = Timeline(engine)

    async def refuse(_conn: AsyncConnection) -> None:
        raise OnthedotError("the fence was lost")

    async def mark(conn: AsyncConnection) -> None:
        await conn.execute(
            publish_steps.insert().values(
                release_id="ok", step="flipped", done_at=dt.datetime.now(dt.UTC), data={}
            )
        )

    outcomes = await asyncio.gather(
        timeline.append("bad", kinds.PUBLISH_FLIPPED, with_=refuse),
        timeline.append("ok", kinds.PUBLISH_FLIPPED, with_=mark),
        timeline.append("also-ok", kinds.PUBLISH_FLIPPED),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], OnthedotError)
    assert [type(o).__name__ for o in outcomes[1:]] == ["Event", "Event"]
    assert await timeline.events("bad") == []
    assert [e.seq for e in await timeline.events("ok")] == [1]
    async with engine.connect() as conn:
        steps = (await conn.execute(select(publish_steps.c.release_id))).scalars().all()
    assert steps == ["ok"]  # the failed append's company stored what went with it, once
