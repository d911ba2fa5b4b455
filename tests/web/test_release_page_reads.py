"""A release's page made from one read of its results' places and times and one of its latest
results' documents, whatever the number of results stored: the same table, first-live times and
go-live curve as from every result read whole."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config
from onthedot.model import Status
from onthedot.record import golive
from onthedot.record.checks import CheckRecorder
from onthedot.record.report.assess import stored_results
from onthedot.web import queries
from onthedot.web.app import create_app
from tests.web.busy_morning import SWEPT, T, fill_morning, paths, sweep
from tests.web.conftest import FixedClock, token

LATER = T + dt.timedelta(minutes=20)


async def watched_for_a_while(engine: AsyncEngine) -> Any:
    """A release of 4 files swept 30 times from T + 3 s: its first two live from the first
    sweep, the third stale until the 10th then live, the last flapping between live, stale and
    an error (last seen stale)."""
    (release,) = await fill_morning(engine, releases=1, files=4, stale=2)
    recorder = CheckRecorder(engine)
    third, last = paths(release)[2], paths(release)[3]
    flapping = (Status.LIVE, Status.STALE, Status.ERROR, Status.STALE)
    for n in range(1, 30):
        status_of = {last: flapping[n % 4]}
        if n < 10:
            status_of[third] = Status.STALE
        at = SWEPT + dt.timedelta(seconds=7 * n)
        await recorder.record(release.id, sweep(release, status_of, at))
    return release


async def test_the_release_page_reads_each_results_document_once_however_often_it_was_checked(
    engine: AsyncEngine,
) -> None:
    release = await watched_for_a_while(engine)
    reader = await token(engine, "reader", "read")
    app = create_app(engine, config=Config(), clock=FixedClock(LATER))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        try:
            page = (await c.get(f"/releases/{release.id}", headers=reader)).text
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
    marked = [s for s in statements if "max(events.seq)" in s]  # (web.answers: what changed)
    of_results = [s for s in statements if re.search(r"FROM checks\b", s) and s not in marked]
    assert len(marked) == 1
    documents = [s for s in of_results if re.search(r"SELECT checks\.result\b", s)]
    assert len(documents) == 1 and "max(checks.id)" in documents[0]  # the latest only
    assert len(of_results) == 3  # (the newest id for the live stream, the places, the latest)
    assert page.count('data-status="live"') == 3 and page.count('data-status="stale"') == 1
    drawn = golive.curve(release, await stored_results(engine, release.id))
    assert golive.sentence(drawn, Config().zone) in page
    assert "Every address was live from every vantage point at 09:31:27" in page  # (sweep 12)


async def test_the_curve_and_first_live_times_are_those_of_every_result(
    engine: AsyncEngine,
) -> None:
    release = await watched_for_a_while(engine)
    async with engine.connect() as conn:
        record = await queries.release_record(conn, release, LATER)
    every = await stored_results(engine, release.id)
    assert golive.curve(release, record.turns) == golive.curve(release, every)
    assert len(record.turns) < len(every) / 3
    assert record.view.first_live == await queries.first_live(engine, release)
    assert record.view == await queries.release_view(engine, release, LATER)
    assert [r.status for r in record.view.results] == [Status.LIVE] * 3 + [Status.STALE]
