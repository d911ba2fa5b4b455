"""Many rows at once (``store.bulk.insert_rows``): stored as SQLAlchemy would store them, each
value converted by its column's type, a value the row before held too not converted again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.bulk import insert_rows
from onthedot.store.tables import UTCDateTime

converted: list[dt.datetime] = []


class CountedInstant(UTCDateTime):
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        assert value is not None
        converted.append(value)
        return super().process_bind_param(value, dialect)


marks = Table(
    "bulk_marks",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", CountedInstant(), nullable=False),
)


async def test_a_value_repeated_row_after_row_is_converted_once(engine: AsyncEngine) -> None:
    shared = dt.datetime(2026, 1, 7, 9, 30, 0, 125_000, tzinfo=dt.UTC)
    other = dt.datetime(2026, 1, 7, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    equal = shared.replace()  # equal to ``shared``, another object
    rows = [{"id": n, "at": shared} for n in range(1, 101)]
    rows += [{"id": 101, "at": other}, {"id": 102, "at": shared}, {"id": 103, "at": equal}]
    converted.clear()
    async with engine.begin() as conn:
        await conn.run_sync(marks.metadata.create_all)
        await insert_rows(conn, marks, rows)
    assert converted == [shared, other, shared, equal]  # (once per run of the same object)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(marks.c.id, marks.c.at).order_by(marks.c.id))).all()
    assert [(n, at) for n, at in stored] == [(r["id"], r["at"]) for r in rows]
