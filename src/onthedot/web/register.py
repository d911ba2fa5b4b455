"""The breach register: ``/register`` (filter by year, type and cause), ``/register.csv`` and
``/api/register`` (the CSV and JSON of ``onthedot register``), from ``record.register``.

A breach of a release whose time has not come yet (found served early, say) names its files:
it is listed only to a caller who may see that release's detail (access.sees_detail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from onthedot.calendar.timeutil import fmt_local
from onthedot.record import breaches as breach_store
from onthedot.record import register as breach_register
from onthedot.record.breaches import BREACH_KINDS, TITLES, Breach
from onthedot.record.narrative import fmt_duration
from onthedot.web import params
from onthedot.web.access import Viewer, sees_detail
from onthedot.web.context import Ctx
from onthedot.web.pages import render

router = APIRouter(tags=["register"])
page_router = APIRouter(include_in_schema=False)

Year = Query(None, description="Breaches that started in this year, e.g. 2026.")
Kind = Query(None, alias="type", description=f"One type of breach: {', '.join(BREACH_KINDS)}.")
Cause = Query(None, description="One cause, as the register names it.")


@dataclass(frozen=True, slots=True)
class Found:
    breaches: list[Breach]
    causes: list[str]
    years: list[int]
    given: dict[str, str]  # the parameters as given (for the form)
    query: str  # the same filter, as a query string for the CSV and JSON links


async def found(
    ctx: Ctx,
    viewer: Viewer,
    year: str | None = Year,
    kind: str | None = Kind,
    cause: str | None = Cause,
) -> Found:
    """The breaches the query parameters choose (QueryError: 400, when one is malformed)."""
    now = ctx.clock.now()
    releases = {r.id: r for r in await ctx.shelf.all()}
    shown = [
        b
        for b in await breach_store.load(ctx.engine)
        if b.release_id in releases and sees_detail(viewer, releases[b.release_id], now)
    ]
    causes = sorted({b.cause for b in shown})
    years = sorted({_year(b, releases) for b in shown}, reverse=True)
    in_year = params.year(year)
    of_kind = params.choice(kind, "type", BREACH_KINDS)
    of_cause = params.choice(params.text(cause, "cause"), "cause", causes)
    picked = [
        b
        for b in shown
        if (in_year is None or _year(b, releases) == in_year)
        and (of_kind is None or b.kind == of_kind)
        and (of_cause is None or b.cause == of_cause)
    ]
    given = {"year": year or "", "type": kind or "", "cause": cause or ""}
    chosen = {"year": in_year, "type": of_kind, "cause": of_cause}
    query = urlencode({k: v for k, v in chosen.items() if v})
    return Found(picked, causes, years, given, query)


Chose = Annotated[Found, Depends(found)]


def _year(breach: Breach, releases: dict[str, Any]) -> int:
    return (breach.started_at or releases[breach.release_id].release_at).year


@page_router.get("/register", response_class=HTMLResponse)
async def register_page(request: Request, ctx: Ctx, viewer: Viewer, got: Chose) -> Response:
    zone = ctx.config.zone
    rows = [
        {
            **breach_register.entry(b),
            "started": fmt_local(b.started_at, zone) if b.started_at else "—",
            "duration": _duration(b.duration_s),
        }
        for b in got.breaches
    ]
    return render(
        ctx,
        request,
        "register.html",
        viewer=viewer,
        rows=rows,
        counts=breach_register.counts(got.breaches),
        kinds=[(k, TITLES[k]) for k in BREACH_KINDS],
        causes=[(c, c) for c in got.causes],
        years=[(str(y), str(y)) for y in got.years],
        chosen=got.given,
        query=got.query,
    )


def _duration(seconds: float | None) -> str:
    return "not over" if seconds is None else fmt_duration(seconds)


@page_router.get("/register.csv")
async def register_csv(got: Chose) -> Response:
    return Response(
        breach_register.to_csv(got.breaches),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="breach-register.csv"'},
    )


@router.get("/api/register")
async def register_json(got: Chose) -> dict[str, Any]:
    """The breach register, as ``onthedot register --json`` writes it."""
    return breach_register.to_json(got.breaches)
