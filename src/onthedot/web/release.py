"""One release's page (``/releases/{id}``), its live updates and its report downloads.

The page: the status per URL × vantage point (updated live by ``web.live``), the diagnosis
sentence, first-live times, the go-live curve (``record.golive``, the same figure as the HTML
breach report), the open incidents with their acknowledge buttons, the notice and gate states,
the pre-release access list, the timeline in plain words, and the breach report to download.
Before T, all of it only to a caller who may see the release's detail (``access.sees_detail``);
a report asked for by anyone else before T is refused, and the refusal logged.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from onthedot import logs
from onthedot.calendar.timeutil import fmt_local
from onthedot.errors import AccessError
from onthedot.model import Release
from onthedot.record import REPORT_FORMATS, golive
from onthedot.record.narrative import told
from onthedot.record.timeline import Event, Timeline
from onthedot.respond.gates import GateRecord, gates_of
from onthedot.respond.notice import NoticeRecord
from onthedot.store.prerelease import PreReleaseGrants
from onthedot.web import live, params, queries
from onthedot.web.access import Principal, Viewer, principal_now, sees_detail
from onthedot.web.context import Ctx, WebContext
from onthedot.web.pages import card_for, clock_time, first_live_text, partial, render
from onthedot.web.settings_page import alert_address

router = APIRouter(include_in_schema=False)
log = logs.get_logger("onthedot.web.access")


@dataclass(frozen=True, slots=True)
class State:
    """A notice's or a gate's state: a tag and one sentence."""

    name: str
    tag: str
    colour: str
    sentence: str


def refuse_before_t(viewer: Principal, release: Release, what: str, ctx: WebContext) -> None:
    """Refuse (and log) ``what`` of ``release`` before T to a caller who may not see it."""
    now = ctx.clock.now()
    if sees_detail(viewer, release, now):
        return
    log.warning("embargoed.refused", release=release.id, what=what, viewer=viewer.name)
    when = fmt_local(release.release_at, ctx.config.zone)
    raise AccessError(
        f"The {what} of {release.id!r} is not public until its release time ({when}): sign in, "
        "or send a token whose role may see it."
    )


def notice_state(ctx: WebContext, release: Release, events: list[Event]) -> State:
    record = NoticeRecord()
    for event in events:
        record.feed(event)
    zone = ctx.config.zone
    if record.failed is not None:
        since, why = record.failed
        return State(
            "Notice",
            "failing",
            "govuk-tag--red",
            f"Not on the site since {_hm(since, zone)}: {why}",
        )
    if record.replaced:
        return State(
            "Notice",
            "replaced",
            "govuk-tag--green",
            "The delay notice now says the release is published.",
        )
    if record.posted:
        return State(
            "Notice",
            "delay notice",
            "govuk-tag--yellow",
            "A notice on the site tells users the release is delayed.",
        )
    if not ctx.config.notice.of(release).enabled:
        return State("Notice", "off", "govuk-tag--grey", "No notice is set up for this release.")
    return State("Notice", "not needed", "govuk-tag--grey", "No delay notice has been needed.")


def gate_states(ctx: WebContext, release: Release, events: list[Event]) -> list[State]:
    record = GateRecord()
    for event in events:
        record.feed(event)
    out = []
    for gate in gates_of(release, ctx.config.gates):
        to = alert_address(gate.send)
        if gate.name in record.released:
            out.append(State(gate.name, "sent", "govuk-tag--green", f"Sent to {to}."))
        elif gate.name in record.failed:
            since, why = record.failed[gate.name]
            out.append(
                State(
                    gate.name,
                    "failing",
                    "govuk-tag--red",
                    f"Not sent since {_hm(since, ctx.config.zone)}: {why}",
                )
            )
        elif gate.name in record.held:
            out.append(
                State(
                    gate.name,
                    "held",
                    "govuk-tag--yellow",
                    f"Held until the release is live everywhere, then sent to {to}.",
                )
            )
        else:
            out.append(
                State(
                    gate.name,
                    "waiting",
                    "govuk-tag--grey",
                    f"Held from the release time until it is live, then sent to {to}.",
                )
            )
    return out


def _hm(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M")


def timeline_rows(
    events: Sequence[Event], release: Release, zone: ZoneInfo
) -> list[dict[str, str]]:
    """The rows of the timeline, each told in the same plain sentence as the breach report's
    account; a long run of per-address checks in one row (``narrative.told``), numbered from its
    first event to its last, with the last one's hash."""
    rows = []
    for line in told(events, release, zone):
        first, last = line.first, line.last
        rows.append(
            {
                "seq": _span(f"{first.seq:,}", f"{last.seq:,}"),
                "at": _span(_hms(first.at, zone), _hms(last.at, zone)),
                "kind": ", ".join(line.kinds),
                "actor": ", ".join(line.actors),
                "what": line.sentence,
                "hash": last.hash[:12],
            }
        )
    return rows


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first}–{last}"


