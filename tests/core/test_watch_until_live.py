"""The watch after T keeps checking what is not live yet — dense, then backing off to once a
minute, for at most 24 hours or until a person stops it — and records when each URL went live
and why the watch ended. Time is a fake clock: a day of watching takes seconds."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.model import Release
from onthedot.morning.publisher import Publisher
from onthedot.morning.watch import Watcher, WatchOutcome, WatchPlan
from onthedot.publish.purgers.memory import MemoryPurger
from onthedot.publish.steps import StepLog
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Event, Timeline
from onthedot.store.db import open_store
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.vantage import DEFAULT
from onthedot.verify.verifier import Verifier

T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
NEW, OLD = b"new figures", b"old figures"
SITE = "http://www.example.org"
DAY = 24 * 3600.0


class FakeClock:
    """Time that passes only when someone sleeps: a day's watch runs in seconds."""

    def __init__(self, now: dt.datetime) -> None:
        self.instant = now

    def now(self) -> dt.datetime:
        return self.instant

    async def sleep(self, seconds: float) -> None:
        self.instant += dt.timedelta(seconds=max(seconds, 0.0))
        await asyncio.sleep(0)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    yield eng
    await eng.dispose()


def release(count: int = 1, release_id: str = "r") -> Release:
    digest = hashlib.sha256(NEW).hexdigest()
    return Release(
        id=release_id,
        title="T",
        producer="P",
        release_at=T,
        site={"public": SITE},
        artefact=[
            {"path": f"/stats/{n}.xlsx", "sha256": digest, "size": len(NEW)} for n in range(count)
        ],
    )


Serves = Callable[[str, dt.datetime], bytes]  # (path, now) → the bytes the cache serves


def watcher(engine: AsyncEngine, clock: FakeClock, serves: Serves, plan: WatchPlan) -> Watcher:
    def handler(request: ProbeRequest) -> ProbeResponse:
        body = serves(request.url[len(SITE) :], clock.now())
        return mock_response(
            request, body=body, headers=[("Age", "100"), ("Cache-Control", "max-age=3600")]
        )

    transport = MockProbeTransport(handler)
    verifier = Verifier(Prober(transport), clock=clock, vantages=[DEFAULT], bust_cache=False)
    return Watcher(verifier, CheckRecorder(engine), clock, plan)


def sweep_times(transport_requests: list[dt.datetime]) -> list[float]:
    return sorted({(at - T).total_seconds() for at in transport_requests})


def test_the_pause_is_dense_then_doubles_to_a_minute_and_stops_at_the_limit() -> None:
    plan = WatchPlan()
    assert [plan.pause_after(s) for s in (0.0, 4.9, 5.0, 119.0, 120.0, 1799.0)] == [
        0.05,
        0.05,
        2.0,
        2.0,
        15.0,
        15.0,
    ]
    assert plan.pause_after(1800.0, 15.0) == 30.0
    assert plan.pause_after(1830.0, 30.0) == 60.0
    assert plan.pause_after(40_000.0, 60.0) == 60.0
    assert plan.pause_after(DAY - 10, 60.0) == 10.0  # never sleeps past the limit
    assert plan.pause_after(DAY, 60.0) is None and plan.pause_after(DAY + 1, 60.0) is None
    assert WatchPlan.for_seconds(60).pause_after(59.5, 1.0) == 0.5
    assert WatchPlan.for_seconds(60).pause_after(60.0, 1.0) is None


