"""The store on SQLite and PostgreSQL: migrations, release sync with history, timeline, leases."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onthedot.config import load_release
from onthedot.errors import LeaseHeldError, LeaseLostError, StepTaken, StoreError
from onthedot.publish.lease import Lease
from onthedot.publish.steps import StepLog
from onthedot.record import timeline as timeline_module
from onthedot.record.timeline import GENESIS, ChainCheck, Timeline, canonical
from onthedot.store import db
from onthedot.store.db import open_store
from onthedot.store.digests import ArtefactDigests
from onthedot.store.releases import ReleaseRepository
from tests.conftest import postgres_engines, write_release


async def test_sync_inserts_updates_and_records_history(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    repo = ReleaseRepository(engine)
    first = load_release(write_release(tmp_path))
    assert (await repo.sync(first, actor="alice")).action == "inserted"
    assert (await repo.sync(first, actor="alice")).action == "unchanged"
    moved = load_release(
        write_release(
            tmp_path,
            release_at="2019-12-19T09:30:00",
            extra="""
[[change]]
previous = 2019-12-18T09:30:00
reason = "Data supplier delay"
approved_by = "A Head"
""",
        )
    )
    result = await repo.sync(moved, actor="bob")
    assert result.action == "updated"
    (entry,) = await repo.history(first.id, "release_at")
    assert (entry.actor, entry.reason) == ("bob", "Data supplier delay")
    assert entry.old == "2019-12-18T09:30:00Z" and entry.new == "2019-12-19T09:30:00Z"
    stored = await repo.get(first.id)
    assert stored is not None and stored.release_at == dt.datetime(
        2019, 12, 19, 9, 30, tzinfo=dt.UTC
    )
    assert [r.id for r in await repo.all()] == [first.id]


async def test_timeline_chain_detects_a_changed_byte(engine: AsyncEngine) -> None:
    timeline = Timeline(engine)
    at = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    await timeline.append("r1", "publish.flipped", {"paths": ["/x.xlsx"]}, at=at)
    await timeline.append_many(
        "r1", [("verify.result", {"status": "stale"}), ("note", {"text": "é"})], at=at
    )
    await timeline.append("r2", "note", {"text": "other release"})
    assert (await timeline.verify("r1")).ok
    assert [e.seq for e in await timeline.events("r1")] == [1, 2, 3]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE events SET data = replace(data, 'stale', 'stalf') WHERE release_id='r1' AND seq=2"
            )
        )
    check = await timeline.verify("r1")
    assert (check.ok, check.broken_seq) == (False, 2)
    assert "changed after it was recorded" in check.reason
    assert (await timeline.verify("r2")).ok
    # the events and their check from one read: the same events, the same verdict
    shown, checked = await timeline.checked("r1")
    assert checked == check
    assert [(e.seq, e.data) for e in shown] == [(e.seq, e.data) for e in await timeline.events("r1")]
    assert shown[1].data == {"status": "stalf"}  # what is shown is what was found changed
    assert await timeline.checked_signed("r1") == (shown, check)  # (no checkpoints kept here)
    assert (await timeline.checked("r2"))[1].ok
    assert await timeline.checked("r3") == ([], ChainCheck(True, 0))


async def test_concurrent_appends_keep_one_chain(engine: AsyncEngine) -> None:
    timeline = Timeline(engine)
    await asyncio.gather(*(timeline.append("r", "note", {"n": n}) for n in range(20)))
    events = await timeline.events("r")
    assert [e.seq for e in events] == list(range(1, 21))
    assert (await timeline.verify("r")).ok


async def test_a_timeline_too_busy_to_write_is_a_plain_store_error(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeline = Timeline(engine)
    await timeline.append("r", "note", {"text": "first"})

    async def always_taken(conn: AsyncConnection, ids: set[str]) -> dict[str, tuple[int, str]]:
        return dict.fromkeys(ids, (1, GENESIS))  # another writer always took event 1 just before

    monkeypatch.setattr(timeline_module, "_heads", always_taken)
    with pytest.raises(StoreError, match=r"timeline of r could not be written.*try again"):
        await timeline.append("r", "note", {"text": "second"})


async def test_lease_is_exclusive_until_released(engine: AsyncEngine) -> None:
    first, second = Lease(engine, "r"), Lease(engine, "r")
    await first.acquire(wait=False)
    with pytest.raises(LeaseHeldError, match="Another onthedot is publishing r"):
        await second.acquire(wait=False)
    await first.release()
    await second.acquire(wait=False)
    await second.release()


async def test_expired_lease_is_taken_over_and_fences_its_old_holder(sqlite_url: str) -> None:
    """On SQLite the lease is a row that expires (on PostgreSQL a lock that goes with its holder's
    connection: tests/core/test_leadership.py)."""
    engine = await open_store(sqlite_url)
    crashed = Lease(engine, "r", ttl_s=0.05)
    assert await crashed.try_acquire()  # never renewed: as if killed
    await crashed.check()
    await asyncio.sleep(0.1)
    survivor = Lease(engine, "r")
    assert await survivor.try_acquire()
    with pytest.raises(LeaseLostError, match="lost its hold on r"):
        await crashed.check()  # it wakes late: it must not act
    await survivor.check()
    await engine.dispose()


async def test_steps_are_recorded_once(engine: AsyncEngine) -> None:
    steps = StepLog(engine, "r")
    at = dt.datetime.now(dt.UTC)
    assert await steps.mark("staged", at, {"digest": "a"})
    assert not await steps.mark("staged", at, {"digest": "b"})
    assert (await steps.done())["staged"] == {"digest": "a"}
    await steps.mark("flipped", at, {})
    await steps.reset_from("staged")
    assert await steps.done() == {}


async def test_a_step_is_marked_in_one_statement_and_a_second_mark_changes_nothing(
    engine: AsyncEngine,
) -> None:
    """Inside the transaction that records its event: one statement per mark, the first mark's
    row kept, a second refused (``StepTaken``: its event is not to be stored) with no error of
    the database's, so the transaction is still good for what follows."""
    steps, at = StepLog(engine, "r"), dt.datetime.now(dt.UTC)
    statements: list[str] = []
    async with engine.begin() as conn:
        event.listen(conn.sync_connection, "before_cursor_execute", _counted(statements))
        await steps.marker("staged", at, {"digest": "a"})(conn)
        with pytest.raises(StepTaken):
            await steps.marker("staged", at, {"digest": "b"})(conn)
        assert len(statements) == 2, statements
        await conn.execute(text("SELECT 1"))
    assert not await steps.mark("staged", at, {"digest": "c"})
    assert (await steps.done())["staged"] == {"digest": "a"}


