"""A release page's live updates (Server-Sent Events) over a real uvicorn on 127.0.0.1: a stored
result reaches the open page as its table row; before T a caller who may not see the detail
gets nothing but the word that T has come."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.errors import TooManyRequestsError, UnknownReleaseError
from onthedot.model import Release, Status
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.store.releases import ReleaseRepository
from onthedot.store.tokens import AccessTokens
from onthedot.web import live
from onthedot.web.app import create_app
from tests.web.conftest import (
    EMBARGOED_STRINGS,
    FATAL,
    GDP,
    NOW,
    PUBLIC,
    STALE_SENTENCE,
    XLSX,
    FixedClock,
    result,
    token,
)
from tests.web.serve import serve

LIVE_SENTENCE = "The new version is live (served by Varnish, Age 3 s)."


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, object]]:
    """(event, data) of each message of a Server-Sent Events stream."""
    kind = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield kind, json.loads(line.removeprefix("data: "))


async def first(
    response: httpx.Response | AsyncIterator[tuple[str, object]], wanted: str
) -> object:
    """The data of the stream's next ``wanted`` event (from its events, if read already)."""
    heard = events(response) if isinstance(response, httpx.Response) else response
    async for kind, data in heard:
        if kind == wanted:
            return data
    raise AssertionError(f"the stream ended without a {wanted!r} event")


async def until(condition: Callable[[], bool], deadline_s: float = 10.0) -> None:
    """Wait until ``condition`` holds (the feed's own state), for at most ``deadline_s``."""
    async with asyncio.timeout(deadline_s):
        while not condition():
            await asyncio.sleep(0.01)


def feed_of(app: object) -> live.Feed:
    feed = app.state.onthedot.feed  # type: ignore[attr-defined]
    assert isinstance(feed, live.Feed)
    return feed


async def test_a_stored_result_reaches_the_open_page_as_its_row(
    store: AsyncEngine, clock: FixedClock, statistician: dict[str, str]
) -> None:
    app = create_app(store, config=Config(), clock=clock)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as c:
        async with c.stream("GET", f"/releases/{FATAL.id}/live", headers=statistician) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            await until(lambda: feed_of(app).placed)  # the feed has taken its first look
            fixed = result(XLSX, Status.LIVE, NOW + dt.timedelta(seconds=5))
            await CheckRecorder(store).record(FATAL.id, [fixed])
            rows = await asyncio.wait_for(first(r, "results"), 10)
    assert rows == {
        "base": PUBLIC,
        "texts": [LIVE_SENTENCE],
        "checked": ["09:41:05"],
        "first_live": ["09:41:05 (T+665.00 s)"],
        "rows": [["live", 0, 0, ["/statistics/fatalquarterly.xlsx|default"]]],
    }


async def test_a_page_opened_later_gets_nothing_stored_while_no_page_was_open(
    store: AsyncEngine, clock: FixedClock, statistician: dict[str, str]
) -> None:
    app = create_app(store, config=Config(), clock=clock)
    page = f"/releases/{FATAL.id}/live"
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as c:
        async with c.stream("GET", page, headers=statistician):
            await until(lambda: feed_of(app).placed)  # the feed has taken its first look
        await until(lambda: not feed_of(app).following)  # the last page closed: it stopped
        before = result(XLSX, Status.STALE, NOW + dt.timedelta(seconds=5))
        await CheckRecorder(store).record(FATAL.id, [before])
        async with c.stream("GET", page, headers=statistician) as r:
            await until(lambda: feed_of(app).placed)
            after = result(XLSX, Status.LIVE, NOW + dt.timedelta(seconds=6))
            await CheckRecorder(store).record(FATAL.id, [after])
            rows = await asyncio.wait_for(first(r, "results"), 10)
    assert isinstance(rows, dict) and rows["texts"] == [LIVE_SENTENCE]


async def page_stream(c: httpx.AsyncClient, who: dict[str, str]) -> str:
    """The address the release page just made follows its updates at (its ``data-live``)."""
    page = (await c.get(f"/releases/{FATAL.id}", headers=who)).text
    found = re.search(r'data-live="([^"]+)"', page)
    assert found is not None
    return html.unescape(found.group(1))


