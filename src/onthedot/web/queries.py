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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.model import CheckResult, Release, Status
from onthedot.store.tables import (
    aggregated_instant,
    alerts,
    checks,
    events,
    publish_steps,
    release_history,
    releases,
)
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


def _latest_docs(release_id: str) -> Select[tuple[Any]]:
    """The documents of the release's latest result per URL × vantage point, by URL."""
    return (
        select(checks.c.result)
        .where(checks.c.id.in_(_latest_ids(release_id)))
        .order_by(checks.c.url, checks.c.vantage)
    )


async def latest_results(engine: AsyncEngine, release_id: str) -> list[CheckResult]:
    async with engine.connect() as conn:
        docs = (await conn.scalars(_latest_docs(release_id))).all()
    return [CheckResult.model_validate(doc) for doc in docs]


async def first_live(engine: AsyncEngine, release: Release) -> list[FirstLive]:
    """The first moment each URL × vantage point was seen live, and its lag after T."""
    async with engine.connect() as conn:
        return await _first_live(conn, release)


async def _first_live(conn: AsyncConnection, release: Release) -> list[FirstLive]:
    query = (
        select(checks.c.url, checks.c.vantage, func.min(checks.c.checked_at).label("at"))
        .where(checks.c.release_id == release.id, checks.c.status == Status.LIVE.value)
        .group_by(checks.c.url, checks.c.vantage)
        .order_by(checks.c.url, checks.c.vantage)
    )
    rows = (await conn.execute(query)).all()
    out = []
    for row in rows:
        at = aggregated_instant(row.at)
        out.append(FirstLive(row.url, row.vantage, at, (at - release.release_at).total_seconds()))
    return out


async def release_view(engine: AsyncEngine, release: Release, now: dt.datetime) -> ReleaseView:
    """The latest result per URL × vantage point and the first-live times (one connection)."""
    async with engine.connect() as conn:
        docs = (await conn.scalars(_latest_docs(release.id))).all()
        firsts = await _first_live(conn, release)
    results = [CheckResult.model_validate(doc) for doc in docs]
    summary = summarise(release, [(r.url, r.status.value) for r in results], now)
    return ReleaseView(release, summary, results, firsts)


@dataclass(frozen=True, slots=True)
class Record:
    """A release's stored results as its page shows them: the latest per URL × vantage point
    with the first-live times (``view``), and the results the go-live curve is drawn from
    (``turns``: each URL × vantage point's first, each that found it live after not, or not
    after live, and the last of all: ``golive.curve`` draws the same curve from these as from
    every result, since the others change no share)."""

    view: ReleaseView
    turns: list[CheckResult]


async def release_record(conn: AsyncConnection, release: Release, now: dt.datetime) -> Record:
    """``release_view`` and the curve's results in two statements on ``conn``: every result's
    place, status and time (no document: a release checked for an hour has thousands, and
    reading each one's JSON was most of its page's time), then the latest results' documents."""
    query = (
        select(checks.c.url, checks.c.vantage, checks.c.status, checks.c.checked_at)
        .where(checks.c.release_id == release.id)
        .order_by(checks.c.checked_at, checks.c.id)
    )
    was_live: dict[tuple[str, str], bool] = {}
    firsts: dict[tuple[str, str], dt.datetime] = {}
    turns: list[CheckResult] = []
    last = None
    for url, vantage, status, at in (await conn.execute(query)).all():
        key, live = (url, vantage), status == Status.LIVE.value
        if live and key not in firsts:
            firsts[key] = at
        last = (url, vantage, status, at)
        if was_live.get(key) is not live:
            was_live[key] = live
            turns.append(_seen(*last))
            last = None
    if last is not None:
        turns.append(_seen(*last))
    docs = (await conn.scalars(_latest_docs(release.id))).all()
    results = [CheckResult.model_validate(doc) for doc in docs]
    summary = summarise(release, [(r.url, r.status.value) for r in results], now)
    first_live = [
        FirstLive(url, vantage, at, (at - release.release_at).total_seconds())
        for (url, vantage), at in sorted(firsts.items())
    ]
    return Record(ReleaseView(release, summary, results, first_live), turns)


def _seen(url: str, vantage: str, status: str, at: dt.datetime) -> CheckResult:
    """What the curve reads of a stored result (every field given: pydantic inspects a default
    factory's signature on each call, three times the cost of the rest)."""
    return CheckResult.model_construct(
        url=url,
        status=Status(status),
        served_sha256=None,
        expected_sha256=None,
        diagnosis="",
        cache={},
        vantage=vantage,
        checked_at=at,
        http_status=None,
        layer=None,
        timings={},
    )


async def release_mark(engine: AsyncEngine, release_id: str) -> tuple[Any, ...]:
    """What a release's page and API answer are made from, as a mark that changes whenever any
    of it does: the release's stored content, its newest event (incidents, notices, gates,
    pre-release access and the timeline all come with one) and its newest result. One
    statement, on the primary key and two indexes."""
    digest = select(releases.c.content_sha256).where(releases.c.id == release_id)
    event = select(func.max(events.c.seq)).where(events.c.release_id == release_id)
    result = select(func.max(checks.c.id)).where(checks.c.release_id == release_id)
    query = select(*(q.scalar_subquery() for q in (digest, event, result)))
    async with engine.connect() as conn:
        return tuple((await conn.execute(query)).one())


async def store_mark(engine: AsyncEngine) -> tuple[Any, ...]:
    """The newest event and the newest result of every release (a mark for a page of many
    releases: any new event or result changes it). One statement, on two primary keys."""
    query = select(
        select(func.max(events.c.id)).scalar_subquery(),
        select(func.max(checks.c.id)).scalar_subquery(),
    )
    async with engine.connect() as conn:
        return tuple((await conn.execute(query)).one())


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
    shown = select(checks.c.checked_at, checks.c.result["diagnosis"].as_string())
    shown = shown.where(checks.c.id == ranked.c.id)  # (each row shown looked up by its id: joined,
    # PostgreSQL read every result again to hash them, the rows shown being a few of each release)
    at, why = (shown.with_only_columns(c).scalar_subquery() for c in shown.selected_columns)
    columns = (ranked.c.release_id, ranked.c.status, ranked.c.url, ranked.c.vantage)
    counts = (_none(Integer).label("results"), _none(Integer).label("urls"))
    found = (at.label("checked_at"), why.label("why"), ranked.c.n)
    return select(*columns, *found, *counts).where(ranked.c.n <= each)


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
