"""Settings: ``/settings`` and ``/api/settings``, a read-only view of ``onthedot.toml`` as the
service read it, every secret masked. To a signed-in person or a token whose role may see the
settings only (``access.Power.SETTINGS``: admin): the configuration names the service's servers,
which the public need not know, and holds the gates' messages of releases not yet out. Anyone
else signed in is refused (403); the page asks the public to sign in.

Masked: every address with its password, its secret query values and (for alert addresses,
whose path can be the secret: a webhook) its secret parts, as Apprise prints them, the
database URL's password, and every value whose key names a secret (tokens, keys, passwords).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from onthedot.adapters import MASK, SECRET_WORDS, mask_secrets
from onthedot.errors import AccessError, AdapterURLError
from onthedot.respond.channels import channel, masked
from onthedot.web.access import Power, Principal, Viewer
from onthedot.web.context import Ctx, WebContext
from onthedot.web.pages import render

router = APIRouter(tags=["settings"])
page_router = APIRouter(include_in_schema=False)

SECRET_KEYS = SECRET_WORDS | {"agents", "secret", "key", "token", "tokens"}
ALERT_TABLES = {"notify", "gates"}  # addresses whose path may be the secret


def alert_address(url: str) -> str:
    """An alert address as Apprise prints it with privacy (a webhook's secret path parts too)."""
    try:
        return channel("settings", 0, url).masked
    except AdapterURLError:
        return masked(url)


def shown(value: Any, key: str = "", alert: bool = False) -> Any:
    """``value`` (the JSON of a setting) with its secrets masked, recursively."""
    if isinstance(value, dict):
        if key in SECRET_KEYS:
            return {k: MASK for k in value}
        return {k: shown(v, k, alert or k in ALERT_TABLES) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v, key, alert) for v in value]
    if isinstance(value, str):
        if key.lower() in SECRET_KEYS and value:
            return MASK
        if "://" in value:
            return alert_address(value) if alert else mask_secrets(value)
    return value


def settings_of(ctx: WebContext) -> dict[str, Any]:
    data = ctx.config.model_dump(mode="json", exclude={"path"})
    out: dict[str, Any] = shown(data)
    out["file"] = str(ctx.config.path) if ctx.config.path else None
    return out


def may_see(viewer: Principal) -> bool:
    """Whether ``viewer`` may see the settings; refused (403) if signed in without the power."""
    if viewer.role is None:
        return False
    if not viewer.may(Power.SETTINGS):
        raise AccessError(
            f"The settings are shown to administrators and IT only, and {viewer.name!r} (role "
            f"{viewer.role}) is neither: ask the service's administrator."
        )
    return True


@page_router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    values = settings_of(ctx) if may_see(viewer) else None
    tables = (
        []
        if values is None
        else [(name, value) for name, value in values.items() if isinstance(value, dict)]
    )
    plain = (
        []
        if values is None
        else [(name, value) for name, value in values.items() if not isinstance(value, dict)]
    )
    return render(
        ctx, request, "settings.html", viewer=viewer, tables=tables, plain=plain, shown=values
    )


@router.get("/api/settings")
async def settings_json(ctx: Ctx, viewer: Viewer) -> dict[str, Any]:
    """The configuration the service runs with, every secret masked (administrators and IT only)."""
    if not may_see(viewer):
        raise AccessError(
            "The settings are shown to administrators and IT only: send such a token "
            "(Authorization: Bearer TOKEN) or sign in."
        )
    return settings_of(ctx)
