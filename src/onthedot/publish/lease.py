"""One publisher per release, and a fence before every step that changes the site.

On PostgreSQL the lease is a session advisory lock (``store.advisory``): it goes the moment its
holder's connection does, so another instance takes the release over at once after a crash. On
SQLite (one machine) it is a row in the store, taken atomically and renewed while working; a
crashed holder stops renewing and its lease expires.

Two publishers of the same release: the second waits (or refuses with ``wait=False``) until the
first finishes or is gone. ``check`` is the fence: the publisher calls it before staging, the
flip and each purge, and a holder that lost its lease (paused or cut off, and another took over)
stops there instead of acting twice.

A renewal that fails (the SQLite file locked by another writer past its busy timeout, a full disk)
is logged and tried again at the next interval: the lease lapses only if every renewal fails for
its whole time to live, and then the fence, not the renewer, stops this publisher.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.errors import LeaseHeldError, LeaseLostError
from onthedot.store.advisory import lock_key, lock_session, shared
from onthedot.store.tables import leases

DEFAULT_TTL_S = 15.0

log = logs.get_logger("onthedot.lease")


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(
        self, engine: AsyncEngine, release_id: str, *, ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        self._engine = engine
        self.release_id = release_id
        self.holder = holder_name()
        self._ttl = dt.timedelta(seconds=ttl_s)
        self._renewer: asyncio.Task[None] | None = None
        self._key = lock_key(f"onthedot:release:{release_id}") if shared(engine) else None

    def _expiry(self) -> dt.datetime:
        # leases use the host's real clock: an injected (replay) clock must not expire them
        return dt.datetime.now(dt.UTC) + self._ttl

    async def try_acquire(self) -> bool:
        if self._key is not None:
            return await lock_session(self._engine).try_lock(self._key, self)
        now = dt.datetime.now(dt.UTC)
        async with self._engine.begin() as conn:
            taken = await conn.execute(
                update(leases)
                .where(leases.c.release_id == self.release_id, leases.c.expires_at < now)
                .values(holder=self.holder, expires_at=self._expiry())
            )
            if taken.rowcount:
                return True
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(leases).values(
                        release_id=self.release_id, holder=self.holder, expires_at=self._expiry()
                    )
                )
        except IntegrityError:
            return False
        return True

    async def acquire(self, *, wait: bool = True, poll_s: float = 0.5) -> None:
        while not await self.try_acquire():
            if not wait:
                raise LeaseHeldError(
                    f"Another onthedot is publishing {self.release_id} right now: wait for it to "
                    "finish, or stop it first."
                )
            await asyncio.sleep(poll_s)
        if self._key is None:
            self._renewer = asyncio.create_task(self._renew_forever())

    async def check(self) -> None:
        """The fence: LeaseLostError unless this publisher still holds the release."""
        if self._key is not None:
            held = await lock_session(self._engine).holds(self._key, self)
        else:
            async with self._engine.connect() as conn:
                holder = await conn.scalar(
                    select(leases.c.holder).where(leases.c.release_id == self.release_id)
                )
            held = holder == self.holder
        if not held:
            raise LeaseLostError(
                f"This onthedot lost its hold on {self.release_id} (the store was out of reach "
                "too long), so it stopped before acting twice: another instance publishes it."
            )

    async def _renew_forever(self) -> None:
        """Renew every third of the time to live until cancelled. A renewal that finds the lease
        taken by another holder changes nothing (``check`` then fences this publisher); one that
        fails is logged and tried again at the next interval, never ending the renewer."""
        while True:
            await asyncio.sleep(self._ttl.total_seconds() / 3)
            try:
                await self._renew()
            except Exception as exc:  # the store busy, full or away: the next interval tries again
                error = str(exc).partition("\n")[0] or type(exc).__name__
                log.warning("lease.renew_failed", release=self.release_id, error=error)

    async def _renew(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.release_id == self.release_id, leases.c.holder == self.holder)
                .values(expires_at=self._expiry())
            )

    async def release(self) -> None:
        if self._key is not None:
            await lock_session(self._engine).unlock(self._key, self)
            return
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            await asyncio.wait([renewer])  # its end, whatever it was: never raised here
            if not renewer.cancelled() and (error := renewer.exception()) is not None:
                log.warning("lease.renewer_ended", release=self.release_id, error=repr(error))
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(leases).where(
                    leases.c.release_id == self.release_id, leases.c.holder == self.holder
                )
            )

    async def __aenter__(self) -> Lease:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
