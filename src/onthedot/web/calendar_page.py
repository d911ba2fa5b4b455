"""The public release calendar: ``/calendar`` (upcoming and past releases, by producer),
``/calendar.ics`` (iCalendar, to subscribe to) and ``/api/calendar`` (the JSON of ``onthedot
calendar --json``). Public information, no sign-in: each release's id, title, producer and time.

Query parameters, each optional: ``producer`` (one producer's releases), ``from`` and ``to``
(YYYY-MM-DD, the release's local date, as the CLI's ``--from`` and ``--to``). A malformed one is
answered 400 with one sentence (``web.params``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from onthedot.calendar.export import entries, select, to_ics
from onthedot.calendar.timeutil import fmt_local
from onthedot.model import Release
from onthedot.web import params, queries
from onthedot.web.access import Principal, Viewer, sees_detail
from onthedot.web.context import Ctx, WebContext
from onthedot.web.countdown import countdown
from onthedot.web.pages import render

router = APIRouter()
page_router = APIRouter(include_in_schema=False)

Producer = Query(None, description="Only this producer's releases.")
From = Query(None, alias="from", description="First local release date, YYYY-MM-DD.")
To = Query(None, alias="to", description="Last local release date, YYYY-MM-DD.")


@dataclass(frozen=True, slots=True)
class Chosen:
    releases: list[Release]
    producers: list[str]
    producer: str | None
    given: dict[str, str]  # the parameters as given (for the form)
    query: str  # the same filter, as a query string for the ICS and JSON links


async def chosen(
    ctx: Ctx,
    producer: str | None = Producer,
    first: str | None = From,
    last: str | None = To,
) -> Chosen:
    """The releases the query parameters choose (QueryError: 400, when one is malformed)."""
    everything = await ctx.shelf.all()
    producers = sorted({r.producer for r in everything})
    who = params.choice(params.text(producer, "producer"), "producer", producers)
    start, end = params.day(first, "from"), params.day(last, "to")
    picked = select(everything, ctx.config.policy, start, end)
    if who is not None:
        picked = [r for r in picked if r.producer == who]
    given = {"producer": who or "", "from": first or "", "to": last or ""}
    query = urlencode({k: v for k, v in given.items() if v})
    return Chosen(picked, producers, who, given, query)


Chose = Annotated[Chosen, Depends(chosen)]


def announced(releases: list[Release], viewer: Principal, now: dt.datetime) -> list[Release]:
    """The releases as the calendar may show them to ``viewer``: before T, to a caller who may not
    see the detail, a release links to its statement page or its site, never to one of its files
    (which the calendar's exports would otherwise name; access.sees_detail)."""
    return [
        r
        if sees_detail(viewer, r, now) or r.statement_url or r.site is None
        else r.model_copy(update={"statement_url": r.site.public})
        for r in releases
    ]


@page_router.get("/calendar", response_class=HTMLResponse)
async def calendar_page(request: Request, ctx: Ctx, viewer: Viewer, found: Chose) -> Response:
    """Made at most once a second for each viewer and query (``web.answers``)."""
    now = ctx.clock.now()
    return await ctx.answers.answer(
        request, viewer, now, lambda: calendar_made(request, ctx, viewer, found), query=found.query
    )


async def calendar_made(
    request: Request, ctx: WebContext, viewer: Principal, found: Chosen
) -> Response:
    now, zone = ctx.clock.now(), ctx.config.zone

    def row(r: Release) -> dict[str, str]:
        return {
            "id": r.id,
            "title": r.title,
            "producer": r.producer,
            "when": fmt_local(r.release_at, zone),
            "iso": r.release_at.isoformat(),
            "countdown": countdown(now, r.release_at),
        }

    upcoming = [row(r) for r in found.releases if r.release_at >= now]
    past = [row(r) for r in reversed(found.releases) if r.release_at < now]
    return render(
        ctx,
        request,
        "calendar.html",
        viewer=viewer,
        upcoming=upcoming,
        past=past,
        producers=found.producers,
        producer=found.producer,
        first=found.given["from"],
        last=found.given["to"],
        query=found.query,
    )


@page_router.get("/calendar.ics")
async def calendar_ics(ctx: Ctx, viewer: Viewer, found: Chose) -> Response:
    changes = await queries.release_time_changes(ctx.engine)
    now = ctx.clock.now()
    shown = announced(found.releases, viewer, now)
    body = to_ics(shown, ctx.config.policy, changes=changes, stamp=now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="release-calendar.ics"'},
    )


@router.get("/api/calendar", tags=["calendar"])
async def calendar_json(ctx: Ctx, viewer: Viewer, found: Chose) -> dict[str, Any]:
    """The release calendar, as ``onthedot calendar --json`` writes it."""
    changes = await queries.release_time_changes(ctx.engine)
    return {
        "zone": ctx.config.policy.zone,
        "releases": entries(
            announced(found.releases, viewer, ctx.clock.now()), ctx.config.policy, changes
        ),
    }
