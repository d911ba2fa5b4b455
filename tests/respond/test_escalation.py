"""The ladder over real mail: the statistician at once, the Head of Profession at the configured
minute unless the incident is acknowledged; one message per role per change of state; the
resolution to everyone who was alerted. The clock is the test's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Status
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings
from tests.respond.conftest import MovedClock, T, seen
from tests.respond.receivers import Mailbox, smtp_server

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def boxes() -> Iterator[dict[str, tuple[str, Mailbox]]]:
    with smtp_server() as stats, smtp_server() as hop:
        yield {"statistician": stats, "head_of_profession": hop}


def responder(
    engine: AsyncEngine, clock: MovedClock, boxes: dict[str, tuple[str, Mailbox]], after_s: float
) -> Responder:
    settings = NotifySettings.model_validate(
        {
            "statistician": [boxes["statistician"][0]],
            "head_of_profession": [boxes["head_of_profession"][0]],
            "escalate": {"head_of_profession": after_s},
        }
    )
    return Responder(engine, settings, clock, LONDON)


async def look(r: Responder) -> None:
    await r.tick()
    await r.sent()


@pytest.mark.parametrize("acknowledged", [False, True])
async def test_the_head_of_profession_is_alerted_at_the_configured_minute_unless_acknowledged(
    store: AsyncEngine, boxes: dict[str, tuple[str, Mailbox]], acknowledged: bool
) -> None:
    clock = MovedClock(T + dt.timedelta(seconds=1))
    r = responder(store, clock, boxes, after_s=120)
    stats, hop = boxes["statistician"][1], boxes["head_of_profession"][1]
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.2))
    await look(r)
    assert len(stats.messages) == 1 and not hop.messages
    (incident,) = await r.book.listed()
    if acknowledged:
        await r.book.acknowledge(incident.id, "A Statistician", "cli", clock.now())
    clock.move(119)
    await look(r)
    assert not hop.messages  # a second before its minute
    clock.move(1)
    await look(r)
    await look(r)
    assert len(hop.messages) == (0 if acknowledged else 1)
    if not acknowledged:
        subject, body = hop.texts()[0]
        assert "Retail sales, Great Britain: February 2026" in subject + body
    expected = 2 if acknowledged else 1  # the acknowledgement is announced to who was alerted
    assert len(stats.messages) == expected


async def test_one_message_per_role_until_the_state_changes_then_the_resolution_to_who_was_alerted(
    store: AsyncEngine, boxes: dict[str, tuple[str, Mailbox]]
) -> None:
    clock = MovedClock(T + dt.timedelta(seconds=1))
    r = responder(store, clock, boxes, after_s=300)
    stats, hop = boxes["statistician"][1], boxes["head_of_profession"][1]
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.2))
    for _sweep in range(5):  # every sweep still stale: no further message
        await look(r)
        clock.move(2)
    await seen(store, Status.STALE, clock.now(), layer="origin")  # the same problem, elsewhere
    await look(r)
    assert len(stats.messages) == 1
    await seen(store, Status.LIVE, clock.now())
    await look(r)
    await look(r)
    subjects = [s for s, _ in stats.texts()]
    assert len(subjects) == 2 and subjects[1].startswith("Resolved:"), subjects
    assert not hop.messages  # never alerted, so not told of the resolution either
    (incident,) = await r.book.listed(everything=True)
    assert incident.state == "resolved"
