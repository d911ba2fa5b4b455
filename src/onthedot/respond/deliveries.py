"""The alerts sent about incidents: one row per message of a state to one address of a role.

The row is claimed before the message is sent, so each role's address gets one message per
change of an incident's state, however often the record is read, and at most one across
restarts: the row says ``sending`` while an attempt is under way, and a message a stopped process
left ``sending`` (it may have arrived) is never sent again but marked ``unsure``; one left
``queued`` or ``retrying`` (no attempt can have arrived) is sent. An address is known by its
place in its role's list, and kept masked only. ``open_failures`` lists the messages that could not be delivered about incidents still
open (``/api/health`` shows them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.model import iso_utc
from onthedot.respond.incidents import ACTIVE
from onthedot.store.tables import alerts, incidents

QUEUED, SENDING, RETRYING, SENT, FAILED, UNSURE = (
    "queued",
    "sending",
    "retrying",
    "sent",
    "failed",
    "unsure",
)
RESUMABLE = (QUEUED, RETRYING)
"""A message in one of these states left by a stopped process is sent (again): no attempt of it
can have arrived. One left ``sending`` may have arrived, so it is never sent again (``UNSURE``)."""
_BATCH = 500


class MessageKey(NamedTuple):
    """One message: an incident's state (in its round) to one address (its place in the role's
    list) of a role. Each is sent at most once, across restarts."""

    incident: int
    round: int
    state: str
    role: str
    channel: int


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    status: str


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A message about an open incident that no attempt delivered."""

    release_id: str
    incident: int
    role: str
    address: str  # masked
    error: str
    at: dt.datetime
    unsure: bool = False  # onthedot stopped while sending it: it may have arrived

    @property
    def message(self) -> str:
        about = f"An alert to the {self.role.replace('_', ' ')} about incident {self.incident} of "
        if self.unsure:
            return (
                f"{about}{self.release_id} may not have arrived, as onthedot stopped while "
                "sending it (it is not sent twice): tell them about the incident yourself."
            )
        return (
            f"{about}{self.release_id} could not be delivered ({self.error}): check that address."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "release": self.release_id,
            "incident": self.incident,
            "role": self.role,
            "address": self.address,
            "error": self.error,
            "at": iso_utc(self.at),
        }


class AlertLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def known(self, incident_ids: Collection[int]) -> dict[MessageKey, Claim]:
        """Every message already claimed about these incidents (one query)."""
        found: dict[MessageKey, Claim] = {}
        ids = list(incident_ids)
        async with self._engine.connect() as conn:
            for start in range(0, len(ids), _BATCH):
                query = select(alerts).where(alerts.c.incident_id.in_(ids[start : start + _BATCH]))
                for r in (await conn.execute(query)).all():
                    found[_key(r)] = Claim(r.id, r.status)
        return found

    async def claim(
        self, wanted: Mapping[MessageKey, str], now: dt.datetime
    ) -> dict[MessageKey, Claim]:
        """The rows of these messages (key: its masked address), made in one transaction as
        ``sending`` its first attempt (the caller starts it at once); a message another process
        claimed first keeps that process's row."""
        rows = [_row(key, address, now) for key, address in wanted.items()]
        if not rows:
            return {}
        ids = list({key.incident for key in wanted})
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(alerts), rows)
                made = await conn.execute(select(alerts).where(alerts.c.incident_id.in_(ids)))
                known = {_key(r): r.id for r in made.all()}
        except IntegrityError:  # one of them claimed meanwhile: one at a time
            return {
                key: await self._claim_one(key, address, now) for key, address in wanted.items()
            }
        return {key: Claim(known[key], "new") for key in wanted}

    async def _claim_one(self, key: MessageKey, address: str, now: dt.datetime) -> Claim:
        try:
            async with self._engine.begin() as conn:
                made = await conn.execute(
                    insert(alerts).values(_row(key, address, now)).returning(alerts.c.id)
                )
                return Claim(int(made.scalar_one()), "new")
        except IntegrityError:
            pass
        where = [getattr(alerts.c, k) == v for k, v in _columns(key).items()]
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(alerts.c.id, alerts.c.status).where(*where))).one()
        return Claim(found.id, found.status)

    async def mark(
        self, alert_id: int, status: str, attempts: int, error: str, now: dt.datetime
    ) -> None:
        async with self._engine.begin() as conn:
            await marker(alert_id, status, attempts, error, now)(conn)


def marker(
    alert_id: int, status: str, attempts: int, error: str, now: dt.datetime
) -> Callable[[AsyncConnection], Awaitable[None]]:
    """Mark the message's row in a transaction of the caller's (the event that records it)."""
    values = {"status": status, "attempts": attempts, "error": error, "at": now}

    async def mark(conn: AsyncConnection) -> None:
        await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))

    return mark


def _key(row: Row[Any]) -> MessageKey:
    return MessageKey(row.incident_id, row.round, row.state, row.role, row.channel)


def _columns(key: MessageKey) -> dict[str, Any]:
    return {
        "incident_id": key.incident,
        "round": key.round,
        "state": key.state,
        "role": key.role,
        "channel": key.channel,
    }


def _row(key: MessageKey, address: str, now: dt.datetime) -> dict[str, Any]:
    values = {"address": address, "status": SENDING, "attempts": 1, "error": "", "at": now}
    return {**_columns(key), **values}


async def open_failures(engine: AsyncEngine) -> list[DeliveryFailure]:
    """Messages no attempt delivered, or that may not have arrived (onthedot stopped while
    sending them), about incidents still open or acknowledged."""
    query = (
        select(alerts, incidents.c.release_id)
        .join(incidents, incidents.c.id == alerts.c.incident_id)
        .where(alerts.c.status.in_((FAILED, UNSURE)), incidents.c.state.in_(ACTIVE))
        .order_by(alerts.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        DeliveryFailure(
            r.release_id, r.incident_id, r.role, r.address, r.error, r.at, r.status == UNSURE
        )
        for r in rows
    ]
