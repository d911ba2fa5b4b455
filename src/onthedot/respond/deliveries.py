"""The alerts sent about incidents: one row per message of a state to one address of a role.

The row is claimed before the message is sent, so each role's address gets one message per
change of an incident's state, however often the record is read. An address is kept masked
only. ``open_failures`` lists the messages that could not be delivered about incidents still
open (``/api/health`` shows them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import iso_utc
from onthedot.respond.incidents import ACTIVE
from onthedot.store.tables import alerts, incidents

PENDING = ("queued", "retrying")


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

    @property
    def message(self) -> str:
        return (
            f"An alert to the {self.role.replace('_', ' ')} about incident {self.incident} of "
            f"{self.release_id} could not be delivered ({self.error}): check that address."
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

    async def alerted(self, incident_id: int, round_: int) -> set[str]:
        """The roles sent (or sending) the message that ``incident_id`` opened, this round."""
        query = select(alerts.c.role).where(
            alerts.c.incident_id == incident_id,
            alerts.c.round == round_,
            alerts.c.state == "opened",
        )
        async with self._engine.connect() as conn:
            return set((await conn.scalars(query)).all())

    async def claim(
        self,
        incident_id: int,
        round_: int,
        state: str,
        role: str,
        index: int,
        address: str,
        now: dt.datetime,
    ) -> Claim:
        """The row of this message, made (queued) if it was not there."""
        key = {
            "incident_id": incident_id,
            "round": round_,
            "state": state,
            "role": role,
            "channel": index,
        }
        row = {**key, "address": address, "status": "queued", "attempts": 0, "error": "", "at": now}
        try:
            async with self._engine.begin() as conn:
                made = await conn.execute(insert(alerts).values(row).returning(alerts.c.id))
                new = made.scalar_one()
            return Claim(int(new), "new")
        except IntegrityError:
            pass
        where = [getattr(alerts.c, k) == v for k, v in key.items()]
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(alerts.c.id, alerts.c.status).where(*where))).one()
        return Claim(found.id, found.status)

    async def mark(
        self, alert_id: int, status: str, attempts: int, error: str, now: dt.datetime
    ) -> None:
        values = {"status": status, "attempts": attempts, "error": error, "at": now}
        async with self._engine.begin() as conn:
            await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))


async def open_failures(engine: AsyncEngine) -> list[DeliveryFailure]:
    """Messages no attempt delivered, about incidents still open or acknowledged."""
    query = (
        select(alerts, incidents.c.release_id)
        .join(incidents, incidents.c.id == alerts.c.incident_id)
        .where(alerts.c.status == "failed", incidents.c.state.in_(ACTIVE))
        .order_by(alerts.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        DeliveryFailure(r.release_id, r.incident_id, r.role, r.address, r.error, r.at) for r in rows
    ]
