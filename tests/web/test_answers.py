"""The watched pages made once a second (``web.answers``): given again for that second without
reading the store, made again after it with what was stored meanwhile, and never given to a viewer
who may see less than the one it was made for."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import IncidentBook
from onthedot.web import calendar_page
from onthedot.web.answers import ANSWER_S, WAITING_S
from onthedot.web.app import create_app
from onthedot.web.pages import card_for
from tests.web.busy_morning import T, fill_morning, paths, sweep
from tests.web.conftest import EMBARGOED_STRINGS, FATAL, GDP, NOW, TOKENS, FixedClock, token
from tests.web.forms import CSRF, post, sign_in
from tests.web.test_dashboard import open_incident

AFTER = T + dt.timedelta(seconds=10)
SERVER_NOW = re.compile(r'data-server-now="(\d+)"')
LASTING_S = 60.0


async def read(
    client: httpx.AsyncClient, engine: AsyncEngine, page: str, headers: dict[str, str]
) -> tuple[str, int]:
    """``page``'s body, and how many SQL statements answering it took."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    listener: Callable[..., None] = count
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        answer = await client.get(page, headers=headers)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)
    assert answer.status_code == 200, answer.text
    return answer.text, len(statements)


@contextlib.asynccontextmanager
async def signed_in_twice(
    app: FastAPI, store: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two browsers signed in with the same statistician's token."""
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as first,
        httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as second,
    ):
        await sign_in(first, token=secret)
        await sign_in(second, token=secret)
        yield first, second


async def test_a_page_is_given_again_for_a_while_then_made_with_the_results_stored_since(
    engine: AsyncEngine,
) -> None:
    (release,) = await fill_morning(engine, releases=1, files=3, stale=1)
    reader = await token(engine, "reader", "read")
    pages = {
        "/": {},
        "/calendar": {},
        f"/releases/{release.id}": reader,
        f"/api/releases/{release.id}": reader,
    }
    clock = FixedClock(AFTER)
    app = create_app(engine, config=Config(), clock=clock)
    answers = app.state.onthedot.answers
    answers.answer_s = LASTING_S  # (by the test's clock: on a busy machine a second passes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        made = {page: (await read(c, engine, page, headers))[0] for page, headers in pages.items()}
        assert "<strong>2 of 3 live</strong>, 1 stale." in made["/"]
        fixed = dict.fromkeys(paths(release), Status.LIVE)
        await CheckRecorder(engine).record(release.id, sweep(release, fixed, AFTER))
        await clock.sleep(LASTING_S / 2)
        again = {page: await read(c, engine, page, headers) for page, headers in pages.items()}
        assert again["/"][1] == 0  # given again, the store not read
        for page, (body, _) in again.items():  # the same answer, but for the server's clock
            assert SERVER_NOW.sub("", body) == SERVER_NOW.sub("", made[page]), page
        shown = SERVER_NOW.findall(again["/"][0])
        assert shown == [str(int(clock.now().timestamp() * 1000))]  # (the countdowns' clock)
        await clock.sleep(LASTING_S / 2)
        board = (await read(c, engine, "/", {}))[0]
        page = (await read(c, engine, f"/releases/{release.id}", reader))[0]
        detail = (await c.get(f"/api/releases/{release.id}", headers=reader)).json()
    assert "<strong>3 of 3 live</strong>" in board and "1 stale" not in board
    assert 'data-status="stale"' in made[f"/releases/{release.id}"]
    assert 'data-status="stale"' not in page
    assert detail["status_counts"] == {"live": 3} and detail["live"] is True