def _counted(statements: list[str]) -> Callable[..., None]:
    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    return count


@pytest.mark.postgres
async def test_a_step_marked_by_two_transactions_at_once_is_stored_once_and_both_commit() -> None:
    """Two publishers' transactions marking the same step: the second waits for the first, leaves
    its row be and refuses its own event (``StepTaken``), with no error of the database's that
    would take the other appends of its transaction with it."""
    async with postgres_engines(1) as (engine,):
        steps, at = StepLog(engine, "r"), dt.datetime.now(dt.UTC)
        async with engine.begin() as first, engine.begin() as second:
            await steps.marker("flipped", at, {"by": "first"})(first)
            waiting = asyncio.ensure_future(steps.marker("flipped", at, {"by": "second"})(second))
            await first.commit()
            with pytest.raises(StepTaken):
                await waiting
            await second.execute(text("SELECT 1"))  # (still good)
        assert (await steps.done())["flipped"] == {"by": "first"}


async def test_unreachable_database_is_a_plain_store_error() -> None:
    with pytest.raises(StoreError, match=r"cannot be opened .*check the database URL"):
        await open_store("postgresql://nobody@127.0.0.1:1/none")


async def test_bad_database_url() -> None:
    with pytest.raises(StoreError, match="is not a database URL"):
        await open_store("not a url")


def test_the_head_revision_is_the_newest_migration() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from onthedot.store.location import HEAD_REVISION

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


