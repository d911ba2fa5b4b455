"""Vantage points that stopped: a remote probe agent assigned to a release that posts nothing
while it should be probing it.

An agent is given a release's URLs from ``[web] agents_before_s`` before its release time until
``agents_after_s`` after (``web.access.agent_assigned``) and posts what it saw every
``agent_interval_s``; every result is a row of ``checks`` under the vantage point
``agent:<name>``. Inside that window, an agent named by the release's ``[site] agents`` that
fell silent before the release was live everywhere — nothing received from it for ``[web]
agent_silent_after_s``, its latest result checked before the release was first recorded live —
or that never posted any (once that long has passed since the release time) is the problem
*vantage*: "The checks from Edinburgh stopped at 09:30:02 ...". It goes, and its incident is
resolved, when the agent posts again or its window ends. An agent that stops once the release
is live is not missed: what it was there to see has been seen. IT is alerted at once (``cause``
"server": the agent's machine or the network to it).

Silence is measured on the server's clock, never the agent's: an agent's ``checked_at`` may be
``agent_clock_skew_s`` off, as much as the silence allowed. A post is taken as received when a
look first finds it (its row's id is new; ids grow as rows are stored); one found at the first
look (after a restart) is taken as received as late as its ``checked_at`` allows, so an agent
with a slow clock is not called silent. The store is read at most once every ``every_s`` of the
responder's clock: one query for every release watched, one index probe
(``ix_checks_release_vantage``) for each of its agents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.calendar.timeutil import to_local
from onthedot.model import Release, and_joined
from onthedot.respond.problems import Problem
from onthedot.settings import WebSettings
from onthedot.store.tables import checks

AGENT_PREFIX = "agent:"  # (the vantage point the server records an agent's results under)
log = logs.get_logger("onthedot.responder")


@dataclass(frozen=True, slots=True)
class Post:
    """An agent's latest result for a release: its row, when it was checked (the agent's
    clock) and when this server received it (its own)."""

    row: int
    checked_at: dt.datetime
    received_at: dt.datetime


Latest = dict[tuple[str, str], Post]  # (release, vantage) -> its latest post


class SilentAgents:
    def __init__(
        self,
        engine: AsyncEngine,
        web: WebSettings,
        zone: ZoneInfo | None = None,
        *,
        every_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._web = web
        self._zone = zone or ZoneInfo("Europe/London")
        self._every = dt.timedelta(seconds=every_s)
        self._read_at: dt.datetime | None = None
        self._latest: Latest = {}
        self._logged: dict[str, tuple[str, ...]] = {}  # release -> the silent agents last logged

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
            self._latest = self._received(await self._read(probed), now)
            self._read_at = now
        found = {r.id: self._problem(r, now, live_at.get(r.id)) for r in probed}
        return {rid: problem for rid, problem in found.items() if problem is not None}

    def _in_window(self, release: Release, now: dt.datetime) -> bool:
        start = release.release_at - dt.timedelta(seconds=self._web.agents_before_s)
        return start <= now <= release.release_at + dt.timedelta(seconds=self._web.agents_after_s)

    async def _read(
        self, releases: Sequence[Release]
    ) -> dict[tuple[str, str], tuple[int, dt.datetime]]:
        """Each (release, agent vantage)'s latest row: its id and ``checked_at``."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(latest_posts(releases))).all()
        return {(rid, vantage): (row, at) for rid, vantage, row, at in rows}

    def _received(
        self, rows: Mapping[tuple[str, str], tuple[int, dt.datetime]], now: dt.datetime
    ) -> Latest:
        """The latest posts, each with when it was received: as before if it is the one seen
        before, else now, or at the first look as late as its ``checked_at`` allows."""
        skew = dt.timedelta(seconds=self._web.agent_clock_skew_s)
        latest: Latest = {}
        for key, (row, checked_at) in rows.items():
            before = self._latest.get(key)
            if before is not None and before.row == row:
                latest[key] = before
                continue
            received = now if self._read_at is not None else min(now, checked_at + skew)
            latest[key] = Post(row, checked_at, received)
        return latest

    def _problem(
        self, release: Release, now: dt.datetime, live_at: dt.datetime | None
    ) -> Problem | None:
        limit = dt.timedelta(seconds=self._web.agent_silent_after_s)
        stopped: dict[str, dt.datetime] = {}
        never: list[str] = []
        for name in _agents(release):
            vantage = AGENT_PREFIX + name
            last = self._latest.get((release.id, vantage))
            since = last.received_at if last is not None else release.release_at
            missed = last is None or live_at is None or last.checked_at < live_at
            if missed and now - since > limit:
                if last is None:
                    never.append(vantage)
                else:
                    stopped[vantage] = since
        if not stopped and not never:
            self._logged.pop(release.id, None)
            return None
        first = min([*stopped.values(), *([release.release_at] if never else [])])
        places = tuple(sorted([*stopped, *never]))
        if self._logged.get(release.id) != places:
            self._logged[release.id] = places
            log.warning(
                "vantage.silent",
                release=release.id,
                stopped=sorted(stopped),
                never_posted=never,
                remedy="start the agent, or take it out of the release's [site] agents",
            )
        return Problem("vantage", first, places, self._sentence(stopped, never, release), "server")

    def _sentence(
        self, stopped: Mapping[str, dt.datetime], never: Sequence[str], release: Release
    ) -> str:
        """What happened, in the producer's local time: "The checks from Edinburgh stopped at
        09:30:02, ..." (or "No checks came from ...")."""
        parts = []
        if stopped:
            at = self._clock(min(stopped.values()))
            parts.append(f"The checks from {agent_names(sorted(stopped))} stopped at {at}")
        if never:
            at = self._clock(release.release_at)
            text = f"no checks came from {agent_names(never)} by the release time, {at}"
            parts.append(text if parts else text[:1].upper() + text[1:])
        return (
            f"{' and '.join(parts)}, so the release is not seen from there: check that the "
            "agent is running and can reach this server (the agent's log says why it cannot), "
            "or, if its checks are not needed for this release, ask IT to stop expecting them."
        )

    def _clock(self, instant: dt.datetime) -> str:
        return f"{to_local(instant, self._zone):%H:%M:%S}"


def latest_posts(releases: Sequence[Release]) -> Select[str, str, int, dt.datetime]:
    """The latest ``checks`` row of each agent of each of ``releases`` (release, vantage, id,
    checked_at): one probe of ``ix_checks_release_vantage`` each, however many rows it has."""
    newest = [
        select(func.max(checks.c.id))
        .where(checks.c.release_id == r.id, checks.c.vantage == AGENT_PREFIX + name)
        .scalar_subquery()
        for r in releases
        for name in _agents(r)
    ]
    columns = (checks.c.release_id, checks.c.vantage, checks.c.id, checks.c.checked_at)
    return select(*columns).where(checks.c.id.in_(newest))


def agent_names(vantages: Sequence[str]) -> str:
    """The agents of ``vantages`` (``agent:edinburgh``, ...) in words: "Edinburgh and Cardiff"."""
    return and_joined([agent_name(v) for v in vantages])


def agent_name(place: str) -> str:
    """``agent:edinburgh`` as "Edinburgh"; any other place as it is."""
    if not place.startswith(AGENT_PREFIX):
        return place
    name = place.removeprefix(AGENT_PREFIX).replace("_", " ").replace("-", " ")
    return name[:1].upper() + name[1:]


def _agents(release: Release) -> tuple[str, ...]:
    return release.site.agents if release.site is not None else ()
