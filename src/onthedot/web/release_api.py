"""The API beside the release pages: a release's go-live curve and its artefacts (paths and
hashes: refused, and the refusal logged, before T to a caller who may not see them), and the
incidents (``onthedot incidents --json``'s data)."""

from __future__ import annotations

from fastapi import APIRouter

from onthedot.errors import AccessError
from onthedot.record import golive
from onthedot.respond.incidents import IncidentBook
from onthedot.settings import NOTIFY_ROLES
from onthedot.web.access import Viewer
from onthedot.web.api import REFUSALS, artefacts_out
from onthedot.web.context import Ctx
from onthedot.web.release import curve_of, refuse_before_t
from onthedot.web.schemas import ArtefactOut, GoLiveOut, IncidentOut, IncidentsOut, PointOut

router = APIRouter(prefix="/api", tags=["releases"])


@router.get("/releases/{release_id}/go-live", response_model=GoLiveOut, responses=REFUSALS)
async def go_live(release_id: str, ctx: Ctx, viewer: Viewer) -> GoLiveOut:
    """The go-live curve the release page draws (403 before T to a caller who may not see it)."""
    release = await ctx.release(release_id)
    refuse_before_t(viewer, release, "go-live curve", ctx)
    drawn = await curve_of(ctx, release)
    return GoLiveOut(
        release=release.id,
        start=drawn.start,
        end=drawn.end,
        places=drawn.places,
        live_at=drawn.live_at,
        points=[PointOut(at=p.at, share=p.share) for p in drawn.points],
        sentence=golive.sentence(drawn, ctx.config.zone),
    )


@router.get(
    "/releases/{release_id}/artefacts", response_model=list[ArtefactOut], responses=REFUSALS
)
async def artefacts(release_id: str, ctx: Ctx, viewer: Viewer) -> list[ArtefactOut]:
    """The release's files with their expected SHA-256 (403, logged, before T to a caller who
    may not see them)."""
    release = await ctx.release(release_id)
    refuse_before_t(viewer, release, "files and their hashes", ctx)
    return artefacts_out(release)


@router.get("/incidents", response_model=IncidentsOut, responses=REFUSALS)
async def incidents(ctx: Ctx, viewer: Viewer, everything: bool = False) -> IncidentsOut:
    """``onthedot incidents --json``: the open and acknowledged incidents (``everything``:
    resolved and closed ones too), to the
    four roles alerted about them (who may all see a release's detail before T)."""
    if viewer.role is None or viewer.role.value not in NOTIFY_ROLES:
        raise AccessError(
            "Incidents are shown to the statistician, the Head of Profession, publishing and IT: "
            "send a token of one of those roles."
        )
    found = await IncidentBook(ctx.engine).listed(everything=everything)
    return IncidentsOut(incidents=[IncidentOut.model_validate(i.as_json()) for i in found])
