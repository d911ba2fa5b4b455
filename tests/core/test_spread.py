"""A watch's sweeps after T shared with a standby's helper on PostgreSQL (``morning.spread``), in
one process: two engines play two instances. The leader's report holds every URL once, in the
release's order; each result is recorded once, with the instance that looked; the timeline's
status events come from the leader alone. A sweep the leader does whole at once is not posted."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import SYSTEM_CLOCK
from onthedot.errors import StoreUnreachableError
from onthedot.model import Release, Status
from onthedot.morning.spread import REFRESH_S, Helper, Spread, at_once, parts_of
from onthedot.morning.watch import Watcher, WatchPlan
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.store.releases import ReleaseRepository
from onthedot.store.sweeps import Chunk, SweepBoard, SweepNotices
from onthedot.store.tables import checks, sweep_chunks
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.vantage import DEFAULT
from onthedot.verify.verifier import Verifier, watched_urls
from tests.conftest import postgres_engines
from tests.respond.conftest import MovedClock

pytestmark = pytest.mark.postgres

NEW = b"new figures"
SITE = "http://www.example.org"
URLS = 10


def release(count: int = URLS) -> Release:
    digest = hashlib.sha256(NEW).hexdigest()
    return Release(
        id="regional-gdp-2026",
        title="Regional GDP",
        producer="P",
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        site={"public": SITE},
        artefact=[{"path": f"/gdp/{n}.csv", "sha256": digest} for n in range(count)],
    )


async def _slow(request: ProbeRequest) -> ProbeResponse:
    await asyncio.sleep(0.05)  # (a chunk takes a while: the other instance claims the next)
    return mock_response(request, body=NEW)


def verifier() -> Verifier:
    transport = MockProbeTransport(_slow)
    return Verifier(Prober(transport), vantages=[DEFAULT], bust_cache=False)


@asynccontextmanager
async def open_verifier(_release: Release) -> AsyncIterator[Verifier]:
    yield verifier()


@pytest.fixture
async def engines() -> AsyncIterator[list[AsyncEngine]]:
    async with postgres_engines(2) as made:
        yield made


async def _count(engine: AsyncEngine, query: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.scalar(query)) or 0)  # type: ignore[call-overload]


@asynccontextmanager
async def a_standby(
    leader_db: AsyncEngine, standby_db: AsyncEngine
) -> AsyncIterator[tuple[SweepNotices, Helper]]:
    """The leader's notices and a standby's helper, both listening; stopped afterwards."""
    notices = [SweepNotices(leader_db), SweepNotices(standby_db)]
    listening = [asyncio.create_task(n.run_forever()) for n in notices]
    helper = Helper(
        SweepBoard(standby_db, "standby"), notices[1], standby_db,
        open_verifier=open_verifier, clock=SYSTEM_CLOCK, leads=lambda: False,
    )  # fmt: skip
    helping = asyncio.create_task(helper.run_forever())
    try:
        await asyncio.sleep(0.5)  # (both are listening)
        yield notices[0], helper
    finally:
        for task in (*listening, helping):
            task.cancel()
        await asyncio.gather(*listening, helping, return_exceptions=True)


@asynccontextmanager
async def another_listening(engine: AsyncEngine) -> AsyncIterator[None]:
    """Another instance listening for posted sweeps (its helper not running: nothing claimed)."""
    notices = SweepNotices(engine)
    listening = asyncio.create_task(notices.run_forever())
    try:
        await asyncio.wait_for(notices.listening.wait(), 10)
        yield
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_a_standby_takes_chunks_of_the_sweep_and_the_leader_records_them_once(
    engines: list[AsyncEngine],
) -> None:
    leader_db, standby_db = engines
    rel = release()
    await ReleaseRepository(leader_db).sync(rel, actor="test")
    async with a_standby(leader_db, standby_db) as (notices, helper):
        spread = Spread(SweepBoard(leader_db, "leader"), notices, chunk_urls=1, at_once=1)
        recorder = CheckRecorder(leader_db)
        plan = WatchPlan.for_seconds(5)
        watcher = Watcher(verifier(), recorder, SYSTEM_CLOCK, plan, spread=spread)
        outcome = await watcher.after_t(rel).to_end()
    assert outcome.live and outcome.ended == "all-live"
    assert [r.url for r in outcome.last.results] == [f"{SITE}/gdp/{n}.csv" for n in range(URLS)]
    assert all(r.status is Status.LIVE for r in outcome.last.results)
    async with leader_db.connect() as conn:
        rows = (await conn.execute(select(checks.c.url, checks.c.checked_by))).all()
    assert sorted(url for url, _ in rows) == sorted(r.url for r in outcome.last.results)
    by = {who for _, who in rows}
    assert by == {"leader", "standby"} and helper.chunks_done >= 1
    events = await Timeline(leader_db).events(rel.id, kinds.VERIFY_FIRST_LIVE)
    assert sorted(e.data["url"] for e in events) == sorted(url for url, _ in rows)
    assert await _count(leader_db, select(func.count()).select_from(sweep_chunks)) == URLS


async def test_a_sweep_the_leader_does_whole_at_once_is_not_posted(
    engines: list[AsyncEngine],
) -> None:
    rel = release(4)
    spread = Spread(SweepBoard(engines[0], "leader"), SweepNotices(engines[0]), 2, at_once=2)
    recorder = CheckRecorder(engines[0])
    watcher = Watcher(verifier(), recorder, SYSTEM_CLOCK, WatchPlan.for_seconds(5), spread=spread)
    report = await watcher.look(rel)
    assert len(report.results) == 4
    assert await _count(engines[0], select(func.count()).select_from(sweep_chunks)) == 0
    async with engines[0].connect() as conn:
        assert set((await conn.execute(select(checks.c.checked_by))).scalars()) == {"leader"}


async def test_many_small_releases_due_at_once_are_spread_within_the_leaders_budget(
    engines: list[AsyncEngine],
) -> None:
    """Six releases of 4 URLs due at one T, a budget of 4 URLs: each alone fits in it, together
    they do not. The leader never looks at more than its budget at once, across the releases;
    the standby takes the rest."""
    leader_db, standby_db = engines
    releases = [release(4).model_copy(update={"id": f"gdp-{n}"}) for n in range(6)]
    for rel in releases:
        await ReleaseRepository(leader_db).sync(rel, actor="test")
    fetching, most = 0, 0

    async def counted(request: ProbeRequest) -> ProbeResponse:
        nonlocal fetching, most
        fetching += 1
        most = max(most, fetching)
        try:
            return await _slow(request)
        finally:
            fetching -= 1

    recorder = CheckRecorder(leader_db)
    leader = Verifier(Prober(MockProbeTransport(counted)), vantages=[DEFAULT], bust_cache=False)
    async with a_standby(leader_db, standby_db) as (notices, _helper):
        spread = Spread(SweepBoard(leader_db, "leader"), notices, 2, at_once=2)  # (4 URLs)
        watcher = Watcher(leader, recorder, SYSTEM_CLOCK, WatchPlan.for_seconds(5), spread=spread)
        reports = await asyncio.gather(*(watcher.look(rel) for rel in releases))
    assert [len(r.results) for r in reports] == [4] * 6
    assert all(r.status is Status.LIVE for report in reports for r in report.results)
    assert 0 < most <= 4, most
    async with leader_db.connect() as conn:
        rows = (await conn.execute(select(checks.c.url, checks.c.checked_by))).all()
    assert len(rows) == 24 and {who for _, who in rows} == {"leader", "standby"}


async def test_with_no_other_instance_listening_the_leader_sweeps_every_release_at_once(
    engines: list[AsyncEngine],
) -> None:
    """One instance on PostgreSQL: nobody would claim a posted chunk, so nothing is posted, and
    the budget (which leaves work to the others) holds no sweep back: six releases of 4 URLs,
    a budget of 4 URLs (two chunks), all six looked at at once (the mock engine fetches one URL
    of a look at a time). Another instance listening, they are spread within the budget."""
    releases = [release(4).model_copy(update={"id": f"gdp-{n}"}) for n in range(6)]
    for rel in releases:
        await ReleaseRepository(engines[0]).sync(rel, actor="test")
    fetches = _Fetches(seconds=0.5)
    notices = SweepNotices(engines[0])
    listening = asyncio.create_task(notices.run_forever())
    try:
        await asyncio.wait_for(notices.listening.wait(), 10)
        spread = Spread(SweepBoard(engines[0], "leader"), notices, 2, at_once=2)
        watcher = Watcher(
            fetches.verifier(), CheckRecorder(engines[0]), SYSTEM_CLOCK,
            WatchPlan.for_seconds(5), spread=spread,
        )  # fmt: skip
        reports = await asyncio.gather(*(watcher.look(rel) for rel in releases))
        assert [len(r.results) for r in reports] == [4] * 6
        assert fetches.most == 6
        assert await _count(engines[0], select(func.count()).select_from(sweep_chunks)) == 0
        async with another_listening(engines[1]):
            spread = Spread(SweepBoard(engines[0], "leader"), notices, 2, at_once=2)
            watcher = Watcher(
                fetches.verifier(), CheckRecorder(engines[0]), SYSTEM_CLOCK,
                WatchPlan.for_seconds(5), spread=spread,
            )  # fmt: skip
            fetches.most = 0
            # (nobody claims: the leader looks at every chunk itself, within its budget)
            await asyncio.gather(*(watcher.look(rel) for rel in releases))
        assert 0 < fetches.most <= 2
        assert await _count(engines[0], select(func.count()).select_from(sweep_chunks)) > 0
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


def test_a_releases_pages_and_the_files_found_through_them_stay_in_one_part() -> None:
    rel = Release(
        id="trade-2026",
        title="Trade",
        producer="P",
        release_at=dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC),
        site={"public": SITE},
        artefact=[
            {"path": "/trade/index.html", "expect_text": "Trade in 2026"},
            {"path": "/trade/a.csv", "sha256": "0" * 64},
            {"path": "/trade/b.csv", "sha256": "0" * 64},
            {"path": "/trade/c.csv", "sha256": "0" * 64},
        ],
    )
    urls = [f"{SITE}/trade/{name}" for name in ("a.csv", "index.html", "b.csv", "c.csv")]
    assert parts_of(rel, urls, 2) == [
        [f"{SITE}/trade/index.html"],
        [f"{SITE}/trade/a.csv", f"{SITE}/trade/b.csv"],
        [f"{SITE}/trade/c.csv"],
    ]
    assert at_once(64, 25) == 11 and at_once(1, 25) == 1  # (four times 64 URLs, in chunks of 25)


class _Flapping(SweepBoard):
    """A board whose store fails on one claim, once another claimer's fetch has begun."""

    def __init__(self, engine: AsyncEngine, instance: str, fetched: asyncio.Event) -> None:
        super().__init__(engine, instance)
        self.claims = 0
        self._fetched = fetched

    async def claim(self, sweep: str | None = None) -> Chunk | None:
        self.claims += 1
        if self.claims == 2:
            self._fetched.clear()
            await self._fetched.wait()
            raise StoreUnreachableError("The store at 'test' cannot be reached (flapping).")
        return await super().claim(sweep)


