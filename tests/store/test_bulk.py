"""Many rows at once (``store.bulk.insert_rows``): stored as SQLAlchemy would store them, each
value converted by its column's type, a value the row before held too not converted again."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Integer, MetaData, Table, event, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.errors import StoreUnreachableError
from onthedot.store.bulk import insert_rows
from onthedot.store.gathered import clashed
from onthedot.store.tables import Id, UTCDateTime
from tests.conftest import postgres_engines
from tests.servers.postgres import PG_ADMIN

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


def kinds_table(name: str) -> Table:
    """A table with a column of each type the store's tables hold."""
    return Table(
        name,
        MetaData(),
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("name", sa.String(128), nullable=False),
        Column("note", sa.Text),
        Column("n", Integer, nullable=False),
        Column("big", sa.BigInteger),
        Column("flag", sa.Boolean),
        Column("at", UTCDateTime(), nullable=False),
        Column("until", UTCDateTime()),
        Column("doc", sa.JSON, nullable=False),
        sa.UniqueConstraint("name", "n", name=f"uq_{name}"),
    )


AWKWARD = ["", "plain", "tab\there", "line\nbreak", "cr\rlf\r\n", "back\\slash", "\\N", "\\.",
           "é ü 中文 🎉", "'quoted' \"both\"", ",;|", " spaced "]  # fmt: skip


def awkward_rows(count: int) -> list[dict[str, Any]]:
    """Rows whose every value is one a COPY could spell or read wrongly."""
    base = dt.datetime(2026, 12, 7, 9, 30, 0, 123_456, tzinfo=dt.UTC)
    zones = [
        dt.UTC,
        dt.timezone(dt.timedelta(hours=5, minutes=45)),
        dt.timezone(-dt.timedelta(hours=3, minutes=30)),
    ]
    return [
        {
            "name": AWKWARD[n % len(AWKWARD)],
            "note": None if n % 5 == 0 else AWKWARD[(n * 7) % len(AWKWARD)] * (n % 3),
            "n": n - 20,
            "big": [None, 2**63 - 1, -(2**63), 0][n % 4],
            "flag": [None, True, False][n % 3],
            "at": (base + dt.timedelta(microseconds=n * 1001)).astimezone(zones[n % 3]),
            "until": None if n % 2 else base,
            "doc": {
                "text": AWKWARD[n % len(AWKWARD)],
                "n": n,
                "x": n / 7,
                "list": [None, True],
                "nested": {"é": "\t\n\\"},
                3: "a key that is not a string",
            },
        }
        for n in range(count)
    ]


async def stored_text(conn: AsyncConnection, table: Table) -> list[tuple[str | None, ...]]:
    """Every stored value as the server writes it out (JSON as the very text kept)."""
    cast = ", ".join(f"{c.name}::text" for c in table.c if c.name != "id")
    rows = await conn.exec_driver_sql(f"SELECT {cast} FROM {table.name} ORDER BY id")
    return [tuple(row) for row in rows.all()]


def sent_statements(engine: AsyncEngine) -> list[str]:
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    return sent


@pytest.mark.postgres
async def test_rows_copied_are_stored_exactly_as_sqlalchemys_insert_stores_them() -> None:
    rows = awkward_rows(120)
    inserted, copied = kinds_table("bulk_inserted"), kinds_table("bulk_copied")
    async with postgres_engines(1) as (engine,):
        sent = sent_statements(engine)
        async with engine.begin() as conn:
            await conn.run_sync(inserted.metadata.create_all)
            await conn.run_sync(copied.metadata.create_all)
            await conn.exec_driver_sql("SET TIME ZONE 'America/St_Johns'")  # (not UTC's)
            await sqlalchemy_insert(conn, inserted, rows)
            await insert_rows(conn, copied, rows)
        assert [s.split(" ", 2)[:2] for s in sent[-2:]] == [
            ["INSERT", "INTO"],
            ["COPY", "bulk_copied"],
        ]
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET TIME ZONE 'UTC'")
            assert await stored_text(conn, copied) == await stored_text(conn, inserted)
            stored = (await conn.execute(select(copied).order_by(copied.c.id))).all()
    given = ("name", "note", "n", "big", "flag", "at", "until")
    assert [(*(getattr(row, k) for k in given), row.doc["nested"]) for row in stored] == [
        (*(row[k] for k in given), {"é": "\t\n\\"}) for row in rows
    ]


@pytest.mark.postgres
async def test_a_new_engine_taken_for_a_disposed_one_still_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLAlchemy keys its record of listeners by the ``id()`` of the engine: a new engine made
    where a disposed one had been was once taken for it (``event.contains`` said it listened)
    and its COPY went to the driver as a plain statement. Which engines copy is told by their
    own dialect now; here every engine is said to listen already, as that one was."""
    monkeypatch.setattr(sa.event, "contains", lambda *_args: True)
    rows = awkward_rows(10)
    copied = kinds_table("bulk_copied_anew")
    async with postgres_engines(1) as (engine,):
        async with engine.begin() as conn:
            await conn.run_sync(copied.metadata.create_all)
            await insert_rows(conn, copied, rows)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(copied)) == len(rows)


async def sqlalchemy_insert(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """What ``insert_rows`` stands for: SQLAlchemy's own INSERT of the rows."""
    await conn.execute(table.insert(), rows)


