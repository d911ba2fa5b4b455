"""The JSON API in process (httpx ASGITransport) over a store with a realistic release morning."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.store.tables import events
from onthedot.web import queries
from tests.web.conftest import FATAL, GDP, LABOUR, NOW, PAGE, STALE_SENTENCE, XLSX, fill


async def test_releases_summarise_latest_result_per_url_and_vantage(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/releases")
    assert response.status_code == 200
    by_id = {r["id"]: r for r in response.json()}
    assert list(by_id) == [LABOUR.id, FATAL.id, GDP.id]  # by release time
    fatal = by_id[FATAL.id]
    assert fatal["status_counts"] == {"live": 1, "stale": 1}  # the latest, not all 6 results
    assert fatal["live"] is False and fatal["phase"] == "after" and fatal["urls"] == 2
    assert fatal["release_at_utc"] == "2019-12-18T09:30:00Z"
    assert by_id[LABOUR.id]["live"] is True
    assert by_id[GDP.id] | {"status_counts": None, "live": None, "urls": None} == by_id[GDP.id]
    assert by_id[GDP.id]["phase"] == "before" and by_id[GDP.id]["withheld"] is True
    assert by_id[GDP.id]["announced_at_utc"] == "2019-11-09T09:30:00Z"


async def test_release_detail_has_latest_results_and_first_live_times(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get(f"/api/releases/{FATAL.id}")).json()
    latest = {(r["url"], r["vantage"]): r for r in body["results"]}
    assert set(latest) == {(XLSX, "default"), (PAGE, "default")}
    assert latest[(XLSX, "default")]["status"] == "stale"
    assert latest[(XLSX, "default")]["diagnosis"] == STALE_SENTENCE
    assert latest[(XLSX, "default")]["checked_at"] == "2019-12-18T09:40:00Z"
    assert [(f["url"], f["lag_s"]) for f in body["first_live"]] == [(PAGE, 0.05)]
    assert [a["url"] for a in body["artefacts"]] == [XLSX, PAGE]


async def test_unknown_release_is_404_with_one_sentence(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/releases/fatal-injuries-2019")
    assert response.status_code == 404
    assert response.json() == {
        "error": "There is no release 'fatal-injuries-2019': did you mean "
        "'fatal-injuries-2019-apr-sep'?"
    }
    response = await client.get("/api/releases/zzz/timeline")
    assert response.json() == {
        "error": "There is no release 'zzz': see the release calendar (/calendar) for the "
        "releases there are."
    }


async def test_timeline_reports_an_intact_chain_then_a_tampered_event(
    client: httpx.AsyncClient, store: AsyncEngine
) -> None:
    body = (await client.get(f"/api/releases/{FATAL.id}/timeline")).json()
    kinds = [e["kind"] for e in body["events"]]
    assert "publish.flipped" in kinds and "verify.first-live" in kinds
    assert body["chain"] == {"ok": True, "count": len(kinds), "broken_seq": None, "reason": ""}
    async with store.begin() as conn:
        await conn.execute(
            update(events)
            .where(events.c.release_id == FATAL.id, events.c.seq == 2)
            .values(data='{"status": "live"}')
        )
    chain = (await client.get(f"/api/releases/{FATAL.id}/timeline")).json()["chain"]
    assert chain["ok"] is False and chain["broken_seq"] == 2
    assert "changed after it was recorded" in chain["reason"]


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    health = (await client.get("/api/health")).json()
    assert health["ok"] is True and health["store"] == "ok"
    assert health["now"] == "2019-12-18T09:41:00Z"
    spec = (await client.get("/api/openapi.json")).json()
    assert {"/api/releases", "/api/releases/{release_id}", "/api/agent/results"} <= set(
        spec["paths"]
    )
    assert "ReleaseDetail" in spec["components"]["schemas"]


@pytest.mark.parametrize("path", ["/api/health", "/api/health/ready"])
async def test_health_is_503_when_the_store_is_gone(
    client: httpx.AsyncClient, store: AsyncEngine, tmp_path: Path, path: str
) -> None:
    await store.dispose()
    before = set(threading.enumerate())
    for leftover in tmp_path.glob("onthedot.db*"):
        leftover.unlink()
    (tmp_path / "onthedot.db").mkdir()  # a directory is no database
    response = await client.get(path)
    assert response.status_code == 503
    assert "check the database URL" in response.json()["store"]
    if path == "/api/health/ready":
        assert response.json()["ready"] is False
    else:
        assert response.json()["ok"] is False and response.json()["status"] == "down"
        assert response.json()["problems"][0]["message"] == response.json()["store"]
    # the failed connection's aiosqlite thread hands back its last result while this test's
    # event loop still runs (else it fails in a later test, on a closed loop)
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)
            assert not thread.is_alive()


async def test_metrics_show_results_by_status_and_go_live_lag(
    client: httpx.AsyncClient, app: FastAPI, scraper: dict[str, str]
) -> None:
    app.state.onthedot.metrics.observe_sweep(FATAL.id, 0.84)  # as the service's verifier does
    response = await client.get("/metrics", headers=scraper)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # the releases within a day: today's spreadsheet is stale, its page live
    assert 'onthedot_results{status="stale"} 1.0' in text
    assert 'onthedot_results{status="live"} 1.0' in text
    assert 'onthedot_results{status="early"} 1.0' in text  # tomorrow's, found served early
    assert 'onthedot_go_live_lag_seconds{release="labour-market-2019-12"} 1.2' in text
    assert 'onthedot_go_live_lag_seconds{release="fatal-injuries' not in text  # not all live
    assert (
        'onthedot_last_sweep_duration_seconds{release="fatal-injuries-2019-apr-sep"} 0.84' in text
    )


async def test_unknown_path_and_bad_method_answer_one_sentence(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404 and response.json()["error"].startswith("There is nothing")
    response = await client.delete("/api/releases")
    assert response.status_code == 405 and "DELETE is not allowed" in response.json()["error"]


async def test_queries_agree_on_sqlite_and_postgresql(engine: AsyncEngine) -> None:
    await fill(engine)
    view = await queries.release_view(engine, FATAL, NOW)
    assert view.summary.counts == {"live": 1, "stale": 1} and not view.summary.live
    assert [(f.url, f.at) for f in view.first_live] == [
        (PAGE, FATAL.release_at + dt.timedelta(milliseconds=50))
    ]
    lfs = await queries.first_live(engine, LABOUR)
    assert queries.go_live_lag(LABOUR, lfs) == 1.2
