"""Incidents in the store: opened, resolved, reopened as the record changes, acknowledged or
closed by a person, each change an event on the release's timeline.

One incident per release and problem (its ``key``). An incident resolved or closed opens again
(its ``round`` one more) when the problem comes back; one a person closed only when the problem
started again after it was closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.errors import InputError
from onthedot.model import iso_utc
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.problems import TITLES, Problem
from onthedot.store.gathered import Gathered
from onthedot.store.tables import incidents as table

ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    release_id: str
    problem: str
    state: str  # open | acknowledged | resolved | closed
    round: int
    opened_at: dt.datetime
    changed_at: dt.datetime
    since: dt.datetime
    cause: str
    places: tuple[str, ...]
    diagnosis: str
    by: str = ""
    reason: str = ""

    @property
    def title(self) -> str:
        return TITLES.get(self.problem, self.problem)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "release": self.release_id,
            "problem": self.problem,
            "title": self.title,
            "state": self.state,
            "round": self.round,
            "opened_at": iso_utc(self.opened_at),
            "changed_at": iso_utc(self.changed_at),
            "since": iso_utc(self.since),
            "cause": self.cause,
            "places": list(self.places),
            "diagnosis": self.diagnosis,
            "by": self.by,
            "reason": self.reason,
        }


def _incident(row: Row[Any]) -> Incident:
    return Incident(
        id=row.id,
        release_id=row.release_id,
        problem=row.problem,
        state=row.state,
        round=row.round,
        opened_at=row.opened_at,
        changed_at=row.changed_at,
        since=row.since,
        cause=row.cause,
        places=tuple(row.places or ()),
        diagnosis=row.diagnosis,
        by=row.by,
        reason=row.reason,
    )


class IncidentBook:
    """The incidents of a store. At T the responder brings the incidents of several releases up
    to date at once: the reads of their incidents made at the same moment go in one query, the
    incidents they open in one insert (``store.gathered``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._timeline = Timeline(engine)
        self._of_releases = Gathered(self._of_all)
        self._opening = Gathered(self._open_all)

    async def _select(self, *where: Any) -> list[Incident]:
        query = select(table).where(*where).order_by(table.c.id)
        async with self._engine.connect() as conn:
            return [_incident(r) for r in (await conn.execute(query)).all()]

    async def of_release(self, release_id: str) -> list[Incident]:
        return await self._of_releases(release_id)

    async def _of_all(self, release_ids: Sequence[str]) -> list[list[Incident]]:
        found = await self._select(table.c.release_id.in_(sorted(set(release_ids))))
        return [[i for i in found if i.release_id == rid] for rid in release_ids]

    async def changed_since(self, since: dt.datetime) -> list[Incident]:
        """Active incidents, and those whose state changed since ``since``."""
        return await self._select(table.c.state.in_(ACTIVE) | (table.c.changed_at >= since))

    async def listed(self, *, everything: bool = False) -> list[Incident]:
        return await self._select() if everything else await self._select(table.c.state.in_(ACTIVE))

    async def get(self, incident_id: int) -> Incident:
        found = await self._select(table.c.id == incident_id)
        if not found:
            raise InputError(
                f"There is no incident {incident_id}: `onthedot incidents` lists the open ones."
            )
        return found[0]

    async def sync(
        self,
        release_id: str,
        problems: Mapping[str, Problem],
        now: dt.datetime,
        watched: Sequence[str],
    ) -> list[Incident]:
        """Open, reopen, update and resolve ``release_id``'s incidents of the ``watched``
        problems to match ``problems``; the incidents whose state changed."""
        known = {i.problem: i for i in await self.of_release(release_id)}
        changed = []
        for kind, problem in problems.items():
            incident = known.get(kind)
            if incident is None:
                changed += await self._open(release_id, problem, now)
            elif _reopens(incident, problem):
                changed.append(await self._reopen(incident, problem, now))
            elif incident.active and _moved(incident, problem):
                await self._update(incident.id, _facts(problem))
        for kind in watched:
            incident = known.get(kind)
            if incident is not None and incident.active and kind not in problems:
                changed.append(await self._resolve(incident, now))
        return changed

    async def _open(self, release_id: str, problem: Problem, now: dt.datetime) -> list[Incident]:
        """The incident opened; none if another instance on the same store opened it first (it
        records and alerts it)."""
        row = {
            "key": f"{release_id}/{problem.kind}",
            "release_id": release_id,
            "problem": problem.kind,
            "state": "open",
            "round": 1,
            "opened_at": now,
            "changed_at": now,
            "by": "",
            "reason": "",
            **_facts(problem),
        }
        incident = await self._opening(row)
        if incident is None:  # its key is taken: another instance opened it
            return []
        await self._record(incident, kinds.INCIDENT_OPENED, _opened_data(incident), now)
        return [incident]

    async def _open_all(self, rows: Sequence[dict[str, Any]]) -> list[Incident | None]:
        """Each row stored as an incident unless its key is taken (then None; the same key
        twice: the first), in one statement, in the keys' order."""
        first = {row["key"]: row for row in reversed(rows)}
        adding = _insert(self._engine.dialect.name).values([first[k] for k in sorted(first)])
        adding = adding.on_conflict_do_nothing(index_elements=[table.c.key])
        async with self._engine.begin() as conn:  # (any other constraint failing is raised)
            made = {r.key: _incident(r) for r in await conn.execute(adding.returning(*table.c))}
        return [made.get(row["key"]) if first[row["key"]] is row else None for row in rows]

    async def _reopen(self, old: Incident, problem: Problem, now: dt.datetime) -> Incident:
        values = {"state": "open", "round": old.round + 1, "opened_at": now, "changed_at": now}
        values |= {"by": "", "reason": "", **_facts(problem)}
        new = _changed(old, values)
        return await self._change(old, values, kinds.INCIDENT_OPENED, _opened_data(new), now)

    async def _resolve(self, old: Incident, now: dt.datetime) -> Incident:
        values = {"state": "resolved", "changed_at": now}
        return await self._change(old, values, kinds.INCIDENT_RESOLVED, {}, now)

    async def acknowledge(
        self, incident_id: int, by: str, how: str, now: dt.datetime, reason: str = ""
    ) -> Incident:
        """Someone is on it: the ladder stops. Acknowledging twice changes nothing."""
        old = await self.get(incident_id)
        if old.state == "acknowledged":
            return old
        if not old.active:
            raise InputError(
                f"Incident {incident_id} is already {old.state}: there is nothing to acknowledge."
            )
        values = {"state": "acknowledged", "changed_at": now, "by": by, "reason": reason}
        data = {"by": by, "how": how, "reason": reason}
        await self._change(old, values, kinds.ALERT_ACKNOWLEDGED, data, now, actor=by, source=how)
        return await self.get(incident_id)

    async def close(
        self, incident_id: int, by: str, reason: str, now: dt.datetime, how: str = "cli"
    ) -> Incident:
        """A person closes the incident, with a reason (e.g. the cache expired by itself)."""
        old = await self.get(incident_id)
        if old.state == "closed":
            raise InputError(f"Incident {incident_id} is already closed, by {old.by}.")
        values = {"state": "closed", "changed_at": now, "by": by, "reason": reason}
        data = {"by": by, "reason": reason}
        await self._change(old, values, kinds.INCIDENT_CLOSED, data, now, actor=by, source=how)
        return await self.get(incident_id)

    async def _update(self, incident_id: int, values: Mapping[str, Any]) -> Incident:
        """The incident with ``values`` changed (as stored)."""
        query = update(table).where(table.c.id == incident_id).values(**values)
        async with self._engine.begin() as conn:
            return _incident((await conn.execute(query.returning(*table.c))).one())

    async def _change(
        self,
        old: Incident,
        values: Mapping[str, Any],
        kind: str,
        data: Mapping[str, Any],
        at: dt.datetime,
        *,
        actor: str = "onthedot",
        source: str = "onthedot",
    ) -> Incident:
        """``old`` changed to ``values`` and ``kind`` recorded, in one transaction (a stop
        between the two lost the event, and the next look, finding the row changed, recorded
        nothing); only if the row is still as ``old`` was read (its state and round), else
        nothing is changed or recorded and the incident is returned as it is now."""
        query = (
            update(table)
            .where(table.c.id == old.id, table.c.state == old.state, table.c.round == old.round)
            .values(**values)
        )

        async def change(conn: AsyncConnection) -> None:
            if (await conn.execute(query)).rowcount != 1:
                raise _Moved(old.id)

        try:
            await self._record(old, kind, data, at, actor=actor, source=source, with_=change)
        except _Moved:
            return await self.get(old.id)
        return _changed(old, values)

    async def _record(
        self,
        incident: Incident,
        kind: str,
        data: Mapping[str, Any],
        at: dt.datetime,
        *,
        actor: str = "onthedot",
        source: str = "onthedot",
        with_: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        full = {"incident": incident.id, "problem": incident.problem, **data}
        await self._timeline.append(
            incident.release_id, kind, full, at=at, actor=actor, source=source, with_=with_
        )


class _Moved(Exception):
    """The incident changed since it was read (another change came first): nothing recorded."""


def _changed(old: Incident, values: Mapping[str, Any]) -> Incident:
    """``old`` as the row is once ``values`` are stored."""
    changed = dict(values)
    if "places" in changed:
        changed["places"] = tuple(changed["places"])
    return replace(old, **changed)


def _facts(problem: Problem) -> dict[str, Any]:
    return {
        "since": problem.since,
        "cause": problem.cause,
        "places": list(problem.places),
        "diagnosis": problem.diagnosis,
    }


def _opened_data(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "round": incident.round,
        "since": iso_utc(incident.since),
        "places": list(incident.places),
        "diagnosis": incident.diagnosis,
    }


def _reopens(incident: Incident, problem: Problem) -> bool:
    """A resolved incident opens again; a closed one only for a problem that started after."""
    if incident.state == "resolved":
        return True
    return incident.state == "closed" and problem.since > incident.changed_at


def _moved(incident: Incident, problem: Problem) -> bool:
    return (incident.places, incident.diagnosis) != (problem.places, problem.diagnosis)


def _insert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` that can do nothing on a conflict (both stores this runs on have one)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
