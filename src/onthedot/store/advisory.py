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
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.errors import StoreError

KEEPALIVE = (
    "SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 2"
)
"""The server drops this connection (and its locks) ≈4 s after its holder stops answering."""
HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
    "AND granted AND objsubid = 1 AND classid = :hi AND objid = :lo"
)


def lock_key(name: str) -> int:
    """A name as the signed 64-bit key of an advisory lock (stable across processes)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def _halves(key: int) -> dict[str, int]:
    """The two 32-bit halves under which pg_locks lists a 64-bit key."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}


class LockSession:
    """The connection that holds this process's advisory locks; one statement at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._using = asyncio.Lock()
        self._held: dict[int, object] = {}  # key -> its holder in this process

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in KEEPALIVE.split("; "):
                await conn.execute(text(statement))
            self._conn = conn
        return self._conn

    async def _lost(self) -> None:
        """The connection failed: every lock it held is gone with it."""
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                await conn.invalidate()
                await conn.close()
            except (SQLAlchemyError, OSError):  # already gone
                pass

    async def try_lock(self, key: int, holder: object) -> bool:
        """Take the lock for ``holder`` now if it is free; False if another session or another
        holder in this process has it, or the store cannot be reached (the caller tries again)."""
        async with self._using:
            if key in self._held:
                return self._held[key] is holder
            try:
                conn = await self._connection()
                got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            except (SQLAlchemyError, OSError, StoreError):
                await self._lost()
                return False
            if got:
                self._held[key] = holder
            return got

    async def holds(self, key: int, holder: object) -> bool:
        """Whether PostgreSQL still lists the lock as this session's, taken for ``holder`` (the
        fencing check)."""
        async with self._using:
            if self._held.get(key) is not holder or self._conn is None:
                return False
            try:
                count = await self._conn.scalar(HELD, _halves(key))
            except (SQLAlchemyError, OSError):
                await self._lost()
                return False
            if not count:
                del self._held[key]
            return bool(count)

    async def unlock(self, key: int, holder: object) -> None:
        async with self._using:
            if self._held.get(key) is not holder:
                return
            del self._held[key]
            if self._conn is None:
                return
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            except (SQLAlchemyError, OSError):
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
                await conn.close()  # (closing the session releases its locks)
            except (SQLAlchemyError, OSError):
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
