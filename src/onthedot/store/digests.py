"""The SHA-256 of local artefact files, remembered between runs by real path, size and mtime.

Reading a 6,000-file release hashed every file each time (60 MB for 10 KB files); with what the
store remembers, a file whose size and mtime have not changed is not read again
(``config.digest_of`` decides what may be remembered).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Digests
from onthedot.store.bulk import insert_rows
from onthedot.store.tables import artefact_digests as table

_CHUNK = 500  # paths per DELETE ... IN (...)


class ArtefactDigests:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def recall(self, folder: Path) -> Digests:
        """What the store remembers of the files under ``folder``."""
        prefix = str(folder).rstrip("/") + "/"
        query = select(table).where(table.c.path >= prefix, table.c.path < prefix[:-1] + "0")
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(r.path, r.size, r.mtime_ns): r.sha256 for r in rows}

    async def remember(self, digests: Mapping[tuple[str, int, int], str]) -> None:
        """Keep ``digests``, replacing what was remembered of the same paths."""
        if not digests:
            return
        rows = [
            {"path": path, "size": size, "mtime_ns": mtime_ns, "sha256": sha256}
            for (path, size, mtime_ns), sha256 in digests.items()
        ]
        async with self._engine.begin() as conn:
            for start in range(0, len(rows), _CHUNK):
                paths = [row["path"] for row in rows[start : start + _CHUNK]]
                await conn.execute(delete(table).where(table.c.path.in_(paths)))
            await insert_rows(conn, table, rows)