@dataclass
class _Fetches:
    """A verifier's fetches: how many are under way, the most at once, how many began."""

    seconds: float
    now: int = 0
    most: int = 0
    begun: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    wanted: int = 0

    async def fetch(self, request: ProbeRequest) -> ProbeResponse:
        self.now += 1
        self.begun += 1
        self.most = max(self.most, self.now)
        self.started.set()
        if self.begun == self.wanted:
            self.enough.set()
        try:
            await asyncio.sleep(self.seconds)
            return mock_response(request, body=NEW)
        finally:
            self.now -= 1

    def verifier(self) -> Verifier:
        return Verifier(
            Prober(MockProbeTransport(self.fetch)), vantages=[DEFAULT], bust_cache=False
        )


async def test_a_store_failing_under_one_of_the_leaders_claimers_stops_the_others(
    engines: list[AsyncEngine],
) -> None:
    """The leader sweeps alone when the store fails mid-sweep: its other claimers stop first
    (no chunk fetched twice at T, no result thrown away)."""
    rel = release()
    fetches = _Fetches(seconds=0.3)
    board = _Flapping(engines[0], "leader", fetches.started)
    spread = Spread(board, SweepNotices(engines[0]), chunk_urls=1, at_once=2)
    async with another_listening(engines[1]):
        assert await spread.check(fetches.verifier(), rel, None, dt.datetime.now(dt.UTC)) is None
    assert board.claims == 2 and fetches.now == 0