Write = Callable[[AsyncConnection, Table, Sequence[Mapping[str, Any]]], Awaitable[None]]
KINDS = kinds_table("bulk_kinds")


@pytest.fixture
async def pg() -> AsyncIterator[AsyncEngine]:
    """A PostgreSQL store with the table ``KINDS``."""
    async with postgres_engines(1) as (engine,):
        async with engine.begin() as conn:
            await conn.run_sync(KINDS.metadata.create_all)
        yield engine


@pytest.fixture(
    params=[pytest.param(way, marks=pytest.mark.postgres) for way in ("INSERT", "COPY")]
)
def write(request: pytest.FixtureRequest, pg: AsyncEngine) -> Iterator[Write]:
    """SQLAlchemy's INSERT, or ``insert_rows``' COPY (and the test sends it)."""
    sent = sent_statements(pg)
    yield sqlalchemy_insert if request.param == "INSERT" else insert_rows
    assert any(statement.startswith(f"{request.param} ") for statement in sent), sent


async def test_a_place_taken_is_the_drivers_unique_violation_as_an_integrity_error(
    pg: AsyncEngine, write: Write
) -> None:
    rows = awkward_rows(40)
    with pytest.raises(IntegrityError) as refused:
        async with pg.begin() as conn:
            await write(conn, KINDS, [*rows, rows[3]])
    assert isinstance(refused.value.orig, psycopg.errors.UniqueViolation)
    assert not clashed(refused.value)
    async with pg.begin() as conn:  # (nothing of it stored; the connection as good as before)
        await write(conn, KINDS, rows)
    async with pg.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(KINDS)) == len(rows)


async def test_a_deadlock_is_the_drivers_error_in_a_dbapi_error_that_clashed(
    pg: AsyncEngine, write: Write
) -> None:
    """Two transactions each wait for a row the other inserted: the store gives one up (the
    one that waited first: the other waits longer before it looks)."""
    rows = awkward_rows(40)
    first, last = rows[0], rows[-1]
    async with pg.connect() as waits_first, pg.connect() as other:
        await waits_first.begin()
        await other.begin()
        await other.exec_driver_sql("SET LOCAL deadlock_timeout = '20s'")
        await write(waits_first, KINDS, [first])
        await write(other, KINDS, [last])
        copying = asyncio.ensure_future(write(waits_first, KINDS, rows[1:]))  # (waits for ``last``)
        await waiting(other, 1)
        await write(other, KINDS, [first])  # (waits for ``first``: the circle is closed)
        with pytest.raises(DBAPIError) as given_up:
            await copying
        await other.commit()
    assert type(given_up.value) is OperationalError
    assert isinstance(given_up.value.orig, psycopg.errors.DeadlockDetected)
    assert clashed(given_up.value)


async def waiting(conn: AsyncConnection, count: int) -> None:
    """Until ``count`` other backends on ``conn``'s database wait for a lock."""
    async with asyncio.timeout(10):
        while await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND pid <> pg_backend_pid()"
        )) < count:  # fmt: skip
            await asyncio.sleep(0.02)


async def test_a_connection_lost_is_the_stores_unreachable_error_and_is_replaced(
    pg: AsyncEngine, write: Write
) -> None:
    rows = awkward_rows(40)
    async with pg.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with await psycopg.AsyncConnection.connect(PG_ADMIN, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreUnreachableError) as lost:
            await write(conn, KINDS, rows)
    assert isinstance(lost.value.__cause__, psycopg.OperationalError)  # (the driver's own)
    async with pg.begin() as conn:  # (a new connection in its place)
        await write(conn, KINDS, rows)


async def test_a_row_without_a_column_that_has_a_default_is_refused(engine: AsyncEngine) -> None:
    """An INSERT puts a column's own default in; COPY would leave it empty: such rows are refused
    before anything is sent, on every store."""
    defaulted = Table(
        "bulk_defaulted",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("reason", sa.Text, nullable=False, default="none given"),
    )
    async with engine.begin() as conn:
        await conn.run_sync(defaulted.metadata.create_all)
        with pytest.raises(ValueError, match="bulk_defaulted needs reason"):
            await insert_rows(conn, defaulted, [{"id": 1}])
        await insert_rows(conn, defaulted, [{"id": 2, "reason": "given"}])
    async with engine.connect() as conn:
        assert (await conn.execute(select(defaulted.c.id))).scalars().all() == [2]
