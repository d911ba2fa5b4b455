"""The JSON API: releases, their latest results and timelines, health, and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from onthedot import __version__
from onthedot.model import CheckResult, Release
from onthedot.record.timeline import Timeline
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.verifier import release_urls
from onthedot.web import queries
from onthedot.web.context import Ctx
from onthedot.web.schemas import (
    ArtefactOut,
    ChainOut,
    ErrorOut,
    EventOut,
    FirstLiveOut,
    HealthOut,
    ProblemOut,
    ReleaseDetail,
    ReleaseSummary,
    ResultOut,
    TimelineOut,
)

router = APIRouter(prefix="/api", tags=["releases"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def summary_out(release: Release, summary: queries.Summary) -> dict[str, Any]:
    return {
        "id": release.id,
        "title": release.title,
        "producer": release.producer,
        "release_at_utc": release.release_at,
        "phase": summary.phase,
        "live": summary.live,
        "urls": len(release_urls(release)),
        "status_counts": summary.counts,
    }


def result_out(result: CheckResult) -> ResultOut:
    return ResultOut.model_validate(
        result.model_dump(include=set(ResultOut.model_fields), mode="python")
    )


@router.get("/releases", response_model=list[ReleaseSummary])
async def list_releases(ctx: Ctx) -> list[ReleaseSummary]:
    """Every release in the store, by release time, with a summary of its latest results."""
    now = ctx.clock.now()
    latest = await queries.latest_statuses(ctx.engine)
    return [
        ReleaseSummary.model_validate(
            summary_out(r, queries.summarise(r, latest.get(r.id, []), now))
        )
        for r in await ReleaseRepository(ctx.engine).all()
    ]


@router.get("/releases/{release_id}", response_model=ReleaseDetail, responses=NOT_FOUND)
async def get_release(release_id: str, ctx: Ctx) -> ReleaseDetail:
    """One release: its artefacts, the latest result per URL × vantage point, first-live times."""
    release = await ctx.release(release_id)
    view = await queries.release_view(ctx.engine, release, ctx.clock.now())
    return ReleaseDetail.model_validate(
        {
            **summary_out(release, view.summary),
            "artefacts": [
                ArtefactOut(
                    path=t.path,
                    url=t.public_url,
                    expected_sha256=t.expected_sha256,
                    expect_text=t.expect_text,
                )
                for t in release_urls(release)
            ],
            "results": [result_out(r) for r in view.results],
            "first_live": [
                FirstLiveOut(url=f.url, vantage=f.vantage, at=f.at, lag_s=f.lag_s)
                for f in view.first_live
            ],
        }
    )


@router.get("/releases/{release_id}/timeline", response_model=TimelineOut, responses=NOT_FOUND)
async def get_timeline(release_id: str, ctx: Ctx) -> TimelineOut:
    """The release's timeline, and whether its hash chain is intact."""
    release = await ctx.release(release_id)
    timeline = Timeline(ctx.engine)
    events = await timeline.events(release.id)
    check = await timeline.verify(release.id)
    return TimelineOut(
        release=release.id,
        events=[
            EventOut(
                seq=e.seq,
                at=e.at,
                kind=e.kind,
                actor=e.actor,
                source=e.source,
                data=dict(e.data),
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in events
        ],
        chain=ChainOut(
            ok=check.ok, count=check.count, broken_seq=check.broken_seq, reason=check.reason
        ),
    )


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(ctx: Ctx, response: Response) -> HealthOut:
    """Is the service up, can it read its store, and can it read every release file?"""
    store = "ok"
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        store = (
            f"The store cannot be read ({type(exc).__name__}): check the database URL and that "
            "the database server is running."
        )
        response.status_code = 503
    problems = [ProblemOut(file=p.file, message=p.message) for p in ctx.file_problems.current()]
    if store != "ok":
        problems.insert(0, ProblemOut(file=None, message=store))
    return HealthOut(
        ok=store == "ok",
        status="down" if store != "ok" else "degraded" if problems else "ok",
        problems=problems,
        version=__version__,
        store=store,
        assets=ctx.assets_version,
        now=ctx.clock.now(),
    )


metrics_router = APIRouter(tags=["metrics"])


@metrics_router.get("/metrics", response_class=Response)
async def metrics(ctx: Ctx) -> Response:
    """Prometheus text exposition."""
    from prometheus_client import CONTENT_TYPE_LATEST

    releases = await ReleaseRepository(ctx.engine).all()
    await ctx.metrics.refresh(ctx.engine, releases, ctx.clock.now())
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
