"""Many rows into one table at the driver's pace: the statement compiled once, each value turned
into what the driver takes by the column type's own bind processor, then one ``executemany``.

SQLAlchemy's ``conn.execute(table.insert(), rows)`` does the same per row and per value through
its generic machinery, which was most of the cost of recording a 6,000-URL sweep (18,000 rows).
Values that repeat (a sweep's results share one ``checked_at``, its events one ``at``) are
converted once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any]


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, same: Sequence[str] = ()
) -> None:
    """Insert ``rows`` (all with the same keys) into ``table``; the columns named in ``same``
    hold one value in every row, converted once."""
    if not rows:
        return
    keys = list(rows[0])
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=keys)
    order = list(compiled.positiontup or ()) if compiled.positional else keys
    convert = [_converter(conn, table, key, key in same) for key in order]
    if compiled.positional:
        params: list[Any] = [tuple(c(row[k]) for c, k in zip(convert, order, strict=True)) for row in rows]
    else:
        params = [{k: c(row[k]) for c, k in zip(convert, order, strict=True)} for row in rows]
    await conn.exec_driver_sql(compiled.string, params)


def _converter(conn: AsyncConnection, table: Table, key: str, constant: bool) -> Processor:
    """The column's bind processor (or the value as it is), remembered once for a ``constant``."""
    process = table.c[key].type.bind_processor(conn.dialect)
    if process is None:
        return _same
    if not constant:
        return process
    done: dict[int, tuple[Any, Any]] = {}

    def once(value: Any) -> Any:
        seen = done.get(id(value))
        if seen is None or seen[0] is not value:
            seen = done[id(value)] = (value, process(value))
        return seen[1]

    return once


def _same(value: Any) -> Any:
    return value
