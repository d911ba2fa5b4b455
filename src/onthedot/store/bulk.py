"""Many rows into one table at the driver's pace: the statement compiled once, each value turned
into what the driver takes by the column type's own bind processor, then one ``executemany``.

SQLAlchemy's ``conn.execute(table.insert(), rows)`` does the same per row and per value through
its generic machinery, which was most of the cost of recording a 6,000-URL sweep (18,000 rows).
A value that the row before held too (the very object: a sweep's results share one
``checked_at``, a batch of events one ``at`` and ``recorded_at``) is not converted again.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any]


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (all with the same keys) into ``table``."""
    if not rows:
        return
    keys = list(rows[0])
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=keys)
    order = list(compiled.positiontup or ()) if compiled.positional else keys
    pick = operator.itemgetter(*order)
    convert = [
        (index, _converter(bind))
        for index, key in enumerate(order)
        if (bind := table.c[key].type.bind_processor(conn.dialect)) is not None
    ]
    params: list[Any] = []
    for row in rows:
        values = list(pick(row)) if len(order) > 1 else [pick(row)]
        for index, process in convert:
            values[index] = process(values[index])
        params.append(
            tuple(values) if compiled.positional else dict(zip(order, values, strict=True))
        )
    await conn.exec_driver_sql(compiled.string, params)


def _converter(process: Processor) -> Processor:
    """``process``, remembering its last answer for the very same value."""
    last: list[Any] = [_NOTHING, None]  # the value, what it became

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


_NOTHING: Any = object()
