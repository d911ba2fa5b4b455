"""How detection reads the record: a check's own time, vantage and diagnosis (from the timeline or
the checks table), the recorded "all live" moment, the cause from the origin's checks nearby, new
content seen early, and a regression after being live exactly at T."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Change, CheckResult, PreReleaseAccess, Site, Status
from onthedot.record import breaches as store_
from onthedot.record import kinds
from onthedot.record.breaches import Breach, read_result, read_seen
from onthedot.record.report import assess
from onthedot.record.timeline import Timeline
from tests.record.incident import PATH, PUBLIC, URL, T, at, release_2019, result

WHEN = at(9, 45)
SATURDAY = dt.datetime(2019, 12, 21, 9, 30, tzinfo=dt.UTC)


async def add(engine: AsyncEngine, kind: str, data: dict[str, Any], when: dt.datetime) -> None:
    await Timeline(engine).append(release_2019().id, kind, data, at=when)


async def check(engine: AsyncEngine, when: dt.datetime, status: str, **extra: Any) -> None:
    await add(engine, kinds.VERIFY_RESULT, result(when, status, **extra), when)


def seen(result: CheckResult | None) -> tuple[object, ...] | None:
    """What a result read back from the record says, field by field."""
    if result is None:
        return None
    return (
        result.url,
        result.vantage,
        result.status,
        result.checked_at,
        result.layer,
        result.cache,
        result.diagnosis,
        result.http_status,
    )


def test_a_check_read_from_its_json_keeps_every_fact() -> None:
    data = {
        "url": URL,
        "vantage": "edinburgh",
        "status": "stale",
        "checked_at": "2019-12-18T10:30:01+01:00",
        "layer": "cache",
        "cache": {"product": "varnish"},
        "diagnosis": "The cache served the old file.",
        "http_status": 200,
    }
    assert seen(read_result(data, WHEN)) == (
        URL,
        "edinburgh",
        Status.STALE,
        at(9, 30, 1),
        "cache",
        {"product": "varnish"},
        "The cache served the old file.",
        200,
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"status": "live"}, ("", "default", Status.LIVE, WHEN, None, {}, "", None)),
        (
            {
                "status": "live",
                "checked_at": "2019-12-18T09:30:01",
                "layer": 5,
                "cache": "x",
                "http_status": "200",
            },
            ("", "default", Status.LIVE, at(9, 30, 1), None, {}, "", None),
        ),
        ({"status": "live", "checked_at": "soon"}, ("", "default", Status.LIVE, WHEN, None, {}, "", None)),
        (
            {"status": "live", "checked_at": dt.datetime(2019, 12, 18, 9, 31)},
            ("", "default", Status.LIVE, at(9, 31), None, {}, "", None),
        ),
        ({"status": "unheard-of"}, None),
    ],
)
def test_a_check_with_missing_or_odd_fields_is_read_plainly(
    data: dict[str, Any], expected: tuple[object, ...] | None
) -> None:
    assert seen(read_result(data, WHEN)) == expected


@pytest.mark.parametrize(
    "data",
    [
        {
            "url": URL, "vantage": "edinburgh", "status": "stale",
            "checked_at": "2019-12-18T10:30:01+01:00", "layer": "cache",
            "cache": {"product": "varnish"}, "diagnosis": "The cache served the old file.",
        },
        {"status": "live"},
        {"status": "live", "checked_at": "2019-12-18T09:30:01", "layer": 5, "vantage": ""},
        {"status": "live", "checked_at": "soon", "diagnosis": None, "url": 7},
        {"status": "live", "checked_at": dt.datetime(2019, 12, 18, 9, 31)},
        {"status": "unheard-of"},
    ],
)  # fmt: skip
def test_what_the_responder_reads_of_a_check_is_what_the_whole_check_says(
    data: dict[str, Any],
) -> None:
    """``read_seen`` (the responder's reading of thousands of results at T) reads the fields it
    keeps as ``read_result`` does, odd and missing ones included."""
    whole, part = read_result(data, WHEN), read_seen(data, WHEN)
    if whole is None:
        assert part is None
        return
    assert part is not None
    assert (part.url, part.vantage, part.status, part.checked_at, part.diagnosis, part.layer) == (
        whole.url, whole.vantage, whole.status, whole.checked_at, whole.diagnosis, whole.layer
    )  # fmt: skip


def test_a_breach_without_a_start_shows_none_in_its_json() -> None:
    shown = Breach("r", "late", ("T3.6",), None, None, (), "unknown", "").as_json()
    assert (shown["started_at"], shown["ended_at"], shown["duration_s"]) == (None, None, None)


async def test_a_stale_check_is_dated_by_when_it_was_made_and_says_its_diagnosis(
    store: AsyncEngine,
) -> None:
    await check(store, at(9, 30, 1), "live")
    await add(store, kinds.VERIFY_RESULT, result(at(9, 40), "stale", age=5), at(9, 44))
    (stale,) = (await assess(store, release_2019())).breaches
    assert (stale.started_at, stale.ended_at) == (at(9, 40), None)
    assert stale.detail == result(at(9, 40), "stale", age=5)["diagnosis"]


async def test_a_stale_check_without_a_diagnosis_counts_the_checks(store: AsyncEngine) -> None:
    await check(store, at(9, 30, 1), "live")
    await check(store, at(9, 30, 1), "live", vantage="edinburgh")
    for vantage in ("default", "edinburgh"):
        await add(
            store,
            kinds.VERIFY_RESULT,
            {**result(at(9, 40), "stale", vantage=vantage, age=5), "diagnosis": None},
            at(9, 40),
        )
    (stale,) = (await assess(store, release_2019())).breaches
    assert stale.detail == "2 check(s) at 2 vantage point(s)."


@pytest.mark.parametrize(
    ("data", "end"), [({"at": at(10, 35, 2).isoformat()}, at(10, 35, 2)), ({}, at(10, 40))]
)
async def test_the_recorded_all_live_moment_ends_a_late_breach(
    store: AsyncEngine, data: dict[str, Any], end: dt.datetime
) -> None:
    await check(store, at(9, 30, 1), "stale", age=5)
    await add(store, kinds.VERIFY_ALL_LIVE, {"urls": [URL], **data}, at(10, 40))
    (late,) = (await assess(store, release_2019())).breaches
    assert late.ended_at == end


async def test_late_ends_when_the_last_vantage_point_goes_live_not_the_first(
    store: AsyncEngine,
) -> None:
    await check(store, at(9, 20), "embargoed")
    await check(store, at(9, 30, 1), "stale", age=5, vantage="edinburgh")
    await check(store, at(9, 30, 2), "live", vantage="london")
    await check(store, at(9, 50), "live", vantage="edinburgh")
    (late,) = (await assess(store, release_2019())).breaches
    assert late.ended_at == at(9, 50)


async def test_a_vantage_point_still_bad_since_exactly_t_keeps_the_breach_open(
    store: AsyncEngine,
) -> None:
    await check(store, T, "stale", age=5, vantage="london")
    await check(store, at(9, 30, 1), "stale", age=5, vantage="edinburgh")
    await check(store, at(9, 31), "live", vantage="edinburgh")
    (late,) = (await assess(store, release_2019())).breaches
    assert (late.ended_at, late.status) == (None, "open")


async def test_not_live_for_no_known_reason_says_unknown(store: AsyncEngine) -> None:
    await check(store, at(9, 30, 1), "embargoed")
    (late,) = (await assess(store, release_2019())).breaches
    assert (late.cause, late.detail) == ("unknown", "Not live at the release time: unknown.")


def unlayered(when: dt.datetime) -> dict[str, Any]:
    return {**result(when, "stale", age=5), "layer": None}


@pytest.mark.parametrize(
    ("origin", "cause"),
    [
        ([], "unknown"),  # nothing from the origin: the public check alone cannot tell
        ([(T, "live")], "cache"),  # the origin checked exactly at T already had the new file
        ([(at(9, 35, 1), "live")], "unknown"),  # 300 s later is not near
        ([(at(9, 35), "live")], "cache"),
        ([(at(9, 31), "stale")], "upload"),
    ],
)
async def test_the_origins_checks_near_a_stale_one_tell_the_cause(
    store: AsyncEngine, origin: list[tuple[dt.datetime, str]], cause: str
) -> None:
    for when, status in origin:
        await check(store, when, status, vantage="origin", age=5)
    await add(store, kinds.VERIFY_RESULT, unlayered(at(9, 30, 1)), at(9, 30, 1))
    (late,) = (await assess(store, release_2019())).breaches
    assert late.cause == cause


async def test_new_content_seen_before_t_was_exposed_by_staging(store: AsyncEngine) -> None:
    await check(store, at(9, 10), "early")
    await check(store, T, "early")  # at T it is the release, not early
    found = (await assess(store, release_2019())).breaches
    assert [b.kind for b in found] == ["late", "early"]
    assert (found[1].cause, found[1].detail) == (
        "staging exposed",
        "The new version could be seen before the release time.",
    )


@pytest.mark.parametrize(
    ("site", "paths", "urls"),
    [
        (Site(public=PUBLIC + "/"), [PATH], (URL,)),
        (None, [PATH], (PATH,)),
        (Site(public=PUBLIC), None, ()),
    ],
)
async def test_an_early_flip_names_the_public_addresses_it_exposed(
    store: AsyncEngine, site: Site | None, paths: list[str] | None, urls: tuple[str, ...]
) -> None:
    flipped: dict[str, Any] = (
        {"early_s": 60.0} if paths is None else {"early_s": 60.0, "paths": paths}
    )
    await add(store, kinds.PUBLISH_FLIPPED, flipped, at(9, 29))
    await check(store, at(9, 30, 1), "live")
    (early,) = (await assess(store, release_2019(site=site))).breaches
    assert (early.kind, early.cause, early.urls) == ("early", "scheduling", urls)


async def test_live_exactly_at_t_then_old_again_is_a_regression(store: AsyncEngine) -> None:
    await check(store, at(9, 20), "embargoed")
    await check(store, T, "live")
    await check(store, at(9, 40), "stale", age=5)
    (stale,) = (await assess(store, release_2019())).breaches
    assert (stale.kind, stale.started_at) == ("stale", at(9, 40))


@pytest.mark.parametrize(
    ("checked_at", "when"),
    [
        (
            dt.datetime(2019, 12, 18, 10, 30, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            at(9, 30, 1),
        ),
        (5, WHEN),
    ],
)
def test_a_checks_time_in_another_zone_or_not_a_time_at_all(
    checked_at: object, when: dt.datetime
) -> None:
    found = read_result({"status": "live", "checked_at": checked_at}, WHEN)
    assert found is not None and found.checked_at == when


async def test_a_warning_before_an_error_does_not_hide_the_error(store: AsyncEngine) -> None:
    unrecorded = PreReleaseAccess(name="A Minister")  # a warning (T3.4) comes before T3.6
    release = release_2019(
        release_at=SATURDAY,
        announced_at=SATURDAY - dt.timedelta(days=40),
        pre_release_access=(unrecorded,),
    )
    assert [b.kind for b in (await assess(store, release)).breaches] == ["time"]


async def test_a_move_without_a_reason_is_an_unannounced_change(store: AsyncEngine) -> None:
    moved = Change(previous=at(9, 30) - dt.timedelta(days=7), reason="", approved_by="")
    (change,) = (await assess(store, release_2019(change=[moved]))).breaches
    assert (change.kind, change.practices, change.cause) == (
        "change",
        ("T3.2",),
        "unannounced change",
    )


async def test_access_granted_on_the_record_and_the_window_edges(store: AsyncEngine) -> None:
    await add(store, kinds.PRA_GRANTED, {"name": "A Journalist"}, T - dt.timedelta(hours=25))
    await add(store, kinds.PRA_OPENED, {"name": "a journalist"}, T - dt.timedelta(hours=24))
    assert (await assess(store, release_2019())).breaches == []
    await add(store, kinds.PRA_OPENED, {"name": "A Journalist"}, T)
    await add(store, kinds.PRA_OPENED, {"name": "Someone"}, T - dt.timedelta(hours=1))
    (pra,) = (await assess(store, release_2019())).breaches
    assert pra.detail == (
        "A Journalist opened the statistics outside the pre-release access window. Someone opened "
        "the statistics before release but is not on the pre-release access list."
    )


async def test_reassessing_updates_a_stored_breach_that_changed(store: AsyncEngine) -> None:
    await assess(
        store, release_2019(release_at=SATURDAY, announced_at=SATURDAY - dt.timedelta(days=40))
    )
    later = SATURDAY.replace(hour=10)
    await assess(
        store, release_2019(release_at=later, announced_at=SATURDAY - dt.timedelta(days=40))
    )
    (stored,) = await store_.load(store)
    assert (stored.started_at, stored.detail.startswith("The release is at 10:30")) == (later, True)


async def test_stored_breaches_come_back_earliest_first(store: AsyncEngine) -> None:
    await check(store, at(9, 10), "early")
    await check(store, at(9, 30, 1), "stale", age=5)
    assert [b.kind for b in (await assess(store, release_2019())).breaches] == ["late", "early"]
    assert [b.kind for b in await store_.load(store, release_2019().id)] == ["early", "late"]


async def test_a_regression_with_no_layer_reads_the_origins_checks(store: AsyncEngine) -> None:
    await check(store, at(9, 30, 1), "live")
    await check(store, at(9, 40), "live", vantage="origin")
    await add(store, kinds.VERIFY_RESULT, unlayered(at(9, 41)), at(9, 41))
    (stale,) = (await assess(store, release_2019())).breaches
    assert (stale.kind, stale.cause) == ("stale", "cache")
