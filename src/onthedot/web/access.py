"""Who may see what: the one rule of the dashboard and the API.

What is public information is public: the calendar — a release's id, title, producer, release
time and announced time — and, from its release time T, everything about it. Everything derived
from the embargoed content (the artefacts' paths, hashes and sizes, the text a page is checked
for, results and their diagnoses, the timeline with its staged copies) is shown before T only to
a signed-in person or a token whose role needs it:

    role                 before T                 /metrics  breach report
    statistician         every release's detail   no        write
    head_of_profession   every release's detail   no        write, approve, send, publish
    publishing           every release's detail   no        publish
    it                   every release's detail   yes       -
    (these four, and admin, see and acknowledge incidents)
    read   (automation)  every release's detail   no        -
    metrics (automation) the calendar only        yes       -
    admin                everything, the settings and the accounts
    anyone else          the calendar only        no        -

People sign in with an account (``onthedot account add``; ``ACCOUNT_ROLES`` maps its role, in the
words people use, onto this table), a token, or single sign-on (``[oidc]``; ``web.oidc``). A
state-changing request that does not carry a bearer token must carry the form's CSRF token
(``web.session``): ``guard`` refuses it otherwise.

A pre-release link (``onthedot prerelease grant``) opens one release's staged files to one person,
inside the pre-release window only; the link is its own credential (``web.prerelease``).

A remote probe agent (its own token, ``[web] agents``) sees only the releases its site names
(``[site] agents``), only from ``agents_before_s`` before T to ``agents_after_s`` after.

``ROUTES`` declares every route of the app; a route missing from it is refused (and a test fails).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

from onthedot.errors import AccessError, TokenError
from onthedot.model import Release
from onthedot.settings import WebSettings
from onthedot.store.accounts import Accounts
from onthedot.store.sessions import Sessions
from onthedot.store.tokens import AccessTokens
from onthedot.web.context import Ctx, WebContext
from onthedot.web.session import SESSION_COOKIE, check_csrf


class Role(enum.StrEnum):
    STATISTICIAN = "statistician"
    HEAD_OF_PROFESSION = "head_of_profession"
    PUBLISHING = "publishing"
    IT = "it"
    READ = "read"
    METRICS = "metrics"
    ADMIN = "admin"


class Power(enum.StrEnum):
    EMBARGOED = "see a release's detail before its release time"
    METRICS = "read /metrics"
    WRITE_REPORT = "write the sections of a breach report"
    APPROVE_REPORT = "approve a breach report, return it to draft, record it sent"
    PUBLISH_REPORT = "record a breach report published"
    INCIDENTS = "see and acknowledge incidents"
    SETTINGS = "see the settings"
    ACCOUNTS = "manage the accounts"


_ON_CALL = frozenset({Power.EMBARGOED, Power.INCIDENTS})  # the four roles alerts go to

POWERS: dict[Role, frozenset[Power]] = {
    Role.STATISTICIAN: _ON_CALL | {Power.WRITE_REPORT},
    Role.HEAD_OF_PROFESSION: _ON_CALL
    | {Power.WRITE_REPORT, Power.APPROVE_REPORT, Power.PUBLISH_REPORT},
    Role.PUBLISHING: _ON_CALL | {Power.PUBLISH_REPORT},
    Role.IT: _ON_CALL | {Power.METRICS, Power.SETTINGS},
    Role.READ: frozenset({Power.EMBARGOED}),
    Role.METRICS: frozenset({Power.METRICS}),
    Role.ADMIN: frozenset(Power),
}

ACCOUNT_ROLES: dict[str, Role] = {
    "viewer": Role.READ,
    "statistician": Role.STATISTICIAN,
    "head-of-profession": Role.HEAD_OF_PROFESSION,
    "publisher": Role.PUBLISHING,
    "it": Role.IT,
    "admin": Role.ADMIN,
}
"""A person's role, in the words people use (accounts, single sign-on), onto the table above."""

REPORT_STEPS: dict[str, Power] = {
    "approved": Power.APPROVE_REPORT,
    "draft": Power.APPROVE_REPORT,  # an approved report back to draft
    "sent": Power.APPROVE_REPORT,
    "published": Power.PUBLISH_REPORT,
}
"""Who may move a breach report to each status (``record.report.drafts.MOVES`` says from where)."""


