"""What an operator's tools read: health says whether this instance publishes and since when,
liveness and readiness probes, and the Prometheus series for the lead, the schedule lag, the
verification latency and alert delivery."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.morning.leadership import Standing
from onthedot.publish.steps import StepLog
from onthedot.store.tables import alerts, incidents
from tests.web.conftest import FATAL, LABOUR, NOW

SINCE = NOW - dt.timedelta(minutes=20)


async def _alerts(store: AsyncEngine, statuses: tuple[str, ...]) -> None:
    """One incident of FATAL's with a message per status (as the responder records them)."""
    async with store.begin() as conn:
        incident = await conn.scalar(
            insert(incidents)
            .values(
                key=f"{FATAL.id}/stale", release_id=FATAL.id, problem="stale", state="open",
                opened_at=NOW, changed_at=NOW, since=NOW, places=[],
            )
            .returning(incidents.c.id)
        )  # fmt: skip
        for channel, status in enumerate(statuses):
            await conn.execute(
                insert(alerts).values(
                    incident_id=incident, round=1, state="open", role="it", channel=channel,
                    address="mailto://…", status=status, attempts=1, error="", at=NOW,
                )
            )  # fmt: skip


async def test_health_says_whether_this_instance_publishes_and_since_when(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    health = (await client.get("/api/health")).json()
    assert (health["leader"], health["leader_since"], health["instance"]) == (False, None, None)
    app.state.onthedot.standing.replace(Standing(True, SINCE, "host-a:41:0f3e"))
    health = (await client.get("/api/health")).json()
    assert health["leader"] is True
    assert health["leader_since"] == "2019-12-18T09:21:00Z"
    assert health["instance"] == "host-a:41:0f3e"
    app.state.onthedot.standing.replace(Standing(False, NOW, "host-a:41:0f3e"))
    assert (await client.get("/api/health")).json()["leader"] is False


async def test_liveness_and_readiness_answer_anyone(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    assert (await client.get("/api/health/live")).json() == {"live": True}
    app.state.onthedot.standing.replace(Standing(True, SINCE, "host-a:41:0f3e"))
    response = await client.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "leader": True, "store": "ok"}


async def test_metrics_show_the_lead_the_schedule_lag_and_the_sweeps(
    client: httpx.AsyncClient, app: FastAPI, store: AsyncEngine, scraper: dict[str, str]
) -> None:
    metrics = app.state.onthedot.metrics
    for seconds in (0.3, 0.7, 1.5):
        metrics.observe_sweep(FATAL.id, seconds)
    await StepLog(store, FATAL.id).mark("flipped", FATAL.release_at, {"late_s": 0.012})
    await StepLog(store, LABOUR.id).mark("flipped", LABOUR.release_at, {"late_s": 3.5})
    await _alerts(store, ("sent", "sent", "failed"))
    app.state.onthedot.standing.replace(Standing(True, SINCE, "host-a:41:0f3e"))
    text = (await client.get("/metrics", headers=scraper)).text
    assert "onthedot_leader 1.0" in text
    since = re.search(r"^onthedot_leader_since_seconds (\S+)$", text, re.MULTILINE)
    assert since is not None and float(since[1]) == SINCE.timestamp()
    assert f'onthedot_schedule_lag_seconds{{release="{FATAL.id}"}} 0.012' in text
    assert f'onthedot_schedule_lag_seconds{{release="{LABOUR.id}"}} 3.5' in text
    assert 'onthedot_sweep_duration_seconds_bucket{le="1.0"} 2.0' in text
    assert "onthedot_sweep_duration_seconds_count 3.0" in text
    assert 'onthedot_alerts{status="sent"} 2.0' in text
    assert 'onthedot_alerts{status="failed"} 1.0' in text
    app.state.onthedot.standing.replace(Standing(False, NOW, "host-a:41:0f3e"))
    assert "onthedot_leader 0.0" in (await client.get("/metrics", headers=scraper)).text
