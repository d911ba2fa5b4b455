"""Answers made once a second: the board, the calendar, a release's page and its API answer.

At T many people watch the same pages, each refreshing every few seconds, on a machine busy
publishing: making the board of 200 releases takes a tenth of a CPU-second, so eight readers at
once kept the dashboard's process seconds behind. An answer is made once and given to every
request for the same page by the same viewer for ``ANSWER_S`` after it was made (a page that
refreshes every few seconds cannot tell), then made again; requests that arrive while it is being
made get the one before (only the first waits for it, so no more than one request at a time waits
for a page to be made). A result stored in that second is on the next answer made: at T results
arrive every few milliseconds, so an answer dropped at each would never be given twice. What the
process itself holds and a page shows (the release files it cannot read) is the answer's
``mark``: when it changes, the answer is made again at once. A change a person makes through the
dashboard (an incident acknowledged, a breach report written or moved) drops every answer kept
once it is stored (``forget``, called by the handler that made it, never before the caller is
known to be allowed), so the page they are sent back to shows what they did. No answer made
before a release time is given from it, neither again nor to a request that waits for it: the
page made a moment before T (the release withheld, "announced") is made again at T.

A page that can say cheaply what it is made from (``stored``: a mark read from the store in one
indexed statement, such as a release's newest event and newest result) is given again for longer
while that mark is unchanged, up to ``SETTLED_S``: before T, and once a release has settled,
a page refreshed every few seconds is given again rather than made again. The mark is read
before the page is made (a change stored meanwhile makes the next request make it again), and
only once ``ANSWER_S`` has passed; the other rules hold for it as for any answer: never across a
release time, for the same viewer only, dropped by ``forget``. What a page shows of the time
itself (a countdown without JavaScript, a pre-release link's expiry) may then be as it was up to
``SETTLED_S`` before.

What a page shows depends on who asks (before T, a release's detail only to a viewer with the
power: ``access.sees_detail``), so an answer is kept for one viewer's name and role and never given
to anyone else; and on the page's own parameters, as the handler read them (``query``: never the
request's query string as sent, so made-up parameters do not make new answers). What differs from
one request to the next is put in when it is given: the CSRF token of the page's forms
(``session.csrf_token``) and the server's clock for the countdowns. The answers kept hold at most
``KEPT_BYTES``: the oldest are dropped first, and any older than ``WAITING_S`` (never given again)
as each is kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response

from onthedot.clock import Clock
from onthedot.web import session

if TYPE_CHECKING:
    from onthedot.web.access import Principal

ANSWER_S = 1.0
"""How long an answer is given again after it was made."""
SETTLED_S = 5.0
"""How long an answer is given again while the store's mark of what it was made from is unchanged."""
WAITING_S = 5.0
"""While an answer is made again, the one before it is given to the requests that come meanwhile
if it is younger than this (the page's own refresh): only the request that came first waits."""
KEPT_BYTES = 32 * 1024 * 1024
"""The bytes of the answers kept, at most (the board of 200 releases is about 200 KB): the oldest
are dropped to keep a new one."""

CSRF_MARK = "csrf-" + secrets.token_hex(16)
"""Where a kept page's CSRF token goes (one per process, unguessable: never in a page's data)."""
NOW_MARK = "now-" + secrets.token_hex(16)
"""Where a kept page's server clock (ms since the epoch) goes."""

Key = tuple[str, str, str, str | None]


@dataclass(frozen=True, slots=True)
class Answer:
    """A made answer, with ``CSRF_MARK`` and ``NOW_MARK`` where a page has them."""

    made: dt.datetime
    made_s: float  # ``time.monotonic()`` when it was made
    turn: dt.datetime | None  # the first release time after it was made: never given from then
    mark: object
    seen: object  # the store's mark, read before it was made (None: the page has none)
    status: int
    media_type: str | None
    body: bytes


def key_of(request: Request, viewer: Principal, query: str) -> Key:
    """The page asked for (its path, and ``query``: its parameters as the page read them), and who
    asks: an answer is given only to the same name and role."""
    return (request.url.path, query, viewer.name, viewer.role)


def young(kept: Answer, now: dt.datetime, now_s: float, within: float) -> bool:
    """Whether ``kept`` was made less than ``within`` seconds before ``now`` (the service's clock)
    and ``now_s`` (the process's own, ``time.monotonic``): by both, so neither a clock set back
    nor a test's fixed clock keeps an answer longer; and never from the first release time after
    it was made (before T, a release is withheld or announced: from T, it is shown as it is)."""
    by_clock = dt.timedelta(0) <= now - kept.made < dt.timedelta(seconds=within)
    turned = kept.turn is not None and now >= kept.turn
    return by_clock and now_s - kept.made_s < within and not turned


def marked(request: Request) -> bool:
    """Whether the page being made is to be kept (``pages.render`` then writes the marks)."""
    return bool(getattr(request.state, "kept", False))


def size_of(key: Key, answer: Answer) -> int:
    """The bytes ``answer`` holds, kept under ``key``."""
    return len(answer.body) + len(key[0]) + len(key[1]) + len(key[2])


@dataclass(frozen=True, slots=True)
class Making:
    """An answer being made for a request that came at ``now`` with ``mark``."""

    now: dt.datetime
    mark: object
    made: asyncio.Future[Answer]


