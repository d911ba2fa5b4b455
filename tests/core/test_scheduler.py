"""The scheduler arms due releases once, skips published ones, and notes the long-missed."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import config as config_module
from onthedot.cli.common import State
from onthedot.clock import JumpingClock, ShiftedClock, SystemClock
from onthedot.config import IN_HAND_LOOK_S, ReleaseFiles, Stamp, load_release, read_releases
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
        load=lambda _in_hand: ReleaseFiles(items),
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
        engine, load=lambda _in_hand: ReleaseFiles(items), publish=publish, clock=ShiftedClock(NOW)
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
        engine,
        load=lambda _in_hand: files[0],
        publish=_published_at_once(engine, armed),
        clock=clock,
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
        engine, load=lambda _in_hand: ReleaseFiles(loaded), publish=publish, clock=ShiftedClock(NOW)
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
        engine, load=lambda _in_hand: ReleaseFiles(items), publish=publish, clock=ShiftedClock(NOW)
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
        load=lambda _in_hand: read_releases(sorted(folder.glob("*.toml"))),
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
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _broken = _folder(tmp_path)
    published: list[Release] = []

    async def publish(release: Release) -> object:
        published.append(release)
        return None

    scheduler = Scheduler(
        engine,
        load=lambda _in_hand: read_releases(sorted(folder.glob("*.toml"))),
        publish=publish,
        clock=ShiftedClock(NOW),
    )
    await scheduler.tick()  # read well: synced into the store
    await asyncio.gather(*scheduler.tasks.values())
    soon = folder / "soon.toml"
    soon.write_text(soon.read_text() + "titel = 'typo'\n", encoding="utf-8")

    async def every_release(_repo: ReleaseRepository) -> list[Release]:
        raise AssertionError("every stored release read at each tick while a file is broken")

    monkeypatch.setattr(ReleaseRepository, "all", every_release)
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

    def load(_in_hand: Collection[str]) -> ReleaseFiles:
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


def _settled(path: Path, data: bytes) -> None:
    """``path`` holding ``data``, last changed a minute ago (old enough to be kept)."""
    path.write_bytes(data)
    then = path.stat().st_mtime_ns - 60_000_000_000
    os.utime(path, ns=(then, then))


async def test_the_artefacts_of_a_release_being_published_are_looked_at_only_now_and_then(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At T, 200 releases of 50 files read every second were 10,000 stats a second: the files
    of a release whose publish is under way (it has the release it was armed with) are looked
    at every 15 to 30 s, not at every tick; a change to one is still synced into the store."""
    folder = tmp_path / "releases"
    path = write_release(
        folder,
        id="soon",
        release_at="2026-03-10T09:30:00",
        announced_at="2019-01-02T09:30:00",
        extra='[site]\npublic = "https://stats.example"\n\n'
        '[[artefact]]\npath = "/statistics/a.csv"\nfile = "a.csv"\n',
    )
    _settled(path, path.read_bytes())
    _settled(folder / "a.csv", b"a,1\n")
    (tmp_path / "onthedot.toml").write_text('releases = ["releases/*.toml"]\n', encoding="utf-8")
    state = State(config_path=tmp_path / "onthedot.toml")
    looked: list[str] = []
    real_stamp = config_module._stamp

    def stamp(name: str) -> Stamp | None:
        looked.append(os.path.basename(name))
        return real_stamp(name)

    gate = asyncio.Event()

    async def publish(release: Release) -> object:
        await gate.wait()
        return None

    monotonic = [1000.0]
    monkeypatch.setattr(config_module, "monotonic", lambda: monotonic[0])
    monkeypatch.setattr(config_module, "_stamp", stamp)
    scheduler = Scheduler(
        engine, load=state.release_files_from_config, publish=publish, clock=ShiftedClock(NOW)
    )
    assert await scheduler.tick() == ["soon"]
    looked.clear()
    monotonic[0] += 14.9
    await scheduler.tick()
    await scheduler.tick()
    assert "soon.toml" in looked and "a.csv" not in looked  # (the release file itself: yes)
    _settled(folder / "a.csv", b"a,2 (revised)\n")
    monotonic[0] += IN_HAND_LOOK_S
    await scheduler.tick()
    assert "a.csv" in looked
    stored = await ReleaseRepository(engine).get("soon")
    assert (
        stored is not None
        and stored.artefact[0].sha256 == hashlib.sha256(b"a,2 (revised)\n").hexdigest()
    )
    gate.set()
    await scheduler.aclose()


