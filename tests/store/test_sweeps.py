"""Chunks of a sweep claimed by several instances through PostgreSQL (``store.sweeps``): no chunk
held by two at once, one whose holder stopped renewing is taken over, the holder's results kept.

Each "instance" is an engine of its own, as each ``onthedot run`` process has.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.sweeps import Chunk, SweepBoard, SweepNotices, wait_for
from onthedot.store.tables import sweep_chunks
from tests.conftest import postgres_engines

pytestmark = pytest.mark.postgres

RELEASE = "labour-market-2026-dec"
PARTS = [[f"https://stats.example/{n}/{i}.csv" for i in range(3)] for n in range(8)]


@pytest.fixture
async def engines() -> AsyncIterator[list[AsyncEngine]]:
    async with postgres_engines(3) as made:
        yield made


async def _claim_all(board: SweepBoard, sweep: str) -> list[int]:
    taken = []
    while (chunk := await board.claim(sweep)) is not None:
        taken.append(chunk.id)
        await asyncio.sleep(0)  # (the other instances claim in between)
        assert await board.finish(chunk, [])
    return taken


async def test_instances_claiming_at_once_never_take_the_same_chunk(
    engines: list[AsyncEngine],
) -> None:
    boards = [SweepBoard(e, f"instance-{n}") for n, e in enumerate(engines)]
    sweep, _ = await boards[0].post(RELEASE, PARTS)
    taken = await asyncio.gather(*(_claim_all(b, sweep) for b in boards))
    every = [chunk for mine in taken for chunk in mine]
    assert len(every) == len(PARTS) == len(set(every))
    settled = await boards[2].settle(sweep)
    assert (settled.left, settled.expires_in) == (0, None)
    done = settled.chunks
    assert sorted(url for d in done for url in d.urls) == sorted(u for p in PARTS for u in p)
    by = {d.id: d.done_by for d in done}
    for n, mine in enumerate(taken):
        assert all(by[chunk] == f"instance-{n}" for chunk in mine)


LEASE_S = 30.0  # (long enough that no stall of this machine lets a lease run out by itself)


async def expire(engine: AsyncEngine, chunk: int) -> None:
    """The lease on ``chunk`` runs out now, as it would once its holder stopped renewing it."""
    ran_out = func.clock_timestamp() - dt.timedelta(seconds=1)
    async with engine.begin() as conn:
        await conn.execute(
            update(sweep_chunks).where(sweep_chunks.c.id == chunk).values(claimed_until=ran_out)
        )


async def test_a_chunk_whose_holder_stops_renewing_is_taken_over(
    engines: list[AsyncEngine],
) -> None:
    dying = SweepBoard(engines[0], "dying", lease_s=LEASE_S)
    alive = SweepBoard(engines[1], "alive", lease_s=LEASE_S)
    sweep, _ = await alive.post(RELEASE, PARTS[:2])
    held = await dying.claim(sweep)
    assert held is not None
    first = await alive.claim(sweep)
    assert first is not None and first.id != held.id
    assert await alive.claim(sweep) is None  # the other is held, its lease still runs
    settled = await alive.settle(sweep)
    expires_in = settled.expires_in
    assert settled.left == 2 and expires_in is not None and 0 < expires_in <= LEASE_S
    assert settled.chunks == []  # (nothing taken out while a chunk is left)
    await expire(engines[2], held.id)  # the dying holder renews no more: its lease runs out
    assert await alive.renew(first)  # (a holder that renews keeps its chunk)
    again = await alive.claim(sweep)
    assert again is not None and again.id == held.id  # the dead holder's lease ran out
    assert not await dying.renew(held)
    assert not await dying.finish(held, [{"late": True}])  # too late: not its chunk any more
    assert await alive.finish(again, [{"url": "seen"}])
    async with engines[2].connect() as conn:
        row = (await conn.execute(select(sweep_chunks).where(sweep_chunks.c.id == held.id))).one()
    assert (row.done_by, row.claims, row.results) == ("alive", 2, [{"url": "seen"}])
    assert (await alive.settle(sweep)).left == 1  # (first: not finished yet)
    assert await alive.finish(first, None)  # (its holder keeps its own results)
    taken = {d.id: d.results for d in (await alive.settle(sweep)).chunks}
    assert taken == {held.id: [{"url": "seen"}], first.id: None}
    again_taken = {d.id: d.results for d in (await alive.settle(sweep)).chunks}
    assert again_taken == {held.id: None, first.id: None}  # (taken out as they were read)


async def test_the_poster_is_told_when_a_chunk_is_done(engines: list[AsyncEngine]) -> None:
    notices = SweepNotices(engines[0])
    listening = asyncio.create_task(notices.run_forever())
    try:
        poster, helper = SweepBoard(engines[0], "leader"), SweepBoard(engines[1], "standby")
        await asyncio.wait_for(notices.listening.wait(), 10)
        sweep, _ = await poster.post(RELEASE, PARTS[:1])
        await asyncio.wait_for(notices.posted.wait(), 5)
        done = notices.waiting_for(sweep)
        chunk = await helper.claim()
        assert chunk is not None and chunk.sweep == sweep and chunk.release_id == RELEASE
        assert list(chunk.urls) == PARTS[0]
        assert await helper.finish(chunk, [])
        await asyncio.wait_for(done.wait(), 5)
        await wait_for(done, 0.01)
        assert not done.is_set()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_the_leader_counts_the_other_instances_listening_not_itself(
    engines: list[AsyncEngine],
) -> None:
    """Whoever listens for posted sweeps on the same database, but the asker's own connection."""
    board = SweepBoard(engines[0], "leader")
    assert await board.others_listening(None) == 0  # (nobody listens yet)
    notices = [SweepNotices(engine) for engine in engines]
    listening = [asyncio.create_task(n.run_forever()) for n in notices]
    try:
        for one in notices:
            await asyncio.wait_for(one.listening.wait(), 10)
        assert await board.others_listening(notices[0].backend) == 2
        listening[2].cancel()
        await asyncio.gather(listening[2], return_exceptions=True)
        async with asyncio.timeout(10):  # (the server ends the closed connection's process)
            while await board.others_listening(notices[0].backend) != 1:
                await asyncio.sleep(0.05)
    finally:
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
    assert notices[0].backend is None


