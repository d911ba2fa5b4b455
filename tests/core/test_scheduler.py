"""The scheduler arms due releases once, skips published ones, and notes the long-missed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import ShiftedClock
from onthedot.config import load_release
from onthedot.model import Release
from onthedot.morning.scheduler import SchedulePolicy, Scheduler
from onthedot.publish.steps import StepLog
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from tests.conftest import write_release

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    yield eng
    await eng.dispose()


def releases(tmp_path: Path) -> list[Release]:
    made = {
        "soon": "2026-03-10T09:30:00",  # 30 min ahead: due (stage_ahead 1 h)
        "later": "2026-03-12T09:30:00",  # days ahead: not yet
        "missed-yesterday": "2026-03-09T09:30:00",  # passed while down: published late
        "ancient": "2019-12-18T09:30:00",  # long gone: only noted
        "done": "2026-03-10T09:15:00",
    }
    return [
        load_release(
            write_release(tmp_path, id=rid, release_at=at, announced_at="2019-01-02T09:30:00")
        )
        for rid, at in made.items()
    ]


async def test_tick_arms_due_releases_once(engine: AsyncEngine, tmp_path: Path) -> None:
    items = releases(tmp_path)
    await StepLog(engine, "done").mark("verified", NOW, {"live": True})
    published: list[str] = []
    gate = asyncio.Event()

    async def publish(release: Release) -> object:
        published.append(release.id)
        await gate.wait()
        return None

    scheduler = Scheduler(
        engine,
        load=lambda: items,
        publish=publish,
        clock=ShiftedClock(NOW),
        policy=SchedulePolicy(stage_ahead_s=3600, catch_up_s=7 * 86400),
    )
    armed = await scheduler.tick()
    assert sorted(armed) == ["missed-yesterday", "soon"]
    assert await scheduler.tick() == []  # already running: not armed twice
    gate.set()
    await asyncio.gather(*scheduler.tasks.values())
    assert sorted(published) == ["missed-yesterday", "soon"]
    notes = await Timeline(engine).events("ancient", kinds.NOTE)
    assert len(notes) == 1 and "Not published by the scheduler" in notes[0].data["text"]
    await scheduler.tick()
    assert len(await Timeline(engine).events("ancient", kinds.NOTE)) == 1  # noted once
    await scheduler.aclose()


async def test_a_failing_publish_does_not_stop_the_others(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    items = releases(tmp_path)
    await StepLog(engine, "done").mark("verified", NOW, {"live": True})

    async def publish(release: Release) -> object:
        if release.id == "soon":
            raise RuntimeError("bug")
        return None

    scheduler = Scheduler(engine, load=lambda: items, publish=publish, clock=ShiftedClock(NOW))
    await scheduler.tick()
    await asyncio.gather(*scheduler.tasks.values())
    assert all(task.exception() is None for task in scheduler.tasks.values())
    assert sorted(await scheduler.tick()) == ["missed-yesterday", "soon"]  # retried next time
    await scheduler.aclose()
