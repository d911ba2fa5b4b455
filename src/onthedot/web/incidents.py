"""The incidents on the dashboard, and acknowledging one: signed in (``POST
/incidents/{id}/ack``) or through the signed link in an alert (``/incidents/{id}/ack-link``).

The link is its own credential (``respond.links``): opening it shows one button (mail programs
open links to preview them, so a GET changes nothing); pressing it acknowledges. A forged or
expired link is refused (403) and the refusal recorded on the release's timeline.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onthedot import logs
from onthedot.errors import AccessError, InputError
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.channels import ROLE_WORDS
from onthedot.respond.incidents import IncidentBook
from onthedot.respond.links import Link, link_key
from onthedot.web.access import Power, Viewer
from onthedot.web.context import Ctx, WebContext
from onthedot.web.pages import render
from onthedot.web.session import form_fields
from onthedot.web.signin import same_site

router = APIRouter(include_in_schema=False)
log = logs.get_logger("onthedot.web.incidents")


@router.get("/incidents", response_class=HTMLResponse)
async def incidents_page(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    shown = viewer.may(Power.INCIDENTS)
    found = await IncidentBook(ctx.engine).listed() if shown else []
    return render(ctx, request, "incidents.html", viewer=viewer, incidents=found, shown=shown)


@router.post("/incidents/{incident_id}/ack")
async def acknowledge(incident_id: int, request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    same_site(request)
    if not viewer.may(Power.INCIDENTS):
        raise AccessError(
            "Only a signed-in statistician, Head of Profession, publishing or IT person may "
            "acknowledge an incident: sign in first."
        )
    book = IncidentBook(ctx.engine)
    await book.acknowledge(incident_id, viewer.name, "dashboard", ctx.clock.now())
    ctx.answers.forget()  # (once stored: no page made before it is given after it)
    back = (await _form(request)).get("back", "")
    return RedirectResponse(back if _BACK.fullmatch(back) else "/incidents", status_code=303)


_BACK = re.compile(r"/releases/[A-Za-z0-9._-]+")
"""Where a button may send the person back to: a release page of this site, nothing else."""


async def _form(request: Request) -> dict[str, str]:
    """The first value of each field of a posted form (none unless it is a form)."""
    return {k: v[0] for k, v in (await form_fields(request)).items() if v}


@router.get("/incidents/{incident_id}/ack-link", response_class=HTMLResponse)
async def link_page(
    incident_id: int, role: str, expires: str, sig: str, request: Request, ctx: Ctx
) -> Response:
    link = await _checked(ctx, incident_id, role, expires, sig)
    incident = await IncidentBook(ctx.engine).get(incident_id)
    return render(ctx, request, "ack_link.html", incident=incident, link=link, sig=sig, done=False)


@router.post("/incidents/{incident_id}/ack-link", response_class=HTMLResponse)
async def link_acknowledge(incident_id: int, request: Request, ctx: Ctx) -> Response:
    same_site(request)
    fields = await _form(request)
    role, expires, sig = (fields.get(k, "") for k in ("role", "expires", "sig"))
    link = await _checked(ctx, incident_id, role, expires, sig)
    by = f"the {ROLE_WORDS.get(link.role, link.role)} (from the alert's link)"
    book = IncidentBook(ctx.engine)
    incident = await book.acknowledge(incident_id, by, "link", ctx.clock.now())
    ctx.answers.forget()
    return render(ctx, request, "ack_link.html", incident=incident, link=link, sig=sig, done=True)


async def _checked(ctx: WebContext, incident_id: int, role: str, expires: str, sig: str) -> Link:
    """The link's grant; a forged or expired link is refused, logged and recorded."""
    key = link_key(ctx.config.notify, ctx.config.root)
    try:
        return key.check(incident_id, role, expires, sig, ctx.clock.now())
    except AccessError as exc:
        log.warning("ack link refused", incident=incident_id, why=str(exc))
        await _record_refusal(ctx, incident_id, str(exc))
        raise


async def _record_refusal(ctx: WebContext, incident_id: int, why: str) -> None:
    try:
        incident = await IncidentBook(ctx.engine).get(incident_id)
    except InputError:
        return  # no such incident: the log has it
    data = {"incident": incident_id, "why": why}
    await Timeline(ctx.engine).append(
        incident.release_id, kinds.ALERT_LINK_REFUSED, data, at=ctx.clock.now(), source="link"
    )
