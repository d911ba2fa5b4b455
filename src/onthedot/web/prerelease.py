"""Pre-release links: ``/pre-release/{release}/{link}`` lists the staged files, and
``/pre-release/{release}/{link}/{path}`` serves one, exactly the staged bytes.

The link is its own credential (``access.Access.SIGNED``): its signature is checked before the
store or the target is read (``publish.prerelease.Desk``). Every refusal is answered 403 with one
sentence and logged here; a genuine link's refusal is recorded on the timeline too, and every
file served is recorded (who, when, what file) before its first byte is sent. Nothing here is
cached or indexed, and the page sends no referrer, so the link does not travel further.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from onthedot.calendar.timeutil import fmt_local
from onthedot.errors import OnthedotError
from onthedot.publish.prerelease import Admitted, Desk
from onthedot.publish.prerelease_links import PREFIX, LinkKey, key_path
from onthedot.web.context import Ctx, WebContext
from onthedot.web.pages import render
from onthedot.web.private import PRE_RELEASE

log = logging.getLogger("onthedot.prerelease")
router = APIRouter(prefix=PREFIX, include_in_schema=False)
PRIVATE = PRE_RELEASE  # (its refusals get them from ``web.private``)


def desk(ctx: WebContext) -> Desk:
    key = LinkKey(key_path(ctx.config.evidence, ctx.config.root))
    return Desk(ctx.engine, key, ctx.config.policy, ctx.release)


async def _admit(
    ctx: WebContext, request: Request, release_id: str, link: str, path: str | None
) -> Admitted:
    try:
        return await desk(ctx).admit(release_id, link, ctx.clock.now(), path)
    except OnthedotError as exc:
        client = request.client.host if request.client else "unknown"
        log.warning("pre-release link refused: %s %s from %s: %s", release_id, path, client, exc)
        raise


@router.get("/{release_id}/{link}")
async def files(release_id: str, link: str, request: Request, ctx: Ctx) -> Response:
    """The staged files the link opens, each a link to its bytes."""
    admitted = await _admit(ctx, request, release_id, link, None)
    release = admitted.release
    page = render(
        ctx,
        request,
        "prerelease.html",
        release=release,
        grant=admitted.grant,
        files=admitted.files,
        until=fmt_local(admitted.grant.expires_at, ctx.config.zone),
        base=f"{PREFIX}/{release_id}/{link}",
    )
    page.headers.update(PRIVATE)
    return page


@router.get("/{release_id}/{link}/{path:path}")
async def staged_file(
    release_id: str, link: str, path: str, request: Request, ctx: Ctx
) -> Response:
    """One staged file, exactly the staged bytes; recorded as opened before it is sent."""
    admitted = await _admit(ctx, request, release_id, link, "/" + path)
    try:
        item, chunks = await desk(ctx).open(admitted, "/" + path, ctx.clock.now())
    except OnthedotError as exc:
        log.warning("pre-release file refused: %s /%s: %s", release_id, path, exc)
        raise
    name = posixpath.basename(item.path)
    headers = {
        **PRIVATE,
        "Content-Length": str(item.size),
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
    }
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return StreamingResponse(chunks, media_type=kind, headers=headers)
