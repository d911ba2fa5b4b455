"""Breach rules at their edges: two releases stored, two vantage points, warnings that are not
breaches, the 1 s flip slack, a failed publish, an open breach's JSON, and combined findings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import PreReleaseAccess, Release, Severity
from onthedot.record import breaches as store_
from onthedot.record import kinds
from onthedot.record.report import assess
from onthedot.record.timeline import Timeline
from tests.record.incident import PATH, URL, T, at, release_2019, result

SATURDAY = dt.datetime(2019, 12, 21, 9, 30, tzinfo=dt.UTC)


async def add(engine: AsyncEngine, kind: str, data: dict[str, Any], when: dt.datetime) -> None:
    await Timeline(engine).append(release_2019().id, kind, data, at=when)


async def check(engine: AsyncEngine, when: dt.datetime, status: str, **extra: Any) -> None:
    await add(engine, kinds.VERIFY_RESULT, result(when, status, **extra), when)


def on_saturday(**changes: Any) -> Release:
    return release_2019(
        release_at=SATURDAY, announced_at=SATURDAY - dt.timedelta(days=40), **changes
    )


async def test_reassessing_one_release_keeps_every_other_releases_breaches(
    store: AsyncEngine,
) -> None:
    first, second = on_saturday(), on_saturday(id="second-release")
    for release in (first, second, first):
        await assess(store, release)
    stored = [(b.release_id, b.kind) for b in await store_.load(store)]
    assert stored == [(first.id, "time"), (second.id, "time")]
    assert [b.release_id for b in await store_.load(store, second.id)] == [second.id]


async def test_one_vantage_point_never_live_is_an_open_late_breach(store: AsyncEngine) -> None:
    await check(store, at(9, 30, 1), "live", vantage="london")
    await check(store, at(9, 30, 1), "stale", age=5, vantage="edinburgh")
    await check(store, at(9, 45), "stale", age=900, vantage="edinburgh")
    (late,) = (await assess(store, release_2019())).breaches
    assert (late.kind, late.started_at, late.ended_at, late.status) == ("late", T, None, "open")
    assert (late.urls, late.cause) == ((URL,), "cache")


async def test_late_ends_when_the_last_vantage_point_goes_live(store: AsyncEngine) -> None:
    await check(store, at(9, 30, 1), "live", vantage="london")
    await check(store, at(9, 30, 1), "stale", age=5, vantage="edinburgh")
    await check(store, at(9, 50), "live", vantage="edinburgh")
    await check(store, at(9, 55), "live", vantage="london")
    (late,) = (await assess(store, release_2019())).breaches
    assert (late.started_at, late.ended_at, late.duration_s) == (T, at(9, 50), 1200)


async def test_embargoed_checks_before_the_release_time_are_no_breach(store: AsyncEngine) -> None:
    await check(store, at(9, 20), "embargoed")
    await check(store, at(9, 29, 59), "embargoed", vantage="edinburgh")
    await check(store, at(9, 30, 1), "live")
    await check(store, at(9, 30, 1), "live", vantage="edinburgh")
    assert (await assess(store, release_2019())).breaches == []


async def test_warnings_are_not_breaches(store: AsyncEngine) -> None:
    st_patricks = dt.datetime(2025, 3, 17, 9, 30, tzinfo=dt.UTC)
    no_time = PreReleaseAccess(name="A Minister")
    release = release_2019(
        release_at=st_patricks,
        announced_at=st_patricks - dt.timedelta(days=60),
        pre_release_access=(no_time,),
        nation="uk",
    )
    a = await assess(store, release)
    warned = {f.rule for f in a.evidence.findings if f.severity == Severity.WARNING}
    assert warned == {"T3.6.holiday", "T3.4.pra-window", "T3.4.pra-list"}
    assert a.breaches == []


async def test_a_flip_exactly_1_s_late_is_on_time_and_1_5_s_is_late(store: AsyncEngine) -> None:
    await add(store, kinds.PUBLISH_FLIPPED, {"paths": [PATH], "late_s": 1.0}, at(9, 30, 1))
    await check(store, at(9, 30, 1), "live")
    assert (await assess(store, release_2019())).breaches == []
    await add(store, kinds.PUBLISH_FLIPPED, {"paths": [PATH], "late_s": 1.5}, at(9, 30, 1))
    (late,) = (await assess(store, release_2019())).breaches
    assert (late.kind, late.cause, late.detail) == (
        "late",
        "scheduling",
        "The files went live 1.5 s late.",
    )


async def test_a_flip_exactly_1_s_early_is_on_time_and_1_5_s_is_early(store: AsyncEngine) -> None:
    await add(store, kinds.PUBLISH_FLIPPED, {"paths": [PATH], "early_s": 1.0}, at(9, 29, 59))
    await check(store, at(9, 30, 1), "live")
    assert (await assess(store, release_2019())).breaches == []
    await add(store, kinds.PUBLISH_FLIPPED, {"paths": [PATH], "early_s": 1.5}, at(9, 29, 58))
    (early,) = (await assess(store, release_2019())).breaches
    assert (early.kind, early.cause, early.started_at, early.ended_at) == (
        "early",
        "scheduling",
        at(9, 29, 58),
        T,
    )
    assert (early.urls, early.status) == ((URL,), "ended")


async def test_live_everywhere_1_s_after_t_is_on_time_and_2_s_is_late(store: AsyncEngine) -> None:
    await check(store, T, "stale", age=1)
    await check(store, at(9, 30, 1), "live")
    assert (await assess(store, release_2019())).breaches == []
    other = release_2019(id="other")
    for when, status in ((T, "stale"), (at(9, 30, 2), "live")):
        await Timeline(store).append(
            other.id, kinds.VERIFY_RESULT, result(when, status, age=1), at=when
        )
    (late,) = (await assess(store, other)).breaches
    assert (late.started_at, late.ended_at, late.duration_s) == (T, at(9, 30, 2), 2)


async def test_a_failed_publish_is_an_open_late_breach_with_its_reason(store: AsyncEngine) -> None:
    reason = "The FTP server refused the login: check the password in the target URL."
    await add(store, kinds.PUBLISH_FAILED, {"error": reason}, at(9, 30))
    (late,) = (await assess(store, release_2019())).breaches
    shown = late.as_json()
    del shown["actions"]
    assert shown == {
        "release": release_2019().id,
        "kind": "late",
        "title": "Not available to all users at the release time",
        "practices": ["T3.6"],
        "started_at": "2019-12-18T09:30:00Z",
        "ended_at": None,
        "duration_s": None,
        "urls": [URL],
        "cause": "publish failed",
        "detail": reason,
        "status": "open",
    }


async def test_a_failed_publish_without_a_reason_says_publishing_failed(store: AsyncEngine) -> None:
    await add(store, kinds.PUBLISH_FAILED, {}, at(9, 30))
    (late,) = (await assess(store, release_2019())).breaches
    assert (late.cause, late.detail) == ("publish failed", "publishing failed")


async def test_an_ended_breach_shows_its_times_and_duration(store: AsyncEngine) -> None:
    await check(store, at(9, 30, 1), "live")
    await check(store, at(9, 40), "stale", age=5)
    await check(store, at(9, 50), "live")
    await check(store, at(10, 0), "live")
    (stale,) = (await assess(store, release_2019())).breaches
    shown = stale.as_json()
    assert (shown["started_at"], shown["ended_at"], shown["duration_s"]) == (
        "2019-12-18T09:40:00Z",
        "2019-12-18T09:50:00Z",
        600.0,
    )
    assert (shown["kind"], shown["status"], shown["title"]) == (
        "stale",
        "ended",
        "The previous version came back after the release was live",
    )


async def test_two_time_findings_are_one_breach_with_both_sentences(store: AsyncEngine) -> None:
    saturday_ten = SATURDAY.replace(hour=10)
    release = release_2019(release_at=saturday_ten, announced_at=SATURDAY - dt.timedelta(days=40))
    (time,) = (await assess(store, release)).breaches
    assert (time.kind, time.started_at, time.ended_at, time.status) == (
        "time",
        saturday_ten,
        saturday_ten,
        "ended",
    )
    assert time.detail.startswith("The release is at 10:30, not 09:30: move it to 09:30")
    assert " The release is on Saturday 21 December 2019, which is not a release day" in time.detail
    assert time.practices == ("T3.6",) and time.cause == "scheduling"


async def test_pre_release_access_finding_and_event_are_one_breach_from_the_earliest(
    store: AsyncEngine,
) -> None:
    early = PreReleaseAccess(name="A Minister", granted_at=T - dt.timedelta(hours=30))
    release = release_2019(pre_release_access=(early,))
    await add(store, kinds.PRA_OPENED, {"name": "A Journalist"}, T - dt.timedelta(hours=2))
    (pra,) = (await assess(store, release)).breaches
    assert (pra.started_at, pra.ended_at, pra.status) == (T - dt.timedelta(hours=2), T, "ended")
    assert (pra.cause, pra.practices, pra.urls) == ("pre-release access", ("T3.4",), (URL,))
    assert "A Minister was given pre-release access 30.0 hours before release" in pra.detail
    assert "A Journalist opened the statistics before release" in pra.detail
