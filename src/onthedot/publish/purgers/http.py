"""``HTTPPurger``: the shared part of purgers that speak HTTP (one aiohttp session, closed by aclose).

Every release has purgers of its own, and hundreds of releases may be due at the same T: the
requests to one purge host, every release's together, go ``PER_HOST`` at a time (``host_limit``),
so a cache is not sent hundreds of connections at once (Varnish resets some, and each is retried
a second later: later than waiting one's turn). A try waits for its turn before its timeout starts
(``turn``): a try queued behind others is not "no answer within 10 s" when it was never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from onthedot.adapters import AdapterURL
from onthedot.publish.purgers.base import Outcome, Purger, PurgeRequest, RetryPolicy, classify

PER_HOST = 8
"""Purge requests in flight to one host at once, from every purger of this process."""
_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def host_limit(url: str) -> asyncio.Semaphore:
    """The turn to send a request to ``url``'s host, shared by every purger in this event loop."""
    limits = _LIMITS.setdefault(asyncio.get_running_loop(), {})
    host = urlsplit(url).netloc
    limit = limits.get(host)
    if limit is None:
        limit = limits[host] = asyncio.Semaphore(PER_HOST)
    return limit


class HTTPPurger(Purger):
    """A purger whose requests are HTTP calls; ``endpoint`` is the base URL they go to."""

    default_endpoint: str = ""

    def __init__(self, url: AdapterURL | str, *, retry: RetryPolicy | None = None) -> None:
        super().__init__(url, retry=retry)
        self.endpoint = (self.endpoint_override or self.default_endpoint).rstrip("/")
        self._http: aiohttp.ClientSession | None = None

    def turn(self, request: PurgeRequest) -> contextlib.AbstractAsyncContextManager[object]:
        """The turn of the host ``request`` goes to (``request.to``, else the endpoint)."""
        to = request.to or self.endpoint
        return host_limit(to) if to else contextlib.nullcontext()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
    ) -> tuple[int, str]:
        """One request; returns (status, body text). Timeouts are the retry policy's job, the
        host's turn is ``turn``'s (taken before the try's timeout starts)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        async with self._http.request(
            method,
            url,
            headers=dict(headers or {}),
            json=json,
            data=data,
            allow_redirects=False,
        ) as response:
            return response.status, (await response.text(errors="replace"))[:500]

    async def simple(self, method: str, url: str, **kwargs: Any) -> Outcome:
        """One request judged by its status code only."""
        try:
            status, text = await self.http(method, url, **kwargs)
        except aiohttp.ClientError as exc:
            return Outcome(None, False, f"no answer ({type(exc).__name__}: {exc})", retry=True)
        return classify(status, _summary(status, text))


def _summary(status: int, text: str) -> str:
    words = " ".join(text.split())[:160]
    return f"{status} {words}".strip()


def path_of(url: str) -> tuple[str, str]:
    """(host, path with query) of a public URL."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts.netloc, path + (f"?{parts.query}" if parts.query else "")
