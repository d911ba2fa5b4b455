"""Sweeps after T split into chunks that any instance claims: PostgreSQL's row locks, nothing else.

The leader posts a sweep's chunks (``SweepBoard.post``: one row each in ``sweep_chunks``, those
it looks at itself at once already claimed, and a ``NOTIFY`` in the same transaction). Every
instance, the leader too, claims one chunk at a time
with ``SELECT … FOR UPDATE SKIP LOCKED`` (two instances never take the same row), for a short
lease (``claimed_until``, by the database's clock) that the holder renews while it works. A chunk
whose holder died is claimed again once its lease has run out. The holder stores the chunk's
results in its row and marks it done (only if it still holds it), with a ``NOTIFY`` that wakes
the leader waiting for the sweep (``SweepNotices``).

Only on PostgreSQL: on SQLite one instance does every sweep itself (``store.advisory.shared``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.db import json_text
from onthedot.store.tables import sweep_chunks

log = structlog.get_logger("onthedot.sweeps")

CHANNEL = "onthedot_sweeps"
LEASE_S = 2.0
"""How long a claim holds without renewal: a chunk whose holder died is taken over after this."""
_CLAIM = text(
    "UPDATE sweep_chunks SET claimed_by = :me, claims = claims + 1, "
    "claimed_until = clock_timestamp() + make_interval(secs => :lease) "
    "WHERE id = (SELECT id FROM sweep_chunks WHERE done_at IS NULL "
    "AND (claimed_until IS NULL OR claimed_until < clock_timestamp()) {only} "
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, sweep, release_id, urls"
)
_RENEW = text(
    "UPDATE sweep_chunks SET claimed_until = clock_timestamp() + make_interval(secs => :lease) "
    "WHERE id = :id AND claimed_by = :me AND done_at IS NULL"
)
_FINISH = text(
    "UPDATE sweep_chunks SET done_by = :me, done_at = clock_timestamp(), "
    "results = CAST(:results AS JSON) "
    "WHERE id = :id AND claimed_by = :me AND done_at IS NULL"
)
_TAKE_RESULTS = text(
    "WITH old AS (SELECT id, urls, done_by, results FROM sweep_chunks WHERE sweep = :sweep "
    "FOR UPDATE), cleared AS (UPDATE sweep_chunks c SET results = NULL FROM old "
    "WHERE c.id = old.id AND old.results IS NOT NULL) "
    "SELECT id, urls, done_by, results FROM old ORDER BY id"
)
_FORGET = text(
    "DELETE FROM sweep_chunks WHERE posted_at < clock_timestamp() - make_interval(days => :days)"
)
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True)
class Chunk:
    """A claimed chunk: which sweep, which release, which of its URLs."""

    id: int
    sweep: str
    release_id: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Done:
    """A chunk done by an instance, with the results it stored (None: the poster kept its own)."""

    id: int
    urls: tuple[str, ...]
    done_by: str
    results: list[dict[str, Any]] | None


class SweepBoard:
    """This instance's view of ``sweep_chunks``: post, claim, renew, finish, read back."""

    def __init__(self, engine: AsyncEngine, instance: str, *, lease_s: float = LEASE_S) -> None:
        self._engine = engine
        self.instance = instance
        self.lease_s = lease_s

    async def post(
        self, release_id: str, parts: Sequence[Sequence[str]], *, keep: int = 0
    ) -> tuple[str, list[Chunk]]:
        """Post a sweep of ``release_id`` in these parts (lists of URLs), the first ``keep``
        already claimed by this instance; the sweep's id and the chunks kept."""
        sweep = uuid.uuid4().hex
        add = insert(sweep_chunks).returning(sweep_chunks.c.id, sort_by_parameter_order=True)
        async with self._engine.begin() as conn:
            now = (await conn.execute(select(func.clock_timestamp()))).scalar_one()
            until = now + dt.timedelta(seconds=self.lease_s)
            rows = [
                {
                    "sweep": sweep,
                    "release_id": release_id,
                    "urls": list(urls),
                    "posted_at": now,
                    "claims": 1 if index < keep else 0,
                    "claimed_by": self.instance if index < keep else None,
                    "claimed_until": until if index < keep else None,
                }
                for index, urls in enumerate(parts)
            ]
            ids = (await conn.execute(add, rows)).scalars().all()
            await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"posted:{sweep}"})
        kept = zip(ids[:keep], parts[:keep], strict=True)
        return sweep, [Chunk(int(i), sweep, release_id, tuple(urls)) for i, urls in kept]

    async def claim(self, sweep: str | None = None) -> Chunk | None:
        """Claim the oldest chunk nobody holds (of ``sweep`` only, if given); None: none left."""
        only = "AND sweep = :sweep" if sweep is not None else ""
        params: dict[str, Any] = {"me": self.instance, "lease": self.lease_s}
        if sweep is not None:
            params["sweep"] = sweep
        async with self._engine.begin() as conn:
            row = (await conn.execute(text(_CLAIM.text.format(only=only)), params)).first()
        if row is None:
            return None
        return Chunk(int(row.id), str(row.sweep), str(row.release_id), tuple(row.urls))

    async def renew(self, chunk: Chunk) -> bool:
        """Extend the lease on ``chunk``; False if another instance has taken it over."""
        params = {"id": chunk.id, "me": self.instance, "lease": self.lease_s}
        async with self._engine.begin() as conn:
            return (await conn.execute(_RENEW, params)).rowcount == 1

    async def finish(self, chunk: Chunk, results: list[dict[str, Any]] | None) -> bool:
        """Mark ``chunk`` done with its ``results``; False if another instance took it over
        (its results will be the ones kept)."""
        params = {
            "id": chunk.id,
            "me": self.instance,
            "results": None if results is None else json_text(results),
        }
        async with self._engine.begin() as conn:
            finished = (await conn.execute(_FINISH, params)).rowcount == 1
            if finished:
                payload = f"done:{chunk.sweep}"
                await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})
        return finished

    async def open(self, sweep: str) -> tuple[int, float | None]:
        """How many chunks of ``sweep`` are not done, and in how many seconds the first claim on
        them runs out (None: one is not claimed at all)."""
        c = sweep_chunks.c
        expires = func.extract("epoch", func.min(c.claimed_until) - func.clock_timestamp())
        query = select(func.count(), func.count(c.claimed_until), expires)
        async with self._engine.connect() as conn:
            left, claimed, expires_in = (
                await conn.execute(query.where(c.sweep == sweep, c.done_at.is_(None)))
            ).one()
        if not left or claimed < left:
            return int(left), None
        return int(left), max(0.0, float(expires_in))

    async def done(self, sweep: str) -> list[Done]:
        """Every chunk of ``sweep`` as it was done (all of them are, when this is asked); the
        results are taken out of the store as they are read (they are recorded in ``checks``)."""
        async with self._engine.begin() as conn:
            rows = (await conn.execute(_TAKE_RESULTS, {"sweep": sweep})).all()
        return [Done(int(r.id), tuple(r.urls), str(r.done_by), r.results) for r in rows]

    async def forget_older(self, days: float) -> int:
        """Delete the chunks posted more than ``days`` ago; how many."""
        async with self._engine.begin() as conn:
            return (await conn.execute(_FORGET, {"days": days})).rowcount