class Answers:
    """The answers kept by one app: ``form_key`` signs the CSRF tokens put in them, ``clock``
    is the server's, ``next_release_at`` the first release time after an instant."""

    def __init__(
        self,
        form_key: bytes,
        clock: Clock,
        next_release_at: Callable[[dt.datetime], dt.datetime | None],
    ) -> None:
        self._form_key = form_key
        self._clock = clock
        self._next_release_at = next_release_at
        self.answer_s = ANSWER_S  # (a test of what is given again may lengthen it)
        self.settled_s = SETTLED_S
        self.kept_bytes = KEPT_BYTES  # (a test of what is dropped may shorten it)
        self.held = 0  # the bytes of the answers kept (``size_of``)
        self._kept: dict[Key, Answer] = {}  # the first kept first
        self._making: dict[Key, Making] = {}
        self._forgotten = 0  # how many times ``forget`` was called

    async def answer(
        self,
        request: Request,
        viewer: Principal,
        now: dt.datetime,
        make: Callable[[], Awaitable[Response]],
        mark: object = None,
        query: str = "",
        stored: Callable[[], Awaitable[object]] | None = None,
    ) -> Response:
        """The answer to ``request`` (``query``: the page's parameters, as it read them): the one
        kept for it if made less than ``ANSWER_S`` before ``now`` with the same ``mark``, or
        less than ``SETTLED_S`` before with the same mark of the store (``stored``'s), else
        ``make``'s (kept if it is a 200); while that is being made for another request, the one
        kept if younger than ``WAITING_S``."""
        key = key_of(request, viewer, query)
        kept = self._kept.get(key)
        now_s = time.monotonic()
        if kept is not None and kept.mark == mark and young(kept, now, now_s, self.answer_s):
            return self._given(kept, request)
        making = self._making.get(key)
        if making is None or not self._joins(making, now, mark):
            made = functools.partial(self._make, key, request, now, make, mark)
            answer = self._settled_or_made(key, now, mark, stored, made)
            making = Making(now, mark, asyncio.ensure_future(answer))
            self._making[key] = making
            making.made.add_done_callback(functools.partial(self._made, key, making))
        elif kept is not None and kept.mark == mark and young(kept, now, now_s, WAITING_S):
            return self._given(kept, request)  # the one before, while the next is made
        return self._given(await asyncio.shield(making.made), request)

    async def _settled_or_made(
        self,
        key: Key,
        now: dt.datetime,
        mark: object,
        stored: Callable[[], Awaitable[object]] | None,
        made: Callable[[object], Awaitable[Answer]],
    ) -> Answer:
        """The answer kept, if the store's mark (``stored``'s, read first) is the one it was
        made with and it is younger than ``settled_s``; else ``made``'s with the mark. Those who
        ask while the mark is read wait for this, or get the one before, as for any answer
        being made."""
        seen = None if stored is None else await stored()
        kept = self._kept.get(key)  # (``forget`` may have dropped it meanwhile)
        now = self._clock.now()  # (the mark's read may have waited across a release time)
        if (
            kept is not None
            and seen is not None
            and (kept.mark, kept.seen) == (mark, seen)
            and young(kept, now, time.monotonic(), self.settled_s)
        ):
            return kept
        return await made(seen)

    def _joins(self, making: Making, now: dt.datetime, mark: object) -> bool:
        """Whether a request at ``now`` with ``mark`` may wait for ``making``: not if it began
        with another mark, nor before a release time that ``now`` has reached (a page made
        before T is not given from T)."""
        turn = self._next_release_at(making.now)
        return making.mark == mark and (turn is None or now < turn)

    def _made(self, key: Key, making: Making, _: object) -> None:
        if self._making.get(key) is making:  # (not one begun since, for a later request)
            del self._making[key]

    async def _make(
        self,
        key: Key,
        request: Request,
        now: dt.datetime,
        make: Callable[[], Awaitable[Response]],
        mark: object,
        seen: object,
    ) -> Answer:
        forgotten, now_s = self._forgotten, time.monotonic()
        request.state.kept = True
        try:
            response = await make()
        finally:
            request.state.kept = False  # (an error page made for this request has no marks)
        body = bytes(response.body)
        turn = self._next_release_at(now)  # (the releases as the page was made from them)
        made = Answer(now, now_s, turn, mark, seen, response.status_code, response.media_type, body)
        if made.status == 200 and forgotten == self._forgotten:  # (not made across a change)
            self._keep(key, made)
        return made

    def forget(self) -> None:
        """Drop every answer kept, and those being made (a change is stored: an incident
        acknowledged, a breach report written or moved); called once it is stored, so no
        answer made from the store before it is given after it."""
        self._kept.clear()
        self._making.clear()
        self.held = 0
        self._forgotten += 1

    def _keep(self, key: Key, made: Answer) -> None:
        """Keep ``made``, unless one begun after it is kept already; drop the first kept while
        they are too old to be given again or the bytes kept would exceed ``kept_bytes``."""
        size = size_of(key, made)
        before = self._kept.get(key)
        if size > self.kept_bytes or (before is not None and before.made_s > made.made_s):
            return
        if before is not None:
            self._drop(key)
        now, now_s = self._clock.now(), time.monotonic()
        while self._kept:
            first = next(iter(self._kept))
            if self.held + size <= self.kept_bytes and young(
                self._kept[first], now, now_s, WAITING_S
            ):
                break
            self._drop(first)
        self._kept[key] = made
        self.held += size

    def _drop(self, key: Key) -> None:
        self.held -= size_of(key, self._kept.pop(key))

    def _given(self, kept: Answer, request: Request) -> Response:
        """``kept`` as the answer to ``request``: its own CSRF token (and form cookie), the
        server's clock now."""
        body = kept.body
        if CSRF_MARK.encode() in body:
            token = session.csrf_token(request, self._form_key)
            body = body.replace(CSRF_MARK.encode(), token.encode())
        if NOW_MARK.encode() in body:
            now_ms = int(self._clock.now().timestamp() * 1000)
            body = body.replace(NOW_MARK.encode(), str(now_ms).encode())
        response = Response(body, kept.status, media_type=kept.media_type)
        session.remember_form(request, response)
        return response
