"""The dashboard's shared parts: rendering, the release card of a release's page (every URL ×
vantage point's latest result), the state of a release in two words, and which releases the
release-morning board (``web.board``, ``/``) shows.

Server-rendered with GOV.UK Frontend; ``static/onthedot.js`` keeps the countdowns ticking and
re-fetches the page every ``refresh_s`` seconds (with a pause button), and a release's own page
(``web.release``) follows its results live; without JavaScript a ``<noscript>`` meta refresh
does the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup

from onthedot import __version__
from onthedot.calendar.timeutil import fmt_local
from onthedot.model import CheckResult, Release, Status
from onthedot.publish.prerelease_links import PREFIX as LINK_PREFIX
from onthedot.respond.incidents import Incident, IncidentBook
from onthedot.verify.verifier import watched_urls
from onthedot.web import answers, queries, session
from onthedot.web.access import ANONYMOUS, Power, Principal, sees_detail
from onthedot.web.assets import ASSETS_URL, CSS_NAME, JS_NAME, STATIC_URL
from onthedot.web.context import WebContext, context
from onthedot.web.countdown import countdown

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
    """One URL × vantage point on a release's page (on the board, one not as it should be)."""

    key: str  # url|vantage: what a live update finds the row by
    url: str
    path: str
    vantage: str
    status: str
    tag: str
    diagnosis: str
    checked_at: str
    first_live: str


@dataclass
class Head:
    """What heads a release's card, on the board (``web.board``) and on its own page."""

    release: Release
    label: str
    when: str
    release_at_iso: str
    countdown: str
    summary: queries.Summary
    withheld: bool = False  # before T, to someone who may not see the detail: the calendar only
    incidents: list[Incident] = field(default_factory=list)  # open or acknowledged

    @property
    def state(self) -> tuple[str, str]:
        return state_of(self.summary, self.withheld)


@dataclass
class Card(Head):
    """One release on its own page: every URL × vantage point's latest result."""

    rows: list[Row] = field(default_factory=list)


def state_of(summary: queries.Summary, withheld: bool) -> tuple[str, str]:
    """A release's state in two words, and its tag's colour."""
    if summary.breach:
        return ("breach", "govuk-tag--red")
    if summary.phase == "before":
        return ("announced", "govuk-tag--blue")
    if summary.live:
        return ("all live", "govuk-tag--green")
    if not summary.counts and not withheld:
        return ("not checked", "govuk-tag--grey")
    return ("published", "govuk-tag--yellow")


def clock_time(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M:%S")


def row_of(
    release: Release, r: CheckResult, first: queries.FirstLive | None, zone: ZoneInfo
) -> Row:
    return Row(
        key=f"{r.url}|{r.vantage}",
        url=r.url,
        path=path_of(release, r.url),
        vantage=r.vantage,
        status=r.status.value,
        tag=TAG_CLASSES[r.status.value],
        diagnosis=r.diagnosis,
        checked_at=clock_time(r.checked_at, zone),
        first_live=first_live_text(first.at, first.lag_s, zone) if first else "",
    )


def first_live_text(at: dt.datetime, lag_s: float, zone: ZoneInfo) -> str:
    return f"{clock_time(at, zone)} (T{lag_s:+.2f} s)"


def rows_of(view: queries.ReleaseView, zone: ZoneInfo) -> list[Row]:
    firsts = {(f.url, f.vantage): f for f in view.first_live}
    seen = {r.url for r in view.results}
    rows = [row_of(view.release, r, firsts.get((r.url, r.vantage)), zone) for r in view.results]
    for url in watched_urls(view.release):
        if url not in seen:
            rows.append(
                Row(
                    f"{url}|",
                    url,
                    path_of(view.release, url),
                    "—",
                    NOT_CHECKED,
                    "govuk-tag--grey",
                    "No result yet.",
                    "",
                    "",
                )
            )
    return rows


def path_of(release: Release, url: str) -> str:
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
    ctx: WebContext,
    viewer: Principal,
    release: Release,
    label: str,
    now: dt.datetime,
    view: queries.ReleaseView | None = None,
) -> Card:
    """The release's card: its results (``view``, else read now) if ``viewer`` may see them
    (access.sees_detail), else the calendar only (read nothing of its results)."""
    if sees_detail(viewer, release, now):
        view = view or await queries.release_view(ctx.engine, release, now)
        shown = card(view, label, now, ctx.config.zone)
        shown.incidents = [
            i for i in await IncidentBook(ctx.engine).of_release(release.id) if i.active
        ]
        return shown
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
    kept = answers.marked(request)  # the marks, put in as each request is given the page
    page = {
        "assetPath": ASSETS_URL,
        "govukRebrand": False,
        "assets": ctx.assets_version,
        "css": f"{STATIC_URL}/vendor/govuk-frontend/{CSS_NAME}",
        "js": f"{STATIC_URL}/vendor/govuk-frontend/{JS_NAME}",
        "static": STATIC_URL,
        "version": __version__,
        "refresh_s": ctx.settings.refresh_s,
        "server_now_ms": answers.NOW_MARK if kept else int(now.timestamp() * 1000),
        "now_local": fmt_local(now, ctx.config.zone),
        "path": request.url.path,
        "refreshes": not request.url.path.startswith(f"{LINK_PREFIX}/"),  # (a link is no board)
        "viewer": viewer,
        "sees_metrics": viewer.may(Power.METRICS),
        "sees_settings": viewer.role is None or viewer.may(Power.SETTINGS),  # (else refused)
        "sees_report": viewer.may(Power.EMBARGOED),
        "csrf": answers.CSRF_MARK if kept else session.csrf_token(request, ctx.form_key),
    }
    response = ctx.templates.TemplateResponse(request, name, {**page, **values}, status_code=status)
    session.remember_form(request, response)
    return response


def partial(ctx: WebContext, name: str, **values: Any) -> Markup:
    """Template ``name`` rendered on its own, to put into a page whole: Jinja hands each piece
    of a page up through every template and block it is nested in (five for a release page),
    so a table of a row per result or event costs several times more made inside the page
    than made apart and put in as one piece."""
    return Markup(ctx.templates.get_template(name).render(**values))


def render_error(request: Request, status: int, sentence: str) -> Response:
    return render(context(request), request, "error.html", status, code=status, sentence=sentence)
