"""Appends of many releases made at the same moment (200 releases recording at T) share their
transactions: on the leader's one event loop a transaction each was most of the morning's time."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.clock import SystemClock
from onthedot.errors import LeaseLostError, OnthedotError, StoreError
from onthedot.publish.steps import StepLog
from onthedot.record import kinds
from onthedot.record import timeline as timeline_module
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Event, Timeline
from onthedot.store.db import open_store
from onthedot.store.tables import checks, events, publish_steps
from tests.conftest import postgres_engines

RELEASES = 40


def count_transactions(engine: AsyncEngine) -> list[int]:
    """How many transactions the store has begun since (one counter, in a list)."""
    begun = [0]

    def began(_conn: Any) -> None:
        begun[0] += 1

    event.listen(engine.sync_engine, "begin", began)
    return begun


async def test_appends_made_at_once_share_transactions_and_chain_each_release(
    engine: AsyncEngine,
) -> None:
    timeline = Timeline(engine)
    ids = [f"r{n:02d}" for n in range(RELEASES)]
    await asyncio.gather(*(timeline.append(rid, kinds.PUBLISH_STAGED, {"n": 0}) for rid in ids))
    begun = count_transactions(engine)
    made = await asyncio.gather(
        *(timeline.append(rid, kinds.PUBLISH_FLIPPED, {"n": n}) for rid in ids for n in (1, 2))
    )
    assert begun[0] <= 3, f"{begun[0]} transactions for {len(made)} appends made at once"
    assert sorted((e.release_id, e.seq, e.data["n"]) for e in made) == sorted(
        (rid, n + 1, n) for rid in ids for n in (1, 2)
    )
    for rid in ids:
        assert (await timeline.verify(rid)).ok
        assert [e.seq for e in await timeline.events(rid)] == [1, 2, 3]


async def test_an_append_that_fails_in_company_fails_alone(engine: AsyncEngine) -> None:
    timeline = Timeline(engine)

    async def refuse(_conn: AsyncConnection) -> None:
        raise OnthedotError("the fence was lost")

    async def mark(conn: AsyncConnection) -> None:
        await conn.execute(
            publish_steps.insert().values(
                release_id="ok", step="flipped", done_at=dt.datetime.now(dt.UTC), data={}
            )
        )

    outcomes = await asyncio.gather(
        timeline.append("bad", kinds.PUBLISH_FLIPPED, with_=refuse),
        timeline.append("ok", kinds.PUBLISH_FLIPPED, with_=mark),
        timeline.append("also-ok", kinds.PUBLISH_FLIPPED),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], OnthedotError)
    assert [type(o).__name__ for o in outcomes[1:]] == ["Event", "Event"]
    assert await timeline.events("bad") == []
    assert [e.seq for e in await timeline.events("ok")] == [1]
    async with engine.connect() as conn:
        steps = (await conn.execute(select(publish_steps.c.release_id))).scalars().all()
    assert steps == ["ok"]  # the failed append's company stored what went with it, once


async def stored(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


async def test_a_commit_lost_with_its_connection_fails_every_append_and_writes_none_twice(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store committed, then the connection went: no append is written again one by one
    (that would be every event twice); each gets the error, as with a transaction each."""
    timeline = Timeline(engine)
    dialect = engine.sync_engine.dialect
    commit = dialect.do_commit
    lost = [0]

    def commit_then_lose(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        if not lost[0]:
            lost[0] += 1
            raise dialect.loaded_dbapi.OperationalError("the connection to the store was lost")

    monkeypatch.setattr(dialect, "do_commit", commit_then_lose)
    begun = count_transactions(engine)
    outcomes = await asyncio.gather(
        *(timeline.append(f"r{n:02d}", kinds.PUBLISH_FLIPPED) for n in range(RELEASES)),
        return_exceptions=True,
    )
    assert lost[0] == 1
    assert all(isinstance(o, DBAPIError) for o in outcomes), outcomes
    assert begun[0] == 1, f"{begun[0]} transactions: the batch was tried again append by append"
    assert await stored(engine) == RELEASES  # the lost COMMIT's, once each
    assert [e.seq for e in await timeline.events("r00")] == [1]


async def test_an_append_whose_lease_is_lost_fails_alone_and_the_others_are_stored_once(
    engine: AsyncEngine,
) -> None:
    timeline = Timeline(engine)

    async def fence(_conn: AsyncConnection) -> None:
        raise LeaseLostError("Another instance now holds r00: this one stopped before flipping.")

    outcomes = await asyncio.gather(
        timeline.append("r00", kinds.PUBLISH_FLIPPED, with_=fence),
        *(timeline.append(f"r{n:02d}", kinds.PUBLISH_FLIPPED) for n in range(1, RELEASES)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], LeaseLostError)
    assert all(isinstance(o, Event) for o in outcomes[1:]), outcomes[1:]
    assert await stored(engine) == RELEASES - 1
    assert await timeline.events("r00") == []
    for n in range(1, RELEASES):
        assert [e.seq for e in await timeline.events(f"r{n:02d}")] == [1]


async def test_appends_held_by_a_writer_that_is_stopped_all_finish(engine: AsyncEngine) -> None:
    """The loop shutting down cancels the writer of the batches mid-batch: the appends in flight
    and those queued behind them all finish (an error), none waits for ever."""
    timeline = Timeline(engine)
    inside, hold = asyncio.Event(), asyncio.Event()

    async def linger(_conn: AsyncConnection) -> None:
        inside.set()
        await hold.wait()  # (never set: the writer is cancelled here)

    in_flight = [
        asyncio.ensure_future(timeline.append("r00", kinds.PUBLISH_FLIPPED, with_=linger)),
        *(
            asyncio.ensure_future(timeline.append(f"r{n:02d}", kinds.PUBLISH_FLIPPED))
            for n in range(1, 5)
        ),
    ]
    async with asyncio.timeout(10):
        await inside.wait()
    queued = [
        asyncio.ensure_future(timeline.append(f"q{n:02d}", kinds.PUBLISH_FLIPPED)) for n in range(5)
    ]
    await asyncio.sleep(0)  # (the queued appends join the writer's queue)
    writer = timeline_module._WRITERS[engine]._draining
    assert writer is not None
    writer.cancel()
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(*in_flight, *queued, return_exceptions=True)
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert "stopped" in str(outcomes[0])
    assert await stored(engine) == 0  # the transaction in flight was rolled back
    async with asyncio.timeout(10):  # and the next append starts a writer again
        assert (await timeline.append("r00", kinds.PUBLISH_FLIPPED)).seq == 1


async def test_a_store_let_go_takes_its_writer_with_it(database_url: str) -> None:
    gc.collect()
    writers = len(timeline_module._WRITERS)  # (other tests' engines not yet let go)
    engine = await open_store(database_url)
    await Timeline(engine).append("r00", kinds.PUBLISH_FLIPPED)
    assert engine in timeline_module._WRITERS
    await engine.dispose()
    gone = weakref.ref(engine)
    del engine
    gc.collect()
    assert gone() is None, gc.get_referrers(gone())
    assert len(timeline_module._WRITERS) == writers


def count_statements(engine: AsyncEngine) -> list[int]:
    """How many statements the store has been sent since (an ``executemany`` is one)."""
    sent = [0]

    def before(*_args: Any) -> None:
        sent[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return sent


def sweep(release_id: str, at: str, status: str = "live") -> list[dict[str, Any]]:
    return [
        {
            "url": f"https://stats.example/{release_id}/{n}.csv",
            "vantage": "local",
            "status": status,
            "checked_at": at,
            "served_sha256": "ab" * 32,
        }
        for n in range(5)
    ]


async def test_the_checks_of_releases_recording_at_once_go_in_one_insert(
    engine: AsyncEngine,
) -> None:
    """200 releases recording at T: each release's ``checks`` were an insert of their own in the
    shared transaction; now a batch is one query for heads, one insert of events, one of checks,
    however many releases it holds (and a sweep with nothing new for the timeline joins too)."""
    recorder = CheckRecorder(engine)
    ids = [f"r{n:02d}" for n in range(RELEASES)]

    async def record_all(at: str) -> None:
        await asyncio.gather(*(recorder.record_json(rid, at_once(sweep(rid, at))) for rid in ids))

    sent, begun = count_statements(engine), count_transactions(engine)
    await record_all("2026-12-06T09:30:00+00:00")
    assert sent[0] <= 3 * begun[0] <= 6, f"{sent[0]} statements for {RELEASES} releases"
    sent[0] = begun[0] = 0
    await record_all("2026-12-06T09:30:05+00:00")  # the same statuses: no event, rows only
    assert sent[0] <= 3 * begun[0] <= 6, f"{sent[0]} statements for {RELEASES} releases"
    async with engine.connect() as conn:
        rows = (await conn.execute(select(checks.c.release_id, func.count()).group_by(
            checks.c.release_id))).all()  # fmt: skip
    assert sorted(rows) == [(rid, 10) for rid in ids]
    timeline = Timeline(engine)
    for rid in ids:
        assert (await timeline.verify(rid)).ok
        assert len(await timeline.events(rid)) == 10  # 5 results and 5 first sightings of live


async def at_once(results: list[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    yield results


async def test_appends_made_while_a_batch_is_written_are_chained_while_it_waits_on_the_store(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing the next batch's events is the loop's work: it is done while the batch before
    waits on the store, not in the next transaction; and an append chained ahead onto a head
    that a failed batch never wrote is chained again onto the head in the store."""
    timeline = Timeline(engine)
    ids = [f"r{n:02d}" for n in range(RELEASES)]
    await asyncio.gather(*(timeline.append(rid, kinds.PUBLISH_STAGED) for rid in ids))
    hashed = [0]
    event_hash = timeline_module.event_hash

    def counted(*args: Any) -> str:
        hashed[0] += 1
        return event_hash(*args)

    monkeypatch.setattr(timeline_module, "event_hash", counted)
    inside, hold = asyncio.Event(), asyncio.Event()

    async def linger(_conn: AsyncConnection) -> None:
        inside.set()
        await hold.wait()

    async def refuse(_conn: AsyncConnection) -> None:
        await hold.wait()
        raise OnthedotError("the fence was lost")

    first = [
        asyncio.ensure_future(timeline.append("r00", kinds.PUBLISH_FLIPPED, with_=linger)),
        asyncio.ensure_future(timeline.append("r01", kinds.PUBLISH_FLIPPED, with_=refuse)),
    ]
    async with asyncio.timeout(10):
        await inside.wait()
    then = [
        asyncio.ensure_future(
            timeline.append_many(rid, [(kinds.VERIFY_RESULT, {"n": n}) for n in range(3)])
        )
        for rid in ids
    ]
    await asyncio.sleep(0)  # (the appends join the queue; their events are chained)
    await asyncio.sleep(0)
    before = hashed[0]
    assert before >= 3 * (RELEASES - 1), f"{before} hashes made while the batch before waited"
    hold.set()
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(*first, *then, return_exceptions=True)
    assert isinstance(outcomes[1], OnthedotError)
    assert outcomes[2:] == [3] * RELEASES
    assert hashed[0] - before <= 3 * 2  # r01's three again (its head was not written); r00's
    for rid in ids:
        assert (await timeline.verify(rid)).ok
        want = [
            kinds.PUBLISH_STAGED,
            *([kinds.PUBLISH_FLIPPED] if rid == "r00" else []),
            *[kinds.VERIFY_RESULT] * 3,
        ]
        assert [e.kind for e in await timeline.events(rid)] == want


async def test_two_writers_on_the_same_releases_in_opposite_orders_both_write_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two instances (or the publish path's pool and the main one) each write a batch over the
    same releases, listed in opposite orders, at the same instant: each takes its places in the
    releases' order, so one waits for the other and chains onto it. In the appends' order they
    could wait for one another in a circle (PostgreSQL's deadlock: a publish crashed at T with
    200 releases and 3 instances)."""
    ids = [f"r{n:03d}" for n in range(100)]  # (one batch each)
    real = timeline_module.insert_rows  # type: ignore[attr-defined]
    meeting = asyncio.Barrier(2)
    orders: list[list[str]] = []

    async def met(conn: AsyncConnection, table: Any, rows: Any) -> None:
        if table is events and len(rows) > 1:
            orders.append([row["release_id"] for row in rows])
            if not meeting.broken:
                try:  # (the two writers' batches go to the store at the same instant)
                    await asyncio.wait_for(meeting.wait(), 5)
                except TimeoutError:
                    pass
                await meeting.abort()  # (once: tries again do not wait)
        await real(conn, table, rows)

    async with postgres_engines(2) as (one, other):
        await asyncio.gather(*(Timeline(one).append(rid, kinds.PUBLISH_STAGED) for rid in ids))
        monkeypatch.setattr(timeline_module, "insert_rows", met)
        made = await asyncio.gather(
            *(Timeline(one).append(rid, kinds.PUBLISH_FLIPPED, {"by": "one"}) for rid in ids),
            *(
                Timeline(other).append(rid, kinds.PUBLISH_FLIPPED, {"by": "other"})
                for rid in reversed(ids)
            ),
            return_exceptions=True,
        )
        failed = [m for m in made if isinstance(m, BaseException)]
        assert not failed, failed[:3]
        assert len(orders) >= 2 and all(order == sorted(order) for order in orders)
        timeline = Timeline(one)
        for rid in ids:
            written = await timeline.events(rid)
            assert [e.seq for e in written] == [1, 2, 3]
            assert sorted(e.data.get("by", "") for e in written[1:]) == ["one", "other"]
            assert (await timeline.verify(rid)).ok


async def test_a_batch_given_up_for_a_deadlock_is_tried_again_and_written_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a transaction the store aborted was stored: it is tried again, as when another
    writer took a place first."""
    timeline = Timeline(engine)
    real = timeline_module.insert_rows  # type: ignore[attr-defined]
    aborted = [0]

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    async def once_aborted(conn: AsyncConnection, table: Any, rows: Any) -> None:
        if table is events and not aborted[0]:
            aborted[0] += 1
            raise DBAPIError("INSERT INTO events", None, DeadlockDetected("deadlock detected"))
        await real(conn, table, rows)

    monkeypatch.setattr(timeline_module, "insert_rows", once_aborted)
    made = await asyncio.gather(
        *(timeline.append(f"r{n:02d}", kinds.PUBLISH_FLIPPED) for n in range(RELEASES))
    )
    assert aborted[0] == 1 and len(made) == RELEASES
    assert await stored(engine) == RELEASES


@pytest.mark.postgres
async def test_a_place_taken_while_a_batch_is_copied_is_tried_again_onto_the_new_head() -> None:
    """On PostgreSQL a batch's events go to the store as one COPY: another instance storing an
    event of one of its releases first makes the COPY fail as the INSERT did (the driver's unique
    violation, as SQLAlchemy's ``IntegrityError``), and the batch is tried again onto the heads
    then in the store, every release's chain whole."""
    ids = [f"r{n:02d}" for n in range(RELEASES)]
    real = timeline_module.insert_rows  # type: ignore[attr-defined]
    refused: list[BaseException] = []

    async with postgres_engines(2) as (one, other):
        await asyncio.gather(*(Timeline(one).append(rid, kinds.PUBLISH_STAGED) for rid in ids))

        async def first_taken(conn: AsyncConnection, table: Any, rows: Any) -> None:
            if table is events and not refused and conn.sync_engine is one.sync_engine:
                await Timeline(other).append("r07", kinds.PUBLISH_FLIPPED, {"by": "other"})
                try:
                    await real(conn, table, rows)
                except BaseException as exc:
                    refused.append(exc)
                    raise
            else:
                await real(conn, table, rows)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(timeline_module, "insert_rows", first_taken)
            made = await asyncio.gather(
                *(Timeline(one).append(rid, kinds.PUBLISH_FLIPPED, {"by": "one"}) for rid in ids)
            )
        assert [type(e) for e in refused] == [IntegrityError]
        assert isinstance(refused[0].orig, psycopg.errors.UniqueViolation)  # type: ignore[attr-defined]
        assert str(refused[0].statement).startswith("COPY events "), refused  # type: ignore[attr-defined]
        assert [(e.release_id, e.seq) for e in made] == [
            (rid, 3 if rid == "r07" else 2) for rid in ids
        ]
        timeline = Timeline(one)
        for rid in ids:
            assert (await timeline.verify(rid)).ok
        assert [e.data.get("by") for e in await timeline.events("r07")] == [None, "other", "one"]


class StoppedClock(SystemClock):
    def now(self) -> dt.datetime:
        return dt.datetime(2026, 12, 7, 9, 30, 1, 250_000, tzinfo=dt.UTC)


def awkward_sweep(release_id: str, count: int) -> list[dict[str, Any]]:
    """A sweep's results as ``result_json`` makes them, with what text can hold."""
    return [
        {
            "url": f"https://stats.example/{release_id}/{n}\t\\N é.csv",
            "status": ["live", "stale", "error"][n % 3],
            "served_sha256": None if n % 4 == 0 else f"{n:064x}",
            "expected_sha256": "ab" * 32,
            "diagnosis": "line one\nline two \\ \r" if n % 3 else "",
            "cache": {"age": n, "x-cache": "HIT\tfrom edge", "via": None},
            "vantage": "local",
            "checked_at": "2026-12-07T09:30:00.125000+00:00",
            "http_status": 200,
            "layer": "edge",
            "timings": {"total": n / 3, "connect": 1e-05 * n},
        }
        for n in range(count)
    ]


@pytest.mark.postgres
async def test_a_sweep_copied_is_stored_exactly_as_inserted_rows_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same sweep recorded on two new stores, by SQLAlchemy's INSERT and by COPY: the store
    holds the same bytes, column by column, in ``checks`` and ``events``."""
    held: list[list[tuple[Any, ...]]] = []
    sent: list[str] = []

    async def sqlalchemy_insert(conn: AsyncConnection, table: Any, rows: Any) -> None:
        await conn.execute(table.insert(), rows)

    for stored_by in (sqlalchemy_insert, timeline_module.insert_rows):  # type: ignore[attr-defined]
        monkeypatch.setattr(timeline_module, "insert_rows", stored_by)
        async with postgres_engines(1) as (engine,):
            event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
            recorder = CheckRecorder(engine, Timeline(engine, StoppedClock()))
            await recorder.record_json("r00", at_once(awkward_sweep("r00", 300)))
            async with engine.connect() as conn:
                for table in (checks, events):
                    cast = ", ".join(f"{c.name}::text" for c in table.c)
                    rows = await conn.exec_driver_sql(
                        f"SELECT {cast} FROM {table.name} ORDER BY {table.name}.id"
                    )
                    held.append([tuple(row) for row in rows.all()])
            assert (await Timeline(engine).verify("r00")).ok
    assert [s.split(" ", 2)[:2] for s in sent if s.startswith(("INSERT", "COPY"))] == [
        ["INSERT", "INTO"],
        ["INSERT", "INTO"],
        ["COPY", "events"],
        ["COPY", "checks"],
    ], sent
    inserted_checks, inserted_events, copied_checks, copied_events = held
    assert len(copied_checks) == 300 and len(copied_events) == 400
    assert copied_checks == inserted_checks
    assert copied_events == inserted_events


async def test_the_steps_of_releases_recording_at_once_are_marked_in_one_statement(
    engine: AsyncEngine,
) -> None:
    """200 releases flipping at T: each release's step was a statement of its own in the shared
    transaction; now the steps of a batch are one insert, each still stored with its event (a
    step another run marked already refuses its event: ``test_publisher``)."""
    timeline = Timeline(engine)
    ids = [f"r{n:02d}" for n in range(RELEASES)]
    at = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
    marking: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "INSERT INTO publish_steps" in statement:
            marking.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    begun = count_transactions(engine)
    await asyncio.gather(
        *(
            timeline.append(
                rid,
                kinds.PUBLISH_FLIPPED,
                {"n": n},
                with_=StepLog(engine, rid).marker("flipped", at, {"n": n}),
            )
            for n, rid in enumerate(ids)
        )
    )
    assert len(marking) == begun[0] <= 2, f"{len(marking)} inserts for {RELEASES} steps"
    done = [(await StepLog(engine, rid).done())["flipped"] for rid in ids]
    assert done == [{"n": n} for n in range(RELEASES)]
    for rid in ids:
        assert [e.kind for e in await timeline.events(rid)] == [kinds.PUBLISH_FLIPPED]


async def test_steps_marked_at_once_share_one_transaction_and_the_first_mark_counts(
    engine: AsyncEngine,
) -> None:
    """The purge at T marks its step on its own (no event with it): 200 releases marking at
    once were a transaction each; now those made at the same moment go together. Each mark
    still says whether it stored the step (a second mark of the same step: no)."""
    ids = [f"r{n:02d}" for n in range(RELEASES)]
    at = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
    await StepLog(engine, ids[0]).mark("purged", at, {"attempts": 0})
    begun = count_transactions(engine)
    stored = await asyncio.gather(
        *(StepLog(engine, rid).mark("purged", at, {"attempts": n}) for n, rid in enumerate(ids)),
        StepLog(engine, ids[1]).mark("purged", at, {"attempts": -1}),
    )
    assert begun[0] == 1
    assert stored == [False, *([True] * (RELEASES - 1)), False]
    assert [(await StepLog(engine, rid).done())["purged"]["attempts"] for rid in ids] == list(
        range(RELEASES)
    )
