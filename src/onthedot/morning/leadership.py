"""Which of several ``onthedot run`` instances publishes: the one PostgreSQL says holds the lock.

Every instance serves the dashboard and the API; only the leader's scheduler arms releases. The
leader is whichever instance holds the session advisory lock ``onthedot:leader``
(``store.advisory``): the others try to take it every ``poll_s`` (a quarter of a second), so when
the leader dies its connection goes, the lock with it, and a standby is the leader well within
two seconds. The leader checks every ``poll_s`` that PostgreSQL still lists the lock as its own;
if not (its connection was lost), it stops publishing at once and becomes a standby. Each release
it publishes has its own lock besides (``publish.lease``), checked before every step that changes
the site, so an old leader that wakes late never acts twice.

On SQLite the store is one file on one machine: the one instance is always the leader.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.publish.lease import holder_name
from onthedot.store.advisory import lock_key, lock_session, shared

log = logs.get_logger("onthedot.leadership")

LEADER_LOCK = "onthedot:leader"
POLL_S = 0.25


@dataclass(frozen=True)
class Standing:
    """This instance: the leader or a standby, since when, and its name."""

    leader: bool
    since: dt.datetime
    instance: str

    def as_json(self) -> dict[str, object]:
        return {"leader": self.leader, "since": self.since.isoformat(), "instance": self.instance}


OnChange = Callable[[Standing], None]


class Leadership:
    def __init__(
        self, engine: AsyncEngine, *, poll_s: float = POLL_S, on_change: OnChange | None = None
    ) -> None:
        self._engine = engine
        self._poll_s = poll_s
        self._on_change = on_change
        self._key = lock_key(LEADER_LOCK)
        self.standing = Standing(False, dt.datetime.now(dt.UTC), holder_name())
        self.changed = asyncio.Event()
        """Set at each change (the scheduler clears it once it has acted on it)."""

    @property
    def leader(self) -> bool:
        return self.standing.leader

    async def run_forever(self) -> None:
        if not shared(self._engine):
            self._become(True)
            await asyncio.Event().wait()  # one instance on one store: the leader until stopped
        if self._on_change is not None:
            self._on_change(self.standing)  # a standby until the lock is taken
        session = lock_session(self._engine)
        while True:
            if self.leader:
                held = await session.holds(self._key, self)
            else:
                held = await session.try_lock(self._key, self)
            if held != self.leader:
                self._become(held)
            await asyncio.sleep(self._poll_s)

    def _become(self, leader: bool) -> None:
        self.standing = Standing(leader, dt.datetime.now(dt.UTC), self.standing.instance)
        if leader:
            log.info(
                "this instance is now the leader: it publishes", instance=self.standing.instance
            )
        else:
            log.warning(
                "this instance is now a standby: another one publishes",
                instance=self.standing.instance,
            )
        self.changed.set()
        if self._on_change is not None:
            self._on_change(self.standing)

    async def aclose(self) -> None:
        """Give the lock up (a standby takes over at its next try)."""
        if shared(self._engine):
            await lock_session(self._engine).unlock(self._key, self)


class Standings:
    """The latest standing of the service, replaced from one thread while another reads it (the
    dashboard's process, told by the scheduler's); None until the service reports one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._standing: Standing | None = None

    def replace(self, standing: Standing) -> None:
        with self._lock:
            self._standing = standing

    def current(self) -> Standing | None:
        with self._lock:
            return self._standing
