"""Live updates of a release page: ``/releases/{id}/live``, a stream of Server-Sent Events.

One ``Feed`` per app reads the store for every open page at once: every ``every_s`` it reads the
results and timeline events stored since its last look (by id, so a look costs the same however
long the release's record is), and hands each open stream of their release what changed:

    event: results   data: {"texts", "checked", "first_live", "rows": [[key, status, text, at]]}
    event: timeline  data: {"events": N}     (the page fetches itself again, at most so often)
    event: released  data: {}                (T has come: the page reloads, now with the detail)

The scheduler writes and the web process reads, so a stored result reaches the page within
``every_s`` plus one query, whichever process stored it; a page that cannot hold a stream open
falls back to ``static/onthedot.js``'s periodic refresh, and without JavaScript to the
``<noscript>`` refresh. Before T, a stream of a caller who may not see the release's detail
carries nothing but ``released`` (access.sees_detail). A slow reader's queue is bounded: when it
overflows, the reader is told to fetch the page again instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import TooManyRequestsError
from onthedot.model import CheckResult, Release
from onthedot.record.breaches import read_result
from onthedot.store.tables import checks, events

log = logging.getLogger("onthedot.web")

QUEUE = 64
"""Messages a stream may have waiting before it is told to fetch the page instead."""
KEEPALIVE_S = 15.0
LIFETIME_S = 600.0
"""A stream ends after this long; the browser opens a new one (``retry``), so no connection is
held forever and a page that was left open picks up a restarted service."""
RELEASE_S = 5.0
"""How long a stream's release, once read, is used before it is read again."""
MAX_STREAMS = 500
"""Open streams at most: more are refused (429), so no number of pages can wear the service."""

Rows = Callable[[Release, list[CheckResult]], Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One message for every stream of a release; what a stream sends of it is worked out once
    (``shared``), however many pages are open."""

    event: str
    data: Any
    _made: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def encode(self) -> bytes:
        return f"event: {self.event}\ndata: {json.dumps(self.data)}\n\n".encode()

    def shared(self, name: str, make: Callable[[], bytes]) -> bytes:
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]


class Feed:
    """The store's new results and events, read once for every open stream."""

    def __init__(
        self, engine: AsyncEngine, every_s: float = 0.2, lifetime_s: float = LIFETIME_S
    ) -> None:
        self.engine = engine
        self.every_s = every_s
        self.lifetime_s = lifetime_s
        self._streams: dict[str, set[asyncio.Queue[Message]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[int, int] | None = None  # the newest check id and event id read
        self._releases: dict[str, tuple[float, Release]] = {}

    async def release(self, release_id: str, load: Callable[[], Awaitable[Release]]) -> Release:
        """The release of a stream, read from the store at most every ``RELEASE_S`` seconds:
        fifty pages opened at once read (and check) a release of 10,000 files once, not fifty
        times."""
        now = asyncio.get_running_loop().time()
        kept = self._releases.get(release_id)
        if kept is not None and now - kept[0] < RELEASE_S:
            return kept[1]
        loaded = await load()
        self._releases[release_id] = (now, loaded)
        return loaded

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self._streams.values())

    def subscribe(self, release_id: str) -> asyncio.Queue[Message]:
        if self.open_streams >= MAX_STREAMS:
            raise TooManyRequestsError(
                f"{MAX_STREAMS} pages are following releases live already: this one will "
                "update itself every few seconds instead.",
                30.0,
            )
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
        self._streams[release_id].add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, release_id: str, queue: asyncio.Queue[Message]) -> None:
        self._streams[release_id].discard(queue)
        if not self._streams[release_id]:
            del self._streams[release_id]

    async def _run(self) -> None:
        """Look every ``every_s`` while any stream is open; a failing look is logged, not fatal."""
        while self._streams:
            try:
                await self.look()
            except Exception:  # the store may be busy or away: the next look tries again
                log.warning(
                    "The live feed could not read the store; it tries again.", exc_info=True
                )
            await asyncio.sleep(self.every_s)

    async def look(self) -> dict[str, list[dict[str, Any]]]:
        """Read what was stored since the last look; each release's new results (as stored)."""
        async with self.engine.connect() as conn:
            if self._last is None:
                top_check = (await conn.execute(select(func.max(checks.c.id)))).scalar()
                top_event = (await conn.execute(select(func.max(events.c.id)))).scalar()
                self._last = (int(top_check or 0), int(top_event or 0))
                return {}
            last_check, last_event = self._last
            watched = list(self._streams)
            top = (await conn.execute(select(func.max(checks.c.id)))).scalar() or last_check
            rows = (
                await conn.execute(
                    select(checks.c.id, checks.c.release_id, checks.c.result)
                    .where(
                        checks.c.id > last_check,
                        checks.c.id <= top,
                        checks.c.release_id.in_(watched),
                    )
                    .order_by(checks.c.id)
                )
            ).all()
            new_events = (
                await conn.execute(
                    select(events.c.id, events.c.release_id).where(events.c.id > last_event)
                )
            ).all()
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            found[row.release_id].append(row.result)
        self._last = (int(top), max([last_event, *(e.id for e in new_events)]))
        for release_id, stored in found.items():
            self._send(release_id, Message("results", stored))
        counted: dict[str, int] = defaultdict(int)
        for e in new_events:
            counted[e.release_id] += 1
        for release_id, n in counted.items():
            self._send(release_id, Message("timeline", {"events": n}))
        return dict(found)

    def _send(self, release_id: str, message: Message) -> None:
        for queue in list(self._streams.get(release_id, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:
                        queue.get_nowait()
                queue.put_nowait(Message("timeline", {"events": 0, "overflow": True}))


async def stream(
    feed: Feed,
    release: Release,
    sees: Callable[[], bool],
    now: Callable[[], dt.datetime],
    rows: Rows,
) -> AsyncIterator[bytes]:
    """The stream of one open page: results as table rows (``rows``) while ``sees()``, else only
    the word that T has come."""
    queue = feed.subscribe(release.id)
    loop = asyncio.get_running_loop()
    ends = loop.time() + feed.lifetime_s
    try:
        yield b"retry: 2000\n\n"
        shown = sees()
        while (left := ends - loop.time()) > 0:
            wait = min(KEEPALIVE_S, left)
            if not shown:  # look again at T, and every second (the clock may be set)
                wait = min(wait, 1.0, max(0.05, (release.release_at - now()).total_seconds()))
            try:
                message = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                if not shown and sees():
                    yield Message("released", {}).encode()
                    return
                yield b": still here\n\n"
                continue
            if not shown:  # nothing of the release before T to this caller
                if sees():
                    yield Message("released", {}).encode()
                    return
                continue
            if message.event == "results":
                yield message.shared("rows", functools.partial(_rows, release, message.data, rows))
            else:
                yield message.encode()
    finally:
        feed.unsubscribe(release.id, queue)


def _rows(release: Release, stored: list[dict[str, Any]], rows: Rows) -> bytes:
    read = (read_result(r, dt.datetime.fromisoformat(str(r.get("checked_at")))) for r in stored)
    return Message("results", rows(release, [r for r in read if r is not None])).encode()
