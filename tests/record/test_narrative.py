"""The plain-English account: one sentence per event, changes of verification status only."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import kinds
from onthedot.record.breaches import read_result
from onthedot.record.narrative import account, cache_facts, describe, fmt_duration, told
from onthedot.record.timeline import Event, Timeline
from tests.record.incident import PATH, URL, at, release_2019, result


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


def _sweep_events(
    statuses: list[str], *, start: int = 1, vantage: str = "default", first_live: bool = True
) -> list[Event]:
    """A sweep's events as the check recorder writes them: each address's result, then, when
    live, its first sight of live (one second apart per address)."""
    made: list[Event] = []
    for n, status in enumerate(statuses):
        when = at(9, 30, n % 60)
        data = result(when, status, vantage=vantage, age=30) | {"url": f"{URL}?n={n}"}
        made.append(_event(start + len(made), kinds.VERIFY_RESULT, data, when))
        if status == "live" and first_live:
            seen = {"url": data["url"], "vantage": vantage, "at": when.isoformat()}
            made.append(_event(start + len(made), kinds.VERIFY_FIRST_LIVE, seen, when))
    return made


def _event(seq: int, kind: str, data: dict[str, Any], when: dt.datetime) -> Event:
    return Event("r", seq, when, kind, "onthedot", "onthedot", data, "p", f"{seq:064d}")


def test_a_long_run_of_checks_finding_the_same_is_one_line_and_the_rest_stay_whole() -> None:
    release = release_2019()
    flipped = _event(1, kinds.PUBLISH_FLIPPED, {"paths": [PATH], "late_s": 0.0}, at(9, 30))
    sweep = _sweep_events(["live"] * 30, start=2)  # 60 events: results and first sights
    stale = _sweep_events(["stale"], start=62)
    again = _sweep_events(["live"] * 3, start=63)  # 6 events: at most RUN_TOLD_WHOLE, whole
    ended = _event(69, kinds.NOTE, {"text": "all fine"}, at(9, 31))
    lines = told([flipped, *sweep, *stale, *again, ended], release)
    assert [(line.first.seq, line.last.seq, line.events) for line in lines] == [
        (1, 1, 1),
        (2, 61, 60),
        (62, 62, 1),
        *[(seq, seq, 1) for seq in range(63, 69)],
        (69, 69, 1),
    ]
    run = lines[1]
    assert run.kinds == (kinds.VERIFY_RESULT, kinds.VERIFY_FIRST_LIVE)
    assert run.actors == ("onthedot",) and lines[0].actors == ("onthedot",)
    assert run.sentence == (
        "From 09:30:00 to 09:30:29 the automatic checks found the new version of 30 addresses on "
        "the public website, each seen there for the first time."
    )
    assert [line.sentence for line in lines[2:4]] == [
        describe(stale[0], release),
        describe(again[0], release),
    ]
    assert lines[0].sentence == describe(flipped, release)


@pytest.mark.parametrize(
    ("statuses", "vantage", "first_live", "sentence"),
    [
        (
            ["stale"] * 11,
            "default",
            True,
            "found the public website still serving the previous version of 11 addresses.",
        ),
        (
            ["live"] * 11,
            "origin",
            False,
            "found the new version of 11 addresses on the web server behind the cache.",
        ),
        (
            ["missing"] * 12,
            "default",
            True,
            "were answered “not found” by the public website for 12 addresses.",
        ),
        (
            ["embargoed"] * 11,
            "default",
            True,
            "found 11 addresses not yet published on the public website, rightly before the "
            "release time.",
        ),
    ],
)
def test_a_run_says_what_was_found_and_where(
    statuses: list[str], vantage: str, first_live: bool, sentence: str
) -> None:
    (line,) = told(_sweep_events(statuses, vantage=vantage, first_live=first_live), release_2019())
    assert line.events == len(statuses)
    assert (
        line.sentence
        == f"From 09:30:00 to 09:30:{len(statuses) - 1:02d} the automatic checks {sentence}"
    )


def test_runs_break_where_the_status_or_the_place_changes() -> None:
    release = release_2019()
    live = _sweep_events(["live"] * 6, first_live=False)  # 6 + 6: two runs of 6, each whole
    events = [*live, *_sweep_events(["live"] * 6, start=7, vantage="origin", first_live=False)]
    assert [line.events for line in told(events, release)] == [1] * 12
    mixed = _sweep_events(["live", "stale"] * 6)  # never 11 in a row finding the same
    assert all(line.events == 1 for line in told(mixed, release))
    # the same addresses from two vantage points: counted as addresses, vantage points named
    two = [
        *_sweep_events(["live"] * 6, first_live=False),
        *_sweep_events(["live"] * 6, start=7, vantage="edge-b", first_live=False),
    ]
    (line,) = told(two, release)
    assert "the new version of 6 addresses from 2 vantage points" in line.sentence
    # results recorded by the service and by a remote agent: both named
    (line,) = told(
        [
            replace(e, actor="agent:cardiff") if e.seq % 2 else e
            for e in _sweep_events(["live"] * 12, first_live=False)
        ],
        release,
    )
    assert line.actors == ("agent:cardiff", "onthedot")
    # first sights alone (the results said live in an earlier run)
    firsts = [e for e in _sweep_events(["live"] * 11) if e.kind == kinds.VERIFY_FIRST_LIVE]
    (alone,) = told(firsts, release)
    assert "first saw the new version of 11 addresses" in alone.sentence
    # part of a run seen live for the first time
    some = _sweep_events(["live"] * 11, first_live=False)
    some.append(_sweep_events(["live"], start=12)[1])
    (line,) = told(some, release)
    assert line.sentence.endswith(
        "of 11 addresses on the public website, 1 of them seen there for the first time."
    )
    # one moment: "At", not "From ... to"
    (line,) = told(
        [
            _event(n, kinds.VERIFY_RESULT, result(at(9, 30), "live") | {"url": f"u{n}"}, at(9, 30))
            for n in range(1, 13)
        ],
        release,
    )
    assert line.sentence.startswith(
        "At 09:30:00 the automatic checks found the new version of 12 addresses"
    )