async def test_the_chunks_the_poster_keeps_are_claimed_by_it_when_posted(
    engines: list[AsyncEngine],
) -> None:
    leader, standby = SweepBoard(engines[0], "leader"), SweepBoard(engines[1], "standby")
    sweep, kept = await leader.post(RELEASE, PARTS[:3], keep=2)
    assert [list(c.urls) for c in kept] == PARTS[:2] and all(c.sweep == sweep for c in kept)
    other = await standby.claim()
    assert other is not None and list(other.urls) == PARTS[2]  # not one the leader kept
    assert await standby.claim() is None
    assert all([await leader.renew(c) for c in kept])


async def test_a_query_cancelled_midway_is_cancelled_not_a_store_error(
    engines: list[AsyncEngine],
) -> None:
    """Cancelling a task in the middle of a query (a chunk's lease renewal when its look ends, a
    responder told to stop) cancels it: the store's error handler must not read the dropped
    connection as an unreachable store, or the task swallows its cancellation and runs on."""
    from sqlalchemy import text

    async def slow() -> None:
        async with engines[0].connect() as conn:
            await conn.execute(text("SELECT pg_sleep(5)"))

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_a_wait_for_a_notice_cancelled_as_the_notice_comes_stays_cancelled() -> None:
    """A leader stopped (cancelled) at the instant a chunk's notice is heard is stopped: the wait
    does not take the notice and carry on (``asyncio.wait_for`` on Python 3.11 did)."""
    notice = asyncio.Event()
    waiting = asyncio.create_task(wait_for(notice, 5))
    await asyncio.sleep(0)  # (it waits)
    notice.set()
    assert waiting.cancel()  # in the same turn of the loop: the wait has not ended yet
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def _rest(board: SweepBoard, held: list[Chunk]) -> list[Chunk]:
    """The chunk of each of these chunks' sweeps not claimed yet, claimed together."""
    rest = await asyncio.gather(*(board.claim(chunk.sweep) for chunk in held))
    return [chunk for chunk in rest if chunk is not None]


