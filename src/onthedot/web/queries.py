"""What the API and the dashboard read from the store: latest result per URL × vantage point,
first-live times, and one summary per release. Read-only; the same queries on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import CheckResult, Release, Status
from onthedot.store.tables import aggregated_instant, alerts, checks, publish_steps, release_history
from onthedot.verify.verifier import watched_urls


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts by status of the latest result per URL × vantage point, and whether all is live."""

    counts: dict[str, int]
    live: bool
    phase: str

    @property
    def breach(self) -> bool:
        return any(Status(s).is_breach for s in self.counts)


@dataclass(frozen=True, slots=True)
class FirstLive:
    url: str
    vantage: str
    at: dt.datetime
    lag_s: float


@dataclass
class ReleaseView:
    release: Release
    summary: Summary
    results: list[CheckResult] = field(default_factory=list)
    first_live: list[FirstLive] = field(default_factory=list)


def public_urls(release: Release) -> set[str]:
    return set(watched_urls(release))


def summarise(release: Release, latest: Sequence[tuple[str, str]], now: dt.datetime) -> Summary:
    """``latest``: (url, status) of each URL × vantage point's latest result."""
    counts: dict[str, int] = {}
    for _url, status in latest:
        counts[status] = counts.get(status, 0) + 1
    live_urls = {url for url, status in latest if status == Status.LIVE.value}
    all_live = bool(latest) and set(counts) == {Status.LIVE.value}
    live = all_live and public_urls(release) <= live_urls
    phase = "before" if now < release.release_at else "after"
    return Summary(dict(sorted(counts.items())), live, phase)


def _latest_ids(release_id: str | None = None) -> Select[tuple[Any]]:
    query = select(func.max(checks.c.id)).group_by(
        checks.c.release_id, checks.c.url, checks.c.vantage
    )
    if release_id is not None:
        query = query.where(checks.c.release_id == release_id)
    return query


async def latest_statuses(engine: AsyncEngine) -> dict[str, list[tuple[str, str]]]:
    """release id → [(url, status)] of the latest result per URL × vantage point."""
    query = select(checks.c.release_id, checks.c.url, checks.c.status).where(
        checks.c.id.in_(_latest_ids())
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        out.setdefault(row.release_id, []).append((row.url, row.status))
    return out


async def latest_results(engine: AsyncEngine, release_id: str) -> list[CheckResult]:
    query = (
        select(checks.c.result)
        .where(checks.c.id.in_(_latest_ids(release_id)))
        .order_by(checks.c.url, checks.c.vantage)
    )
    async with engine.connect() as conn:
        docs = (await conn.scalars(query)).all()
    return [CheckResult.model_validate(doc) for doc in docs]


async def first_live(engine: AsyncEngine, release: Release) -> list[FirstLive]:
    """The first moment each URL × vantage point was seen live, and its lag after T."""
    query = (
        select(checks.c.url, checks.c.vantage, func.min(checks.c.checked_at).label("at"))
        .where(checks.c.release_id == release.id, checks.c.status == Status.LIVE.value)
        .group_by(checks.c.url, checks.c.vantage)
        .order_by(checks.c.url, checks.c.vantage)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    out = []
    for row in rows:
        at = aggregated_instant(row.at)
        out.append(FirstLive(row.url, row.vantage, at, (at - release.release_at).total_seconds()))
    return out


async def release_view(engine: AsyncEngine, release: Release, now: dt.datetime) -> ReleaseView:
    results = await latest_results(engine, release.id)
    summary = summarise(release, [(r.url, r.status.value) for r in results], now)
    return ReleaseView(release, summary, results, await first_live(engine, release))


def go_live_lag(release: Release, firsts: Sequence[FirstLive]) -> float | None:
    """Seconds from T until the last URL × vantage point went live (None: not all live yet)."""
    if not firsts or not public_urls(release) <= {f.url for f in firsts}:
        return None
    return max(f.lag_s for f in firsts)


async def release_time_changes(engine: AsyncEngine) -> dict[str, int]:
    """release id → how many times its release time was changed in the store (one query)."""
    query = (
        select(release_history.c.release_id, func.count())
        .where(release_history.c.field == "release_at")
        .group_by(release_history.c.release_id)
    )
    async with engine.connect() as conn:
        return {row[0]: int(row[1]) for row in (await conn.execute(query)).all()}


async def flip_lags(engine: AsyncEngine, release_ids: Sequence[str]) -> dict[str, float]:
    """How late each of these releases was flipped (seconds after T), from its recorded flip."""
    if not release_ids:
        return {}
    query = select(publish_steps.c.release_id, publish_steps.c.data).where(
        publish_steps.c.step == "flipped", publish_steps.c.release_id.in_(release_ids)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {row.release_id: float(row.data.get("late_s", 0.0)) for row in rows}


async def alert_counts(engine: AsyncEngine) -> dict[str, int]:
    """Alert messages by delivery status (queued, sent, failed, …)."""
    query = select(alerts.c.status, func.count()).group_by(alerts.c.status)
    async with engine.connect() as conn:
        return {status: int(count) for status, count in (await conn.execute(query)).all()}
