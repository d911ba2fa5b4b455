"""Local accounts: a name, a role and a password kept as its argon2 hash only.

``check`` takes as long for a name that does not exist, or is disabled, as for a wrong password
(it verifies against a hash all the same), so the time it takes tells no one which names exist.
Hashing and checking a password take tens of milliseconds of CPU by design, so they run in a
worker thread (argon2 lets go of the GIL): the web process's event loop keeps serving meanwhile.
Which roles exist and what each may do is the web layer's rule (``onthedot.web.access``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import InputError
from onthedot.store.tables import accounts as table
from onthedot.store.tables import sessions

MIN_PASSWORD = 12
HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults
_NOBODY = HASHER.hash("a password no account has")


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    created_at: dt.datetime
    password_changed_at: dt.datetime
    disabled_at: dt.datetime | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used (one sentence with the fix), or None."""
    if len(password) < MIN_PASSWORD:
        return (
            f"The password is {len(password)} characters long: choose one of at least "
            f"{MIN_PASSWORD} (three or four unrelated words are easy to remember)."
        )
    return None


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, name: str, role: str, password: str, now: dt.datetime) -> Account:
        _usable(password)
        row = {
            "name": name,
            "role": role,
            "password_hash": await asyncio.to_thread(HASHER.hash, password),
            "created_at": now,
            "password_changed_at": now,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(table).values(row))
        except IntegrityError:
            raise InputError(
                f"There is an account {name!r} already: choose another name, or set its "
                f"password with `onthedot account password {name}`."
            ) from None
        return Account(name, role, now, now, None)

    async def get(self, name: str) -> Account | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.name == name))).first()
        return None if row is None else _account(row)

    async def all(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(table).order_by(table.c.name))).all()
        return [_account(row) for row in rows]

    async def check(self, name: str, password: str) -> Account | None:
        """The enabled account whose password this is, else None (in the same time either way)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.name == name))).first()
        try:
            await asyncio.to_thread(
                HASHER.verify, _NOBODY if row is None else row.password_hash, password
            )
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled_at is not None:
            return None
        return _account(row)

    async def set_password(self, name: str, password: str, now: dt.datetime) -> None:
        """A new password; every session the account had ends."""
        _usable(password)
        hashed = await asyncio.to_thread(HASHER.hash, password)
        values = {"password_hash": hashed, "password_changed_at": now}
        await self._change(name, values)

    async def disable(self, name: str, now: dt.datetime) -> None:
        """The account no longer signs in; every session it had ends at once."""
        await self._change(name, {"disabled_at": now})

    async def enable(self, name: str) -> None:
        await self._change(name, {"disabled_at": None})

    async def _change(self, name: str, values: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            changed = await conn.execute(update(table).where(table.c.name == name).values(values))
            if changed.rowcount == 0:
                raise InputError(f"There is no account {name!r}: see `onthedot account list`.")
            ended = delete(sessions).where(sessions.c.how == "password")
            await conn.execute(ended.where(sessions.c.credential == name))


def _usable(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise InputError(problem)


def _account(row: Row[Any]) -> Account:
    return Account(row.name, row.role, row.created_at, row.password_changed_at, row.disabled_at)
