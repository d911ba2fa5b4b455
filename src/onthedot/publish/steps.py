"""The publish sequence as recorded, idempotent steps: staging (the token that names the hidden
copies, stored before the first upload) → staged → flipped → purged → verified.

A step is done once its row exists; after a crash, a restart reads the rows and resumes after the
last completed step, so nothing is repeated and nothing is published twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.store.tables import publish_steps

STEPS = ("staging", "staged", "flipped", "purged", "verified")


class StepLog:
    def __init__(self, engine: AsyncEngine, release_id: str) -> None:
        self._engine = engine
        self.release_id = release_id

    async def done(self) -> dict[str, dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(publish_steps.c.step, publish_steps.c.data).where(
                        publish_steps.c.release_id == self.release_id
                    )
                )
            ).all()
        return {row.step: row.data for row in rows}

    async def mark(self, step: str, at: dt.datetime, data: dict[str, Any]) -> bool:
        """Record ``step`` as done; False if it already was (another run got there first)."""
        async with self._engine.begin() as conn:
            return await self._record(conn, step, at, data)

    def marker(
        self, step: str, at: dt.datetime, data: dict[str, Any]
    ) -> Callable[[AsyncConnection], Awaitable[None]]:
        """Mark ``step`` done inside someone else's transaction (with the event that records it)."""

        async def mark(conn: AsyncConnection) -> None:
            await self._record(conn, step, at, data)  # (done already: left as it was)

        return mark

    async def _record(
        self, conn: AsyncConnection, step: str, at: dt.datetime, data: dict[str, Any]
    ) -> bool:
        """Store ``step``'s row unless it is there; whether it was stored. One statement: a row
        already there (even one another transaction is storing) is kept, never a second, and no
        error aborts the transaction it shares (PostgreSQL's would, with the events in it)."""
        adding = _insert(conn.dialect.name).values(
            release_id=self.release_id, step=step, done_at=at, data=data
        )
        stored = await conn.execute(adding.on_conflict_do_nothing().returning(publish_steps.c.step))
        return stored.first() is not None

    async def reset_from(self, step: str) -> None:
        """Forget ``step`` and every later one (re-staging after the release changed)."""
        later = STEPS[STEPS.index(step) :]
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(publish_steps).where(
                    publish_steps.c.release_id == self.release_id, publish_steps.c.step.in_(later)
                )
            )


def _insert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` of a step that can do nothing on a conflict (both stores have one)."""
    return (
        postgresql.insert(publish_steps)
        if dialect == "postgresql"
        else sqlite.insert(publish_steps)
    )
