"""Signed-in sessions of the dashboard, kept on the server.

The browser holds only a random id (``open`` returns it; a new one at every sign-in); the store
keeps its SHA-256, who signed in, how (``password``, ``token`` or ``sso``), with which credential
(the account's name, the token's SHA-256, the single sign-on subject) and when the session ends.
Signing out, disabling an account or changing its password ends its sessions (``close``,
``store.accounts``); whether the credential still holds is the web layer's check
(``onthedot.web.access``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.tables import sessions as table


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    role: str
    how: str
    credential: str
    created_at: dt.datetime
    expires_at: dt.datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class Sessions:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open(
        self, who: tuple[str, str], how: str, credential: str, now: dt.datetime, lasts_s: float
    ) -> str:
        """A new session for ``who`` (name, role); its id, for the browser's cookie only.
        Sessions that have ended are removed on the way."""
        session_id = secrets.token_urlsafe(32)
        name, role = who
        row = {
            "id_sha256": _digest(session_id),
            "name": name,
            "role": role,
            "how": how,
            "credential": credential,
            "created_at": now,
            "expires_at": now + dt.timedelta(seconds=lasts_s),
        }
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.expires_at <= now))
            await conn.execute(insert(table).values(row))
        return session_id

    async def find(self, session_id: str, now: dt.datetime) -> Session | None:
        """The session with this id, if it has not ended."""
        query = select(table).where(table.c.id_sha256 == _digest(session_id))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.expires_at <= now:
            return None
        return _session(row)

    async def close(self, session_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id_sha256 == _digest(session_id)))


def _session(row: Row[Any]) -> Session:
    return Session(row.name, row.role, row.how, row.credential, row.created_at, row.expires_at)
