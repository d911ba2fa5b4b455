"""The release-morning board (``/``): what a Head of Profession reads on a morning of many releases.

One card per release due today (and the next one): its title linking to its page (which keeps the
row per URL × vantage point), the countdown and state, the latest results counted by status ("48
of 50 live, 2 stale"), when it was first live and all live, its open incidents, and the first
``SHOWN`` results that are not as they should be (before T not embargoed, from T not live) with
their diagnosis, then "and N more" linking to the release's page. Every release gets the same card,
small or large: the board is for what needs doing, and a release's every row is one link away.

The page is read in a constant number of statements, whatever the number of releases
(``queries.standing``, ``queries.go_live_times``, the incidents): counts
come from the store grouped, never from results validated one by one. A release whose detail the
viewer may not see yet (``access.sees_detail``) is read not at all: the calendar only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from onthedot.calendar.timeutil import fmt_local
from onthedot.model import Release, Status
from onthedot.morning.files import FileProblem
from onthedot.respond.incidents import Incident, IncidentBook
from onthedot.web import queries
from onthedot.web.access import Principal, Viewer, sees_detail
from onthedot.web.context import Ctx, WebContext
from onthedot.web.countdown import countdown
from onthedot.web.pages import (
    NOT_CHECKED,
    TAG_CLASSES,
    Head,
    Row,
    first_live_text,
    on_board,
    path_of,
    render,
)

router = APIRouter(include_in_schema=False)

SHOWN = 3
"""At most this many results that are not as they should be, per release card."""
TODAY = "Today"  # (``pages.on_board``'s label: its cards say the time only)


@dataclass
class BoardCard(Head):
    """One release on the board."""

    unchecked: int = 0  # watched URLs with no result yet
    first_live: str = ""
    all_live: str = ""
    amiss: list[Row] = field(default_factory=list)  # the first few not as they should be

    @property
    def good(self) -> str:
        """The status every result should have now."""
        return (Status.EMBARGOED if self.summary.phase == "before" else Status.LIVE).value

    @property
    def total(self) -> int:
        return sum(self.summary.counts.values()) + self.unchecked

    @property
    def others(self) -> list[tuple[str, int]]:
        """The counts other than the good status's, "not checked" last."""
        out = [(s, n) for s, n in self.summary.counts.items() if s != self.good]
        return out + ([(NOT_CHECKED, self.unchecked)] if self.unchecked else [])

    @property
    def more(self) -> int:
        """How many results not as they should be are left off the card."""
        amiss = sum(n for s, n in self.summary.counts.items() if s != self.good)
        return amiss - len(self.amiss)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the board read from the store for the releases whose detail it shows."""

    tallies: dict[str, queries.Tally]
    times: dict[str, queries.GoLive]
    amiss: dict[str, list[queries.Latest]]
    incidents: dict[str, list[Incident]]


async def read(ctx: WebContext, shown: Sequence[Release], now: dt.datetime) -> Reading:
    """Everything the cards of ``shown`` need, in a few statements for all of them."""
    ids = [r.id for r in shown]
    before = [r.id for r in shown if now < r.release_at]
    after = [r.id for r in shown if now >= r.release_at]
    incidents: dict[str, list[Incident]] = {}
    if ids:
        wanted = set(ids)
        for incident in await IncidentBook(ctx.engine).listed():
            if incident.release_id in wanted:
                incidents.setdefault(incident.release_id, []).append(incident)
    standing = await queries.standing(ctx.engine, before, after, SHOWN)
    times = await queries.go_live_times(ctx.engine, ids)
    return Reading(standing.tallies, times, standing.amiss, incidents)


def amiss_of(release: Release, row: queries.Latest) -> Row:
    tag = TAG_CLASSES.get(row.status, "govuk-tag--red")
    path = path_of(release, row.url)
    return Row(
        f"{row.url}|{row.vantage}",
        row.url,
        path,
        row.vantage,
        row.status,
        tag,
        row.diagnosis,
        "",
        "",
    )


def card(
    release: Release,
    label: str,
    now: dt.datetime,
    zone: ZoneInfo,
    reading: Reading | None,
    watched: int,
) -> BoardCard:
    """``release``'s card (``watched``: how many addresses it watches); ``reading`` None:
    withheld, the calendar only."""
    at = release.release_at
    tally = reading.tallies.get(release.id) if reading else None
    made = BoardCard(
        release=release,
        label=label,
        when=at.astimezone(zone).strftime("%H:%M %Z") if label == TODAY else fmt_local(at, zone),
        release_at_iso=at.isoformat(),
        countdown=countdown(now, at),
        summary=queries.summarise_tally(release, tally, now, watched),
        withheld=reading is None,
    )
    if reading is None:
        return made
    made.unchecked = max(0, watched - (tally.urls if tally else 0))
    made.amiss = [amiss_of(release, row) for row in reading.amiss.get(release.id, [])]
    made.incidents = reading.incidents.get(release.id, [])
    times = reading.times.get(release.id)
    if times:
        made.first_live = go_live_text(release, times.first, zone)
        made.all_live = go_live_text(release, times.last, zone) if made.summary.live else ""
    return made


def go_live_text(release: Release, at: dt.datetime, zone: ZoneInfo) -> str:
    return first_live_text(at, (at - release.release_at).total_seconds(), zone)


async def cards_for(
    ctx: WebContext, viewer: Principal, chosen: Sequence[tuple[Release, str]], now: dt.datetime
) -> list[BoardCard]:
    shown = [r for r, _ in chosen if sees_detail(viewer, r, now)]
    reading = await read(ctx, shown, now)
    seen = {r.id for r in shown}
    zone = ctx.config.zone
    return [
        card(r, label, now, zone, reading if r.id in seen else None, ctx.shelf.watched(r))
        for r, label in chosen
    ]


def states(cards: Sequence[BoardCard]) -> list[tuple[str, int]]:
    """How many cards are in each state, in the order states first appear."""
    out: dict[str, int] = {}
    for shown in cards:
        out[shown.state[0]] = out.get(shown.state[0], 0) + 1
    return list(out.items())


@router.get("/", response_class=HTMLResponse)
async def board(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    """Made at most once a second for each viewer, and again when the release files that cannot
    be read change; given again for longer while no release, event or result has changed
    (``web.answers``)."""
    broken = ctx.file_problems.current()

    async def stored() -> object:
        await ctx.shelf.all()  # (read again if a release changed: ``reads`` counts it)
        return (ctx.shelf.reads, *await queries.store_mark(ctx.engine))

    return await ctx.answers.answer(
        request,
        viewer,
        ctx.clock.now(),
        lambda: made(request, ctx, viewer, broken),
        broken,
        stored=stored,
    )


async def made(
    request: Request, ctx: WebContext, viewer: Principal, broken: tuple[FileProblem, ...]
) -> Response:
    """The board; ``broken``: the release files that cannot be read, as /api/health names them."""
    now, zone = ctx.clock.now(), ctx.config.zone
    releases = await ctx.shelf.all()
    cards = await cards_for(ctx, viewer, on_board(releases, now, zone), now)
    return render(
        ctx, request, "board.html", viewer=viewer, cards=cards, states=states(cards), broken=broken
    )
