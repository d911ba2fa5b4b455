"""The dashboard: the release-morning board (``/``) and one release (``/releases/{id}``).

Server-rendered with GOV.UK Frontend; ``static/onthedot.js`` keeps the countdowns ticking and
re-fetches the page every ``refresh_s`` seconds (with a pause button); without JavaScript a
``<noscript>`` meta refresh does the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from onthedot import __version__
from onthedot.calendar.timeutil import fmt_local
from onthedot.model import Release, Status
from onthedot.publish.prerelease_links import PREFIX as LINK_PREFIX
from onthedot.record.narrative import describe
from onthedot.record.timeline import Event, Timeline
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.verifier import watched_urls
from onthedot.web import queries, session
from onthedot.web.access import ANONYMOUS, Power, Principal, Viewer, sees_detail
from onthedot.web.assets import ASSETS_URL, CSS_NAME, JS_NAME, STATIC_URL
from onthedot.web.context import Ctx, WebContext, context

router = APIRouter(include_in_schema=False)

TAG_CLASSES = {
    Status.EMBARGOED.value: "govuk-tag--green",
    Status.LIVE.value: "govuk-tag--green",
    Status.EARLY.value: "govuk-tag--red",
    Status.STALE.value: "govuk-tag--red",
    Status.MISSING.value: "govuk-tag--red",
    Status.WRONG_FILE.value: "govuk-tag--red",
    Status.ERROR.value: "govuk-tag--red",
}
NOT_CHECKED = "not checked"


@dataclass(frozen=True, slots=True)
class Row:
    """One URL × vantage point on the board."""

    url: str
    path: str
    vantage: str
    status: str
    tag: str
    diagnosis: str
    checked_at: str
    first_live: str


@dataclass
class Card:
    """One release on the board or its own page."""

    release: Release
    label: str
    when: str
    release_at_iso: str
    countdown: str
    summary: queries.Summary
    rows: list[Row] = field(default_factory=list)
    withheld: bool = False  # before T, to someone who may not see the detail: the calendar only


def countdown(now: dt.datetime, at: dt.datetime) -> str:
    """'in 1 h 05 min', 'in 42 s', 'released 3 min ago' (the JavaScript says the same)."""
    seconds = int((at - now).total_seconds())
    span = abs(seconds)
    hours, rest = divmod(span, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours} h {minutes:02d} min"
    elif minutes:
        text = f"{minutes} min {secs:02d} s"
    else:
        text = f"{secs} s"
    return f"in {text}" if seconds > 0 else f"released {text} ago"


def _clock(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M:%S")


def rows_of(view: queries.ReleaseView, zone: ZoneInfo) -> list[Row]:
    firsts = {(f.url, f.vantage): f for f in view.first_live}
    seen = {r.url for r in view.results}
    rows = []
    for r in view.results:
        first = firsts.get((r.url, r.vantage))
        rows.append(
            Row(
                url=r.url,
                path=_path(view.release, r.url),
                vantage=r.vantage,
                status=r.status.value,
                tag=TAG_CLASSES[r.status.value],
                diagnosis=r.diagnosis,
                checked_at=_clock(r.checked_at, zone),
                first_live=f"{_clock(first.at, zone)} (T{first.lag_s:+.2f} s)" if first else "",
            )
        )
    for url in watched_urls(view.release):
        if url not in seen:
            rows.append(
                Row(
                    url,
                    _path(view.release, url),
                    "—",
                    NOT_CHECKED,
                    "govuk-tag--grey",
                    "No result yet.",
                    "",
                    "",
                )
            )
    return rows


def _path(release: Release, url: str) -> str:
    public = release.site.public.rstrip("/") if release.site else ""
    return url[len(public) :] if public and url.startswith(public) else url


def card(view: queries.ReleaseView, label: str, now: dt.datetime, zone: ZoneInfo) -> Card:
    at = view.release.release_at
    return Card(
        release=view.release,
        label=label,
        when=fmt_local(at, zone),
        release_at_iso=at.isoformat(),
        countdown=countdown(now, at),
        summary=view.summary,
        rows=rows_of(view, zone),
    )


async def card_for(
    ctx: WebContext, viewer: Principal, release: Release, label: str, now: dt.datetime
) -> Card:
    """The release's card: its results if ``viewer`` may see them (access.sees_detail), else
    the calendar only (read nothing of its results)."""
    if sees_detail(viewer, release, now):
        return card(
            await queries.release_view(ctx.engine, release, now), label, now, ctx.config.zone
        )
    view = queries.ReleaseView(release, queries.summarise(release, [], now))
    return replace(card(view, label, now, ctx.config.zone), rows=[], withheld=True)


def on_board(
    releases: list[Release], now: dt.datetime, zone: ZoneInfo
) -> list[tuple[Release, str]]:
    """Today's releases (in the site's zone), or when none is due today those of the last day that
    had any (how the last morning went), then the next one after today."""
    today = now.astimezone(zone).date()
    chosen = [(r, "Today") for r in releases if r.release_at.astimezone(zone).date() == today]
    past = [r for r in releases if r.release_at.astimezone(zone).date() < today]
    if not chosen and past:
        last = max(r.release_at.astimezone(zone).date() for r in past)
        chosen = [(r, "Last") for r in past if r.release_at.astimezone(zone).date() == last]
    later = [r for r in releases if r.release_at.astimezone(zone).date() > today]
    if later:
        chosen.append((min(later, key=lambda r: (r.release_at, r.id)), "Next"))
    return chosen


def render(
    ctx: WebContext,
    request: Request,
    name: str,
    status: int = 200,
    viewer: Principal = ANONYMOUS,
    **values: Any,
) -> Response:
    now = ctx.clock.now()
    page = {
        "assetPath": ASSETS_URL,
        "govukRebrand": False,
        "assets": ctx.assets_version,
        "css": f"{STATIC_URL}/vendor/govuk-frontend/{CSS_NAME}",
        "js": f"{STATIC_URL}/vendor/govuk-frontend/{JS_NAME}",
        "static": STATIC_URL,
        "version": __version__,
        "refresh_s": ctx.settings.refresh_s,
        "server_now_ms": int(now.timestamp() * 1000),
        "now_local": fmt_local(now, ctx.config.zone),
        "path": request.url.path,
        "refreshes": not request.url.path.startswith(f"{LINK_PREFIX}/"),  # (a link is no board)
        "viewer": viewer,
        "sees_metrics": viewer.may(Power.METRICS),
        "sees_report": viewer.may(Power.EMBARGOED),
        "csrf": session.csrf_token(request, ctx.form_key),  # for every form of the page
    }
    response = ctx.templates.TemplateResponse(request, name, {**page, **values}, status_code=status)
    session.remember_form(request, response)
    return response


def render_error(request: Request, status: int, sentence: str) -> Response:
    return render(context(request), request, "error.html", status, code=status, sentence=sentence)


@router.get("/", response_class=HTMLResponse)
async def board(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    now, zone = ctx.clock.now(), ctx.config.zone
    releases = await ReleaseRepository(ctx.engine).all()
    cards = [
        await card_for(ctx, viewer, r, label, now) for r, label in on_board(releases, now, zone)
    ]
    return render(ctx, request, "board.html", viewer=viewer, cards=cards)


@router.get("/releases/{release_id}", response_class=HTMLResponse)
async def release_page(release_id: str, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    now, zone = ctx.clock.now(), ctx.config.zone
    release = await ctx.release(release_id)
    shown = await card_for(ctx, viewer, release, "Release", now)
    if shown.withheld:
        return render(ctx, request, "release.html", viewer=viewer, card=shown)
    timeline = Timeline(ctx.engine)
    events = [_event(e, release, zone) for e in await timeline.events(release.id)]
    return render(
        ctx,
        request,
        "release.html",
        viewer=viewer,
        card=shown,
        events=events,
        chain=await timeline.verify_signed(release.id),
    )


def _event(event: Event, release: Release, zone: ZoneInfo) -> dict[str, str | int]:
    """One row of the timeline, told in the same plain sentence as the breach report's account."""
    what = describe(event, release, zone)
    return {
        "seq": event.seq,
        "at": _clock(event.at, zone),
        "kind": event.kind,
        "actor": event.actor,
        "what": what,
        "hash": event.hash[:12],
    }
