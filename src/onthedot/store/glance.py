"""A look into a SQLite store through the standard library, for ``check`` (no SQLAlchemy).

``check`` writes to the store only when a release is new or changed; most runs find every
release as stored and only read each one's history. This reads it with ``sqlite3``, read-only,
and answers None whenever the store would have to be written or looked at more closely (not a
SQLite file, not at the newest schema, a release new or changed, anything unreadable): the
caller then opens the store as usual. What is read is what
:class:`onthedot.store.releases.ReleaseRepository` reads: the same rows, the same values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from onthedot.model import Release
from onthedot.store.documents import HistoryEntry, content_sha256, document
from onthedot.store.location import HEAD_REVISION, sqlite_file

_HISTORY = (
    "SELECT release_id, changed_at, actor, reason, field, old, new FROM release_history"
    " WHERE release_id = ? AND field = ? ORDER BY id"
)


def unchanged_histories(
    url: str, releases: Sequence[Release], field: str
) -> dict[str, list[HistoryEntry]] | None:
    """Each release's recorded changes of ``field``, if the store at ``url`` already holds
    every release as it is; None if the store must be opened (and perhaps written) instead."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        with contextlib.closing(_connect(path.resolve().as_uri())) as db:
            if not _holds(db, releases):
                return None
            return {
                r.id: [_entry(row) for row in db.execute(_HISTORY, (r.id, field))] for r in releases
            }
    except (sqlite3.Error, ValueError):
        return None


def _connect(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=10)


def _holds(db: sqlite3.Connection, releases: Sequence[Release]) -> bool:
    """Whether the schema is the newest and every release is stored with its current digest."""
    (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
    if version != HEAD_REVISION:
        return False
    for release in releases:
        stored = db.execute("SELECT content_sha256 FROM releases WHERE id = ?", (release.id,))
        if stored.fetchone() != (content_sha256(document(release)),):
            return False
    return True


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    release_id, changed_at, actor, reason, field, old, new = row
    return HistoryEntry(
        release_id, _instant(changed_at), actor, reason, field, _json(old), _json(new)
    )


def _instant(stored: str) -> dt.datetime:
    """SQLite keeps UTC instants as text without a zone (see ``tables.UTCDateTime``)."""
    return dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC)


def _json(stored: str | None) -> Any:
    return None if stored is None else orjson.loads(stored)
