"""Open the store: an async engine on any SQLAlchemy URL, migrated to the newest schema.

Default (see :mod:`onthedot.store.location`): ``sqlite:///onthedot.db`` in the working
directory, in WAL mode so the dashboard can read while the scheduler writes; a new SQLite file
is made readable by its owner only.
``ONTHEDOT_DATABASE_URL`` or ``--database`` choose another, e.g.
``postgresql://user@127.0.0.1:5432/onthedot``. Plain driver names are mapped to async drivers.
"""

from __future__ import annotations

import os
import select
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, NullPool

from onthedot.errors import StoreError, StoreUnreachableError
from onthedot.store.advisory import lock_key
from onthedot.store.location import HEAD_REVISION, sqlite_file

_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = lock_key("onthedot:migrate")
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
}


def async_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"{url!r} is not a database URL: use e.g. sqlite:///onthedot.db or postgresql://user@host/db."
        ) from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an event we said we recorded survives a crash
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def json_text(value: Any) -> str:
    """JSON columns as text: orjson, a few times faster than ``json.dumps`` on a sweep's rows."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


POOL_WAIT_S = 600.0
"""How long a statement waits for a pooled connection before giving up. A morning of hundreds of
releases checks out every connection at once; waiting for one is slower, never wrong, whereas
giving up (SQLAlchemy's default, 30 s) crashed publishes half-way, one after its rename. For the
service's engines only: the web process gives up after ``WEB_POOL_WAIT_S``."""
WEB_POOL_WAIT_S = 5.0
"""How long a dashboard or API request's statement waits for a pooled connection: a page that
cannot be answered says so in seconds (a StoreError, 503) instead of hanging for minutes."""
PUBLISHING_POOL = (2, 6)
"""The publish path's own connections, kept and more on demand (``publishing``): staging, the
flips and their records never wait behind the sweeps' and the dashboard's statements."""


_UNPINGED = ("aiosqlite", "psycopg")
"""Drivers whose pooled connections are handed out without a round trip to check them (what
``pool_pre_ping`` does, for any other driver): a SQLite file is never disconnected, and a
psycopg connection is checked by its socket (``_still_open``)."""


def create_engine(
    url: str,
    *,
    pooled: bool = True,
    pool: tuple[int, int] = (5, 10),
    pool_wait_s: float = POOL_WAIT_S,
) -> AsyncEngine:
    """An engine on ``url``; a StoreError naming the URL (password hidden) when no engine can be
    made for it: an unknown kind of database, or one whose driver is not installed.

    ``pooled=False``: every connection is closed when it is given back, for callers that run each
    request in an event loop of its own (a connection may not outlive its loop). ``pool``: the
    connections kept and the ones more made on demand; ``pool_wait_s``: how long a statement waits
    for one of them before a StoreError says the store is busy."""
    try:
        engine = create_async_engine(
            async_url(url),
            **(
                {
                    "pool_pre_ping": make_url(async_url(url)).get_driver_name() not in _UNPINGED,
                    "poolclass": _BusyPool,
                    "pool_timeout": pool_wait_s,
                    "pool_size": pool[0],
                    "max_overflow": pool[1],
                }
                if pooled
                else {"poolclass": NullPool}
            ),
            json_serializer=json_text,
            json_deserializer=orjson.loads,
        )
    except (ArgumentError, ImportError):  # NoSuchModuleError is an ArgumentError
        raise StoreError(
            f"{_shown(url)} is not a database onthedot can use: "
            "use e.g. sqlite:///onthedot.db or postgresql://user@host/db."
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif pooled and engine.dialect.driver == "psycopg":
        event.listen(engine.sync_engine, "checkout", _still_open)
    event.listen(engine.sync_engine, "handle_error", _store_errors(_shown(url)))
    return engine


def _still_open(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Before a pooled PostgreSQL connection is handed out: a DisconnectionError (the pool then
    makes a new one) if the server has closed it while it sat in the pool (restarted, stopped,
    the backend ended). Asked of the connection's socket, not the server: a server ending a
    connection says so (a last message, then end of file) and an idle connection otherwise
    hears nothing, so anything to read means it is gone. A round trip on every checkout
    (``pool_pre_ping``) cost the leader a tenth of its loop at T. A connection lost while in
    use fails its statement (StoreUnreachableError, every connection of the pool then
    replaced), as it did with the round trip."""
    driver = record.driver_connection
    if driver is None or driver.closed or driver.broken:
        raise DisconnectionError("the connection is closed")
    try:
        socket = driver.pgconn.socket
    except psycopg.OperationalError as exc:  # (no socket: the connection is bad)
        raise DisconnectionError(str(exc)) from exc
    heard = select.poll()
    heard.register(socket, select.POLLIN | select.POLLPRI)
    if heard.poll(0):
        raise DisconnectionError("the server closed the connection while it was idle")


class _BusyPool(AsyncAdaptedQueuePool):
    """The usual pool, whose wait for a connection ends in a StoreError sentence (SQLAlchemy's
    own ``TimeoutError`` names the pool's settings, not what to do)."""

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except PoolTimeoutError:
            raise StoreError(
                f"The store is busy: all {self.checkedout()} of this process's connections to "
                f"it are in use and none came free within {self._timeout:g} s; try again in a "
                "moment."
            ) from None


_PUBLISHING: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()
_MAIN: weakref.WeakKeyDictionary[AsyncEngine, weakref.ref[AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)


def publishing(engine: AsyncEngine) -> AsyncEngine:
    """The engine the publish path records through: on PostgreSQL a small pool of its own on the
    same database (made on first use, disposed with ``engine``), so a flip is recorded however
    many sweeps hold the main pool; on SQLite (one writer at a time anyway) ``engine`` itself."""
    if engine.dialect.name != "postgresql" or engine.pool.__class__ is NullPool:
        return engine
    reserved = _PUBLISHING.get(engine)
    if reserved is None:
        url = engine.url.render_as_string(hide_password=False)
        reserved = _PUBLISHING[engine] = create_engine(url, pool=PUBLISHING_POOL)
        _MAIN[reserved] = weakref.ref(engine)
        event.listen(engine.sync_engine, "engine_disposed", _dispose_with(reserved))
    return reserved


def main_of(engine: AsyncEngine) -> AsyncEngine:
    """The engine ``engine`` was made for by ``publishing`` (whatever is bound to that one —
    the timeline's signing key — holds for both), else ``engine`` itself."""
    main = _MAIN.get(engine)
    found = main() if main is not None else None
    return found if found is not None else engine


def _dispose_with(reserved: AsyncEngine) -> Callable[[Any], None]:
    """Dispose the publish path's engine with the main one (called inside its ``dispose``)."""

    def dispose(_engine: Any) -> None:
        reserved.sync_engine.dispose()

    return dispose


def _shown(url: str) -> str:
    """``url`` as a message may show it: its password hidden."""
    return repr(make_url(url).render_as_string(hide_password=True))


CONNECTION_STATES = ("08", "57P", "53")
"""SQLSTATE classes that say the server cannot be talked to now: connection exceptions, the
server shutting down or starting, out of resources (``_store_errors``)."""


def _store_errors(shown: str) -> Callable[[ExceptionContext], StoreError | None]:
    """A handler that turns the store's own failures into one StoreError sentence with the fix:
    a write refused by a read-only store (SQLite file or folder not writable, a read-only
    PostgreSQL transaction), and a store that cannot be reached (refused, dropped, shutting
    down). Every other error (a constraint, a missing table) is left as it is."""

    def handle(context: ExceptionContext) -> StoreError | None:
        original = context.original_exception
        if not isinstance(original, Exception):
            return None  # a cancellation (or an interrupt) mid-query stays one, whatever the driver
            # made of the connection it dropped: else the task would swallow it and run on
        state = str(getattr(original, "sqlstate", "") or "")
        if "readonly database" in str(original) or state == "25006":
            return StoreError(
                f"The store at {shown} is read-only, so nothing can be recorded: give onthedot "
                "write access to the database (for SQLite, the file and its folder)."
            )
        if not _unreachable(context, state):
            return None
        return StoreUnreachableError(
            f"The store at {shown} cannot be reached ({first_line(original)}): start the "
            "database server or correct the database URL; onthedot tries again meanwhile."
        )

    return handle


def _unreachable(context: ExceptionContext, state: str) -> bool:
    """The failure is the connection's: it was lost, could not be made, or the server refuses
    work for now."""
    if context.is_disconnect or state.startswith(CONNECTION_STATES):
        return True
    failed_to_connect = context.connection is None and context.execution_context is None
    return failed_to_connect and context.dialect.name != "sqlite"


def at_head(connection: Connection) -> bool:
    """Whether the schema is already the newest one (most starts: no need to load Alembic)."""
    try:
        with connection.begin_nested():
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):  # a new store: no version table yet
        return False
    return version == HEAD_REVISION


def _upgrade(connection: Connection) -> None:
    if at_head(connection):
        return
    if connection.dialect.name == "postgresql":  # instances starting together migrate one by one
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        if at_head(connection):  # (another instance did it while this one waited)
            return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def create_private(url: str) -> None:
    """Create a new SQLite store's file readable and writable by its owner only (0600): it holds
    the record and what was published. SQLite gives its ``-wal`` and ``-shm`` files the mode of
    the database file. An existing file keeps the mode it has."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # made by another process first, or no such folder (opening says so)
        return


async def open_store(url: str, *, pool_wait_s: float = POOL_WAIT_S) -> AsyncEngine:
    """An engine on ``url`` with the schema migrated to head; a plain-sentence StoreError otherwise.
    ``pool_wait_s``: see ``create_engine``."""
    create_private(url)
    engine = create_engine(url, pool_wait_s=pool_wait_s)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    except (OperationalError, OSError, SQLAlchemyError, StoreUnreachableError) as exc:
        await engine.dispose()
        shown = make_url(async_url(url)).render_as_string(hide_password=True)
        raise StoreError(
            f"The store at {shown} cannot be opened ({first_line(exc)}): check the database URL and that "
            "the server is running."
        ) from exc
    except StoreError:  # (read-only: the handler's own sentence)
        await engine.dispose()
        raise
    return engine


def first_line(exc: BaseException) -> str:
    """What the driver said of ``exc``, its first line only (not the statement it ran)."""
    if isinstance(exc, StoreUnreachableError) and exc.__cause__ is not None:
        exc = exc.__cause__  # (what the driver said, not the handler's sentence)
    text = str(getattr(exc, "orig", exc) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
