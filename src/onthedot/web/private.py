"""Answers kept by no one but the person asked: ``Private`` wraps the app as plain ASGI.

The same address answers the public with a release's card and, before its release time, a
signed-in person with its detail; so nothing the app answers may be kept by a cache in front of
it (a reverse proxy, a CDN) or by a shared computer's browser after its person signs out. Every
answer carries ``Cache-Control: no-store, private`` and ``Vary: Cookie, Authorization``, except:

- the files under ``/static`` (the same for everyone), which keep their own headers;
- an answer that sets its own ``Cache-Control`` (the live stream's), which keeps it (and gets
  the ``Vary``).

Every answer under ``/pre-release/`` (its refusals too) also sends no referrer and asks not to be
indexed (``PRE_RELEASE``), so a link does not travel further.

The answer to a request that failed unexpectedly (a 500) is made outside every middleware, by the
app's last handler: it marks its own answer with ``mark`` (``web.errors``).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onthedot.publish.prerelease_links import PREFIX
from onthedot.web.assets import STATIC_URL

NO_STORE = "no-store, private"
VARY = ("Cookie", "Authorization")
PRE_RELEASE = {
    "Cache-Control": NO_STORE,
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def mark(headers: MutableHeaders, path: str) -> None:
    """Make an answer to ``path`` one no cache keeps (unless it is a static file's)."""
    if under(path, STATIC_URL):
        return
    headers.setdefault("Cache-Control", NO_STORE)
    varied = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    known = {v.lower() for v in varied}
    varied += [v for v in VARY if v.lower() not in known]
    headers["Vary"] = ", ".join(varied)
    if under(path, PREFIX):
        for name, value in PRE_RELEASE.items():
            headers.setdefault(name, value)


class Private:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or under(path, STATIC_URL):
            await self.app(scope, receive, send)
            return

        async def private_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                mark(MutableHeaders(scope=message), path)
            await send(message)

        await self.app(scope, receive, private_send)
