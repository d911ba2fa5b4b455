"""Sweeps after T split into chunks that any instance claims: PostgreSQL's row locks, nothing else.

The leader posts a sweep's chunks (``SweepBoard.post``: one row each in ``sweep_chunks``, those
it looks at itself at once already claimed, and a ``NOTIFY`` in the same transaction). Every
instance, the leader too, claims one chunk at a time
with ``SELECT … FOR UPDATE SKIP LOCKED`` (two instances never take the same row), for a short
lease (``claimed_until``, by the database's clock) that the holder renews while it works. A chunk
whose holder died is claimed again once its lease has run out. The holder stores the chunk's
results in its row and marks it done (only if it still holds it), with a ``NOTIFY`` that wakes
the leader waiting for the sweep (``SweepNotices``).

At T many releases sweep at once: the calls of one kind they make at the same moment (posts,
claims, renewals, finishes, counts of what is left, results read back) go to the store together,
one statement for all of them (``store.gathered``), each caller answered about its own sweep.

Every instance listens for the notices on a connection named ``APPLICATION``: the leader counts
the others' (``SweepBoard.others_listening``), and with none listening it posts nothing (no one
would claim it) and sweeps alone.

Only on PostgreSQL: on SQLite one instance does every sweep itself (``store.advisory.shared``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Result, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot import logs
from onthedot.store.db import json_text
from onthedot.store.gathered import Gathered
from onthedot.store.tables import sweep_chunks

log = logs.get_logger("onthedot.sweeps")

CHANNEL = "onthedot_sweeps"
APPLICATION = "onthedot sweep notices"
"""The ``application_name`` of every instance's connection listening on ``CHANNEL``."""
_OTHERS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = :app AND NOT pid = ANY(CAST(:mine AS INT[]))"
)
"""The other instances listening for posted sweeps (``application_name`` is seen by every role)."""
LEASE_S = 2.0
"""How long a claim holds without renewal: a chunk whose holder died is taken over after this."""
_OPEN_NOW = "done_at IS NULL AND (claimed_until IS NULL OR claimed_until < clock_timestamp())"
_CLAIM_OF = text(
    "UPDATE sweep_chunks SET claimed_by = :me, claims = claims + 1, "
    "claimed_until = clock_timestamp() + make_interval(secs => :lease) "
    "WHERE id IN (SELECT c.id FROM unnest(CAST(:sweeps AS TEXT[]), CAST(:counts AS INT[])) "
    "AS s(sweep, n) CROSS JOIN LATERAL (SELECT id FROM sweep_chunks "
    f"WHERE sweep = s.sweep AND {_OPEN_NOW} ORDER BY id LIMIT s.n FOR UPDATE SKIP LOCKED) c) "
    "RETURNING id, sweep, release_id, urls"
)
"""The oldest chunks nobody holds: as many of each sweep as were asked (one query for all)."""
_CLAIM_ANY = text(
    "UPDATE sweep_chunks SET claimed_by = :me, claims = claims + 1, "
    "claimed_until = clock_timestamp() + make_interval(secs => :lease) "
    f"WHERE id IN (SELECT id FROM sweep_chunks WHERE {_OPEN_NOW} "
    "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) "
    "RETURNING id, sweep, release_id, urls"
)
_LOCKED = (
    "WITH locked AS MATERIALIZED (SELECT id FROM sweep_chunks "
    "WHERE id = ANY(CAST(:ids AS BIGINT[])) ORDER BY id FOR UPDATE) "
)
"""The chunks asked for, locked in id order: every statement that writes several chunks takes
their locks in the same order, so two of them at once wait for each other, never deadlock."""
_RENEW = text(
    _LOCKED + "UPDATE sweep_chunks c "
    "SET claimed_until = clock_timestamp() + make_interval(secs => :lease) FROM locked "
    "WHERE c.id = locked.id AND c.claimed_by = :me AND c.done_at IS NULL "
    "RETURNING c.id"
)
_FINISH = text(
    _LOCKED + ", finished AS (UPDATE sweep_chunks c SET done_by = :me, "
    "done_at = clock_timestamp(), results = CAST(v.results AS JSON) "
    "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:results AS TEXT[])) AS v(id, results) "
    "JOIN locked ON locked.id = v.id "
    "WHERE c.id = v.id AND c.claimed_by = :me AND c.done_at IS NULL "
    "RETURNING c.id, c.sweep) "
    "SELECT id, pg_notify(:channel, 'done:' || sweep) FROM finished"
)
"""The chunks still held marked done, and a ``NOTIFY`` for each (PostgreSQL sends a sweep's
once: the same payload twice in one transaction is one notice)."""
_OPEN = text(
    "SELECT sweep, count(*) AS left, count(claimed_until) AS claimed, "
    "extract(epoch FROM min(claimed_until) - clock_timestamp()) AS expires_in "
    "FROM sweep_chunks WHERE sweep = ANY(CAST(:sweeps AS TEXT[])) AND done_at IS NULL "
    "GROUP BY sweep"
)
_TAKE_RESULTS = text(
    "WITH old AS (SELECT id, sweep, urls, done_by, results FROM sweep_chunks "
    "WHERE sweep = ANY(CAST(:sweeps AS TEXT[])) FOR UPDATE), "
    "cleared AS (UPDATE sweep_chunks c SET results = NULL FROM old "
    "WHERE c.id = old.id AND old.results IS NOT NULL) "
    "SELECT id, sweep, urls, done_by, results FROM old ORDER BY id"
)
_FORGET = text(
    "DELETE FROM sweep_chunks WHERE posted_at < clock_timestamp() - make_interval(days => :days)"
)
_NOTIFY = text(
    "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS TEXT[])) AS payload"
)


