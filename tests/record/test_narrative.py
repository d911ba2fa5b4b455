"""The plain-English account: one sentence per event, changes of verification status only."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import kinds
from onthedot.record.breaches import read_result
from onthedot.record.narrative import account, cache_facts, describe, fmt_duration
from onthedot.record.timeline import Timeline
from tests.record.incident import URL, at, release_2019, result


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (3902, "1 hour 5 minutes 2 seconds"),
        (3900, "1 hour 5 minutes"),
        (61, "1 minute 1 second"),
        (7200, "2 hours"),
        (0.4, "0 seconds"),
    ],
)
def test_durations_read_as_people_write_them(seconds: float, shown: str) -> None:
    assert fmt_duration(seconds) == shown


def test_cache_facts_from_either_shape() -> None:
    assert cache_facts(
        {"product": "varnish", "age": 2940, "cache_control": {"max-age": "3600"}}
    ) == ("Varnish, Age 2,940 s, max-age 3,600 s")
    assert cache_facts({"age": 12, "max_age": 60}) == "Age 12 s, max-age 60 s"
    assert cache_facts({}) == ""


async def test_repeated_results_are_told_once_and_vantage_points_are_counted(
    store: AsyncEngine,
) -> None:
    release = release_2019()
    tl = Timeline(store)
    for vantage in ("default", "edge-a", "edge-b"):
        await tl.append(
            release.id,
            kinds.VERIFY_RESULT,
            result(at(9, 30, 1), "stale", vantage=vantage, age=30),
            at=at(9, 30, 1),
        )
    await tl.append(
        release.id, kinds.VERIFY_RESULT, result(at(9, 31), "stale", age=89), at=at(9, 31)
    )
    await tl.append(release.id, kinds.VERIFY_RESULT, result(at(9, 40), "live"), at=at(9, 40))
    told = account(await tl.events(release.id), release)
    assert told == [
        f"At 09:30:01 the automatic checks found that the public website was still serving the previous version of {URL} "
        "at 3 vantage points from its cache (Varnish, Age 30 s, max-age 3,600 s), although the web server "
        "behind it already had the new version.",
        f"At 09:40:00 the automatic checks found the new version of {URL} on the public website.",
    ]


async def test_people_events_name_who_did_what_and_other_days_give_the_date(
    store: AsyncEngine,
) -> None:
    release = release_2019()
    tl = Timeline(store)
    informed = await tl.append(
        release.id,
        kinds.PERSON_INFORMED,
        {"by": "Jane Smith", "by_role": "lead statistician", "name": "the Head of Profession"},
        actor="Jane Smith",
        at=at(9, 33),
    )
    next_day = await tl.append(
        release.id,
        kinds.NOTE,
        {"by": "Jane Smith", "text": "IT confirmed the fix"},
        actor="Jane Smith",
        at=dt.datetime(2019, 12, 19, 8, 0, tzinfo=dt.UTC),
    )
    assert (
        describe(informed, release)
        == "At 09:33:00 Jane Smith (lead statistician) informed the Head of Profession."
    )
    assert describe(next_day, release) == (
        "At 08:00:00 on Thursday 19 December 2019 Jane Smith noted: IT confirmed the fix."
    )


async def test_summer_times_are_shown_in_british_summer_time(store: AsyncEngine) -> None:
    t = dt.datetime(2020, 7, 16, 8, 30, tzinfo=dt.UTC)  # 09:30 BST
    release = release_2019(release_at=t)
    flipped = await Timeline(store).append(
        release.id, kinds.PUBLISH_FLIPPED, {"target": "sftp://u@h/", "paths": ["/a", "/b"]}, at=t
    )
    assert (
        describe(flipped, release)
        == "At 09:30:00 2 files were published to the web server by SFTP."
    )


def test_an_unreadable_result_is_not_read() -> None:
    assert read_result({"status": "bogus"}, at(9, 30)) is None
    obs = read_result({"status": "live", "url": URL}, at(9, 30))
    assert obs is not None and (obs.vantage, obs.checked_at) == ("default", at(9, 30))