async def test_a_standby_whose_store_flaps_looks_at_no_more_than_its_share_and_stops_clean(
    engines: list[AsyncEngine],
) -> None:
    """A claim failing leaves no claimer behind: the next attempt does not add to the fetches
    still running, and a stopped helper leaves nothing fetching."""
    leader_db, standby_db = engines
    rel = release()
    await ReleaseRepository(leader_db).sync(rel, actor="test")
    fetches = _Fetches(seconds=1.0, wanted=3)

    @asynccontextmanager
    async def counted(_release: Release) -> AsyncIterator[Verifier]:
        yield fetches.verifier()

    notices = SweepNotices(standby_db)
    helper = Helper(
        _Flapping(standby_db, "standby", fetches.started), notices, standby_db,
        open_verifier=counted, clock=SYSTEM_CLOCK, leads=lambda: False, at_once=2,
    )  # fmt: skip
    await SweepBoard(leader_db, "leader").post(rel.id, parts_of(rel, watched_urls(rel), 1))
    helping = asyncio.create_task(helper.run_forever())
    try:
        await asyncio.wait_for(fetches.enough.wait(), 10)  # (after the failure, two more)
    finally:
        helping.cancel()
        await asyncio.gather(helping, return_exceptions=True)
    assert fetches.most <= 2 and fetches.now == 0