async def test_calls_made_at_once_for_several_sweeps_are_one_statement_each(
    engines: list[AsyncEngine],
) -> None:
    """Releases sweeping at the same moment post, claim, finish and read back together: one
    statement for each kind of call, each caller answered about its own sweep (a caller asking
    more chunks of a sweep than it has free gets None)."""
    board = SweepBoard(engines[0], "leader")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]).split()[0])

    listener: Callable[..., None] = count
    event.listen(engines[0].sync_engine, "before_cursor_execute", listener)
    try:
        posted = await asyncio.gather(*(board.post(f"r{n}", PARTS[:2]) for n in range(3)))
        sweeps = [sweep for sweep, _ in posted]
        asked = [sweeps[0], sweeps[1], sweeps[1], sweeps[1], sweeps[2]]
        claimed = await asyncio.gather(*(board.claim(sweep) for sweep in asked))
        held = [chunk for chunk in claimed if chunk is not None]
        finished = await asyncio.gather(*(board.finish(c, [{"id": c.id}]) for c in held))
        left = await asyncio.gather(*(board.settle(sweep) for sweep in sweeps))
        more = [c for c in held if c.sweep != sweeps[1]]
        await asyncio.gather(*(board.finish(c, None) for c in await _rest(board, more)))
        done = await asyncio.gather(*(board.settle(sweep) for sweep in sweeps))
    finally:
        event.remove(engines[0].sync_engine, "before_cursor_execute", listener)
    assert [c.sweep if c else None for c in claimed] == [*asked[:3], None, asked[4]]
    assert [c.release_id for c in held] == ["r0", "r1", "r1", "r2"] and all(finished)
    assert [s.left for s in left] == [1, 0, 1]
    assert [[d.results for d in s.chunks] for s in left] == [
        [],
        [[{"id": held[1].id}], [{"id": held[2].id}]],  # (done: taken out as read)
        [],
    ]
    assert [[d.results for d in s.chunks] for s in done] == [
        [[{"id": held[0].id}], None],
        [None, None],
        [[{"id": held[3].id}], None],
    ]
    assert statements.count("INSERT") == 1, statements
    assert statements.count("UPDATE") == 2, statements  # (the claims, then the rest's)
    assert statements.count("WITH") == 4, statements  # (two finishes, two reads back)


_SLOW_UPDATES = (
    "CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$",
    "CREATE TRIGGER slow_update BEFORE UPDATE ON sweep_chunks FOR EACH ROW "
    "EXECUTE FUNCTION slow_update()",
)
"""Each chunk row written 0.3 s after it is locked: two statements writing the same rows at once
overlap, as they do on a busy morning."""


async def test_renewals_and_finishes_of_the_same_chunks_at_once_do_not_deadlock(
    engines: list[AsyncEngine],
) -> None:
    board = SweepBoard(engines[0], "me")
    await board.post("others", [[f"https://stats.example/{n}.csv"] for n in range(20_000)])
    _, held = await board.post(RELEASE, PARTS[:3], keep=3)  # (index scans, as in production)
    async with engines[0].begin() as conn:
        await conn.execute(text("ANALYZE sweep_chunks"))
        for statement in _SLOW_UPDATES:
            await conn.execute(text(statement))
    failed: list[BaseException] = []  # (a batch tried again alone would hide its first failure)
    event.listen(
        engines[0].sync_engine, "handle_error", lambda ctx: failed.append(ctx.original_exception)
    )
    # the renewal first (its rows locked and being written), then the finishes of the same rows:
    # started together, a busy machine sometimes sent the finishes first, which then rightly
    # left the renewal nothing to renew
    renewing = [asyncio.ensure_future(board.renew(chunk)) for chunk in held]
    await _until_running(engines[1], "SET claimed_until")
    answers = await asyncio.gather(
        *renewing,
        *(board.finish(chunk, []) for chunk in reversed(held)),  # (the callers' order)
        return_exceptions=True,
    )
    assert answers == [True] * 6 and not failed, (answers, failed)


async def _until_running(engine: AsyncEngine, statement: str) -> None:
    """Wait until another connection of the store is running a statement holding ``statement``."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()"
        " AND datname = current_database()"
        " AND position(:statement in query) > 0"
    )
    for _ in range(500):
        async with engine.connect() as conn:
            if await conn.scalar(query, {"statement": statement}):
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no statement with {statement!r} ran within 5 s")
