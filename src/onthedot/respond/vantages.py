"""Vantage points that stopped: a remote probe agent assigned to a release that posts nothing
while it should be probing it.

An agent is given a release's URLs from ``[web] agents_before_s`` before its release time until
``agents_after_s`` after (``web.access.agent_assigned``) and posts what it saw every
``agent_interval_s``; every result is a row of ``checks`` under the vantage point
``agent:<name>``. Inside that window, an agent named by the release's ``[site] agents`` that
fell silent before the release was live everywhere — its latest result older than ``[web]
agent_silent_after_s`` and from before the release was first recorded live — or that never posted
any (once that long has passed since the release time) is the problem *vantage*: "Checks from
agent:edinburgh stopped ...". It goes, and its incident is resolved, when the agent posts again
or its window ends. An agent that stops once the release is live is not missed: what it was
there to see has been seen. IT is alerted at once (``cause`` "server": the agent's machine or the
network to it). The store is read at most once every ``every_s`` of the responder's clock (one
query for every release watched).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Release
from onthedot.respond.problems import Problem
from onthedot.settings import WebSettings
from onthedot.store.tables import aggregated_instant, checks

AGENT_PREFIX = "agent:"  # (the vantage point the server records an agent's results under)
Latest = dict[tuple[str, str], dt.datetime]  # (release, vantage) -> its latest result


class SilentAgents:
    def __init__(self, engine: AsyncEngine, web: WebSettings, *, every_s: float = 1.0) -> None:
        self._engine = engine
        self._web = web
        self._every = dt.timedelta(seconds=every_s)
        self._read_at: dt.datetime | None = None
        self._latest: Latest = {}

    async def look(
        self,
        releases: Sequence[Release],
        now: dt.datetime,
        live_at: Mapping[str, dt.datetime | None],
    ) -> dict[str, Problem]:
        """The *vantage* problem of each release in ``releases`` one of its agents left silent
        (``live_at``: when each was first recorded live everywhere, if it was)."""
        probed = [r for r in releases if _agents(r) and self._in_window(r, now)]
        if not probed:
            return {}
        if self._read_at is None or abs(now - self._read_at) >= self._every:
            self._latest = await self._read(probed)
            self._read_at = now
        found = {r.id: self._problem(r, now, live_at.get(r.id)) for r in probed}
        return {rid: problem for rid, problem in found.items() if problem is not None}

    def _in_window(self, release: Release, now: dt.datetime) -> bool:
        start = release.release_at - dt.timedelta(seconds=self._web.agents_before_s)
        return start <= now <= release.release_at + dt.timedelta(seconds=self._web.agents_after_s)

    async def _read(self, releases: Sequence[Release]) -> Latest:
        vantages = {AGENT_PREFIX + name for r in releases for name in _agents(r)}
        query = (
            select(checks.c.release_id, checks.c.vantage, func.max(checks.c.checked_at))
            .where(checks.c.release_id.in_([r.id for r in releases]))
            .where(checks.c.vantage.in_(sorted(vantages)))
            .group_by(checks.c.release_id, checks.c.vantage)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(rid, vantage): aggregated_instant(at) for rid, vantage, at in rows}

    def _problem(
        self, release: Release, now: dt.datetime, live_at: dt.datetime | None
    ) -> Problem | None:
        limit = dt.timedelta(seconds=self._web.agent_silent_after_s)
        silent: dict[str, dt.datetime] = {}
        for name in _agents(release):
            vantage = AGENT_PREFIX + name
            last = self._latest.get((release.id, vantage))
            since = last or release.release_at
            missed = last is None or live_at is None or last < live_at
            if missed and now - since > limit:
                silent[vantage] = since
        if not silent:
            return None
        first = min(silent.values())
        places = tuple(sorted(silent))
        return Problem("vantage", first, places, _sentence(places, first), "server")


def _agents(release: Release) -> tuple[str, ...]:
    return release.site.agents if release.site is not None else ()


def _sentence(places: tuple[str, ...], since: dt.datetime) -> str:
    which = ", ".join(places)
    return (
        f"Checks from {which} stopped: nothing was posted since "
        f"{since.astimezone(dt.UTC):%H:%M:%S} UTC, so the release is not seen from there; check "
        "that the agent is running and can reach this server (its log says why it cannot), or "
        "take it out of the release's [site] agents."
    )
