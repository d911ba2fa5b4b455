"""The store out of reach: the responder says so in one sentence (no traceback), keeps looking,
and once the store is back opens the incident and sends its alert. A private PostgreSQL cluster
(``tests.servers.postgres``, never the machine's shared server) is stopped under it."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, MutableMapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from onthedot.errors import StoreError
from onthedot.model import Status
from onthedot.respond.notice import Tasks
from onthedot.respond.responder import Responder
from onthedot.settings import NotifySettings
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from tests.respond.conftest import MovedClock, T, retail, seen
from tests.respond.receivers import webhook
from tests.servers.postgres import PostgresCluster

Logged = list[MutableMapping[str, Any]]


async def _until(what: str, done: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.05)


def _failed_looks(logged: Logged) -> list[MutableMapping[str, Any]]:
    return [e for e in logged if e["event"] == "responder look failed, trying again"]


@pytest.mark.postgres
@pytest.mark.services
async def test_the_responder_says_the_store_is_away_and_alerts_once_it_is_back() -> None:
    with PostgresCluster() as cluster, webhook() as (address, received):
        engine = await open_store(cluster.url)
        try:
            await ReleaseRepository(engine).sync(retail(), actor="test")
            await seen(engine, Status.STALE, T + dt.timedelta(seconds=0.5))
            settings = NotifySettings.model_validate({"statistician": [address]})
            clock = MovedClock(T + dt.timedelta(seconds=1))
            responder = Responder(
                engine, settings, clock, ZoneInfo("Europe/London"), look_every_s=0.1
            )
            cluster.halt()
            with capture_logs() as logged:
                running = asyncio.create_task(responder.run_forever())
                try:
                    await _until("two looks failed", lambda: len(_failed_looks(logged)) >= 2)
                    assert received == []  # nothing known yet, nothing sent
                    cluster.resume()
                    await _until("the alert sent once the store is back", lambda: bool(received))
                finally:
                    running.cancel()
                    await asyncio.gather(running, return_exceptions=True)
                    await responder.aclose()
            incidents = await responder.book.changed_since(T - dt.timedelta(days=1))
        finally:
            await engine.dispose()
    assert [(i.problem, i.state) for i in incidents] == [("stale", "open")]
    assert "Retail sales" in received[0]["title"] + received[0]["message"]
    error = str(_failed_looks(logged)[0]["error"])
    assert error.startswith(f"The store at '{cluster.url}' cannot be reached (")
    assert error.endswith(
        "start the database server or correct the database URL; onthedot tries again meanwhile."
    )
    assert "\n" not in error
    assert not [e for e in logged if e.get("exc_info")]  # no traceback anywhere


async def test_background_work_the_store_stopped_is_one_sentence_in_the_log() -> None:
    """A notice, a held step or a preflight whose record could not be written: said once, in
    the words of the error, and never as a traceback nobody retrieved."""
    away = "The store at 'postgresql://db/onthedot' cannot be reached (connection refused): ..."

    async def recording() -> None:
        raise StoreError(away)

    tasks = Tasks()
    with capture_logs() as logged:
        tasks.start("retail-sales-2026-02", recording())
        await tasks.wait()
        await asyncio.sleep(0)  # (the task's done callbacks run)
    assert [(e["event"], e["error"]) for e in logged] == [
        ("background work stopped, started again later", away)
    ]
    assert not tasks.busy("retail-sales-2026-02")