async def test_a_standby_stops_getting_a_sweep_ready_before_closing_its_verifier(
    engines: list[AsyncEngine],
) -> None:
    leader_db, standby_db = engines
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    rel = release().model_copy(update={"release_at": due})
    await ReleaseRepository(leader_db).sync(rel, actor="test")
    said: list[str] = []
    preparing = asyncio.Event()

    class Preparing(Verifier):
        async def prepare(self, release: Release) -> None:
            said.append("preparing")
            preparing.set()
            try:
                await asyncio.Event().wait()  # (a resolver that takes its time)
            except asyncio.CancelledError:
                said.append("stopped")
                raise

    @asynccontextmanager
    async def open_preparing(_release: Release) -> AsyncIterator[Verifier]:
        try:
            yield Preparing(Prober(MockProbeTransport(_slow)), vantages=[DEFAULT])
        finally:
            said.append("closed")

    helper = Helper(
        SweepBoard(standby_db, "standby"), SweepNotices(standby_db), standby_db,
        open_verifier=open_preparing, clock=SYSTEM_CLOCK, leads=lambda: False,
    )  # fmt: skip
    helping = asyncio.create_task(helper.run_forever())
    try:
        await asyncio.wait_for(preparing.wait(), 10)
    finally:
        helping.cancel()
        await asyncio.gather(helping, return_exceptions=True)
    assert said == ["preparing", "stopped", "closed"]