async def test_a_url_never_live_is_checked_for_24_hours_backing_off_then_the_watch_ends(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(T)
    seen: list[dt.datetime] = []

    def serves(path: str, now: dt.datetime) -> bytes:
        seen.append(now)
        return OLD

    rel = release()
    outcome = await watcher(engine, clock, serves, WatchPlan()).after_t(rel).to_end()
    assert not outcome.live and outcome.ended == "limit"
    times = sweep_times(seen)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    after_window = [g for t, g in zip(times, gaps, strict=False) if t >= 1800]
    assert after_window[:3] == [30.0, 60.0, 60.0] and set(after_window[2:-1]) == {60.0}
    assert times[-1] == DAY and after_window[-1] <= 60  # the last look at the limit, none after
    (ended,) = await Timeline(engine).events("r", kinds.WATCH_ENDED)
    assert ended.data["reason"] == "limit" and ended.at == T + dt.timedelta(seconds=DAY)
    assert ended.data["not_live"] == [f"{SITE}/stats/0.xlsx"]


async def test_a_url_that_goes_live_at_65_minutes_is_recorded_live_then(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(T)
    cache_expires = T + dt.timedelta(minutes=65)

    def serves(path: str, now: dt.datetime) -> bytes:
        return NEW if now >= cache_expires else OLD

    outcome = await watcher(engine, clock, serves, WatchPlan()).after_t(release()).to_end()
    assert outcome.live and outcome.ended == "all-live"
    (first,) = await Timeline(engine).events("r", kinds.VERIFY_FIRST_LIVE)
    at = dt.datetime.fromisoformat(first.data["at"])
    assert cache_expires <= at < cache_expires + dt.timedelta(seconds=60)  # the next look
    assert outcome.first_live == {(f"{SITE}/stats/0.xlsx", "default"): at}
    ended = await Timeline(engine).events("r", kinds.WATCH_ENDED)
    assert [(e.data["reason"], e.data["not_live"]) for e in ended] == [("all-live", [])]
    assert await Timeline(engine).events("r", kinds.VERIFY_ALL_LIVE)


async def test_of_10000_urls_only_the_10_still_stale_are_checked_again(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(T)
    stale = {f"/stats/{n}.xlsx" for n in range(0, 10_000, 1000)}
    asked: list[str] = []

    def serves(path: str, now: dt.datetime) -> bytes:
        asked.append(path)
        return OLD if path in stale else NEW

    plan = WatchPlan(until_live_s=600.0)
    outcome = await watcher(engine, clock, serves, plan).after_t(release(10_000)).to_end()
    assert not outcome.live and outcome.ended == "limit"
    assert len(asked) > 10_000 + 10 * 50  # dozens of sweeps after the first
    assert set(asked[10_000:]) == stale  # after the sweep at T: only the stale ten, every time
    assert len(outcome.last.results) == 10_000  # the last word on every URL
    assert len(outcome.first_live) == 9_990


def cli_stop(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--database", db, "watch-stop", *args])
    return result.exit_code, result.stdout + result.stderr


async def test_a_person_stops_the_watch_and_it_ends_saying_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    engine = await open_store(db)
    try:
        rel = release(release_id="stopme")
        from onthedot.store.releases import ReleaseRepository

        await ReleaseRepository(engine).sync(rel, actor="test")
        code, said = await asyncio.to_thread(
            cli_stop, db, "stopme", "--by", "Jane Smith", "--reason", "IT purges by hand"
        )
        assert code == 2 and "has not gone live, so nothing is checking it yet" in said
        await StepLog(engine, "stopme").mark("flipped", T, {})
        clock = FakeClock(T)
        watch = watcher(engine, clock, lambda path, now: OLD, WatchPlan()).after_t(rel)
        running = asyncio.create_task(watch.to_end())
        while clock.now() < T + dt.timedelta(hours=2):
            await asyncio.sleep(0.01)
        code, said = await asyncio.to_thread(
            cli_stop, db, "stopme", "--by", "Jane Smith", "--reason", "IT purges by hand"
        )
        assert code == 0, said
        outcome: WatchOutcome = await asyncio.wait_for(running, 30)
        assert (outcome.live, outcome.ended, outcome.stopped_by) == (False, "stopped", "Jane Smith")
        events: list[Event] = await Timeline(engine).events("stopme")
        stop, end = (e for e in events if e.kind in (kinds.WATCH_STOPPED, kinds.WATCH_ENDED))
        assert (stop.actor, stop.data["reason"]) == ("Jane Smith", "IT purges by hand")
        assert (end.data["reason"], end.data["by"], end.data["why"]) == (
            "stopped",
            "Jane Smith",
            "IT purges by hand",
        )
        assert end.seq > stop.seq and end.data["not_live"] == [f"{SITE}/stats/0.xlsx"]
        await StepLog(engine, "stopme").mark("verified", clock.now(), {})
        code, said = await asyncio.to_thread(
            cli_stop, db, "stopme", "--by", "Jane Smith", "--reason", "again"
        )
        assert code == 2 and "has already ended: there is nothing to stop" in said
    finally:
        await engine.dispose()


async def test_a_person_closing_the_stale_incident_ends_the_watch(engine: AsyncEngine) -> None:
    rel = release(release_id="closeme")
    await StepLog(engine, "closeme").mark("flipped", T, {})
    clock = FakeClock(T)
    watch = watcher(engine, clock, lambda path, now: OLD, WatchPlan()).after_t(rel)
    running = asyncio.create_task(watch.to_end())
    timeline = Timeline(engine)
    while clock.now() < T + dt.timedelta(hours=1):
        await asyncio.sleep(0.01)
    clock_closed = {"incident": 1, "problem": "clock", "by": "IT", "reason": "clock fixed"}
    await timeline.append("closeme", kinds.INCIDENT_CLOSED, clock_closed, at=clock.now())
    at = clock.now()
    while clock.now() < at + dt.timedelta(minutes=5):
        await asyncio.sleep(0.01)
    assert not running.done()  # closing another kind of incident leaves the watch going
    stale_closed = {"incident": 2, "problem": "stale", "by": "Jane Smith", "reason": "accepted"}
    await timeline.append("closeme", kinds.INCIDENT_CLOSED, stale_closed, at=clock.now())
    outcome: WatchOutcome = await asyncio.wait_for(running, 30)
    assert (outcome.ended, outcome.stopped_by) == ("stopped", "Jane Smith")
    (end,) = await timeline.events("closeme", kinds.WATCH_ENDED)
    assert (end.data["by"], end.data["why"]) == ("Jane Smith", "accepted")


async def test_after_a_restart_the_watch_takes_up_what_was_recorded(engine: AsyncEngine) -> None:
    """Killed mid-watch, then started again: only what was not live is checked, nothing live
    is recorded live a second time, and the watch ends when the last URL goes live."""
    clock = FakeClock(T)
    expires = T + dt.timedelta(minutes=40)
    asked: list[str] = []

    def serves(path: str, now: dt.datetime) -> bytes:
        asked.append(path)
        return OLD if path == "/stats/1.xlsx" and now < expires else NEW

    rel = release(3)
    first = asyncio.create_task(watcher(engine, clock, serves, WatchPlan()).after_t(rel).to_end())
    while clock.now() < T + dt.timedelta(minutes=10):
        await asyncio.sleep(0.001)
    first.cancel()  # the service is killed
    await asyncio.gather(first, return_exceptions=True)
    asked.clear()
    again = watcher(engine, clock, serves, WatchPlan()).after_t(rel, resume=True)
    outcome = await again.to_end()
    assert outcome.live and set(asked) == {"/stats/1.xlsx"}
    firsts = await Timeline(engine).events("r", kinds.VERIFY_FIRST_LIVE)
    assert sorted(e.data["url"] for e in firsts) == [f"{SITE}/stats/{n}.xlsx" for n in range(3)]
    ended = await Timeline(engine).events("r", kinds.WATCH_ENDED)
    assert [e.data["reason"] for e in ended] == ["all-live"]


async def test_a_publisher_started_again_after_the_flip_takes_up_the_watch(
    engine: AsyncEngine,
) -> None:
    """What the service does after a restart: the flip is recorded, so the publisher resumes
    the watch from the record (never publishing again), and finishes the release."""
    clock = FakeClock(T)
    expires = T + dt.timedelta(minutes=40)
    asked: list[str] = []

    def serves(path: str, now: dt.datetime) -> bytes:
        asked.append(path)
        return OLD if path == "/stats/1.xlsx" and now < expires else NEW

    rel = release(3)
    name = f"memory://watch-{id(engine)}"

    def publisher() -> Publisher:
        return Publisher(
            engine,
            target=None,
            purgers=[MemoryPurger(name)],
            watcher=watcher(engine, clock, serves, WatchPlan()),
            clock=clock,
            leak_probes=False,
        )

    killed = asyncio.create_task(publisher().publish(rel))
    while clock.now() < T + dt.timedelta(minutes=10):
        await asyncio.sleep(0.001)
    killed.cancel()
    await asyncio.gather(killed, return_exceptions=True)
    assert "flipped" in await StepLog(engine, "r").done()
    asked.clear()
    outcome = await publisher().publish(rel)
    assert outcome.live and "flipped" in outcome.resumed and set(asked) == {"/stats/1.xlsx"}
    timeline = Timeline(engine)
    assert len(await timeline.events("r", kinds.PUBLISH_FLIPPED)) == 1
    assert len(await timeline.events("r", kinds.VERIFY_FIRST_LIVE)) == 3
    assert [e.data["reason"] for e in await timeline.events("r", kinds.WATCH_ENDED)] == ["all-live"]
    assert "verified" in await StepLog(engine, "r").done()