@dataclass(frozen=True)
class Chunk:
    """A claimed chunk: which sweep, which release, which of its URLs."""

    id: int
    sweep: str
    release_id: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Settled:
    """Where a sweep stands: how many of its chunks are not done and in how many seconds the
    first claim on them runs out (None: one is not claimed at all); once none is left, every
    chunk as it was done (``chunks``)."""

    left: int
    expires_in: float | None
    chunks: list[Done]


@dataclass(frozen=True)
class Done:
    """A chunk done by an instance, with the results it stored (None: the poster kept its own)."""

    id: int
    urls: tuple[str, ...]
    done_by: str
    results: list[dict[str, Any]] | None


class SweepBoard:
    """This instance's view of ``sweep_chunks``: post, claim, renew, finish, read back. The calls
    made at the same moment, by every release sweeping at T, go to the store together, one
    transaction for each kind of call (``store.gathered``)."""

    def __init__(self, engine: AsyncEngine, instance: str, *, lease_s: float = LEASE_S) -> None:
        self._engine = engine
        self.instance = instance
        self.lease_s = lease_s
        self._alone = engine.execution_options(isolation_level="AUTOCOMMIT")
        """For the calls of one statement, or of statements that stand alone: no BEGIN and
        COMMIT round trips around them."""
        self._post = Gathered(self._post_all)
        self._claim = Gathered(self._claim_all)
        self._renew = Gathered(self._renew_all)
        self._finish = Gathered(self._finish_all)
        self._settle = Gathered(self._settle_all)
        self._others = Gathered(self._others_all)

    async def others_listening(self, mine: int | None) -> int:
        """How many other instances listen for posted sweeps now (``mine``: the backend of this
        instance's own listening connection, None when it has none)."""
        return await self._others(mine)

    async def _others_all(self, mine: Sequence[int | None]) -> list[int]:
        params = {"app": APPLICATION, "mine": [pid for pid in set(mine) if pid is not None]}
        async with self._alone.connect() as conn:
            count = int((await conn.execute(_OTHERS, params)).scalar_one())
        return [count] * len(mine)

    async def post(
        self, release_id: str, parts: Sequence[Sequence[str]], *, keep: int = 0
    ) -> tuple[str, list[Chunk]]:
        """Post a sweep of ``release_id`` in these parts (lists of URLs), the first ``keep``
        already claimed by this instance; the sweep's id and the chunks kept."""
        return await self._post(_Post(uuid.uuid4().hex, release_id, parts, keep))

    async def _post_all(self, posts: Sequence[_Post]) -> list[tuple[str, list[Chunk]]]:
        add = insert(sweep_chunks).returning(sweep_chunks.c.id, sort_by_parameter_order=True)
        async with self._engine.begin() as conn:
            now = (await conn.execute(select(func.clock_timestamp()))).scalar_one()
            until = now + dt.timedelta(seconds=self.lease_s)
            rows = [row for post in posts for row in post.rows(now, until, self.instance)]
            ids = iter((await conn.execute(add, rows)).scalars().all())
            await self._notify(conn, [f"posted:{posts[0].sweep}"])
        posted = []
        for post in posts:
            mine = [next(ids) for _ in post.parts]
            kept = zip(mine[: post.keep], post.parts[: post.keep], strict=True)
            chunks = [Chunk(int(i), post.sweep, post.release_id, tuple(u)) for i, u in kept]
            posted.append((post.sweep, chunks))
        return posted

    async def claim(self, sweep: str | None = None) -> Chunk | None:
        """Claim the oldest chunk nobody holds (of ``sweep`` only, if given); None: none left."""
        return await self._claim(sweep)

    async def _claim_all(self, sweeps: Sequence[str | None]) -> list[Chunk | None]:
        """As many chunks of each sweep as were asked for (of any sweep: ``None``), each caller
        given one in the order asked, or None when there were not enough."""
        asked = Counter(sweeps)
        of = {sweep: n for sweep, n in asked.items() if sweep is not None}
        params: dict[str, Any] = {"me": self.instance, "lease": self.lease_s}
        claimed: dict[str | None, list[Chunk]] = {}
        async with self._alone.connect() as conn:
            if of:
                query = {"sweeps": list(of), "counts": list(of.values())}
                for chunk in _chunks(await conn.execute(_CLAIM_OF, params | query)):
                    claimed.setdefault(chunk.sweep, []).append(chunk)
            if asked[None]:
                query = {"n": asked[None]}
                claimed[None] = _chunks(await conn.execute(_CLAIM_ANY, params | query))
        return [_first(claimed.get(sweep)) for sweep in sweeps]

    async def renew(self, chunk: Chunk) -> bool:
        """Extend the lease on ``chunk``; False if another instance has taken it over."""
        return await self._renew(chunk)

    async def _renew_all(self, chunks: Sequence[Chunk]) -> list[bool]:
        params = {"ids": [c.id for c in chunks], "me": self.instance, "lease": self.lease_s}
        async with self._alone.connect() as conn:
            renewed = set((await conn.execute(_RENEW, params)).scalars())
        return [chunk.id in renewed for chunk in chunks]

    async def finish(self, chunk: Chunk, results: list[dict[str, Any]] | None) -> bool:
        """Mark ``chunk`` done with its ``results``; False if another instance took it over
        (its results will be the ones kept)."""
        return await self._finish((chunk, None if results is None else json_text(results)))

    async def _finish_all(self, finishing: Sequence[tuple[Chunk, str | None]]) -> list[bool]:
        """Every chunk still held marked done; a ``NOTIFY`` for each sweep one was done of."""
        params: dict[str, Any] = {
            "ids": [chunk.id for chunk, _ in finishing],
            "results": [results for _, results in finishing],
            "me": self.instance,
        }
        params["channel"] = CHANNEL
        async with self._alone.connect() as conn:
            finished = set((await conn.execute(_FINISH, params)).scalars())
        return [chunk.id in finished for chunk, _ in finishing]

    async def settle(self, sweep: str) -> Settled:
        """Where ``sweep`` stands (see ``Settled``): once every chunk is done, the results are
        taken out of the store as they are read (they are recorded in ``checks``)."""
        return await self._settle(sweep)

    async def _settle_all(self, sweeps: Sequence[str]) -> list[Settled]:
        """What is left of each sweep (one statement), then the chunks of those done (one)."""
        wanted = list(dict.fromkeys(sweeps))
        left: dict[str, tuple[int, float | None]] = {}
        taken: dict[str, list[Done]] = {}
        async with self._alone.connect() as conn:
            for row in await conn.execute(_OPEN, {"sweeps": wanted}):
                expires_in = None if row.claimed < row.left else max(0.0, float(row.expires_in))
                left[str(row.sweep)] = (int(row.left), expires_in)
            finished = [sweep for sweep in wanted if sweep not in left]
            if finished:
                for r in await conn.execute(_TAKE_RESULTS, {"sweeps": finished}):
                    done = Done(int(r.id), tuple(r.urls), str(r.done_by), r.results)
                    taken.setdefault(str(r.sweep), []).append(done)
        return [Settled(*left.get(sweep, (0, None)), taken.get(sweep, [])) for sweep in sweeps]

    async def forget_older(self, days: float) -> int:
        """Delete the chunks posted more than ``days`` ago; how many."""
        async with self._engine.begin() as conn:
            return (await conn.execute(_FORGET, {"days": days})).rowcount

    @staticmethod
    async def _notify(conn: AsyncConnection, payloads: list[str]) -> None:
        await conn.execute(_NOTIFY, {"channel": CHANNEL, "payloads": payloads})


