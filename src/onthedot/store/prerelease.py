"""Pre-release access in the store: each grant of a signed link, and each use of one.

The link itself is never stored (it is signed with a key kept outside the database, see
``publish.prerelease_links``); a grant's id, which the link carries, finds the grant again.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.tables import prerelease_grants as grants
from onthedot.store.tables import prerelease_openings as openings


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    release_id: str
    name: str
    email: str | None
    role: str
    justification: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None = None

    def state(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "open"


@dataclass(frozen=True, slots=True)
class Opening:
    grant_id: str
    release_id: str
    at: dt.datetime
    path: str | None
    sha256: str | None
    served: bool
    detail: str = ""


class PreReleaseGrants:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, grant: Grant) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(grants).values(_columns(grant)))

    async def get(self, grant_id: str) -> Grant | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(grants).where(grants.c.id == grant_id))).first()
        return None if row is None else _grant(row)

    async def of_release(self, release_id: str) -> list[Grant]:
        query = (
            select(grants)
            .where(grants.c.release_id == release_id)
            .order_by(grants.c.granted_at, grants.c.id)
        )
        async with self._engine.connect() as conn:
            return [_grant(row) for row in (await conn.execute(query)).all()]

    async def revoke(self, grant_ids: list[str], now: dt.datetime) -> int:
        """Revoke the grants not yet revoked among ``grant_ids``; how many were."""
        query = (
            update(grants)
            .where(grants.c.id.in_(grant_ids), grants.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount

    async def record(self, opening: Opening) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(openings).values(_columns(opening)))

    async def openings(self, release_id: str) -> list[Opening]:
        query = (
            select(openings)
            .where(openings.c.release_id == release_id)
            .order_by(openings.c.at, openings.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Opening(**{k: getattr(r, k) for k in _OPENING_FIELDS}) for r in rows]


_OPENING_FIELDS = tuple(Opening.__dataclass_fields__)


def new_grant_id() -> str:
    return secrets.token_hex(8)


def _columns(item: Grant | Opening) -> dict[str, Any]:
    return {name: getattr(item, name) for name in type(item).__dataclass_fields__}


def _grant(row: Row[Any]) -> Grant:
    return Grant(**{name: getattr(row, name) for name in Grant.__dataclass_fields__})
