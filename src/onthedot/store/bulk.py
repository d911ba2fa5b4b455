"""Many rows into one table at the driver's pace: each value turned into what the driver takes by
the column type's own bind processor, then, on PostgreSQL, one ``COPY ... FROM STDIN``, elsewhere
the statement compiled once and one ``executemany``.

SQLAlchemy's ``conn.execute(table.insert(), rows)`` does the same per row and per value through
its generic machinery, which was most of the cost of recording a 6,000-URL sweep (18,000 rows).
A value that the row before held too (the very object: a sweep's results share one
``checked_at``, a batch of events one ``at`` and ``recorded_at``) is not converted again.

psycopg's ``executemany`` still cost the loop work of its own per row (each row's parameters
sent as a statement's); COPY sends the rows as one stream: under a third of the CPU for a
sweep's thousands of rows, and less even for one row (no INSERT to compile). The values are the same
(the bind processors', then psycopg's own dumpers on the same connection: the store keeps what an
INSERT stored) and the server checks the same constraints. The COPY is sent as a statement of
SQLAlchemy's (``_copy``), in the caller's transaction, so what the store refuses comes out as it
did from the INSERT: ``IntegrityError`` for a place taken, a ``DBAPIError`` around the driver's
error for a deadlock, the store's own ``StoreError`` for a store lost (its connection replaced).
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.engine import AdaptedConnection, Dialect, Engine, ExecutionContext
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any]

_COPY = "onthedot_copy"  # the execution option that marks a statement as ``_copy``'s
_COPYING: weakref.WeakSet[Dialect] = weakref.WeakSet()  # the dialects ``_copy`` listens on


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (all with the same keys, every column without a default of the server's
    own) into ``table``, in ``conn``'s transaction."""
    if not rows:
        return
    keys = list(rows[0])
    if missing := [c.name for c in table.c if c.default is not None and c.key not in keys]:
        # (an INSERT would put the default in; COPY would leave the column empty)
        raise ValueError(f"insert_rows into {table.name} needs {', '.join(missing)} in each row")
    if conn.dialect.driver == "psycopg":
        _copying(conn.sync_engine)
        quote = conn.dialect.identifier_preparer.quote
        columns = ", ".join(quote(table.c[key].name) for key in keys)
        name = conn.dialect.identifier_preparer.format_table(table)
        await conn.exec_driver_sql(
            f"COPY {name} ({columns}) FROM STDIN",
            [tuple(values) for values in _values(conn.dialect, table, keys, rows)],
            execution_options={_COPY: True},
        )
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=keys)
    order = list(compiled.positiontup or ()) if compiled.positional else keys
    params: list[Any] = [
        tuple(values) if compiled.positional else dict(zip(order, values, strict=True))
        for values in _values(conn.dialect, table, order, rows)
    ]
    await conn.exec_driver_sql(compiled.string, params)


def _values(
    dialect: Dialect, table: Table, order: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> Iterator[list[Any]]:
    """Each row's values in ``order``, as the columns' types give them to the driver."""
    pick = operator.itemgetter(*order)
    convert = [
        (index, _converter(bind))
        for index, key in enumerate(order)
        if (bind := table.c[key].type.bind_processor(dialect)) is not None
    ]
    for row in rows:
        values = list(pick(row)) if len(order) > 1 else [pick(row)]
        for index, process in convert:
            values[index] = process(values[index])
        yield values


def _copying(engine: Engine) -> None:
    """``engine`` sends ``insert_rows``' COPY statements by ``_copy`` (once per engine's
    dialect, which holds the listeners): of several rows in place of ``executemany``, of one in
    place of ``execute``. Told by the dialect itself, not by ``event.contains``: SQLAlchemy keys
    its record of listeners by the ``id()`` of the engine, and a new engine made where a disposed
    one had been (its dialect still alive a moment) was taken for it, so its COPY went to the
    driver as a plain statement (``the query has 0 placeholders``), once in a test run."""
    if engine.dialect not in _COPYING:
        event.listen(engine, "do_executemany", _copy)
        event.listen(engine, "do_execute", _copy_one)
        _COPYING.add(engine.dialect)


def _copy_one(
    cursor: DBAPICursor, statement: str, parameters: Sequence[Any], context: ExecutionContext
) -> bool:
    return _copy(cursor, statement, [parameters], context)


def _copy(
    _cursor: DBAPICursor,
    statement: str,
    parameters: Sequence[Sequence[Any]],
    context: ExecutionContext,
) -> bool:
    """In place of the driver's ``executemany`` (``execute``: ``_copy_one``) of a statement
    marked by ``insert_rows``: the COPY with ``parameters`` as its rows, on the statement's own
    connection. Whatever it raises SQLAlchemy handles as the driver's failure of the statement
    (wraps it, invalidates a lost connection, runs the store's ``handle_error``)."""
    if not context.execution_options.get(_COPY):
        return False
    adapted = context.root_connection.connection.dbapi_connection
    assert isinstance(adapted, AdaptedConnection)  # (psycopg's async driver, adapted)

    async def copy(driver: Any) -> None:
        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in parameters:
                await copy.write_row(row)

    adapted.run_async(copy)
    return True


def _converter(process: Processor) -> Processor:
    """``process``, remembering its last answer for the very same value."""
    last: list[Any] = [_NOTHING, None]  # the value, what it became

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


_NOTHING: Any = object()
