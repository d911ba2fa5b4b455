"""Exceptions → HTTP responses, in this one place.

The API (``/api/...``, ``/metrics``) answers ``{"error": "<one plain sentence with the fix>"}``;
the dashboard's pages answer the same sentence in an HTML page. ``onthedot.errors`` types map to
status codes here and nowhere else.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from onthedot.errors import (
    AccessError,
    ForeignHostError,
    InputError,
    OnthedotError,
    QueryError,
    StoreError,
    TokenError,
    TooManyRequestsError,
    UnknownReleaseError,
)
from onthedot.publish.prerelease_links import PREFIX
from onthedot.web import private

log = logging.getLogger("onthedot.web")

STATUS_CODES: tuple[tuple[type[OnthedotError], int], ...] = (
    (UnknownReleaseError, 404),
    (TokenError, 401),
    (AccessError, 403),
    (TooManyRequestsError, 429),
    (ForeignHostError, 422),
    (QueryError, 400),
    (InputError, 422),
    (StoreError, 503),
    (OnthedotError, 500),
)

PageRenderer = Callable[[Request, int, str], Response]


def status_code(exc: OnthedotError) -> int:
    return next(code for kind, code in STATUS_CODES if isinstance(exc, kind))


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/api" or path == "/metrics"


def install(app: FastAPI, render_page: PageRenderer) -> None:
    """Register the handlers; ``render_page(request, status, sentence)`` draws the HTML page."""

    def answer(
        request: Request, status: int, sentence: str, headers: dict[str, str] | None = None
    ) -> Response:
        if is_api(request):
            if status == 401:
                headers = {"WWW-Authenticate": "Bearer"}
            return JSONResponse({"error": sentence}, status_code=status, headers=headers)
        return render_page(request, status, sentence)

    async def onthedot_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OnthedotError)
        code = status_code(exc)
        if code >= 500:
            log.error("%s %s: %s", request.method, logged_path(request), exc)
        headers = None
        if isinstance(exc, TooManyRequestsError):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return answer(request, code, str(exc), headers)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        in_query = all(e.get("loc", ("",))[0] in ("query", "path") for e in exc.errors())
        return answer(request, 400 if in_query else 422, validation_sentence(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return answer(request, exc.status_code, http_sentence(request, exc))

    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, logged_path(request))
        response = answer(
            request,
            500,
            "This could not be answered, because of a fault in the service (its log says "
            "what): try again in a minute, and if it happens again tell the team that runs it.",
        )
        # (made outside every middleware, ``Private`` too: see ``web.private``)
        private.mark(response.headers, request.url.path)
        return response

    app.add_exception_handler(OnthedotError, onthedot_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, bug)


def logged_path(request: Request) -> str:
    """The request's path as the log may keep it: a pre-release link's own part (its credential,
    which opens embargoed files to whoever holds it) left out."""
    path = request.url.path
    if private.under(path, PREFIX):
        release, _, _ = path[len(PREFIX) + 1 :].partition("/")
        return f"{PREFIX}/{release}/(link)"
    return path


def validation_sentence(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'is not valid')}")
    more = len(exc.errors()) - len(problems)
    extra = f" (and {more} more)" if more > 0 else ""
    return f"The request is not valid ({'; '.join(problems)}{extra}): fix it and send it again."


def http_sentence(request: Request, exc: StarletteHTTPException) -> str:
    if exc.status_code == 404:
        return (
            f"There is nothing at {request.url.path}: see the release-morning board at / "
            "or the API at /api/releases."
        )
    if exc.status_code == 405:
        return f"{request.method} is not allowed on {request.url.path}: see /api/openapi.json."
    detail = exc.detail if isinstance(exc.detail, str) else "the request was refused"
    return f"{detail.rstrip('.')}: see /api/openapi.json."
