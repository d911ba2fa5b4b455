"""The dashboard's session cookie and the CSRF token of its forms.

A person who signs in gets a new random session id (``store.sessions``) in a cookie the browser
sends back only to this site, only from this site's own pages (``SameSite=Strict``), never to
scripts (``HttpOnly``), and only over HTTPS when the page came over HTTPS (``Secure``); the
session ends after ``SESSION_S`` or when the person signs out.

Every form carries a CSRF token: an HMAC, under a key only this service holds, of the session id
(or, before sign-in, of a random id in the ``onthedot_form`` cookie set with the form). A POST
without a bearer token is refused unless it carries the token matching its cookie
(``check_csrf``, called by ``web.access.guard``): a page on another site cannot read it, so it
cannot make the browser of someone signed in act for them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import Response

from onthedot.errors import AccessError, InputError

SESSION_COOKIE = "onthedot_session"
FORM_COOKIE = "onthedot_form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_S = 12 * 3600  # a working day
FORM_S = 12 * 3600
FORM = "application/x-www-form-urlencoded"
FORM_FIELDS = 64
"""Fields a posted form may have (the dashboard's have a dozen at most): a body of millions of
empty fields (``a=&a=&…``, 8 MiB) took a third of a second and 230 MB to read, before any
sign-in was checked."""


def _basis(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(FORM_COOKIE)


def _mac(key: bytes, basis: str) -> str:
    return hmac.new(key, b"csrf:" + basis.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_token(request: Request, key: bytes) -> str:
    """The token for the forms of the page answering ``request``; before sign-in, a new form
    cookie is made for it (``remember_form`` sets it on the page's response)."""
    basis = _basis(request) or getattr(request.state, "new_form_id", None)
    if basis is None:
        basis = secrets.token_urlsafe(24)
        request.state.new_form_id = basis
    return _mac(key, basis)


def remember_form(request: Request, response: Response) -> None:
    """Set the form cookie ``csrf_token`` made for this page, if it made one."""
    made = getattr(request.state, "new_form_id", None)
    if made is not None:
        _set(request, response, FORM_COOKIE, made, FORM_S)


async def form_fields(request: Request) -> dict[str, list[str]]:
    """The fields of a posted form (none if the body is not a form); InputError for a body of
    more than ``FORM_FIELDS`` fields, which no page of the dashboard sends."""
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
        return {}
    text = (await request.body()).decode("utf-8", "replace")
    try:
        return parse_qs(text, max_num_fields=FORM_FIELDS)
    except ValueError:
        raise InputError(
            f"The form sent has more than {FORM_FIELDS} fields, which no page here sends: open "
            "the page again and send the form from there."
        ) from None


async def check_csrf(request: Request, key: bytes) -> None:
    """A form's post is refused unless it carries the CSRF token of its cookie."""
    sent = (
        request.headers.get(CSRF_HEADER)
        or ((await form_fields(request)).get(CSRF_FIELD) or [""])[0]
    )
    basis = _basis(request)
    if (
        not sent
        or basis is None
        or not hmac.compare_digest(sent.encode(), _mac(key, basis).encode())
    ):
        raise AccessError(
            "This form has expired or did not come from onthedot's own page: open the page "
            "again and send the form from there."
        )


def start(request: Request, response: Response, session_id: str) -> None:
    _set(request, response, SESSION_COOKIE, session_id, SESSION_S)
    response.delete_cookie(FORM_COOKIE, path="/")


def end(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