async def test_what_is_stored_before_the_page_s_stream_opens_still_reaches_it(
    store: AsyncEngine, clock: FixedClock, statistician: dict[str, str]
) -> None:
    """A row that goes live between the page being made and its stream opening (and is not
    checked again: it is live) is sent, whether or not the feed is reading already."""
    app = create_app(store, config=Config(), clock=clock)
    recorder = CheckRecorder(store)
    rows = [["live", 0, 0, ["/statistics/fatalquarterly.xlsx|default"]]]
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as c:
        follow = await page_stream(c, statistician)
        await recorder.record(FATAL.id, [result(XLSX, Status.LIVE, NOW + dt.timedelta(seconds=5))])
        async with c.stream("GET", follow, headers=statistician) as r:  # no page open before
            heard = events(r)
            got = await asyncio.wait_for(first(heard, "results"), 5)
            assert isinstance(got, dict) and got["rows"] == rows
            # another page, made while this one is open: its result reaches this page's stream
            # (the feed's look has read it) before the other page's stream opens
            follow = await page_stream(c, statistician)
            stale = result(XLSX, Status.STALE, NOW + dt.timedelta(seconds=6))
            await recorder.record(FATAL.id, [stale])
            assert await asyncio.wait_for(first(heard, "results"), 5)
            await recorder.record(
                FATAL.id, [result(XLSX, Status.LIVE, NOW + dt.timedelta(seconds=7))]
            )
            assert await asyncio.wait_for(first(heard, "results"), 5)
            async with c.stream("GET", follow, headers=statistician) as other:
                got = await asyncio.wait_for(first(other, "results"), 5)
    assert isinstance(got, dict) and got["rows"] == rows and got["checked"] == ["09:41:07"]


async def test_before_t_an_anonymous_page_hears_only_that_t_has_come(
    store: AsyncEngine, clock: FixedClock
) -> None:
    app = create_app(store, config=Config(), clock=clock)
    heard: list[tuple[str, object]] = []
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as c:
        async with c.stream("GET", f"/releases/{GDP.id}/live") as r:
            await asyncio.sleep(0.5)
            leak = result(f"{PUBLIC}/statistics/gdp-itl-regions.xlsx", Status.EARLY, NOW)
            await CheckRecorder(store).record(GDP.id, [leak])
            await Timeline(store).append(GDP.id, kinds.VERIFY_RESULT, {"status": "early"}, at=NOW)
            await asyncio.sleep(1.0)  # the feed has read both, and said nothing of them
            clock.at = GDP.release_at
            async for item in events(r):
                heard.append(item)
                if item[0] == "released":
                    break
    assert heard == [("released", {})]
    assert all(s not in json.dumps(heard) for s in EMBARGOED_STRINGS)


async def test_before_t_a_stream_ends_once_its_callers_token_is_revoked(
    store: AsyncEngine, clock: FixedClock
) -> None:
    app = create_app(store, config=Config(), clock=clock)
    feed_of(app).recheck_s = 0.2  # (every keep-alive: 15 s)
    jane, john = await token(store, "jane", "statistician"), await token(store, "john", "it")
    heard: list[tuple[str, object]] = []
    page = f"/releases/{GDP.id}/live"
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as c:
        async with c.stream("GET", page, headers=jane) as r, c.stream("GET", page, headers=john):
            await until(lambda: feed_of(app).open_streams == 2)
            await asyncio.sleep(0.5)  # rechecked: both hold
            assert feed_of(app).open_streams == 2
            await AccessTokens(store).revoke("jane", NOW)
            async with asyncio.timeout(5):  # not LIFETIME_S later
                async for item in events(r):
                    heard.append(item)
            assert feed_of(app).open_streams == 1  # john's token holds: his stream goes on
    assert all(kind != "results" for kind, _ in heard)


async def test_new_events_tell_the_page_to_fetch_itself_again(store: AsyncEngine) -> None:
    feed = live.Feed(store, every_s=0.05)
    queue = feed.subscribe(FATAL.id)
    other = feed.subscribe(GDP.id)
    await feed.look()  # the first look only notes where the store is
    await Timeline(store).append(FATAL.id, kinds.VERIFY_ALL_LIVE, {}, at=NOW)
    await feed.look()
    assert queue.get_nowait() == live.Message("timeline", {"events": 1})
    assert other.empty()
    # a result's events: the row shows them (the page fetches itself once a minute for the rest)
    await Timeline(store).append(FATAL.id, kinds.VERIFY_RESULT, {"status": "live"}, at=NOW)
    await Timeline(store).append(FATAL.id, kinds.VERIFY_FIRST_LIVE, {"url": XLSX}, at=NOW)
    await feed.look()
    assert queue.empty()
    feed.unsubscribe(FATAL.id, queue)
    feed.unsubscribe(GDP.id, other)
    assert feed.open_streams == 0


