"""Shared fixtures: the real-server plugin, store URLs (SQLite and PostgreSQL), release files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.db import open_store
from tests.servers.postgres import PG_ADMIN, throwaway_database

pytest_plugins = ["tests.servers.plugin"]


def _postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for one test, dropped afterwards."""
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=5).close()
    except psycopg.OperationalError as exc:  # pragma: no cover - CI always has PostgreSQL
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed for the store tests: {exc}")
    with throwaway_database(PG_ADMIN) as url:
        yield url


@asynccontextmanager
async def postgres_engines(count: int) -> AsyncIterator[list[AsyncEngine]]:
    """``count`` stores on one throwaway PostgreSQL database (as several instances of the service
    on one store), disposed and the database dropped afterwards."""
    urls = _postgres_url()
    url = next(urls)
    made = [await open_store(url) for _ in range(count)]
    try:
        yield made
    finally:
        for engine in made:
            await engine.dispose()
        next(urls, None)


@pytest.fixture(autouse=True)
def _evidence_key_of_its_own(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timeline's signing key and checkpoints (``~/.config/onthedot`` by default) go to a
    folder of each test's own, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'onthedot.db'}"
    else:
        yield from _postgres_url()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(database_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'onthedot.db'}"


RELEASE = """\
id = "{id}"
title = "Fatal injuries arising from accidents at work in Great Britain"
producer = "Health and Safety Executive"
release_at = {release_at}
announced_at = {announced_at}
nation = "{nation}"
lead_statistician = "A Statistician <stats@example.org>"
head_of_profession = "A Head <hop@example.org>"
"""


def write_release(
    folder: Path,
    *,
    id: str = "fatal-injuries",
    release_at: str = "2019-12-18T09:30:00",
    announced_at: str = "2019-11-01T09:30:00",
    nation: str = "england-and-wales",
    extra: str = "",
    name: str | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{id}.toml")
    path.write_text(
        RELEASE.format(id=id, release_at=release_at, announced_at=announced_at, nation=nation)
        + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def _consoles_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's consoles are made on first use and keep the width they found then (``COLUMNS``);
    each test starts without them, so a test that ran the CLI with another width (the CLI
    reference, 100 columns) does not wrap the tables of the next."""
    from onthedot.cli import common

    monkeypatch.setattr(common.out, "_console", None)
    monkeypatch.setattr(common.err, "_console", None)
