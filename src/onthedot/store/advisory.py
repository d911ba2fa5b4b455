"""PostgreSQL session advisory locks: who publishes, decided by the database every instance shares.

Each process keeps one connection of its own for its locks (``LockSession``, one per engine): the
service's leadership and every release it publishes. A lock lives exactly as long as that
connection, so a process that dies (SIGKILL, power cut, network cut) loses all its locks at once,
the moment PostgreSQL sees its connection go: a killed process's connection closes with it; one
cut off the network is dropped by the server's keepalives within a few seconds (set on the
connection here). Nothing is home-made: no lease row to expire, no clock to trust.

The lock is its own fencing token: before each step that changes the site (stage, flip, purge),
the holder asks, on the same connection, whether PostgreSQL still lists the lock as its own
(``holds``). A holder that was paused or cut off and wakes late finds it lost and stops.

Only the server's answer (or its silence) says a lock is lost, never the holder's own slowness: a
step is given up after ``STEP_TIMEOUT_S`` counted in the event loop's punctual wake-ups
(``answer``), so a loop busy with a morning of 200 releases, late to read an answer that came in
time, keeps its locks; a connection that is really gone fails at once, or within the client's
own TCP keep-alives (``CLIENT_KEEPALIVE``), which the kernel counts whatever the loop does.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from onthedot.errors import StoreError

KEEPALIVE = (
    "SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 2; "
    "SET tcp_user_timeout = 4000"
)
"""The server drops this connection (and its locks) ≈4 s after its holder stops answering (idle:
keepalives; with a reply unacknowledged: the user timeout)."""
CLIENT_KEEPALIVE = {
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 4000,
}
"""The same from this side (libpq): the connection fails ≈4 s after the server stops answering."""
STEP_TIMEOUT_S = 1.0
"""Longest wait for the server's answer to one step on the lock's connection (connecting, taking,
checking, giving up), counted in the loop's punctual time (``answer``)."""
SLICE_S = 0.05
"""The loop's time is counted in slices of this length; a slice it came back from late counts
only its length."""
T = TypeVar("T")
LISTED = text(
    "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
    "AND granted AND objsubid = 1"
)
"""Every lock PostgreSQL lists as this session's (by the two 32-bit halves of its key)."""


def lock_key(name: str) -> int:
    """A name as the signed 64-bit key of an advisory lock (stable across processes)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


async def answer(step: Awaitable[T]) -> T:
    """The answer to ``step``; TimeoutError when it has not come after ``STEP_TIMEOUT_S`` of the
    loop's punctual time. The step is never cancelled because the loop was late to read its
    answer: time the loop spent elsewhere does not count."""
    task = asyncio.ensure_future(step)
    punctual = 0.0
    try:
        while not task.done():
            if punctual >= STEP_TIMEOUT_S:
                raise TimeoutError
            await asyncio.wait({task}, timeout=SLICE_S)
            punctual += SLICE_S
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})


def _unsigned(key: int) -> int:
    """A key as pg_locks lists it: its two 32-bit halves, high first, as one unsigned number."""
    return key & 0xFFFFFFFFFFFFFFFF


class LockSession:
    """The connection that holds this process's advisory locks; one statement at a time.

    It comes from an engine of its own (no pool): the locks never wait for a connection that the
    rest of the process has checked out, and each step is bounded (``STEP_TIMEOUT_S``), so an
    unreachable store costs the leadership loop one try, never a hang."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = create_async_engine(
            engine.url, poolclass=NullPool, connect_args=CLIENT_KEEPALIVE
        )
        self._conn: AsyncConnection | None = None
        self._using = asyncio.Lock()
        self._held: dict[int, object] = {}  # key -> its holder in this process
        self._listing: asyncio.Future[frozenset[int]] | None = None  # (``holds``)

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await answer(self._engine.connect())
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in KEEPALIVE.split("; "):
                await answer(self._conn.execute(text(statement)))
        return self._conn

    async def _lost(self) -> None:
        """The connection failed: every lock it held is gone with it."""
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                await answer(conn.invalidate())
                await answer(conn.close())
            except (SQLAlchemyError, OSError, TimeoutError):  # already gone
                pass

    async def try_lock(self, key: int, holder: object) -> bool:
        """Take the lock for ``holder`` now if it is free; False if another session or another
        holder in this process has it, or the store cannot be reached (the caller tries again)."""
        async with self._using:
            if key in self._held:
                return self._held[key] is holder
            try:
                conn = await self._connection()
                taking = conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                got = bool(await answer(taking))
            except (SQLAlchemyError, OSError, StoreError, TimeoutError):
                await self._lost()
                return False
            if got:
                self._held[key] = holder
            return got

    async def holds(self, key: int, holder: object) -> bool:
        """Whether PostgreSQL still lists the lock as this session's, taken for ``holder`` (the
        fencing check). The checks asked while one list is on its way share its answer: 200
        releases fenced a second before T cost one round-trip, not 200 one after another. (An
        answer on this session is proof enough: its locks go only with it, or when given up.)"""
        if self._held.get(key) is not holder:
            return False
        listing = self._listing
        if listing is None or listing.done():
            listing = self._listing = asyncio.ensure_future(self._list())
        listed = await asyncio.shield(listing)
        held = self._held.get(key) is holder and _unsigned(key) in listed
        if not held and self._held.get(key) is holder:
            del self._held[key]
        return held

    async def _list(self) -> frozenset[int]:
        """The keys PostgreSQL lists as this session's locks (none when the connection failed)."""
        async with self._using:
            if self._conn is None:
                return frozenset()
            try:
                rows = (await answer(self._conn.execute(LISTED))).all()
            except (SQLAlchemyError, OSError, TimeoutError):
                await self._lost()
                return frozenset()
        return frozenset((int(hi) << 32) | int(lo) for hi, lo in rows)

    async def unlock(self, key: int, holder: object) -> None:
        async with self._using:
            if self._held.get(key) is not holder:
                return
            del self._held[key]
            if self._conn is None:
                return
            try:
                unlocking = self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await answer(unlocking)
            except (SQLAlchemyError, OSError, TimeoutError):
                await self._lost()
                return
            if not self._held:  # nothing held: the connection goes back (another comes when needed)
                await self._close()

    async def aclose(self) -> None:
        async with self._using:
            await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                await answer(conn.close())  # (its locks go with it)
            except (SQLAlchemyError, OSError, TimeoutError):
                pass


_SESSIONS: weakref.WeakKeyDictionary[AsyncEngine, LockSession] = weakref.WeakKeyDictionary()


def lock_session(engine: AsyncEngine) -> LockSession:
    """The one lock session of this process on ``engine`` (made on first use)."""
    session = _SESSIONS.get(engine)
    if session is None:
        session = _SESSIONS[engine] = LockSession(engine)
    return session


def shared(engine: AsyncEngine) -> bool:
    """Whether several processes can share this store and coordinate through it (PostgreSQL)."""
    return engine.dialect.name == "postgresql"
