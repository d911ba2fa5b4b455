"""The JSON API: releases, their latest results and timelines, health, and ``/metrics``."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from onthedot import __version__
from onthedot.calendar.timeutil import fmt_local
from onthedot.errors import AccessError, StoreError
from onthedot.model import CheckResult, Release
from onthedot.record.exposures import open_exposures
from onthedot.record.timeline import Timeline
from onthedot.respond.deliveries import open_failures
from onthedot.verify.verifier import release_urls
from onthedot.web import queries
from onthedot.web.access import Power, Principal, Viewer, sees_detail, without_staged_names
from onthedot.web.context import Ctx, WebContext
from onthedot.web.schemas import (
    ArtefactOut,
    ChainOut,
    ErrorOut,
    EventOut,
    FirstLiveOut,
    HealthOut,
    LiveOut,
    ProblemOut,
    ReadyOut,
    ReleaseDetail,
    ReleaseSummary,
    ResultOut,
    TimelineOut,
)

router = APIRouter(prefix="/api", tags=["releases"])
REFUSALS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (401, 403, 404)}


def summary_out(release: Release, summary: queries.Summary, shown: bool) -> dict[str, Any]:
    """The calendar fields always; the rest only where ``shown`` (access.sees_detail)."""
    return {
        "id": release.id,
        "title": release.title,
        "producer": release.producer,
        "release_at_utc": release.release_at,
        "announced_at_utc": release.announced_at,
        "phase": summary.phase,
        "withheld": not shown,
        "live": summary.live if shown else None,
        "urls": len(release_urls(release)) if shown else None,
        "status_counts": summary.counts if shown else None,
    }


def artefacts_out(release: Release) -> list[ArtefactOut]:
    """The release's files: path, URL, expected SHA-256 or text (embargoed before T)."""
    return [
        ArtefactOut(
            path=t.path,
            url=t.public_url,
            expected_sha256=t.expected_sha256,
            expect_text=t.expect_text,
        )
        for t in release_urls(release)
    ]


def result_out(result: CheckResult) -> ResultOut:
    return ResultOut.model_validate(
        result.model_dump(include=set(ResultOut.model_fields), mode="python")
    )


@router.get("/releases", response_model=list[ReleaseSummary])
async def list_releases(ctx: Ctx, viewer: Viewer) -> list[ReleaseSummary]:
    """Every release in the store, by release time, with a summary of its latest results
    (before its release time: the calendar only, unless the caller may see more)."""
    now = ctx.clock.now()
    latest = await queries.latest_statuses(ctx.engine)
    return [
        ReleaseSummary.model_validate(
            summary_out(
                r, queries.summarise(r, latest.get(r.id, []), now), sees_detail(viewer, r, now)
            )
        )
        for r in await ctx.shelf.all()
    ]


