"""Several instances on one store: exactly one leads, a standby takes over fast, a lost lock fences.

On PostgreSQL each "instance" is an engine of its own (a process of its own in production: its
own lock session); a crash is its lock connection ended by the server (``pg_terminate_backend``),
which is what PostgreSQL does when a process dies or is cut off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import ShiftedClock, SystemClock
from onthedot.config import ReleaseFiles, load_release
from onthedot.errors import LeaseLostError
from onthedot.model import Release
from onthedot.morning.leadership import Leadership, Standing
from onthedot.morning.scheduler import SchedulePolicy, Scheduler
from onthedot.publish.lease import Lease
from onthedot.publish.purgers.memory import MemoryPurger
from onthedot.publish.targets.memory import MemoryTarget
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.advisory import lock_key, lock_session
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.conftest import _postgres_url, postgres_engines, write_release
from tests.core.test_publisher import NEW, PATH, publisher, release_file
from tests.e2e.helpers import local
from tests.respond.conftest import MovedClock
from tests.respond.test_remediation import NEW as REMEDIED
from tests.respond.test_remediation import PATH as REMEDIED_PATH
from tests.respond.test_remediation import remedy, sweeps

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engines() -> AsyncIterator[tuple[AsyncEngine, AsyncEngine, AsyncEngine]]:
    """Two instances and an onlooker (who plays PostgreSQL ending connections), one database."""
    async with postgres_engines(3) as made:
        yield made[0], made[1], made[2]


async def _end_sessions_holding(onlooker: AsyncEngine, name: str) -> int:
    """End the connection that holds the advisory lock ``name`` (as a crash does); its pid."""
    key = lock_key(name) & 0xFFFFFFFFFFFFFFFF
    async with onlooker.connect() as conn:
        pid = await conn.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :hi AND objid = :lo AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
        )
        assert pid is not None, f"nobody holds {name}"
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
        while not await conn.scalar(gone, {"pid": pid}):  # (the server ends it a moment later)
            await conn.commit()  # (a transaction sees one snapshot of the server's activity)
            await asyncio.sleep(0.005)
    return int(pid)


async def _until(condition: Callable[[], bool], limit_s: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit_s, "not within the limit"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_one_leads_and_a_standby_takes_over_within_two_seconds(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine, onlooker = engines
    seen: list[tuple[str, bool]] = []
    first = Leadership(first_engine, on_change=lambda s: seen.append(("first", s.leader)))
    second = Leadership(second_engine, on_change=lambda s: seen.append(("second", s.leader)))
    leading = asyncio.create_task(first.run_forever())
    await _until(lambda: first.leader)
    standing_by = asyncio.create_task(second.run_forever())
    await asyncio.sleep(0.6)  # two tries at least
    assert (first.leader, second.leader) == (True, False)
    assert seen == [("first", False), ("first", True), ("second", False)]

    leading.cancel()  # the first instance dies: its loop stops and PostgreSQL ends its session
    await asyncio.gather(leading, return_exceptions=True)
    await _end_sessions_holding(onlooker, "onthedot:leader")
    took = await _until(lambda: second.leader)
    assert took < 2.0
    assert second.standing.since > first.standing.since
    standing_by.cancel()
    await asyncio.gather(standing_by, return_exceptions=True)
    await second.aclose()


async def test_a_leader_whose_session_ended_stops_leading(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine],
) -> None:
    """Its connection ended (a network cut, the server restarted): it finds out at its next check
    and stands by, or takes the lock again if it is free; never two holders of the lock."""
    engine, _, onlooker = engines
    changes: list[bool] = []
    leadership = Leadership(engine, on_change=lambda s: changes.append(s.leader))
    task = asyncio.create_task(leadership.run_forever())
    await _until(lambda: leadership.leader)
    await _end_sessions_holding(onlooker, "onthedot:leader")
    await _until(lambda: changes[-2:] == [False, True])  # lost, then taken again (it was free)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await leadership.aclose()


async def test_a_leader_whose_loop_is_busy_keeps_the_lead_and_its_releases(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine],
) -> None:
    """A morning's work keeps the event loop busy longer than a step may take while the leader
    waits for PostgreSQL's answer. The answer came in time: the loop's lateness is not the
    server's silence, so the lead and the release stay this instance's."""
    engine, other, _ = engines
    changes: list[bool] = []
    leadership = Leadership(engine, poll_s=0.01, on_change=lambda s: changes.append(s.leader))
    task = asyncio.create_task(leadership.run_forever())
    await _until(lambda: leadership.leader)
    lease = Lease(engine, "r")
    await lease.acquire(wait=False)
    for _ in range(3):
        checking = asyncio.create_task(lease.check())
        await asyncio.sleep(0)  # the fence is asked (or waits behind the leader's own check)
        time.sleep(1.5)  # the loop busy elsewhere: 200 cards rendered, 10,000 results judged
        await checking  # LeaseLostError if the late answer were taken for silence
    assert changes == [False, True]
    assert not await Lease(other, "r").try_acquire()
    await lock_session(other).aclose()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await lease.release()
    await leadership.aclose()


async def test_releases_fenced_at_once_on_a_busy_loop_share_one_answer(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine],
) -> None:
    """100 releases due at one T check their fence a second before it, on a loop busy with the
    morning (20 ms a round): the checks share PostgreSQL's answers instead of queueing one
    after another on the lock's connection, so none flips late for waiting its turn."""
    engine = engines[0]
    leases = [Lease(engine, f"r{n}") for n in range(100)]
    for lease in leases:
        await lease.acquire(wait=False)
    busy = True

    async def the_morning() -> None:
        while busy:
            time.sleep(0.02)  # (staging, sweeps, pages: each round of the loop costs 20 ms)
            await asyncio.sleep(0)

    asked: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        asked.append(statement)

    locks = lock_session(engine)._engine.sync_engine  # (the locks' own connection)
    morning = asyncio.create_task(the_morning())
    event.listen(locks, "before_cursor_execute", count)
    try:
        await asyncio.gather(*(lease.check() for lease in leases))
    finally:
        event.remove(locks, "before_cursor_execute", count)
        busy = False
        await morning
    for lease in leases:
        await lease.release()
    # one question for many checks (each asked alone, one after another, took 12.6 s here)
    assert 1 <= len(asked) <= 10, asked


