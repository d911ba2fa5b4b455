"""``HTTPPurger``: the shared part of purgers that speak HTTP.

Every release has purgers of its own, and hundreds of releases may be due at the same T: the
requests to one purge host, every release's together, go a few at a time (``host_limit``), so a
host is not sent hundreds of connections at once (a cache short of threads resets some, each then
retried a second later; a CDN's API limits the rate of its callers). How many is the purger's
``per_host``: ``PER_HOST`` for a CDN's API, more for a cache of the site's own (``VarnishPurger``).
A try waits for its turn before its timeout starts (``turn``): a try queued behind others is not
"no answer within 10 s" when it was never sent.

The purgers of one event loop share one aiohttp session (``_Loan``), so the releases due at one
T reuse one another's connections to a host instead of each connecting anew (200 releases' BANs to
one Varnish: 64 connections, not 200, and a quarter less of the loop's CPU, 0.075 s for 0.10). The
session keeps no cookies (the purgers of one host may hold different credentials) and lets an idle
connection go after ``KEEP_IDLE_S``, before a server closes it first (Varnish's ``timeout_idle`` is
5 s): a request sent on a connection the server was closing fails, and a purge at T retried is a
purge late. It is closed when the last purger using it is.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from onthedot.adapters import AdapterURL
from onthedot.publish.purgers.base import Outcome, Purger, PurgeRequest, RetryPolicy, classify

PER_HOST = 8
"""Purge requests in flight to one CDN API host at once, from every purger of an event loop."""
_LIMITS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int], asyncio.Semaphore]
] = weakref.WeakKeyDictionary()


def host_limit(url: str, per_host: int = PER_HOST) -> asyncio.Semaphore:
    """The turn to send a request to ``url``'s host, shared by every purger in this event loop
    that allows the same number at once (``per_host``)."""
    limits = _LIMITS.setdefault(asyncio.get_running_loop(), {})
    key = (urlsplit(url).netloc, per_host)
    limit = limits.get(key)
    if limit is None:
        limit = limits[key] = asyncio.Semaphore(per_host)
    return limit


KEEP_IDLE_S = 1.0
"""How long the shared session keeps an idle connection for the next purge request."""


@dataclass
class _Shared:
    session: aiohttp.ClientSession
    users: int = 0


_LENT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared] = weakref.WeakKeyDictionary()
"""The aiohttp session of each event loop, lent to its purgers."""


def _release(loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession) -> bool:
    """One user of ``loop``'s ``session`` fewer; True when none is left (it is no longer lent:
    the caller closes it)."""
    shared = _LENT.get(loop)
    if shared is None or shared.session is not session:
        return True  # (replaced once closed: nobody else uses it)
    shared.users -= 1
    if shared.users > 0:
        return False
    del _LENT[loop]
    return True


class _Loan:
    """One purger's use of its event loop's shared session. A purger collected without being
    closed still gives its use back (the session, if it was the last, then warns unclosed)."""

    def __init__(self, owner: object) -> None:
        self.loop = asyncio.get_running_loop()
        shared = _LENT.get(self.loop)
        if shared is None or shared.session.closed:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEP_IDLE_S)
            made = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
            shared = _LENT[self.loop] = _Shared(made)  # (no limit of its own: ``host_limit``'s)
        shared.users += 1
        self.session = shared.session
        self._unreturned = weakref.finalize(owner, _release, self.loop, self.session)

    def forget(self) -> bool:
        """Given back; True when it is the caller's to close."""
        self._unreturned.detach()
        return _release(self.loop, self.session)

    async def give_back(self) -> None:
        """Given back, and closed if no other purger uses it, on its own loop (a purger closed
        on another: closed there if it still runs, else left to be collected)."""
        if not self.forget():
            return
        if self.loop is asyncio.get_running_loop():
            await self.session.close()
        elif self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.session.close(), self.loop)


class HTTPPurger(Purger):
    """A purger whose requests are HTTP calls; ``endpoint`` is the base URL they go to."""

    default_endpoint: str = ""
    per_host: ClassVar[int] = PER_HOST
    """Requests in flight to one host at once, shared with every purger of the event loop that
    allows the same number."""

    def __init__(self, url: AdapterURL | str, *, retry: RetryPolicy | None = None) -> None:
        super().__init__(url, retry=retry)
        self.endpoint = (self.endpoint_override or self.default_endpoint).rstrip("/")
        self._loan: _Loan | None = None

    def turn(self, request: PurgeRequest) -> contextlib.AbstractAsyncContextManager[object]:
        """The turn of the host ``request`` goes to (``request.to``, else the endpoint)."""
        to = request.to or self.endpoint
        return host_limit(to, self.per_host) if to else contextlib.nullcontext()

    async def aclose(self) -> None:
        if self._loan is not None:
            loan, self._loan = self._loan, None
            await loan.give_back()

    def _session(self) -> aiohttp.ClientSession:
        loan = self._loan
        if loan is None or loan.session.closed or loan.loop is not asyncio.get_running_loop():
            if loan is not None:
                loan.forget()  # (closed, or of another loop: no longer this purger's)
            loan = self._loan = _Loan(self)
        return loan.session

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
        host's turn is ``turn``'s (taken before the try's timeout starts). Sent again at once on
        a new connection when the server closed the one it went on without answering (a kept
        connection it was closing as the request came: a purge asked twice does no harm, a
        purge at T retried a second later is late)."""
        request = partial(self._once, method, url, dict(headers or {}), json, data)
        try:
            return await request()
        except aiohttp.ServerDisconnectedError:
            return await request()  # (on a new one: aiohttp resends only GET and its like)

    async def _once(
        self, method: str, url: str, headers: dict[str, str], json: Any, data: bytes | None
    ) -> tuple[int, str]:
        async with self._session().request(
            method, url, headers=headers, json=json, data=data, allow_redirects=False
        ) as response:
            return response.status, await _reply(response)

    async def simple(self, method: str, url: str, **kwargs: Any) -> Outcome:
        """One request judged by its status code only."""
        try:
            status, text = await self.http(method, url, **kwargs)
        except aiohttp.ClientError as exc:
            return Outcome(None, False, f"no answer ({type(exc).__name__}: {exc})", retry=True)
        return classify(status, _summary(status, text))


REPLY_CHARS = 500
"""Characters of a reply kept: what a purge's answer says (a CDN's JSON, a cache's page)."""
REPLY_BYTES = 4 * REPLY_CHARS
"""Bytes of a reply read: enough for ``REPLY_CHARS`` in UTF-8. The rest is never read (a reply
of gigabytes is not waited for nor held: the connection is closed instead of kept)."""


async def _reply(response: aiohttp.ClientResponse) -> str:
    """The start of the reply's body as text, decoded as UTF-8 whatever charset it names (purge
    APIs answer in UTF-8 or ASCII; a charset that is a codec of Python's but no text encoding,
    ``charset=hex``, ``zlib``, ``rot13``, would raise), what cannot be decoded replaced."""
    body = b""
    while len(body) < REPLY_BYTES:
        chunk = await response.content.read(REPLY_BYTES - len(body))
        if not chunk:
            break
        body += chunk
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # (a character cut at the end of what was read is left out, not replaced)
    return decoder.decode(body, final=len(body) < REPLY_BYTES)[:REPLY_CHARS]


def _summary(status: int, text: str) -> str:
    words = " ".join(text.split())[:160]
    return f"{status} {words}".strip()


def path_of(url: str) -> tuple[str, str]:
    """(host, path with query) of a public URL."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts.netloc, path + (f"?{parts.query}" if parts.query else "")