@router.get("/releases/{release_id}", response_model=ReleaseDetail, responses=REFUSALS)
async def get_release(release_id: str, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    """One release: its artefacts, the latest result per URL × vantage point, first-live times
    (before its release time: the calendar only, unless the caller may see more)."""

    async def made() -> Response:
        detail = await release_detail(ctx, viewer, release_id)
        return Response(detail.model_dump_json(), media_type="application/json")

    mark = functools.partial(queries.release_mark, ctx.engine, release_id)
    return await ctx.answers.answer(request, viewer, ctx.clock.now(), made, stored=mark)


async def release_detail(ctx: WebContext, viewer: Principal, release_id: str) -> ReleaseDetail:
    """``/api/releases/{id}``'s answer (made at most once a second for each viewer:
    ``web.answers``)."""
    release = await ctx.release(release_id)
    now = ctx.clock.now()
    if not sees_detail(viewer, release, now):
        withheld = summary_out(release, queries.summarise(release, [], now), False)
        return ReleaseDetail.model_validate(
            {**withheld, "artefacts": None, "results": None, "first_live": None}
        )
    view = await queries.release_view(ctx.engine, release, now)
    return ReleaseDetail.model_validate(
        {
            **summary_out(release, view.summary, True),
            "artefacts": artefacts_out(release),
            "results": [result_out(r) for r in view.results],
            "first_live": [
                FirstLiveOut(url=f.url, vantage=f.vantage, at=f.at, lag_s=f.lag_s)
                for f in view.first_live
            ],
        }
    )


@router.get("/releases/{release_id}/timeline", response_model=TimelineOut, responses=REFUSALS)
async def get_timeline(release_id: str, ctx: Ctx, viewer: Viewer) -> TimelineOut:
    """The release's timeline, and whether its hash chain is intact (before its release time,
    only to a caller who may see its detail: 403 to anyone else)."""
    release = await ctx.release(release_id)
    if not sees_detail(viewer, release, ctx.clock.now()):
        when = fmt_local(release.release_at, ctx.config.zone)
        raise AccessError(
            f"The timeline of {release.id!r} is not public until its release time ({when}): "
            "sign in, or send a token whose role may see it."
        )
    timeline = Timeline(ctx.engine)
    events, check = await timeline.checked_signed(release.id)
    staff = viewer.may(Power.EMBARGOED)
    return TimelineOut(
        release=release.id,
        events=[
            EventOut(
                seq=e.seq,
                at=e.at,
                recorded_at=e.recorded_at,
                kind=e.kind,
                actor=e.actor,
                source=e.source,
                data=dict(e.data) if staff else _public_data(e.data),
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in events
        ],
        chain=ChainOut(
            ok=check.ok, count=check.count, broken_seq=check.broken_seq, reason=check.reason
        ),
    )


def _public_data(data: Mapping[str, object]) -> dict[str, object]:
    public = without_staged_names(dict(data))
    assert isinstance(public, dict)
    return public


async def _store_answers(ctx: WebContext, response: Response) -> str:
    """'ok', or one sentence saying why the store cannot be read (and the response is a 503)."""
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, StoreError) as exc:
        response.status_code = 503
        return (
            f"The store cannot be read ({type(exc).__name__}): check the database URL and that "
            "the database server is running."
        )
    return "ok"


@router.get("/health/live", response_model=LiveOut)
async def live() -> LiveOut:
    """Liveness: this instance answers (nothing else is looked at, so it is never slow)."""
    return LiveOut(live=True)


@router.get("/health/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def ready(ctx: Ctx, response: Response) -> ReadyOut:
    """Readiness: this instance's store answers, so it can serve the dashboard and the API."""
    store = await _store_answers(ctx, response)
    standing = ctx.standing.current()
    return ReadyOut(ready=store == "ok", leader=bool(standing and standing.leader), store=store)


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(ctx: Ctx, response: Response, viewer: Viewer) -> HealthOut:
    """Is the service up, can it read its store and every release file, and does it publish?
    Which release's staged files the public could fetch is said only to whoever may see a
    release's detail before its time: to anyone else it would say where to look."""
    store = await _store_answers(ctx, response)
    problems = [
        ProblemOut(file=p.file, message=p.public_message) for p in ctx.file_problems.current()
    ]
    standing = ctx.standing.current()
    if store != "ok":
        problems.insert(0, ProblemOut(file=None, message=store))
    else:
        named = viewer.may(Power.EMBARGOED)
        problems.extend(await _exposures(ctx, named=named))
        problems.extend(await _undelivered(ctx, named=named))
    return HealthOut(
        ok=store == "ok",
        status="down" if store != "ok" else "degraded" if problems else "ok",
        problems=problems,
        version=__version__,
        store=store,
        assets=ctx.assets_version,
        now=ctx.clock.now(),
        leader=bool(standing and standing.leader),
        leader_since=standing.since if standing else None,
        instance=standing.instance if standing else None,
    )


async def _undelivered(ctx: WebContext, *, named: bool) -> list[ProblemOut]:
    """A problem for each alert no attempt delivered; not ``named``: one problem naming neither
    the release nor the address (an incident before a release's time is not the public's)."""
    failures = await open_failures(ctx.engine)
    if failures and not named:
        some = (
            "An alert about an open incident"
            if len(failures) == 1
            else f"{len(failures)} alerts about open incidents"
        )
        return [
            ProblemOut(
                file=None,
                message=f"{some} could not be delivered: sign in to see which, then check the "
                "addresses alerts go to.",
            )
        ]
    return [ProblemOut(file=None, release=f.release_id, message=f.message) for f in failures]


EXPOSURE_WATCH = dt.timedelta(days=1)
"""How long after its release time a release's staged copies are still looked for in health."""


async def _exposures(ctx: WebContext, *, named: bool) -> list[ProblemOut]:
    """A problem for each release whose staged copies the public could fetch at the last look,
    naming the release and how many (never where); not ``named``: one problem naming none."""
    now = ctx.clock.now()
    zone = ctx.config.zone
    due = [r.id for r in await ctx.shelf.all() if r.release_at > now - EXPOSURE_WATCH]
    found = await open_exposures(ctx.engine, due) if due else []
    if found and not named:
        return [
            ProblemOut(
                file=None,
                message=(
                    "Files waiting for their release time could be fetched from the public "
                    "site: sign in to see which release, then move the publishing target's "
                    "staging folder outside the web root and tell the Head of Profession."
                ),
            )
        ]
    return [
        ProblemOut(
            file=None,
            release=e.release_id,
            message=(
                f"{len(e.urls)} of the files of {e.release_id} waiting for their release time "
                f"could be fetched from the public site at {fmt_local(e.since, zone)}: move the "
                "publishing target's staging folder outside the web root, and tell the Head of "
                "Profession."
            ),
        )
        for e in found
    ]


metrics_router = APIRouter(tags=["metrics"])


@metrics_router.get("/metrics", response_class=Response)
async def metrics(ctx: Ctx) -> Response:
    """Prometheus text exposition."""
    from prometheus_client import CONTENT_TYPE_LATEST

    releases = await ctx.shelf.all()
    ctx.metrics.standing(ctx.standing.current())
    await ctx.metrics.refresh(ctx.engine, releases, ctx.clock.now())
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
