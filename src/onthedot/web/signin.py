"""People sign in on the dashboard: with their account (a name and password,
``onthedot account add``), with a token (``onthedot token add``), or by single sign-on
(``web.oidc``).

``POST /sign-in`` opens a new server-side session (``store.sessions``) and hands the browser its
id in the session cookie (``web.session``); ``POST /sign-out`` ends it. A form posted from another
site is refused (its ``Origin``), and every form carries its CSRF token (``web.access.guard``).
Failed sign-ins are counted per name and per address (``web.attempts``): too many, and the
sign-in is refused until the minute it says.
"""

from __future__ import annotations

import datetime as dt
import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onthedot.errors import AccessError, TokenError
from onthedot.store.accounts import Accounts
from onthedot.store.sessions import Sessions
from onthedot.store.tokens import digest
from onthedot.web import session
from onthedot.web.access import ACCOUNT_ROLES, Principal, Role, Viewer, token_principal
from onthedot.web.context import Ctx, WebContext
from onthedot.web.pages import render
from onthedot.web.session import FORM, SESSION_COOKIE, SESSION_S, form_fields

__all__ = ["FORM", "open_session", "router", "same_site"]

router = APIRouter(include_in_schema=False)
WRONG = "The name or the password is not right: check both and try again."


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
    return _page(ctx, request, viewer)


def _page(
    ctx: WebContext, request: Request, viewer: Principal, status: int = 200, **problem: str
) -> Response:
    return render(
        ctx,
        request,
        "sign_in.html",
        status,
        viewer=viewer,
        problem=problem.get("problem"),
        token_problem=problem.get("token_problem"),
        typed_name=problem.get("name", ""),
        sso=ctx.config.oidc.issuer is not None,
        refreshes=False,  # (a page that reloads itself would lose what is being typed)
    )


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, ctx: Ctx, viewer: Viewer) -> Response:
    same_site(request)
    fields = {k: v[0].strip() for k, v in (await form_fields(request)).items() if v}
    if "token" in fields:
        return await _with_token(ctx, request, viewer, fields["token"])
    name, password = fields.get("name", ""), fields.get("password", "")
    address = request.client.host if request.client else "unknown"
    now = ctx.clock.now()
    until = ctx.sign_ins.blocked_until(name, address, now)
    if until is not None:
        problem = f"Too many attempts: try again at {_minute(until, ctx)}."
        return _page(ctx, request, viewer, 429, problem=problem, name=name)
    account = await Accounts(ctx.engine).check(name, password) if name and password else None
    if account is None or account.role not in ACCOUNT_ROLES:
        ctx.sign_ins.failed(name, address, now)
        problem = WRONG if name and password else "Give your name and your password."
        return _page(ctx, request, viewer, 401, problem=problem, name=name)
    ctx.sign_ins.succeeded(name)
    role = ACCOUNT_ROLES[account.role]
    return await open_session(ctx, request, (account.name, role.value), "password", account.name)


async def _with_token(ctx: WebContext, request: Request, viewer: Principal, token: str) -> Response:
    try:
        if not token:
            raise TokenError("No token was given: paste the token you were given.")
        found = await token_principal(ctx, token)
    except TokenError as exc:
        return _page(ctx, request, viewer, 401, token_problem=str(exc))
    assert found.role is not None
    return await open_session(ctx, request, (found.name, found.role.value), "token", digest(token))


async def open_session(
    ctx: WebContext,
    request: Request,
    who: tuple[str, str],
    how: str,
    credential: str,
    landing: str = "redirect",
) -> Response:
    """A new session (a new id at every sign-in; the one before it ends) and the way home: a
    redirect, or (``landing="page"``, after another site's redirect, which a browser does not
    follow with a ``SameSite=Strict`` cookie) a page that moves on to the board by itself."""
    old = request.cookies.get(SESSION_COOKIE)
    sessions = Sessions(ctx.engine)
    if old:
        await sessions.close(old)
    made = await sessions.open(who, how, credential, ctx.clock.now(), SESSION_S)
    if landing == "page":
        signed = Principal(who[0], Role(who[1]))
        response = render(ctx, request, "signed_in.html", viewer=signed, refreshes=False)
    else:
        response = RedirectResponse("/", status_code=303)
    session.start(request, response, made)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, ctx: Ctx) -> Response:
    same_site(request)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await Sessions(ctx.engine).close(old)
    response = RedirectResponse("/", status_code=303)
    session.end(request, response)
    return response


def _minute(until: dt.datetime, ctx: WebContext) -> str:
    """The minute from which one may try again (rounded up), on the site's clock."""
    local = until.astimezone(ctx.config.zone)
    seconds = local.second + local.microsecond / 1e6
    rounded = local + dt.timedelta(seconds=math.ceil(seconds / 60) * 60 - seconds)
    return f"{rounded:%H:%M}"
