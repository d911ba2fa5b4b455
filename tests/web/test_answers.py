"""The watched pages made once a second (``web.answers``): given again for that second without
reading the store, made again after it with what was stored meanwhile, and never given to a viewer
who may see less than the one it was made for."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record.checks import CheckRecorder
from onthedot.web.answers import ANSWER_S, WAITING_S
from onthedot.web.app import create_app
from tests.web.busy_morning import T, fill_morning, paths, sweep
from tests.web.conftest import EMBARGOED_STRINGS, FATAL, GDP, NOW, FixedClock, token
from tests.web.forms import CSRF, sign_in
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
    secret = (await token(store, "jane", "statistician"))["Authorization"].split()[1]
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as first,
        httpx.AsyncClient(transport=transport, base_url="http://onthedot.test") as second,
    ):
        await sign_in(first, token=secret)
        await sign_in(second, token=secret)
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
