"""``check``'s look into an unchanged SQLite store (``sqlite3``) reads what the repository reads,
and gives way to the repository whenever the store would have to be written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from onthedot.cli import app
from onthedot.config import load_release
from onthedot.model import Release
from onthedot.store.db import open_store
from onthedot.store.glance import unchanged_histories
from onthedot.store.releases import ReleaseRepository
from tests.conftest import write_release


def test_check_says_the_same_whether_it_writes_the_store_or_only_reads_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    runner = CliRunner()
    path = write_release(tmp_path)
    assert runner.invoke(app, ["--database", sqlite_url, "check", str(path)]).exit_code == 0
    write_release(tmp_path, release_at="2019-12-19T09:30:00")  # moved, no [[change]] recorded
    said = [runner.invoke(app, ["--database", sqlite_url, "check", "--json", str(path)])]
    said.append(runner.invoke(app, ["--database", sqlite_url, "check", "--json", str(path)]))
    assert [r.exit_code for r in said] == [1, 1]
    assert said[0].stdout == said[1].stdout and '"rule": "T3.2.change"' in said[1].stdout


def moved_twice(tmp_path: Path) -> tuple[Release, Release]:
    first = load_release(write_release(tmp_path / "a"))
    second = load_release(write_release(tmp_path / "a", release_at="2019-12-19T10:00:00"))
    return first, second


async def test_an_unchanged_store_reads_as_the_repository_reads_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    first, second = moved_twice(tmp_path)
    other = load_release(write_release(tmp_path / "b", id="other"))
    engine = await open_store(sqlite_url)
    try:
        repo = ReleaseRepository(engine)
        for release in (first, second, other):
            await repo.sync(release, actor="check")
        expected = {r.id: await repo.history(r.id, "release_at") for r in (second, other)}
    finally:
        await engine.dispose()
    seen = unchanged_histories(sqlite_url, [second, other], "release_at")
    assert seen == expected
    assert seen is not None
    (moved,) = seen[second.id]
    assert moved.old == "2019-12-18T09:30:00Z" and moved.changed_at.tzinfo is dt.UTC


async def test_anything_to_write_or_not_sqlite_leaves_it_to_the_repository(
    tmp_path: Path, sqlite_url: str
) -> None:
    first, second = moved_twice(tmp_path)
    assert unchanged_histories(sqlite_url, [first], "release_at") is None  # no store yet
    engine = await open_store(sqlite_url)
    try:
        await ReleaseRepository(engine).sync(first)
        assert unchanged_histories(sqlite_url, [first], "release_at") == {first.id: []}
        assert unchanged_histories(sqlite_url, [second], "release_at") is None  # changed
        for url in ("sqlite:///:memory:", "postgresql://u@127.0.0.1/x", sqlite_url + "?mode=ro"):
            assert unchanged_histories(url, [first], "release_at") is None
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert unchanged_histories(sqlite_url, [first], "release_at") is None  # to be migrated
    finally:
        await engine.dispose()
