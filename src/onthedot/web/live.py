"""Live updates of a release page: ``/releases/{id}/live``, a stream of Server-Sent Events.

One ``Feed`` per app reads the store for every open page at once: every ``every_s`` it reads the
results and timeline events stored since its last look (by id, so a look costs the same however
long the release's record is; only the columns a row shows, not the stored result), and hands
each open stream of their release what changed:

    event: results   data: {"base", "texts", "checked", "first_live",
                           "rows": [[status, text, at, [key, …]]]}
    event: timeline  data: {"events": N}     (the page fetches itself again, at most so often;
                                             events the rows show are not counted)
    event: released  data: {}                (T has come: the page reloads, now with the detail)

A page carries the newest check id stored when it was made (``newest_check``, read before its
results) and opens its stream with it (``?since=``): the feed's next look sends that release the
newest result of each of its rows stored since then, so nothing stored between the page being made
and its stream opening is lost, even a row that went live then and is never checked again.

The scheduler writes and the web process reads, so a stored result reaches the page within
``every_s`` plus one query, whichever process stored it; a page that cannot hold a stream open
falls back to ``static/onthedot.js``'s periodic refresh, and without JavaScript to the
``<noscript>`` refresh. Before T, a stream of a caller who may not see the release's detail
carries nothing but ``released`` (access.sees_detail). A slow reader's queue is bounded: when it
overflows, the reader is told to fetch the page again instead.

What a look costs does not grow with the pages open: a result whose status and diagnosis are what
the release's pages last got is not sent again (their rows already say it; the page's periodic
refresh brings its "Checked" time); when a page opens, the next look sends every result it
reads, changed or not (the page may be older than the last look), and what its page missed (one
result a row at most, however long ago the page was made); each message is made into bytes
once, however many streams carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import NullType

from onthedot.errors import TooManyRequestsError
from onthedot.model import Release
from onthedot.record import kinds
from onthedot.store.tables import aggregated_instant, checks, events

log = logging.getLogger("onthedot.web")

QUEUE = 64
"""Messages a stream may have waiting before it is told to fetch the page instead."""
KEEPALIVE_S = 15.0
"""A stream says it is still there this often, and asks again whether its caller's credential
still holds (a revoked token, an ended session: the stream ends; ``stream``'s ``holds``)."""
LIFETIME_S = 600.0
"""A stream ends after this long; the browser opens a new one (``retry``), so no connection is
held forever and a page that was left open picks up a restarted service."""
RELEASE_S = 5.0
"""How long a stream's release, once read, is used before it is read again."""
SHOWN_BY_ROWS = frozenset({kinds.VERIFY_RESULT, kinds.VERIFY_FIRST_LIVE})
"""Events a page need not fetch itself again for: its rows got them as results. At T a release of
10,000 files records 20,000 of them, and each page fetching itself every 2 s for them (a page of
10,000 rows is made in seconds) would take the CPU; the page's own fetch, once a minute, brings
the counts and the timeline they change, and ``verify.all-live`` brings them at once."""
MAX_STREAMS = 500
"""Open streams at most: more are refused (429), so no number of pages can wear the service."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One stored result, as much of it as its row on the page shows."""

    key: str  # url|vantage, as the page's row is found by
    status: str
    diagnosis: str
    checked_at: dt.datetime


Rows = Callable[[Release, list[Seen]], Any]


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
        self.recheck_s = KEEPALIVE_S
        self._streams: dict[str, set[asyncio.Queue[Message]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[int, int] | None = None  # the newest check id and event id read
        self._behind: dict[str, int] = {}  # release: the check id its oldest new page shows
        self._releases: dict[str, tuple[float, asyncio.Future[Release]]] = {}
        self._shown: dict[str, dict[str, tuple[str, str]]] = {}  # release: key: (status, why)
        self._looking = asyncio.Lock()

    async def release(self, release_id: str, load: Callable[[], Awaitable[Release]]) -> Release:
        """The release of a stream, read from the store at most every ``RELEASE_S`` seconds:
        fifty pages opened at once read (and check) a release of 10,000 files once, not fifty
        times; those that come while it is being read wait for that read."""
        now = asyncio.get_running_loop().time()
        kept = self._releases.get(release_id)
        if kept is None or now - kept[0] >= RELEASE_S:
            kept = self._releases[release_id] = (now, asyncio.ensure_future(load()))
        try:
            return await asyncio.shield(kept[1])
        except Exception:
            if self._releases.get(release_id) is kept:  # the next stream reads it again
                del self._releases[release_id]
            raise

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self._streams.values())

    @property
    def following(self) -> bool:
        """Whether the feed is reading the store for open pages (it stops once none is)."""
        return self._task is not None and not self._task.done()

    @property
    def placed(self) -> bool:
        """Whether the feed knows where in the store it is (its first look since it started)."""
        return self._last is not None

    def subscribe(self, release_id: str, since: int | None = None) -> asyncio.Queue[Message]:
        """A queue of the release's messages; ``since``: the newest check id its page shows
        (what was stored after it is sent at the next look)."""
        if self.open_streams >= MAX_STREAMS:
            raise TooManyRequestsError(
                f"{MAX_STREAMS} pages are following releases live already: this one will "
                "update itself every few seconds instead.",
                30.0,
            )
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
        self._streams[release_id].add(queue)
        self._shown.pop(release_id, None)  # its page may be older than the last look: send all
        if since is not None and (self._last is None or since < self._last[0]):
            self._behind[release_id] = min(since, self._behind.get(release_id, since))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, release_id: str, queue: asyncio.Queue[Message]) -> None:
        self._streams[release_id].discard(queue)
        if not self._streams[release_id]:
            del self._streams[release_id]
            self._shown.pop(release_id, None)  # the feed stops reading its results
            self._behind.pop(release_id, None)

    async def _run(self) -> None:
        """Look every ``every_s`` while any stream is open; a failing look is logged, not fatal.
        When the last stream closes the feed forgets where it was: the next page to open is sent
        what is stored from then on, not everything stored while no page was open."""
        while self._streams:
            try:
                await self.look()
            except Exception:  # the store may be busy or away: the next look tries again
                log.warning(
                    "The live feed could not read the store; it tries again.", exc_info=True
                )
            await asyncio.sleep(self.every_s)
        self._last = None

    async def look(self) -> dict[str, list[Seen]]:
        """Read what was stored since the last look; each release's results its pages had not
        got (a changed status or diagnosis), in the order they were stored. One look at a time:
        two at once could each note a different place in the store."""
        async with self._looking:
            return await self._look()

    async def _look(self) -> dict[str, list[Seen]]:
        behind = dict(self._behind)
        async with self.engine.connect() as conn:
            top = await newest_check(conn)
            if self._last is None:  # what is stored from now on is new (and what pages missed)
                top_event = (await conn.execute(select(func.max(events.c.id)))).scalar()
                self._last = (top, int(top_event or 0))
            last_check, last_event = self._last
            top = max(top, last_check)
            watched = [r for r in self._streams if r not in behind]
            rows = await _results_since(conn, last_check, top, watched) if top > last_check else []
            rows = [*await _missed(conn, behind, top), *rows]
            new_events = (
                await conn.execute(
                    select(events.c.id, events.c.release_id, events.c.kind).where(
                        events.c.id > last_event
                    )
                )
            ).all()
        self._last = (int(top), max([last_event, *(e.id for e in new_events)]))
        for release_id, since in behind.items():  # unless a page older still opened meanwhile
            if self._behind.get(release_id) == since:
                del self._behind[release_id]
        found = self._changed(rows)
        for release_id, seen in found.items():
            self._send(release_id, Message("results", seen))
        counted: dict[str, int] = defaultdict(int)
        for e in new_events:
            if e.kind not in SHOWN_BY_ROWS:
                counted[e.release_id] += 1
        for release_id, n in counted.items():
            self._send(release_id, Message("timeline", {"events": n}))
        return found

    def _changed(self, rows: Sequence[ResultRow]) -> dict[str, list[Seen]]:
        """The rows whose status or diagnosis is not what their release's pages last got; what
        the pages get now is noted. A sweep's results share one ``checked_at``: it is read once."""
        found: dict[str, list[Seen]] = defaultdict(list)
        instants: dict[Any, dt.datetime] = {}
        for release_id, url, vantage, status, stored_at, diagnosis in rows:
            shown = self._shown.setdefault(release_id, {})
            key, now = f"{url}|{vantage}", (status, diagnosis or "")
            if shown.get(key) != now:
                shown[key] = now
                at = instants.get(stored_at) or instants.setdefault(
                    stored_at, aggregated_instant(stored_at)
                )
                found[release_id].append(Seen(key, status, now[1], at))
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
    since: int | None = None,
    holds: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[bytes]:
    """The stream of one open page: results as table rows (``rows``) while ``sees()``, else only
    the word that T has come; ``since``: the newest check id the page shows (``newest_check``).
    A stream that shows the rows asks ``holds()`` every ``feed.recheck_s`` whether its caller
    may still see them, and ends when not (the browser opens a new one, as the caller is now)."""
    queue = feed.subscribe(release.id, since)
    loop = asyncio.get_running_loop()
    ends = loop.time() + feed.lifetime_s
    recheck = loop.time() + feed.recheck_s
    try:
        yield b"retry: 2000\n\n"
        shown = sees()
        while (left := ends - loop.time()) > 0:
            if shown and holds is not None and loop.time() >= recheck:
                if not await holds():
                    return
                recheck = loop.time() + feed.recheck_s
            wait = min(KEEPALIVE_S, feed.recheck_s, left)
            if not shown:  # look again at T, and every second (the clock may be set)
                wait = min(wait, 1.0, max(0.05, (release.release_at - now()).total_seconds()))
            try:
                message = queue.get_nowait() if queue.qsize() else await _next(queue, wait)
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


async def _next(queue: asyncio.Queue[Message], wait: float) -> Message:
    """The stream's next message, within ``wait`` seconds (no task of its own, as
    ``asyncio.wait_for`` makes: fifty streams get each message)."""
    async with asyncio.timeout(wait):
        return await queue.get()


ResultRow = Row[str, str, str, str, Any, str | None]


async def newest_check(conn: AsyncConnection) -> int:
    """The id of the newest result stored (0 when none is): a page reads it before its results,
    and its stream is sent what came after."""
    return int((await conn.execute(select(func.max(checks.c.id)))).scalar() or 0)


async def _results_since(
    conn: AsyncConnection, last: int, top: int, watched: list[str]
) -> Sequence[ResultRow]:
    """The results of the ``watched`` releases stored after id ``last`` up to ``top``, in order:
    only what a row shows (``checked_at`` as the driver gives it: see ``Feed._changed``)."""
    if not watched:
        return []
    where = and_(checks.c.id > last, checks.c.id <= top, checks.c.release_id.in_(watched))
    found: Sequence[ResultRow] = (await conn.execute(_shown_of(where))).all()
    return found


def _shown_of(where: ColumnElement[bool]) -> Select[str, str, str, str, Any, str | None]:
    """The results ``where`` says, in the order they were stored: only what a row shows."""
    return (
        select(
            checks.c.release_id,
            checks.c.url,
            checks.c.vantage,
            checks.c.status,
            type_coerce(checks.c.checked_at, NullType()),
            checks.c.result["diagnosis"].as_string(),
        )
        .where(where)
        .order_by(checks.c.id)
    )


async def _missed(conn: AsyncConnection, behind: dict[str, int], top: int) -> list[ResultRow]:
    """For each release of ``behind``, the newest result of each of its rows stored after the
    check id its new page shows, up to ``top``: one a row at most, however old the page."""
    if not behind:
        return []
    newest = (
        select(func.max(checks.c.id))
        .where(
            or_(
                *(
                    and_(checks.c.release_id == r, checks.c.id > since)
                    for r, since in behind.items()
                )
            ),
            checks.c.id <= top,
        )
        .group_by(checks.c.release_id, checks.c.url, checks.c.vantage)
    )
    return list((await conn.execute(_shown_of(checks.c.id.in_(newest)))).all())


def _rows(release: Release, seen: list[Seen], rows: Rows) -> bytes:
    return Message("results", rows(release, seen)).encode()
