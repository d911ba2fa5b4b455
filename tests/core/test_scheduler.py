"""The scheduler arms due releases once, skips published ones, and notes the long-missed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import JumpingClock, ShiftedClock
from onthedot.config import ReleaseFiles, load_release, read_releases
from onthedot.model import Release
from onthedot.morning.files import FileProblem
from onthedot.morning.scheduler import PublishFn, SchedulePolicy, Scheduler
from onthedot.publish.steps import StepLog
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
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
        load=lambda: ReleaseFiles(items),
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


def _statements(engine: AsyncEngine) -> list[str]:
    """Every SQL statement the engine sends from now on, as it is sent."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    return sent


def _published_at_once(engine: AsyncEngine, published: list[Release]) -> PublishFn:
    """A publish that records the release as published (``verified``) and appends it."""

    async def publish(release: Release) -> object:
        published.append(release)
        await StepLog(engine, release.id).mark("verified", NOW, {"live": True})
        return None

    return publish


async def test_a_tick_over_releases_that_did_not_change_asks_the_store_one_question(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    items = releases(tmp_path)
    publish = _published_at_once(engine, [])
    scheduler = Scheduler(
        engine, load=lambda: ReleaseFiles(items), publish=publish, clock=ShiftedClock(NOW)
    )
    await StepLog(engine, "done").mark("verified", NOW, {"live": True})
    assert sorted(await scheduler.tick()) == ["missed-yesterday", "soon"]
    await asyncio.gather(*scheduler.tasks.values())
    assert await scheduler.tick() == []  # (the store says both are published now)
    sent = _statements(engine)
    assert await scheduler.tick() == []
    (asked,) = sent  # which documents it holds: not synced again, nor asked whether published
    assert "content_sha256" in asked and "FROM releases" in asked
    await scheduler.aclose()


@pytest.mark.parametrize("tick_between", [True, False], ids=["a tick between", "at once"])
async def test_a_draft_written_into_the_store_does_not_replace_the_configured_release(
    engine: AsyncEngine, tmp_path: Path, tick_between: bool
) -> None:
    """A person checks a draft of a configured release (``onthedot check draft.toml`` stores
    it), then the configured file breaks: the next tick stores the configured release again,
    and it is published at its time as this instance last read it."""
    path = write_release(
        tmp_path / "releases",
        id="soon",
        release_at="2026-03-10T10:30:00",  # 90 min ahead
        announced_at="2019-01-02T09:30:00",
    )
    draft = write_release(
        tmp_path / "drafts",
        id="soon",
        release_at="2026-03-10T11:30:00",
        announced_at="2019-01-02T09:30:00",
    )
    files = [ReleaseFiles([load_release(path)])]
    armed: list[Release] = []
    clock = JumpingClock(NOW)
    scheduler = Scheduler(
        engine, load=lambda: files[0], publish=_published_at_once(engine, armed), clock=clock
    )
    repo = ReleaseRepository(engine)
    assert await scheduler.tick() == []  # not due yet
    await repo.sync(load_release(draft), actor="cli")
    if tick_between:
        await scheduler.tick()  # the configured file as it was
        stored = await repo.get("soon")
        assert stored is not None and stored.source == path.resolve()
    files[0] = ReleaseFiles([], {path: ["a bad edit"]})
    clock.jump(3600)  # T - 30 min: due
    assert await scheduler.tick() == ["soon"]
    await asyncio.gather(*scheduler.tasks.values())
    assert [(r.source, r.release_at.hour) for r in armed] == [(path.resolve(), 10)]
    assert [p.kept for p in scheduler.problems] == ["soon"]
    stored = await repo.get("soon")
    assert stored is not None and stored.source == path.resolve()
    await scheduler.aclose()


async def test_a_published_release_whose_file_changed_is_synced_and_looked_at_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write_release(
        tmp_path, id="soon", release_at="2026-03-10T09:30:00", announced_at="2019-01-02T09:30:00"
    )
    loaded = [load_release(path)]
    published: list[Release] = []
    publish = _published_at_once(engine, published)
    scheduler = Scheduler(
        engine, load=lambda: ReleaseFiles(loaded), publish=publish, clock=ShiftedClock(NOW)
    )
    await scheduler.tick()
    await asyncio.gather(*scheduler.tasks.values())
    assert await scheduler.tick() == []
    await StepLog(engine, "soon").reset_from("staging")  # (to be published again)
    assert await scheduler.tick() == []  # the same release, known to be published: not asked
    path.write_text(path.read_text().replace("Fatal", "Serious"), encoding="utf-8")
    loaded[:] = [load_release(path)]
    assert await scheduler.tick() == ["soon"]  # changed: synced, and the store asked again
    await asyncio.gather(*scheduler.tasks.values())
    assert published[-1].title.startswith("Serious")
    (change,) = await ReleaseRepository(engine).history("soon", "title")
    assert change.actor == "scheduler" and str(change.new).startswith("Serious")
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

    scheduler = Scheduler(
        engine, load=lambda: ReleaseFiles(items), publish=publish, clock=ShiftedClock(NOW)
    )
    await scheduler.tick()
    await asyncio.gather(*scheduler.tasks.values())
    assert all(task.exception() is None for task in scheduler.tasks.values())
    assert sorted(await scheduler.tick()) == ["missed-yesterday", "soon"]  # retried next time
    await scheduler.aclose()


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    """A release due in 30 min beside a file that does not parse."""
    folder = tmp_path / "releases"
    write_release(
        folder, id="soon", release_at="2026-03-10T09:30:00", announced_at="2019-01-02T09:30:00"
    )
    broken = folder / "broken.toml"
    broken.write_text('id = "broken"\ntitle = \n', encoding="utf-8")
    return folder, broken


async def test_a_broken_file_is_reported_once_and_the_others_are_published(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder, broken = _folder(tmp_path)
    published: list[str] = []
    reported: list[tuple[FileProblem, ...]] = []

    async def publish(release: Release) -> object:
        published.append(release.id)
        await StepLog(engine, release.id).mark("verified", NOW, {"live": True})
        return None

    scheduler = Scheduler(
        engine,
        load=lambda: read_releases(sorted(folder.glob("*.toml"))),
        publish=publish,
        clock=ShiftedClock(NOW),
        on_problems=reported.append,
    )
    with structlog.testing.capture_logs() as logs:
        assert await scheduler.tick() == ["soon"]
        await asyncio.gather(*scheduler.tasks.values())
        await scheduler.tick()
        await scheduler.tick()
    assert published == ["soon"]
    (problems,) = reported  # reported once, not on every tick
    (problem,) = problems
    assert problem.file == str(broken) and problem.kept is None
    assert problem.message.startswith(f"{broken}:2: invalid TOML")
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "release file cannot be read"
    ]
    broken.unlink()  # fixed by removing it
    with structlog.testing.capture_logs() as logs:
        await scheduler.tick()
    assert reported[-1] == () and [e["event"] for e in logs] == ["release file reads again"]
    await scheduler.aclose()


async def test_a_release_whose_file_breaks_is_published_as_last_read(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder, _broken = _folder(tmp_path)
    published: list[Release] = []

    async def publish(release: Release) -> object:
        published.append(release)
        return None

    scheduler = Scheduler(
        engine,
        load=lambda: read_releases(sorted(folder.glob("*.toml"))),
        publish=publish,
        clock=ShiftedClock(NOW),
    )
    await scheduler.tick()  # read well: synced into the store
    await asyncio.gather(*scheduler.tasks.values())
    soon = folder / "soon.toml"
    soon.write_text(soon.read_text() + "titel = 'typo'\n", encoding="utf-8")
    assert await scheduler.tick() == ["soon"]  # not yet verified: armed again, as last read
    await asyncio.gather(*scheduler.tasks.values())
    first, again = published
    assert again.title == first.title and again.source == soon.resolve()
    kept = {p.file: p for p in scheduler.problems}[str(soon)]
    assert kept.kept == "soon"
    assert "titel: unknown key" in kept.message
    assert "Release 'soon' is still published at its time, as it was last read" in kept.message
    await scheduler.aclose()


async def test_nothing_in_one_tick_ends_the_loop(engine: AsyncEngine) -> None:
    calls = 0

    def load() -> ReleaseFiles:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in reading")
        return ReleaseFiles([])

    async def publish(release: Release) -> object:
        return None

    scheduler = Scheduler(
        engine,
        load=load,
        publish=publish,
        clock=ShiftedClock(NOW),
        policy=SchedulePolicy(poll_s=0.01),
    )
    with structlog.testing.capture_logs() as logs:
        loop = asyncio.create_task(scheduler.run_forever())
        while calls < 3:
            await asyncio.sleep(0.01)
        loop.cancel()
    assert [e["event"] for e in logs] == ["scheduler tick crashed"]