async def test_a_release_lease_that_was_lost_fences_its_holder(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine, onlooker = engines
    old, new = Lease(first_engine, "r"), Lease(second_engine, "r")
    await old.acquire(wait=False)
    await old.check()  # held: the step may go ahead
    assert not await new.try_acquire()

    await _end_sessions_holding(onlooker, "onthedot:release:r")
    assert await new.try_acquire()  # at once: no expiry to wait for
    with pytest.raises(LeaseLostError, match="lost its hold on r"):
        await old.check()  # the old holder wakes late: it must not act
    await new.check()
    await new.release()
    await old.release()


async def test_a_standby_scheduler_arms_nothing_until_it_leads(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    first_engine, second_engine, onlooker = engines
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    release = load_release(
        write_release(
            tmp_path,
            id="soon",
            release_at=local(soon),
            announced_at=local(soon - dt.timedelta(days=40)),
        )
    )
    published: dict[str, list[str]] = {"first": [], "second": []}
    schedulers, tasks = [], []
    for name, engine in (("first", first_engine), ("second", second_engine)):
        leadership = Leadership(engine)

        async def publish(rel: Release, name: str = name) -> object:
            published[name].append(rel.id)
            await asyncio.Event().wait()  # publishing until stopped
            return None

        scheduler = Scheduler(
            engine,
            load=lambda _in_hand: ReleaseFiles([release]),
            publish=publish,
            clock=SystemClock(),
            policy=SchedulePolicy(poll_s=30.0),  # ticks come from the changes of lead, not this
            leadership=leadership,
        )
        schedulers.append(scheduler)
        tasks += [asyncio.create_task(leadership.run_forever())]
        if name == "first":  # the first instance leads before the second one starts
            await _until(partial(getattr, leadership, "leader"))
        tasks += [asyncio.create_task(scheduler.run_forever())]
    await _until(lambda: published["first"] == ["soon"])
    await asyncio.sleep(0.5)
    assert published["second"] == []

    for task in tasks[:2]:  # the first instance dies
        task.cancel()
    await asyncio.gather(*tasks[:2], return_exceptions=True)
    await _end_sessions_holding(onlooker, "onthedot:leader")
    took = await _until(lambda: published["second"] == ["soon"])
    assert took < 2.0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for scheduler in schedulers:
        await scheduler.aclose()


async def test_an_instance_leading_again_syncs_its_releases_again(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    """While another instance led, the store took that instance's version of a release: the
    first one, leading again, does not take the version it synced before as still stored."""
    first_engine, second_engine, onlooker = engines
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    path = write_release(
        tmp_path, id="later", release_at=local(later), announced_at=local(later - dt.timedelta(40))
    )
    ours = load_release(path)
    path.write_text(path.read_text().replace("Fatal", "Serious"), encoding="utf-8")
    theirs = load_release(path)

    async def publish(rel: Release) -> object:
        raise AssertionError("not due")

    async def stored_title(title: str) -> None:
        while (found := await ReleaseRepository(onlooker).get("later")) is None or (
            found.title != title
        ):
            await asyncio.sleep(0.02)

    def instance(engine: AsyncEngine, release: Release) -> tuple[Leadership, Scheduler]:
        leadership = Leadership(engine)
        files = ReleaseFiles([release])
        scheduler = Scheduler(
            engine,
            load=lambda _in_hand: files,
            publish=publish,
            clock=SystemClock(),
            leadership=leadership,
        )
        return leadership, scheduler

    first_lead, first = instance(first_engine, ours)
    leading = [
        asyncio.create_task(first_lead.run_forever()),
        asyncio.create_task(first.run_forever()),
    ]
    await asyncio.wait_for(stored_title(ours.title), 5)
    await first_lead.aclose()  # the first instance gives the lead up, and stands by ...
    await _until(lambda: not first_lead.leader)
    leading[0].cancel()  # ... without trying to take it again for now
    second_lead, second = instance(second_engine, theirs)
    others = [
        asyncio.create_task(second_lead.run_forever()),
        asyncio.create_task(second.run_forever()),
    ]
    await asyncio.wait_for(stored_title(theirs.title), 5)
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await second_lead.aclose()
    leading[0] = asyncio.create_task(first_lead.run_forever())  # the first one leads again
    await asyncio.wait_for(stored_title(ours.title), 5)
    for task in leading:
        task.cancel()
    await asyncio.gather(*leading, return_exceptions=True)
    await first_lead.aclose()


async def test_a_lead_lost_and_taken_again_between_two_ticks_stops_what_the_first_term_armed(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    """The scheduler looks at the lead only between its ticks: a lead lost and taken again
    meanwhile (another instance may have led, and published, in between) is a new term all
    the same, and what the first term armed is stopped and armed again from the record."""
    engine = engines[0]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    release = load_release(
        write_release(
            tmp_path, id="soon", release_at=local(soon), announced_at=local(soon - dt.timedelta(40))
        )
    )
    armed: list[asyncio.Task[Any]] = []

    async def publish(rel: Release) -> object:
        task = asyncio.current_task()
        assert task is not None
        armed.append(task)
        await asyncio.Event().wait()  # publishing until stopped
        return None

    leadership = Leadership(engine)  # (its lock not taken: the test says when it leads)
    leadership.standing = Standing(True, dt.datetime.now(dt.UTC), "this")
    scheduler = Scheduler(
        engine,
        load=lambda _in_hand: ReleaseFiles([release]),
        publish=publish,
        clock=SystemClock(),
        policy=SchedulePolicy(poll_s=30.0),
        leadership=leadership,
    )
    running = asyncio.create_task(scheduler.run_forever())
    await _until(lambda: len(armed) == 1)
    leadership.standing = Standing(False, dt.datetime.now(dt.UTC), "this")  # lost ...
    leadership.standing = Standing(True, dt.datetime.now(dt.UTC), "this")  # ... and taken again
    leadership.changed.set()
    await _until(lambda: len(armed) == 2)
    assert armed[0].cancelled()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await scheduler.aclose()


def test_standing_says_which_and_since_when() -> None:
    at = dt.datetime(2026, 3, 10, 9, 29, 59, tzinfo=dt.UTC)
    assert Standing(True, at, "host:1:ab").as_json() == {
        "leader": True,
        "since": "2026-03-10T09:29:59+00:00",
        "instance": "host:1:ab",
    }


async def test_instances_starting_together_migrate_a_new_store_one_by_one() -> None:
    """Three instances open a new (empty) PostgreSQL store at once: one migrates it, the others
    wait for it (an advisory lock) and find it migrated, instead of creating the tables twice."""
    urls = _postgres_url()
    url = next(urls)
    try:
        opened = await asyncio.gather(*(open_store(url) for _ in range(3)), return_exceptions=True)
        failed = [o for o in opened if isinstance(o, BaseException)]
        for engine in opened:
            if isinstance(engine, AsyncEngine):
                await engine.dispose()
        assert failed == []
    finally:
        next(urls, None)


async def test_a_publisher_that_lost_its_release_does_not_flip(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    """Its lock ended while it waited for T (as when its instance was cut off and another took
    over): at T the fence stops it before the flip, and the failure is recorded."""
    engine, _, onlooker = engines
    name = uuid.uuid4().hex
    start = dt.datetime.now(dt.UTC)
    clock = ShiftedClock(start)
    release = release_file(tmp_path, start + dt.timedelta(seconds=2), name)
    seen: list[tuple[dt.datetime, bytes | None]] = []
    publishing = asyncio.create_task(publisher(engine, name, clock, seen).publish(release))
    await _until(lambda: bool(MemoryTarget.store(name).files), 5)  # staged
    await _end_sessions_holding(onlooker, "onthedot:release:r")
    with pytest.raises(LeaseLostError, match="lost its hold on r"):
        await publishing
    assert PATH not in MemoryTarget.store(name).files  # never flipped
    assert not any(body == NEW for _, body in seen)
    events = [e.kind for e in await Timeline(engine).events("r")]
    assert kinds.PUBLISH_STAGED in events and kinds.PUBLISH_FAILED in events
    assert kinds.PUBLISH_FLIPPED not in events


async def test_a_remedy_after_t_is_fenced_by_the_release_lease(
    engines: tuple[AsyncEngine, AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    """After T the cache and the website still show the previous version. The instance whose
    lock on the release ended (cut off, and another took the release over) neither purges nor
    flips again: the fence stops it. The instance that holds the release does both."""
    first_engine, second_engine, onlooker = engines
    clock = MovedClock(dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC))
    name = uuid.uuid4().hex
    local_copy = tmp_path / "x.xlsx"
    local_copy.write_bytes(REMEDIED)
    copy = await MemoryTarget(f"memory://{name}").stage(
        REMEDIED_PATH, local_copy, sha256(REMEDIED).hexdigest(), "t" * 16
    )
    old, new = Lease(first_engine, "r"), Lease(second_engine, "r")
    await old.acquire(wait=False)
    stale_at = ("cache", "origin")
    late, release, _ = await remedy(first_engine, clock, staged=[copy], name=name, fence=old.check)
    await _end_sessions_holding(onlooker, "onthedot:release:r")
    assert await new.try_acquire()

    with pytest.raises(LeaseLostError, match="lost its hold on r"):
        await sweeps(late, release, clock, stale_at)
    assert MemoryPurger.log(name) == []
    assert REMEDIED_PATH not in MemoryTarget.store(name).files  # never flipped again
    remedies = (kinds.REMEDY_PURGE, kinds.REMEDY_REFLIP)
    assert [e for e in await Timeline(first_engine).events("r") if e.kind in remedies] == []

    holder, release, _ = await remedy(
        second_engine, clock, staged=[copy], name=name, fence=new.check
    )
    await sweeps(holder, release, clock, stale_at)
    assert len(MemoryPurger.log(name)) == 2  # (the limit: two attempts of each)
    assert MemoryTarget.store(name).files[REMEDIED_PATH] == REMEDIED
    await new.release()
    await old.release()
