"""The morning of a release another system publishes, on in-memory parts: nothing staged or
flipped, the release time recorded once (never before T), the watch from T; killed while watching
and started again, it watches on without recording the release time twice."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import ShiftedClock
from onthedot.config import load_release
from onthedot.model import Release
from onthedot.morning.publisher import Publisher
from onthedot.morning.watch import Watcher, WatchPlan
from onthedot.publish.steps import StepLog
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.verifier import Verifier
from tests.e2e.cms import ANNOUNCEMENT, EXPECT, LANDING, LINK_TEXT, NEW, write_external_release

T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
ATTACHMENT = "/media/5f3a9c/lms-march-2026.xlsx"
PUBLISHED = f'<h1>{EXPECT}</h1><a href="{ATTACHMENT}">{LINK_TEXT}</a>'.encode()


class Gov:
    """GOV.UK in memory: the announcement until ``published_at`` (by the morning's clock)."""

    def __init__(self, clock: ShiftedClock, published_at: dt.datetime) -> None:
        self.clock, self.published_at = clock, published_at

    def handler(self, request: ProbeRequest) -> ProbeResponse:
        path = urlsplit(request.url).path
        published = self.clock.now() >= self.published_at
        if path == LANDING:
            return mock_response(request, body=PUBLISHED if published else ANNOUNCEMENT.encode())
        if path == ATTACHMENT and published:
            return mock_response(request, body=NEW)
        return mock_response(request, status=404, body=b"not found")


def morning(engine: AsyncEngine, clock: ShiftedClock, gov: Gov) -> Publisher:
    prober = Prober(MockProbeTransport(gov.handler))
    verifier = Verifier(prober, clock=clock, bust_cache=False)
    plan = WatchPlan(leak_every_s=0.2, dense=((0.1, 60.0),))
    watcher = Watcher(verifier, CheckRecorder(engine), clock, plan)
    return Publisher(engine, target=None, purgers=[], watcher=watcher, clock=clock)


def release(tmp_path: Path) -> Release:
    return load_release(
        write_external_release(tmp_path / "rel", public="http://www.gov.uk", release_at=T)
    )


async def test_nothing_is_staged_or_flipped_and_the_release_time_is_recorded_once_at_t(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = ShiftedClock(T - dt.timedelta(seconds=1.5))
    outcome = await morning(engine, clock, Gov(clock, T)).publish(release(tmp_path))
    assert outcome.live and outcome.flipped_at is not None and outcome.flipped_at >= T
    events = await Timeline(engine).events("labour-market-march-2026")
    seen = [e.kind for e in events]
    assert seen.count(kinds.PUBLISH_EXTERNAL) == 1 and kinds.PUBLISH_DONE in seen
    assert not {kinds.PUBLISH_STAGED, kinds.PUBLISH_FLIPPED} & set(seen)
    (reached,) = [e for e in events if e.kind == kinds.PUBLISH_EXTERNAL]
    assert reached.at >= T and reached.data["published_by"] == "GOV.UK"
    statuses = [(e.at < T, e.data["status"]) for e in events if e.kind == kinds.VERIFY_RESULT]
    assert (True, "embargoed") in statuses and (False, "live") in statuses
    assert set(await StepLog(engine, "labour-market-march-2026").done()) == {
        "flipped",
        "purged",
        "verified",
    }


async def test_killed_while_watching_it_watches_on_without_a_second_release_time(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = ShiftedClock(T + dt.timedelta(seconds=0.5))
    gov = Gov(clock, T + dt.timedelta(seconds=3))  # a late CMS
    first = asyncio.create_task(morning(engine, clock, gov).publish(release(tmp_path)))
    await asyncio.sleep(1.0)
    first.cancel()  # the service is killed while the watch waits for GOV.UK
    with pytest.raises(asyncio.CancelledError):
        await first
    assert set(await StepLog(engine, "labour-market-march-2026").done()) == {"flipped", "purged"}
    outcome = await morning(engine, clock, gov).publish(release(tmp_path))
    assert outcome.live and outcome.resumed == ("flipped", "purged")
    events = await Timeline(engine).events("labour-market-march-2026")
    assert [e.kind for e in events].count(kinds.PUBLISH_EXTERNAL) == 1
    missing = [e for e in events if e.kind == kinds.VERIFY_RESULT and e.data["status"] == "missing"]
    assert missing and missing[0].data["url"].endswith("#lms-march-2026.xlsx")