async def test_a_store_at_an_older_revision_is_migrated_and_then_opened_without_alembic(
    tmp_path: Path,
) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = db.create_engine(url)

    def to_first(connection: Connection) -> None:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")

    async with engine.begin() as conn:
        await conn.run_sync(to_first)
        assert not await conn.run_sync(db.at_head)
    await engine.dispose()
    engine = await open_store(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(db.at_head)
        digests = ArtefactDigests(engine)
        await digests.remember({(str(tmp_path / "a.csv"), 1, 2, 5, 7): "f" * 64})
        assert (await digests.recall(tmp_path)).rows == {(str(tmp_path / "a.csv"), 5, 7): "f" * 64}
    finally:
        await engine.dispose()


async def test_remembered_digests_are_recalled_by_folder_and_replaced_by_path(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    memory = ArtefactDigests(engine)
    inside, nested, beside = (
        str(tmp_path / "r" / "a.csv"),
        str(tmp_path / "r" / "f" / "b.csv"),
        str(tmp_path / "r2" / "c.csv"),
    )
    await memory.remember(
        {
            (inside, 9, 1, 1, 10): "a" * 64,
            (nested, 9, 2, 2, 20): "b" * 64,
            (beside, 9, 3, 3, 30): "c" * 64,
        }
    )
    await memory.remember({(inside, 9, 4, 4, 40): "d" * 64})  # the file changed: one row a path
    recalled = await memory.recall(tmp_path / "r")
    assert recalled.rows == {(inside, 4, 40): "d" * 64, (nested, 2, 20): "b" * 64}
    assert recalled[(nested, 8, 7, 2, 20)] == "b" * 64  # (found by path, size and mtime)


def test_canonical_json_writes_text_and_integers_as_json_dumps_did() -> None:
    """Stored hashes are recomputed from the event's fields written as canonical JSON: for the
    strings and integers they hold, orjson must give exactly the old bytes."""
    texts = ["", "é", "\u2028", "\x00\x1f\x7f", 'quote " back \\ slash /', "😀", "\ud7ff\ue000"]
    envelope = {"release_id": "r1", "seq": 2**40, "at": "2019-12-18T09:30:00Z", "data": "{}"}
    for text_value in texts:
        value = envelope | {"kind": text_value, "actor": text_value * 3}
        old = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        assert canonical(value) == old
    int_keys: dict[Any, str] = {1: "int key"}
    assert canonical(int_keys) == '{"1":"int key"}'  # orjson refuses: json.dumps writes it


async def test_a_stored_release_that_no_longer_meets_the_rules_stops_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    repo = ReleaseRepository(engine)
    old = load_release(write_release(tmp_path / "old"))
    other = load_release(write_release(tmp_path / "other", id="other-release"))
    for release in (old, other):
        await repo.sync(release, actor="test")
    # as an older version stored it, before web addresses had to be http(s)
    doc = old.model_dump(mode="json")
    doc["statement_url"] = "javascript:alert(3)"
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE releases SET document = :doc WHERE id = :id"),
            {"doc": json.dumps(doc), "id": old.id},
        )
    assert [r.id for r in await repo.all()] == [other.id]
    with pytest.raises(
        StoreError, match="no longer meets the rules for a release: run `onthedot check`"
    ):
        await repo.get(old.id)


async def test_the_migrations_make_the_tables_the_code_declares(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from onthedot.store.tables import metadata

    engine = await open_store(database_url)  # (migrated to the head revision)

    def differences(connection: Connection) -> list[Any]:
        options = {"compare_server_default": True, "compare_type": False}
        found: list[Any] = compare_metadata(
            MigrationContext.configure(connection, opts=options), metadata
        )
        return found

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_only_the_releases_due_in_a_window_are_read(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A standby looks for releases due within a minute or swept in the last half hour: the
    store reads those, not every release it has (``due_between``)."""
    repo = ReleaseRepository(engine)
    t = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
    for name, minutes in (("early", -31), ("swept", -30), ("due", 1), ("later", 2)):
        release = load_release(write_release(tmp_path / name, id=f"{name}-release"))
        due = release.model_copy(update={"release_at": t + dt.timedelta(minutes=minutes)})
        await repo.sync(due, actor="test")
    window = await repo.due_between(t - dt.timedelta(minutes=30), t + dt.timedelta(minutes=1))
    assert list(window) == ["swept-release", "due-release"]
    stored = await repo.digests(window)
    assert window == stored  # each one's stored digest, to read only what changed
    read = await repo.get_many([*window, "not-stored"])
    assert sorted(r.id for r in read) == ["due-release", "swept-release"]


async def test_the_releases_of_some_files_are_read_without_the_others(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """While a release file is broken, the scheduler keeps the release the store last read from
    it (``from_sources``): that file's, not every release's document."""
    repo = ReleaseRepository(engine)
    paths = [write_release(tmp_path / name, id=f"{name}-release") for name in ("a", "b", "c")]
    for path in paths:
        await repo.sync(load_release(path), actor="test")
    wanted = [str(paths[0].resolve()), str(paths[2].resolve()), str(tmp_path / "gone.toml")]
    found = await repo.from_sources(wanted)
    assert sorted(r.id for r in found) == ["a-release", "c-release"]
    assert {r.source for r in found} == {paths[0].resolve(), paths[2].resolve()}
    assert await repo.from_sources([]) == []


async def test_a_web_request_finding_every_connection_in_use_gives_up_in_seconds(
    sqlite_url: str,
) -> None:
    """The web process's engine waits a few seconds for a pooled connection, then answers the
    usual sentence (a 503 on a page); the service's engines wait as long as a morning needs."""
    assert db.WEB_POOL_WAIT_S <= 10 < db.POOL_WAIT_S
    engine = await open_store(sqlite_url, pool_wait_s=0.3)
    held: list[AsyncConnection] = []
    try:
        held += [await engine.connect() for _ in range(15)]  # (5 kept and 10 more on demand)
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreError, match=r"The store is busy: all 15 .* try again"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        for conn in held:
            await conn.close()
        await engine.dispose()
