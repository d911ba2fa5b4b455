from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser

import icalendar

from onthedot.calendar.export import entries, select, to_html, to_ics, to_json
from onthedot.calendar.policy import Policy
from onthedot.model import Artefact, Change, Release, Site

from .conftest import build_release, london

POLICY = Policy()
STAMP = dt.datetime(2019, 11, 1, 12, 0, tzinfo=dt.UTC)


def _release(local: dt.datetime, **changes: object) -> Release:
    return build_release(
        local,
        site=Site.model_validate({"public": "https://www.example.org/"}),
        artefact=(Artefact.model_validate({"path": "/statistics/fatalquarterly.xlsx"}),),
        **changes,
    )


def _events(data: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(data)
    return {str(e["uid"]): e for e in cal.events}


def test_ics_round_trip_has_one_event_per_release_with_every_field() -> None:
    first = _release(dt.datetime(2019, 12, 18, 9, 30))
    second = _release(dt.datetime(2025, 3, 31, 9, 30), id="second", title="Second; with, commas")
    events = _events(to_ics([first, second], POLICY, stamp=STAMP))
    assert sorted(events) == ["fatal-injuries@onthedot", "second@onthedot"]
    event = events["fatal-injuries@onthedot"]
    assert event.decoded("dtstart") == dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    assert event.decoded("dtstamp") == STAMP
    assert event.decoded("sequence") == 0
    assert str(event["summary"]) == first.title
    assert str(event["url"]) == "https://www.example.org/statistics/fatalquarterly.xlsx"
    description = str(event["description"])
    assert "Wednesday 18 December 2019 09:30 GMT" in description
    assert "stats@example.org" in description
    later = events["second@onthedot"]
    assert later.decoded("dtstart") == dt.datetime(2025, 3, 31, 8, 30, tzinfo=dt.UTC)
    assert str(later["summary"]) == "Second; with, commas"


def test_a_moved_release_keeps_its_uid_and_raises_its_sequence() -> None:
    before = _release(dt.datetime(2019, 12, 11, 9, 30))
    moved = _release(
        dt.datetime(2019, 12, 18, 9, 30),
        change=(
            Change(
                previous=london(2019, 12, 11, 9, 30),
                reason="Supplier data arrived late",
                approved_by="A Head <hop@example.org>",
            ),
        ),
    )
    old = _events(to_ics([before], POLICY, stamp=STAMP))
    new = _events(to_ics([moved], POLICY, stamp=STAMP + dt.timedelta(days=1)))
    assert old.keys() == new.keys()
    [uid] = old
    assert new[uid].decoded("sequence") > old[uid].decoded("sequence")
    assert new[uid].decoded("dtstart") - old[uid].decoded("dtstart") == dt.timedelta(days=7)
    assert "Supplier data arrived late" in str(new[uid]["description"])
    # exporting again gives the same UID: a client updates, it does not duplicate
    assert _events(to_ics([moved], POLICY)).keys() == new.keys()


def test_local_times_carry_tzid_and_a_vtimezone_across_dst() -> None:
    releases = [
        _release(dt.datetime(2025, 3, 28, 9, 30), id="before-spring"),
        _release(dt.datetime(2025, 3, 31, 9, 30), id="after-spring"),
        _release(dt.datetime(2025, 10, 27, 9, 30), id="after-autumn"),
    ]
    data = to_ics(releases, POLICY, local_times=True, stamp=STAMP)
    cal = icalendar.Calendar.from_ical(data)
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]
    for release in releases:
        event = _events(data)[f"{release.id}@onthedot"]
        assert event["dtstart"].params["TZID"] == "Europe/London"
        start = event.decoded("dtstart")
        assert start == release.release_at and (start.hour, start.minute) == (9, 30)


def test_json_lists_utc_and_local_times() -> None:
    release = _release(
        dt.datetime(2025, 3, 31, 9, 30),
        change=(Change(previous=dt.datetime(2025, 3, 24, 9, 30), reason="r", approved_by="a"),),
    )
    data = json.loads(json.dumps(to_json([release], POLICY)))
    [entry] = data["releases"]
    assert entry["release_at_utc"] == "2025-03-31T08:30:00Z"
    assert entry["release_at_local"] == "2025-03-31T09:30:00+01:00"
    assert entry["sequence"] == 1
    assert entry["changes"][0]["previous"] == "2025-03-24T09:30:00Z"
    assert entries([release], POLICY) == data["releases"]
    assert to_json([release], POLICY, changes={release.id: 3})["releases"][0]["sequence"] == 3


def test_sequence_can_come_from_the_store_count_of_changes() -> None:
    release = _release(dt.datetime(2019, 12, 18, 9, 30))
    counted = _events(to_ics([release], POLICY, changes={release.id: 2, "other": 9}))
    assert counted[f"{release.id}@onthedot"].decoded("sequence") == 2


def test_select_uses_local_dates_inclusive_and_sorts() -> None:
    late = build_release(dt.datetime(2025, 6, 2, 0, 30), id="just-after-midnight")  # 1 June UTC
    early = build_release(dt.datetime(2025, 5, 30, 9, 30), id="may")
    mid = build_release(dt.datetime(2025, 6, 1, 9, 30), id="june")
    chosen = select([late, early, mid], POLICY, dt.date(2025, 6, 1), dt.date(2025, 6, 2))
    assert [r.id for r in chosen] == ["june", "just-after-midnight"]
    assert [r.id for r in select([late, early, mid], POLICY)] == [
        "may",
        "june",
        "just-after-midnight",
    ]


class _Table(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_a_standalone_accessible_table_with_escaped_text() -> None:
    release = _release(dt.datetime(2019, 12, 18, 9, 30), title="Injuries <script>alert(1)</script>")
    page = to_html([release], POLICY)
    parser = _Table()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert ("html", {"lang": "en-GB"}) in parser.tags
    assert "script" not in tags and "caption" in tags
    assert [a.get("scope") for t, a in parser.tags if t == "th"] == ["col", "col", "col"]
    assert ("time", {"datetime": "2019-12-18T09:30:00Z"}) in parser.tags
    text = "".join(parser.text)
    assert "Injuries <script>alert(1)</script>" in text  # shown as text, not run
    assert "Wednesday 18 December 2019, 09:30 GMT" in text
    assert "1 release;" in text and "Moved" not in text
    assert "Moved 2 times" in to_html([release], POLICY, changes={release.id: 2})
    assert "No releases are announced" in to_html([], POLICY)
