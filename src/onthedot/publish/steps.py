"""The publish sequence as recorded, idempotent steps: staging (the token that names the hidden
copies, stored before the first upload) → staged → flipped → purged → verified.

A step is done once its row exists; after a crash, a restart reads the rows and resumes after the
last completed step, so nothing is repeated and nothing is published twice.

At T, 200 releases mark their steps at once: the marks made at the same moment go together, one
statement for all of them (``StepLog.mark``: in one transaction of their own; ``StepLog.marker``:
in the timeline's transaction of the events that record them, ``Timeline``'s ``with_``).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.errors import StepTaken, StoreError
from onthedot.store.gathered import Gathered
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
        """Record ``step`` as done; False if it already was (another run got there first). Done
        once its transaction is committed, shared with the marks of other releases made at the
        same moment (one statement)."""
        return await _gathered(self._engine)(StepMark(self.release_id, step, at, data))

    def marker(self, step: str, at: dt.datetime, data: dict[str, Any]) -> StepMark:
        """Mark ``step`` done inside someone else's transaction (with the event that records it)."""
        return StepMark(self.release_id, step, at, data)

    async def reset_from(self, step: str) -> None:
        """Forget ``step`` and every later one (re-staging after the release changed)."""
        later = STEPS[STEPS.index(step) :]
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(publish_steps).where(
                    publish_steps.c.release_id == self.release_id, publish_steps.c.step.in_(later)
                )
            )


@dataclass(frozen=True, eq=False)
class StepMark:
    """A step to mark done with the event that records it: called with that transaction's
    connection, it marks it there; a step another run marked first (an old leader waking late,
    its fence already checked) raises ``StepTaken``, so its event is not stored either (a second
    ``publish.flipped`` read as a late one). ``together`` marks several in one statement (the
    timeline writes its batch's so; one taken fails the batch, whose appends are then tried
    alone)."""

    release_id: str
    step: str
    at: dt.datetime
    data: dict[str, Any]

    async def __call__(self, conn: AsyncConnection) -> None:
        await StepMark.together([self], conn)

    @staticmethod
    async def together(marks: Sequence[StepMark], conn: AsyncConnection) -> None:
        for mark, stored in zip(marks, await record(conn, marks), strict=True):
            if not stored:
                raise StepTaken(
                    f"Another run recorded the step '{mark.step}' of {mark.release_id} first: "
                    "this one stops, and that one publishes it."
                )


async def record(conn: AsyncConnection, marks: Sequence[StepMark]) -> list[bool]:
    """Store each step's row unless it is there; whether each was stored (the same step twice
    in ``marks``: the first). One statement: a row already there (even one another transaction is
    storing) is kept, never a second, and no error aborts the transaction it shares
    (PostgreSQL's would, with the events in it). Rows go in in the releases' order: two
    transactions marking the same releases wait for one another in turn, never in a circle."""
    first = {(m.release_id, m.step): m for m in reversed(marks)}  # (the first of each kept)
    rows = [
        {"release_id": m.release_id, "step": m.step, "done_at": m.at, "data": m.data}
        for _key, m in sorted(first.items(), key=lambda item: item[0])
    ]
    adding = _insert(conn.dialect.name).values(rows).on_conflict_do_nothing()
    key = tuple_(publish_steps.c.release_id, publish_steps.c.step)
    stored = {tuple(row) for row in await conn.execute(adding.returning(*key.clauses))}
    return [(m.release_id, m.step) in stored and first[(m.release_id, m.step)] is m for m in marks]


_MARKS: weakref.WeakKeyDictionary[AsyncEngine, Gathered[StepMark, bool]] = (
    weakref.WeakKeyDictionary()
)


def _gathered(engine: AsyncEngine) -> Gathered[StepMark, bool]:
    """The marks on ``engine`` made at the same moment, in one transaction (for as long as the
    engine lives: the batches hold it only by weak reference)."""
    marks = _MARKS.get(engine)
    if marks is None:
        marks = _MARKS[engine] = Gathered(partial(_mark_all, weakref.ref(engine)))
    return marks


async def _mark_all(
    store: weakref.ReferenceType[AsyncEngine], batch: Sequence[StepMark]
) -> list[bool]:
    engine = store()
    if engine is None:  # (its callers hold it while they wait: not seen in practice)
        raise StoreError("The publish step could not be marked: its store was closed.")
    async with engine.begin() as conn:
        return await record(conn, batch)


def _insert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` of a step that can do nothing on a conflict (both stores have one)."""
    return (
        postgresql.insert(publish_steps)
        if dialect == "postgresql"
        else sqlite.insert(publish_steps)
    )
