"""Several ``onthedot run`` on one store each bring a release's incidents up to date: when two see
the same new problem at once, one incident is opened, once, and neither fails (each instance's
responder used to log a duplicate-key traceback for every release on a crowded morning)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Release
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.incidents import Incident, IncidentBook
from onthedot.respond.problems import Problem
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.respond.conftest import DIAGNOSIS, URL, T

STALE = Problem("stale", T, (URL,), DIAGNOSIS, "cache")


async def test_two_instances_opening_the_same_incident_open_it_once(
    database_url: str, release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, other = await open_store(database_url), await open_store(database_url)
    try:
        await ReleaseRepository(one).sync(release, actor="test")
        first, second = IncidentBook(one), IncidentBook(other)
        read_before: list[Incident] = await second.of_release(release.id)

        async def as_read_before(release_id: str) -> list[Incident]:
            return read_before  # the other instance read the incidents before the first opened one

        monkeypatch.setattr(second, "of_release", as_read_before)
        opened = await first.sync(release.id, {"stale": STALE}, T, ["stale"])
        again = await second.sync(release.id, {"stale": STALE}, T, ["stale"])

        assert [i.problem for i in opened] == ["stale"]
        assert again == []  # nothing changed by the second: it alerts nobody
        assert [i.state for i in await first.of_release(release.id)] == ["open"]
        events = await Timeline(one).events(release.id, kinds.INCIDENT_OPENED)
        assert len(events) == 1
    finally:
        await one.dispose()
        await other.dispose()


async def test_an_incident_that_cannot_be_stored_is_an_error_not_taken_as_opened_elsewhere(
    database_url: str, release: Release
) -> None:
    engine = await open_store(database_url)
    try:
        await ReleaseRepository(engine).sync(release, actor="test")
        broken = Problem("stale", T, (URL,), None, "cache")  # type: ignore[arg-type]  # (a bug)
        with pytest.raises(IntegrityError):  # its diagnosis may not be empty: not a duplicate
            await IncidentBook(engine).sync(release.id, {"stale": broken}, T, ["stale"])
        assert await IncidentBook(engine).of_release(release.id) == []
    finally:
        await engine.dispose()


async def test_the_incidents_of_releases_brought_up_to_date_at_once_take_one_query_each(
    database_url: str, release: Release
) -> None:
    """At T the responder brings several releases' incidents up to date at once (a stale
    result for each before its purge is done): their incidents are read in one query and those
    opened stored in one insert, each still opened once, with its event."""
    engine = await open_store(database_url)
    try:
        ids = [f"{release.id}-{n}" for n in range(8)]
        for rid in ids:
            await ReleaseRepository(engine).sync(release.model_copy(update={"id": rid}), actor="t")
        book = IncidentBook(engine)
        await book.sync(ids[0], {"stale": STALE}, T, ["stale"])  # (opened already: kept)
        sent: list[str] = []

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "incidents" in statement.split("WHERE")[0]:
                sent.append(statement.split()[0])

        event.listen(engine.sync_engine, "before_cursor_execute", before)
        opened = await asyncio.gather(
            *(book.sync(rid, {"stale": STALE}, T, ["stale"]) for rid in ids)
        )
        assert sorted(sent) == ["INSERT", "SELECT"]
        assert [[i.problem for i in got] for got in opened] == [[], *([["stale"]] * 7)]
        for rid in ids:
            assert [i.state for i in await book.of_release(rid)] == ["open"]
            assert len(await Timeline(engine).events(rid, kinds.INCIDENT_OPENED)) == 1
    finally:
        await engine.dispose()


async def test_an_incident_resolved_twice_from_the_same_read_is_resolved_once(
    database_url: str, release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two looks that read the open incident before either resolved it: the second resolved it
    again and recorded a second resolution (and a reopening took a round already used)."""
    one, other = await open_store(database_url), await open_store(database_url)
    try:
        await ReleaseRepository(one).sync(release, actor="test")
        first, second = IncidentBook(one), IncidentBook(other)
        await first.sync(release.id, {"stale": STALE}, T, ["stale"])
        read_before: list[Incident] = await second.of_release(release.id)

        async def as_read_before(release_id: str) -> list[Incident]:
            return read_before

        monkeypatch.setattr(second, "of_release", as_read_before)
        resolved = await first.sync(release.id, {}, T, ["stale"])
        again = await second.sync(release.id, {}, T, ["stale"])
        assert [i.state for i in resolved] == ["resolved"]
        assert [i.state for i in again] == ["resolved"]  # (as it is now: nothing changed by it)
        events = await Timeline(one).events(release.id, kinds.INCIDENT_RESOLVED)
        assert len(events) == 1
    finally:
        await one.dispose()
        await other.dispose()


async def test_an_incidents_change_and_its_event_are_stored_together_or_not_at_all(
    store: AsyncEngine, release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event of a change could not be stored (the store went away between the two): the
    change stayed, and the next look, finding it made, recorded nothing of it."""
    book = IncidentBook(store)
    (opened,) = await book.sync(release.id, {"stale": STALE}, T, ["stale"])

    def refusing(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            raise RuntimeError("the store went away")

    engine = store.sync_engine
    event.listen(engine, "before_cursor_execute", refusing)
    try:
        with pytest.raises(Exception, match="the store went away"):
            await book.sync(release.id, {}, T, ["stale"])
    finally:
        event.remove(engine, "before_cursor_execute", refusing)
    assert [i.state for i in await book.of_release(release.id)] == ["open"]  # (not resolved)
    (resolved,) = await book.sync(release.id, {}, T, ["stale"])
    assert resolved.state == "resolved" and resolved.id == opened.id
    assert len(await Timeline(store).events(release.id, kinds.INCIDENT_RESOLVED)) == 1
