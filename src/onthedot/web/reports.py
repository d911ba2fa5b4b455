"""The breach report's editor: ``/releases/{id}/report``.

The page shows the report as drafted from the record, with a form for what only people know
(``record.report.drafts.SECTIONS``) and the report's status with the buttons the viewer's role may
press (``access.REPORT_STEPS``). Saving keeps each changed section with who and when; the history
is listed. ``/releases/{id}/report.{docx,odt,html,md}`` downloads it at any time, with what people
wrote. The report is the producer's own document: shown only to a signed-in person (or a token)
whose role sees a release's detail before T, whatever the time.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onthedot.calendar.timeutil import fmt_local
from onthedot.errors import AccessError, InputError
from onthedot.model import Release
from onthedot.record import REPORT_FORMATS
from onthedot.record.report import assess, render
from onthedot.record.report.drafts import MOVES, SECTIONS, Author, Draft, Drafts, checked_text
from onthedot.record.report.model import Report, build
from onthedot.record.report.written import fill_in
from onthedot.web.access import REPORT_STEPS, Power, Principal, Viewer
from onthedot.web.context import Ctx, WebContext
from onthedot.web.pages import render as render_page
from onthedot.web.session import form_fields

router = APIRouter(include_in_schema=False)
MEDIA = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}
BUTTONS = {
    "approved": "Approve the report",
    "draft": "Return it to draft",
    "sent": "Record it sent to the regulator",
    "published": "Record it published",
}


def reader(viewer: Principal, release: Release) -> Author:
    """Who reads the report: a person or token whose role sees a release's detail."""
    if viewer.role is None or not viewer.may(Power.EMBARGOED):
        raise AccessError(
            f"The breach report of {release.id!r} is the producer's own document: sign in as "
            "someone who works on the release to read it."
        )
    return Author(viewer.name, viewer.role.value)


async def drafted(ctx: WebContext, release: Release) -> tuple[Report, Draft]:
    a = await assess(ctx.engine, release, policy=ctx.config.policy, save=False)
    zone = ctx.config.zone
    today = ctx.clock.now().astimezone(zone).date()
    draft = await Drafts(ctx.engine, ctx.clock).read(release.id)
    return fill_in(build(a, today=today, zone=zone), draft, zone), draft


@router.get("/releases/{release_id}/report", response_class=HTMLResponse)
async def editor(release_id: str, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    release = await ctx.release(release_id)
    reader(viewer, release)
    saved = request.query_params.get("saved") == "1"
    return await _page(ctx, request, viewer, release, notice="Saved." if saved else None)


async def _page(
    ctx: WebContext,
    request: Request,
    viewer: Principal,
    release: Release,
    status: int = 200,
    problem: str | None = None,
    notice: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    report, draft = await drafted(ctx, release)
    zone = ctx.config.zone
    steps = [
        (to, BUTTONS[to])
        for was, to in sorted(MOVES)
        if was == draft.status and viewer.may(REPORT_STEPS[to])
    ]
    changes = [(e.at, e.by, e.role, SECTIONS[e.section]) for e in draft.edits]
    changes += [(c.at, c.by, c.role, f"Status: {c.status}") for c in draft.changes]
    history = [
        {"when": fmt_local(at, zone), "by": f"{by} ({role})", "what": what}
        for at, by, role, what in sorted(changes, key=lambda c: c[0], reverse=True)
    ]
    return render_page(
        ctx,
        request,
        "report.html",
        status,
        viewer=viewer,
        release=release,
        report=report,
        draft=draft,
        sections=SECTIONS,
        values=values or draft.written,
        writes=viewer.may(Power.WRITE_REPORT) and draft.status == "draft",
        steps=steps,
        history=history,
        formats=REPORT_FORMATS,
        problem=problem,
        notice=notice,
        refreshes=False,
        today=ctx.clock.now().astimezone(zone).date().isoformat(),
    )


@router.post("/releases/{release_id}/report", response_class=HTMLResponse)
async def save(release_id: str, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    release = await ctx.release(release_id)
    who = reader(viewer, release)
    if not viewer.may(Power.WRITE_REPORT):
        raise AccessError(
            "Only a statistician or the Head of Profession writes the breach report: ask one "
            "of them, or sign in as one."
        )
    fields = await form_fields(request)
    values = {key: (fields.get(key) or [""])[0] for key in SECTIONS if key in fields}
    drafts = Drafts(ctx.engine, ctx.clock)
    try:
        for section, text in values.items():  # every field checked before any is kept
            checked_text(section, text)
        for section, text in values.items():
            await drafts.write(release.id, section, text, who)
    except InputError as exc:
        return await _page(ctx, request, viewer, release, 422, problem=str(exc), values=values)
    finally:
        ctx.answers.forget()  # (sections written before one refused are stored: on the timeline)
    return RedirectResponse(f"/releases/{release.id}/report?saved=1", status_code=303)


@router.post("/releases/{release_id}/report/status", response_class=HTMLResponse)
async def move(release_id: str, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    release = await ctx.release(release_id)
    who = reader(viewer, release)
    fields = await form_fields(request)
    status = (fields.get("status") or [""])[0]
    if status not in REPORT_STEPS:
        raise InputError(f"{status!r} is not a status: use one of {', '.join(REPORT_STEPS)}.")
    if not viewer.may(REPORT_STEPS[status]):
        raise AccessError(_who_may(status))
    try:
        today = ctx.clock.now().astimezone(ctx.config.zone).date()
        sent_on = _day((fields.get("sent_on") or [""])[0], today) if status == "sent" else None
        await Drafts(ctx.engine, ctx.clock).move(release.id, status, who, sent_on)
    except InputError as exc:
        return await _page(ctx, request, viewer, release, 422, problem=str(exc))
    ctx.answers.forget()
    return RedirectResponse(f"/releases/{release.id}/report", status_code=303)


@router.get("/releases/{release_id}/report.{fmt}")
async def download(release_id: str, fmt: str, ctx: Ctx, viewer: Viewer) -> Response:
    release = await ctx.release(release_id)
    reader(viewer, release)
    if fmt not in REPORT_FORMATS:
        raise InputError(f"{fmt!r} is not a report format: use one of {', '.join(REPORT_FORMATS)}.")
    report, _ = await drafted(ctx, release)
    name = f"breach-report-{release.id}.{fmt}"
    return Response(
        render(report, fmt),
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _who_may(status: str) -> str:
    if REPORT_STEPS[status] is Power.PUBLISH_REPORT:
        return "Only the Head of Profession or the publishing team records the report published."
    return (
        "Only the Head of Profession approves the report, returns it to draft or records it "
        "sent: ask them to sign in and do it."
    )


def _day(value: str, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"Date sent to the regulator: {value[:20]!r} is not a date: write it as YYYY-MM-DD."
        ) from None
    if day > today:
        raise InputError(
            f"Date sent to the regulator: {day.isoformat()} is after today: record the report "
            "sent once it has been."
        )
    return day
