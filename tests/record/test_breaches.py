"""Breach detection from the timeline, the checks table and the calendar rules; the breaches table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.policy import Policy
from onthedot.model import PreReleaseAccess
from onthedot.record import breaches as store_
from onthedot.record import kinds
from onthedot.record.report import assess
from onthedot.record.timeline import Timeline
from onthedot.store.tables import checks
from tests.record.incident import URL, T, at, record_2019, release_2019, result


async def add(engine: AsyncEngine, kind: str, data: dict, when: dt.datetime) -> None:  # type: ignore[type-arg]
    await Timeline(engine).append(release_2019().id, kind, data, at=when)


async def test_2019_incident_is_one_late_breach_caused_by_the_cache(engine: AsyncEngine) -> None:
    release = await record_2019(engine)
    a = await assess(engine, release)
    (late,) = a.breaches
    assert (late.kind, late.practices, late.cause) == ("late", ("T3.6",), "cache")
    assert (late.started_at, late.ended_at) == (T, at(10, 35, 2))
    assert late.duration_s == 3902 and late.urls == (URL,)
    done = [x["what"] for x in late.actions if x["status"] == "done"]
    assert any("purged the cache" in x for x in done) and any("notice" in x for x in done)
    suggested = [x for x in late.actions if x["status"] == "suggested"]
    assert any("clear the web cache automatically" in x["what"].lower() for x in suggested)
    assert any("purger" in x["detail"] for x in suggested)  # the same, for IT
    (stored,) = await store_.load(engine, release.id)
    assert stored == late


async def test_the_origin_being_old_too_is_an_upload_cause(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.PUBLISH_FLIPPED, {"paths": ["/x"], "late_s": 0.01}, T)
    await add(store, kinds.VERIFY_RESULT, {**result(at(9, 30, 1), "stale", age=10), "layer": "origin"}, at(9, 30, 1))
    (late,) = (await assess(store, release)).breaches
    assert late.cause == "upload" and late.ended_at is None and late.status == "open"


async def test_origin_check_tells_the_cause_when_the_layer_is_unknown(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.VERIFY_RESULT, result(at(9, 30, 1), "live", vantage="origin"), at(9, 30, 1))
    await add(store, kinds.VERIFY_RESULT, {**result(at(9, 30, 1), "stale", age=5), "layer": None}, at(9, 30, 1))
    (late,) = (await assess(store, release)).breaches
    assert late.cause == "cache"


async def test_missing_and_server_errors_name_their_cause(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.VERIFY_RESULT, {**result(at(9, 30, 1), "missing"), "http_status": 404}, at(9, 30, 1))
    (late,) = (await assess(store, release)).breaches
    assert late.cause == "not found"
    other = release_2019(id="other-release")
    await Timeline(store).append(other.id, kinds.VERIFY_RESULT, {**result(at(9, 30, 1), "error"), "http_status": 503}, at=at(9, 30, 1))
    (late,) = (await assess(store, other)).breaches
    assert late.cause == "server error"


async def test_results_from_the_checks_table_count_too(store: AsyncEngine) -> None:
    release = release_2019()
    async with store.begin() as conn:
        await conn.execute(checks.insert().values(
            release_id=release.id, url=URL, vantage="default", status="stale", checked_at=at(9, 30, 2),
            served_sha256="b" * 64, result=result(at(9, 30, 2), "stale", age=100)))
    (late,) = (await assess(store, release)).breaches
    assert (late.kind, late.cause, late.urls) == ("late", "cache", (URL,))


async def test_live_on_time_is_no_breach_and_a_later_regression_is_stale(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.VERIFY_RESULT, result(at(9, 30, 1), "live"), at(9, 30, 1))
    assert (await assess(store, release)).breaches == []
    await add(store, kinds.VERIFY_RESULT, result(at(9, 40), "stale", age=5), at(9, 40))
    await add(store, kinds.VERIFY_RESULT, result(at(9, 50), "live"), at(9, 50))
    (stale,) = (await assess(store, release)).breaches
    assert (stale.kind, stale.started_at, stale.ended_at, stale.cause) == ("stale", at(9, 40), at(9, 50), "cache")


async def test_tolerance_forgives_a_short_delay(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.VERIFY_RESULT, result(at(9, 30, 1), "stale", age=5), at(9, 30, 1))
    await add(store, kinds.VERIFY_RESULT, result(at(9, 30, 30), "live"), at(9, 30, 30))
    assert (await assess(store, release, policy=Policy(tolerance_s=60))).breaches == []
    (late,) = (await assess(store, release, policy=Policy(tolerance_s=0))).breaches
    assert late.duration_s == 30


async def test_a_late_flip_is_a_scheduling_breach(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.PUBLISH_FLIPPED, {"paths": ["/x"], "late_s": 125.0}, at(9, 32, 5))
    await add(store, kinds.VERIFY_RESULT, result(at(9, 32, 6), "live"), at(9, 32, 6))
    (late,) = (await assess(store, release)).breaches
    assert (late.cause, late.ended_at) == ("scheduling", at(9, 32, 6))
    assert "125.0 s late" in late.detail


async def test_new_content_before_t_is_early(store: AsyncEngine) -> None:
    release = release_2019()
    await add(store, kinds.VERIFY_RESULT, result(at(9, 10), "early"), at(9, 10))
    (early,) = (await assess(store, release)).breaches
    assert (early.kind, early.started_at, early.ended_at, early.urls) == ("early", at(9, 10), T, (URL,))


async def test_calendar_findings_become_time_and_change_breaches(store: AsyncEngine) -> None:
    saturday = dt.datetime(2019, 12, 21, 9, 30, tzinfo=dt.UTC)
    release = release_2019(release_at=saturday, announced_at=saturday - dt.timedelta(days=40))
    (time,) = (await assess(store, release)).breaches
    assert (time.kind, time.practices, time.cause) == ("time", ("T3.6",), "scheduling")
    assert "Saturday" in time.detail


async def test_pre_release_access_off_the_list_or_outside_the_window(store: AsyncEngine) -> None:
    listed = PreReleaseAccess(name="A Minister", granted_at=T - dt.timedelta(hours=20))
    release = release_2019(pre_release_access=(listed,))
    await add(store, kinds.PRA_OPENED, {"name": "A Minister"}, T - dt.timedelta(hours=2))
    assert (await assess(store, release)).breaches == []
    await add(store, kinds.PRA_OPENED, {"name": "A Journalist"}, T - dt.timedelta(hours=1))
    await add(store, kinds.PRA_OPENED, {"name": "A Minister"}, T - dt.timedelta(hours=30))
    (pra,) = (await assess(store, release, policy=Policy(pra_hours=24))).breaches
    assert pra.kind == "pra" and pra.practices == ("T3.4",)
    assert "A Journalist" in pra.detail and "outside the pre-release access window" in pra.detail


async def test_store_upserts_by_kind_and_drops_what_is_no_longer_found(store: AsyncEngine) -> None:
    saturday = dt.datetime(2019, 12, 21, 9, 30, tzinfo=dt.UTC)
    release = release_2019(release_at=saturday, announced_at=saturday - dt.timedelta(days=40))
    await assess(store, release)
    await assess(store, release)
    assert [b.kind for b in await store_.load(store, release.id)] == ["time"]
    await assess(store, release_2019())
    assert await store_.load(store, release.id) == []