async def test_while_a_page_is_made_again_the_requests_meanwhile_get_the_one_before(
    engine: AsyncEngine,
) -> None:
    """Two asking at once when the board is a second old: one waits for the new board (with the
    result stored since), the other is given the one before at once."""
    (release,) = await fill_morning(engine, releases=1, files=3, stale=1)
    clock = FixedClock(AFTER)
    app = create_app(engine, config=Config(), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert "<strong>2 of 3 live</strong>" in (await c.get("/")).text
        fixed = dict.fromkeys(paths(release), Status.LIVE)
        await CheckRecorder(engine).record(release.id, sweep(release, fixed, AFTER))
        await clock.sleep(ANSWER_S)
        both = await asyncio.gather(c.get("/"), c.get("/"))
        counted = sorted(re.findall(r"<strong>(\d) of 3 live</strong>", b.text)[0] for b in both)
        assert counted == ["2", "3"]
        stale = dict.fromkeys(paths(release)[-1:], Status.STALE)
        await CheckRecorder(engine).record(release.id, sweep(release, stale, clock.now()))
        await clock.sleep(WAITING_S)  # (the board before is now too old to be given meanwhile)
        both = await asyncio.gather(c.get("/"), c.get("/"))
    assert all("<strong>2 of 3 live</strong>" in b.text for b in both)


async def test_a_page_made_for_a_viewer_with_the_power_is_never_given_to_one_without(
    store: AsyncEngine,
) -> None:
    """Before T, the page made for a statistician (the release's detail) within the same second:
    anyone, and a token whose role may not see the detail, get the calendar only; and the other
    way round, a page made for anyone is not what the statistician gets."""
    statistician = await token(store, "a-statistician", "statistician")
    scraper = await token(store, "prometheus", "metrics")
    pages = ("/", f"/releases/{GDP.id}", f"/api/releases/{GDP.id}")
    assert NOW < GDP.release_at
    for first, then in ((statistician, ({}, scraper)), ({}, (statistician,))):
        app = create_app(store, config=Config(), clock=FixedClock(NOW))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for page in pages:
                made = (await c.get(page, headers=first)).text
                assert any(s in made for s in EMBARGOED_STRINGS) == (first is statistician)
                for headers in then:
                    given = (await c.get(page, headers=headers)).text
                    sees = headers is statistician
                    assert any(s in given for s in EMBARGOED_STRINGS) == sees, (page, headers)


async def test_no_page_made_before_a_release_time_is_given_from_it(store: AsyncEngine) -> None:
    """Half a second before GDP's T, anyone gets its calendar only; at T, within the second, they
    get what is now public: the answer made before T is not given."""
    clock = FixedClock(GDP.release_at - dt.timedelta(seconds=ANSWER_S / 2))
    app = create_app(store, config=Config(), clock=clock)
    pages = (f"/releases/{GDP.id}", f"/api/releases/{GDP.id}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        before = [(await c.get(page)).text for page in pages]
        await clock.sleep(ANSWER_S / 2)
        at_t = [(await c.get(page)).text for page in pages]
    assert not any(s in page for page in before for s in EMBARGOED_STRINGS)
    assert all(any(s in page for s in EMBARGOED_STRINGS) for page in at_t)


async def test_a_page_given_again_carries_each_person_s_own_form_token(
    app: FastAPI, store: AsyncEngine
) -> None:
    """Two people signed in with the same role get the same page, each with their own CSRF
    token: the second acknowledges the incident with the page made for the first."""
    number = await open_incident(store)
    async with signed_in_twice(app, store) as (first, second):
        made = (await first.get(f"/releases/{FATAL.id}")).text
        given = (await second.get(f"/releases/{FATAL.id}")).text
        (mine,), (theirs,) = CSRF.findall(made), CSRF.findall(given)
        assert mine != theirs and CSRF.sub("", made) == CSRF.sub("", given)
        done = await second.post(
            f"/incidents/{number}/ack", data={"csrf_token": theirs, "back": f"/releases/{FATAL.id}"}
        )
        assert done.status_code == 303
        after = (await first.get(f"/releases/{FATAL.id}")).text  # the post dropped the answer
    assert f'action="/incidents/{number}/ack"' in made
    assert f'action="/incidents/{number}/ack"' not in after


async def test_an_error_page_met_while_making_an_answer_is_whole(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    page = await client.get("/releases/no-such-release")
    assert page.status_code == 404 and "There is no release" in page.text
    assert SERVER_NOW.findall(page.text) == [str(int(clock.now().timestamp() * 1000))]


async def test_a_post_refused_or_of_an_agent_s_results_drops_no_answer_kept(
    engine: AsyncEngine,
) -> None:
    """An unknown token acknowledging, a failed sign-in, an agent's results: none drops the pages
    kept (anyone could otherwise make every reader's next page be made again, at every post)."""
    await fill_morning(engine, releases=1, files=3, stale=1)
    agent = next(iter(TOKENS))
    app = create_app(engine, config=Config(), clock=FixedClock(AFTER), agent_tokens=TOKENS)
    app.state.onthedot.answers.answer_s = LASTING_S
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await read(c, engine, "/", {})
        refused = await c.post("/incidents/1/ack", headers={"Authorization": "Bearer junk"})
        assert refused.status_code == 401
        assert (await post(c, "/sign-in", {"name": "jane", "password": "wrong"})).status_code == 401
        results = await c.post(
            "/api/agent/results", json={"results": []}, headers={"Authorization": f"Bearer {agent}"}
        )
        assert results.status_code == 200, results.text
        _, statements = await read(c, engine, "/", {})
    assert statements == 0  # given again


async def test_the_page_sent_back_to_after_an_ack_is_not_one_made_before_it_was_stored(
    app: FastAPI, store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's own refresh (in another tab) made while the acknowledgement is being stored is
    not the page the person is sent back to."""
    number = await open_incident(store)
    page = f"/releases/{FATAL.id}"
    async with signed_in_twice(app, store) as (mine, refresher):
        acknowledge = IncidentBook.acknowledge

        async def refreshed_first(self: IncidentBook, *args: Any, **kwargs: Any) -> Any:
            await refresher.get(page)
            return await acknowledge(self, *args, **kwargs)

        monkeypatch.setattr(IncidentBook, "acknowledge", refreshed_first)
        (csrf,) = CSRF.findall((await mine.get(page)).text)
        done = await mine.post(f"/incidents/{number}/ack", data={"csrf_token": csrf, "back": page})
        assert done.status_code == 303
        after = (await mine.get(page)).text
    assert f'action="/incidents/{number}/ack"' not in after


async def test_a_report_written_shows_on_the_release_page_made_next(
    app: FastAPI, store: AsyncEngine
) -> None:
    """A section of the breach report written is on the release's timeline at once."""
    page, editor = f"/releases/{FATAL.id}", f"/releases/{FATAL.id}/report"
    async with signed_in_twice(app, store) as (mine, _):
        before = (await mine.get(page)).text
        saved = await post(mine, editor, {"impact_inside": "None."}, page=editor)
        assert saved.status_code == 303, saved.text
        after = (await mine.get(page)).text
    assert SERVER_NOW.sub("", CSRF.sub("", before)) != SERVER_NOW.sub("", CSRF.sub("", after))


async def test_made_up_parameters_make_no_answer_and_the_bytes_kept_are_bounded(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page asked for with parameters it does not read is the one answer; the answers kept
    hold at most ``kept_bytes`` (the first kept dropped, the last still given again) and none
    too old to be given again."""
    await fill_morning(engine, releases=20, files=2, stale=0)
    clock = FixedClock(AFTER)
    app = create_app(engine, config=Config(), clock=clock)
    answers = app.state.onthedot.answers
    answers.answer_s = LASTING_S
    made: list[str] = []
    calendar_made = calendar_page.calendar_made

    async def counted(request: Request, *args: Any) -> Response:
        made.append(str(request.url))
        return await calendar_made(request, *args)

    monkeypatch.setattr(calendar_page, "calendar_made", counted)

    async def calendar(page: str) -> bool:
        """Whether ``page`` was made (not given again)."""
        before = len(made)
        assert (await c.get(page)).status_code == 200
        return len(made) > before

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert await calendar("/calendar")
        one = answers.held
        assert not any([await calendar(f"/calendar?x={n}&producer=") for n in range(50)])
        assert answers.held == one
        answers.kept_bytes = 3 * one + one // 2
        days = [f"/calendar?from=2026-11-{day:02}" for day in range(1, 7)]
        assert all([await calendar(page) for page in days])
        assert 0 < answers.held <= answers.kept_bytes
        assert not await calendar(days[-1])  # the last kept: given again
        assert await calendar(days[0])  # the first: dropped
        await clock.sleep(WAITING_S)
        assert await calendar("/calendar")
    assert answers.held == one


async def test_a_request_from_a_release_time_does_not_wait_for_a_page_begun_before_it(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDP's page begun 0.2 s before its T (withheld) and still being made at T + 0.1 s: a
    request then gets the page as it is from T, not the one being made."""
    clock = FixedClock(GDP.release_at - dt.timedelta(seconds=0.2))
    app = create_app(store, config=Config(), clock=clock)
    begun, go = asyncio.Event(), asyncio.Event()

    async def slow_first(*args: Any) -> Any:
        if not begun.is_set():
            begun.set()
            await go.wait()
        return await card_for(*args)

    monkeypatch.setattr("onthedot.web.release.card_for", slow_first)
    page = f"/releases/{GDP.id}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        first = asyncio.ensure_future(c.get(page))
        await begun.wait()
        await clock.sleep(0.3)
        try:
            at_t = await asyncio.wait_for(c.get(page), WAITING_S)
        finally:
            go.set()
            before = await first
    assert not any(s in before.text for s in EMBARGOED_STRINGS)
    assert any(s in at_t.text for s in EMBARGOED_STRINGS)


async def test_a_page_is_given_again_while_nothing_it_is_made_from_changes(
    engine: AsyncEngine,
) -> None:
    """Once its second has passed, a release's page, its API answer and the board are given
    again (one statement read: the store's mark) while the release has no new result or event,
    and the board while no release has; each is made again at once when one is stored, and
    after ``SETTLED_S`` whatever happens."""
    first, other = await fill_morning(engine, releases=2, files=3, stale=1)
    reader = await token(engine, "reader", "read")
    clock = FixedClock(AFTER)
    app = create_app(engine, config=Config(), clock=clock)
    settled = app.state.onthedot.answers.settled_s
    mine = (f"/releases/{first.id}", f"/api/releases/{first.id}")
    recorder = CheckRecorder(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for page in mine:
            await read(c, engine, page, reader)
        await read(c, engine, "/", {})
        await clock.sleep(ANSWER_S * 2)
        for page in mine:  # the token's look-up, the mark: given again
            assert (await read(c, engine, page, reader))[1] == 2, page
        assert (await read(c, engine, "/", {}))[1] == 2  # (the releases' digests, the mark)
        fixed = dict.fromkeys(paths(other), Status.LIVE)
        await recorder.record(other.id, sweep(other, fixed, clock.now()))  # another release's
        await clock.sleep(ANSWER_S * 2)
        for page in mine:
            assert (await read(c, engine, page, reader))[1] == 2, page
        board = (await read(c, engine, "/", {}))[0]  # made again: the other release counted
        assert board.count("<strong>3 of 3 live</strong>") == 1
        fixed = dict.fromkeys(paths(first), Status.LIVE)
        await recorder.record(first.id, sweep(first, fixed, clock.now()))
        await clock.sleep(ANSWER_S * 2)
        page = (await read(c, engine, mine[0], reader))[0]
        detail = (await c.get(mine[1], headers=reader)).json()
        assert 'data-status="stale"' not in page and detail["live"] is True
        await Timeline(engine).append(first.id, kinds.NOTE, {"text": "The minister asked."})
        await clock.sleep(ANSWER_S * 2)
        assert "The minister asked." in (await read(c, engine, mine[0], reader))[0]
        await clock.sleep(settled)
        for page in mine:  # made again: the token, the mark, then the page's own statements
            assert (await read(c, engine, page, reader))[1] > 2, page


async def test_a_page_given_again_for_longer_is_still_never_given_across_a_release_time(
    store: AsyncEngine,
) -> None:
    """GDP's page and API answer made for anyone four seconds before its T (the calendar only),
    nothing stored since: at T they are made again, with what is now public."""
    clock = FixedClock(GDP.release_at - dt.timedelta(seconds=4))
    app = create_app(store, config=Config(), clock=clock)
    pages = (f"/releases/{GDP.id}", f"/api/releases/{GDP.id}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        before = [(await c.get(page)).text for page in pages]
        await clock.sleep(2)
        meanwhile = [(await c.get(page)).text for page in pages]
        await clock.sleep(2)
        at_t = [(await c.get(page)).text for page in pages]
    assert [SERVER_NOW.sub("", p) for p in before] == [SERVER_NOW.sub("", p) for p in meanwhile]
    assert not any(s in page for page in before for s in EMBARGOED_STRINGS)
    assert all(any(s in page for s in EMBARGOED_STRINGS) for page in at_t)


async def test_a_kept_page_is_not_given_when_the_store_s_mark_was_read_across_t(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page made for anyone before GDP's T (withheld), asked again half a second before T:
    the store's mark is read first, and at T that read may wait for a connection. The kept page
    is judged by the time after the read, so it is made again with what is now public."""
    from onthedot.web import queries

    clock = FixedClock(GDP.release_at - dt.timedelta(seconds=3))
    app = create_app(store, config=Config(), clock=clock)
    page = f"/releases/{GDP.id}"
    real = queries.release_mark
    slow = False

    async def mark(engine: AsyncEngine, release_id: str) -> Any:
        found = await real(engine, release_id)
        if slow:
            await clock.sleep(0.6)  # (the read waited for a connection, across T)
        return found

    monkeypatch.setattr(queries, "release_mark", mark)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        before = (await c.get(page)).text
        await clock.sleep(2.5)
        slow = True
        answer = await c.get(page)
    assert clock.now() >= GDP.release_at
    assert not any(s in before for s in EMBARGOED_STRINGS)
    assert any(s in answer.text for s in EMBARGOED_STRINGS)
