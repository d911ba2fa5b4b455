"""What the API and the dashboard read from the store: latest result per URL × vantage point,
first-live times, and one summary per release. Read-only; the same queries on SQLite and PostgreSQL.

The board (``web.board``) reads many releases at once, each in one statement for all of them:
``standing`` (the latest results counted by status, and a few that are not as they should be, per
release) and ``go_live_times`` (first live, all live).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    null,
    or_,
    select,
    union_all,
)
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


def _latest_of(release_ids: Sequence[str]) -> CTE:
    """The latest result per URL × vantage point of these releases, as a common table (no column
    of the result's document: the counts need none, and reading it is most of the cost)."""
    ids = (
        select(func.max(checks.c.id))
        .where(checks.c.release_id.in_(release_ids))
        .group_by(checks.c.release_id, checks.c.url, checks.c.vantage)
    )
    columns = (checks.c.id, checks.c.release_id, checks.c.url, checks.c.vantage, checks.c.status)
    return select(*columns).where(checks.c.id.in_(ids)).cte("latest")


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


@dataclass(frozen=True, slots=True)
class Tally:
    """One release's latest results counted: by status, and the URLs they cover (all, live)."""

    counts: dict[str, int]
    urls: int
    live_urls: int


def summarise_tally(
    release: Release, tally: Tally | None, now: dt.datetime, watched: int
) -> Summary:
    """``summarise`` from counts: all live when every latest result is live and they cover every
    one of the ``watched`` URLs (results are only stored for watched URLs)."""
    phase = "before" if now < release.release_at else "after"
    if tally is None:
        return Summary({}, False, phase)
    all_live = set(tally.counts) == {Status.LIVE.value}
    return Summary(tally.counts, all_live and tally.live_urls >= watched, phase)


@dataclass(frozen=True, slots=True)
class GoLive:
    """When a release was first seen live somewhere, and when its last URL × vantage point was."""

    first: dt.datetime
    last: dt.datetime


async def go_live_times(engine: AsyncEngine, release_ids: Sequence[str]) -> dict[str, GoLive]:
    """release id → the first and the last of its URL × vantage points' first-live moments (the
    last is when all went live, once all are): one statement for all the releases."""
    if not release_ids:
        return {}
    firsts = (
        select(checks.c.release_id, func.min(checks.c.checked_at).label("at"))
        .where(checks.c.release_id.in_(release_ids), checks.c.status == Status.LIVE.value)
        .group_by(checks.c.release_id, checks.c.url, checks.c.vantage)
        .subquery()
    )
    query = select(firsts.c.release_id, func.min(firsts.c.at), func.max(firsts.c.at)).group_by(
        firsts.c.release_id
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {
        rid: GoLive(aggregated_instant(first), aggregated_instant(last))
        for rid, first, last in rows
    }


@dataclass(frozen=True, slots=True)
class Latest:
    """One URL × vantage point's latest result, as the board lists it (no model validated)."""

    release_id: str
    url: str
    vantage: str
    status: str
    checked_at: dt.datetime
    diagnosis: str


def _out_of_place(latest: CTE, before: Sequence[str], after: Sequence[str]) -> ColumnElement[bool]:
    """Not as it should be: before T not embargoed; from T not live."""
    clauses = [
        and_(latest.c.release_id.in_(ids), latest.c.status != good)
        for ids, good in ((before, Status.EMBARGOED.value), (after, Status.LIVE.value))
        if ids
    ]
    return or_(false(), *clauses)


@dataclass(frozen=True, slots=True)
class Standing:
    """The board's releases' latest results: counted, and the first few not as they should be."""

    tallies: dict[str, Tally]  # a release with no result is left out
    amiss: dict[str, list[Latest]]


def _none(kind: Any) -> ColumnElement[Any]:
    """A typed NULL: a column one part of a union does not have."""
    return cast(null(), kind)


def _amiss_rows(latest: CTE, before: Sequence[str], after: Sequence[str], each: int) -> Select[Any]:
    """The first ``each`` (by URL, vantage point) of each release's latest results that are not as
    they should be, numbered ``n`` (a window), with when they were checked and why."""
    number = func.row_number().over(
        partition_by=latest.c.release_id, order_by=(latest.c.url, latest.c.vantage)
    )
    ranked = (
        select(latest, number.label("n")).where(_out_of_place(latest, before, after)).subquery()
    )
    why = checks.c.result["diagnosis"].as_string().label("why")  # read for the rows shown only
    columns = (ranked.c.release_id, ranked.c.status, ranked.c.url, ranked.c.vantage)
    counts = (_none(Integer).label("results"), _none(Integer).label("urls"))
    return (
        select(*columns, checks.c.checked_at, why, ranked.c.n, *counts)
        .join_from(ranked, checks, checks.c.id == ranked.c.id)
        .where(ranked.c.n <= each)
    )


def _count_rows(latest: CTE) -> tuple[Select[Any], Select[Any]]:
    """The latest results counted by release and status, and by release (status NULL); each
    with the URLs they cover (a URL seen from two vantage points may be in two statuses)."""
    urls = func.count(latest.c.url.distinct())
    row = (_none(Text), _none(Text), _none(checks.c.checked_at.type), _none(Text), _none(Integer))
    by_status = select(latest.c.release_id, latest.c.status, *row, func.count(), urls)
    by_release = select(latest.c.release_id, _none(Text), *row, func.count(), urls)
    return (
        by_status.group_by(latest.c.release_id, latest.c.status),
        by_release.group_by(latest.c.release_id),
    )


async def standing(
    engine: AsyncEngine, before: Sequence[str], after: Sequence[str], each: int
) -> Standing:
    """The latest results of the releases ``before`` T and ``after`` it, counted, and the first
    ``each`` not as they should be (before T not embargoed; from T not live): one statement, the
    latest results found once for both (a common table used three times)."""
    if not before and not after:
        return Standing({}, {})
    latest = _latest_of([*before, *after])
    query = union_all(_amiss_rows(latest, before, after, each), *_count_rows(latest))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    counts: dict[str, dict[str, int]] = {}
    covered: dict[str, int] = {}
    live: dict[str, int] = {}
    amiss: dict[str, list[tuple[int, Latest]]] = {}
    for r in rows:
        if r.n is not None:
            at = aggregated_instant(r.checked_at)
            shown = Latest(r.release_id, r.url, r.vantage, r.status, at, r.why or "")
            amiss.setdefault(r.release_id, []).append((int(r.n), shown))
        elif r.status is None:
            covered[r.release_id] = int(r.urls)
        else:
            counts.setdefault(r.release_id, {})[r.status] = int(r.results)
            if r.status == Status.LIVE.value:
                live[r.release_id] = int(r.urls)
    tallies = {
        rid: Tally(dict(sorted(c.items())), covered.get(rid, 0), live.get(rid, 0))
        for rid, c in counts.items()
    }
    return Standing(tallies, {rid: [a for _, a in sorted(found)] for rid, found in amiss.items()})