class StillClock(SystemClock):
    """The time a test sets."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


async def test_no_tick_begins_just_before_a_release_time_being_published(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A tick reads the release files on the loop the flips run on: the pause after a tick is
    lengthened so that none begins from half a second before to a quarter after the T of a
    release being published (one begun a moment before T made the flips wait for it)."""
    soon = load_release(write_release(tmp_path, id="soon", release_at="2026-03-10T09:30:00"))
    gate = asyncio.Event()

    async def publish(_release: Release) -> object:
        await gate.wait()
        return None

    clock = StillClock(NOW)
    scheduler = Scheduler(
        engine,
        load=lambda _in_hand: ReleaseFiles([soon]),
        publish=publish,
        clock=clock,
        policy=SchedulePolicy(poll_s=1.0),
    )
    assert await scheduler.tick() == ["soon"]
    at = soon.release_at
    for before_t, pause in [(3.0, 1.0), (1.6, 1.0), (1.4, 1.65), (0.8, 1.05), (0.6, 1.0)]:
        clock.at = at - dt.timedelta(seconds=before_t)
        assert scheduler.next_pause_s() == pytest.approx(pause), before_t
    clock.at = at + dt.timedelta(seconds=0.3)
    assert scheduler.next_pause_s() == 1.0
    gate.set()
    await asyncio.gather(*scheduler.tasks.values())
    clock.at = at - dt.timedelta(seconds=1.4)
    assert scheduler.next_pause_s() == 1.0  # (published: nothing to keep quiet for)
    await scheduler.aclose()


def held(
    engine: AsyncEngine, current: list[Release], clock: StillClock
) -> tuple[Scheduler, list[Release], asyncio.Event]:
    """A scheduler over the releases in ``current`` (as the test changes them), whose publishes
    wait for the gate; the releases each publish was armed with."""
    armed: list[Release] = []
    gate = asyncio.Event()

    async def publish(release: Release) -> object:
        armed.append(release)
        await gate.wait()
        return None

    scheduler = Scheduler(
        engine,
        load=lambda _in_hand: ReleaseFiles(list(current)),
        publish=publish,
        clock=clock,
        policy=SchedulePolicy(stage_ahead_s=2 * 86400),
    )
    return scheduler, armed, gate


async def test_a_release_moved_while_it_waits_to_be_published_is_armed_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A publish waits for the T it was armed with: a release moved to the next day meanwhile was
    flipped at the old T. Its publish is now stopped and armed again with the new time, and the
    timeline says why; a change within seconds of T leaves the publish as it was armed."""
    first = load_release(write_release(tmp_path, id="soon", release_at="2026-03-10T09:30:00"))
    moved = load_release(
        write_release(tmp_path / "moved", id="soon", release_at="2026-03-11T09:30:00")
    )
    current = [first]
    clock = StillClock(NOW)
    scheduler, armed, gate = held(engine, current, clock)
    assert await scheduler.tick() == ["soon"]
    await asyncio.sleep(0)
    old_task = scheduler.tasks["soon"]
    current[:] = [moved]
    assert await scheduler.tick() == ["soon"]
    await asyncio.sleep(0)
    assert old_task.cancelled() and scheduler.tasks["soon"] is not old_task
    assert [r.release_at for r in armed] == [first.release_at, moved.release_at]
    (note,) = await Timeline(engine).events("soon", kinds.NOTE)
    assert "changed while it waited to be published" in note.data["text"]

    current[:] = [first]  # (moved back, 3 s before the new T: too late to stage again)
    clock.at = moved.release_at - dt.timedelta(seconds=3)
    running = scheduler.tasks["soon"]
    assert await scheduler.tick() == []
    assert not running.done() and len(armed) == 2
    gate.set()
    await scheduler.aclose()


async def test_a_release_whose_file_is_removed_while_it_waits_is_not_published(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A release pulled before its time (its file removed, or moved out of the folder) was
    flipped at T all the same by the publish armed before. Its publish is now stopped, the
    timeline says why, and it is armed again if the file comes back; removed within seconds of
    T, the publish goes on as armed."""
    soon = load_release(write_release(tmp_path, id="soon", release_at="2026-03-10T09:30:00"))
    current = [soon]
    clock = StillClock(NOW)
    scheduler, armed, gate = held(engine, current, clock)
    assert await scheduler.tick() == ["soon"]
    await asyncio.sleep(0)
    first = scheduler.tasks["soon"]
    current[:] = []
    assert await scheduler.tick() == []
    assert first.cancelled()
    (note,) = await Timeline(engine).events("soon", kinds.NOTE)
    assert note.data["text"].startswith("The release's file was removed while it waited")

    current[:] = [soon]  # (put back)
    assert await scheduler.tick() == ["soon"]
    await asyncio.sleep(0)
    again = scheduler.tasks["soon"]
    current[:] = []
    clock.at = soon.release_at - dt.timedelta(seconds=3)  # (too close to T to stop)
    assert await scheduler.tick() == []
    assert not again.done() and [r.id for r in armed] == ["soon", "soon"]
    gate.set()
    await scheduler.aclose()
