"""Many rows into one table at the driver's pace: the statement compiled once, each value turned
into what the driver takes by the column type's own bind processor, then one ``executemany``.

SQLAlchemy's ``conn.execute(table.insert(), rows)`` does the same per row and per value through
its generic machinery, which was most of the cost of recording a 6,000-URL sweep (18,000 rows).
Values that repeat (a sweep's results share one ``checked_at``, its events one ``at``) are
converted once.
"""

from __future__ import annotations

import operator
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
    pick = operator.itemgetter(*order)
    convert = [
        (index, process)
        for index, key in enumerate(order)
        if (process := _converter(conn, table, key, key in same)) is not None
    ]
    params: list[Any] = []
    for row in rows:
        values = list(pick(row)) if len(order) > 1 else [pick(row)]
        for index, process in convert:
            values[index] = process(values[index])
        params.append(tuple(values) if compiled.positional else dict(zip(order, values, strict=True)))
    await conn.exec_driver_sql(compiled.string, params)


def _converter(conn: AsyncConnection, table: Table, key: str, constant: bool) -> Processor | None:
    """The column's bind processor (None: the value goes as it is), remembered once for a
    ``constant``."""
    process = table.c[key].type.bind_processor(conn.dialect)
    if process is None or not constant:
        return process
    done: dict[int, tuple[Any, Any]] = {}

    def once(value: Any) -> Any:
        seen = done.get(id(value))
        if seen is None or seen[0] is not value:
            seen = done[id(value)] = (value, process(value))
        return seen[1]

    return once