async def test_a_page_gets_what_changed_and_a_page_that_opens_gets_every_row(
    engine: AsyncEngine,
) -> None:
    """On both stores (the feed reads the diagnosis out of the stored result)."""
    feed = live.Feed(engine)
    page = feed.subscribe(FATAL.id)
    await feed.look()  # the first look only notes where the store is
    recorder = CheckRecorder(engine)

    async def stored(status: Status, seconds: int, **extra: str) -> list[list[str]]:
        """What the open page got of a result stored ``seconds`` after NOW: [status, why]."""
        at = NOW + dt.timedelta(seconds=seconds)
        await recorder.record(FATAL.id, [result(XLSX, status, at, **extra)])
        await feed.look()  # after it, all stored before it has gone to the pages
        return [
            [s.status, s.diagnosis] for m in drain(page) if m.event == "results" for s in m.data
        ]

    stale = "The cache served the old file (Age 3,500 s of max-age 3,600): purge it."
    assert await stored(Status.STALE, 1) == [["stale", STALE_SENTENCE]]
    assert await stored(Status.STALE, 2) == []  # the page's row says it already
    assert await stored(Status.STALE, 3, diagnosis=stale) == [["stale", stale]]
    assert await stored(Status.LIVE, 4) == [["live", LIVE_SENTENCE]]
    other = feed.subscribe(FATAL.id)  # its page may be older than the last look
    assert await stored(Status.LIVE, 5) == [["live", LIVE_SENTENCE]]
    heard = [m.data for m in drain(other) if m.event == "results"]
    assert [[(s.status, s.checked_at) for s in seen] for seen in heard] == [
        [("live", NOW + dt.timedelta(seconds=5))]
    ]
    late = feed.subscribe(FATAL.id, since=0)  # a page made before all of these: its row's newest
    await feed.look()
    heard = [m.data for m in drain(late) if m.event == "results"]
    assert [[(s.status, s.checked_at) for s in seen] for seen in heard] == [
        [("live", NOW + dt.timedelta(seconds=5))]
    ]
    feed.unsubscribe(FATAL.id, page)
    feed.unsubscribe(FATAL.id, other)
    feed.unsubscribe(FATAL.id, late)


def drain(queue: asyncio.Queue[live.Message]) -> list[live.Message]:
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_pages_opened_at_once_read_their_release_once(store: AsyncEngine) -> None:
    feed = live.Feed(store)
    reads: list[str] = []

    async def read(release_id: str) -> Release:
        reads.append(release_id)
        found = await ReleaseRepository(store).get(release_id)
        if found is None:
            raise UnknownReleaseError(f"There is no release {release_id!r}.")
        return found

    opened = await asyncio.gather(
        *(feed.release(FATAL.id, lambda: read(FATAL.id)) for _ in range(50))
    )
    assert reads == [FATAL.id] and {r.id for r in opened} == {FATAL.id}
    for _ in range(2):  # a read that failed is not kept: the next page reads again
        with pytest.raises(UnknownReleaseError):
            await feed.release("no-such-release", lambda: read("no-such-release"))
    assert reads == [FATAL.id, "no-such-release", "no-such-release"]


async def test_a_slow_page_is_told_to_fetch_itself_instead_of_piling_up(store: AsyncEngine) -> None:
    feed = live.Feed(store)
    queue = feed.subscribe(FATAL.id)
    await feed.look()
    for n in range(live.QUEUE + 5):
        at = NOW + dt.timedelta(seconds=n)
        status = Status.STALE if n % 2 else Status.LIVE  # each a change: each is sent
        await CheckRecorder(store).record(FATAL.id, [result(XLSX, status, at)])
        await feed.look()
    assert queue.qsize() <= live.QUEUE
    drained = [queue.get_nowait() for _ in range(queue.qsize())]
    assert live.Message("timeline", {"events": 0, "overflow": True}) in drained
    feed.unsubscribe(FATAL.id, queue)


async def test_no_more_than_max_streams_are_open_at_once(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "MAX_STREAMS", 3)
    feed = live.Feed(store)
    queues = [feed.subscribe(FATAL.id) for _ in range(3)]
    with pytest.raises(TooManyRequestsError, match="will update itself every few seconds"):
        feed.subscribe(GDP.id)
    assert feed.following
    for q in queues:
        feed.unsubscribe(FATAL.id, q)
    await until(lambda: not feed.following)  # the feed's reader stops once no page is open


async def test_a_stream_asked_from_no_check_id_is_told_what_to_write(
    store: AsyncEngine, clock: FixedClock, statistician: dict[str, str]
) -> None:
    app = create_app(store, config=Config(), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as c:
        answer = await c.get(f"/releases/{FATAL.id}/live?since=-1", headers=statistician)
    assert answer.status_code == 400
    assert "since='-1' is not a whole number: write digits only" in html.unescape(answer.text)