@dataclass(frozen=True)
class _Post:
    """A sweep to post: its parts, the first ``keep`` claimed by the poster."""

    sweep: str
    release_id: str
    parts: Sequence[Sequence[str]]
    keep: int

    def rows(self, now: dt.datetime, until: dt.datetime, me: str) -> list[dict[str, Any]]:
        return [
            {
                "sweep": self.sweep,
                "release_id": self.release_id,
                "urls": list(urls),
                "posted_at": now,
                "claims": 1 if index < self.keep else 0,
                "claimed_by": me if index < self.keep else None,
                "claimed_until": until if index < self.keep else None,
            }
            for index, urls in enumerate(self.parts)
        ]


def _chunks(rows: Result[Any]) -> list[Chunk]:
    """The chunks claimed, oldest first."""
    found = [Chunk(int(r.id), str(r.sweep), str(r.release_id), tuple(r.urls)) for r in rows]
    return sorted(found, key=lambda chunk: chunk.id)


def _first(chunks: list[Chunk] | None) -> Chunk | None:
    return chunks.pop(0) if chunks else None


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
        self.backend: int | None = None  # the listening connection's server process, if any
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
            self._conninfo, autocommit=True, connect_timeout=2, application_name=APPLICATION
        )
        async with conn:
            self.backend = conn.info.backend_pid
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            try:
                async for notice in conn.notifies():
                    self._heard(notice.payload)
            finally:
                self.listening.clear()
                self.backend = None

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