class SweepNotices:
    """The ``NOTIFY``s on ``CHANNEL``, heard on a connection of its own (``run_forever``): a
    sweep posted wakes this instance's helper, a chunk done wakes the leader waiting for its
    sweep. A notice missed (the connection lost) costs only a wait: every waiter also wakes on
    a timeout and looks at the table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self.posted = asyncio.Event()
        self.listening = asyncio.Event()  # set while the ``LISTEN`` is in place
        self._done: dict[str, asyncio.Event] = {}

    def waiting_for(self, sweep: str) -> asyncio.Event:
        """The event set when a chunk of ``sweep`` is done (``forget`` it once the sweep is)."""
        return self._done.setdefault(sweep, asyncio.Event())

    def forget(self, sweep: str) -> None:
        self._done.pop(sweep, None)

    async def run_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("sweep notices lost; listening again", error=str(exc))
                await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=2
        )
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            try:
                async for notice in conn.notifies():
                    self._heard(notice.payload)
            finally:
                self.listening.clear()

    def _heard(self, payload: str) -> None:
        what, _, sweep = payload.partition(":")
        if what == "posted":
            self.posted.set()
        elif what == "done" and sweep in self._done:
            self._done[sweep].set()


async def wait_for(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event`` at most ``timeout`` seconds, then clear it."""
    try:  # (not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation)
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass
    event.clear()
