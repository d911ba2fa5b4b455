"""The board (``/``) on a morning of 200 releases × 50 URLs due at the same T, read in process:
small, read from the store in a bounded number of statements, and counting right (on SQLite and
PostgreSQL: the ``engine`` fixture)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.store.releases import ReleaseRepository
from onthedot.web.answers import ANSWER_S
from onthedot.web.app import create_app
from tests.web.busy_morning import T, fill_morning, paths, stale_sentence
from tests.web.conftest import FixedClock, token

AFTER = T + dt.timedelta(seconds=10)


async def board(
    engine: AsyncEngine, at: dt.datetime, headers: dict[str, str] | None = None
) -> tuple[str, int]:
    """The board's HTML at ``at``, and how many SQL statements it took."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    app = create_app(engine, config=Config(), clock=FixedClock(at))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        listener: Callable[..., None] = count
        event.listen(engine.sync_engine, "before_cursor_execute", listener)
        try:
            page = await client.get("/", headers=headers or {})
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", listener)
    assert page.status_code == 200
    return page.text, len(statements)


async def test_a_morning_of_200_releases_is_a_small_page_read_in_a_few_statements(
    engine: AsyncEngine,
) -> None:
    made = await fill_morning(engine, releases=200, files=50, stale=2)
    html, statements = await board(engine, AFTER)
    assert len(html.encode()) < 300_000  # (every row of every release: 6.6 MB)
    assert statements <= 7  # the releases (2), the counts with the rows amiss, go-live, incidents
    # and first what the board is made from (web.answers: the releases' digests, the newest event and
    # result)
    assert html.count("<strong>48 of 50 live</strong>, 2 stale.") == 200
    assert html.count("First live at 09:30:03 (T+3.00 s).") == 200
    last = paths(made[-1])[-1]
    assert stale_sentence(last) in html  # each release's stale files, with why
    assert len(re.findall(r'<li data-status="stale">', html)) == 400
    assert 'data-status="live"' not in html  # what is live is counted, not listed
    assert "200 releases: 200 breach." in html


async def test_the_statements_do_not_grow_with_the_releases(engine: AsyncEngine) -> None:
    await fill_morning(engine, releases=3, files=4, stale=0)
    _, few = await board(engine, AFTER)
    await fill_morning(engine, releases=40, files=4, stale=0)
    html, many = await board(engine, AFTER)
    assert few == many
    assert html.count("<strong>4 of 4 live</strong>. All live at 09:30:03 (T+3.00 s).") == 40
    assert "40 releases: 40 all live." in html


async def test_a_card_lists_the_first_three_amiss_and_links_the_rest(engine: AsyncEngine) -> None:
    (first, *_) = await fill_morning(engine, releases=3, files=10, stale=5)
    html, _ = await board(engine, AFTER)
    card = html.split(f'id="release-{first.id}"')[1].split("</section>")[0]
    assert "<strong>5 of 10 live</strong>, 5 stale." in card
    listed = re.findall(r'href="https://www.statistics.example(/[^"]+)"', card)
    assert listed == paths(first)[5:8]
    assert f'href="/releases/{first.id}">and 2 more not live' in card
    page = await httpx_get(engine, f"/releases/{first.id}")
    assert all(path in page for path in paths(first))  # the release's page keeps every row


async def test_before_t_the_board_counts_for_those_who_may_see_and_reads_nothing_for_others(
    engine: AsyncEngine,
) -> None:
    await fill_morning(engine, releases=5, files=8, swept=False)
    before = T - dt.timedelta(minutes=1)
    anyone, _ = await board(engine, before)
    assert "of 8" not in anyone and "What the public gets is shown here" in anyone
    signed_in = await token(engine, "jane", "statistician")
    html, _ = await board(engine, before, signed_in)
    assert html.count("<strong>8 of 8 embargoed</strong>.") == 5  # as they should be before T
    assert "<li" not in html.split("<main")[1].split("</main>")[0]  # nothing amiss to list


async def httpx_get(engine: AsyncEngine, path: str) -> str:
    app = create_app(engine, config=Config(), clock=FixedClock(AFTER))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = await client.get(path)
    assert page.status_code == 200
    return page.text


async def test_a_release_changed_in_the_store_is_on_the_next_board(engine: AsyncEngine) -> None:
    """The board keeps the releases it validated while their digests stay the same."""
    (first, *_) = await fill_morning(engine, releases=3, files=2, stale=0)
    clock = FixedClock(AFTER)
    app = create_app(engine, config=Config(), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert first.title in (await client.get("/")).text
        renamed = first.model_copy(update={"title": "Quarterly bulletin: revised title"})
        await ReleaseRepository(engine).sync(renamed, actor="test")
        await clock.sleep(ANSWER_S)  # (the board made a second ago is given again until then)
        html = (await client.get("/")).text
    assert "Quarterly bulletin: revised title" in html and first.title not in html
