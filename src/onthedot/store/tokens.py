"""Access tokens of people and automation: stored as their SHA-256 only, never the token itself.

A token is made once (``add`` returns it; nothing can show it again), found by the SHA-256 of
what a caller sends (one indexed lookup: nothing to compare byte by byte), and revoked by name.
Which roles exist, and what each may see, is the web layer's rule (``onthedot.web.access``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.tables import access_tokens as table

PREFIX = "odt_"  # so a token pasted somewhere it should not be is easy to recognise


@dataclass(frozen=True, slots=True)
class AccessToken:
    name: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccessTokens:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self, name: str, role: str, now: dt.datetime, expires_at: dt.datetime | None = None
    ) -> str:
        """A new token for ``name``; the caller shows it once (only its hash is kept)."""
        token = PREFIX + secrets.token_urlsafe(32)
        row = {
            "name": name,
            "role": role,
            "token_sha256": digest(token),
            "created_at": now,
            "expires_at": expires_at,
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(table).values(row))
        return token

    async def find(self, token: str) -> AccessToken | None:
        """The token a caller sent, revoked or expired ones included (``usable`` says)."""
        return await self.find_digest(digest(token))

    async def find_digest(self, sha256: str) -> AccessToken | None:
        """The token whose SHA-256 this is (a dashboard session signed in with it keeps that)."""
        query = select(table).where(table.c.token_sha256 == sha256)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _token(row)

    async def all(self) -> list[AccessToken]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(table).order_by(table.c.name, table.c.id))).all()
        return [_token(row) for row in rows]

    async def revoke(self, name: str, now: dt.datetime) -> int:
        """Revoke every token of ``name`` not yet revoked; how many were."""
        query = (
            update(table)
            .where(table.c.name == name, table.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount


def _token(row: Row[Any]) -> AccessToken:
    return AccessToken(row.name, row.role, row.created_at, row.expires_at, row.revoked_at)
