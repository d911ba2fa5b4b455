"""Answers made once a second: the board, the calendar, a release's page and its API answer.

At T many people watch the same pages, each refreshing every few seconds, on a machine busy
publishing: making the board of 200 releases takes a tenth of a CPU-second, so eight readers at
once kept the dashboard's process seconds behind. An answer is made once and given to every
request for the same page by the same viewer for ``ANSWER_S`` after it was made (a page that
refreshes every few seconds cannot tell), then made again; requests that arrive while it is being
made get the one before (only the first waits for it, so no more than one request at a time waits
for a page to be made). A result stored in that second is on the next answer made: at T results
arrive every few milliseconds, so an answer dropped at each would never be given twice. What the process itself holds and a page shows (the release files it cannot read)
is the answer's ``mark``: when it changes, the answer is made again at once; and what it is asked
to change (a post: an incident acknowledged, an agent's results) drops every answer kept, so the
page a person is sent back to shows what they did. No answer is given from the first release time
after it was made: the page made a moment before T (the release withheld, "announced") is made
again at T.

What a page shows depends on who asks (before T, a release's detail only to a viewer with the
power: ``access.sees_detail``), so an answer is kept for one viewer's name and role and never given
to anyone else. What differs from one request to the next is put in when it is given: the CSRF
token of the page's forms (``session.csrf_token``) and the server's clock for the countdowns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
WAITING_S = 5.0
"""While an answer is made again, the one before it is given to the requests that come meanwhile
if it is younger than this (the page's own refresh): only the request that came first waits."""
KEPT = 512
"""Answers kept at most (those older than ``ANSWER_S`` are dropped first)."""

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
    status: int
    media_type: str | None
    body: bytes


def key_of(request: Request, viewer: Principal) -> Key:
    """The page asked for, and who asks: an answer is given only to the same name and role."""
    return (request.url.path, request.url.query, viewer.name, viewer.role)


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
        self._kept: dict[Key, Answer] = {}
        self._making: dict[Key, asyncio.Future[Answer]] = {}
        self._forgotten = 0  # how many times ``forget`` was called

    async def answer(
        self,
        request: Request,
        viewer: Principal,
        now: dt.datetime,
        make: Callable[[], Awaitable[Response]],
        mark: object = None,
    ) -> Response:
        """The answer to ``request``: the one kept for it if made less than ``ANSWER_S`` before
        ``now`` with the same ``mark``, else ``make``'s (kept if it is a 200); while that is
        being made for another request, the one kept if younger than ``WAITING_S``."""
        key = key_of(request, viewer)
        kept = self._kept.get(key)
        now_s = time.monotonic()
        if kept is not None and kept.mark == mark and young(kept, now, now_s, self.answer_s):
            return self._given(kept, request)
        making = self._making.get(key)
        if making is None:
            making = asyncio.ensure_future(self._make(key, request, now, make, mark))
            self._making[key] = making
            making.add_done_callback(lambda _: self._making.pop(key, None))
        elif kept is not None and kept.mark == mark and young(kept, now, now_s, WAITING_S):
            return self._given(kept, request)  # the one before, while the next is made
        return self._given(await asyncio.shield(making), request)

    async def _make(
        self,
        key: Key,
        request: Request,
        now: dt.datetime,
        make: Callable[[], Awaitable[Response]],
        mark: object,
    ) -> Answer:
        forgotten, now_s = self._forgotten, time.monotonic()
        request.state.kept = True
        try:
            response = await make()
        finally:
            request.state.kept = False  # (an error page made for this request has no marks)
        body = bytes(response.body)
        turn = self._next_release_at(now)  # (the releases as the page was made from them)
        made = Answer(now, now_s, turn, mark, response.status_code, response.media_type, body)
        if made.status == 200 and forgotten == self._forgotten:  # (not made across a change)
            self._keep(key, made)
        return made

    def forget(self) -> None:
        """Drop every answer kept (this process is about to change the store: an incident
        acknowledged, a report edited, an agent's results)."""
        self._kept.clear()
        self._forgotten += 1

    def _keep(self, key: Key, made: Answer) -> None:
        if len(self._kept) >= KEPT:
            self._kept = {
                k: a for k, a in self._kept.items() if young(a, made.made, made.made_s, WAITING_S)
            }
            if len(self._kept) >= KEPT:
                self._kept.clear()
        self._kept[key] = made

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