async def test_a_standby_reads_again_only_the_releases_that_changed(
    engines: list[AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every few seconds a standby asks which releases are due: it reads (and checks) only the
    documents of those new or changed since it read them, not 200 releases' at every look."""
    leader_db, standby_db = engines
    repo = ReleaseRepository(leader_db)
    now = dt.datetime.now(dt.UTC)
    rels = [
        release().model_copy(update={"id": f"gdp-{n}", "release_at": now + dt.timedelta(seconds=30)})
        for n in range(3)
    ]
    for rel in rels:
        await repo.sync(rel, actor="test")
    opened: list[str] = []

    @asynccontextmanager
    async def counting(rel: Release) -> AsyncIterator[Verifier]:
        opened.append(rel.id)
        yield verifier()

    read: list[list[str]] = []
    plain = ReleaseRepository.get_many

    async def noting(self: ReleaseRepository, ids: Collection[str]) -> list[Release]:
        read.append(sorted(ids))
        return await plain(self, ids)

    monkeypatch.setattr(ReleaseRepository, "get_many", noting)
    clock = MovedClock(now)
    helper = Helper(
        SweepBoard(standby_db, "standby"), SweepNotices(standby_db), standby_db,
        open_verifier=counting, clock=clock, leads=lambda: False,
    )  # fmt: skip
    try:
        await helper._get_ready()
        clock.move(REFRESH_S)
        await helper._get_ready()  # nothing changed: nothing read
        await repo.sync(rels[1].model_copy(update={"title": "Regional GDP, revised"}), actor="test")
        clock.move(REFRESH_S)
        await helper._get_ready()
    finally:
        await helper.aclose()
    assert read == [["gdp-0", "gdp-1", "gdp-2"], ["gdp-1"]]
    assert opened == ["gdp-0", "gdp-1", "gdp-2", "gdp-1"]  # the changed one made ready again


async def test_a_shared_sweep_of_every_url_named_one_by_one_is_timed(
    engines: list[AsyncEngine],
) -> None:
    """The sweep-duration gauge hears of a sweep of every URL whether it was done alone or
    shared, and whether the watch named the URLs or not."""
    leader_db, standby_db = engines
    rel = release()
    await ReleaseRepository(leader_db).sync(rel, actor="test")
    swept: list[str] = []
    async with a_standby(leader_db, standby_db) as (notices, _helper):
        spread = Spread(SweepBoard(leader_db, "leader"), notices, chunk_urls=1, at_once=1)
        watcher = Watcher(
            verifier(), CheckRecorder(leader_db), SYSTEM_CLOCK, WatchPlan.for_seconds(5),
            on_sweep=lambda release_id, _seconds: swept.append(release_id), spread=spread,
        )  # fmt: skip
        every = [f"{SITE}/gdp/{n}.csv" for n in range(URLS)]
        report = await watcher.look(rel, every)
        await watcher.look(rel, every[:2])  # (not every URL: not timed)
    assert len(report.results) == URLS
    assert await _count(leader_db, select(func.count()).select_from(sweep_chunks)) > 1
    assert swept == [rel.id]


async def test_releases_sweeping_at_once_share_the_store_calls_of_their_sweeps(
    engines: list[AsyncEngine],
) -> None:
    """Twelve releases sweeping at the same moment, each spread (a budget of one URL, chunks of
    two): their sweeps are posted, claimed, finished and read back together, not in a
    transaction per release and per chunk. Every result is still recorded once."""
    leader_db = engines[0]
    releases = [release(4).model_copy(update={"id": f"gdp-{n}"}) for n in range(12)]
    for rel in releases:
        await ReleaseRepository(leader_db).sync(rel, actor="test")
    statements: list[str] = []

    def count(*args: object) -> None:
        if "sweep_chunks" in str(args[2]):
            statements.append(str(args[2]).split()[0])

    async with a_standby(leader_db, engines[1]) as (notices, _helper):
        spread = Spread(SweepBoard(leader_db, "leader"), notices, 2, at_once=1)
        recorder = CheckRecorder(leader_db)
        watcher = Watcher(
            verifier(), recorder, SYSTEM_CLOCK, WatchPlan.for_seconds(5), spread=spread
        )
        listener: Callable[..., None] = count
        event.listen(leader_db.sync_engine, "before_cursor_execute", listener)
        try:
            reports = await asyncio.gather(*(watcher.look(rel) for rel in releases))
        finally:
            event.remove(leader_db.sync_engine, "before_cursor_execute", listener)
    assert [len(r.results) for r in reports] == [4] * 12
    async with leader_db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(checks)) == 48
    assert statements.count("INSERT") <= 2, statements  # (one may go before the others join)
