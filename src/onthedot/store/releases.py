"""Releases in the store: sync from release files (insert, update, history of changes with who/why).

The store keeps no secret: the site's URLs are masked before a release is stored or its changes
are written to the history (``documents.without_secrets``); publishing reads the release file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.errors import StoreError
from onthedot.model import Release, utcnow
from onthedot.store.documents import HistoryEntry, content_sha256, document, without_secrets
from onthedot.store.tables import release_history, releases

_CHUNK = 500  # ids per SELECT ... IN (...)

# fields whose change is worth a line in the history (and, for release_at, a T3.2 check)
TRACKED = (
    "title",
    "producer",
    "release_at",
    "announced_at",
    "nation",
    "lead_statistician",
    "head_of_profession",
    "exemption",
    "artefact",
    "site",
)


@dataclass(frozen=True, slots=True)
class SyncResult:
    release_id: str
    action: str  # "inserted" | "updated" | "unchanged"
    changes: tuple[HistoryEntry, ...] = ()


class ReleaseRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sync(
        self, release: Release, *, actor: str = "onthedot", reason: str = ""
    ) -> SyncResult:
        doc = document(release)
        digest = content_sha256(doc)
        now = utcnow()
        row_values = {
            "title": release.title,
            "producer": release.producer,
            "release_at": release.release_at,
            "announced_at": release.announced_at,
            "nation": release.nation,
            "source": str(release.source) if release.source else None,
            "content_sha256": digest,
            "document": doc,
            "updated_at": now,
        }
        async with self._engine.begin() as conn:
            stored = select(releases.c.content_sha256).where(releases.c.id == release.id)
            known = (await conn.execute(stored)).first()
            if known is None:
                await conn.execute(
                    releases.insert().values(id=release.id, created_at=now, **row_values)
                )
                return SyncResult(release.id, "inserted")
            if known.content_sha256 == digest:  # most runs: the document is not even read
                return SyncResult(release.id, "unchanged")
            stored_doc = select(releases.c.document).where(releases.c.id == release.id)
            old = without_secrets(dict((await conn.execute(stored_doc)).scalar_one()))
            if not reason:
                reason = _reason_from_changes(release)
            entries = tuple(
                HistoryEntry(release.id, now, actor, reason, name, old.get(name), doc.get(name))
                for name in TRACKED
                if old.get(name) != doc.get(name)
            )
            await conn.execute(
                releases.update().where(releases.c.id == release.id).values(**row_values)
            )
            if entries:
                await conn.execute(
                    release_history.insert(),
                    [
                        {
                            "release_id": e.release_id,
                            "changed_at": e.changed_at,
                            "actor": e.actor,
                            "reason": e.reason,
                            "field": e.field,
                            "old": e.old,
                            "new": e.new,
                        }
                        for e in entries
                    ],
                )
        return SyncResult(release.id, "updated", entries)

    async def get(self, release_id: str) -> Release | None:
        async with self._engine.connect() as conn:
            doc = await conn.scalar(select(releases.c.document).where(releases.c.id == release_id))
        if doc is None:
            return None
        release = _read(doc)
        if release is None:
            raise StoreError(
                f"The stored copy of release {release_id!r} no longer meets the rules for a "
                "release: run `onthedot check` on its release file to store it again."
            )
        return release

    async def digests(self, ids: Collection[str]) -> dict[str, str]:
        """The stored documents' digests (``content_sha256``) of the releases ``ids`` the store
        holds, by id: one query for a few hundred."""
        found: dict[str, str] = {}
        wanted = list(ids)
        async with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(releases.c.id, releases.c.content_sha256).where(
                    releases.c.id.in_(wanted[start : start + _CHUNK])
                )
                found.update((row.id, row.content_sha256) for row in await conn.execute(query))
        return found

    async def ids(self) -> list[str]:
        async with self._engine.connect() as conn:
            return list((await conn.scalars(select(releases.c.id).order_by(releases.c.id))).all())

    async def all(self) -> list[Release]:
        async with self._engine.connect() as conn:
            docs = (
                await conn.scalars(select(releases.c.document).order_by(releases.c.release_at))
            ).all()
        return [release for doc in docs if (release := _read(doc)) is not None]

    async def from_sources(self, sources: Collection[str]) -> list[Release]:
        """The stored releases last read from these release files (``source``): the copies kept
        while a file is broken, read without reading every other release's document."""
        return await self._where_in(releases.c.source, sources)

    async def due_between(self, start: dt.datetime, end: dt.datetime) -> dict[str, str]:
        """The releases due from ``start`` to ``end`` (both included), by ``release_at``: each
        one's id and stored digest (``content_sha256``), no document read (the column is
        indexed): a reader that keeps the releases it read asks ``get_many`` for the new and
        changed ones only."""
        query = (
            select(releases.c.id, releases.c.content_sha256)
            .where(releases.c.release_at.between(start, end))
            .order_by(releases.c.release_at)
        )
        async with self._engine.connect() as conn:
            return {row.id: row.content_sha256 for row in await conn.execute(query)}

    async def get_many(self, ids: Collection[str]) -> list[Release]:
        """The stored releases ``ids`` (those the store holds and can still read)."""
        return await self._where_in(releases.c.id, ids)

    async def _where_in(self, column: ColumnElement[Any], values: Collection[str]) -> list[Release]:
        """The stored releases whose ``column`` is one of ``values``, asked ``_CHUNK`` at a time."""
        wanted = list(values)
        found: list[Release] = []
        async with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(releases.c.document).where(
                    column.in_(wanted[start : start + _CHUNK])
                )
                docs = (await conn.scalars(query)).all()
                found += [release for doc in docs if (release := _read(doc)) is not None]
        return found

    async def history(self, release_id: str, field: str | None = None) -> list[HistoryEntry]:
        query = (
            select(release_history)
            .where(release_history.c.release_id == release_id)
            .order_by(release_history.c.id)
        )
        if field:
            query = query.where(release_history.c.field == field)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            HistoryEntry(r.release_id, r.changed_at, r.actor, r.reason, r.field, r.old, r.new)
            for r in rows
        ]


def _read(doc: Any) -> Release | None:
    """A stored release, or None (logged) when it no longer meets today's rules for a release
    (stored by an older version): one such copy must not stop the dashboard or the scheduler,
    which reads it again from its file."""
    try:
        return Release.model_validate(doc)
    except ValidationError as exc:
        shown = doc.get("id") if isinstance(doc, dict) else None
        logs.get_logger("onthedot.store").warning(
            "store.release_unreadable", release=shown, problem=str(exc).splitlines()[0]
        )
        return None


def _reason_from_changes(release: Release) -> str:
    """The newest recorded [[change]] reason of the release file, if any."""
    return release.change[-1].reason if release.change else ""
