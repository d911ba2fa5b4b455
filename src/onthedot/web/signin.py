"""People sign in on the dashboard with their token (``onthedot token add NAME --role ROLE``).

``POST /sign-in`` takes the token from a form and keeps it in a cookie the browser sends back
only to this site, only from this site's own pages (``SameSite=Strict``), never to scripts
(``HttpOnly``), and only over HTTPS when the page was (``Secure``); a form posted from another
site is refused (its ``Origin``). ``POST /sign-out`` forgets it.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onthedot.errors import AccessError, TokenError
from onthedot.web.access import SESSION_COOKIE, Viewer, token_principal
from onthedot.web.context import Ctx
from onthedot.web.pages import render

router = APIRouter(include_in_schema=False)
SESSION_S = 12 * 3600  # a working day; signing in again is one paste
FORM = "application/x-www-form-urlencoded"


def same_site(request: Request) -> None:
    """A form posted from another site's page (login CSRF) is refused."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    fetched = request.headers.get("sec-fetch-site", "same-origin")
    if (origin not in (None, own)) or fetched not in ("same-origin", "none"):
        raise AccessError(
            "This form was sent from another site: sign in on onthedot's own sign-in page."
        )


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    return render(ctx, request, "sign_in.html", viewer=viewer, problem=None)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    same_site(request)
    fields = {}
    if request.headers.get("content-type", "").split(";")[0].strip() == FORM:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0].strip()
    try:
        if not token:
            raise TokenError("No token was given: paste the token you were given.")
        await token_principal(ctx, token)
    except TokenError as exc:
        return render(ctx, request, "sign_in.html", 401, viewer=viewer, problem=str(exc))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    same_site(request)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
