"""Single sign-on through an OpenID Connect provider (``[oidc]``): ``/sign-in/oidc`` and its
callback.

``GET /sign-in/oidc`` reads the provider's discovery document, and sends the browser to its
authorization endpoint with a fresh ``state``, ``nonce`` and PKCE challenge (authlib), kept in a
short-lived cookie signed by the service (``SameSite=Lax``: it must come back with the
provider's redirect). The callback checks the state, exchanges the code at the token endpoint
(with the client secret and the PKCE verifier), and checks the ID token (joserfc): signed by a
key of the provider's JWKS, from the issuer, for this client, not expired, with the nonce. The
person's name is ``name_claim``; their role the first entry of ``roles`` their ``role_claim``
holds; someone whose claim maps to no role is not signed in. The session that follows is the
dashboard's own (``web.signin.open_session``). Any failure is one plain sentence (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from onthedot.errors import AccessError
from onthedot.settings import OidcSettings
from onthedot.web.access import ACCOUNT_ROLES
from onthedot.web.context import Ctx, WebContext
from onthedot.web.signin import open_session

router = APIRouter(include_in_schema=False)
FLOW_COOKIE = "onthedot_sso"
FLOW_S = 600  # the time a person has to sign in at the provider
TIMEOUT_S = 10.0
ALGORITHMS = ["RS256", "PS256", "ES256"]
CALLBACK = "/sign-in/oidc/callback"


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _fault(detail: str) -> AccessError:
    return AccessError(
        f"Single sign-on did not work ({detail}): try again, or sign in with the account "
        "onthedot's administrator gave you."
    )


async def _fetch(url: str, form: dict[str, str] | None = None, basic: str = "") -> Any:
    """JSON from ``url`` (a POST of ``form``, with HTTP Basic ``basic``, if given), or
    AccessError saying what failed."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    headers = {"Authorization": f"Basic {basic}"} if basic else {}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            call = http.post(url, data=form, headers=headers) if form else http.get(url)
            async with call as answer:
                body = await answer.read()
                if answer.status != 200:
                    raise _fault(f"the identity provider answered {answer.status} at {url}")
                return json.loads(body)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise _fault(
            f"the identity provider could not be read at {url}: {type(exc).__name__}"
        ) from None


async def discover(settings: OidcSettings) -> Provider:
    assert settings.issuer is not None
    found = await _fetch(f"{settings.issuer}/.well-known/openid-configuration")
    try:
        provider = Provider(
            str(found["issuer"]).rstrip("/"),
            str(found["authorization_endpoint"]),
            str(found["token_endpoint"]),
            str(found["jwks_uri"]),
        )
    except (KeyError, TypeError):
        raise _fault("the provider's discovery document lacks an endpoint") from None
    if provider.issuer != settings.issuer:
        raise _fault(f"the provider calls itself {provider.issuer}, not {settings.issuer}")
    return provider


def _sign(key: bytes, flow: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
    return f"{body}.{hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}"


def _unsign(key: bytes, value: str) -> dict[str, Any]:
    body, _, mac = value.rpartition(".")
    good = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac.encode(), good.encode()):
        raise _fault("this browser did not start the sign-in here")
    flow: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body))
    if flow["until"] < time.time():
        raise _fault("the sign-in took longer than 10 minutes")
    return flow


def _settings(ctx: WebContext) -> OidcSettings:
    if ctx.config.oidc.issuer is None:
        raise AccessError("Single sign-on is not set up here: sign in with your onthedot account.")
    return ctx.config.oidc


@router.get("/sign-in/oidc")
async def start(request: Request, ctx: Ctx) -> Response:
    settings = _settings(ctx)
    provider = await discover(settings)
    flow = {
        "state": generate_token(32),
        "nonce": generate_token(32),
        "verifier": generate_token(64),
        "until": time.time() + FLOW_S,
    }
    url = prepare_grant_uri(
        provider.authorization_endpoint,
        settings.client_id,
        "code",
        redirect_uri=_callback(request),
        scope=" ".join(settings.scopes),
        state=flow["state"],
        nonce=flow["nonce"],
        code_challenge=create_s256_code_challenge(flow["verifier"]),
        code_challenge_method="S256",
    )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        _sign(ctx.form_key, flow),
        max_age=FLOW_S,
        path="/sign-in/oidc",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _callback(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{CALLBACK}"


@router.get(CALLBACK, response_class=HTMLResponse)
async def callback(request: Request, ctx: Ctx) -> Response:
    settings = _settings(ctx)
    query = request.query_params
    if query.get("error"):
        raise _fault(f"the identity provider said {query.get('error', '')[:60]!r}")
    flow = _unsign(ctx.form_key, request.cookies.get(FLOW_COOKIE, ""))
    if not hmac.compare_digest(query.get("state", "").encode(), str(flow["state"]).encode()):
        raise _fault("the answer does not belong to this browser's sign-in")
    provider = await discover(settings)
    form = {
        "grant_type": "authorization_code",
        "code": query.get("code", ""),
        "redirect_uri": _callback(request),
        "code_verifier": str(flow["verifier"]),
    }
    secret = settings.client_secret.get_secret_value()
    pair = f"{quote(settings.client_id, safe='')}:{quote(secret, safe='')}"  # RFC 6749 2.3.1
    tokens = await _fetch(provider.token_endpoint, form, base64.b64encode(pair.encode()).decode())
    claims = await _checked(provider, settings, tokens, str(flow["nonce"]))
    name, role = person(settings, claims)
    subject = f"{provider.issuer} {claims.get('sub', '')}"[:255]
    response = await open_session(ctx, request, (name, role), "sso", subject, landing="page")
    response.delete_cookie(FLOW_COOKIE, path="/sign-in/oidc")
    return response


async def _checked(
    provider: Provider, settings: OidcSettings, tokens: Any, nonce: str
) -> dict[str, Any]:
    """The ID token's claims, once its signature, issuer, audience, expiry and nonce hold."""
    id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
    if not isinstance(id_token, str):
        raise _fault("the identity provider sent no ID token")
    keys = KeySet.import_key_set(await _fetch(provider.jwks_uri))
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": settings.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
            leeway=60,
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise _fault(f"its ID token could not be checked: {type(exc).__name__}") from None
    return dict(token.claims)


def person(settings: OidcSettings, claims: dict[str, Any]) -> tuple[str, str]:
    """(name, role) of whoever the claims say signed in; AccessError if no role is theirs."""
    name = str(claims.get(settings.name_claim) or claims.get("sub") or "")[:255]
    held = claims.get(settings.role_claim)
    values = {held} if isinstance(held, str) else set(held) if isinstance(held, list) else set()
    role = next((r for value, r in settings.roles.items() if value in values), None)
    if role is None or role not in ACCOUNT_ROLES:
        raise AccessError(
            f"{name or 'This account'} has no role in onthedot: ask onthedot's administrator "
            f"to give its {settings.role_claim!r} a role in [oidc] roles."
        )
    return name, ACCOUNT_ROLES[role].value
