"""An embargo exposure is alerted before T: a staged copy the public site serves opens an incident
at once, the statistician is told the fix, and the incident is resolved once the copy can no
longer be fetched. The clock is the test's; the mail is real (loopback)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record.exposures import FIX, record_changes
from onthedot.record.timeline import Timeline
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings
from onthedot.verify.exposure import Exposure, StagedCopy
from tests.respond.conftest import MovedClock, T
from tests.respond.receivers import smtp_server

STAGED = "http://127.0.0.1:9/statistics/.onthedot-87229d4be1c0-retail-sales.xlsx"


def exposure(tmp_path: Path) -> Exposure:
    copy = StagedCopy(
        path="/statistics/retail-sales.xlsx",
        url=STAGED,
        location="/var/www/statistics/.onthedot-87229d4be1c0-retail-sales.xlsx",
        sha256="b" * 64,
        local=tmp_path / "retail-sales.xlsx",
    )
    return Exposure(copy, STAGED, 200, 18_432)


async def test_a_staged_copy_served_before_t_is_alerted_then_resolved_when_contained(
    store: AsyncEngine, tmp_path: Path
) -> None:
    clock = MovedClock(T - dt.timedelta(minutes=10))
    timeline, open_urls = Timeline(store), set[str]()
    with smtp_server() as (address, box):
        settings = NotifySettings.model_validate({"statistician": [address]})
        responder = Responder(store, settings, clock, ZoneInfo("Europe/London"))
        await responder.tick()
        await responder.sent()
        assert box.messages == []  # staged and unreachable: nothing to say
        await record_changes(
            timeline, "retail-sales-2026-02", [exposure(tmp_path)], open_urls, clock.now()
        )
        clock.move(2)
        await responder.tick()
        await responder.sent()
        ((subject, body),) = box.texts()
        assert "Retail sales, Great Britain: February 2026" in subject + body
        said = " ".join(body.split())
        assert STAGED in body and "ask IT now to remove it or block its address" in said
        assert "staging=" not in said and "docs/" not in said
        (incident,) = await responder.book.listed()
        assert (incident.problem, incident.state) == ("embargo", "open")
        assert incident.since < T and FIX in incident.diagnosis
        await record_changes(timeline, "retail-sales-2026-02", [], open_urls, clock.now())
        clock.move(2)
        await responder.tick()
        await responder.tick()
        await responder.sent()
        assert [s.startswith("Resolved:") for s, _ in box.texts()] == [False, True]
    (closed,) = await responder.book.listed(everything=True)
    assert closed.state == "resolved"
