"""The service's pooled PostgreSQL connections: a connection taken from the pool costs no round
trip of its own, and one the server ended while it sat in the pool is never handed out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import postgres_engines
from tests.servers.postgres import PG_ADMIN

pytestmark = pytest.mark.postgres

CHECKOUTS = 5


async def _select_one(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)


async def test_a_connection_taken_from_the_pool_sends_only_its_own_statements(
    tmp_path: Path,
) -> None:
    """What the server receives (libpq's trace of every message) for a few checkouts of one
    statement each: that statement and its transaction's BEGIN and ROLLBACK, no ping."""
    with (tmp_path / "trace").open("w+b") as trace:
        sent = await _traced_checkouts(trace)
    queries = [
        fields[4].strip(' "') for fields in sent if fields[1] == "F" and fields[3] == "Query"
    ]
    assert queries == ["BEGIN", "SELECT pg_backend_pid()", "ROLLBACK"] * CHECKOUTS, sent


async def _traced_checkouts(trace: BinaryIO) -> list[list[str]]:
    """The messages libpq traced for ``CHECKOUTS`` statements, each on a connection of its own
    taken from the pool, each line's fields."""
    async with postgres_engines(1) as (engine,):

        def traced(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.driver_connection.pgconn.trace(trace.fileno())

        await engine.dispose()  # (every connection from now on made, and traced, anew)
        event.listen(engine.sync_engine, "connect", traced)
        for _ in range(CHECKOUTS):
            await _select_one(engine)
        await engine.dispose()
    trace.seek(0)
    return [line.split("\t") for line in trace.read().decode().splitlines()]


async def _ended(pid: int) -> None:
    """End the backend ``pid`` and wait until the server has no such backend."""
    async with await psycopg.AsyncConnection.connect(PG_ADMIN, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while await (
            await admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
        ).fetchone():
            await asyncio.sleep(0.01)


async def test_a_pooled_connection_the_server_ended_is_replaced_before_it_is_used() -> None:
    """As after a restart of the server: the connection in the pool is gone, the next statement
    runs on a new one instead of failing."""
    async with postgres_engines(1) as (engine,):
        await engine.dispose()
        first = await _select_one(engine)
        await _ended(first)
        assert await _select_one(engine) not in (0, first)