class Access(enum.StrEnum):
    PUBLIC = "public"  # the same for everyone, naming nothing embargoed
    RELEASE = "release"  # the calendar for everyone; detail from T, or before T with the power
    METRICS = "metrics"  # a token with the metrics power
    AGENT = "agent"  # a remote probe agent's token (checked before the body is read)
    SIGNED = "signed"  # a signed, expiring link is its own credential, checked before anything
    # is read (an alert's acknowledgement link: respond.links; a pre-release link: web.prerelease)
    REPORT = "report"  # the producer's own document: a role with the EMBARGOED power, at any
    # time; writing and moving its status need their powers (web.reports)


ROUTES: dict[str, Access] = {
    "/api/openapi.json": Access.PUBLIC,
    "/api/health": Access.PUBLIC,
    "/api/health/live": Access.PUBLIC,
    "/api/health/ready": Access.PUBLIC,
    "/static": Access.PUBLIC,
    "/sign-in": Access.PUBLIC,
    "/sign-out": Access.PUBLIC,
    "/sign-in/oidc": Access.PUBLIC,
    "/sign-in/oidc/callback": Access.PUBLIC,
    "/api/releases": Access.RELEASE,
    "/api/releases/{release_id}": Access.RELEASE,
    "/api/releases/{release_id}/timeline": Access.RELEASE,
    "/": Access.RELEASE,
    "/releases/{release_id}": Access.RELEASE,
    "/releases/{release_id}/report": Access.REPORT,
    "/releases/{release_id}/report/status": Access.REPORT,
    "/releases/{release_id}/report.{fmt}": Access.REPORT,
    "/releases/{release_id}/live": Access.RELEASE,  # nothing but the word that T came, before T
    "/api/releases/{release_id}/go-live": Access.RELEASE,
    "/api/releases/{release_id}/artefacts": Access.RELEASE,  # refused (and logged) before T
    "/calendar": Access.PUBLIC,
    "/calendar.ics": Access.PUBLIC,
    "/api/calendar": Access.PUBLIC,
    "/register": Access.RELEASE,  # breaches of releases before their T: only with the power
    "/register.csv": Access.RELEASE,
    "/api/register": Access.RELEASE,
    "/settings": Access.RELEASE,  # administrators and IT only (Power.SETTINGS: web.settings_page)
    "/api/settings": Access.RELEASE,
    "/api/incidents": Access.RELEASE,
    "/metrics": Access.METRICS,
    "/api/agent/assignments": Access.AGENT,
    "/api/agent/results": Access.AGENT,
    "/incidents": Access.RELEASE,  # shown to the four roles of [notify] and admin (INCIDENTS)
    "/incidents/{incident_id}/ack": Access.RELEASE,  # a signed-in person of those roles
    "/incidents/{incident_id}/ack-link": Access.SIGNED,
    "/pre-release/{release_id}/{link}": Access.SIGNED,
    "/pre-release/{release_id}/{link}/{path:path}": Access.SIGNED,
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a token's name and role, or anonymous (``role`` None)."""

    name: str
    role: Role | None = None

    def may(self, power: Power) -> bool:
        return self.role is not None and power in POWERS[self.role]


ANONYMOUS = Principal("anonymous")


def sees_detail(principal: Principal, release: Release, now: dt.datetime) -> bool:
    """The rule: a release's detail is public from T, and before T shown only with the power."""
    return now >= release.release_at or principal.may(Power.EMBARGOED)


STAGED_NAMES = frozenset({"location"})
"""The keys of a timeline event's data that name a staged copy on the publishing target."""


def without_staged_names(data: object) -> object:
    """An event's ``data`` with every staged copy's name left out (``STAGED_NAMES``, at any
    depth), for a viewer who may not see a release's detail before its time. Such a name stays
    a way in: a copy not yet flipped (another instance's clock a little ahead of the leader's),
    or a draft replaced before T whose copy could not be removed."""
    if isinstance(data, dict):
        return {k: without_staged_names(v) for k, v in data.items() if k not in STAGED_NAMES}
    if isinstance(data, list):
        return [without_staged_names(v) for v in data]
    return data


def agent_assigned(
    agent: str, release: Release, now: dt.datetime, web: WebSettings, grace_s: float = 0.0
) -> bool:
    """A remote agent probes a release only if its site names the agent, and only inside
    [T − agents_before_s, T + agents_after_s] (``grace_s`` longer, for results in flight)."""
    if release.site is None or agent not in release.site.agents:
        return False
    start = release.release_at - dt.timedelta(seconds=web.agents_before_s)
    end = release.release_at + dt.timedelta(seconds=web.agents_after_s + grace_s)
    return start <= now <= end


def undeclared(routes: list[BaseRoute]) -> list[str]:
    """The paths of ``routes`` (an app's, its included routers' too) that ``ROUTES`` does not
    declare."""
    return [r.path or "" for r in iter_route_contexts(routes) if r.path not in ROUTES]


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def principal(request: Request, ctx: Ctx) -> Principal:
    """The caller: a bearer token (refused with 401 if unknown, revoked or expired), else the
    dashboard's session (ignored if it has ended or its account, token or role no longer
    holds), else anonymous."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    found = await _credential(request, ctx)
    request.state.principal = found
    return found


async def _credential(request: Request, ctx: WebContext) -> Principal:
    token = bearer(request)
    if token is not None:
        return await token_principal(ctx, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    return await session_principal(ctx, cookie) if cookie else ANONYMOUS


async def principal_now(request: Request, ctx: WebContext) -> Principal:
    """The caller as their credential holds now, read again (a long answer, the live stream,
    asks while it runs): anonymous once their token is revoked or expired, or their session has
    ended."""
    try:
        return await _credential(request, ctx)
    except TokenError:
        return ANONYMOUS


async def session_principal(ctx: WebContext, session_id: str) -> Principal:
    """Whoever signed in with this session, as they are now: an account's current role (a
    disabled account: anonymous), a token still usable, single sign-on as it said."""
    now = ctx.clock.now()
    session = await Sessions(ctx.engine).find(session_id, now)
    if session is None:
        return ANONYMOUS
    if session.how == "password":
        account = await Accounts(ctx.engine).get(session.credential)
        if account is None or not account.enabled or account.role not in ACCOUNT_ROLES:
            return ANONYMOUS
        return Principal(account.name, ACCOUNT_ROLES[account.role])
    if session.how == "token":
        token = await AccessTokens(ctx.engine).find_digest(session.credential)
        if token is None or not token.usable(now) or token.role not in Role.__members__.values():
            return ANONYMOUS
        return Principal(token.name, Role(token.role))
    return Principal(session.name, Role(session.role))


async def token_principal(ctx: Ctx, token: str) -> Principal:
    found = await AccessTokens(ctx.engine).find(token)
    if found is None or found.role not in Role.__members__.values():
        raise TokenError(
            "The server does not know this token: ask the service's administrator for one "
            "(`onthedot token add NAME --role ROLE`)."
        )
    if not found.usable(ctx.clock.now()):
        state = "was revoked" if found.revoked_at is not None else "has expired"
        raise TokenError(
            f"The token of {found.name!r} {state}: ask the service's administrator for a new "
            "one (`onthedot token add`)."
        )
    return Principal(found.name, Role(found.role))


Viewer = Annotated[Principal, Depends(principal)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def guard(request: Request, ctx: Ctx) -> None:
    """Every API route and page: refused unless ``ROUTES`` declares it; a post without a bearer
    token needs its form's CSRF token; /metrics needs its power. (A change a page shows drops the
    answers kept in the handler that stored it, once it is allowed and stored: ``web.answers``.)"""
    route = request.scope.get("route")
    access = ROUTES.get(getattr(route, "path", ""))
    if access is None:
        raise AccessError(f"{request.url.path} is not open to anyone: declare it in ROUTES.")
    if request.method not in SAFE_METHODS and access is not Access.AGENT and not bearer(request):
        await check_csrf(request, ctx.form_key)
    if access is not Access.METRICS:
        return
    viewer = await principal(request, ctx)
    if viewer is ANONYMOUS:
        raise TokenError(
            "No token was sent: /metrics needs a token of role 'metrics' or 'it' "
            "(Authorization: Bearer TOKEN)."
        )
    if not viewer.may(Power.METRICS):
        raise AccessError(
            f"The token of {viewer.name!r} (role {viewer.role}) may not read /metrics: scrape it "
            "with a token of role 'metrics' or 'it'."
        )
