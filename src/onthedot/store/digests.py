"""The SHA-256 of local artefact files, remembered between runs by real path, size and mtime.

Reading a 6,000-file release hashed every file each time (60 MB for 10 KB files); with what the
store remembers, a file whose size and mtime have not changed is not read again
(``config.digest_of`` decides what may be remembered). The store keeps no device or inode (they
need not survive a restart): what it remembers is found by real path, size and mtime alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import DigestKey
from onthedot.store.bulk import insert_rows
from onthedot.store.tables import artefact_digests as table

_CHUNK = 500  # paths per DELETE ... IN (...)


class ArtefactDigests:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def recall(self, folder: Path) -> Remembered:
        """What the store remembers of the files under ``folder``."""
        prefix = str(folder).rstrip("/") + "/"
        query = select(table).where(table.c.path >= prefix, table.c.path < prefix[:-1] + "0")
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return Remembered({(r.path, r.size, r.mtime_ns): r.sha256 for r in rows})

    async def remember(self, digests: Mapping[DigestKey, str]) -> None:
        """Keep ``digests``, replacing what was remembered of the same paths."""
        if not digests:
            return
        rows = [
            {"path": path, "size": size, "mtime_ns": mtime_ns, "sha256": sha256}
            for (path, _device, _inode, size, mtime_ns), sha256 in digests.items()
        ]
        async with self._engine.begin() as conn:
            for start in range(0, len(rows), _CHUNK):
                paths = [row["path"] for row in rows[start : start + _CHUNK]]
                await conn.execute(delete(table).where(table.c.path.in_(paths)))
            await insert_rows(conn, table, rows)


class Remembered(MutableMapping[DigestKey, str]):
    """What the store remembers of a folder's files (``rows``, by real path, size and mtime),
    looked up by a file's whole stamp; in ``added``, what was hashed since, to remember."""

    def __init__(self, rows: Mapping[tuple[str, int, int], str]) -> None:
        self.rows = rows
        self.added: dict[DigestKey, str] = {}

    def __getitem__(self, key: DigestKey) -> str:
        if key in self.added:
            return self.added[key]
        path, _device, _inode, size, mtime_ns = key
        return self.rows[(path, size, mtime_ns)]

    def __setitem__(self, key: DigestKey, value: str) -> None:
        self.added[key] = value

    def __delitem__(self, key: DigestKey) -> None:
        del self.added[key]

    def __iter__(self) -> Iterator[DigestKey]:
        return iter(self.added)

    def __len__(self) -> int:
        return len(self.added)