def _hms(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M:%S")


async def curve_of(ctx: WebContext, release: Release) -> golive.Curve:
    async with ctx.engine.connect() as conn:
        record = await queries.release_record(conn, release, ctx.clock.now())
    return golive.curve(release, record.turns)


@router.get("/releases/{release_id}", response_class=HTMLResponse)
async def release_page(release_id: str, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    """Made at most once a second for each viewer, or given again for longer while nothing it
    is made from has changed (``web.answers``)."""
    return await ctx.answers.answer(
        request,
        viewer,
        ctx.clock.now(),
        lambda: page_made(release_id, request, ctx, viewer),
        stored=lambda: queries.release_mark(ctx.engine, release_id),
    )


async def page_made(
    release_id: str, request: Request, ctx: WebContext, viewer: Principal
) -> Response:
    now, zone = ctx.clock.now(), ctx.config.zone
    release = await ctx.release(release_id)
    record = None
    async with ctx.engine.connect() as conn:
        since = await live.newest_check(conn)  # before the results: its stream sends what follows
        if sees_detail(viewer, release, now):
            record = await queries.release_record(conn, release, now)
    shown = await card_for(ctx, viewer, release, "Release", now, record.view if record else None)
    if shown.withheld or record is None:
        return render(ctx, request, "release.html", viewer=viewer, card=shown)
    timeline = Timeline(ctx.engine)
    events, chain = await timeline.checked_signed(release.id)
    drawn = golive.curve(release, record.turns)
    grants = await PreReleaseGrants(ctx.engine).of_release(release.id)
    opened = await PreReleaseGrants(ctx.engine).openings(release.id)
    return render(
        ctx,
        request,
        "release.html",
        viewer=viewer,
        card=shown,
        since=since,
        results=partial(ctx, "_results.html", rows=shown.rows, detail=True),
        timeline=partial(ctx, "_timeline.html", events=timeline_rows(events, release, zone)),
        chain=chain,
        curve=golive.svg(drawn, zone),
        curve_sentence=golive.sentence(drawn, zone),
        notice=notice_state(ctx, release, events),
        gates=gate_states(ctx, release, events),
        grants=[
            {
                "name": g.name,
                "role": g.role,
                "granted": fmt_local(g.granted_at, zone),
                "expires": fmt_local(g.expires_at, zone),
                "state": g.state(now),
                "opened": sum(1 for o in opened if o.grant_id == g.id and o.served),
            }
            for g in grants
        ],
        reports=list(REPORT_FORMATS),
    )


@router.get("/releases/{release_id}/live")
async def live_updates(
    release_id: str, request: Request, ctx: Ctx, viewer: Viewer, since: str | None = None
) -> StreamingResponse:
    """Server-Sent Events: the release's new results as table rows, and word of new events;
    ``since``: the newest check id the page was made with (what came after it is sent too)."""
    after = params.whole(since, "since")
    release = await ctx.feed.release(release_id, functools.partial(ctx.release, release_id))
    zone = ctx.config.zone

    def rows(release: Release, results: list[live.Seen]) -> dict[str, Any]:
        """The results as the table rows they update, as few bytes as can be (the same message
        goes to every open page): each text and time once, each row's key without the site's
        address (``base``), and the rows alike in all but their key in one group: ``rows`` holds
        [status, diagnosis number, checked number, [key, …]] (the page knows each status's tag;
        a live row's first-live time is its checked time's)."""
        base = release.site.public.rstrip("/") if release.site else ""
        texts: dict[str, int] = {}
        checked: dict[dt.datetime, int] = {}
        groups: dict[tuple[str, int, int], list[str]] = {}
        for r in results:
            text = texts.setdefault(r.diagnosis, len(texts))
            at = checked.setdefault(r.checked_at, len(checked))
            key = r.key[len(base) :] if base and r.key.startswith(base + "/") else r.key
            groups.setdefault((r.status, text, at), []).append(key)
        return {
            "base": base,
            "texts": list(texts),
            "checked": [clock_time(at, zone) for at in checked],
            "first_live": [
                first_live_text(at, (at - release.release_at).total_seconds(), zone)
                for at in checked
            ],
            "rows": [[*alike, keys] for alike, keys in groups.items()],
        }

    async def holds() -> bool:
        """Whether the caller may still see the rows (their token or session, read again)."""
        now = ctx.clock.now()
        return now >= release.release_at or sees_detail(
            await principal_now(request, ctx), release, now
        )

    body = live.stream(
        ctx.feed,
        release,
        lambda: sees_detail(viewer, release, ctx.clock.now()),
        ctx.clock.now,
        rows,
        after,
        holds,
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
